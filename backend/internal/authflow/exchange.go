package authflow

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// Result is what a successful sign-in yields: the parts of a
// session.Record the flow knows. The caller adds CreatedAt/ExpiresAt and
// stores it under a new session id.
type Result struct {
	// Subject is the user's sub.
	Subject string
	// SID is Logto's session id (the ID token's sid), or "".
	SID string
	// Me is the rendered `user` object for /api/me (see RenderUser).
	Me json.RawMessage
	// Tokens are the tokens to keep server-side.
	Tokens Tokens
	// AuthenticatedAt is the ID token's auth_time, or the time of the
	// exchange when absent.
	AuthenticatedAt time.Time
}

// IDClaims are the verified claims of an ID token.
type IDClaims struct {
	// Subject, SID and Nonce are the sub, sid and nonce claims.
	Subject, SID, Nonce string
	// AuthTime is auth_time, or zero.
	AuthTime time.Time
	// Raw is every claim, numbers kept exact.
	Raw map[string]any
}

// Exchange completes a sign-in: it redeems code at the token endpoint
// (client secret in the Basic header, the attempt's PKCE verifier),
// verifies the ID token against the attempt's nonce (see VerifyIDToken),
// fetches userinfo and renders the `user` object. Errors wrap
// ErrUnavailable, ErrRejected or ErrInvalidIDToken.
func (c *Client) Exchange(ctx context.Context, code string, attempt Attempt) (*Result, error) {
	if code == "" {
		return nil, fmt.Errorf("exchange: %w: no code", ErrRejected)
	}
	tok, err := c.oauth.Exchange(c.ctx(ctx), code, oauth2.VerifierOption(attempt.CodeVerifier))
	if err != nil {
		return nil, classify("exchange code", err)
	}
	rawID, _ := tok.Extra("id_token").(string)
	if rawID == "" {
		return nil, fmt.Errorf("exchange: %w: no id_token in the token response", ErrInvalidIDToken)
	}
	claims, err := c.VerifyIDToken(ctx, rawID, tok.AccessToken)
	if err != nil {
		return nil, err
	}
	if subtle.ConstantTimeCompare([]byte(claims.Nonce), []byte(attempt.Nonce)) != 1 || attempt.Nonce == "" {
		return nil, fmt.Errorf("exchange: %w: nonce mismatch", ErrInvalidIDToken)
	}
	info, err := c.UserInfo(ctx, tok.AccessToken)
	if err != nil {
		return nil, err
	}
	me, err := RenderUser(claims.Raw, info)
	if err != nil {
		return nil, err
	}
	now := c.cfg.Now()
	authAt := claims.AuthTime
	if authAt.IsZero() {
		authAt = now
	}
	scope, _ := tok.Extra("scope").(string)
	return &Result{
		Subject: claims.Subject,
		SID:     claims.SID,
		Me:      me,
		Tokens: Tokens{
			AccessToken:         tok.AccessToken,
			RefreshToken:        tok.RefreshToken,
			IDToken:             rawID,
			Scope:               scope,
			AccessTokenExpiry:   c.expiry(now, tok),
			AccessTokenLifetime: lifetime(now, tok),
		},
		AuthenticatedAt: authAt,
	}, nil
}

// expiry computes the access token's expiry on our clock from expires_in.
func (c *Client) expiry(now time.Time, tok *oauth2.Token) time.Time {
	if tok.ExpiresIn > 0 {
		return now.Add(time.Duration(tok.ExpiresIn) * time.Second)
	}
	return tok.Expiry
}

// lifetime is the token's lifetime as issued (expires_in), or 0 when the
// response did not say.
func lifetime(now time.Time, tok *oauth2.Token) time.Duration {
	if tok.ExpiresIn > 0 {
		return time.Duration(tok.ExpiresIn) * time.Second
	}
	if !tok.Expiry.IsZero() && tok.Expiry.After(now) {
		return tok.Expiry.Sub(now)
	}
	return 0
}

// VerifyIDToken checks an ID token's signature (discovery's algorithms,
// keys from the cached JWKS), issuer and audience with go-oidc, then exp,
// iat and nbf against Config.Now with Config.ClockSkew of leeway, and
// at_hash when both it and accessToken are present. It does NOT check the
// nonce: Exchange compares it with the attempt's. Errors wrap
// ErrInvalidIDToken, including a JWKS that cannot be fetched.
func (c *Client) VerifyIDToken(ctx context.Context, rawIDToken, accessToken string) (*IDClaims, error) {
	idt, err := c.verifier.Verify(c.ctx(ctx), rawIDToken)
	if err != nil {
		return nil, fmt.Errorf("verify ID token: %w: %w", ErrInvalidIDToken, err)
	}
	now, skew := c.cfg.Now(), c.cfg.ClockSkew
	switch {
	case idt.Expiry.IsZero():
		return nil, fmt.Errorf("verify ID token: %w: no exp", ErrInvalidIDToken)
	case now.After(idt.Expiry.Add(skew)):
		return nil, fmt.Errorf("verify ID token: %w: expired at %s (leeway %s)", ErrInvalidIDToken, idt.Expiry.UTC().Format(time.RFC3339), skew)
	case idt.IssuedAt.IsZero():
		return nil, fmt.Errorf("verify ID token: %w: no iat", ErrInvalidIDToken)
	case idt.IssuedAt.After(now.Add(skew)):
		return nil, fmt.Errorf("verify ID token: %w: issued in the future at %s (leeway %s)", ErrInvalidIDToken, idt.IssuedAt.UTC().Format(time.RFC3339), skew)
	}
	if idt.AccessTokenHash != "" && accessToken != "" {
		if err := idt.VerifyAccessToken(accessToken); err != nil {
			return nil, fmt.Errorf("verify ID token: %w: %w", ErrInvalidIDToken, err)
		}
	}
	raw := map[string]any{}
	if err := decodeExact(claimsJSON(idt), &raw); err != nil {
		return nil, fmt.Errorf("verify ID token: %w: claims: %w", ErrInvalidIDToken, err)
	}
	if nbf, ok := numericDate(raw["nbf"]); ok && nbf.After(now.Add(skew)) {
		return nil, fmt.Errorf("verify ID token: %w: not valid before %s", ErrInvalidIDToken, nbf.UTC().Format(time.RFC3339))
	}
	out := &IDClaims{Subject: idt.Subject, Nonce: idt.Nonce, Raw: raw}
	out.SID, _ = raw["sid"].(string)
	if at, ok := numericDate(raw["auth_time"]); ok {
		out.AuthTime = at
	}
	return out, nil
}

// claimsJSON returns the token's payload; Claims into a RawMessage copies it.
func claimsJSON(idt *oidc.IDToken) []byte {
	var m json.RawMessage
	if err := idt.Claims(&m); err != nil {
		return nil
	}
	return m
}

// decodeExact decodes JSON keeping numbers as json.Number, so epoch
// milliseconds (created_at, updated_at) survive unchanged.
func decodeExact(data []byte, v any) error {
	if len(data) == 0 {
		return errors.New("empty JSON")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	return dec.Decode(v)
}

// numericDate reads a JWT NumericDate (seconds) claim.
func numericDate(v any) (time.Time, bool) {
	n, ok := v.(json.Number)
	if !ok {
		return time.Time{}, false
	}
	f, err := n.Float64()
	if err != nil {
		return time.Time{}, false
	}
	return time.Unix(int64(f), 0), true
}
