package authflow

import (
	"context"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/logto-bff/bff/backend/internal/devidp"
	"github.com/logto-bff/bff/backend/internal/devidp/devidptest"
)

const (
	testClientID     = "bff-test-client"
	testClientSecret = "bff-test-secret"
	testRedirect     = "http://bff.test/auth/callback"
	testPostLogout   = "http://bff.test/"
)

// clock is a settable clock shared by the IdP and the client under test.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

type fixture struct {
	idp     *devidp.Provider
	srv     *httptest.Server
	client  *Client
	idpTime *clock
	bffTime *clock
}

// newFixture serves a devidp in httptest and discovers it.
func newFixture(t *testing.T, mutate func(*Config)) *fixture {
	t.Helper()
	start := time.Date(2026, 11, 25, 19, 0, 0, 0, time.UTC)
	f := &fixture{idpTime: &clock{t: start}, bffTime: &clock{t: start}}
	var handler http.Handler = http.NotFoundHandler()
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { handler.ServeHTTP(w, r) }))
	t.Cleanup(f.srv.Close)
	idp, err := devidp.New(devidp.Config{
		Issuer: f.srv.URL + "/oidc",
		Clients: []devidp.Client{{
			ID: testClientID, Secret: testClientSecret,
			RedirectURIs:           []string{testRedirect},
			PostLogoutRedirectURIs: []string{testPostLogout},
		}},
		Now: f.idpTime.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	f.idp, handler = idp, idp
	cfg := Config{
		Issuer:                f.srv.URL + "/oidc",
		ClientID:              testClientID,
		ClientSecret:          testClientSecret,
		RedirectURL:           testRedirect,
		PostLogoutRedirectURL: testPostLogout,
		Scopes:                []string{"openid", "profile", "email", "offline_access", "identities", "roles", "urn:logto:scope:organizations", "urn:logto:scope:organization_roles", "custom_data"},
		Resources:             []string{devidp.DefaultResourceIndicator, devidp.OrganizationsResource},
		ClockSkew:             time.Minute,
		Now:                   f.bffTime.Now,
	}
	if mutate != nil {
		mutate(&cfg)
	}
	c, err := Discover(context.Background(), cfg)
	if err != nil {
		t.Fatalf("Discover: %v", err)
	}
	f.client = c
	return f
}

// browser is a cookie-jar client that stops at redirects leaving the IdP.
func (f *fixture) browser(t *testing.T) *http.Client {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	idpHost := strings.TrimPrefix(f.srv.URL, "http://")
	return &http.Client{Jar: jar, Timeout: 10 * time.Second, CheckRedirect: func(req *http.Request, _ []*http.Request) error {
		if req.URL.Host != idpHost {
			return http.ErrUseLastResponse
		}
		return nil
	}}
}

// callback is the query the IdP sent the browser back with.
func callbackQuery(t *testing.T, resp *http.Response, err error) url.Values {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	loc, lerr := resp.Location()
	if lerr != nil || !strings.HasPrefix(loc.String(), testRedirect) {
		t.Fatalf("expected a redirect to the callback, got %d %v", resp.StatusCode, loc)
	}
	return loc.Query()
}

// authCodeURL runs NewAttempt with a random state (package signin seals
// the attempt into it in production) and AuthCodeURL.
func (f *fixture) authCodeURL(p SignInParams) (string, Attempt, error) {
	a, err := f.client.NewAttempt(p)
	if err != nil {
		return "", Attempt{}, err
	}
	if a.State, err = randomToken(f.client.cfg.Rand); err != nil {
		return "", Attempt{}, err
	}
	u, err := f.client.AuthCodeURL(p, a)
	return u, a, err
}

// signIn runs authCodeURL and the IdP's sign-in form; it returns the
// attempt and the callback query.
func (f *fixture) signIn(t *testing.T, p SignInParams, discord bool) (Attempt, url.Values) {
	t.Helper()
	authURL, attempt, err := f.authCodeURL(p)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if discord {
		resp, err := devidptest.SignInWithDiscord(ctx, f.browser(t), authURL)
		return attempt, callbackQuery(t, resp, err)
	}
	resp, err := devidptest.SignIn(ctx, f.browser(t), authURL, devidp.AliceUsername, devidp.AlicePassword)
	return attempt, callbackQuery(t, resp, err)
}
