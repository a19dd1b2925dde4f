package proxy

import (
	"errors"
	"net/url"
	"path"
	"strings"
	"testing"
)

func TestJoinPath(t *testing.T) {
	tests := []struct {
		base, rest     string
		wantRequestURI string // "" means an error is expected
	}{
		{"https://up.internal:8443/v1", "", "/v1"},
		{"https://up.internal:8443/v1", "/", "/v1/"},
		{"https://up.internal:8443/v1", "/items/42", "/v1/items/42"},
		{"https://up.internal:8443/v1/", "/items", "/v1/items"},
		{"https://up.internal:8443/v1/", "", "/v1/"},
		{"https://up.internal", "/items", "/items"},
		{"https://up.internal/", "", "/"},
		{"https://up.internal", "", "/"},
		{"https://up.internal/v1", "/a%20b", "/v1/a%20b"},
		{"https://up.internal/v1", "/a%3Ab", "/v1/a%3Ab"}, // the client's escaping is kept
		{"https://up.internal/v1", "/a:b;c=d", "/v1/a:b;c=d"},
		{"https://up.internal/v1", "/users/@me", "/v1/users/@me"}, // a path segment, not an authority
		{"https://up.internal/v1", "/.well-known/x", "/v1/.well-known/x"},
		{"https://up.internal/v1", "/a./b..", "/v1/a./b.."},
		{"https://up.internal/v1", "/caf%C3%A9", "/v1/caf%C3%A9"},
		{"https://up.internal/a%2Cb", "/c", "/a%2Cb/c"},

		{"https://up.internal/v1", "items", ""},
		{"https://up.internal/v1", "@evil.com", ""},
		{"https://up.internal/v1", "/..", ""},
		{"https://up.internal/v1", "/../admin", ""},
		{"https://up.internal/v1", "/a/../../b", ""},
		{"https://up.internal/v1", "/%2e%2e/admin", ""},
		{"https://up.internal/v1", "/%2E%2e", ""},
		{"https://up.internal/v1", "/.%2e/", ""},
		{"https://up.internal/v1", "/./a", ""},
		{"https://up.internal/v1", "/a/.", ""},
		{"https://up.internal/v1", "/..;/admin", ""},
		{"https://up.internal/v1", "/..;jsessionid=x/admin", ""},
		{"https://up.internal/v1", "/...", ""},
		{"https://up.internal/v1", "/..%20/admin", ""},
		{"https://up.internal/v1", "/%2f", ""},
		{"https://up.internal/v1", "/a%2Fb", ""},
		{"https://up.internal/v1", "/a%5cb", ""},
		{"https://up.internal/v1", `/a\b`, ""},
		{"https://up.internal/v1", "//evil.com", ""},
		{"https://up.internal/v1", "/a//b", ""},
		{"https://up.internal/v1", "/http://evil.com", ""},
		{"https://up.internal/v1", "/http:%2f%2fevil.com", ""},
		{"https://up.internal/v1", "/%00", ""},
		{"https://up.internal/v1", "/a\x00", ""},
		{"https://up.internal/v1", "/a%0d%0aHost:%20evil.com", ""},
		{"https://up.internal/v1", "/a\r\nb", ""},
		{"https://up.internal/v1", "/a b", ""},
		{"https://up.internal/v1", "/a?x=1", ""},
		{"https://up.internal/v1", "/a#x", ""},
		{"https://up.internal/v1", "/%zz", ""},
		{"https://up.internal/v1", "/%2", ""},
		{"https://up.internal/v1", "/%252e%252e/admin", ""},
		{"https://up.internal/v1", "/%c0%ae%c0%ae/admin", ""},
		{"https://up.internal/v1", "/caf\xc3\xa9", ""},
		{"ftp://up.internal/v1", "/a", ""},
		{"https:///v1", "/a", ""},
	}
	for _, tt := range tests {
		t.Run(tt.base+" "+tt.rest, func(t *testing.T) {
			base := mustURL(t, tt.base)
			got, err := JoinPath(base, tt.rest)
			if tt.wantRequestURI == "" {
				if err == nil {
					t.Fatalf("JoinPath accepted it: %s", got)
				}
				if !errors.Is(err, ErrBadPath) {
					t.Fatalf("error %v does not wrap ErrBadPath", err)
				}
				if tt.rest != "" && strings.Contains(err.Error(), tt.rest) {
					t.Fatalf("error %q quotes the path", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("JoinPath: %v", err)
			}
			if got.Scheme != base.Scheme || got.Host != base.Host || got.RequestURI() != tt.wantRequestURI {
				t.Fatalf("got %s (request URI %s), want %s://%s%s", got, got.RequestURI(), base.Scheme, base.Host, tt.wantRequestURI)
			}
		})
	}
	if _, err := JoinPath(nil, "/a"); !errors.Is(err, ErrBadPath) {
		t.Fatalf("nil base: err = %v", err)
	}
}

var fuzzJoinBases = []string{
	"https://up.internal:8443/v1",
	"http://10.0.0.7/api/",
	"https://up.internal",
	"https://up.internal/a%2Cb/c@d",
}

// FuzzJoinPath checks JoinPath's guarantee: an error wrapping ErrBadPath,
// or a URL that stays on the base's scheme and host and under its path —
// as built, as serialized and re-parsed, and as a server normalizing dot
// segments would read it.
func FuzzJoinPath(f *testing.F) {
	for _, s := range []string{
		"", "/", "/items/42?x", "/a%20b", "/users/@me", "@evil.com", "/..", "/%2e%2e/", "/.%2E",
		"/%2f", "/%5c", `/\`, "//evil.com", "/@evil.com", "http://evil.com", "/http://evil.com",
		"/%00", "/a%0d%0a", "/..;/", "/%252e", "/%c0%ae", "/a/./b", "/a;b/c", "/%", "/%%32%65",
	} {
		for i := range fuzzJoinBases {
			f.Add(uint8(i), s)
		}
	}
	f.Fuzz(func(t *testing.T, which uint8, rest string) {
		base := mustURL(t, fuzzJoinBases[int(which)%len(fuzzJoinBases)])
		got, err := JoinPath(base, rest)
		if err != nil {
			if !errors.Is(err, ErrBadPath) {
				t.Fatalf("error %v does not wrap ErrBadPath", err)
			}
			return
		}
		basePath := strings.TrimSuffix(base.Path, "/")
		under := func(p string) bool { return p == base.Path || p == basePath || strings.HasPrefix(p, basePath+"/") }
		if got.Scheme != base.Scheme || got.Host != base.Host || got.User != nil ||
			got.RawQuery != "" || got.Fragment != "" || got.Opaque != "" || !under(got.Path) {
			t.Fatalf("JoinPath(%s, %q) = %#v leaves the base", base, rest, got)
		}
		reparsed, err := url.Parse(got.String())
		if err != nil {
			t.Fatalf("result %q does not parse: %v", got, err)
		}
		if reparsed.Scheme != base.Scheme || reparsed.Host != base.Host || reparsed.User != nil ||
			reparsed.RawQuery != "" || reparsed.Fragment != "" || reparsed.Path != got.Path {
			t.Fatalf("JoinPath(%s, %q) serializes to %q, which parses differently", base, rest, got)
		}
		uri := got.RequestURI()
		if !strings.HasPrefix(uri, "/") || strings.HasPrefix(uri, "//") || strings.ContainsAny(uri, "?# \\") {
			t.Fatalf("JoinPath(%s, %q) has request URI %q", base, rest, uri)
		}
		if cleaned := path.Clean(got.Path); got.Path != "" && !under(cleaned) && !under(cleaned+"/") {
			t.Fatalf("JoinPath(%s, %q) path %q cleans to %q, outside the base", base, rest, got.Path, cleaned)
		}
		for _, seg := range strings.Split(got.Path, "/")[1:] {
			if seg == "." || seg == ".." {
				t.Fatalf("JoinPath(%s, %q) path %q has a dot segment", base, rest, got.Path)
			}
		}
	})
}
