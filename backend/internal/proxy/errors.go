package proxy

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
)

// Errors passed (wrapped) to Options.ErrorHandler. Branch with errors.Is;
// the wrapping text is for logs only and never contains a token, a cookie
// or the query string. Errors from the TokenSource reach the ErrorHandler
// unchanged.
var (
	// ErrUnknownRoute: the path is not under Prefix or names no configured
	// route. Map to 404 not_found.
	ErrUnknownRoute = errors.New("proxy: unknown route")
	// ErrBadPath: the path below the route could leave the upstream's base
	// (see JoinPath). Map to 400 invalid_request.
	ErrBadPath = errors.New("proxy: invalid path")
	// ErrMethodNotAllowed: TRACE, TRACK and CONNECT are never forwarded
	// (TRACE would echo the bearer token back to the browser). Map to 405.
	ErrMethodNotAllowed = errors.New("proxy: method not allowed")
	// ErrBodyTooLarge: the request body exceeds Options.MaxBodyBytes. Map to
	// 413 payload_too_large.
	ErrBodyTooLarge = errors.New("proxy: request body too large")
	// ErrUpstream: the upstream could not be reached, timed out before
	// sending response headers, or answered unusably (e.g. a protocol
	// switch). It wraps the cause for the log line. Map to 502
	// upstream_unavailable; never show the cause to the client.
	ErrUpstream = errors.New("proxy: upstream unavailable")
)

// errorBody is the BFF's one JSON error shape.
type errorBody struct {
	Error       string `json:"error"`
	Description string `json:"error_description"`
}

// defaultErrorHandler maps the proxy's errors to the BFF's JSON error shape;
// anything else (a TokenSource error it cannot know) is a 500. It logs
// ErrUpstream causes and unexpected errors once.
func (p *Proxy) defaultErrorHandler(w http.ResponseWriter, r *http.Request, err error) {
	var (
		status = http.StatusInternalServerError
		body   = errorBody{"internal_error", "The request could not be proxied."}
	)
	switch {
	case errors.Is(err, ErrUnknownRoute):
		status, body = http.StatusNotFound, errorBody{"not_found", "No such API route."}
	case errors.Is(err, ErrBadPath):
		status, body = http.StatusBadRequest, errorBody{"invalid_request", "The API path is not allowed."}
	case errors.Is(err, ErrMethodNotAllowed):
		status, body = http.StatusMethodNotAllowed, errorBody{"invalid_request", "This method is not allowed through the API proxy."}
	case errors.Is(err, ErrBodyTooLarge):
		status, body = http.StatusRequestEntityTooLarge, errorBody{"payload_too_large", "The request body is too large."}
	case errors.Is(err, ErrUpstream):
		status, body = http.StatusBadGateway, errorBody{"upstream_unavailable", "The API is unavailable."}
		p.log.LogAttrs(r.Context(), slog.LevelWarn, "proxy upstream failed", slog.String("error", err.Error()))
	default:
		p.log.LogAttrs(r.Context(), slog.LevelError, "proxy request failed", slog.String("error", err.Error()))
	}
	writeError(w, status, body)
}

func writeError(w http.ResponseWriter, status int, body errorBody) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}
