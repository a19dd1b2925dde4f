package routes

import (
	"reflect"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	type want struct{ name, upstream, resource, org string }
	tests := []struct {
		name string
		in   string
		want []want
	}{
		{"empty", "", nil},
		{"only separators and comments", " ,\n# nothing yet\n,", nil},
		{"one route", "orders=https://orders.internal:8443/v1", []want{{"orders", "https://orders.internal:8443/v1", "", ""}}},
		{"resource", "orders=https://orders.internal/v1|https://api.example.com",
			[]want{{"orders", "https://orders.internal/v1", "https://api.example.com", ""}}},
		{"organization", "billing=http://billing:8080|org:7kd93nzpq1xx",
			[]want{{"billing", "http://billing:8080", "", "7kd93nzpq1xx"}}},
		{"org before resource, urn resource", "r_2=https://r.internal/|org:abc|urn:logto:resource:organizations",
			[]want{{"r_2", "https://r.internal/", "urn:logto:resource:organizations", "abc"}}},
		{"multi-line with comments and spaces", `
			# main API
			orders = https://orders.internal/v1 | https://api.example.com ,
			billing=http://billing:8080|org:7kd93nzpq1xx
			`,
			[]want{{"orders", "https://orders.internal/v1", "https://api.example.com", ""}, {"billing", "http://billing:8080", "", "7kd93nzpq1xx"}}},
		{"CRLF lines", "a=https://a.internal\r\nb=https://b.internal\r\n",
			[]want{{"a", "https://a.internal", "", ""}, {"b", "https://b.internal", "", ""}}},
		{"encoded comma in path", "a=https://a.internal/x%2Cy", []want{{"a", "https://a.internal/x%2Cy", "", ""}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			routes, err := Parse(tt.in)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			var got []want
			for _, r := range routes {
				got = append(got, want{r.Name, r.Upstream.String(), r.Resource, r.Organization})
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []string // each must appear in the error
	}{
		{"no equals", "orders", []string{`route entry 1: want name=upstream`}},
		{"upper-case name", "Orders=https://o.internal", []string{"route entry 1: name must match"}},
		{"name starting with dash", "-o=https://o.internal", []string{"name must match"}},
		{"name too long", strings.Repeat("a", 65) + "=https://o.internal", []string{"name must match"}},
		{"name with slash", "a/b=https://o.internal", []string{"name must match"}},
		{"duplicate", "a=https://a.internal,b=https://b.internal,a=https://c.internal", []string{`route entry 3 "a": duplicate name (entry 1 has it)`}},
		{"ftp", "a=ftp://a.internal", []string{`route entry 1 "a": upstream must be an absolute http or https URL`}},
		{"relative", "a=/api", []string{"absolute http or https", "must have a host"}},
		{"no host", "a=https://", []string{"must have a host"}},
		{"port only", "a=https://:8443", []string{"must have a host"}},
		{"bad port", "a=https://a.internal:port", []string{"upstream is not a valid URL"}},
		{"userinfo", "a=https://user:s3cret@a.internal", []string{"must not contain userinfo"}},
		{"query", "a=https://a.internal/v1?key=x", []string{"must not have a query"}},
		{"empty query", "a=https://a.internal/v1?", []string{"must not have a query"}},
		{"fragment", "a=https://a.internal/v1#top", []string{"must not have a fragment"}},
		{"empty fragment", "a=https://a.internal/v1#", []string{"must not have a fragment"}},
		{"dot segment in base", "a=https://a.internal/v1/../admin", []string{"upstream path: dot segment"}},
		{"double slash in base", "a=https://a.internal//v1", []string{"upstream path: empty path segment"}},
		{"encoded slash in base", "a=https://a.internal/v1%2Fadmin", []string{"upstream path: escaped slash"}},
		{"two orgs", "a=https://a.internal|org:x|org:y", []string{"more than one org: option"}},
		{"empty org", "a=https://a.internal|org:", []string{"empty org: option"}},
		{"bad org id", "a=https://a.internal|org:x y", []string{"organization id must match"}},
		{"two resources", "a=https://a.internal|https://r1|https://r2", []string{"more than one resource indicator"}},
		{"empty option", "a=https://a.internal||org:x", []string{"empty option after |"}},
		{"relative resource", "a=https://a.internal|api", []string{"resource indicator must be an absolute URI"}},
		{"resource with fragment", "a=https://a.internal|https://api.example.com#x", []string{"resource indicator must not have a fragment"}},
		{"every problem reported", "Bad=ftp://x\nok=https://ok.internal\nc=https://c.internal?q|org:", []string{
			"route entry 1: name must match", "route entry 1: upstream must be an absolute http or https URL",
			`route entry 3 "c": upstream must not have a query`, `route entry 3 "c": empty org: option`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			routes, err := Parse(tt.in)
			if err == nil {
				t.Fatalf("Parse accepted %q: %+v", tt.in, routes)
			}
			if routes != nil {
				t.Fatalf("routes returned with an error: %+v", routes)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "s3cret") {
				t.Errorf("error %q quotes the upstream's credentials", err)
			}
		})
	}
}
