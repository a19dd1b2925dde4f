package httpapi

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeSPA(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{
		"index.html":             "<!doctype html><title>SPA</title>",
		"favicon.svg":            "<svg/>",
		"assets/index-4f3a2b.js": "console.log('spa')",
		".env":                   "SECRET=1",
	}
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	outside := filepath.Join(filepath.Dir(dir), "outside.txt")
	_ = os.WriteFile(outside, []byte("outside"), 0o644)
	_ = os.Symlink(outside, filepath.Join(dir, "link.txt"))
	return dir
}

func TestSPAServing(t *testing.T) {
	e := newEnv(t, storeMemory, envOptions{spaDir: writeSPA(t)})
	b := e.uncheckedBrowser(t)
	tests := []struct {
		path, wantBody, wantCache string
		status                    int
	}{
		{"/", "<title>SPA</title>", "no-cache", http.StatusOK},
		{"/index.html", "<title>SPA</title>", "no-cache", http.StatusOK},
		{"/profile/settings", "<title>SPA</title>", "no-cache", http.StatusOK},
		{"/assets/index-4f3a2b.js", "console.log", "public, max-age=31536000, immutable", http.StatusOK},
		{"/favicon.svg", "<svg/>", "no-cache", http.StatusOK},
		{"/assets/missing-123.js", "", "", http.StatusNotFound},
		{"/missing.png", "", "", http.StatusNotFound},
		{"/.env", "", "", http.StatusNotFound},
		{"/link.txt", "", "", http.StatusNotFound},
		{"/../outside.txt", "", "", http.StatusNotFound},
		{"/assets/../../outside.txt", "", "", http.StatusNotFound},
	}
	for _, tc := range tests {
		resp, body := b.get(t, tc.path)
		if resp.StatusCode != tc.status {
			t.Errorf("%s: %d, want %d (%s)", tc.path, resp.StatusCode, tc.status, body)
			continue
		}
		if strings.Contains(string(body), "SECRET") || strings.Contains(string(body), "outside") {
			t.Errorf("%s leaked a file outside the SPA", tc.path)
		}
		if tc.status != http.StatusOK {
			continue
		}
		if !strings.Contains(string(body), tc.wantBody) || resp.Header.Get("Cache-Control") != tc.wantCache {
			t.Errorf("%s: cache %q body %q", tc.path, resp.Header.Get("Cache-Control"), body)
		}
		csp := resp.Header.Get("Content-Security-Policy")
		if !strings.Contains(csp, "script-src 'self'") || !strings.Contains(csp, "frame-ancestors 'none'") || !strings.Contains(csp, "form-action 'self' "+e.idpSrv.URL) {
			t.Errorf("%s: CSP %q", tc.path, csp)
		}
		if resp.Header.Get("X-Frame-Options") != "DENY" || resp.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: security headers missing", tc.path)
		}
	}
	// API and auth routes are never the SPA.
	if resp, _ := b.get(t, "/api/unknown", "X-CSRF", "1"); resp.StatusCode != http.StatusNotFound || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		t.Errorf("/api/unknown = %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if resp, body := b.get(t, "/auth/unknown"); resp.StatusCode != http.StatusNotFound || strings.Contains(string(body), "<title>SPA") {
		t.Errorf("/auth/unknown = %d", resp.StatusCode)
	}
	if resp, _ := b.do(t, mustRequest(t, http.MethodPost, e.url("/profile"))); resp.StatusCode != http.StatusNotFound {
		t.Errorf("POST /profile = %d", resp.StatusCode)
	}
}

func mustRequest(t *testing.T, method, url string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

func TestLandingPageWithoutSPA(t *testing.T) {
	e := newEnv(t, storeMemory, envOptions{})
	b := e.uncheckedBrowser(t)
	resp, body := b.get(t, "/")
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `href="/auth/sign-in"`) {
		t.Fatalf("landing = %d %s", resp.StatusCode, body)
	}
	b.signIn(t, "", "alice")
	_, body = b.get(t, "/")
	if !strings.Contains(string(body), "Alice Example") || !strings.Contains(string(body), `action="/auth/sign-out"`) {
		t.Errorf("signed-in landing: %s", body)
	}
	assertNoToken(t, e, body)
	if resp, _ := b.get(t, "/elsewhere"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("/elsewhere = %d", resp.StatusCode)
	}
}
