package proxy

import (
	"bytes"
	"crypto/tls"
	"errors"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/logto-bff/bff/backend/internal/routes"
)

func TestProxyRejectsPathEscapes(t *testing.T) {
	up := newUpstream(t, nil)
	srv := newProxyServer(t, []routes.Route{{Name: "svc", Upstream: up.url(t, "/base")}}, routeTokens, Options{})
	tests := []struct {
		target     string
		wantStatus int
		wantCode   string // "" when Go's server rejects the request line before the proxy sees it
	}{
		{"/api/proxy/svc/..", 400, "invalid_request"},
		{"/api/proxy/svc/../admin", 400, "invalid_request"},
		{"/api/proxy/svc/a/../../admin", 400, "invalid_request"},
		{"/api/proxy/svc/%2e%2e/admin", 400, "invalid_request"},
		{"/api/proxy/svc/%2E%2E", 400, "invalid_request"},
		{"/api/proxy/svc/.%2e/admin", 400, "invalid_request"},
		{"/api/proxy/svc/./x", 400, "invalid_request"},
		{"/api/proxy/svc/..;/admin", 400, "invalid_request"},
		{"/api/proxy/svc/a%2fb", 400, "invalid_request"},
		{"/api/proxy/svc/%2F%2Fevil.com", 400, "invalid_request"},
		{"/api/proxy/svc/a%5cb", 400, "invalid_request"},
		{"/api/proxy/svc/a%5C..%5Cadmin", 400, "invalid_request"},
		{`/api/proxy/svc/a\b`, 400, "invalid_request"},
		{`/api/proxy/svc/..\admin`, 400, "invalid_request"},
		{"/api/proxy/svc//evil.com", 400, "invalid_request"},
		{"/api/proxy/svc//evil.com/x", 400, "invalid_request"},
		{"/api/proxy/svc/a//b", 400, "invalid_request"},
		{"/api/proxy/svc/http://evil.com/x", 400, "invalid_request"},
		{"/api/proxy/svc/http:%2f%2fevil.com", 400, "invalid_request"},
		{"/api/proxy/svc//@evil.com", 400, "invalid_request"},
		{"/api/proxy/svc/%2e%2e/", 400, "invalid_request"},
		{"/api/proxy/svc/%252e%252e/admin", 400, "invalid_request"},
		{"/api/proxy/svc/%00", 400, "invalid_request"},
		{"/api/proxy/svc/a%0d%0aHost:%20evil.com", 400, "invalid_request"},
		{"/api/proxy/svc/%c0%ae%c0%ae/admin", 400, "invalid_request"},
		{"/api/proxy/svc/a\x00b", 400, ""},
		{"/api/proxy/svc/a\rb", 400, ""},
		{"/api/proxy/svc@evil.com/x", 404, "not_found"},
		{"/api/proxy/..%2fsvc/x", 404, "not_found"},
		{"/api/proxy/svc%2f..%2fother/x", 404, "not_found"},
	}
	for _, tt := range tests {
		t.Run(tt.target, func(t *testing.T) {
			before := up.hits.Load()
			res := rawGet(t, srv, tt.target)
			if res.Status != tt.wantStatus {
				t.Fatalf("status %d, want %d (body %q)", res.Status, tt.wantStatus, res.Body)
			}
			if tt.wantCode != "" {
				if code := errorCode(t, res.Header.Get("Content-Type"), res.Body); code != tt.wantCode {
					t.Fatalf("code %q, want %q", code, tt.wantCode)
				}
			}
			if up.hits.Load() != before {
				t.Fatal("the upstream was contacted")
			}
		})
	}
	// A request-target in absolute form names a host, but the route decides
	// where the request goes.
	t.Run("absolute-form request target", func(t *testing.T) {
		res := rawGet(t, srv, "http://evil.com/api/proxy/svc/x")
		if res.Status != http.StatusOK || up.seen().RequestURI != "/base/x" || up.seen().Host != up.Listener.Addr().String() {
			t.Fatalf("status %d, upstream saw %s at %s", res.Status, up.seen().RequestURI, up.seen().Host)
		}
	})
	// "@" inside a segment is an ordinary path character (Discord's
	// /users/@me); it cannot change the authority.
	t.Run("@ in a segment stays on the upstream", func(t *testing.T) {
		res := rawGet(t, srv, "/api/proxy/svc/@evil.com")
		if res.Status != http.StatusOK || up.seen().RequestURI != "/base/@evil.com" || up.seen().Host != up.Listener.Addr().String() {
			t.Fatalf("status %d, upstream saw %s at %s", res.Status, up.seen().RequestURI, up.seen().Host)
		}
	})
}

func TestProxyUnknownRoute(t *testing.T) {
	up := newUpstream(t, nil)
	srv := newProxyServer(t, []routes.Route{{Name: "svc", Upstream: up.url(t, "")}}, routeTokens, Options{})
	for _, target := range []string{"/api/proxy/nope/x", "/api/proxy/nope", "/api/proxy/", "/api/proxy/SVC/x", "/api/proxy/%73vc/x", "/api/other/svc/x"} {
		t.Run(target, func(t *testing.T) {
			res := rawGet(t, srv, target)
			if res.Status != http.StatusNotFound || errorCode(t, res.Header.Get("Content-Type"), res.Body) != "not_found" {
				t.Fatalf("status %d body %q, want 404 not_found", res.Status, res.Body)
			}
		})
	}
	if up.hits.Load() != 0 {
		t.Fatalf("upstream hits %d", up.hits.Load())
	}
	if res := rawGet(t, srv, "/api/proxy/svc"); res.Status != http.StatusOK || up.seen().RequestURI != "/" {
		t.Fatalf("route root: status %d, upstream saw %q", res.Status, up.seen().RequestURI)
	}
}

func TestProxyBodyTooLarge(t *testing.T) {
	up := newUpstream(t, nil)
	srv := newProxyServer(t, []routes.Route{{Name: "svc", Upstream: up.url(t, "")}}, routeTokens, Options{MaxBodyBytes: 1024})
	t.Run("declared length", func(t *testing.T) {
		res := rawRoundTrip(t, srv, "POST /api/proxy/svc/x HTTP/1.1\r\nHost: bff.test\r\nContent-Length: 1025\r\n\r\n"+strings.Repeat("a", 1025))
		if res.Status != http.StatusRequestEntityTooLarge || errorCode(t, res.Header.Get("Content-Type"), res.Body) != "payload_too_large" {
			t.Fatalf("status %d body %q", res.Status, res.Body)
		}
		if up.hits.Load() != 0 {
			t.Fatal("upstream was contacted for a body declared too large")
		}
	})
	t.Run("chunked", func(t *testing.T) {
		chunk := strings.Repeat("b", 600)
		res := rawRoundTrip(t, srv, "POST /api/proxy/svc/x HTTP/1.1\r\nHost: bff.test\r\nTransfer-Encoding: chunked\r\n\r\n"+
			"258\r\n"+chunk+"\r\n258\r\n"+chunk+"\r\n0\r\n\r\n")
		if res.Status != http.StatusRequestEntityTooLarge || errorCode(t, res.Header.Get("Content-Type"), res.Body) != "payload_too_large" {
			t.Fatalf("status %d body %q", res.Status, res.Body)
		}
	})
	t.Run("at the limit", func(t *testing.T) {
		res := rawRoundTrip(t, srv, "POST /api/proxy/svc/x HTTP/1.1\r\nHost: bff.test\r\nContent-Length: 1024\r\nConnection: close\r\n\r\n"+strings.Repeat("c", 1024))
		if res.Status != http.StatusOK || len(up.seen().Body) != 1024 {
			t.Fatalf("status %d, upstream got %d bytes", res.Status, len(up.seen().Body))
		}
	})
}

func TestProxyUpstreamDown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	rs := []routes.Route{{Name: "svc", Upstream: mustURL(t, "http://"+addr+"/v1")}}
	// Both proxies listen before the port is freed, so neither can be
	// given it and end up proxying to itself.
	var logs bytes.Buffer
	plain := newProxyServer(t, rs, routeTokens, Options{Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
	var handled locked[error]
	custom := newProxyServer(t, rs, routeTokens, Options{
		// A custom ErrorHandler gets ErrUpstream and the inbound request,
		// not the outbound one carrying the bearer token.
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			handled.Set(err)
			if r.URL.Path != "/api/proxy/svc/x" || r.Header.Get("Authorization") != "" {
				t.Errorf("ErrorHandler got %s with Authorization %q", r.URL.Path, r.Header.Get("Authorization"))
			}
			w.WriteHeader(599)
		},
	})
	ln.Close() // nothing listens there now

	res := rawGet(t, plain, "/api/proxy/svc/x?code=secret-query")
	if res.Status != http.StatusBadGateway || errorCode(t, res.Header.Get("Content-Type"), res.Body) != "upstream_unavailable" {
		t.Fatalf("status %d body %q, want 502 upstream_unavailable", res.Status, res.Body)
	}
	if strings.Contains(res.Body, addr) || strings.Contains(res.Body, "refused") {
		t.Fatalf("body %q leaks the cause", res.Body)
	}
	if l := logs.String(); strings.Count(l, "proxy upstream failed") != 1 || !strings.Contains(l, "refused") ||
		strings.Contains(l, "tok-svc") || strings.Contains(l, "secret-query") {
		t.Fatalf("want one log line with the cause and no token or query, got %s", l)
	}
	if res := rawGet(t, custom, "/api/proxy/svc/x"); res.Status != 599 || !errors.Is(handled.Get(), ErrUpstream) {
		t.Fatalf("status %d, handled %v", res.Status, handled.Get())
	}
}

func TestProxySlowUpstream(t *testing.T) {
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow-body" {
			w.WriteHeader(http.StatusOK)
			_ = http.NewResponseController(w).Flush()
			time.Sleep(600 * time.Millisecond) // longer than Timeout, after the headers
			_, _ = io.WriteString(w, "late but fine")
			return
		}
		select { // never answers in time
		case <-release:
		case <-r.Context().Done():
		}
	})
	srv := newProxyServer(t, []routes.Route{{Name: "svc", Upstream: up.url(t, "")}}, routeTokens, Options{Timeout: 300 * time.Millisecond})
	start := time.Now()
	res := rawGet(t, srv, "/api/proxy/svc/slow")
	if res.Status != http.StatusBadGateway || errorCode(t, res.Header.Get("Content-Type"), res.Body) != "upstream_unavailable" {
		t.Fatalf("status %d body %q, want 502", res.Status, res.Body)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("took %s despite a 300ms timeout", d)
	}
	// The timeout bounds the wait for headers, not a streamed body.
	if res := rawGet(t, srv, "/api/proxy/svc/slow-body"); res.Status != http.StatusOK || res.Body != "late but fine" {
		t.Fatalf("slow body: status %d body %q", res.Status, res.Body)
	}
}

var errNoSession = errors.New("no session")

func TestProxyTokenSourceErrors(t *testing.T) {
	up := newUpstream(t, nil)
	rs := []routes.Route{{Name: "svc", Upstream: up.url(t, "")}}
	failing := tokenFunc(func(*http.Request, routes.Route) (string, error) { return "", errNoSession })

	var handled locked[error]
	srv := newProxyServer(t, rs, failing, Options{ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
		handled.Set(err)
		w.WriteHeader(http.StatusUnauthorized)
	}})
	if res := rawGet(t, srv, "/api/proxy/svc/x"); res.Status != http.StatusUnauthorized || !errors.Is(handled.Get(), errNoSession) {
		t.Fatalf("status %d, ErrorHandler got %v", res.Status, handled.Get())
	}

	srv = newProxyServer(t, rs, failing, Options{})
	if res := rawGet(t, srv, "/api/proxy/svc/x"); res.Status != http.StatusInternalServerError ||
		errorCode(t, res.Header.Get("Content-Type"), res.Body) != "internal_error" || strings.Contains(res.Body, "no session") {
		t.Fatalf("default handler: status %d body %q", res.Status, res.Body)
	}

	for _, bad := range []string{"", "a b", "tok\r\nX-Evil: 1", "tok\x00"} {
		srv = newProxyServer(t, rs, tokenFunc(func(*http.Request, routes.Route) (string, error) { return bad, nil }), Options{})
		if res := rawGet(t, srv, "/api/proxy/svc/x"); res.Status != http.StatusInternalServerError {
			t.Fatalf("token %q: status %d", bad, res.Status)
		}
	}
	// Path checks come before the token: junk never triggers a refresh.
	var calls atomic.Int64
	srv = newProxyServer(t, rs, tokenFunc(func(*http.Request, routes.Route) (string, error) { calls.Add(1); return "t", nil }), Options{})
	rawGet(t, srv, "/api/proxy/svc/%2e%2e/x")
	rawGet(t, srv, "/api/proxy/nope/x")
	if n := calls.Load(); n != 0 {
		t.Fatalf("TokenSource called %d times for rejected requests", n)
	}
	if up.hits.Load() != 0 {
		t.Fatalf("upstream hits %d", up.hits.Load())
	}
}

func TestProxyTLSUpstream(t *testing.T) {
	up := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, r.Header.Get("Authorization"))
	}))
	up.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake below is expected
	up.StartTLS()
	t.Cleanup(up.Close)
	srv := newProxyServer(t, []routes.Route{{Name: "svc", Upstream: mustURL(t, up.URL)}}, routeTokens, Options{Transport: up.Client().Transport})
	if res := rawGet(t, srv, "/api/proxy/svc/x"); res.Status != http.StatusOK || res.Body != "Bearer tok-svc" {
		t.Fatalf("status %d body %q", res.Status, res.Body)
	}
	// The proxy's own transport does not trust the test CA: no silent
	// InsecureSkipVerify.
	srv = newProxyServer(t, []routes.Route{{Name: "svc", Upstream: mustURL(t, up.URL)}}, routeTokens, Options{})
	if res := rawGet(t, srv, "/api/proxy/svc/x"); res.Status != http.StatusBadGateway {
		t.Fatalf("untrusted certificate: status %d", res.Status)
	}
}

func TestNewTransport(t *testing.T) {
	t.Setenv("HTTPS_PROXY", "http://127.0.0.1:9")
	t.Setenv("HTTP_PROXY", "http://127.0.0.1:9")
	tr := NewTransport(0, 0)
	if tr.Proxy != nil {
		t.Error("transport uses a proxy from the environment")
	}
	if tr.MaxIdleConnsPerHost != 256 || tr.MaxIdleConns != 0 || tr.IdleConnTimeout == 0 {
		t.Errorf("pool: per host %d, total %d, idle timeout %s", tr.MaxIdleConnsPerHost, tr.MaxIdleConns, tr.IdleConnTimeout)
	}
	if tr.ResponseHeaderTimeout != 30*time.Second {
		t.Errorf("ResponseHeaderTimeout %s", tr.ResponseHeaderTimeout)
	}
	if tr.TLSClientConfig == nil || tr.TLSClientConfig.MinVersion != tls.VersionTLS12 || tr.TLSClientConfig.InsecureSkipVerify {
		t.Errorf("TLS config %+v", tr.TLSClientConfig)
	}
	if !tr.DisableCompression {
		t.Error("transport decompresses bodies")
	}
	if tr := NewTransport(5*time.Second, 8); tr.ResponseHeaderTimeout != 5*time.Second || tr.MaxIdleConnsPerHost != 8 {
		t.Errorf("options ignored: %s, %d", tr.ResponseHeaderTimeout, tr.MaxIdleConnsPerHost)
	}
}
