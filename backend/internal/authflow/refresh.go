package authflow

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"golang.org/x/oauth2"
)

// ErrGrantInvalid means the identity provider answered a refresh_token
// grant with invalid_grant: the refresh token is expired, revoked, was
// already used, or the user or grant is gone. Logto gives no way to tell
// these apart, and none of them can be retried: the session is over. It is
// always wrapped together with ErrRejected.
var ErrGrantInvalid = errors.New("refresh token rejected (invalid_grant)")

// Refreshed is the result of a refresh_token grant without resource: the
// session's new tokens.
type Refreshed struct {
	// Tokens are the new tokens. RefreshToken is always set (the new one,
	// or the presented one when the provider did not rotate it) and must be
	// stored: under strict rotation the presented token is now consumed.
	// IDToken is the new ID token when it verified, else the previous one.
	// Resources is copied from the input unchanged.
	Tokens Tokens
	// IDTokenErr is why a returned ID token was not kept (verification
	// failed or its sub differs), for the log; the refresh itself
	// succeeded.
	IDTokenErr error
}

// Refresh redeems the refresh token in current with the refresh_token grant
// (golang.org/x/oauth2, client secret in the Basic header only, never
// retried with the secret in the body, so the token is presented exactly
// once). subject is the session's sub: a new ID token must carry it.
//
// Errors: ErrGrantInvalid (with ErrRejected) on invalid_grant — end the
// session; ErrRejected on any other OAuth error; ErrUnavailable on network
// errors, timeouts and 5xx — transient, keep the session. Run it under the
// session's lock, with a context that a departing browser does not cancel:
// once the provider has rotated the token, losing its answer loses the
// session.
func (c *Client) Refresh(ctx context.Context, current Tokens, subject string) (*Refreshed, error) {
	tok, err := c.refreshGrant(ctx, current.RefreshToken, nil)
	if err != nil {
		return nil, err
	}
	now := c.cfg.Now()
	out := &Refreshed{Tokens: Tokens{
		AccessToken:         tok.AccessToken,
		RefreshToken:        nonEmpty(tok.RefreshToken, current.RefreshToken),
		IDToken:             current.IDToken,
		Scope:               current.Scope,
		AccessTokenExpiry:   c.expiry(now, tok),
		AccessTokenLifetime: lifetime(now, tok),
		Resources:           current.Resources,
	}}
	if scope, _ := tok.Extra("scope").(string); scope != "" {
		out.Tokens.Scope = scope
	}
	if rawID, _ := tok.Extra("id_token").(string); rawID != "" {
		claims, err := c.VerifyIDToken(ctx, rawID, tok.AccessToken)
		switch {
		case err != nil:
			out.IDTokenErr = err
		case claims.Subject != subject:
			out.IDTokenErr = fmt.Errorf("refresh: %w: sub differs from the session's", ErrInvalidIDToken)
		default:
			out.Tokens.IDToken = rawID
		}
	}
	return out, nil
}

// ResourceToken obtains a JWT access token with the refresh_token grant and
// resource=<resource> (RFC 8707), or an organization token with
// organization_id=<organization> (plus resource when both are set). It
// returns the token and the refresh token to store from now on (the
// provider may rotate it on this grant too: always store it). Errors are
// those of Refresh. resource and organization must not both be empty.
func (c *Client) ResourceToken(ctx context.Context, refreshToken, resource, organization string) (ResourceToken, string, error) {
	if resource == "" && organization == "" {
		return ResourceToken{}, "", errors.New("authflow: ResourceToken needs a resource or an organization")
	}
	extra := url.Values{}
	if resource != "" {
		extra.Set("resource", resource)
	}
	if organization != "" {
		extra.Set("organization_id", organization)
	}
	tok, err := c.refreshGrant(ctx, refreshToken, extra)
	if err != nil {
		return ResourceToken{}, "", err
	}
	now := c.cfg.Now()
	rt := ResourceToken{AccessToken: tok.AccessToken, Expiry: c.expiry(now, tok), Lifetime: lifetime(now, tok)}
	return rt, nonEmpty(tok.RefreshToken, refreshToken), nil
}

// ResourceKey is the key of a resource or organization token in
// Tokens.Resources: the indicator, "org:<id>", or
// "org:<id>|<indicator>" for an organization-scoped API resource.
func ResourceKey(resource, organization string) string {
	switch {
	case organization == "":
		return resource
	case resource == "":
		return "org:" + organization
	default:
		return "org:" + organization + "|" + resource
	}
}

// refreshGrant runs one refresh_token grant through x/oauth2 with the
// extra form parameters in extra (x/oauth2's refresher has no way to add
// them; refreshParams does, on this request only).
func (c *Client) refreshGrant(ctx context.Context, refreshToken string, extra url.Values) (*oauth2.Token, error) {
	if refreshToken == "" {
		return nil, fmt.Errorf("refresh: %w: %w: no refresh token (offline_access not granted)", ErrRejected, ErrGrantInvalid)
	}
	ctx = context.WithValue(ctx, refreshParamsKey{}, extra)
	ctx = context.WithValue(ctx, oauth2.HTTPClient, c.tokenHTTP)
	// A token with only a refresh token is invalid, so the source refreshes
	// immediately; it is used once and dropped.
	tok, err := c.oauth.TokenSource(ctx, &oauth2.Token{RefreshToken: refreshToken}).Token()
	if err != nil {
		var re *oauth2.RetrieveError
		if errors.As(err, &re) && re.Response != nil && re.Response.StatusCode < 500 && re.ErrorCode == "invalid_grant" {
			return nil, fmt.Errorf("refresh: %w: %w: %w", ErrRejected, ErrGrantInvalid, err)
		}
		return nil, classify("refresh", err)
	}
	if tok.AccessToken == "" {
		return nil, fmt.Errorf("refresh: %w: no access_token in the token response", ErrUnavailable)
	}
	return tok, nil
}

// OAuthErrorCode returns the OAuth error code ("invalid_target",
// "access_denied", …) of a token-endpoint rejection in err's chain, or "".
func OAuthErrorCode(err error) string {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		return re.ErrorCode
	}
	return ""
}

type refreshParamsKey struct{}

// refreshParams adds the form parameters found in the request's context
// (refreshParamsKey) to a refresh_token grant's body. Every other request
// passes through unchanged.
type refreshParams struct{ base http.RoundTripper }

func (t refreshParams) RoundTrip(r *http.Request) (*http.Response, error) {
	extra, _ := r.Context().Value(refreshParamsKey{}).(url.Values)
	if len(extra) == 0 || r.Method != http.MethodPost || r.GetBody == nil {
		return t.base.RoundTrip(r)
	}
	body, err := r.GetBody()
	if err != nil {
		return nil, err
	}
	raw, err := io.ReadAll(io.LimitReader(body, 64<<10))
	body.Close()
	if err != nil {
		return nil, err
	}
	form, err := url.ParseQuery(string(raw))
	if err != nil || form.Get("grant_type") != "refresh_token" {
		return t.base.RoundTrip(r)
	}
	for k, vs := range extra {
		form[k] = vs
	}
	encoded := form.Encode()
	if r.Body != nil {
		r.Body.Close() // replaced below; RoundTrip owns closing it
	}
	out := r.Clone(r.Context())
	out.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(encoded)), nil }
	out.Body, _ = out.GetBody()
	out.ContentLength = int64(len(encoded))
	return t.base.RoundTrip(out)
}

// tokenClient is c.http with refreshParams in front of its transport.
func tokenClient(hc *http.Client) *http.Client {
	base := hc.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	out := *hc
	out.Transport = refreshParams{base: base}
	return &out
}

func nonEmpty(v, fallback string) string {
	if v != "" {
		return v
	}
	return fallback
}

// NeedsRefresh reports whether a token expiring at expiry must be renewed
// at now, given margin: a zero expiry (unknown) counts as valid.
func NeedsRefresh(expiry, now time.Time, margin time.Duration) bool {
	if expiry.IsZero() {
		return false
	}
	return !now.Add(margin).Before(expiry)
}
