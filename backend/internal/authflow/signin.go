package authflow

import (
	"encoding/base64"
	"fmt"
	"io"
	"net/url"

	"golang.org/x/oauth2"
)

// AuthCodeURL builds Logto's authorization URL for one sign-in and the
// Attempt to keep (server-side, keyed by its State) until the callback.
// The URL carries a fresh state and nonce, a PKCE S256 challenge, every
// configured resource, prompt=consent when offline_access is requested
// (Logto drops offline_access otherwise) and the validated Logto extras.
// p must come from ParseSignInParams.
func (c *Client) AuthCodeURL(p SignInParams) (string, Attempt, error) {
	state, err := randomToken(c.cfg.Rand)
	if err != nil {
		return "", Attempt{}, err
	}
	nonce, err := randomToken(c.cfg.Rand)
	if err != nil {
		return "", Attempt{}, err
	}
	verifier, err := randomToken(c.cfg.Rand) // 43 characters of [A-Za-z0-9_-]: a valid RFC 7636 verifier
	if err != nil {
		return "", Attempt{}, err
	}
	opts := []oauth2.AuthCodeOption{
		oauth2.SetAuthURLParam("nonce", nonce),
		oauth2.S256ChallengeOption(verifier),
	}
	if c.hasScope("offline_access") {
		opts = append(opts, oauth2.SetAuthURLParam("prompt", "consent"))
	}
	if p.FirstScreen != "" {
		opts = append(opts, oauth2.SetAuthURLParam("first_screen", p.FirstScreen))
	}
	if p.DirectSignIn != "" {
		opts = append(opts, oauth2.SetAuthURLParam("direct_sign_in", p.DirectSignIn))
	}
	if p.LoginHint != "" {
		opts = append(opts, oauth2.SetAuthURLParam("login_hint", p.LoginHint))
	}
	authURL := c.oauth.AuthCodeURL(state, opts...)
	// oauth2 sets each parameter once; resource is repeatable (RFC 8707).
	for _, r := range c.cfg.Resources {
		authURL += "&resource=" + url.QueryEscape(r)
	}
	returnTo := SafeReturnTo(p.ReturnTo)
	return authURL, Attempt{
		State:        state,
		Nonce:        nonce,
		CodeVerifier: verifier,
		ReturnTo:     returnTo,
		CreatedAt:    c.cfg.Now(),
	}, nil
}

// randomToken returns 32 random bytes, base64url-encoded without padding.
func randomToken(r io.Reader) (string, error) {
	var b [32]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return "", fmt.Errorf("authflow: random: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b[:]), nil
}
