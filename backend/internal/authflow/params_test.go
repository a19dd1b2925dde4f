package authflow

import (
	"errors"
	"net/url"
	"strings"
	"testing"
	"unicode"
)

// returnToCases are attacks and honest paths; shared by the table test
// and the fuzz seed corpus.
var returnToCases = []struct {
	in, want string
}{
	{"", "/"},
	{"/", "/"},
	{"/profile", "/profile"},
	{"/a/b?c=d&e=f#frag", "/a/b?c=d&e=f#frag"},
	{"/search?q=a%20b", "/search?q=a%20b"},
	{"/caf%C3%A9", "/caf%C3%A9"},
	{"/a/../b", "/a/../b"},
	{"https://evil.example/", "/"},
	{"http://evil.example", "/"},
	{"//evil.example", "/"},
	{"//evil.example/path", "/"},
	{"///evil.example", "/"},
	{"/\\evil.example", "/"},
	{"\\\\evil.example", "/"},
	{"/\\/evil.example", "/"},
	{"/%2F/evil.example", "/"},
	{"/%2f%2fevil.example", "/"},
	{"%2F%2Fevil.example", "/"},
	{"/%5Cevil.example", "/"},
	{"/%5cevil.example", "/"},
	{"/%252F/evil.example", "/"},
	{"/%25252F%25252Fevil", "/"},
	{"javascript:alert(1)", "/"},
	{"JavaScript:alert(1)", "/"},
	{"data:text/html,<script>", "/"},
	{"/ok\r\nSet-Cookie: x=y", "/"},
	{"/ok%0d%0aSet-Cookie:%20x=y", "/"},
	{"/ok%00", "/"},
	{"/ok\x00", "/"},
	{"/ok\t", "/"},
	{"/\t/evil.example", "/"},
	{"/%09/evil.example", "/"},
	{" /profile", "/"},
	{"/pro file", "/"},
	{"profile", "/"},
	{"./profile", "/"},
	{"?x=1", "/"},
	{"#x", "/"},
	{"/\u202e/moc.live", "/"},
	{"/%E2%80%AE/moc.live", "/"},
	{"/\u00a0", "/"},
	{"/%zz", "/"},
	{"/" + strings.Repeat("a", MaxReturnToLength), "/"},
	{"/@evil.example", "/@evil.example"},
	{"/user@evil.example", "/user@evil.example"},
	{"\xff", "/"},
}

func TestSafeReturnTo(t *testing.T) {
	for _, tt := range returnToCases {
		if got := SafeReturnTo(tt.in); got != tt.want {
			t.Errorf("SafeReturnTo(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// sameOrigin is the property SafeReturnTo guarantees, checked the way a
// browser resolves a Location header against the BFF's origin.
func sameOrigin(t *testing.T, in, got string) {
	t.Helper()
	if got == "/" {
		return
	}
	if got != in {
		t.Fatalf("SafeReturnTo(%q) = %q: must be the input or /", in, got)
	}
	base, _ := url.Parse("https://app.example/some/page")
	ref, err := url.Parse(got)
	if err != nil {
		t.Fatalf("accepted %q which does not parse: %v", got, err)
	}
	if res := base.ResolveReference(ref); res.Host != "app.example" || res.Scheme != "https" {
		t.Fatalf("accepted %q resolves to another origin %q", got, res)
	}
	if !strings.HasPrefix(got, "/") || strings.HasPrefix(got, "//") || strings.ContainsAny(got, "\\\r\n\t ") {
		t.Fatalf("accepted unsafe %q", got)
	}
	for _, r := range got {
		if !unicode.IsPrint(r) {
			t.Fatalf("accepted %q with non-printable %U", got, r)
		}
	}
	for v := got; ; {
		dec, err := url.PathUnescape(v)
		if err != nil || dec == v {
			break
		}
		if strings.HasPrefix(dec, "//") || strings.ContainsAny(dec, "\\\r\n\t\x00") {
			t.Fatalf("accepted %q whose decoding %q is unsafe", got, dec)
		}
		v = dec
	}
}

func FuzzSafeReturnTo(f *testing.F) {
	for _, tt := range returnToCases {
		f.Add(tt.in)
	}
	f.Fuzz(func(t *testing.T, in string) {
		sameOrigin(t, in, SafeReturnTo(in))
	})
}

func TestParseSignInParams(t *testing.T) {
	tests := []struct {
		query     string
		want      SignInParams
		wantParam string // non-empty: a *ParamError for this parameter
	}{
		{"", SignInParams{ReturnTo: "/"}, ""},
		{"returnTo=/x", SignInParams{ReturnTo: "/x"}, ""},
		{"returnTo=//evil", SignInParams{ReturnTo: "/"}, ""},
		{"firstScreen=register", SignInParams{ReturnTo: "/", FirstScreen: "register"}, ""},
		{"firstScreen=identifier:sign_in", SignInParams{ReturnTo: "/", FirstScreen: "identifier:sign_in"}, ""},
		{"firstScreen=single_sign_on", SignInParams{ReturnTo: "/", FirstScreen: "single_sign_on"}, ""},
		{"firstScreen=signup", SignInParams{}, "firstScreen"},
		{"firstScreen=", SignInParams{}, "firstScreen"},
		{"interactionMode=signUp", SignInParams{ReturnTo: "/", FirstScreen: "register"}, ""},
		{"interactionMode=signIn", SignInParams{ReturnTo: "/", FirstScreen: "sign_in"}, ""},
		{"interactionMode=signUp&firstScreen=register", SignInParams{ReturnTo: "/", FirstScreen: "register"}, ""},
		{"interactionMode=signUp&firstScreen=sign_in", SignInParams{}, "interactionMode"},
		{"interactionMode=register", SignInParams{}, "interactionMode"},
		{"directSignIn=social:discord", SignInParams{ReturnTo: "/", DirectSignIn: "social:discord"}, ""},
		{"directSignIn=social:my_connector-2", SignInParams{ReturnTo: "/", DirectSignIn: "social:my_connector-2"}, ""},
		{"directSignIn=sso:AbC123", SignInParams{ReturnTo: "/", DirectSignIn: "sso:AbC123"}, ""},
		{"directSignIn=social:Discord", SignInParams{}, "directSignIn"},
		{"directSignIn=social:", SignInParams{}, "directSignIn"},
		{"directSignIn=discord", SignInParams{}, "directSignIn"},
		{"directSignIn=social:dis%20cord", SignInParams{}, "directSignIn"},
		{"directSignIn=saml:x", SignInParams{}, "directSignIn"},
		{"directSignIn=social:" + strings.Repeat("a", 65), SignInParams{}, "directSignIn"},
		{"loginHint=alice@example.com", SignInParams{ReturnTo: "/", LoginHint: "alice@example.com"}, ""},
		{"loginHint=J%C3%BCrgen", SignInParams{ReturnTo: "/", LoginHint: "Jürgen"}, ""},
		{"loginHint=", SignInParams{}, "loginHint"},
		{"loginHint=a%0Ab", SignInParams{}, "loginHint"},
		{"loginHint=%20a", SignInParams{}, "loginHint"},
		{"loginHint=" + strings.Repeat("a", MaxLoginHintLength+1), SignInParams{}, "loginHint"},
		{"loginHint=%FF", SignInParams{}, "loginHint"},
		{"prompt=login", SignInParams{}, "prompt"},
		{"first_screen=register", SignInParams{}, "first_screen"},
		{"returnTo=/a&returnTo=/b", SignInParams{}, "returnTo"},
		{"firstScreen=register&firstScreen=register", SignInParams{}, "firstScreen"},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			q, err := url.ParseQuery(tt.query)
			if err != nil {
				t.Fatal(err)
			}
			got, err := ParseSignInParams(q)
			if tt.wantParam != "" {
				var pe *ParamError
				if !errors.As(err, &pe) || pe.Param != tt.wantParam {
					t.Fatalf("err = %v, want ParamError for %s", err, tt.wantParam)
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if got != tt.want {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func FuzzParseSignInParams(f *testing.F) {
	seeds := []string{
		"", "returnTo=/x&firstScreen=register", "interactionMode=signUp", "directSignIn=social:discord",
		"directSignIn=sso:abc&loginHint=a@b.c", "loginHint=%0A", "x=1", "firstScreen=identifier:register",
		"returnTo=%2F%2Fevil", "directSignIn=social:a:b", "loginHint=%E2%80%AE",
	}
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		p, err := ParseSignInParams(q)
		if err != nil {
			var pe *ParamError
			if !errors.As(err, &pe) || pe.Param == "" || pe.Message == "" {
				t.Fatalf("error %v is not a complete *ParamError", err)
			}
			return
		}
		sameOrigin(t, q.Get("returnTo"), p.ReturnTo)
		if p.FirstScreen != "" && !contains(FirstScreens, p.FirstScreen) {
			t.Fatalf("accepted firstScreen %q", p.FirstScreen)
		}
		if p.DirectSignIn != "" && !validDirectSignIn(p.DirectSignIn) {
			t.Fatalf("accepted directSignIn %q", p.DirectSignIn)
		}
		if p.DirectSignIn != "" && strings.ContainsAny(p.DirectSignIn, " &?#=%/\\") {
			t.Fatalf("directSignIn %q carries URL syntax", p.DirectSignIn)
		}
		if p.LoginHint != "" && (len(p.LoginHint) > MaxLoginHintLength || strings.ContainsAny(p.LoginHint, "\r\n\x00")) {
			t.Fatalf("accepted loginHint %q", p.LoginHint)
		}
	})
}

func TestSanitizeErrorCode(t *testing.T) {
	for in, want := range map[string]string{
		"access_denied": "access_denied", "Login_Required": "login_required", "a-b c": "abc",
		"": "unknown_error", "<script>": "script", "\u212a": "k", "%%%": "unknown_error",
	} {
		if got := SanitizeErrorCode(in); got != want {
			t.Errorf("SanitizeErrorCode(%q) = %q, want %q", in, got, want)
		}
	}
	if got := SanitizeErrorCode(strings.Repeat("a", 100)); len(got) != maxErrorCodeLength {
		t.Errorf("length %d", len(got))
	}
}
