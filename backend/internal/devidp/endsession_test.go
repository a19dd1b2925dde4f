package devidp

import (
	"context"
	"github.com/logto-bff/bff/backend/internal/devidp/devidptest"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

func (e *env) endSessionURL(params url.Values) string {
	return e.issuer + "/session/end?" + params.Encode()
}

func TestEndSessionPageAndRedirect(t *testing.T) {
	e := newEnv(t)
	b := e.browser(t)
	tokens := e.exchange(t, e.signIn(t, b, e.authURL("openid", nil), AliceUsername, AlicePassword))
	endURL := e.endSessionURL(url.Values{"client_id": {testClientID}, "post_logout_redirect_uri": {testPostLogout},
		"id_token_hint": {str(tokens["id_token"])}, "state": {"bye"}})
	status, body, _ := getPage(t, b, endURL)
	if status != 200 || !strings.Contains(body, "Sign out of Test App?") || !strings.Contains(body, `<button type="submit" autofocus>Sign out</button>`) || !strings.Contains(body, banner) {
		t.Fatalf("confirmation page: %d", status)
	}
	// Before confirming, nothing ended: the access token still works.
	if status, _ := e.userinfo(t, str(tokens["access_token"])); status != 200 {
		t.Fatalf("before confirm: %d", status)
	}
	resp, err := devidptest.SignOut(context.Background(), b, endURL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != testPostLogout+"?state=bye" {
		t.Fatalf("%d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	// The grant had no offline_access: ended with the session.
	if status, _ := e.userinfo(t, str(tokens["access_token"])); status != 401 {
		t.Fatalf("access token after sign-out: %d, want 401", status)
	}
	status, body, _ = getPage(t, b, e.authURL("openid", nil))
	if status != 200 || !strings.Contains(body, `id="sign-in"`) {
		t.Fatalf("IdP session must be gone: %d", status)
	}
}

func TestEndSessionKeepsOfflineGrants(t *testing.T) {
	e := newEnv(t)
	b := e.browser(t)
	tokens := e.exchange(t, e.signIn(t, b, e.authURL(fullScope, url.Values{"prompt": {"consent"}}), AliceUsername, AlicePassword))
	resp, err := devidptest.SignOut(context.Background(), b, e.endSessionURL(url.Values{"client_id": {testClientID}, "post_logout_redirect_uri": {testPostLogout}}))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	// Like Logto: a grant with offline_access survives sign-out.
	if status, _ := e.refresh(t, str(tokens["refresh_token"]), nil); status != 200 {
		t.Fatalf("refresh after sign-out: %d, want 200 (revoking is the client's job)", status)
	}
}

func TestEndSessionRejects(t *testing.T) {
	e := newEnv(t, func(c *Config) {
		c.Clients = append(c.Clients, Client{ID: "other", Secret: "s", RedirectURIs: []string{"https://o.example.test/cb"},
			PostLogoutRedirectURIs: []string{"https://o.example.test/"}})
	})
	tokens := e.exchange(t, e.signIn(t, e.browser(t), e.authURL("openid", nil), AliceUsername, AlicePassword))
	idt := str(tokens["id_token"])
	tests := []struct {
		name   string
		params url.Values
	}{
		{"unregistered post logout uri", url.Values{"client_id": {testClientID}, "post_logout_redirect_uri": {"https://evil.example.test/"}}},
		{"other client's post logout uri", url.Values{"client_id": {testClientID}, "post_logout_redirect_uri": {"https://o.example.test/"}}},
		{"uri without client", url.Values{"post_logout_redirect_uri": {testPostLogout}}},
		{"unknown client", url.Values{"client_id": {"nope"}}},
		{"hint for another client", url.Values{"client_id": {"other"}, "id_token_hint": {idt}}},
		{"forged hint", url.Values{"id_token_hint": {idt[:len(idt)-4] + "AAAA"}, "post_logout_redirect_uri": {testPostLogout}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, body, loc := getPage(t, e.browser(t), e.endSessionURL(tc.params))
			if status != http.StatusBadRequest || loc != "" || !strings.Contains(body, banner) {
				t.Fatalf("%d Location %q", status, loc)
			}
		})
	}
	// The hint alone identifies the client.
	status, body, _ := getPage(t, e.browser(t), e.endSessionURL(url.Values{"id_token_hint": {idt}, "post_logout_redirect_uri": {testPostLogout}}))
	if status != 200 || !strings.Contains(body, "Sign out of Test App?") {
		t.Fatalf("hint-only: %d", status)
	}
}

func TestEndSessionConfirmNeedsCookie(t *testing.T) {
	e := newEnv(t)
	b := e.browser(t)
	e.signIn(t, b, e.authURL("openid", nil), AliceUsername, AlicePassword)
	status, body, _ := getPage(t, b, e.endSessionURL(url.Values{"client_id": {testClientID}, "post_logout_redirect_uri": {testPostLogout}}))
	if status != 200 {
		t.Fatal(status)
	}
	i := strings.Index(body, `name="xsrf" value="`)
	xsrf := body[i+len(`name="xsrf" value="`):]
	xsrf = xsrf[:strings.Index(xsrf, `"`)]
	// Another browser posting the (stolen) form field is refused.
	resp, err := e.browser(t).PostForm(e.issuer+"/session/end/confirm", url.Values{"xsrf": {xsrf}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("confirm without cookie: %d", resp.StatusCode)
	}
	// No post_logout_redirect_uri: a "signed out" page instead of a redirect.
	resp, err = devidptest.SignOut(context.Background(), b, e.endSessionURL(url.Values{"client_id": {testClientID}}))
	if err != nil {
		t.Fatal(err)
	}
	if body := readBody(t, resp); resp.StatusCode != 200 || !strings.Contains(body, "Signed out") {
		t.Fatalf("signed-out page: %d", resp.StatusCode)
	}
}

func TestBackchannelDelivery(t *testing.T) {
	tests := []struct {
		name           string
		status         int
		sessionReq     bool
		wantDelivered  int
		wantFailed     int
		wantSIDInToken bool
	}{
		{"delivered with sid", 200, true, 1, 0, true},
		{"204 counts as delivered", 204, true, 1, 0, true},
		{"refused", 500, true, 0, 1, true},
		{"session not required: no sid anywhere", 200, false, 1, 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			recv := &logoutReceiver{}
			rs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				recv.ServeHTTP(httptest.NewRecorder(), r)
				w.WriteHeader(tc.status)
			}))
			t.Cleanup(rs.Close)
			e := newEnv(t, func(c *Config) {
				c.Clients[0].BackchannelLogoutURI = rs.URL
				c.Clients[0].BackchannelLogoutSessionRequired = tc.sessionReq
			})
			b := e.browser(t)
			tokens := e.exchange(t, e.signIn(t, b, e.authURL("openid", nil), AliceUsername, AlicePassword))
			_, id := e.decodeJWT(t, str(tokens["id_token"]))
			resp, err := devidptest.SignOut(context.Background(), b, e.endSessionURL(url.Values{"client_id": {testClientID}, "post_logout_redirect_uri": {testPostLogout}}))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusSeeOther {
				t.Fatalf("redirect even when delivery fails: %d", resp.StatusCode)
			}
			got := recv.received()
			if len(got) != 1 {
				t.Fatalf("deliveries %d", len(got))
			}
			header, claims := e.decodeJWT(t, got[0])
			if header["typ"] != "logout+jwt" || header["alg"] != "ES384" || header["kid"] == nil {
				t.Fatalf("header %v", header)
			}
			want := []string{"aud", "events", "iat", "iss", "jti", "sub"}
			if tc.wantSIDInToken {
				want = append(want, "sid")
			}
			if gotKeys := keysOf(claims); strings.Join(gotKeys, ",") != strings.Join(sorted(want...), ",") {
				t.Fatalf("logout token claims %v, want %v", gotKeys, want)
			}
			if _, has := id["sid"]; has != tc.wantSIDInToken || (has && id["sid"] != claims["sid"]) {
				t.Fatalf("id token sid %v vs logout sid %v", id["sid"], claims["sid"])
			}
			if s := e.p.Stats(); s.BackchannelDelivered != tc.wantDelivered || s.BackchannelFailed != tc.wantFailed {
				t.Fatalf("stats %+v", s)
			}
		})
	}
}

func TestBackchannelUnreachableCountsFailed(t *testing.T) {
	rs := httptest.NewServer(http.NotFoundHandler())
	unreachable := rs.URL
	rs.Close()
	e := newEnv(t, func(c *Config) { c.Clients[0].BackchannelLogoutURI = unreachable })
	b := e.browser(t)
	e.signIn(t, b, e.authURL("openid", nil), AliceUsername, AlicePassword)
	resp, err := devidptest.SignOut(context.Background(), b, e.endSessionURL(url.Values{"client_id": {testClientID}, "post_logout_redirect_uri": {testPostLogout}}))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if s := e.p.Stats(); resp.StatusCode != http.StatusSeeOther || s.BackchannelFailed != 1 || s.BackchannelDelivered != 0 {
		t.Fatalf("%d %+v", resp.StatusCode, s)
	}
}

// Like Logto, sign-out notifies every client that took part in the session.
func TestBackchannelToEveryClientOfTheSession(t *testing.T) {
	recvA, recvB := &logoutReceiver{}, &logoutReceiver{}
	a, b := httptest.NewServer(recvA), httptest.NewServer(recvB)
	t.Cleanup(a.Close)
	t.Cleanup(b.Close)
	const otherRedirect = "https://other.example.test/cb"
	e := newEnv(t, func(c *Config) {
		c.Clients[0].BackchannelLogoutURI = a.URL
		c.Clients = append(c.Clients, Client{ID: "other", Secret: "other-secret", RedirectURIs: []string{otherRedirect},
			BackchannelLogoutURI: b.URL, BackchannelLogoutSessionRequired: true})
	})
	br := e.browser(t)
	e.signIn(t, br, e.authURL("openid", nil), AliceUsername, AlicePassword)
	// The second client gets in through the SSO session.
	resp, err := br.Get(e.issuer + "/auth?" + url.Values{"client_id": {"other"}, "redirect_uri": {otherRedirect},
		"response_type": {"code"}, "scope": {"openid"}}.Encode())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, otherRedirect+"?") {
		t.Fatalf("SSO for second client: %d %q", resp.StatusCode, loc)
	}
	resp, err = devidptest.SignOut(context.Background(), br, e.endSessionURL(url.Values{"client_id": {testClientID}, "post_logout_redirect_uri": {testPostLogout}}))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	ga, gb := recvA.received(), recvB.received()
	if len(ga) != 1 || len(gb) != 1 {
		t.Fatalf("deliveries: %d and %d, want 1 each", len(ga), len(gb))
	}
	_, ca := e.decodeJWT(t, ga[0])
	_, cb := e.decodeJWT(t, gb[0])
	if ca["aud"] != testClientID || cb["aud"] != "other" || ca["sid"] == cb["sid"] {
		t.Fatalf("logout tokens %v / %v (sid is per client)", ca, cb)
	}
}

func TestHelpersNeedCookieJar(t *testing.T) {
	e := newEnv(t)
	if _, err := devidptest.SignIn(context.Background(), &http.Client{}, e.authURL("openid", nil), AliceUsername, AlicePassword); err == nil {
		t.Fatal("SignIn without a cookie jar must fail")
	}
	if _, err := devidptest.SignOut(context.Background(), &http.Client{}, e.endSessionURL(nil)); err == nil {
		t.Fatal("SignOut without a cookie jar must fail")
	}
}
