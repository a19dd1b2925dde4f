package authflow

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
)

// maxUserInfoBytes bounds the userinfo response read into memory.
const maxUserInfoBytes = 1 << 20

// UserInfo fetches Logto's userinfo (/oidc/me) with accessToken and returns
// its claims, numbers kept exact. A 401/403 wraps ErrRejected (the token is
// no longer accepted); network errors and 5xx wrap ErrUnavailable.
func (c *Client) UserInfo(ctx context.Context, accessToken string) (map[string]any, error) {
	endpoint := c.provider.UserInfoEndpoint()
	if endpoint == "" {
		return nil, fmt.Errorf("userinfo: %w: no userinfo endpoint in discovery", ErrUnavailable)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, endpoint, nil)
	if err != nil {
		return nil, fmt.Errorf("userinfo: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+accessToken)
	req.Header.Set("Accept", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("userinfo: %w: %w", ErrUnavailable, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxUserInfoBytes))
	if err != nil {
		return nil, fmt.Errorf("userinfo: %w: %w", ErrUnavailable, err)
	}
	switch {
	case resp.StatusCode >= 500:
		return nil, fmt.Errorf("userinfo: %w: status %d", ErrUnavailable, resp.StatusCode)
	case resp.StatusCode != http.StatusOK:
		return nil, fmt.Errorf("userinfo: %w: status %d", ErrRejected, resp.StatusCode)
	}
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt != "application/json" {
		return nil, fmt.Errorf("userinfo: %w: unexpected content type %q", ErrUnavailable, mt)
	}
	claims := map[string]any{}
	if err := decodeExact(body, &claims); err != nil {
		return nil, fmt.Errorf("userinfo: %w: %w", ErrUnavailable, err)
	}
	return claims, nil
}

// protocolClaims are removed from the `user` object: they describe the
// token, not the user (and sid keys back-channel logout).
var protocolClaims = []string{"nonce", "at_hash", "c_hash", "aud", "iss", "exp", "iat", "nbf", "sid", "azp", "auth_time", "jti", "acr", "amr"}

// userDefaults gives every documented `user` field a value when Logto did
// not send it, so the SPA sees one shape: null for missing values (as Logto
// itself sends them), false, [] or {}.
var userDefaults = map[string]func() any{
	"name":                  func() any { return nil },
	"username":              func() any { return nil },
	"picture":               func() any { return nil },
	"email":                 func() any { return nil },
	"email_verified":        func() any { return false },
	"phone_number":          func() any { return nil },
	"phone_number_verified": func() any { return false },
	"roles":                 func() any { return []any{} },
	"organizations":         func() any { return []any{} },
	"organization_roles":    func() any { return []any{} },
	"custom_data":           func() any { return map[string]any{} },
	"identities":            func() any { return map[string]any{} },
	"created_at":            func() any { return nil },
	"updated_at":            func() any { return nil },
}

// RenderUser builds the `user` object of GET /api/me: the ID token's claims
// overlaid with userinfo's (fresher, and the only source of identities and
// custom_data), without protocol claims, with every documented field
// present. Logto-specific claims pass through. It fails if userinfo names
// another subject (OIDC Core 5.3.2). The result never holds a token.
func RenderUser(idClaims, userinfo map[string]any) (json.RawMessage, error) {
	sub, _ := idClaims["sub"].(string)
	if sub == "" {
		return nil, fmt.Errorf("render user: %w: no sub", ErrInvalidIDToken)
	}
	if uisub, ok := userinfo["sub"]; ok && uisub != sub {
		return nil, fmt.Errorf("render user: %w: userinfo subject differs from the ID token's", ErrInvalidIDToken)
	}
	user := make(map[string]any, len(idClaims)+len(userinfo)+len(userDefaults))
	for k, v := range idClaims {
		user[k] = v
	}
	for k, v := range userinfo {
		user[k] = v
	}
	for _, k := range protocolClaims {
		delete(user, k)
	}
	for k, def := range userDefaults {
		if _, ok := user[k]; !ok {
			user[k] = def()
		}
	}
	user["sub"] = sub
	out, err := json.Marshal(user)
	if err != nil {
		return nil, fmt.Errorf("render user: %w", err)
	}
	return out, nil
}
