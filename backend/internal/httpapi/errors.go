package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/logto-bff/bff/backend/internal/authflow"
	"github.com/logto-bff/bff/backend/internal/proxy"
	"github.com/logto-bff/bff/backend/internal/refresh"
	"github.com/logto-bff/bff/backend/internal/session"
	"github.com/logto-bff/bff/backend/internal/signin"
)

// Errors raised by the HTTP layer itself. Everything a handler fails with
// goes through errorFor, the one place errors become HTTP statuses.
var (
	errCSRFRequired    = errors.New("missing X-CSRF: 1 header")
	errForbiddenOrigin = errors.New("cross-site request refused")
	errNotFound        = errors.New("no such route")
	errTooLarge        = errors.New("request body too large")
	errInvalidState    = errors.New("missing or unknown state")
	errBadQuery        = errors.New("malformed query string")
	errNoUser          = errors.New("session has no rendered user")
	// errSignOutIncomplete wraps the store failure that kept sign-out from
	// deleting the session: the browser is still signed in.
	errSignOutIncomplete = errors.New("sign-out incomplete")
)

// apiError is one response of the error shape
// {"error": code, "error_description": description}.
type apiError struct {
	Status      int    `json:"-"`
	Code        string `json:"error"`
	Description string `json:"error_description"`
	// retry is set on errors where starting again may help (HTML pages
	// offer a "try again" link).
	retry bool
	// retrySignOut is set when the browser is still signed in because
	// sign-out failed (HTML pages offer to sign out again).
	retrySignOut bool
}

// errorFor maps any error to the response it deserves. Descriptions are
// fixed sentences (or a ParamError's message, written by us): never
// err.Error().
func errorFor(err error) apiError {
	var pe *authflow.ParamError
	var mbe *http.MaxBytesError
	var refused *refresh.RefusedError
	if status, code, desc, ok := proxy.Classify(err); ok {
		return apiError{Status: status, Code: code, Description: desc}
	}
	switch {
	case errors.Is(err, refresh.ErrSessionEnded):
		return apiError{Status: http.StatusUnauthorized, Code: "session_expired", Description: "Your session has ended. Sign in again."}
	case errors.As(err, &refused):
		switch refused.Code {
		case "access_denied", "invalid_target", "insufficient_scope", "invalid_scope":
			return apiError{Status: http.StatusForbidden, Code: "access_denied", Description: "Your account may not use this API."}
		}
		return apiError{Status: http.StatusInternalServerError, Code: "internal_error", Description: "Something went wrong on our side."}
	case errors.Is(err, refresh.ErrBusy):
		return apiError{Status: http.StatusServiceUnavailable, Code: "idp_unavailable", Description: "The identity provider is unavailable. Try again shortly.", retry: true}
	case errors.Is(err, authflow.ErrInvalidLogoutToken), errors.Is(err, errNoLogoutToken), errors.Is(err, errBadLogoutRequest):
		return apiError{Status: http.StatusBadRequest, Code: "invalid_request", Description: "The logout token is invalid."}
	case errors.Is(err, errLogoutReplayed):
		return apiError{Status: http.StatusBadRequest, Code: "invalid_request", Description: "The logout token was already used."}
	case errors.Is(err, errCSRFRequired):
		return apiError{Status: http.StatusForbidden, Code: "csrf_required", Description: "Requests to /api must carry the header X-CSRF: 1."}
	case errors.Is(err, errForbiddenOrigin):
		return apiError{Status: http.StatusForbidden, Code: "forbidden_origin", Description: "Cross-site requests are not allowed."}
	case errors.Is(err, errNotFound):
		return apiError{Status: http.StatusNotFound, Code: "not_found", Description: "No such route."}
	case errors.Is(err, errTooLarge), errors.As(err, &mbe):
		return apiError{Status: http.StatusRequestEntityTooLarge, Code: "payload_too_large", Description: "The request body is too large."}
	case errors.Is(err, errSignOutIncomplete):
		return apiError{Status: http.StatusServiceUnavailable, Code: "store_unavailable", Description: "You are still signed in: your session could not be ended because the session store is unavailable. Try signing out again shortly.", retrySignOut: true}
	case errors.Is(err, session.ErrNoSession):
		return apiError{Status: http.StatusUnauthorized, Code: "unauthorized", Description: "You are not signed in."}
	case errors.Is(err, session.ErrUnavailable):
		return apiError{Status: http.StatusServiceUnavailable, Code: "store_unavailable", Description: "The session store is unavailable. Try again shortly.", retry: true}
	case errors.Is(err, signin.ErrInvalidState), errors.Is(err, errInvalidState):
		return apiError{Status: http.StatusBadRequest, Code: "invalid_state", Description: "This sign-in attempt is unknown, expired or was already used. Please sign in again.", retry: true}
	case errors.As(err, &pe):
		return apiError{Status: http.StatusBadRequest, Code: "invalid_request", Description: pe.Param + " " + pe.Message + "."}
	case errors.Is(err, errBadQuery):
		return apiError{Status: http.StatusBadRequest, Code: "invalid_request", Description: "The query string is malformed."}
	case errors.Is(err, authflow.ErrIssuerMismatch):
		return apiError{Status: http.StatusBadRequest, Code: "invalid_request", Description: "The sign-in response did not come from the expected identity provider.", retry: true}
	case errors.Is(err, authflow.ErrUnavailable):
		return apiError{Status: http.StatusServiceUnavailable, Code: "idp_unavailable", Description: "The identity provider is unavailable. Try again shortly.", retry: true}
	case errors.Is(err, authflow.ErrRejected):
		return apiError{Status: http.StatusBadRequest, Code: "invalid_request", Description: "The identity provider did not accept this sign-in. Please sign in again.", retry: true}
	case errors.Is(err, authflow.ErrInvalidIDToken):
		return apiError{Status: http.StatusBadRequest, Code: "invalid_request", Description: "The sign-in response could not be verified. Please sign in again.", retry: true}
	default:
		return apiError{Status: http.StatusInternalServerError, Code: "internal_error", Description: "Something went wrong on our side."}
	}
}

// fail records err for the request log and answers with the error shape:
// JSON on /api (and wherever the client prefers JSON), a small HTML page
// for browser navigations elsewhere.
func fail(c *gin.Context, err error) {
	_ = c.Error(err)
	e := errorFor(err)
	if strings.HasPrefix(c.Request.URL.Path, "/api/") || prefersJSON(c.Request) {
		c.AbortWithStatusJSON(e.Status, e)
		return
	}
	renderErrorPage(c, e)
	c.Abort()
}

// failJSON is fail for server-to-server routes: always the JSON shape.
func failJSON(c *gin.Context, err error) {
	_ = c.Error(err)
	e := errorFor(err)
	c.AbortWithStatusJSON(e.Status, e)
}

// writeJSONError writes the error shape on a plain ResponseWriter.
func writeJSONError(w http.ResponseWriter, e apiError) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(e.Status)
	_ = json.NewEncoder(w).Encode(e)
}

// prefersJSON reports whether the Accept header ranks application/json
// above text/html (browsers list text/html; fetch and axios list JSON
// before */*, which JSON then wins as the more specific range).
func prefersJSON(r *http.Request) bool {
	accept := r.Header.Get("Accept")
	if accept == "" {
		return false
	}
	jsonQ, htmlQ, anyQ := -1.0, -1.0, -1.0
	for _, part := range strings.Split(accept, ",") {
		mt, q := parseMediaRange(part)
		switch mt {
		case "application/json":
			jsonQ = max(jsonQ, q)
		case "text/html":
			htmlQ = max(htmlQ, q)
		case "text/*", "*/*":
			anyQ = max(anyQ, q)
		}
	}
	return jsonQ > 0 && jsonQ > htmlQ && jsonQ >= anyQ
}

func parseMediaRange(part string) (string, float64) {
	fields := strings.Split(part, ";")
	mt := strings.ToLower(strings.TrimSpace(fields[0]))
	q := 1.0
	for _, p := range fields[1:] {
		k, v, ok := strings.Cut(strings.TrimSpace(p), "=")
		if ok && strings.EqualFold(strings.TrimSpace(k), "q") {
			if f, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil {
				q = f
			}
		}
	}
	return mt, q
}

// String is for test failure messages.
func (e apiError) String() string { return fmt.Sprintf("%d %s", e.Status, e.Code) }
