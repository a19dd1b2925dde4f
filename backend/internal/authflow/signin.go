package authflow

import (
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/url"

	"golang.org/x/oauth2"
)

// NewAttempt starts one sign-in: a fresh nonce and PKCE verifier, the
// safe returnTo of p and CreatedAt = now. Its State is left empty: the
// caller makes it (package signin seals the attempt itself into it) and
// then builds the URL with AuthCodeURL. p must come from ParseSignInParams.
func (c *Client) NewAttempt(p SignInParams) (Attempt, error) {
	nonce, err := randomToken(c.cfg.Rand)
	if err != nil {
		return Attempt{}, err
	}
	verifier, err := randomToken(c.cfg.Rand) // 43 characters of [A-Za-z0-9_-]: a valid RFC 7636 verifier
	if err != nil {
		return Attempt{}, err
	}
	return Attempt{
		Nonce:        nonce,
		CodeVerifier: verifier,
		ReturnTo:     SafeReturnTo(p.ReturnTo),
		CreatedAt:    c.cfg.Now(),
	}, nil
}

// AuthCodeURL builds Logto's authorization URL for attempt a (from
// NewAttempt, with its State set). The URL carries a.State, a.Nonce, the
// PKCE S256 challenge of a.CodeVerifier, every configured resource,
// prompt=consent when offline_access is requested (Logto drops
// offline_access otherwise) and the validated Logto extras of p.
func (c *Client) AuthCodeURL(p SignInParams, a Attempt) (string, error) {
	if a.State == "" || a.Nonce == "" || a.CodeVerifier == "" {
		return "", errors.New("authflow: attempt needs a state, a nonce and a code verifier")
	}
	opts := []oauth2.AuthCodeOption{
		oauth2.SetAuthURLParam("nonce", a.Nonce),
		oauth2.S256ChallengeOption(a.CodeVerifier),
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
	authURL := c.oauth.AuthCodeURL(a.State, opts...)
	// oauth2 sets each parameter once; resource is repeatable (RFC 8707).
	for _, r := range c.cfg.Resources {
		authURL += "&resource=" + url.QueryEscape(r)
	}
	return authURL, nil
}

// randomToken returns 32 random bytes, base64url-encoded without padding.
func randomToken(r io.Reader) (string, error) {
	var b [32]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return "", fmt.Errorf("authflow: random: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b[:]), nil
}
