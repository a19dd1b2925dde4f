package authflow

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// Revoke revokes refreshToken at Logto's revocation endpoint (RFC 7009)
// with client authentication in the Basic header. Logto then deletes the
// whole grant: every access and refresh token of that sign-in. Logto's end
// session does not do this for offline_access grants, so sign-out must call
// Revoke first. An empty token is a no-op. Errors wrap ErrUnavailable or
// ErrRejected.
func (c *Client) Revoke(ctx context.Context, refreshToken string) error {
	if refreshToken == "" {
		return nil
	}
	if c.meta.RevocationEndpoint == "" {
		return fmt.Errorf("revoke: %w: no revocation endpoint in discovery", ErrUnavailable)
	}
	form := url.Values{"token": {refreshToken}, "token_type_hint": {"refresh_token"}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.meta.RevocationEndpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return fmt.Errorf("revoke: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	// RFC 6749 §2.3.1: form-urlencode the credentials before Basic encoding.
	req.SetBasicAuth(url.QueryEscape(c.cfg.ClientID), url.QueryEscape(c.cfg.ClientSecret))
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("revoke: %w: %w", ErrUnavailable, err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	switch {
	case resp.StatusCode == http.StatusOK:
		return nil
	case resp.StatusCode >= 500:
		return fmt.Errorf("revoke: %w: status %d", ErrUnavailable, resp.StatusCode)
	default:
		return fmt.Errorf("revoke: %w: status %d", ErrRejected, resp.StatusCode)
	}
}

// EndSessionURL is Logto's end-session URL with client_id,
// post_logout_redirect_uri and, when idTokenHint is not empty,
// id_token_hint. The hint puts an ID token in a URL the browser follows:
// that is how Logto's protocol works, the URL goes to Logto itself (the
// BFF sends Referrer-Policy: no-referrer), and an ID token grants no API
// access. Without an end-session endpoint in discovery it returns the
// post sign-out URI.
func (c *Client) EndSessionURL(idTokenHint string) string {
	if c.meta.EndSessionEndpoint == "" {
		return c.cfg.PostLogoutRedirectURL
	}
	q := url.Values{"client_id": {c.cfg.ClientID}}
	if c.cfg.PostLogoutRedirectURL != "" {
		q.Set("post_logout_redirect_uri", c.cfg.PostLogoutRedirectURL)
	}
	if idTokenHint != "" {
		q.Set("id_token_hint", idTokenHint)
	}
	sep := "?"
	if strings.Contains(c.meta.EndSessionEndpoint, "?") {
		sep = "&"
	}
	return c.meta.EndSessionEndpoint + sep + q.Encode()
}
