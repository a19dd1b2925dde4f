// Package authflow is Logto's confidential OpenID Connect flow as plain Go:
// discovery, the authorization URL (state, nonce, PKCE S256), the code
// exchange, ID-token verification, userinfo, revocation and the end-session
// URL. It knows nothing about HTTP handlers or cookies; callers keep the
// Attempt (see package signin), store the Result (see package session) and
// map its errors to HTTP.
//
// Security duties this package performs (and the ones it leaves):
//   - Exchange checks the ID token's signature (keys from discovery, cached
//     by go-oidc's remote key set and refetched on an unknown kid, only the
//     algorithms discovery advertises, e.g. ES384), issuer, audience, nonce,
//     and exp/iat/nbf with Config.ClockSkew of leeway against Config.Now.
//     go-oidc allows no leeway on exp, so its expiry check is skipped
//     (oidc.Config.SkipExpiryCheck) and done here instead.
//   - CheckIssuer implements RFC 9207 (the iss callback parameter).
//   - Refresh and ResourceToken run the refresh_token grant through
//     golang.org/x/oauth2 with the secret in the Basic header only (never
//     the auto-detected style, which retries with the secret in the body
//     and so presents a refresh token twice), classify invalid_grant by the
//     *oauth2.RetrieveError's ErrorCode (ErrGrantInvalid), and always return
//     the refresh token to store. They do NOT serialize refreshes: callers
//     hold the session's lock (see package httpapi).
//   - It does NOT make the state, bind an attempt to a browser or check
//     that a state is fresh and unused: that is package signin's job.
package authflow

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// Errors returned by Client methods, to be matched with errors.Is. The
// wrapped chain may also hold an *oauth2.RetrieveError.
var (
	// ErrUnavailable means the identity provider could not be reached or
	// answered with a server error (or discovery has not succeeded yet).
	// It is transient: retrying later may work.
	ErrUnavailable = errors.New("identity provider unavailable")
	// ErrRejected means the identity provider refused the request with an
	// OAuth error (e.g. invalid_grant for a used or expired code).
	ErrRejected = errors.New("identity provider rejected the request")
	// ErrInvalidIDToken means the ID token failed verification.
	ErrInvalidIDToken = errors.New("invalid ID token")
	// ErrIssuerMismatch means the callback's iss parameter is missing
	// (when the provider promises it) or is not the issuer.
	ErrIssuerMismatch = errors.New("callback issuer mismatch")
)

// Config configures a Client. Issuer, ClientID, ClientSecret, RedirectURL
// and Scopes are required.
type Config struct {
	// Issuer is the OpenID Connect issuer, e.g. "https://tenant.logto.app/oidc".
	Issuer string
	// ClientID and ClientSecret authenticate the BFF (client_secret_basic).
	ClientID     string
	ClientSecret string
	// RedirectURL is the registered redirect URI (<public url>/auth/callback).
	RedirectURL string
	// PostLogoutRedirectURL is the registered post sign-out URI (<public url>/).
	PostLogoutRedirectURL string
	// Scopes requested at sign-in; "offline_access" adds prompt=consent.
	Scopes []string
	// Resources are RFC 8707 resource indicators requested at sign-in.
	Resources []string
	// ClockSkew is the leeway allowed on the ID token's exp, iat and nbf.
	ClockSkew time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Rand is the source of state, nonce and PKCE verifier; nil means
	// crypto/rand.
	Rand io.Reader
	// HTTPClient makes every request to the identity provider; nil means a
	// client with a 10 s timeout.
	HTTPClient *http.Client
}

// metadata holds the discovery fields go-oidc does not expose.
type metadata struct {
	EndSessionEndpoint string   `json:"end_session_endpoint"`
	RevocationEndpoint string   `json:"revocation_endpoint"`
	IssParameter       bool     `json:"authorization_response_iss_parameter_supported"`
	JWKSURI            string   `json:"jwks_uri"`
	IDTokenAlgs        []string `json:"id_token_signing_alg_values_supported"`
}

// Client runs the flow against one discovered provider. It is safe for
// concurrent use.
type Client struct {
	cfg      Config
	provider *oidc.Provider
	verifier *oidc.IDTokenVerifier
	oauth    oauth2.Config
	meta     metadata
	http     *http.Client
	// tokenHTTP is http with refreshParams in front (refresh grants).
	tokenHTTP *http.Client
	// logoutKeys is the provider's JWKS for logout tokens (fetched lazily,
	// cached, refetched on an unknown kid at most once per
	// KeySetRefetchInterval).
	logoutKeys *limitedKeySet
	// probe caches the last reachability check (Probe).
	probe *prober
}

// Discover fetches <issuer>/.well-known/openid-configuration once and
// builds a Client from it. Failure to reach the provider wraps
// ErrUnavailable; see Discovery for retrying in the background.
func Discover(ctx context.Context, cfg Config) (*Client, error) {
	if cfg.Issuer == "" || cfg.ClientID == "" || cfg.ClientSecret == "" || cfg.RedirectURL == "" || len(cfg.Scopes) == 0 {
		return nil, errors.New("authflow: Issuer, ClientID, ClientSecret, RedirectURL and Scopes are required")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Reader
	}
	hc := cfg.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: 10 * time.Second}
	}
	probe := &prober{}
	hc = watched(hc, probe)
	provider, err := oidc.NewProvider(oidc.ClientContext(ctx, hc), cfg.Issuer)
	if err != nil {
		// An issuer mismatch (*oidc.IssuerMismatchError in the chain) is a
		// configuration error rather than an outage, but it leaves the
		// provider just as unusable; Discovery keeps retrying either way.
		return nil, fmt.Errorf("discovery: %w: %w", ErrUnavailable, err)
	}
	c := &Client{cfg: cfg, provider: provider, http: hc, tokenHTTP: tokenClient(hc), probe: probe}
	if err := provider.Claims(&c.meta); err != nil {
		return nil, fmt.Errorf("discovery: decode metadata: %w: %w", ErrUnavailable, err)
	}
	if c.meta.JWKSURI == "" {
		return nil, fmt.Errorf("discovery: %w: no jwks_uri", ErrUnavailable)
	}
	// Logout tokens are verified with their own go-oidc verifier (see
	// LogoutVerifier) over this key set; nothing is fetched until then.
	// Anyone can POST a logout token, so its refetches are rate-limited.
	// (ID tokens come from the token endpoint itself, over a channel no
	// client controls: they keep go-oidc's key set.)
	c.logoutKeys = newLimitedKeySet(c.http, c.meta.JWKSURI, KeySetRefetchInterval, cfg.Now)
	// Algorithms come from discovery (Logto: ES384); expiry is checked by
	// verifyIDToken with leeway, because go-oidc has none.
	c.verifier = provider.Verifier(&oidc.Config{ClientID: cfg.ClientID, SkipExpiryCheck: true, Now: cfg.Now})
	c.oauth = oauth2.Config{
		ClientID:     cfg.ClientID,
		ClientSecret: cfg.ClientSecret,
		RedirectURL:  cfg.RedirectURL,
		Scopes:       cfg.Scopes,
		Endpoint: oauth2.Endpoint{
			AuthURL:  provider.Endpoint().AuthURL,
			TokenURL: provider.Endpoint().TokenURL,
			// Logto registers "Traditional web" apps as client_secret_basic;
			// auto-detection would retry with the secret in the body and
			// present a refresh token twice.
			AuthStyle: oauth2.AuthStyleInHeader,
		},
	}
	return c, nil
}

// Issuer is the verified issuer of this provider.
func (c *Client) Issuer() string { return c.cfg.Issuer }

// CheckIssuer implements RFC 9207 for the callback's iss parameter: a
// present iss must equal the issuer, and a missing one is refused when
// discovery says the provider always sends it (Logto does). It returns
// ErrIssuerMismatch or nil.
func (c *Client) CheckIssuer(iss string) error {
	if iss == "" {
		if c.meta.IssParameter {
			return fmt.Errorf("%w: iss parameter missing", ErrIssuerMismatch)
		}
		return nil
	}
	if iss != c.cfg.Issuer {
		return ErrIssuerMismatch
	}
	return nil
}

// ctx returns a context whose oauth2 and go-oidc requests use c's client.
func (c *Client) ctx(ctx context.Context) context.Context {
	return oidc.ClientContext(ctx, c.http)
}

// classify wraps a failed request to the provider: OAuth errors (4xx with
// an error code) wrap ErrRejected, anything else (network, 5xx, timeouts)
// ErrUnavailable. The original error stays in the chain.
func classify(op string, err error) error {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) && re.Response != nil && re.Response.StatusCode < 500 {
		return fmt.Errorf("%s: %w: %w", op, ErrRejected, err)
	}
	return fmt.Errorf("%s: %w: %w", op, ErrUnavailable, err)
}

// hasScope reports whether scope s is configured.
func (c *Client) hasScope(s string) bool {
	for _, v := range c.cfg.Scopes {
		if v == s {
			return true
		}
	}
	return false
}
