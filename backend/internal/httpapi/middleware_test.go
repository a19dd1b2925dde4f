package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"
)

func TestRecoveryAnswersJSON500(t *testing.T) {
	var logs bytes.Buffer
	s := &server{log: slog.New(slog.NewJSONHandler(&logs, nil)), pageCSP: "default-src 'none'"}
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.Use(s.accessLog, s.recovery, s.securityHeaders)
	r.GET("/api/boom", func(*gin.Context) { panic("kaboom") })
	w := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodGet, "/api/boom?code=secret-code", nil)
	req.Header.Set("Cookie", "bff-session=cookie-value")
	r.ServeHTTP(w, req)
	var m map[string]string
	if err := json.Unmarshal(w.Body.Bytes(), &m); err != nil || w.Code != http.StatusInternalServerError || m["error"] != "internal_error" || m["error_description"] == "" {
		t.Fatalf("panic answered %d %s", w.Code, w.Body)
	}
	if strings.Contains(w.Body.String(), "kaboom") {
		t.Error("the panic value reached the client")
	}
	out := logs.String()
	if !strings.Contains(out, "kaboom") || !strings.Contains(out, `"route":"/api/boom"`) || !strings.Contains(out, `"status":500`) {
		t.Errorf("logs: %s", out)
	}
	if strings.Contains(out, "secret-code") || strings.Contains(out, "cookie-value") {
		t.Errorf("logs hold the query or cookie: %s", out)
	}
}

func TestPrefersJSON(t *testing.T) {
	tests := []struct {
		accept string
		want   bool
	}{
		{"", false},
		{"*/*", false},
		{"application/json", true},
		{"application/json, text/plain, */*", true},
		{"text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", false},
		{"text/html;q=0.5, application/json", true},
		{"application/json;q=0, text/html", false},
		{"application/json;q=0.5, */*;q=0.9", false},
	}
	for _, tc := range tests {
		req := httptest.NewRequest(http.MethodGet, "/auth/sign-in", nil)
		req.Header.Set("Accept", tc.accept)
		if got := prefersJSON(req); got != tc.want {
			t.Errorf("prefersJSON(%q) = %t", tc.accept, got)
		}
	}
}

func TestErrorForNeverLeaksMessages(t *testing.T) {
	e := errorFor(errors.New("token=abc secret"))
	if e.Status != http.StatusInternalServerError || strings.Contains(e.Description, "abc") {
		t.Errorf("%v %q", e, e.Description)
	}
}

func TestSecurityHeadersEverywhere(t *testing.T) {
	e := newEnv(t, storeMemory, envOptions{})
	b := e.uncheckedBrowser(t)
	for _, path := range []string{"/", "/healthz", "/readyz", "/auth/sign-in?bad=1", "/auth/callback", "/api/me", "/nowhere"} {
		resp, _ := b.get(t, path)
		h := resp.Header
		if h.Get("X-Content-Type-Options") != "nosniff" || h.Get("X-Frame-Options") != "DENY" || h.Get("Referrer-Policy") != "no-referrer" ||
			!strings.Contains(h.Get("Content-Security-Policy"), "frame-ancestors 'none'") {
			t.Errorf("%s: headers %v", path, h)
		}
		if (strings.HasPrefix(path, "/auth/") || strings.HasPrefix(path, "/api/") || path == "/healthz" || path == "/readyz") && h.Get("Cache-Control") != "no-store" {
			t.Errorf("%s: Cache-Control %q", path, h.Get("Cache-Control"))
		}
	}
}
