package devidp

import (
	"context"
	"github.com/logto-bff/bff/backend/internal/devidp/devidptest"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// interactionURL opens authURL in b and returns the page it lands on.
func openAuth(t *testing.T, b *http.Client, authURL string) (status int, body, pageURL string) {
	t.Helper()
	resp, err := b.Get(authURL)
	if err != nil {
		t.Fatal(err)
	}
	body = readBody(t, resp)
	return resp.StatusCode, body, resp.Request.URL.String()
}

func TestSignInPage(t *testing.T) {
	e := newEnv(t)
	status, body, pageURL := openAuth(t, e.browser(t), e.authURL("openid", nil))
	if status != 200 || !strings.HasPrefix(pageURL, e.issuer+"/interaction/") {
		t.Fatalf("%d at %s", status, pageURL)
	}
	for _, want := range []string{
		banner, `<h1 id="title">Sign in</h1>`, `<label for="identifier">Username or email</label>`,
		`<label for="password">Password</label>`, `method="post"`, "Continue with Discord", "Create account",
		`name="viewport"`, ":focus-visible", "Test App",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("sign-in page lacks %q", want)
		}
	}
}

func TestWrongPasswordShowsFormAgain(t *testing.T) {
	e := newEnv(t)
	b := e.browser(t)
	resp, err := devidptest.SignIn(context.Background(), b, e.authURL("openid", nil), AliceUsername, "wrong")
	if err != nil {
		t.Fatal(err)
	}
	body := readBody(t, resp)
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, "Incorrect username or password.") ||
		!strings.Contains(body, `value="alice"`) || !strings.Contains(body, banner) {
		t.Fatalf("wrong password: %d", resp.StatusCode)
	}
	// nelly has no password: the form refuses any.
	resp, _ = devidptest.SignIn(context.Background(), e.browser(t), e.authURL("openid", nil), "nelly@discord.com", "")
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("passwordless user: %d", resp.StatusCode)
	}
	resp.Body.Close()
	// Email works as identifier.
	e.signIn(t, e.browser(t), e.authURL("openid", nil), "ALICE@example.test", AlicePassword)
}

func TestSignInFormNeedsInteractionCookie(t *testing.T) {
	e := newEnv(t)
	_, _, pageURL := openAuth(t, e.browser(t), e.authURL("openid", nil))
	form := url.Values{"identifier": {AliceUsername}, "password": {AlicePassword}}
	// Another browser (no cookie) posting to this interaction: the CSRF case.
	resp, err := e.browser(t).PostForm(pageURL, form)
	if err != nil {
		t.Fatal(err)
	}
	body := readBody(t, resp)
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "Sign-in session not found") {
		t.Fatalf("cross-browser post: %d", resp.StatusCode)
	}
	status, _, _ := getPage(t, e.browser(t), pageURL)
	if status != http.StatusBadRequest {
		t.Fatalf("cross-browser get: %d", status)
	}
	// A finished interaction cannot be replayed.
	b := e.browser(t)
	_, _, pageURL = openAuth(t, b, e.authURL("openid", nil))
	resp, _ = b.PostForm(pageURL, form)
	callback(t, resp)
	resp, _ = b.PostForm(pageURL, form)
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("replayed interaction: %d", resp.StatusCode)
	}
	resp.Body.Close()
}

func TestLoginHintAndIdentifier(t *testing.T) {
	e := newEnv(t)
	_, body, _ := openAuth(t, e.browser(t), e.authURL("openid", url.Values{"login_hint": {"alice"}, "identifier": {"email"}, "ui_locales": {"fr-CA en"}}))
	for _, want := range []string{`id="identifier" name="identifier" value="alice"`, `<label for="identifier">Email</label>`, `<html lang="fr-CA">`} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q", want)
		}
	}
}

// Logto ignores every extra parameter when one of them is invalid.
func TestExtraParamsIgnoredAsAGroup(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		name        string
		extra       url.Values
		wantScreen  string // "sign-in", "register" or "discord"
		wantPrefill bool
	}{
		{"all valid", url.Values{"login_hint": {"alice"}, "first_screen": {"sign_in"}}, "sign-in", true},
		{"bad first_screen drops login_hint", url.Values{"login_hint": {"alice"}, "first_screen": {"bogus"}}, "sign-in", false},
		{"bad ui_locales drops first_screen", url.Values{"first_screen": {"register"}, "ui_locales": {"!!"}}, "sign-in", false},
		{"bad identifier drops direct_sign_in", url.Values{"direct_sign_in": {"social:discord"}, "identifier": {"nickname"}}, "sign-in", false},
		{"bad direct_sign_in drops login_hint", url.Values{"direct_sign_in": {"discord"}, "login_hint": {"alice"}}, "sign-in", false},
		{"bad organization_id drops register", url.Values{"interaction_mode": {"signUp"}, "organization_id": {"a b"}}, "sign-in", false},
		{"bad interaction_mode drops login_hint", url.Values{"interaction_mode": {"register"}, "login_hint": {"alice"}}, "sign-in", false},
		{"register", url.Values{"first_screen": {"register"}, "organization_id": {"org_acme"}}, "register", false},
		{"legacy signUp", url.Values{"interaction_mode": {"signUp"}}, "register", false},
		{"direct discord", url.Values{"direct_sign_in": {"social:discord"}}, "discord", false},
		{"unhonourable direct sign-in falls back", url.Values{"direct_sign_in": {"sso:abc"}, "login_hint": {"alice"}}, "sign-in", true},
	}
	markers := map[string]string{"sign-in": `id="sign-in"`, "register": `id="register"`, "discord": `id="discord-authorize"`}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, body, _ := openAuth(t, e.browser(t), e.authURL("openid", tc.extra))
			if status != 200 || !strings.Contains(body, markers[tc.wantScreen]) {
				t.Fatalf("want %s screen, got %d", tc.wantScreen, status)
			}
			if got := strings.Contains(body, `value="alice"`); got != tc.wantPrefill {
				t.Fatalf("prefilled = %v, want %v", got, tc.wantPrefill)
			}
		})
	}
}

func TestRegister(t *testing.T) {
	e := newEnv(t)
	b := e.browser(t)
	status, body, pageURL := openAuth(t, b, e.authURL("openid profile email", url.Values{"first_screen": {"register"}}))
	if status != 200 || !strings.Contains(body, "Create your account") || !strings.Contains(body, banner) || !strings.Contains(body, `id="sign-in-instead"`) {
		t.Fatalf("register page: %d", status)
	}
	bad := []struct {
		form  url.Values
		field string
	}{
		{url.Values{"username": {AliceUsername}, "password": {"long-enough"}}, "This username is already taken."},
		{url.Values{"username": {"9lives"}, "password": {"long-enough"}}, "Use letters, digits and underscores"},
		{url.Values{"username": {"bob"}, "password": {"short"}}, "Use at least 8 characters."},
		{url.Values{"username": {"bob"}, "password": {"long-enough"}, "email": {"not-an-email"}}, "Enter a valid email address"},
	}
	for _, tc := range bad {
		resp, err := b.PostForm(pageURL, tc.form)
		if err != nil {
			t.Fatal(err)
		}
		body := readBody(t, resp)
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, tc.field) {
			t.Fatalf("%v: %d, want error %q", tc.form, resp.StatusCode, tc.field)
		}
	}
	resp, err := b.PostForm(pageURL, url.Values{"username": {"bob"}, "password": {"bob-password"}, "name": {"Bob"}, "email": {"bob@example.test"}})
	if err != nil {
		t.Fatal(err)
	}
	tokens := e.exchange(t, callback(t, resp).Get("code"))
	_, claims := e.decodeJWT(t, str(tokens["id_token"]))
	if claims["username"] != "bob" || claims["name"] != "Bob" || claims["email"] != "bob@example.test" || claims["email_verified"] != false || claims["picture"] != nil {
		t.Fatalf("new user's id token %v", claims)
	}
	// The account really exists: it can sign in with its password.
	e.signIn(t, e.browser(t), e.authURL("openid", nil), "bob", "bob-password")
	// SignIn follows the "Sign in" link from the register screen.
	e.signIn(t, e.browser(t), e.authURL("openid", url.Values{"first_screen": {"register"}}), "bob", "bob-password")
}

func TestDiscordSignIn(t *testing.T) {
	e := newEnv(t)
	b := e.browser(t)
	status, body, pageURL := openAuth(t, b, e.authURL("openid profile", url.Values{"direct_sign_in": {"social:discord"}}))
	if status != 200 || !strings.Contains(body, "SIMULATED DISCORD") || !strings.Contains(body, "Authorize") || !strings.Contains(body, banner) {
		t.Fatalf("discord page: %d", status)
	}
	// Cancel: back on the sign-in page with an error, no callback.
	resp, err := b.PostForm(pageURL, url.Values{"decision": {"cancel"}})
	if err != nil {
		t.Fatal(err)
	}
	body = readBody(t, resp)
	if resp.StatusCode != 200 || !strings.Contains(body, "Discord sign-in was cancelled.") || !strings.Contains(body, `id="sign-in"`) {
		t.Fatalf("cancel: %d", resp.StatusCode)
	}
	// Through the sign-in page's button.
	resp, err = devidptest.SignInWithDiscord(context.Background(), e.browser(t), e.authURL("openid profile", nil))
	if err != nil {
		t.Fatal(err)
	}
	tokens := e.exchange(t, callback(t, resp).Get("code"))
	_, claims := e.decodeJWT(t, str(tokens["id_token"]))
	if claims["sub"] != NellyID || claims["username"] != nil || claims["name"] != "nelly" {
		t.Fatalf("nelly id token %v", claims)
	}
}
