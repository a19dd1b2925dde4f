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

// Classify maps one of the proxy's errors to its HTTP status, error code and
// description (the BFF's JSON error shape); ok is false for any other error
// (e.g. a TokenSource's), which the caller maps itself. The BFF's error
// mapping and the default ErrorHandler both use it, so the two cannot drift.
func Classify(err error) (status int, code, description string, ok bool) {
	switch {
	case errors.Is(err, ErrUnknownRoute):
		return http.StatusNotFound, "not_found", "No such API route.", true
	case errors.Is(err, ErrBadPath):
		return http.StatusBadRequest, "invalid_request", "The API path is not allowed.", true
	case errors.Is(err, ErrMethodNotAllowed):
		return http.StatusMethodNotAllowed, "invalid_request", "This method is not allowed through the API proxy.", true
	case errors.Is(err, ErrBodyTooLarge):
		return http.StatusRequestEntityTooLarge, "payload_too_large", "The request body is too large.", true
	case errors.Is(err, ErrUpstream):
		return http.StatusBadGateway, "upstream_unavailable", "The upstream API could not be reached.", true
	}
	return 0, "", "", false
}

// defaultErrorHandler writes Classify's answer; anything else (a
// TokenSource error it cannot know) is a 500. It logs ErrUpstream causes
// and unexpected errors once.
func (p *Proxy) defaultErrorHandler(w http.ResponseWriter, r *http.Request, err error) {
	status, code, desc, ok := Classify(err)
	switch {
	case !ok:
		status, code, desc = http.StatusInternalServerError, "internal_error", "The request could not be proxied."
		p.log.LogAttrs(r.Context(), slog.LevelError, "proxy request failed", slog.String("error", err.Error()))
	case errors.Is(err, ErrUpstream):
		p.log.LogAttrs(r.Context(), slog.LevelWarn, "proxy upstream failed", slog.String("error", err.Error()))
	}
	writeError(w, status, errorBody{code, desc})
}

func writeError(w http.ResponseWriter, status int, body errorBody) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}
