package httpapi

import (
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/logto-bff/bff/backend/internal/redistest"
)

// signOut posts the sign-out form to node i as the SPA's page would.
func (b *cbrowser) signOut(t testing.TB, i int, accept string) (*http.Response, []byte) {
	t.Helper()
	return b.do(t, i, http.MethodPost, "/auth/sign-out", "Origin", b.cl.nodes[i].publicURL(), "Accept", accept)
}

// refreshWorks presents refreshToken to the IdP's token endpoint.
func (cl *cluster) refreshWorks(t testing.TB, refreshToken string) bool {
	t.Helper()
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refreshToken}}
	req, _ := http.NewRequest(http.MethodPost, cl.idpSrv.URL+"/oidc/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(clientID, clientSecret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// withCookie is a fresh browser holding only the session cookie value.
func (cl *cluster) withCookie(t testing.TB, value string) *cbrowser {
	t.Helper()
	b := cl.browser(t)
	jar, _ := cookiejar.New(nil)
	u, _ := url.Parse(cl.nodes[0].publicURL())
	jar.SetCookies(u, []*http.Cookie{{Name: "bff-session", Value: value, Path: "/"}})
	b.jar, b.client.Jar = jar, jar
	return b
}

// assertSignedOut checks that the session behind cookie is gone on every
// node and its refresh token no longer works at the IdP.
func (cl *cluster) assertSignedOut(t testing.TB, cookie, refreshToken string) {
	t.Helper()
	old := cl.withCookie(t, cookie)
	for i := range cl.nodes {
		if code, errCode := old.me(t, i); code != http.StatusUnauthorized {
			t.Errorf("the signed-out cookie on node %d: /api/me = %d %s, want 401", i, code, errCode)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for cl.refreshWorks(t, refreshToken) {
		if time.Now().After(deadline) {
			t.Error("the refresh token still works after sign-out")
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestSignOutAfterDroppedConnections: Redis closing every BFF connection
// (CLIENT KILL, as a fail-over or a proxy's idle timeout does) or
// restarting must not make sign-out lie: on the next sign-out the session
// is deleted — refused on every replica — and its refresh token revoked.
func TestSignOutAfterDroppedConnections(t *testing.T) {
	cl := newCluster(t, clusterOptions{nodes: 2, redisOpts: []redistest.Option{redistest.WithPersistence()}})
	for _, disrupt := range []struct {
		name string
		do   func()
	}{
		{"CLIENT KILL", func() {
			if n := cl.redis.KillClients(); n == 0 {
				t.Fatal("CLIENT KILL closed no connection: the test proves nothing")
			}
		}},
		{"restart", cl.redis.Restart},
	} {
		t.Run(disrupt.name, func(t *testing.T) {
			b := cl.browser(t)
			b.signIn(t, 0)
			// Both replicas hold pooled connections now.
			for i := range cl.nodes {
				if code, e := b.me(t, i); code != http.StatusOK {
					t.Fatalf("/api/me on node %d = %d %s", i, code, e)
				}
			}
			cookie := b.cookie()
			sess, err := cl.stored(t, 1, cookie)
			if err != nil {
				t.Fatal(err)
			}
			revoked := cl.idp.Stats().Revocations

			disrupt.do()
			resp, body := b.signOut(t, 0, "text/html")
			if resp.StatusCode != http.StatusSeeOther {
				t.Fatalf("sign-out after %s = %d %s", disrupt.name, resp.StatusCode, body)
			}
			if b.cookie() != "" {
				t.Error("sign-out did not delete the cookie")
			}
			if got := cl.idp.Stats().Revocations - revoked; got != 1 {
				t.Errorf("revocations = %d, want 1", got)
			}
			cl.assertSignedOut(t, cookie, sess.Tokens.RefreshToken)
		})
	}
}

// TestSignOutWhileStoreDown: with Redis stopped sign-out answers 503 and
// keeps the cookie (the session still exists); once Redis is back the same
// browser signs out for real.
func TestSignOutWhileStoreDown(t *testing.T) {
	cl := newCluster(t, clusterOptions{nodes: 2, redisOpts: []redistest.Option{redistest.WithPersistence()}})
	b := cl.browser(t)
	b.signIn(t, 0)
	cookie := b.cookie()
	sess, err := cl.stored(t, 1, cookie)
	if err != nil {
		t.Fatal(err)
	}
	revoked := cl.idp.Stats().Revocations

	cl.redis.Stop()
	resp, body := b.signOut(t, 0, "text/html")
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(body), "store_unavailable") ||
		!strings.Contains(string(body), `action="/auth/sign-out"`) || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("sign-out with Redis down = %d %s", resp.StatusCode, body)
	}
	if resp.Header.Get("Location") != "" {
		t.Error("a failed sign-out redirected")
	}
	for _, c := range resp.Cookies() {
		if c.Name == "bff-session" {
			t.Errorf("a failed sign-out touched the session cookie: %v", c)
		}
	}
	resp, body = b.signOut(t, 1, "application/json")
	if resp.StatusCode != http.StatusServiceUnavailable || errorCode(t, body) != "store_unavailable" {
		t.Fatalf("sign-out with Redis down (JSON) = %d %s", resp.StatusCode, body)
	}
	if b.cookie() != cookie {
		t.Fatal("the browser lost its cookie although the session still exists")
	}
	if got := cl.idp.Stats().Revocations - revoked; got != 0 {
		t.Errorf("a failed sign-out revoked %d tokens", got)
	}

	cl.redis.Start()
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, body = b.signOut(t, 1, "text/html")
		if resp.StatusCode != http.StatusServiceUnavailable || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-out once Redis is back = %d %s", resp.StatusCode, body)
	}
	if b.cookie() != "" {
		t.Error("sign-out did not delete the cookie")
	}
	if got := cl.idp.Stats().Revocations - revoked; got != 1 {
		t.Errorf("revocations = %d, want 1", got)
	}
	cl.assertSignedOut(t, cookie, sess.Tokens.RefreshToken)
}
