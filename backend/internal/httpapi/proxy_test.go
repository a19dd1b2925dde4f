package httpapi

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"

	"github.com/logto-bff/bff/backend/internal/devidp"
	"github.com/logto-bff/bff/backend/internal/refresh"
)

const orgAudience = "urn:logto:organization:" + devidp.DefaultOrganizationID

// upstream is a real API behind the proxy: it verifies the bearer JWT with
// the dev IdP's JWKS (go-oidc) for the audience its base path stands for,
// and reports what it saw.
type upstream struct {
	srv     *httptest.Server
	issuer  string
	now     func() time.Time
	release chan struct{} // the streaming endpoint waits for it

	mu   sync.Mutex
	seen []http.Header
	oidc *oidc.Provider // discovered once, like a real API (keeps verifying while the IdP is down)
}

// provider discovers the IdP once and keeps it (and its cached keys).
func (u *upstream) provider(ctx context.Context) (*oidc.Provider, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.oidc == nil {
		p, err := oidc.NewProvider(ctx, u.issuer)
		if err != nil {
			return nil, err
		}
		u.oidc = p
	}
	return u.oidc, nil
}

func newUpstream(t testing.TB) *upstream {
	t.Helper()
	u := &upstream{release: make(chan struct{})}
	u.srv = httptest.NewServer(http.HandlerFunc(u.serve))
	t.Cleanup(u.srv.Close)
	return u
}

func (u *upstream) serve(w http.ResponseWriter, r *http.Request) {
	u.mu.Lock()
	u.seen = append(u.seen, r.Header.Clone())
	u.mu.Unlock()
	aud := devidp.DefaultResourceIndicator
	if strings.HasPrefix(r.URL.Path, "/org/") {
		aud = orgAudience
	}
	raw, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		http.Error(w, "no bearer", http.StatusUnauthorized)
		return
	}
	ctx := context.Background()
	p, err := u.provider(ctx)
	if err != nil {
		http.Error(w, "discovery", http.StatusInternalServerError)
		return
	}
	tok, err := p.Verifier(&oidc.Config{ClientID: aud, Now: u.now, SupportedSigningAlgs: []string{oidc.ES384}}).Verify(ctx, raw)
	if err != nil {
		http.Error(w, "bad token: "+err.Error(), http.StatusUnauthorized)
		return
	}
	if strings.HasSuffix(r.URL.Path, "/stream") {
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, "data: first\n\n")
		w.(http.Flusher).Flush()
		<-u.release
		fmt.Fprint(w, "data: second\n\n")
		return
	}
	var claims map[string]any
	_ = tok.Claims(&claims)
	http.SetCookie(w, &http.Cookie{Name: "evil", Value: "1", Path: "/"})
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"aud": claims["aud"], "sub": claims["sub"], "path": r.URL.Path, "query": r.URL.RawQuery})
}

func (u *upstream) lastHeader() http.Header {
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.seen) == 0 {
		return nil
	}
	return u.seen[len(u.seen)-1]
}

// closedAddr is a loopback address nothing listens on.
func closedAddr(t testing.TB) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func newProxyCluster(t testing.TB, nodes int) (*cluster, *upstream) {
	t.Helper()
	return newProxyClusterWith(t, clusterOptions{nodes: nodes})
}

// newProxyClusterWith is newProxyCluster with o's other options.
func newProxyClusterWith(t testing.TB, o clusterOptions) (*cluster, *upstream) {
	t.Helper()
	up := newUpstream(t)
	o.routes = fmt.Sprintf("demo=%s/api|%s, acme=%s/org|org:%s, down=http://%s/|%s, elsewhere=%s/org|org:org_not_a_member",
		up.srv.URL, devidp.DefaultResourceIndicator, up.srv.URL, devidp.DefaultOrganizationID, closedAddr(t), devidp.DefaultResourceIndicator, up.srv.URL)
	cl := newCluster(t, o)
	up.issuer, up.now = cl.idpSrv.URL+"/oidc", cl.idpClock.Now
	return cl, up
}

func TestProxyForwardsWithResourceToken(t *testing.T) {
	cl, up := newProxyCluster(t, 2)
	b := cl.browser(t)
	b.signIn(t, 0)
	grants := cl.idp.Stats().RefreshGrants

	resp, body := b.do(t, 0, http.MethodGet, "/api/proxy/demo/hello?x=1&y=%2F",
		"Authorization", "Bearer from-the-browser", "X-Forwarded-For", "203.0.113.9", "Forwarded", "for=203.0.113.9")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("proxied GET = %d %s", resp.StatusCode, body)
	}
	var got map[string]any
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatalf("%s", body)
	}
	if got["aud"] != devidp.DefaultResourceIndicator || got["sub"] != devidp.AliceID || got["path"] != "/api/hello" || got["query"] != "x=1&y=%2F" {
		t.Errorf("upstream saw %v", got)
	}
	h := up.lastHeader()
	for _, k := range []string{"Cookie", "X-Csrf", "X-Forwarded-For", "Forwarded"} {
		if v := h.Get(k); v != "" {
			t.Errorf("upstream received %s: %q", k, v)
		}
	}
	if auth := h.Get("Authorization"); !strings.HasPrefix(auth, "Bearer ey") {
		t.Errorf("upstream Authorization = %q", auth)
	}
	if resp.Header.Get("Set-Cookie") != "" {
		t.Error("the upstream's Set-Cookie reached the browser")
	}
	if n := len(resp.Header.Values("Content-Security-Policy")); n != 1 {
		t.Errorf("%d Content-Security-Policy headers", n)
	}
	if d := cl.idp.Stats().RefreshGrants - grants; d != 1 {
		t.Errorf("first proxied call made %d grants, want 1 (the resource token)", d)
	}
	s, err := cl.stored(t, 1, b.cookie())
	if err != nil || s.Tokens.Resources[devidp.DefaultResourceIndicator].AccessToken == "" {
		t.Fatalf("resource token not cached in the session: %v", err)
	}
	assertNoTokenIn(t, cl, body)

	// Cached: the other instance uses it without a grant.
	if resp, body := b.do(t, 1, http.MethodGet, "/api/proxy/demo/hello"); resp.StatusCode != http.StatusOK {
		t.Fatalf("second call = %d %s", resp.StatusCode, body)
	}
	if d := cl.idp.Stats().RefreshGrants - grants; d != 1 {
		t.Errorf("cached token not reused: %d grants", d)
	}
	// Near expiry (within its effective margin, a twentieth of its
	// lifetime): a new resource token under the lock, transparently.
	cl.advance(clusterAccessTTL - clusterAccessTTL/refresh.MarginDivisor/2)
	if resp, body := b.do(t, 1, http.MethodPost, "/api/proxy/demo/items", "Content-Type", "application/json"); resp.StatusCode != http.StatusOK {
		t.Fatalf("after expiry = %d %s", resp.StatusCode, body)
	}
	if st := cl.idp.Stats(); st.RefreshGrants-grants != 2 || st.RefreshReuse != 0 {
		t.Errorf("stats = %+v", st)
	}

	// Organization route: an organization token.
	resp, body = b.do(t, 0, http.MethodGet, "/api/proxy/acme/members")
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), orgAudience) {
		t.Errorf("organization route = %d %s", resp.StatusCode, body)
	}
	if v := cl.metricValue(t, 0, `bff_proxy_upstream_duration_seconds_count{code="200",route="demo"}`); v != 1 {
		t.Errorf("upstream latency samples for demo on instance 0 = %v", v)
	}
	if v := cl.metricValue(t, 0, `bff_http_requests_total{code="200",method="GET",route="/api/proxy/*path"}`); v != 2 {
		t.Errorf("request metric = %v", v)
	}
}

// assertNoTokenIn fails if body holds any token the IdP issued.
func assertNoTokenIn(t *testing.T, cl *cluster, body []byte) {
	t.Helper()
	for _, tok := range cl.idp.IssuedTokens() {
		if strings.Contains(string(body), tok) {
			t.Fatal("a token reached the browser")
		}
	}
}

func TestProxyErrors(t *testing.T) {
	cl, _ := newProxyCluster(t, 1)
	anon := cl.browser(t)
	b := cl.browser(t)
	b.signIn(t, 0)
	tests := []struct {
		name     string
		br       *cbrowser
		method   string
		path     string
		header   []string
		status   int
		code     string
		checkTTL bool
	}{
		{"no session", anon, http.MethodGet, "/api/proxy/demo/hello", nil, http.StatusUnauthorized, "unauthorized", false},
		{"unknown route", b, http.MethodGet, "/api/proxy/nope/hello", nil, http.StatusNotFound, "not_found", false},
		{"unknown route without session", anon, http.MethodGet, "/api/proxy/nope/hello", nil, http.StatusNotFound, "not_found", false},
		{"upstream down", b, http.MethodGet, "/api/proxy/down/hello", nil, http.StatusBadGateway, "upstream_unavailable", false},
		{"no CSRF header", b, http.MethodGet, "/api/proxy/demo/hello", []string{"X-CSRF", ""}, http.StatusForbidden, "csrf_required", false},
		{"organization the user is not in", b, http.MethodGet, "/api/proxy/elsewhere/x", nil, http.StatusForbidden, "access_denied", false},
		{"escaping the base path", b, http.MethodGet, "/api/proxy/demo/..%2f..%2fadmin", nil, http.StatusBadRequest, "invalid_request", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := tt.br.do(t, 0, tt.method, tt.path, tt.header...)
			if resp.StatusCode != tt.status || errorCode(t, body) != tt.code {
				t.Errorf("%s %s = %d %s, want %d %s", tt.method, tt.path, resp.StatusCode, body, tt.status, tt.code)
			}
			if resp.Header.Get("Cache-Control") != "no-store" || resp.Header.Get("X-Content-Type-Options") != "nosniff" {
				t.Errorf("error response headers: %v", resp.Header)
			}
		})
	}
	// TRACE would echo the bearer token: never forwarded. (Undocumented
	// method, so sent without the contract check.)
	req, _ := http.NewRequest(http.MethodTrace, cl.nodes[0].publicURL()+"/api/proxy/demo/x", nil)
	req.Header.Set("X-CSRF", "1")
	for _, c := range b.jar.Cookies(req.URL) {
		req.AddCookie(c)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("TRACE = %d, want 405", resp.StatusCode)
	}
	// A refused organization token does not end the session.
	if code, errCode := b.me(t, 0); code != http.StatusOK {
		t.Errorf("/api/me after a refused organization token = %d %s", code, errCode)
	}
	if v := cl.metricValue(t, 0, `bff_proxy_upstream_errors_total{route="down"}`); v != 1 {
		t.Errorf("upstream error metric = %v", v)
	}
}

func TestProxyStreams(t *testing.T) {
	cl, up := newProxyCluster(t, 1)
	b := cl.browser(t)
	b.signIn(t, 0)
	// Read the stream without the contract transport (which buffers the
	// whole body): the first event must arrive while the upstream is still
	// writing.
	req, _ := http.NewRequest(http.MethodGet, cl.nodes[0].publicURL()+"/api/proxy/demo/stream", nil)
	req.Header.Set("X-CSRF", "1")
	for _, c := range b.jar.Cookies(req.URL) {
		req.AddCookie(c)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := http.DefaultClient.Do(req.WithContext(ctx))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("stream = %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	r := bufio.NewReader(resp.Body)
	line, err := r.ReadString('\n')
	if err != nil || line != "data: first\n" {
		t.Fatalf("first event = %q, %v", line, err)
	}
	close(up.release) // only now may the upstream finish
	rest := make([]byte, 64)
	n, _ := r.Read(rest)
	for n < len("\ndata: second\n\n") {
		m, err := r.Read(rest[n:])
		if err != nil {
			break
		}
		n += m
	}
	if !strings.Contains(string(rest[:n]), "data: second") {
		t.Errorf("rest of the stream = %q", rest[:n])
	}
}
