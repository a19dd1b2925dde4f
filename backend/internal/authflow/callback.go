package authflow

import "strings"

// maxErrorCodeLength bounds a sanitized error code.
const maxErrorCodeLength = 64

// SanitizeErrorCode reduces an OAuth error code from the callback's error
// parameter (e.g. "access_denied") to [a-z_], at most 64 characters, so it
// can be put in a URL and shown by the SPA without escaping concerns. An
// empty result becomes "unknown_error".
func SanitizeErrorCode(code string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(code) {
		if b.Len() == maxErrorCodeLength {
			break
		}
		if (r >= 'a' && r <= 'z') || r == '_' {
			b.WriteRune(r)
		}
	}
	if b.Len() == 0 {
		return "unknown_error"
	}
	return b.String()
}
