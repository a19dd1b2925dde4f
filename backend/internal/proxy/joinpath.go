package proxy

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"unicode/utf8"
)

// JoinPath joins rest, the escaped request path below a route (empty, or
// starting with "/"), onto base, an upstream URL as Route.Upstream
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
	decoded, err := checkRest(rest)
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

// checkRest validates an escaped path (empty or starting with "/") as
// JoinPath documents and returns it decoded. Error messages never quote the
// path.
func checkRest(rest string) (string, error) {
	if rest == "" {
		return "", nil
	}
	if rest[0] != '/' {
		return "", errors.New("path must start with /")
	}
	for i := 0; i < len(rest); i++ {
		c := rest[i]
		switch {
		case c <= ' ' || c >= 0x7f:
			return "", errors.New("raw control, space or non-ASCII byte")
		case c == '\\':
			return "", errors.New("backslash")
		case c == '?' || c == '#':
			return "", errors.New("unescaped ? or #")
		case c == '%':
			if i+2 >= len(rest) || !isHex(rest[i+1]) || !isHex(rest[i+2]) {
				return "", errors.New("malformed escape")
			}
			switch b := unhex(rest[i+1])<<4 | unhex(rest[i+2]); {
			case b == '/' || b == '\\':
				return "", errors.New("escaped slash or backslash")
			case b == '%':
				return "", errors.New("escaped percent sign")
			case b < ' ' || b == 0x7f:
				return "", errors.New("escaped control character")
			}
			i += 2
		}
	}
	decoded, err := url.PathUnescape(rest)
	if err != nil {
		return "", errors.New("malformed escape")
	}
	if !utf8.ValidString(decoded) {
		return "", errors.New("invalid UTF-8")
	}
	segments := strings.Split(decoded[1:], "/")
	for i, seg := range segments {
		if seg == "" && i < len(segments)-1 {
			return "", errors.New("empty path segment (//)")
		}
		if name, _, _ := strings.Cut(seg, ";"); strings.Contains(name, ".") && strings.Trim(name, ". ") == "" {
			return "", errors.New("dot segment")
		}
	}
	return decoded, nil
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case '0' <= c && c <= '9':
		return c - '0'
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10
	default:
		return c - 'A' + 10
	}
}
