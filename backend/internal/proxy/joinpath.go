package proxy

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/logto-bff/bff/backend/internal/routes"
)

// JoinPath joins rest, the escaped request path below a route (empty, or
// starting with "/"), onto base, an upstream URL as routes.Route.Upstream
// describes. The result has base's scheme and host, no userinfo, query or
// fragment, and a path equal to base's path or below it ("/v1" + "/x" is
// "/v1/x"; base's trailing slash is not doubled). The client's escaping of
// rest is kept when it is a valid encoding.
//
// Every error wraps ErrBadPath. rest is rejected when it does not start with
// "/" (so nothing can be appended to the host, as in "@evil.com"), contains
// raw bytes outside printable ASCII, a backslash, "?" or "#", a malformed
// escape, an escaped "/" (%2F), "\" (%5C) or "%" (%25, a second layer of
// escaping that an upstream decoding twice would undo), or decodes to
// control characters or invalid UTF-8; or when the decoded path has an
// empty segment ("//", which also catches "//evil.com" and "http://evil.com")
// or a dot segment: ".", "..", and any segment made only of dots and spaces
// ("...", ".. " — Windows servers trim them), also with a ";parameter"
// ("..;" is ".." to Tomcat).
func JoinPath(base *url.URL, rest string) (*url.URL, error) {
	if base == nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" || base.Opaque != "" {
		return nil, fmt.Errorf("%w: base is not an absolute http(s) URL", ErrBadPath)
	}
	decoded, err := routes.CheckPath(rest)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadPath, err)
	}
	basePath := strings.TrimSuffix(base.Path, "/")
	baseRaw := strings.TrimSuffix(base.EscapedPath(), "/")
	u := &url.URL{Scheme: base.Scheme, Host: base.Host, Path: base.Path, RawPath: base.RawPath}
	if rest != "" {
		u.Path = basePath + decoded
		u.RawPath = baseRaw + rest
		if u.RawPath == (&url.URL{Path: u.Path}).EscapedPath() {
			u.RawPath = "" // the default encoding: no hint needed
		}
	}
	// Belt and braces: whatever the checks above missed must not move the
	// request off the upstream.
	if u.Scheme != base.Scheme || u.Host != base.Host || u.User != nil ||
		!(u.Path == base.Path || u.Path == basePath || strings.HasPrefix(u.Path, basePath+"/")) ||
		strings.HasPrefix(u.RequestURI(), "//") || !strings.HasPrefix(u.RequestURI(), "/") {
		return nil, fmt.Errorf("%w: joined URL leaves the upstream", ErrBadPath)
	}
	return u, nil
}
