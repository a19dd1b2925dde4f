// Package routes parses and checks the API proxy's routes (BFF_API_ROUTES):
// which upstream a path prefix goes to and which token it carries. Both
// package config (which reads the setting) and package proxy (which serves
// the routes) use it, so neither depends on the other.
package routes

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
)

// Route is one operator-configured upstream: the proxy sends requests to
// /api/proxy/<Name>/<rest> to Upstream joined with <rest>, carrying an
// access token for Resource (and Organization).
type Route struct {
	// Name is the first path segment after Prefix: [a-z0-9][a-z0-9_-]{0,63}.
	Name string
	// Upstream is the base URL: absolute http(s), a host, no userinfo, no
	// query or fragment. Requests never leave its scheme, host and path.
	Upstream *url.URL
	// Resource is the Logto API resource indicator (RFC 8707) the token is
	// for; empty means the TokenSource's default token.
	Resource string
	// Organization is a Logto organization id; when set the token is an
	// organization token (for Resource, if that is set too).
	Organization string
}

var (
	routeNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,63}$`)
	orgIDRE     = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
)

const maxResourceLen = 2048

// Parse parses the BFF_API_ROUTES setting. The format:
//
//	entries  = entry *( ("," / newline) entry )
//	entry    = name "=" upstream [ "|" option ] [ "|" option ]
//	option   = resource-indicator / "org:" organization-id
//
// for example
//
//	orders=https://orders.internal:8443/v1|https://api.example.com,
//	billing=http://billing:8080|org:7kd93nzpq1xx
//	reports=https://reports.internal|https://reports.example.com|org:7kd93nzpq1xx
//
// Whitespace around entries and fields is ignored, as are empty entries and
// entries starting with "#" (comments, in a multi-line value). A literal ","
// in a URL must be percent-encoded (%2C). The resource indicator is an
// absolute URI without fragment; an organization id is [A-Za-z0-9_-]{1,64}.
// Names must be unique; upstreams are checked as Route.Upstream documents,
// and their path must not contain dot segments, "//", encoded slashes or
// backslashes. An empty s yields no routes.
//
// On error, the returned error joins one error per problem, each naming the
// entry by position (and name when valid) but never quoting an upstream URL,
// which could carry credentials.
func Parse(s string) ([]Route, error) {
	var (
		routes []Route
		errs   []error
		seen   = map[string]int{}
	)
	entries := strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == '\n' || r == '\r' })
	n := 0
	for _, raw := range entries {
		raw = strings.TrimSpace(raw)
		if raw == "" || strings.HasPrefix(raw, "#") {
			continue
		}
		n++
		r, problems := parseEntry(raw)
		label := fmt.Sprintf("route entry %d", n)
		if routeNameRE.MatchString(r.Name) {
			label += fmt.Sprintf(" %q", r.Name)
			if first, dup := seen[r.Name]; dup {
				problems = append(problems, fmt.Sprintf("duplicate name (entry %d has it)", first))
			} else {
				seen[r.Name] = n
			}
		}
		for _, p := range problems {
			errs = append(errs, fmt.Errorf("%s: %s", label, p))
		}
		if len(problems) == 0 {
			routes = append(routes, r)
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return routes, nil
}

// parseEntry parses one `name=upstream|option|option` entry and returns
// every problem found.
func parseEntry(raw string) (Route, []string) {
	var r Route
	name, rest, ok := strings.Cut(raw, "=")
	if !ok {
		return r, []string{"want name=upstream[|resource][|org:id]"}
	}
	r.Name = strings.TrimSpace(name)
	fields := strings.Split(rest, "|")
	var problems []string
	upstream := strings.TrimSpace(fields[0])
	if u, err := url.Parse(upstream); err != nil {
		problems = append(problems, "upstream is not a valid URL")
	} else {
		r.Upstream = u
		if u.Fragment == "" && strings.Contains(upstream, "#") {
			problems = append(problems, "upstream must not have a fragment")
		}
	}
	var orgs, resources int
	for _, f := range fields[1:] {
		f = strings.TrimSpace(f)
		switch {
		case f == "":
			problems = append(problems, "empty option after |")
		case strings.HasPrefix(f, "org:"):
			orgs++
			r.Organization = strings.TrimPrefix(f, "org:")
			if r.Organization == "" {
				problems = append(problems, "empty org: option")
			}
		default:
			resources++
			r.Resource = f
		}
	}
	if orgs > 1 {
		problems = append(problems, "more than one org: option")
	}
	if resources > 1 {
		problems = append(problems, "more than one resource indicator")
	}
	return r, append(problems, Problems(r)...)
}

// Problems lists what makes r unusable, never quoting its upstream; proxy.New
// checks programmatic routes with it too. A nil Upstream is not reported
// (Parse reports unparsable URLs itself; a caller building routes by hand
// checks it).
func Problems(r Route) []string {
	var problems []string
	if !routeNameRE.MatchString(r.Name) {
		problems = append(problems, "name must match [a-z0-9][a-z0-9_-]{0,63}")
	}
	if r.Upstream != nil {
		problems = append(problems, upstreamProblems(r.Upstream)...)
	}
	if r.Resource != "" {
		if p := resourceProblem(r.Resource); p != "" {
			problems = append(problems, p)
		}
	}
	if r.Organization != "" && !orgIDRE.MatchString(r.Organization) {
		problems = append(problems, "organization id must match [A-Za-z0-9_-]{1,64}")
	}
	return problems
}

// upstreamProblems lists what makes u unusable as an upstream base.
func upstreamProblems(u *url.URL) []string {
	var problems []string
	if u.Scheme != "http" && u.Scheme != "https" {
		problems = append(problems, "upstream must be an absolute http or https URL")
	}
	if u.Opaque != "" || u.Hostname() == "" {
		problems = append(problems, "upstream must have a host")
	}
	if u.User != nil {
		problems = append(problems, "upstream must not contain userinfo (credentials)")
	}
	if u.RawQuery != "" || u.ForceQuery {
		problems = append(problems, "upstream must not have a query")
	}
	if u.Fragment != "" {
		problems = append(problems, "upstream must not have a fragment")
	}
	if p := u.EscapedPath(); p != "" && p != "/" {
		if _, err := CheckPath(p); err != nil {
			problems = append(problems, "upstream path: "+err.Error())
		}
	}
	return problems
}

// resourceProblem checks a resource indicator: an absolute URI without a
// fragment (RFC 8707 section 2).
func resourceProblem(s string) string {
	if len(s) > maxResourceLen {
		return "resource indicator too long"
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] == 0x7f {
			return "resource indicator must not contain spaces or control characters"
		}
	}
	u, err := url.Parse(s)
	if err != nil || u.Scheme == "" || (u.Opaque == "" && u.Host == "") {
		return "resource indicator must be an absolute URI"
	}
	if strings.Contains(s, "#") {
		return "resource indicator must not have a fragment"
	}
	return ""
}
