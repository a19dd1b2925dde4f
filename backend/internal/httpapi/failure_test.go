package httpapi

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
)

func readyz(t *testing.T, b *browser) (int, map[string]any) {
	t.Helper()
	resp, body := b.get(t, "/readyz")
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("/readyz: %q", body)
	}
	return resp.StatusCode, m
}

func TestHealthAndReadiness(t *testing.T) {
	forEachStore(t, func(t *testing.T, store string) {
		e := newEnv(t, store, envOptions{})
		b := e.browser(t)
		resp, body := b.get(t, "/healthz")
		if resp.StatusCode != http.StatusOK || string(body) != `{"status":"ok"}` {
			t.Errorf("/healthz = %d %s", resp.StatusCode, body)
		}
		if code, m := readyz(t, b); code != http.StatusOK || m["status"] != "ready" {
			t.Errorf("/readyz = %d %v", code, m)
		}
	})
}

func TestRedisOutageAndRecovery(t *testing.T) {
	e := newEnv(t, storeRedis, envOptions{})
	b := e.browser(t)
	b.signIn(t, "", "alice")
	if code, _ := b.api(t, "/api/me"); code != http.StatusOK {
		t.Fatalf("/api/me = %d", code)
	}

	e.redis.Stop()
	code, m := b.api(t, "/api/me")
	if code != http.StatusServiceUnavailable || m["error"] != "store_unavailable" {
		t.Errorf("/api/me during outage = %d %v", code, m)
	}
	if code, m := readyz(t, b); code != http.StatusServiceUnavailable || m["checks"].(map[string]any)["store"] != "unavailable" || m["checks"].(map[string]any)["idp"] != "ok" {
		t.Errorf("/readyz during outage = %d %v", code, m)
	}
	// Beginning a sign-in needs no store (the attempt is sealed into the
	// state); its callback needs one (the single-use mark): 503, nothing
	// consumed, so the same callback succeeds once the store is back.
	cb := b.callbackURL(t, b.beginSignIn(t, "returnTo=/during"))
	if resp, body := b.get(t, cb.RequestURI()); resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(body), "store_unavailable") {
		t.Errorf("callback during outage = %d %s", resp.StatusCode, body)
	}
	if b.sessionCookie() == "" {
		t.Fatal("the outage cost the browser its cookie")
	}

	e.redis.Start()
	deadline := time.Now().Add(10 * time.Second)
	for {
		code, m = b.api(t, "/api/me")
		if code == http.StatusOK || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if code != http.StatusOK || m["user"].(map[string]any)["name"] != "Alice Example" {
		t.Fatalf("/api/me after recovery = %d %v", code, m)
	}
	if resp, _ := b.get(t, cb.RequestURI()); resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/during" {
		t.Errorf("the callback retried after recovery = %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	if code, _ := readyz(t, b); code != http.StatusOK {
		t.Errorf("/readyz after recovery = %d", code)
	}
}

func TestIdPNotUpAtStart(t *testing.T) {
	forEachStore(t, func(t *testing.T, store string) {
		e := newEnv(t, store, envOptions{idpDown: true})
		b := e.browser(t)
		resp, body := b.get(t, "/auth/sign-in")
		if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(body), "identity provider is unavailable") ||
			!strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
			t.Errorf("sign-in before discovery = %d %s", resp.StatusCode, body)
		}
		resp, body = b.get(t, "/auth/sign-in", "Accept", "application/json")
		if resp.StatusCode != http.StatusServiceUnavailable || errorCode(t, body) != "idp_unavailable" {
			t.Errorf("sign-in before discovery (JSON) = %d %s", resp.StatusCode, body)
		}
		if code, m := readyz(t, b); code != http.StatusServiceUnavailable || m["checks"].(map[string]any)["idp"] != "unavailable" {
			t.Errorf("/readyz before discovery = %d %v", code, m)
		}
		// Sign-out still works locally and goes home.
		if resp, _ := b.postSignOut(t, "Origin", e.bff.URL); resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/" {
			t.Errorf("sign-out before discovery = %d %s", resp.StatusCode, resp.Header.Get("Location"))
		}

		e.idpUp.Store(true) // Logto comes up: background discovery retries
		e.waitDiscovered()
		if code, _ := readyz(t, b); code != http.StatusOK {
			t.Errorf("/readyz after discovery = %d", code)
		}
		b.signIn(t, "", "alice")
		if code, _ := b.api(t, "/api/me"); code != http.StatusOK {
			t.Errorf("/api/me = %d", code)
		}
	})
}

func TestIdPDownAtCallback(t *testing.T) {
	e := newEnv(t, storeMemory, envOptions{})
	b := e.browser(t)
	cb := b.callbackURL(t, b.beginSignIn(t, ""))
	e.idpUp.Store(false)
	resp, body := b.get(t, cb.RequestURI())
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(body), "idp_unavailable") {
		t.Errorf("callback with the IdP down = %d %s", resp.StatusCode, body)
	}
	if b.sessionCookie() != "" {
		t.Error("a session was created")
	}
}

// Discovery is cached, but a sign-in must not send the browser to a Logto
// that does not answer: it gets our 503 page, and sign-in works again once
// Logto is back.
func TestIdPDownAtSignInAfterDiscovery(t *testing.T) {
	e := newEnv(t, storeMemory, envOptions{})
	b := e.browser(t)
	e.idpUp.Store(false)
	time.Sleep(1100 * time.Millisecond) // discovery's success is no longer news
	resp, body := b.get(t, "/auth/sign-in")
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(body), "identity provider is unavailable") {
		t.Errorf("sign-in with the IdP down after discovery = %d %s", resp.StatusCode, body)
	}
	if resp.Header.Get("Location") != "" {
		t.Error("redirected to an IdP that is down")
	}
	e.idpUp.Store(true)
	deadline := time.Now().Add(5 * time.Second)
	for {
		resp, _ = b.get(t, "/auth/sign-in")
		if resp.StatusCode == http.StatusFound || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("sign-in after the IdP came back = %d", resp.StatusCode)
	}
}

func TestIdPDownAtSignOut(t *testing.T) {
	forEachStore(t, func(t *testing.T, store string) {
		e := newEnv(t, store, envOptions{})
		b := e.browser(t)
		b.signIn(t, "", "alice")
		cookie := b.sessionCookie()
		e.idpSrv.CloseClientConnections()
		e.idpSrv.Close()
		resp, body := b.postSignOut(t, "Origin", e.bff.URL)
		if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), e.issuer()+"/session/end?") {
			t.Errorf("sign-out with the IdP down = %d %s %s", resp.StatusCode, resp.Header.Get("Location"), body)
		}
		if b.sessionCookie() != "" {
			t.Error("cookie kept")
		}
		if _, err := e.storedSession(t, cookie); err == nil {
			t.Error("server-side session kept")
		}
		if code, _ := b.api(t, "/api/me"); code != http.StatusUnauthorized {
			t.Errorf("/api/me after sign-out = %d", code)
		}
		if !strings.Contains(e.logs.String(), "refresh token revocation failed") {
			t.Error("the failed revocation was not logged")
		}
	})
}

func TestMalformedCookieIsSignedOut(t *testing.T) {
	forEachStore(t, func(t *testing.T, store string) {
		e := newEnv(t, store, envOptions{})
		signedIn := e.browser(t)
		signedIn.signIn(t, "", "alice")
		real := signedIn.sessionCookie()
		tampered := []byte(real)
		tampered[len(tampered)/2] ^= 1
		for _, v := range []string{
			"", "garbage", "%%%", strings.Repeat("A", 3000), real + "x", string(tampered),
			base64.RawURLEncoding.EncodeToString([]byte("1700000000|c2Vzc2lvbi1pZA|AAAA")),
			real[:len(real)/2],
		} {
			b := e.uncheckedBrowser(t)
			b.setCookie("bff-session", v)
			resp, body := b.get(t, "/api/me", "X-CSRF", "1")
			if resp.StatusCode != http.StatusUnauthorized || errorCode(t, body) != "unauthorized" {
				t.Errorf("cookie %.20q: %d %s", v, resp.StatusCode, body)
			}
			if resp, _ := b.get(t, "/"); resp.StatusCode != http.StatusOK {
				t.Errorf("cookie %.20q: landing page = %d", v, resp.StatusCode)
			}
		}
		if code, _ := signedIn.api(t, "/api/me"); code != http.StatusOK {
			t.Errorf("the real session broke: %d", code)
		}
	})
}
