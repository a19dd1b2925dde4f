package authflow

import (
	"context"
	"encoding/json"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/logto-bff/bff/backend/internal/devidp"
)

func TestAuthCodeURL(t *testing.T) {
	f := newFixture(t, nil)
	u, attempt, err := f.authCodeURL(SignInParams{ReturnTo: "/x", FirstScreen: "register", DirectSignIn: "social:discord", LoginHint: "a@b.c"})
	if err != nil {
		t.Fatal(err)
	}
	parsed, _ := url.Parse(u)
	q := parsed.Query()
	want := map[string]string{
		"response_type": "code", "client_id": testClientID, "redirect_uri": testRedirect,
		"state": attempt.State, "nonce": attempt.Nonce, "code_challenge_method": "S256",
		"code_challenge": oauth2.S256ChallengeFromVerifier(attempt.CodeVerifier),
		"prompt":         "consent", "first_screen": "register", "direct_sign_in": "social:discord", "login_hint": "a@b.c",
		"scope": strings.Join(f.client.cfg.Scopes, " "),
	}
	for k, v := range want {
		if q.Get(k) != v {
			t.Errorf("%s = %q, want %q", k, q.Get(k), v)
		}
	}
	if got := q["resource"]; len(got) != 2 || got[0] != devidp.DefaultResourceIndicator || got[1] != devidp.OrganizationsResource {
		t.Errorf("resource = %v", got)
	}
	if parsed.Scheme+"://"+parsed.Host+parsed.Path != f.srv.URL+"/oidc/auth" {
		t.Errorf("authorization endpoint = %s", parsed.Path)
	}
	if attempt.ReturnTo != "/x" || len(attempt.State) < 43 || len(attempt.CodeVerifier) < 43 || attempt.State == attempt.Nonce {
		t.Errorf("attempt = %+v", attempt)
	}
	_, again, _ := f.authCodeURL(SignInParams{ReturnTo: "/"})
	if again.State == attempt.State || again.Nonce == attempt.Nonce || again.CodeVerifier == attempt.CodeVerifier {
		t.Error("two attempts share random values")
	}
}

func TestAuthCodeURLWithoutOfflineAccessHasNoPrompt(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.Scopes = []string{"openid", "profile"}; c.Resources = nil })
	u, _, err := f.authCodeURL(SignInParams{ReturnTo: "/"})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(u, "prompt=") || strings.Contains(u, "resource=") {
		t.Errorf("unexpected prompt or resource in %s", u)
	}
}

func TestExchangePasswordUser(t *testing.T) {
	f := newFixture(t, nil)
	attempt, q := f.signIn(t, SignInParams{ReturnTo: "/"}, false)
	if q.Get("state") != attempt.State {
		t.Fatalf("state = %q", q.Get("state"))
	}
	if err := f.client.CheckIssuer(q.Get("iss")); err != nil {
		t.Fatalf("CheckIssuer(%q): %v", q.Get("iss"), err)
	}
	res, err := f.client.Exchange(context.Background(), q.Get("code"), attempt)
	if err != nil {
		t.Fatalf("Exchange: %v", err)
	}
	if res.Subject != devidp.AliceID || res.Tokens.AccessToken == "" || res.Tokens.RefreshToken == "" || res.Tokens.IDToken == "" {
		t.Fatalf("result = %+v", res)
	}
	if !res.Tokens.AccessTokenExpiry.Equal(f.bffTime.Now().Add(time.Hour)) {
		t.Errorf("access token expiry = %s", res.Tokens.AccessTokenExpiry)
	}
	if !strings.Contains(res.Tokens.Scope, "offline_access") {
		t.Errorf("scope = %q", res.Tokens.Scope)
	}
	var me map[string]any
	if err := json.Unmarshal(res.Me, &me); err != nil {
		t.Fatal(err)
	}
	if me["sub"] != devidp.AliceID || me["name"] != "Alice Example" || me["email_verified"] != true {
		t.Errorf("me = %s", res.Me)
	}
	for _, k := range []string{"roles", "organizations", "organization_roles"} {
		if arr, _ := me[k].([]any); len(arr) == 0 {
			t.Errorf("%s empty: %s", k, res.Me)
		}
	}
	for _, tok := range f.idp.IssuedTokens() {
		if strings.Contains(string(res.Me), tok) {
			t.Fatal("rendered user contains a token")
		}
	}
	if st := f.idp.Stats(); st.AuthCodeGrants != 1 {
		t.Errorf("AuthCodeGrants = %d", st.AuthCodeGrants)
	}
	// The code is single-use: a second exchange is rejected by the IdP.
	if _, err := f.client.Exchange(context.Background(), q.Get("code"), attempt); !errors.Is(err, ErrRejected) {
		t.Errorf("replayed code: err = %v, want ErrRejected", err)
	}
}

func TestExchangeDiscordUser(t *testing.T) {
	f := newFixture(t, nil)
	attempt, q := f.signIn(t, SignInParams{ReturnTo: "/", DirectSignIn: "social:discord"}, true)
	res, err := f.client.Exchange(context.Background(), q.Get("code"), attempt)
	if err != nil {
		t.Fatalf("Exchange: %v", err)
	}
	var me struct {
		Sub        string  `json:"sub"`
		Username   *string `json:"username"`
		Identities map[string]struct {
			UserID  string `json:"userId"`
			Details struct {
				RawData map[string]any `json:"rawData"`
			} `json:"details"`
		} `json:"identities"`
	}
	if err := json.Unmarshal(res.Me, &me); err != nil {
		t.Fatal(err)
	}
	if me.Sub != devidp.NellyID || me.Username != nil || me.Identities["discord"].UserID != devidp.DiscordUserID ||
		me.Identities["discord"].Details.RawData["global_name"] != "Nelly" {
		t.Errorf("me = %s", res.Me)
	}
}

func TestExchangeRejections(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Attempt)
		want   error
	}{
		{"wrong nonce", func(a *Attempt) { a.Nonce = "other" }, ErrInvalidIDToken},
		{"empty nonce", func(a *Attempt) { a.Nonce = "" }, ErrInvalidIDToken},
		{"wrong PKCE verifier", func(a *Attempt) { a.CodeVerifier = strings.Repeat("x", 43) }, ErrRejected},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, nil)
			attempt, q := f.signIn(t, SignInParams{ReturnTo: "/"}, false)
			tt.mutate(&attempt)
			_, err := f.client.Exchange(context.Background(), q.Get("code"), attempt)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
}

// TestClockLeeway: go-oidc allows no leeway, so exp/iat are checked here
// with Config.ClockSkew (1 minute in the fixture) against the client clock.
func TestClockLeeway(t *testing.T) {
	tests := []struct {
		name   string
		offset time.Duration // BFF clock relative to the IdP's at exchange
		ok     bool
	}{
		{"in sync", 0, true},
		{"BFF behind within leeway (iat in future)", -50 * time.Second, true},
		{"BFF behind beyond leeway", -2 * time.Minute, false},
		{"expired within leeway", devidp.DefaultIDTokenTTL + 50*time.Second, true},
		{"expired beyond leeway", devidp.DefaultIDTokenTTL + 70*time.Second, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, nil)
			attempt, q := f.signIn(t, SignInParams{ReturnTo: "/"}, false)
			f.bffTime.Set(f.idpTime.Now().Add(tt.offset))
			_, err := f.client.Exchange(context.Background(), q.Get("code"), attempt)
			if tt.ok && err != nil {
				t.Fatalf("Exchange: %v", err)
			}
			if !tt.ok && !errors.Is(err, ErrInvalidIDToken) {
				t.Fatalf("err = %v, want ErrInvalidIDToken", err)
			}
		})
	}
}

func TestKeyRotationRefetchesJWKS(t *testing.T) {
	f := newFixture(t, nil)
	attempt, q := f.signIn(t, SignInParams{ReturnTo: "/"}, false)
	if _, err := f.client.Exchange(context.Background(), q.Get("code"), attempt); err != nil {
		t.Fatal(err)
	}
	if err := f.idp.RotateSigningKey(); err != nil {
		t.Fatal(err)
	}
	attempt, q = f.signIn(t, SignInParams{ReturnTo: "/"}, false)
	if _, err := f.client.Exchange(context.Background(), q.Get("code"), attempt); err != nil {
		t.Fatalf("after rotation: %v", err)
	}
}

func TestCheckIssuer(t *testing.T) {
	f := newFixture(t, nil)
	for _, tt := range []struct {
		iss string
		ok  bool
	}{
		{f.srv.URL + "/oidc", true},
		{"", false}, // Logto advertises authorization_response_iss_parameter_supported
		{"https://evil.example/oidc", false},
		{f.srv.URL + "/oidc/", false},
	} {
		err := f.client.CheckIssuer(tt.iss)
		if tt.ok != (err == nil) || (err != nil && !errors.Is(err, ErrIssuerMismatch)) {
			t.Errorf("CheckIssuer(%q) = %v", tt.iss, err)
		}
	}
}

func TestUnreachableProviderIsUnavailable(t *testing.T) {
	f := newFixture(t, nil)
	attempt, q := f.signIn(t, SignInParams{ReturnTo: "/"}, false)
	f.srv.CloseClientConnections()
	f.srv.Close()
	if _, err := f.client.Exchange(context.Background(), q.Get("code"), attempt); !errors.Is(err, ErrUnavailable) {
		t.Errorf("Exchange: %v, want ErrUnavailable", err)
	}
	if err := f.client.Revoke(context.Background(), "rt"); !errors.Is(err, ErrUnavailable) {
		t.Errorf("Revoke: %v, want ErrUnavailable", err)
	}
	if _, err := Discover(context.Background(), f.client.cfg); !errors.Is(err, ErrUnavailable) {
		t.Errorf("Discover: %v, want ErrUnavailable", err)
	}
}

func TestDiscoverRequiresConfig(t *testing.T) {
	if _, err := Discover(context.Background(), Config{}); err == nil || errors.Is(err, ErrUnavailable) {
		t.Fatalf("err = %v, want a configuration error", err)
	}
}
