package reliability

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/logto-bff/bff/backend/internal/config"
	"github.com/logto-bff/bff/backend/internal/devidp"
)

// upstream records what reaches a test API server.
type upstream struct {
	srv  *httptest.Server
	mu   sync.Mutex
	seen []*http.Request
}

func startUpstream(t *testing.T) *upstream {
	u := &upstream{}
	u.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.mu.Lock()
		u.seen = append(u.seen, r.Clone(r.Context()))
		u.mu.Unlock()
		w.Header().Set("Set-Cookie", "bff-session=planted; Path=/")
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"ok":true}`))
	}))
	t.Cleanup(u.srv.Close)
	return u
}

func (u *upstream) requests() []*http.Request {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]*http.Request(nil), u.seen...)
}

// jwtClaims decodes a JWT's payload without verifying it.
func jwtClaims(tok string) map[string]any {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return nil
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return nil
	}
	m := map[string]any{}
	if json.Unmarshal(b, &m) != nil {
		return nil
	}
	return m
}

func TestHostileProxyPathsAndHeaders(t *testing.T) {
	ctx := deadline(t, 60*time.Second)
	api, canary := startUpstream(t), startUpstream(t)
	c := newCluster(t, clusterOptions{replicas: 2, env: map[string]string{
		config.EnvAPIRoutes: "demo=" + api.srv.URL + "/base|" + devidp.DefaultResourceIndicator,
	}})
	u := c.alice()
	if _, err := u.signIn(ctx, "/"); err != nil {
		t.Fatal(err)
	}
	canaryHost := strings.TrimPrefix(canary.srv.URL, "http://")

	// An honest call works on both replicas.
	for i := range c.replicas {
		resp, body, err := u.do(pinned(ctx, i), http.MethodGet, "/api/proxy/demo/items/1?x=1", nil, "X-CSRF", "1")
		if err != nil || resp.StatusCode != http.StatusOK || !contains(body, `"ok":true`) {
			t.Fatalf("bff%d honest proxy call = %v %s", i, statusOf(resp), body)
		}
		for _, sc := range resp.Header.Values("Set-Cookie") {
			if strings.Contains(sc, "planted") {
				t.Errorf("bff%d passed the upstream's Set-Cookie to the browser", i)
			}
		}
	}
	if code, _, _ := u.me(ctx, 0); code != http.StatusOK {
		t.Errorf("session after the upstream tried to plant a cookie: %d", code)
	}

	// Paths that try to leave /base or reach another host.
	cookie := u.sessionCookie()
	escapes := []string{
		"/api/proxy/demo/../../secret", "/api/proxy/demo/%2e%2e/%2e%2e/secret", "/api/proxy/demo/..%2f..%2fsecret",
		"/api/proxy/demo/%2E%2E%5C%2E%2E%5Csecret", "/api/proxy/demo/..\\..\\secret", "/api/proxy/demo/a/%252e%252e/%252e%252e/secret",
		"/api/proxy/demo//" + canaryHost + "/x", "/api/proxy/demo/%2F%2F" + canaryHost + "/x", "/api/proxy/demo/@" + canaryHost + "/x",
		"/api/proxy/demo/http://" + canaryHost + "/x", "/api/proxy/demo\\..\\" + canaryHost, "/api/proxy/" + canaryHost + "/x",
		"/api/proxy/evil.example/x", "/api/proxy/..%2f..%2fauth/sign-in", "/api/proxy/demo%2f..%2f..%2fx", "/api/proxy/DEMO/x",
		"/api/proxy/demo/%00/x", "/api/proxy/demo/x%0d%0aHost:%20evil", "/api/proxy/demo/;/../secret",
	}
	for i, r := range c.replicas {
		for _, p := range escapes {
			code, _ := rawRequest(t, r, "GET "+p+" HTTP/1.1\r\nHost: "+publicHost+"\r\nCookie: "+sessionCookie+"="+cookie+"\r\nX-CSRF: 1\r\n\r\n")
			if code != http.StatusBadRequest && code != http.StatusNotFound && code != http.StatusOK {
				t.Errorf("bff%d %s = %d, want 400 or 404 (or 200 inside /base)", i, p, code)
			}
		}
	}
	if n := len(canary.requests()); n != 0 {
		t.Errorf("an unconfigured host received %d requests", n)
	}
	for _, r := range api.requests() {
		p := r.URL.EscapedPath()
		dec, _ := url.PathUnescape(p)
		if (p != "/base" && !strings.HasPrefix(p, "/base/")) || slices.Contains(strings.Split(dec, "/"), "..") ||
			strings.Contains(dec, "\\") || strings.Contains(dec[1:], "//") {
			t.Errorf("the upstream received %q: outside /base", p)
		}
	}

	// Hop-by-hop and smuggled headers never reach the upstream; the
	// browser's credentials are replaced by the BFF's token for the API.
	before := len(api.requests())
	req := "GET /api/proxy/demo/h HTTP/1.1\r\nHost: evil.example\r\nCookie: " + sessionCookie + "=" + cookie + "\r\nX-CSRF: 1\r\n" +
		"Connection: keep-alive, X-Secret, Authorization\r\nX-Secret: s3cret\r\nKeep-Alive: timeout=5\r\n" +
		"Proxy-Authorization: Basic Zm9vOmJhcg==\r\nProxy-Connection: keep-alive\r\nTe: trailers\r\nUpgrade: websocket\r\n" +
		"Authorization: Bearer attacker-token\r\nForwarded: host=evil.example\r\nX-Forwarded-Host: evil.example\r\n" +
		"X-Real-Ip: 10.0.0.1\r\nX-Original-Url: /admin\r\nX-Rewrite-Url: /admin\r\nTrailer: X-Late\r\n\r\n"
	if code, _ := rawRequest(t, c.replicas[1], req); code != http.StatusOK {
		t.Fatalf("proxy call with smuggled headers = %d", code)
	}
	got := api.requests()
	if len(got) != before+1 {
		t.Fatalf("upstream saw %d requests, want 1", len(got)-before)
	}
	r := got[len(got)-1]
	if r.Host != strings.TrimPrefix(api.srv.URL, "http://") {
		t.Errorf("upstream Host = %q", r.Host)
	}
	for _, h := range []string{"X-Secret", "Keep-Alive", "Proxy-Authorization", "Proxy-Connection", "Te", "Upgrade", "Cookie", "X-Csrf",
		"Forwarded", "X-Forwarded-Host", "X-Real-Ip", "X-Original-Url", "X-Rewrite-Url", "Trailer"} {
		if v := r.Header.Get(h); v != "" {
			t.Errorf("upstream received %s: %q", h, v)
		}
	}
	auth := r.Header.Get("Authorization")
	tok, ok := strings.CutPrefix(auth, "Bearer ")
	claims := jwtClaims(tok)
	if !ok || !slices.Contains(c.idp.provider.IssuedTokens(), tok) || claims == nil || claims["aud"] != devidp.DefaultResourceIndicator {
		t.Errorf("upstream Authorization is not the IdP's token for the API (aud %v)", claims["aud"])
	}
	// None of the hostile paths became a metric label.
	for i := range c.replicas {
		checkMetricLabels(t, c.replicas[i].name, scrapeMetrics(ctx, t, c, i), nil)
	}
}
