package kittest

import (
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
)

// Gate is an httptest server in front of a handler that is set after the
// server starts (a dev IdP's issuer holds the server's URL), which a test
// can take down: while Up is false, or before Serve, every request is
// answered 503 with the gate's message.
type Gate struct {
	// Server is the running server; it is closed at the test's cleanup.
	Server *httptest.Server
	// Up is whether requests reach the handler; NewGate sets it.
	Up      atomic.Bool
	handler atomic.Pointer[http.Handler]
}

// NewGate starts a Gate, up, whose 503 body is unavailable. before, if not
// nil, sees each request that would reach the handler first; it may delay
// it, or answer it itself and return false to stop it there.
func NewGate(t testing.TB, unavailable string, before func(w http.ResponseWriter, r *http.Request) bool) *Gate {
	t.Helper()
	g := &Gate{}
	g.Up.Store(true)
	g.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := g.handler.Load()
		if !g.Up.Load() || h == nil {
			http.Error(w, unavailable, http.StatusServiceUnavailable)
			return
		}
		if before != nil && !before(w, r) {
			return
		}
		(*h).ServeHTTP(w, r)
	}))
	t.Cleanup(g.Server.Close)
	return g
}

// Serve passes the requests that get through from now on to h.
func (g *Gate) Serve(h http.Handler) { g.handler.Store(&h) }
