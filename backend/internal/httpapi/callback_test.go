package httpapi

import (
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/logto-bff/bff/backend/internal/signin"
)

func TestReturnToAttacks(t *testing.T) {
	attacks := []struct{ returnTo, want string }{
		{"/settings", "/settings"},
		{"https://evil.example/", "/"},
		{"//evil.example", "/"},
		{"/\\evil.example", "/"},
		{"\\/evil.example", "/"},
		{"/%2F%2Fevil.example", "/"},
		{"/%5Cevil.example", "/"},
		{"%2F%2Fevil.example", "/"},
		{"/%252F%252Fevil.example", "/"},
		{"javascript:alert(1)", "/"},
		{"/x\r\nSet-Cookie: a=b", "/"},
		{"/x%0d%0aSet-Cookie:%20a=b", "/"},
		{"/\t/evil.example", "/"},
		{"http:/evil.example", "/"},
		{"", "/"},
	}
	forEachStore(t, func(t *testing.T, store string) {
		e := newEnv(t, store, envOptions{})
		b := e.browser(t)
		for _, a := range attacks {
			resp := b.signIn(t, "returnTo="+url.QueryEscape(a.returnTo), "alice")
			if got := resp.Header.Get("Location"); got != a.want {
				t.Errorf("returnTo %q: landed on %q, want %q", a.returnTo, got, a.want)
			}
		}
	})
}

func TestForgedAndReplayedState(t *testing.T) {
	forEachStore(t, func(t *testing.T, store string) {
		e := newEnv(t, store, envOptions{})

		// A state the BFF never issued.
		b := e.browser(t)
		resp, body := b.get(t, "/auth/callback?code=abc&state=forged&iss="+url.QueryEscape(e.issuer()))
		assertStatePage(t, resp, body)

		// No state at all, JSON preferred.
		resp, body = b.get(t, "/auth/callback?code=abc", "Accept", "application/json")
		if resp.StatusCode != http.StatusBadRequest || errorCode(t, body) != "invalid_state" {
			t.Errorf("no state: %d %s", resp.StatusCode, body)
		}

		// A real callback, replayed.
		cb := b.callbackURL(t, b.beginSignIn(t, "returnTo=/a"))
		resp, _ = b.get(t, cb.RequestURI())
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/a" {
			t.Fatalf("first callback: %d %s", resp.StatusCode, resp.Header.Get("Location"))
		}
		cookie := b.sessionCookie()
		resp, body = b.get(t, cb.RequestURI())
		assertStatePage(t, resp, body)
		if b.sessionCookie() != cookie {
			t.Error("a replayed callback changed the session")
		}

		// A callback carried to another browser (an attacker's login CSRF):
		// refused, and the victim's attempt is left in place.
		victim := e.browser(t)
		cb = victim.callbackURL(t, victim.beginSignIn(t, "returnTo=/v"))
		attacker := e.browser(t)
		resp, body = attacker.get(t, cb.RequestURI())
		assertStatePage(t, resp, body)
		if attacker.sessionCookie() != "" {
			t.Error("the other browser got a session")
		}
		if resp, _ := victim.get(t, cb.RequestURI()); resp.StatusCode != http.StatusSeeOther {
			t.Errorf("victim's own callback then answered %d", resp.StatusCode)
		}
	})
}

func assertStatePage(t *testing.T, resp *http.Response, body []byte) {
	t.Helper()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("status %d, want 400: %s", resp.StatusCode, body)
	}
	if !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") || !strings.Contains(string(body), `href="/auth/sign-in"`) ||
		!strings.Contains(string(body), "invalid_state") {
		t.Errorf("not the try-again page: %s", body)
	}
	for _, c := range resp.Header.Values("Set-Cookie") {
		if strings.HasPrefix(c, "bff-session=") {
			t.Errorf("a failed callback set a session cookie: %s", c)
		}
	}
}

func TestCallbackIssuerMismatch(t *testing.T) {
	forEachStore(t, func(t *testing.T, store string) {
		e := newEnv(t, store, envOptions{})
		for _, iss := range []string{"https://evil.example/oidc", ""} {
			b := e.browser(t)
			cb := b.callbackURL(t, b.beginSignIn(t, ""))
			q := cb.Query()
			if iss == "" {
				q.Del("iss")
			} else {
				q.Set("iss", iss)
			}
			resp, body := b.get(t, "/auth/callback?"+q.Encode())
			if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "invalid_request") {
				t.Errorf("iss %q: %d %s", iss, resp.StatusCode, body)
			}
			if b.sessionCookie() != "" {
				t.Errorf("iss %q: a session was created", iss)
			}
			if st := e.idp.Stats(); st.AuthCodeGrants != 0 {
				t.Errorf("iss %q: the code was exchanged", iss)
			}
		}
	})
}

func TestCallbackProviderError(t *testing.T) {
	forEachStore(t, func(t *testing.T, store string) {
		e := newEnv(t, store, envOptions{})
		for _, tc := range []struct{ code, want string }{
			{"access_denied", "access_denied"},
			{"Login_Required<script>", "login_requiredscript"},
			{"%%%", "unknown_error"},
		} {
			b := e.browser(t)
			authURL, _ := url.Parse(b.beginSignIn(t, "returnTo=/x"))
			q := url.Values{
				"error": {tc.code}, "error_description": {"The user said no"},
				"state": {authURL.Query().Get("state")}, "iss": {e.issuer()},
			}
			resp, body := b.get(t, "/auth/callback?"+q.Encode())
			if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/?authError="+tc.want {
				t.Errorf("error %q: %d %q %s", tc.code, resp.StatusCode, resp.Header.Get("Location"), body)
			}
			if b.sessionCookie() != "" {
				t.Error("an error callback created a session")
			}
		}
	})
}

func TestSignInParameterValidation(t *testing.T) {
	e := newEnv(t, storeMemory, envOptions{})
	tests := []struct {
		query, accept string
		status        int
	}{
		{"firstScreen=register&directSignIn=social:discord&loginHint=a%40b.c&returnTo=/x", "", http.StatusFound},
		{"interactionMode=signUp", "", http.StatusFound},
		{"firstScreen=signup", "text/html", http.StatusBadRequest},
		{"firstScreen=signup", "application/json", http.StatusBadRequest},
		{"directSignIn=social:Discord", "application/json", http.StatusBadRequest},
		{"directSignIn=google", "application/json", http.StatusBadRequest},
		{"loginHint=%0A", "application/json", http.StatusBadRequest},
		{"prompt=none", "application/json", http.StatusBadRequest},
		{"interactionMode=x", "application/json", http.StatusBadRequest},
		{"returnTo=/a&returnTo=/b", "application/json", http.StatusBadRequest},
		{"returnTo=%zz", "application/json", http.StatusBadRequest},
	}
	for _, tc := range tests {
		b := e.uncheckedBrowser(t)
		resp, body := b.get(t, "/auth/sign-in?"+tc.query, "Accept", tc.accept)
		if resp.StatusCode != tc.status {
			t.Errorf("%s: %d, want %d: %s", tc.query, resp.StatusCode, tc.status, body)
			continue
		}
		switch {
		case tc.status == http.StatusFound:
			loc, _ := url.Parse(resp.Header.Get("Location"))
			q := loc.Query()
			if !strings.HasPrefix(loc.String(), e.issuer()+"/auth?") || q.Get("code_challenge_method") != "S256" ||
				q.Get("prompt") != "consent" || q.Get("resource") == "" || q.Get("state") == "" || q.Get("nonce") == "" {
				t.Errorf("%s: redirect %s", tc.query, loc.Redacted())
			}
			if tc.query == "interactionMode=signUp" && q.Get("first_screen") != "register" {
				t.Errorf("interactionMode=signUp sent first_screen=%q", q.Get("first_screen"))
			}
		case tc.accept == "application/json":
			if errorCode(t, body) != "invalid_request" {
				t.Errorf("%s: %s", tc.query, body)
			}
		default:
			if !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") || !strings.Contains(string(body), "firstScreen must be one of") {
				t.Errorf("%s: not an explanatory page: %s", tc.query, body)
			}
		}
	}
	// The documented parameters pass the contract check too.
	b := e.browser(t)
	if resp, body := b.get(t, "/auth/sign-in?firstScreen=identifier:register&returnTo=/x"); resp.StatusCode != http.StatusFound {
		t.Errorf("documented parameters: %d %s", resp.StatusCode, body)
	}
}

func TestExpiredState(t *testing.T) {
	forEachStore(t, func(t *testing.T, store string) {
		clk := &testClock{t: time.Now()}
		e := newEnv(t, store, envOptions{now: clk.Now})
		b := e.browser(t)
		cb := b.callbackURL(t, b.beginSignIn(t, ""))
		clk.Advance(signin.DefaultTTL + time.Second)
		resp, body := b.get(t, cb.RequestURI())
		assertStatePage(t, resp, body)
	})
}

// testClock is a settable clock.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *testClock) Advance(d time.Duration) { c.mu.Lock(); defer c.mu.Unlock(); c.t = c.t.Add(d) }
