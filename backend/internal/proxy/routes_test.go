package proxy

import (
	"net/url"
	"strings"
	"testing"

	"github.com/logto-bff/bff/backend/internal/routes"
)

func TestNewChecksRoutes(t *testing.T) {
	ts := routeTokens
	good := mustURL(t, "https://a.internal/v1")
	tests := []struct {
		name string
		rs   []routes.Route
		want string
	}{
		{"nil upstream", []routes.Route{{Name: "a"}}, "upstream missing"},
		{"bad name", []routes.Route{{Name: "A", Upstream: good}}, "name must match"},
		{"duplicate", []routes.Route{{Name: "a", Upstream: good}, {Name: "a", Upstream: good}}, "duplicate name"},
		{"userinfo", []routes.Route{{Name: "a", Upstream: mustURL(t, "https://u:p@a.internal")}}, "userinfo"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := New(tt.rs, ts, Options{}); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New error = %v, want it to contain %q", err, tt.want)
			}
		})
	}
	if _, err := New(nil, nil, Options{}); err == nil {
		t.Fatal("New accepted a nil TokenSource")
	}
	if _, err := New(nil, ts, Options{}); err != nil {
		t.Fatalf("New with no routes: %v", err)
	}
}

func mustURL(tb testing.TB, s string) *url.URL {
	tb.Helper()
	u, err := url.Parse(s)
	if err != nil {
		tb.Fatal(err)
	}
	return u
}
