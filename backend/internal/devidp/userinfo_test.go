package devidp

import (
	"github.com/logto-bff/bff/backend/internal/devidp/devidptest"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestClaimsPerScope(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		scope          string
		wantID, wantUI []string // claim names beyond the JWT's own (aud, exp, iat, iss, nonce, at_hash, sid)
	}{
		{"openid", []string{"sub"}, []string{"sub"}},
		{"openid profile", []string{"sub", "name", "picture", "username", "created_at", "updated_at"},
			[]string{"sub", "name", "picture", "username", "created_at", "updated_at"}},
		{"openid email", []string{"sub", "email", "email_verified"}, []string{"sub", "email", "email_verified"}},
		{"openid phone", []string{"sub", "phone_number", "phone_number_verified"}, []string{"sub", "phone_number", "phone_number_verified"}},
		{"openid custom_data", []string{"sub"}, []string{"sub", "custom_data"}},
		{"openid identities", []string{"sub"}, []string{"sub", "identities", "sso_identities"}},
		{"openid roles", []string{"sub", "roles"}, []string{"sub", "roles"}},
		{"openid urn:logto:scope:organizations", []string{"sub", "organizations"}, []string{"sub", "organizations", "organization_data"}},
		{"openid urn:logto:scope:organization_roles", []string{"sub", "organization_roles"}, []string{"sub", "organization_roles"}},
	}
	jwtOwn := []string{"aud", "exp", "iat", "iss", "nonce", "at_hash", "sid"}
	for _, tc := range tests {
		t.Run(tc.scope, func(t *testing.T) {
			tokens := e.exchange(t, e.signIn(t, e.browser(t), e.authURL(tc.scope, nil), AliceUsername, AlicePassword))
			_, id := e.decodeJWT(t, str(tokens["id_token"]))
			if got, want := keysOf(id), sorted(append(slices.Clone(tc.wantID), jwtOwn...)...); !slices.Equal(got, want) {
				t.Errorf("id token claims %v, want %v", got, want)
			}
			status, ui := e.userinfo(t, str(tokens["access_token"]))
			if got, want := keysOf(ui), sorted(tc.wantUI...); status != 200 || !slices.Equal(got, want) {
				t.Errorf("userinfo %d claims %v, want %v", status, got, want)
			}
		})
	}
}

func TestClaimValues(t *testing.T) {
	e := newEnv(t)
	all := "openid profile email phone custom_data identities roles urn:logto:scope:organizations urn:logto:scope:organization_roles"
	tokens := e.exchange(t, e.signIn(t, e.browser(t), e.authURL(all, nil), AliceUsername, AlicePassword))
	_, ui := e.userinfo(t, str(tokens["access_token"]))
	checks := map[string]any{
		"name": "Alice Example", "username": "alice", "picture": nil, "email": "alice@example.test", "email_verified": true,
		"phone_number": nil, "phone_number_verified": false, "created_at": float64(1795632365819), "updated_at": float64(1795634181455),
	}
	for k, want := range checks {
		if ui[k] != want {
			t.Errorf("%s = %#v, want %#v", k, ui[k], want)
		}
	}
	if r, _ := ui["roles"].([]any); len(r) != 1 || r[0] != "admin" {
		t.Errorf("roles %v", ui["roles"])
	}
	if r, _ := ui["organization_roles"].([]any); len(r) != 1 || r[0] != "org_acme:editor" {
		t.Errorf("organization_roles %v", ui["organization_roles"])
	}
	if o, _ := ui["organizations"].([]any); len(o) != 1 || o[0] != "org_acme" {
		t.Errorf("organizations %v", ui["organizations"])
	}
	if d, _ := ui["organization_data"].([]any); len(d) != 1 || d[0].(map[string]any)["name"] != "Acme" {
		t.Errorf("organization_data %v", ui["organization_data"])
	}
	if ids, ok := ui["identities"].(map[string]any); !ok || len(ids) != 0 {
		t.Errorf("identities %v, want {}", ui["identities"])
	}
	if s, ok := ui["sso_identities"].([]any); !ok || len(s) != 0 {
		t.Errorf("sso_identities %v, want []", ui["sso_identities"])
	}
	if c, ok := ui["custom_data"].(map[string]any); !ok || len(c) != 0 {
		t.Errorf("custom_data %v, want {}", ui["custom_data"])
	}
	// A Discord user has username null and no roles.
	nelly := e.exchange(t, callback(t, mustDiscord(t, e)).Get("code"))
	_, nui := e.userinfo(t, str(nelly["access_token"]))
	if nui["username"] != nil || nui["name"] != "nelly" || nui["picture"] != nellyAvatar {
		t.Errorf("nelly userinfo %v", nui)
	}
	if r, ok := nui["roles"].([]any); !ok || len(r) != 0 {
		t.Errorf("nelly roles %v, want []", nui["roles"])
	}
}

func TestUserinfoRejects(t *testing.T) {
	e := newEnv(t)
	tokens := e.exchange(t, e.signIn(t, e.browser(t), e.authURL("openid", nil), AliceUsername, AlicePassword))
	for _, auth := range []string{"", "Bearer ", "Bearer nope", "Basic " + str(tokens["access_token"]), "Bearer " + str(tokens["id_token"])} {
		req, _ := http.NewRequest(http.MethodGet, e.issuer+"/me", nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body := readBody(t, resp)
		if resp.StatusCode != 401 || !strings.Contains(resp.Header.Get("WWW-Authenticate"), `error="invalid_token"`) ||
			!strings.Contains(body, `"code":"oidc.invalid_token"`) {
			t.Fatalf("auth %.20q: %d %s", auth, resp.StatusCode, body)
		}
	}
	e.clock.Advance(DefaultAccessTokenTTL + time.Second)
	if status, _ := e.userinfo(t, str(tokens["access_token"])); status != 401 {
		t.Fatalf("expired access token: %d", status)
	}
}

func mustDiscord(t *testing.T, e *env) *http.Response {
	t.Helper()
	resp, err := devidptest.SignInWithDiscord(t.Context(), e.browser(t), e.authURL("openid profile roles identities", url.Values{"direct_sign_in": {"social:discord"}}))
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func mustDiscordConsent(t *testing.T, e *env) *http.Response {
	t.Helper()
	resp, err := devidptest.SignInWithDiscord(t.Context(), e.browser(t), e.authURL(fullScope, url.Values{"prompt": {"consent"}}))
	if err != nil {
		t.Fatal(err)
	}
	return resp
}
