package devidp

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/logto-bff/bff/backend/internal/devidp/devidptest"
	"golang.org/x/oauth2"
)

const (
	testClientID   = "test-client"
	testSecret     = "test-secret"
	testRedirect   = "https://app.example.test/auth/callback"
	testPostLogout = "https://app.example.test/"
	testVerifier   = "verifier-0123456789-0123456789-0123456789-0123456789"
)

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// env is a Provider served by a real httptest server, with a fake clock.
type env struct {
	srv    *httptest.Server
	p      *Provider
	clock  *fakeClock
	issuer string
}

// newEnv starts a Provider at <server>/oidc with one registered client
// (BackchannelLogoutSessionRequired on). mutate may change the config.
func newEnv(t *testing.T, mutate ...func(*Config)) *env {
	t.Helper()
	var h http.Handler = http.NotFoundHandler()
	var mu sync.RWMutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.RLock()
		hh := h
		mu.RUnlock()
		hh.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	clock := &fakeClock{t: time.Date(2026, 11, 25, 19, 0, 0, 0, time.UTC)}
	cfg := Config{
		Issuer: srv.URL + "/oidc",
		Clients: []Client{{
			ID: testClientID, Secret: testSecret, Name: "Test App",
			RedirectURIs: []string{testRedirect}, PostLogoutRedirectURIs: []string{testPostLogout},
			BackchannelLogoutSessionRequired: true,
		}},
		Now: clock.Now,
	}
	for _, m := range mutate {
		m(&cfg)
	}
	p, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	mu.Lock()
	h = p
	mu.Unlock()
	return &env{srv: srv, p: p, clock: clock, issuer: cfg.Issuer}
}

// browser returns a cookie-jar client that follows redirects on the IdP's
// host but stops at any other host (the app's callback).
func (e *env) browser(t *testing.T) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	idpHost := strings.TrimPrefix(e.srv.URL, "http://")
	return &http.Client{Jar: jar, CheckRedirect: func(req *http.Request, via []*http.Request) error {
		if req.URL.Host != idpHost {
			return http.ErrUseLastResponse
		}
		return nil
	}}
}

func (e *env) oauth2Config(scopes ...string) *oauth2.Config {
	return &oauth2.Config{
		ClientID: testClientID, ClientSecret: testSecret, RedirectURL: testRedirect, Scopes: scopes,
		Endpoint: oauth2.Endpoint{AuthURL: e.issuer + "/auth", TokenURL: e.issuer + "/token", AuthStyle: oauth2.AuthStyleInHeader},
	}
}

// authURL builds an authorization URL with PKCE (testVerifier), state "st"
// and nonce "n-0S6_WzA2Mj", plus extra parameters.
func (e *env) authURL(scope string, extra url.Values) string {
	v := url.Values{
		"client_id": {testClientID}, "redirect_uri": {testRedirect}, "response_type": {"code"},
		"scope": {scope}, "state": {"st"}, "nonce": {"n-0S6_WzA2Mj"},
		"code_challenge": {s256(testVerifier)}, "code_challenge_method": {"S256"},
	}
	for k, vs := range extra {
		v[k] = vs
	}
	return e.issuer + "/auth?" + v.Encode()
}

func s256(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// callback checks resp is the redirect to the app's callback and returns its
// query.
func callback(t *testing.T, resp *http.Response) url.Values {
	t.Helper()
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		body, _ := io.ReadAll(resp.Body)
		t.Fatalf("want 303 to callback, got %d: %.300s", resp.StatusCode, body)
	}
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	if got := loc.Scheme + "://" + loc.Host + loc.Path; got != testRedirect {
		t.Fatalf("redirected to %q, want %q", got, testRedirect)
	}
	return loc.Query()
}

// signIn signs in with the password form and returns the callback's code.
func (e *env) signIn(t *testing.T, browser *http.Client, authURL, user, pass string) string {
	t.Helper()
	resp, err := devidptest.SignIn(context.Background(), browser, authURL, user, pass)
	if err != nil {
		t.Fatalf("SignIn: %v", err)
	}
	q := callback(t, resp)
	if q.Get("code") == "" || q.Get("iss") != e.issuer {
		t.Fatalf("callback query %v: want code and iss=%s", q, e.issuer)
	}
	return q.Get("code")
}

// postToken POSTs form to the token endpoint with Basic client auth (unless
// basic is false) and decodes the JSON answer.
func (e *env) postToken(t *testing.T, form url.Values, basic bool) (int, map[string]any) {
	t.Helper()
	return e.postForm(t, "/token", form, basic)
}

func (e *env) postForm(t *testing.T, path string, form url.Values, basic bool) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.issuer+path, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if basic {
		req.SetBasicAuth(url.QueryEscape(testClientID), url.QueryEscape(testSecret))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var m map[string]any
	if len(body) > 0 {
		if err := json.Unmarshal(body, &m); err != nil {
			t.Fatalf("%s: body is not JSON: %.300s", path, body)
		}
	}
	return resp.StatusCode, m
}

// exchange redeems code with PKCE and returns the token response.
func (e *env) exchange(t *testing.T, code string) map[string]any {
	t.Helper()
	status, body := e.postToken(t, url.Values{
		"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {testRedirect}, "code_verifier": {testVerifier},
	}, true)
	if status != http.StatusOK {
		t.Fatalf("code exchange: %d %v", status, body)
	}
	return body
}

func (e *env) refresh(t *testing.T, rt string, extra url.Values) (int, map[string]any) {
	t.Helper()
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}
	for k, vs := range extra {
		form[k] = vs
	}
	return e.postToken(t, form, true)
}

// userinfo calls /oidc/me with a bearer token.
func (e *env) userinfo(t *testing.T, accessToken string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, e.issuer+"/me", nil)
	req.Header.Set("Authorization", "Bearer "+accessToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&m)
	return resp.StatusCode, m
}

// decodeJWT returns the header and claims of a JWT after checking its
// signature with the provider's published keys.
func (e *env) decodeJWT(t *testing.T, token string) (header, claims map[string]any) {
	t.Helper()
	claims, err := e.p.keys.verify(token)
	if err != nil {
		t.Fatalf("verify jwt: %v", err)
	}
	hb, err := base64.RawURLEncoding.DecodeString(strings.Split(token, ".")[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(hb, &header); err != nil {
		t.Fatal(err)
	}
	return header, claims
}

func str(v any) string { s, _ := v.(string); return s }

// getPage GETs rawURL with client and returns the status, body and Location.
func getPage(t *testing.T, client *http.Client, rawURL string) (int, string, string) {
	t.Helper()
	resp, err := client.Get(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), resp.Header.Get("Location")
}

// readBody reads and closes a response body.
func readBody(t *testing.T, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// keysOf returns the sorted keys of m.
func keysOf(m map[string]any) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

func sorted(s ...string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}
