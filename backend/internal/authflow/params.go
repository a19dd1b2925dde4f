package authflow

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"
)

// SignInParams are the validated options of one sign-in, taken from
// GET /auth/sign-in's query.
type SignInParams struct {
	// ReturnTo is a same-origin path (always starts with a single "/").
	ReturnTo string
	// FirstScreen is Logto's first_screen, or "".
	FirstScreen string
	// DirectSignIn is Logto's direct_sign_in ("social:<connector>" or
	// "sso:<id>"), or "".
	DirectSignIn string
	// LoginHint pre-fills the identifier, or "".
	LoginHint string
}

// ParamError is a sign-in parameter that cannot be honoured. Its Message is
// written for people and safe to show (it never echoes the value).
type ParamError struct {
	// Param is the query parameter at fault.
	Param string
	// Message says what is wrong.
	Message string
}

// Error renders "param: message".
func (e *ParamError) Error() string { return e.Param + ": " + e.Message }

// FirstScreens are the accepted values of firstScreen (Logto's first_screen).
var FirstScreens = []string{"sign_in", "register", "reset_password", "identifier:sign_in", "identifier:register", "single_sign_on"}

// Limits on sign-in parameters.
const (
	MaxReturnToLength  = 2048
	MaxLoginHintLength = 256
)

var (
	socialConnector = regexp.MustCompile(`^[a-z0-9_-]{1,64}$`)
	ssoConnector    = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
)

// ParseSignInParams validates GET /auth/sign-in's query. Logto silently
// ignores every extra parameter when one is invalid, so anything doubtful
// is an error here rather than a redirect: unknown or repeated parameters,
// an unknown firstScreen or interactionMode, a malformed directSignIn, an
// overlong or non-printable loginHint. returnTo is never an error: an
// unsafe value becomes "/" (see SafeReturnTo).
func ParseSignInParams(q url.Values) (SignInParams, error) {
	for name, vals := range q {
		switch name {
		case "returnTo", "firstScreen", "interactionMode", "directSignIn", "loginHint":
		default:
			return SignInParams{}, &ParamError{Param: shownName(name), Message: "is not a sign-in parameter (use returnTo, firstScreen, directSignIn or loginHint)"}
		}
		if len(vals) > 1 {
			return SignInParams{}, &ParamError{Param: name, Message: "must be given at most once"}
		}
	}
	p := SignInParams{ReturnTo: SafeReturnTo(q.Get("returnTo"))}

	if fs, ok := q["firstScreen"]; ok {
		if !contains(FirstScreens, fs[0]) {
			return SignInParams{}, &ParamError{Param: "firstScreen", Message: "must be one of " + strings.Join(FirstScreens, ", ")}
		}
		p.FirstScreen = fs[0]
	}
	if im, ok := q["interactionMode"]; ok {
		var fs string
		switch im[0] {
		case "signUp":
			fs = "register"
		case "signIn":
			fs = "sign_in"
		default:
			return SignInParams{}, &ParamError{Param: "interactionMode", Message: "must be signUp or signIn (deprecated: use firstScreen)"}
		}
		if p.FirstScreen != "" && p.FirstScreen != fs {
			return SignInParams{}, &ParamError{Param: "interactionMode", Message: "contradicts firstScreen; use firstScreen only"}
		}
		p.FirstScreen = fs
	}
	if ds, ok := q["directSignIn"]; ok {
		if !validDirectSignIn(ds[0]) {
			return SignInParams{}, &ParamError{Param: "directSignIn", Message: "must be social:<connector> (connector of a-z, 0-9, _ and -) or sso:<connector id>"}
		}
		p.DirectSignIn = ds[0]
	}
	if lh, ok := q["loginHint"]; ok {
		if !validLoginHint(lh[0]) {
			return SignInParams{}, &ParamError{Param: "loginHint", Message: fmt.Sprintf("must be 1 to %d printable characters", MaxLoginHintLength)}
		}
		p.LoginHint = lh[0]
	}
	return p, nil
}

var plainName = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,32}$`)

// shownName is an unknown parameter's name if it is short and plain, so an
// error message can name it without reflecting arbitrary input.
func shownName(name string) string {
	if plainName.MatchString(name) {
		return name
	}
	return "an unknown parameter"
}

func validDirectSignIn(v string) bool {
	kind, name, ok := strings.Cut(v, ":")
	switch {
	case !ok:
		return false
	case kind == "social":
		return socialConnector.MatchString(name)
	case kind == "sso":
		return ssoConnector.MatchString(name)
	}
	return false
}

func validLoginHint(v string) bool {
	if v == "" || len(v) > MaxLoginHintLength || !utf8.ValidString(v) || strings.TrimSpace(v) != v {
		return false
	}
	for _, r := range v {
		if !unicode.IsPrint(r) {
			return false
		}
	}
	return true
}

// SafeReturnTo returns raw if it is a same-origin path, else "/". A
// same-origin path starts with exactly one "/" (not "//" nor "/\"), has no
// scheme, host or user info, no backslash, no whitespace and no control or
// other non-printable character — checked on the raw value and on every percent-decoding of it,
// so encoded variants (/%2F%2Fevil, /%5Cevil, %0d%0a) fall back too.
func SafeReturnTo(raw string) string {
	if raw == "" || len(raw) > MaxReturnToLength || !utf8.ValidString(raw) {
		return "/"
	}
	for v, i := raw, 0; ; i++ {
		if !safePathText(v, i > 0) {
			return "/"
		}
		dec, err := url.PathUnescape(v)
		if err != nil {
			return "/"
		}
		if dec == v {
			break
		}
		if i == 3 { // more layers of encoding than any honest link has
			return "/"
		}
		v = dec
	}
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" || !strings.HasPrefix(u.Path, "/") {
		return "/"
	}
	return raw
}

// safePathText checks one form of a returnTo value: the raw value, or a
// percent-decoding of it (where an encoded space is fine).
func safePathText(v string, decoded bool) bool {
	if !strings.HasPrefix(v, "/") || strings.HasPrefix(v, "//") || strings.ContainsRune(v, '\\') {
		return false
	}
	for _, r := range v {
		switch {
		case r == ' ' && decoded:
		case r < 0x21 || r == 0x7f || unicode.IsSpace(r) || !unicode.IsPrint(r):
			return false
		}
	}
	return true
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

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
