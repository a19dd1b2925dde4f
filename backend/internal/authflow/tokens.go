package authflow

import "time"

// Tokens are the OAuth tokens of one signed-in session, as the flow obtains
// and refreshes them. The session store keeps them; it never interprets
// them. They never leave the server.
type Tokens struct {
	AccessToken       string    `json:"access_token,omitempty"`
	RefreshToken      string    `json:"refresh_token,omitempty"`
	IDToken           string    `json:"id_token,omitempty"`
	Scope             string    `json:"scope,omitempty"`
	AccessTokenExpiry time.Time `json:"access_token_expiry"`
	// AccessTokenLifetime is the access token's lifetime as issued
	// (expires_in), which scales its refresh margin. Zero when unknown
	// (records written before it was kept, or no expires_in).
	AccessTokenLifetime time.Duration `json:"access_token_lifetime,omitempty"`
	// Resources holds access tokens for API resources, keyed by
	// ResourceKey (resource indicator, "org:<organization id>", or both).
	Resources map[string]ResourceToken `json:"resources,omitempty"`
}

// ResourceToken is an access token for one API resource or organization.
type ResourceToken struct {
	AccessToken string    `json:"access_token"`
	Expiry      time.Time `json:"expiry"`
	// Lifetime is the token's lifetime as issued (expires_in); zero when
	// unknown.
	Lifetime time.Duration `json:"lifetime,omitempty"`
}

// Attempt is one pending sign-in (an authorization request awaiting its
// callback): what the callback needs to finish it. The caller keeps it
// bound to the browser that began it.
type Attempt struct {
	State        string    `json:"state"`
	Nonce        string    `json:"nonce"`
	CodeVerifier string    `json:"code_verifier"`
	ReturnTo     string    `json:"return_to"`
	CreatedAt    time.Time `json:"created_at"`
}
