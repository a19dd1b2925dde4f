package proxy

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/logto-bff/bff/backend/internal/routes"
)

// tokenFunc adapts a function to TokenSource (the BFF's real one needs
// sessions; the proxy only needs what it returns).
type tokenFunc func(r *http.Request, route routes.Route) (string, error)

func (f tokenFunc) Token(_ context.Context, r *http.Request, route routes.Route) (string, error) {
	return f(r, route)
}

// routeTokens issues "tok-<route>" tokens, so tests can see which route's
// token reached which upstream.
var routeTokens = tokenFunc(func(_ *http.Request, route routes.Route) (string, error) { return "tok-" + route.Name, nil })

// locked is a value written by a server goroutine and read by the test.
type locked[T any] struct {
	mu sync.Mutex
	v  T
}

func (l *locked[T]) Set(v T) { l.mu.Lock(); l.v = v; l.mu.Unlock() }

func (l *locked[T]) Get() T { l.mu.Lock(); defer l.mu.Unlock(); return l.v }

// seenRequest is what an upstream received.
type seenRequest struct {
	Method, RequestURI, Host string
	Header                   http.Header
	Body                     string
}

// upstream is a real HTTP server on loopback that counts its requests and,
// without a handler, records each one and answers 200 with a small JSON
// body.
type upstream struct {
	*httptest.Server
	hits atomic.Int64
	mu   sync.Mutex
	last seenRequest
}

func newUpstream(t testing.TB, h http.HandlerFunc) *upstream {
	t.Helper()
	u := &upstream{}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.hits.Add(1)
		if h != nil {
			h(w, r)
			return
		}
		body, _ := io.ReadAll(r.Body)
		u.mu.Lock()
		u.last = seenRequest{r.Method, r.RequestURI, r.Host, r.Header.Clone(), string(body)}
		u.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"ok":true}`)
	}))
	t.Cleanup(u.Close)
	return u
}

func (u *upstream) seen() seenRequest {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.last
}

func (u *upstream) url(t testing.TB, path string) *url.URL {
	t.Helper()
	return mustURL(t, u.URL+path)
}

// newProxyServer serves a Proxy built from routes on loopback.
func newProxyServer(t testing.TB, rs []routes.Route, tokens TokenSource, opts Options) *httptest.Server {
	t.Helper()
	p, err := New(rs, tokens, opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	srv := httptest.NewServer(p)
	t.Cleanup(srv.Close)
	return srv
}

// rawResponse is a response read off the wire by rawRoundTrip.
type rawResponse struct {
	Status int
	Header http.Header
	Body   string
}

// rawRoundTrip writes req byte for byte to the server (so nothing a Go
// client would normalize or refuse is lost) and reads one response.
func rawRoundTrip(t *testing.T, srv *httptest.Server, req string) rawResponse {
	t.Helper()
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(conn, req); err != nil {
		t.Fatal(err)
	}
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("reading response: %v", err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("reading body: %v", err)
	}
	return rawResponse{res.StatusCode, res.Header, string(body)}
}

// rawGet sends a minimal GET for target (a raw request-target).
func rawGet(t *testing.T, srv *httptest.Server, target string) rawResponse {
	t.Helper()
	return rawRoundTrip(t, srv, "GET "+target+" HTTP/1.1\r\nHost: bff.test\r\nConnection: close\r\n\r\n")
}

// errorCode decodes the BFF's JSON error shape and returns its code.
func errorCode(t *testing.T, contentType, body string) string {
	t.Helper()
	if !strings.HasPrefix(contentType, "application/json") {
		t.Fatalf("error content type %q, body %q", contentType, body)
	}
	var e struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	if err := json.Unmarshal([]byte(body), &e); err != nil || e.Error == "" || e.Description == "" {
		t.Fatalf("error body %q is not the JSON error shape (%v)", body, err)
	}
	return e.Error
}
