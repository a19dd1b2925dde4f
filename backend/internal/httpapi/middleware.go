package httpapi

import (
	"errors"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
)

// routeKey is the gin context key holding the route label for the log
// when the request matched no gin route (SPA files, 404s).
const routeKey = "httpapi.route"

// recovery turns a panic into the JSON 500 (never gin's default, which
// prints the request, cookies included) and logs it with the stack.
func (s *server) recovery(c *gin.Context) {
	defer func() {
		rec := recover()
		if rec == nil {
			return
		}
		if err, ok := rec.(error); ok && errors.Is(err, http.ErrAbortHandler) {
			panic(rec) // the client went away: let net/http handle it
		}
		s.log.Error("panic serving request", "method", c.Request.Method, "route", routeLabel(c), "panic", rec, "stack", string(debug.Stack()))
		if c.Writer.Written() {
			c.Abort()
			return
		}
		e := errorFor(errors.New("panic"))
		c.AbortWithStatusJSON(e.Status, e)
	}()
	c.Next()
}

// observe records every request in the metrics by route pattern (fixed
// labels for unmatched requests) and method. It runs first and records in a
// defer, so a request aborted mid-stream (http.ErrAbortHandler) counts too.
func (s *server) observe(c *gin.Context) {
	if s.metrics == nil {
		c.Next()
		return
	}
	start := time.Now()
	defer func() {
		s.metrics.ObserveRequest(routeLabel(c), methodLabel(c.Request.Method), c.Writer.Status(), time.Since(start))
	}()
	c.Next()
}

// methodLabel keeps the method label a fixed set.
func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return m
	}
	return "OTHER"
}

// accessLog writes one line per request: method, route pattern, status,
// duration and size. Never the raw path or query (the callback's carries a
// code), never a header or cookie. The error, if any, is our own message.
// With Options.RequestLog the line goes there (the same JSON, cheaper);
// otherwise through the logger.
func (s *server) accessLog(c *gin.Context) {
	start := time.Now()
	c.Next()
	status := c.Writer.Status()
	level := slog.LevelInfo
	if status >= 500 {
		level = slog.LevelError
	}
	if s.reqLog != nil {
		if !s.reqLog.enabled(level) {
			return
		}
		now := time.Now()
		line := requestLine{level: level, method: c.Request.Method, route: routeLabel(c), status: status,
			duration: now.Sub(start), bytes: max(c.Writer.Size(), 0)}
		if len(c.Errors) > 0 {
			line.err = c.Errors.Last().Err.Error()
		}
		s.reqLog.write(now, line)
		return
	}
	attrs := []slog.Attr{
		slog.String("method", c.Request.Method),
		slog.String("route", routeLabel(c)),
		slog.Int("status", status),
		slog.Duration("duration", time.Since(start)),
		slog.Int("bytes", max(c.Writer.Size(), 0)),
	}
	if len(c.Errors) > 0 {
		attrs = append(attrs, slog.String("error", c.Errors.Last().Err.Error()))
	}
	s.log.LogAttrs(c.Request.Context(), level, "request", attrs...)
}

// routeLabel is the matched gin route pattern, or a fixed label.
func routeLabel(c *gin.Context) string {
	if p := c.FullPath(); p != "" {
		return p
	}
	if v, ok := c.Get(routeKey); ok {
		return v.(string)
	}
	return "unmatched"
}

// securityHeaders sets the headers every response carries. Routes that
// serve the SPA replace the Content-Security-Policy with the SPA's.
func (s *server) securityHeaders(c *gin.Context) {
	h := c.Writer.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	if strings.HasPrefix(c.Request.URL.Path, "/api/") {
		h.Set("Content-Security-Policy", apiCSP)
	} else {
		h.Set("Content-Security-Policy", s.pageCSP)
	}
	if s.hsts {
		h.Set("Strict-Transport-Security", "max-age=63072000")
	}
	if p := c.Request.URL.Path; strings.HasPrefix(p, "/auth/") || strings.HasPrefix(p, "/api/") || p == "/healthz" || p == "/readyz" {
		h.Set("Cache-Control", "no-store")
	}
	c.Next()
}

// apiCSP forbids everything: JSON responses are never rendered.
const apiCSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"

// bodyLimit refuses bodies larger than limit (413) and caps reads.
func bodyLimit(limit int64) gin.HandlerFunc {
	return func(c *gin.Context) {
		if c.Request.ContentLength > limit {
			fail(c, errTooLarge)
			return
		}
		if c.Request.Body != nil && c.Request.Body != http.NoBody {
			c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, limit)
		}
		c.Next()
	}
}

// requireCSRF refuses /api requests without X-CSRF: 1. A cross-site form,
// image or simple fetch cannot set a custom header, and a preflighted one
// is not allowed by CORS (the BFF sends no CORS headers).
func requireCSRF(c *gin.Context) {
	if c.GetHeader("X-CSRF") != "1" {
		fail(c, errCSRFRequired)
		return
	}
	c.Next()
}

// sameOrigin reports whether a state-changing browser request comes from
// the BFF's own origin: Origin must equal it; without Origin,
// Sec-Fetch-Site must be same-origin or none. Neither header: refused.
func (s *server) sameOrigin(r *http.Request) bool {
	// An opaque origin ("null") is what Chromium sends for a same-origin
	// form post from a page under Referrer-Policy: no-referrer — and also
	// what a sandboxed cross-site frame sends — so it proves nothing either
	// way: Sec-Fetch-Site decides, and without it the request is refused.
	if origin := r.Header.Get("Origin"); origin != "" && origin != "null" {
		return origin == s.publicOrigin
	}
	switch r.Header.Get("Sec-Fetch-Site") {
	case "same-origin", "none":
		return true
	}
	return false
}
