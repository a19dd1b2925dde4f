package routes

import (
	"errors"
	"net/url"
	"strings"
	"unicode/utf8"
)

// CheckPath validates an escaped path below a route (empty or starting
// with "/") and returns it decoded. It rejects a path that does not start
// with "/", contains raw bytes outside printable ASCII, a backslash, "?" or
// "#", a malformed escape, an escaped "/" (%2F), "\" (%5C) or "%" (%25),
// or decodes to control characters or invalid UTF-8; and a decoded path
// with an empty segment ("//") or a dot segment (".", "..", any segment made
// only of dots and spaces, also with a ";parameter"). Error messages never
// quote the path.
func CheckPath(rest string) (string, error) {
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
