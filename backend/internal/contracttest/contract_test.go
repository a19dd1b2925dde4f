package contracttest

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func exchange(method, target string, hdr map[string]string, status int, ctype, body string) (*http.Request, *http.Response) {
	req := httptest.NewRequest(method, target, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp := &http.Response{StatusCode: status, Header: http.Header{}}
	if ctype != "" {
		resp.Header.Set("Content-Type", ctype)
	}
	if status >= 300 && status < 400 {
		resp.Header.Set("Location", "/")
	}
	_ = body
	return req, resp
}

func TestCheck(t *testing.T) {
	spec, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	csrf := map[string]string{"X-CSRF": "1"}
	me := `{"user":{"sub":"u1","name":null,"email":"a@example.test","email_verified":true,"identities":{"discord":{"userId":"1","details":{"id":"1","name":"n","rawData":{"global_name":"N"}}}}},"session":{"authenticatedAt":"2026-11-25T10:00:00Z","expiresAt":"2026-12-09T10:00:00Z"}}`
	tests := []struct {
		name           string
		method, target string
		hdr            map[string]string
		status         int
		ctype, body    string
		wantErr        string
	}{
		{"me ok", "GET", "/api/me", csrf, 200, "application/json", me, ""},
		{"me 401", "GET", "/api/me", csrf, 401, "application/json", `{"error":"unauthorized","error_description":"x"}`, ""},
		{"me with a token field", "GET", "/api/me", csrf, 200, "application/json", strings.Replace(me, `"session":{`, `"session":{"accessToken":"x",`, 1), "response"},
		{"unknown error code", "GET", "/api/me", csrf, 401, "application/json", `{"error":"nope","error_description":"x"}`, "response"},
		{"undocumented status", "GET", "/api/me", csrf, 418, "application/json", `{}`, "response"},
		{"missing csrf header refused", "GET", "/api/me", nil, 403, "application/json", `{"error":"csrf_required","error_description":"x"}`, ""},
		{"missing csrf header accepted", "GET", "/api/me", nil, 200, "application/json", me, "request"},
		{"sign-in redirect", "GET", "/auth/sign-in?returnTo=/x&firstScreen=register", nil, 302, "", "", ""},
		{"sign-in bad param refused", "GET", "/auth/sign-in?firstScreen=nope", nil, 400, "text/html; charset=utf-8", "<p>bad</p>", ""},
		{"sign-in bad param accepted", "GET", "/auth/sign-in?firstScreen=nope", nil, 302, "", "", "request"},
		{"readyz", "GET", "/readyz", nil, 503, "application/json", `{"status":"unavailable","checks":{"idp":"ok","store":"unavailable"}}`, ""},
		{"proxy upstream body", "GET", "/api/proxy/demo/a/b?x=1", csrf, 200, "text/plain", "anything", ""},
		{"undocumented path", "GET", "/api/secret", csrf, 200, "application/json", `{}`, "not documented"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, resp := exchange(tt.method, tt.target, tt.hdr, tt.status, tt.ctype, tt.body)
			err := spec.Check(req, nil, resp, []byte(tt.body))
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("unexpected: %v", err)
			case tt.wantErr != "" && err == nil:
				t.Fatalf("want an error containing %q", tt.wantErr)
			case tt.wantErr != "" && !strings.Contains(err.Error(), tt.wantErr) && !errors.Is(err, ErrUndocumented):
				t.Fatalf("error %v lacks %q", err, tt.wantErr)
			}
		})
	}
}
