package proxy

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/logto-bff/bff/backend/internal/routes"
)

func TestProxyForwardsRequest(t *testing.T) {
	orders := newUpstream(t, nil)
	billing := newUpstream(t, nil)
	var tokenSawCookie locked[string]
	tokens := tokenFunc(func(r *http.Request, route routes.Route) (string, error) {
		tokenSawCookie.Set(r.Header.Get("Cookie")) // the BFF finds the session by cookie
		return "tok-" + route.Name + "-" + route.Resource + route.Organization, nil
	})
	srv := newProxyServer(t, []routes.Route{
		{Name: "orders", Upstream: orders.url(t, "/v1"), Resource: "https://api.example.com"},
		{Name: "billing", Upstream: billing.url(t, ""), Organization: "org_acme"},
	}, tokens, Options{})

	body := `{"qty":2}`
	res := rawRoundTrip(t, srv, "POST /api/proxy/orders/items/42?b=2&a=1;x=%20 HTTP/1.1\r\n"+
		"Host: bff.test\r\n"+
		"Content-Type: application/json\r\n"+
		fmt.Sprintf("Content-Length: %d\r\n", len(body))+
		"Cookie: bff-session=opaque\r\n"+
		"X-CSRF: 1\r\n"+
		"Authorization: Bearer from-the-browser\r\n"+
		"Proxy-Authorization: Basic eDp5\r\n"+
		"Connection: keep-alive, X-Secret\r\n"+
		"X-Secret: hop\r\n"+
		"Keep-Alive: timeout=5\r\n"+
		"TE: trailers\r\n"+
		"Forwarded: for=6.6.6.6;host=evil.com\r\n"+
		"X-Forwarded-For: 6.6.6.6\r\n"+
		"X-Forwarded-Host: evil.com\r\n"+
		"X-Forwarded-Proto: https\r\n"+
		"X-Forwarded-Prefix: /admin\r\n"+
		"X-Real-IP: 6.6.6.6\r\n"+
		"X-Original-URL: /admin\r\n"+
		"X-Request-Id: r-1\r\n"+
		"\r\n"+body)
	if res.Status != http.StatusOK {
		t.Fatalf("status %d, body %s", res.Status, res.Body)
	}
	got := orders.seen()
	if got.Method != http.MethodPost || got.RequestURI != "/v1/items/42?b=2&a=1;x=%20" || got.Body != body {
		t.Fatalf("upstream saw %s %s body %q", got.Method, got.RequestURI, got.Body)
	}
	if got.Host != orders.Listener.Addr().String() {
		t.Errorf("upstream Host %q, want %q", got.Host, orders.Listener.Addr().String())
	}
	if a := got.Header.Values("Authorization"); len(a) != 1 || a[0] != "Bearer tok-orders-https://api.example.com" {
		t.Errorf("upstream Authorization %q", a)
	}
	for _, h := range []string{"Cookie", "X-Csrf", "Proxy-Authorization", "X-Secret", "Keep-Alive", "Te",
		"Forwarded", "X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto", "X-Forwarded-Prefix",
		"X-Real-Ip", "X-Original-Url"} {
		if v, ok := got.Header[h]; ok {
			t.Errorf("upstream received %s: %q", h, v)
		}
	}
	for h, want := range map[string]string{"Content-Type": "application/json", "X-Request-Id": "r-1"} {
		if v := got.Header.Get(h); v != want {
			t.Errorf("upstream %s = %q, want %q", h, v, want)
		}
	}
	if c := tokenSawCookie.Get(); c != "bff-session=opaque" {
		t.Errorf("TokenSource saw Cookie %q, want the browser's", c)
	}

	// The second route gets its own token, at its own upstream.
	res = rawGet(t, srv, "/api/proxy/billing/invoices")
	if res.Status != http.StatusOK {
		t.Fatalf("billing status %d", res.Status)
	}
	if got := billing.seen(); got.RequestURI != "/invoices" || got.Header.Get("Authorization") != "Bearer tok-billing-org_acme" {
		t.Fatalf("billing upstream saw %s with %q", got.RequestURI, got.Header.Get("Authorization"))
	}
	if orders.hits.Load() != 1 || billing.hits.Load() != 1 {
		t.Fatalf("hits orders=%d billing=%d, want 1 each", orders.hits.Load(), billing.hits.Load())
	}
}

func TestProxyStripsUpgrade(t *testing.T) {
	up := newUpstream(t, nil)
	srv := newProxyServer(t, []routes.Route{{Name: "svc", Upstream: up.url(t, "")}}, routeTokens, Options{})
	res := rawRoundTrip(t, srv, "GET /api/proxy/svc/ws HTTP/1.1\r\nHost: bff.test\r\n"+
		"Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\r\n")
	if res.Status != http.StatusOK {
		t.Fatalf("status %d", res.Status)
	}
	for _, h := range []string{"Upgrade", "Connection"} {
		if v, ok := up.seen().Header[h]; ok {
			t.Errorf("upstream received %s: %q", h, v)
		}
	}

	// An upstream switching protocols anyway is refused.
	switcher := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		conn, buf, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		defer conn.Close()
		_, _ = buf.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n")
		_ = buf.Flush()
	})
	srv = newProxyServer(t, []routes.Route{{Name: "svc", Upstream: switcher.url(t, "")}}, routeTokens, Options{})
	res = rawRoundTrip(t, srv, "GET /api/proxy/svc/ws HTTP/1.1\r\nHost: bff.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n")
	if res.Status != http.StatusBadGateway || errorCode(t, res.Header.Get("Content-Type"), res.Body) != "upstream_unavailable" {
		t.Fatalf("status %d body %s, want 502 upstream_unavailable", res.Status, res.Body)
	}
}

func TestProxyResponseHeaders(t *testing.T) {
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Type", "application/json")
		h.Set("X-Upstream", "yes")
		h.Add("Set-Cookie", "bff-session=evil; Path=/")
		h.Add("Set-Cookie", "other=1")
		h.Set("Clear-Site-Data", `"cookies"`)
		h.Set("Access-Control-Allow-Origin", "https://evil.example")
		h.Set("Access-Control-Allow-Credentials", "true")
		h.Set("Strict-Transport-Security", "max-age=0")
		h.Set("Service-Worker-Allowed", "/")
		h.Set("Alt-Svc", `h3=":443"`)
		h.Set("Connection", "X-Hop")
		h.Set("X-Hop", "secret")
		h.Set("Keep-Alive", "timeout=1")
		if r.URL.Query().Has("cache") {
			h.Set("Cache-Control", "private, max-age=60")
		}
		w.WriteHeader(http.StatusCreated)
		_, _ = io.WriteString(w, `{"id":1}`)
	})
	srv := newProxyServer(t, []routes.Route{{Name: "svc", Upstream: up.url(t, "/")}}, routeTokens, Options{})

	res := rawGet(t, srv, "/api/proxy/svc/things")
	if res.Status != http.StatusCreated || res.Body != `{"id":1}` || res.Header.Get("X-Upstream") != "yes" {
		t.Fatalf("status %d body %q X-Upstream %q", res.Status, res.Body, res.Header.Get("X-Upstream"))
	}
	for _, h := range []string{"Set-Cookie", "Clear-Site-Data", "Access-Control-Allow-Origin",
		"Access-Control-Allow-Credentials", "Strict-Transport-Security", "Service-Worker-Allowed", "Alt-Svc", "X-Hop"} {
		if v, ok := res.Header[h]; ok {
			t.Errorf("client received %s: %q", h, v)
		}
	}
	if v := res.Header.Get("Keep-Alive"); v == "timeout=1" {
		t.Errorf("client received the upstream's Keep-Alive")
	}
	for h, want := range map[string]string{
		"X-Content-Type-Options":  "nosniff",
		"Content-Security-Policy": "sandbox; default-src 'none'; frame-ancestors 'none'",
		"Cache-Control":           "no-store",
	} {
		if v := res.Header.Get(h); v != want {
			t.Errorf("client %s = %q, want %q", h, v, want)
		}
	}
	if res = rawGet(t, srv, "/api/proxy/svc/things?cache"); res.Header.Get("Cache-Control") != "private, max-age=60" {
		t.Errorf("upstream Cache-Control not kept: %q", res.Header.Get("Cache-Control"))
	}
}

func TestProxyMethodsQueryBody(t *testing.T) {
	up := newUpstream(t, nil)
	srv := newProxyServer(t, []routes.Route{{Name: "svc", Upstream: up.url(t, "/base")}}, routeTokens, Options{})
	client := srv.Client()
	for _, method := range []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "PROPFIND"} {
		t.Run(method, func(t *testing.T) {
			body := ""
			if method != "GET" && method != "HEAD" {
				body = "payload for " + method
			}
			req, err := http.NewRequestWithContext(t.Context(), method, srv.URL+"/api/proxy/svc/a/b?x=1&y=%2F&z", strings.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			res, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if res.StatusCode != http.StatusOK {
				t.Fatalf("status %d", res.StatusCode)
			}
			got := up.seen()
			if got.Method != method || got.RequestURI != "/base/a/b?x=1&y=%2F&z" || got.Body != body {
				t.Fatalf("upstream saw %s %s %q", got.Method, got.RequestURI, got.Body)
			}
		})
	}
	for _, method := range []string{"TRACE", "TRACK", "trace"} {
		t.Run(method+" refused", func(t *testing.T) {
			before := up.hits.Load()
			res := rawRoundTrip(t, srv, method+" /api/proxy/svc/a HTTP/1.1\r\nHost: bff.test\r\nConnection: close\r\n\r\n")
			if res.Status != http.StatusMethodNotAllowed {
				t.Fatalf("status %d, want 405", res.Status)
			}
			if up.hits.Load() != before {
				t.Fatal("upstream was contacted")
			}
		})
	}
}

func TestProxyStreamsResponse(t *testing.T) {
	release := make(chan struct{})
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/x-ndjson")
		_, _ = io.WriteString(w, "data: first\n\n")
		_ = http.NewResponseController(w).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
			return
		}
		_, _ = io.WriteString(w, "data: second\n\n")
	})
	t.Cleanup(func() {
		select {
		case <-release:
		default:
			close(release)
		}
	})
	srv := newProxyServer(t, []routes.Route{{Name: "svc", Upstream: up.url(t, "")}}, routeTokens, Options{})
	res, err := srv.Client().Get(srv.URL + "/api/proxy/svc/events")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(res.Body)
		for sc.Scan() {
			if sc.Text() != "" {
				lines <- sc.Text()
			}
		}
		close(lines)
	}()
	select {
	case l := <-lines:
		if l != "data: first" {
			t.Fatalf("first line %q", l)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("first chunk did not arrive before the upstream finished: the proxy buffers")
	}
	close(release)
	if l := <-lines; l != "data: second" {
		t.Fatalf("second line %q", l)
	}
}

func TestProxyStreamsRequestBody(t *testing.T) {
	gotFirst := make(chan string, 1)
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		buf := make([]byte, 5)
		if _, err := io.ReadFull(r.Body, buf); err != nil {
			t.Error(err)
			return
		}
		gotFirst <- string(buf)
		rest, _ := io.ReadAll(r.Body)
		_, _ = w.Write(append(buf, rest...))
	})
	srv := newProxyServer(t, []routes.Route{{Name: "svc", Upstream: up.url(t, "")}}, routeTokens, Options{})
	pr, pw := io.Pipe()
	type result struct {
		body string
		err  error
	}
	done := make(chan result, 1)
	go func() {
		res, err := srv.Client().Post(srv.URL+"/api/proxy/svc/upload", "application/octet-stream", pr)
		if err != nil {
			done <- result{err: err}
			return
		}
		defer res.Body.Close()
		b, err := io.ReadAll(res.Body)
		done <- result{string(b), err}
	}()
	if _, err := io.WriteString(pw, "part1"); err != nil {
		t.Fatal(err)
	}
	select {
	case s := <-gotFirst:
		if s != "part1" {
			t.Fatalf("upstream read %q", s)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("upstream did not see the first part before the body ended: the proxy buffers")
	}
	_, _ = io.WriteString(pw, "-part2")
	_ = pw.Close()
	if r := <-done; r.err != nil || r.body != "part1-part2" {
		t.Fatalf("response %q, err %v", r.body, r.err)
	}
}

func TestProxyRedirectNotFollowed(t *testing.T) {
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://127.0.0.1:1/elsewhere", http.StatusFound)
	})
	srv := newProxyServer(t, []routes.Route{{Name: "svc", Upstream: up.url(t, "")}}, routeTokens, Options{})
	res := rawGet(t, srv, "/api/proxy/svc/moved")
	if res.Status != http.StatusFound || res.Header.Get("Location") != "http://127.0.0.1:1/elsewhere" {
		t.Fatalf("status %d Location %q", res.Status, res.Header.Get("Location"))
	}
	if up.hits.Load() != 1 {
		t.Fatalf("upstream hits %d", up.hits.Load())
	}
}
