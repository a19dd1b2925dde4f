package httpapi

import (
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/logto-bff/bff/backend/internal/devidp"
)

// forEachStore runs a journey against the memory and the Redis store.
func forEachStore(t *testing.T, fn func(t *testing.T, store string)) {
	for _, store := range stores {
		t.Run(store, func(t *testing.T) { fn(t, store) })
	}
}

func TestSignInAndMe(t *testing.T) {
	forEachStore(t, func(t *testing.T, store string) {
		e := newEnv(t, store, envOptions{})
		b := e.browser(t)
		if code, m := b.api(t, "/api/me"); code != http.StatusUnauthorized || m["error"] != "unauthorized" {
			t.Fatalf("signed out /api/me = %d %v", code, m)
		}
		resp := b.signIn(t, "returnTo=/profile%3Ftab%3D2", "alice")
		if loc := resp.Header.Get("Location"); loc != "/profile?tab=2" {
			t.Errorf("callback redirected to %q", loc)
		}
		setCookie := strings.Join(resp.Header.Values("Set-Cookie"), "\n")
		for _, attr := range []string{"bff-session=", "HttpOnly", "SameSite=Strict", "Path=/"} {
			if !strings.Contains(setCookie, attr) {
				t.Errorf("session cookie lacks %q: %s", attr, setCookie)
			}
		}
		if strings.Contains(strings.ToLower(setCookie), "domain=") {
			t.Errorf("session cookie has a Domain: %s", setCookie)
		}

		meResp, body := b.get(t, "/api/me", "X-CSRF", "1")
		if meResp.StatusCode != http.StatusOK {
			t.Fatalf("/api/me = %d %s", meResp.StatusCode, body)
		}
		var me struct {
			User    map[string]any    `json:"user"`
			Session map[string]string `json:"session"`
		}
		if err := json.Unmarshal(body, &me); err != nil {
			t.Fatal(err)
		}
		u := me.User
		if u["sub"] != devidp.AliceID || u["name"] != "Alice Example" || u["username"] != "alice" || u["email_verified"] != true {
			t.Errorf("user = %v", u)
		}
		if !containsJSON(u["roles"], "admin") || !containsJSON(u["organizations"], devidp.DefaultOrganizationID) ||
			!containsJSON(u["organization_roles"], devidp.DefaultOrganizationID+":editor") {
			t.Errorf("roles/organizations = %v %v %v", u["roles"], u["organizations"], u["organization_roles"])
		}
		for _, k := range []string{"nonce", "at_hash", "aud", "iss", "exp", "iat", "sid"} {
			if _, ok := u[k]; ok {
				t.Errorf("user has protocol claim %s", k)
			}
		}
		authAt, err1 := time.Parse(time.RFC3339, me.Session["authenticatedAt"])
		expAt, err2 := time.Parse(time.RFC3339, me.Session["expiresAt"])
		if err1 != nil || err2 != nil || !expAt.After(authAt) {
			t.Errorf("session = %v", me.Session)
		}
		assertNoToken(t, e, body)
		for k, want := range map[string]string{
			"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY",
			"Referrer-Policy": "no-referrer", "Content-Type": "application/json; charset=utf-8",
		} {
			if got := meResp.Header.Get(k); got != want {
				t.Errorf("%s = %q, want %q", k, got, want)
			}
		}
		if csp := meResp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "frame-ancestors 'none'") {
			t.Errorf("CSP = %q", csp)
		}
		assertLogsClean(t, e)
	})
}

func TestDiscordUserIdentities(t *testing.T) {
	forEachStore(t, func(t *testing.T, store string) {
		e := newEnv(t, store, envOptions{})
		b := e.browser(t)
		b.signIn(t, "directSignIn=social:discord", "nelly")
		code, m := b.api(t, "/api/me")
		if code != http.StatusOK {
			t.Fatalf("/api/me = %d %v", code, m)
		}
		u := m["user"].(map[string]any)
		discord, _ := u["identities"].(map[string]any)["discord"].(map[string]any)
		details, _ := discord["details"].(map[string]any)
		raw, _ := details["rawData"].(map[string]any)
		if u["sub"] != devidp.NellyID || u["username"] != nil || discord["userId"] != devidp.DiscordUserID ||
			raw["global_name"] != "Nelly" || details["name"] != "nelly" {
			t.Errorf("user = %v", u)
		}
		if _, present := u["username"]; !present {
			t.Error("username must be present as null")
		}
	})
}

func TestTwoTabsSignInConcurrently(t *testing.T) {
	forEachStore(t, func(t *testing.T, store string) {
		e := newEnv(t, store, envOptions{})
		b := e.browser(t)
		tab1 := b.beginSignIn(t, "returnTo=/one")
		tab2 := b.beginSignIn(t, "returnTo=/two")
		var wg sync.WaitGroup
		results := make([]*http.Response, 2)
		for i, u := range []string{tab2, tab1} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				results[i] = b.authorize(t, u, "alice")
			}()
		}
		wg.Wait()
		got := map[string]bool{}
		for _, r := range results {
			if r.StatusCode != http.StatusSeeOther {
				t.Fatalf("a tab's callback answered %d", r.StatusCode)
			}
			got[r.Header.Get("Location")] = true
		}
		if !got["/one"] || !got["/two"] {
			t.Errorf("tabs landed on %v", got)
		}
		if code, _ := b.api(t, "/api/me"); code != http.StatusOK {
			t.Errorf("/api/me = %d", code)
		}
	})
}

func TestSessionIDChangesAtSignIn(t *testing.T) {
	forEachStore(t, func(t *testing.T, store string) {
		e := newEnv(t, store, envOptions{})
		b := e.browser(t)
		b.signIn(t, "", "alice")
		first := b.sessionCookie()
		if first == "" {
			t.Fatal("no session cookie")
		}
		b.signIn(t, "", "alice")
		second := b.sessionCookie()
		if second == "" || second == first {
			t.Fatalf("session cookie did not change at sign-in")
		}
		if _, err := e.storedSession(t, first); err == nil {
			t.Error("the previous session still exists after signing in again")
		}
		old := e.browser(t)
		old.setCookie("bff-session", first)
		if code, _ := old.api(t, "/api/me"); code != http.StatusUnauthorized {
			t.Errorf("old cookie: /api/me = %d, want 401", code)
		}
	})
}

func TestCSRFHeaderRequired(t *testing.T) {
	forEachStore(t, func(t *testing.T, store string) {
		e := newEnv(t, store, envOptions{})
		b := e.uncheckedBrowser(t) // /api/nope is undocumented on purpose
		b.signIn(t, "", "alice")
		for _, tc := range []struct {
			path   string
			header []string
			status int
			code   string
		}{
			{"/api/me", nil, http.StatusForbidden, "csrf_required"},
			{"/api/me", []string{"X-CSRF", "0"}, http.StatusForbidden, "csrf_required"},
			{"/api/me", []string{"X-CSRF", "true"}, http.StatusForbidden, "csrf_required"},
			{"/api/nope", nil, http.StatusForbidden, "csrf_required"},
			{"/api/nope", []string{"X-CSRF", "1"}, http.StatusNotFound, "not_found"},
		} {
			resp, body := e.uncheckedBrowser(t).get(t, tc.path, tc.header...)
			_ = resp
			// Signed in or not, the CSRF check comes first.
			resp2, body2 := b.get(t, tc.path, tc.header...)
			for _, r := range []struct {
				status int
				body   []byte
			}{{resp.StatusCode, body}, {resp2.StatusCode, body2}} {
				if r.status != tc.status || errorCode(t, r.body) != tc.code {
					t.Errorf("%s %v = %d %s, want %d %s", tc.path, tc.header, r.status, r.body, tc.status, tc.code)
				}
			}
		}
	})
}

func containsJSON(v any, want string) bool {
	arr, _ := v.([]any)
	for _, x := range arr {
		if x == want {
			return true
		}
	}
	return false
}

// assertNoToken fails if body contains any token the IdP ever issued.
func assertNoToken(t *testing.T, e *env, body []byte) {
	t.Helper()
	for _, tok := range e.idp.IssuedTokens() {
		if strings.Contains(string(body), tok) {
			t.Fatalf("a token leaked into a response body")
		}
	}
}

// assertLogsClean fails if the logs hold a token, or a callback query.
func assertLogsClean(t *testing.T, e *env) {
	t.Helper()
	logs := e.logs.String()
	for _, tok := range e.idp.IssuedTokens() {
		if strings.Contains(logs, tok) {
			t.Fatal("a token leaked into the logs")
		}
	}
	for _, bad := range []string{"code=", "state=", "bff-session=", testSecret, clientSecret} {
		if strings.Contains(logs, bad) {
			t.Fatalf("logs contain %q", bad)
		}
	}
	if !strings.Contains(logs, `"route":"/auth/callback"`) {
		t.Errorf("no access log line for the callback:\n%s", logs)
	}
}
