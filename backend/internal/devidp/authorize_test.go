package devidp

import (
	"context"
	"github.com/logto-bff/bff/backend/internal/devidp/devidptest"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

const banner = "Development identity provider — not for production"

func TestAuthorizeRejectsWithoutRedirect(t *testing.T) {
	e := newEnv(t)
	base := url.Values{"client_id": {testClientID}, "redirect_uri": {testRedirect}, "response_type": {"code"}, "scope": {"openid"}}
	tests := []struct {
		name string
		set  map[string]string
	}{
		{"unknown client", map[string]string{"client_id": "nope"}},
		{"missing client", map[string]string{"client_id": ""}},
		{"unregistered redirect", map[string]string{"redirect_uri": "https://evil.example.test/auth/callback"}},
		{"redirect with trailing slash", map[string]string{"redirect_uri": testRedirect + "/"}},
		{"redirect with extra query", map[string]string{"redirect_uri": testRedirect + "?x=1"}},
		{"missing redirect", map[string]string{"redirect_uri": ""}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			q := url.Values{}
			for k, v := range base {
				q[k] = v
			}
			for k, v := range tc.set {
				q.Set(k, v)
			}
			status, body, loc := getPage(t, e.browser(t), e.issuer+"/auth?"+q.Encode())
			if status != http.StatusBadRequest || loc != "" || !strings.Contains(body, banner) || !strings.Contains(body, "<h1") {
				t.Fatalf("status %d Location %q", status, loc)
			}
		})
	}
}

func TestAuthorizeErrorsRedirectToClient(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		name, wantErr string
		set           map[string]string
	}{
		{"response_type token", "unsupported_response_type", map[string]string{"response_type": "token"}},
		{"response_type missing", "unsupported_response_type", map[string]string{"response_type": ""}},
		{"plain pkce", "invalid_request", map[string]string{"code_challenge_method": "plain"}},
		{"pkce method missing", "invalid_request", map[string]string{"code_challenge_method": ""}},
		{"no openid", "invalid_scope", map[string]string{"scope": "profile"}},
		{"unknown resource", "invalid_target", map[string]string{"resource": "https://unknown.example.test"}},
		{"prompt none without session", "login_required", map[string]string{"prompt": "none"}},
		{"bad prompt", "invalid_request", map[string]string{"prompt": "select_everything"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			u, _ := url.Parse(e.authURL("openid", nil))
			q := u.Query()
			for k, v := range tc.set {
				q.Set(k, v)
			}
			u.RawQuery = q.Encode()
			resp, err := e.browser(t).Get(u.String())
			if err != nil {
				t.Fatal(err)
			}
			got := callback(t, resp)
			if got.Get("error") != tc.wantErr || got.Get("state") != "st" || got.Get("iss") != e.issuer || got.Get("code") != "" {
				t.Fatalf("callback %v", got)
			}
		})
	}
}

func TestCallbackCarriesCodeStateIss(t *testing.T) {
	e := newEnv(t)
	resp, err := devidptest.SignIn(context.Background(), e.browser(t), e.authURL("openid", nil), AliceUsername, AlicePassword)
	if err != nil {
		t.Fatal(err)
	}
	q := callback(t, resp)
	if len(q.Get("code")) != 43 || q.Get("state") != "st" || q.Get("iss") != e.issuer {
		t.Fatalf("callback %v", q)
	}
}

func TestSSOSessionSkipsForm(t *testing.T) {
	e := newEnv(t)
	b := e.browser(t)
	first := e.exchange(t, e.signIn(t, b, e.authURL("openid", nil), AliceUsername, AlicePassword))
	_, firstID := e.decodeJWT(t, str(first["id_token"]))

	// Same browser: straight back to the callback, same sid.
	resp, err := b.Get(e.authURL("openid", nil))
	if err != nil {
		t.Fatal(err)
	}
	q := callback(t, resp)
	second := e.exchange(t, q.Get("code"))
	_, secondID := e.decodeJWT(t, str(second["id_token"]))
	if secondID["sid"] != firstID["sid"] || secondID["sub"] != AliceID {
		t.Fatalf("SSO id token %v", secondID)
	}
	// prompt=none works with the session.
	resp, _ = b.Get(e.authURL("openid", url.Values{"prompt": {"none"}}))
	if q := callback(t, resp); q.Get("code") == "" {
		t.Fatalf("prompt=none with session: %v", q)
	}
	// prompt=login shows the form again and then carries auth_time.
	status, body, _ := getPage(t, b, e.authURL("openid", url.Values{"prompt": {"login"}}))
	if status != 200 || !strings.Contains(body, `id="sign-in"`) {
		t.Fatalf("prompt=login: %d", status)
	}
	third := e.exchange(t, e.signIn(t, b, e.authURL("openid", url.Values{"prompt": {"login"}}), AliceUsername, AlicePassword))
	_, thirdID := e.decodeJWT(t, str(third["id_token"]))
	if thirdID["auth_time"] == nil {
		t.Fatalf("prompt=login id token lacks auth_time: %v", thirdID)
	}
	// Another browser has no session.
	status, body, _ = getPage(t, e.browser(t), e.authURL("openid", nil))
	if status != 200 || !strings.Contains(body, `id="sign-in"`) {
		t.Fatalf("fresh browser: %d", status)
	}
}

func TestSessionExpires(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.SessionTTL = time.Hour })
	b := e.browser(t)
	e.signIn(t, b, e.authURL("openid", nil), AliceUsername, AlicePassword)
	e.clock.Advance(time.Hour + time.Second)
	status, body, _ := getPage(t, b, e.authURL("openid", nil))
	if status != 200 || !strings.Contains(body, `id="sign-in"`) {
		t.Fatalf("after SessionTTL want the form, got %d", status)
	}
}
