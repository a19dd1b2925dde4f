package main

import (
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
)

// upstreamBody is the upstream's answer: a fixed JSON body of ~200 bytes.
var upstreamBody = []byte(`{"id":"item-0001","name":"Benchmark item","description":"A fixed JSON body answered by the trivial upstream","tags":["bench","bff","proxy"],"price":1234,"currency":"EUR","updated_at":"2026-11-25T12:00:00Z"}`)

// upstream is the trivial API behind the BFF. /direct/... is the floor
// (called by wrk straight); /proxied/... is what the BFF's proxy route
// points at and requires a bearer token, so a proxy that forgot the token
// shows up as errors.
type upstream struct {
	direct, proxied, refused atomic.Int64
	conns                    atomic.Int64 // connections accepted
}

// connState counts new connections (http.Server.ConnState).
func (u *upstream) connState(_ net.Conn, st http.ConnState) {
	if st == http.StateNew {
		u.conns.Add(1)
	}
}

func newUpstream() *upstream { return &upstream{} }

func (u *upstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case strings.HasPrefix(r.URL.Path, "/direct/"):
		u.direct.Add(1)
	case strings.HasPrefix(r.URL.Path, "/proxied/"):
		if !strings.HasPrefix(r.Header.Get("Authorization"), "Bearer ") {
			u.refused.Add(1)
			http.Error(w, `{"error":"unauthorized"}`, http.StatusUnauthorized)
			return
		}
		u.proxied.Add(1)
	default:
		u.refused.Add(1)
		http.NotFound(w, r)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(upstreamBody)))
	_, _ = w.Write(upstreamBody)
}
