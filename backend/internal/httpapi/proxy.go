package httpapi

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/logto-bff/bff/backend/internal/proxy"
	"github.com/logto-bff/bff/backend/internal/routes"
)

// The API proxy: ANY /api/proxy/{route}/{path...} (X-CSRF required) goes
// through package proxy to the route's upstream with a bearer token for the
// route's Logto resource (or organization), which proxyTokens takes from
// the session — refreshed under the session's lock when needed.

// proxyCall is the per-request state the proxy's hooks need; it rides in
// the request's context (and so in the outbound request's).
type proxyCall struct {
	c     *gin.Context
	route string // a configured route name, or "unknown"
}

type proxyCallKey struct{}

func callFrom(ctx context.Context) *proxyCall {
	call, _ := ctx.Value(proxyCallKey{}).(*proxyCall)
	return call
}

// newProxy builds the proxy for rs. Its transport records upstream
// latency and failures in the metrics.
func (s *server) newProxy(rs []routes.Route, base http.RoundTripper) (*proxy.Proxy, error) {
	s.routeNames = make(map[string]bool, len(rs))
	for _, r := range rs {
		s.routeNames[r.Name] = true
	}
	if base == nil {
		base = proxy.NewTransport(0, 0) // the proxy package's defaults
	}
	return proxy.New(rs, proxyTokens{s}, proxy.Options{
		Transport:    &upstreamMetrics{base: base, s: s},
		ErrorHandler: s.proxyError,
		Logger:       s.log,
	})
}

// proxyRequest handles ANY /api/proxy/*path.
func (s *server) proxyRequest(c *gin.Context) {
	name, _, _ := strings.Cut(strings.TrimPrefix(c.Param("path"), "/"), "/")
	if !s.routeNames[name] {
		name = "unknown"
	}
	// The upstream's answer carries its own policy headers (the proxy sets
	// a sandboxing CSP, nosniff and a Cache-Control); ours would duplicate
	// them. proxyError puts them back on the BFF's own errors.
	h := c.Writer.Header()
	h.Del("Content-Security-Policy")
	h.Del("Cache-Control")
	h.Del("X-Content-Type-Options")
	call := &proxyCall{c: c, route: name}
	s.proxy.ServeHTTP(c.Writer, c.Request.WithContext(context.WithValue(c.Request.Context(), proxyCallKey{}, call)))
}

// proxyError writes every proxy error (and TokenSource error) through the
// one error mapping.
func (s *server) proxyError(w http.ResponseWriter, r *http.Request, err error) {
	h := w.Header()
	h.Set("Content-Security-Policy", apiCSP)
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	if call := callFrom(r.Context()); call != nil {
		fail(call.c, err)
		return
	}
	e := errorFor(err)
	writeJSONError(w, e)
}

// proxyTokens is the proxy's TokenSource: the request's session (401
// without one), its token for the route's resource or organization.
type proxyTokens struct{ s *server }

var _ proxy.TokenSource = proxyTokens{}

// Token implements proxy.TokenSource.
func (t proxyTokens) Token(ctx context.Context, r *http.Request, route routes.Route) (string, error) {
	call := callFrom(r.Context())
	if call == nil {
		return "", errors.New("httpapi: proxy request without its call state")
	}
	sess, err := t.s.sessions.LoadForRead(call.c.Writer, r)
	if err != nil {
		t.s.storeError("load", err)
		return "", err
	}
	return t.s.refresher.ResourceToken(ctx, sess, route.Resource, route.Organization)
}

// upstreamMetrics records, per route, how long upstreams take to answer
// (response headers) and how often they cannot be reached.
type upstreamMetrics struct {
	base http.RoundTripper
	s    *server
}

func (u *upstreamMetrics) RoundTrip(r *http.Request) (*http.Response, error) {
	route := "unknown"
	if call := callFrom(r.Context()); call != nil {
		route = call.route
	}
	start := time.Now()
	resp, err := u.base.RoundTrip(r)
	if err != nil {
		if r.Context().Err() == nil { // not the browser going away
			u.s.metrics.ProxyUpstream(route, 0, time.Since(start))
		}
		return nil, err
	}
	u.s.metrics.ProxyUpstream(route, resp.StatusCode, time.Since(start))
	return resp, nil
}
