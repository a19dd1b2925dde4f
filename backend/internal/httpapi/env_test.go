package httpapi

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/logto-bff/bff/backend/internal/authflow"
	"github.com/logto-bff/bff/backend/internal/authflow/authflowtest"
	"github.com/logto-bff/bff/backend/internal/contracttest"
	"github.com/logto-bff/bff/backend/internal/devidp"
	"github.com/logto-bff/bff/backend/internal/devidp/devidptest"
	"github.com/logto-bff/bff/backend/internal/kittest"
	"github.com/logto-bff/bff/backend/internal/redistest"
	"github.com/logto-bff/bff/backend/internal/session"
	"github.com/logto-bff/bff/backend/internal/signin"
)

const (
	clientID     = "bff-test-app"
	clientSecret = "bff-test-app-secret"
	testSecret   = "test-session-secret-0123456789abcdef"
	storeMemory  = "memory"
	storeRedis   = "redis"
)

var stores = []string{storeMemory, storeRedis}

// env is one BFF (real handler, httptest server) in front of one dev IdP
// (httptest server) with a memory or Redis session store.
type env struct {
	t        testing.TB
	idp      *devidp.Provider
	idpSrv   *httptest.Server
	idpUp    *atomic.Bool // false: the IdP answers 503 (Logto not up yet)
	bff      *httptest.Server
	sessions *session.Manager
	signin   *signin.Keeper
	redis    *redistest.Server
	auth     *authflow.Discovery
	logs     *kittest.LogBuffer
	handler  http.Handler // the router e.bff serves, for in-process benchmarks
}

type envOptions struct {
	idpDown bool             // start with the IdP answering 503
	spaDir  string           // BFF_SPA_DIR
	now     func() time.Time // the session store's and sign-in's clock; nil = time.Now
	// routerLog, when set, is the router's logger (its request lines)
	// instead of the env's in-memory JSON log at debug.
	routerLog *slog.Logger
	// requestLog is Options.RequestLog.
	requestLog *RequestLog
	// nearCache, with the Redis store, gives it a near-cache of that many
	// entries.
	nearCache int
}

func newEnv(t testing.TB, store string, o envOptions) *env {
	t.Helper()
	e := &env{t: t, logs: &kittest.LogBuffer{}}
	gate := kittest.NewGate(t, "starting", nil)
	e.idpSrv, e.idpUp = gate.Server, &gate.Up
	e.idpUp.Store(!o.idpDown)

	var bffHandler atomic.Pointer[http.Handler]
	e.bff = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		(*bffHandler.Load()).ServeHTTP(w, r)
	}))
	publicURL := "http://" + e.bff.Listener.Addr().String()

	idp, err := devidp.New(devidp.Config{
		Issuer: e.idpSrv.URL + "/oidc",
		Clients: []devidp.Client{{
			ID: clientID, Secret: clientSecret,
			RedirectURIs:           []string{publicURL + "/auth/callback"},
			PostLogoutRedirectURIs: []string{publicURL + "/"},
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	e.idp = idp
	gate.Serve(idp)

	logger := slog.New(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	scfg := session.Config{Secret: []byte(testSecret), Secure: false, Logger: logger, Now: o.now}
	switch store {
	case storeMemory:
		e.sessions, err = session.NewMemory(scfg)
	case storeRedis:
		e.redis = redistest.Start(t, redistest.WithPersistence())
		if o.nearCache > 0 {
			e.sessions, err = session.New(scfg, openRedisStore(t, e.redis.URL(), o.nearCache))
		} else {
			e.sessions, err = session.NewRedis(scfg, e.redis.URL())
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.sessions.Close() })
	e.signin, err = signin.New(signin.Config{Secret: []byte(testSecret), Marker: e.sessions, Now: o.now})
	if err != nil {
		t.Fatal(err)
	}

	e.auth = authflowtest.StartDiscovery(t, authflow.Config{
		Issuer:                e.idpSrv.URL + "/oidc",
		ClientID:              clientID,
		ClientSecret:          clientSecret,
		RedirectURL:           publicURL + "/auth/callback",
		PostLogoutRedirectURL: publicURL + "/",
		Scopes:                []string{"openid", "profile", "email", "offline_access", "identities", "roles", "urn:logto:scope:organizations", "urn:logto:scope:organization_roles", "custom_data"},
		Resources:             []string{devidp.DefaultResourceIndicator},
		ClockSkew:             time.Minute,
	}, logger)
	if !o.idpDown {
		e.waitDiscovered()
	}

	routerLog := logger
	if o.routerLog != nil {
		routerLog = o.routerLog
	}
	h, err := New(Options{
		Sessions:   e.sessions,
		SignIn:     e.signin,
		Auth:       e.auth,
		PublicURL:  publicURL,
		IdPOrigin:  e.idpSrv.URL,
		SPADir:     o.spaDir,
		Logger:     routerLog,
		RequestLog: o.requestLog,
	})
	if err != nil {
		t.Fatal(err)
	}
	bffHandler.Store(&h)
	e.handler = h
	e.bff.Start()
	t.Cleanup(e.bff.Close)
	return e
}

func (e *env) waitDiscovered() {
	e.t.Helper()
	authflowtest.WaitDiscovered(e.t, e.auth)
}

func (e *env) url(path string) string { return e.bff.URL + path }
func (e *env) issuer() string         { return e.idpSrv.URL + "/oidc" }

// browser is a cookie-jar client for one browser profile. It follows
// redirects to the IdP and to the BFF's /auth routes, and stops at any
// other BFF URL (the SPA), so a test sees where sign-in lands. Traffic to the
// BFF is checked against api/openapi.yaml unless unchecked is set.
type browser struct {
	e      *env
	client *http.Client
	jar    http.CookieJar
}

func (e *env) browser(t testing.TB) *browser { return e.newBrowser(t, true) }

// uncheckedBrowser skips the contract check, for requests the spec does not
// describe (the SPA, attacks on purpose with undocumented shapes).
func (e *env) uncheckedBrowser(t testing.TB) *browser { return e.newBrowser(t, false) }

func (e *env) newBrowser(t testing.TB, checked bool) *browser {
	jar, _ := cookiejar.New(nil)
	bffHost := strings.TrimPrefix(e.bff.URL, "http://")
	var rt http.RoundTripper = http.DefaultTransport
	if checked {
		rt = contracttest.Transport(t, bffHost, nil)
	}
	return &browser{e: e, jar: jar, client: &http.Client{
		Jar: jar, Transport: rt, Timeout: 15 * time.Second,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) > 10 {
				return http.ErrUseLastResponse
			}
			if req.URL.Host == bffHost && !strings.HasPrefix(req.URL.Path, "/auth/") {
				return http.ErrUseLastResponse
			}
			return nil
		},
	}}
}

// noFollow is the same browser (same jar) without following redirects.
func (b *browser) noFollow() *http.Client {
	c := *b.client
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &c
}

func (b *browser) do(t testing.TB, req *http.Request) (*http.Response, []byte) {
	t.Helper()
	resp, err := b.noFollow().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

func (b *browser) get(t testing.TB, path string, header ...string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, b.e.url(path), nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return b.do(t, req)
}

// api GETs an /api path with X-CSRF: 1 and decodes the JSON body.
func (b *browser) api(t testing.TB, path string) (int, map[string]any) {
	t.Helper()
	resp, body := b.get(t, path, "X-CSRF", "1", "Accept", "application/json")
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("%s: %d non-JSON body %q", path, resp.StatusCode, body)
	}
	return resp.StatusCode, m
}

// beginSignIn GETs /auth/sign-in?query and returns the authorization URL.
func (b *browser) beginSignIn(t testing.TB, query string) string {
	t.Helper()
	resp, body := b.get(t, "/auth/sign-in?"+query)
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("sign-in: %d %s", resp.StatusCode, body)
	}
	return resp.Header.Get("Location")
}

// authorize completes the IdP's sign-in for authURL as user ("alice" or
// "nelly" via Discord) and returns the BFF's answer to the callback.
func (b *browser) authorize(t testing.TB, authURL, user string) *http.Response {
	t.Helper()
	ctx := context.Background()
	var resp *http.Response
	var err error
	if user == "nelly" {
		resp, err = devidptest.SignInWithDiscord(ctx, b.client, authURL)
	} else {
		resp, err = devidptest.SignIn(ctx, b.client, authURL, devidp.AliceUsername, devidp.AlicePassword)
	}
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

// signIn runs a whole sign-in and requires a 303 from the callback.
func (b *browser) signIn(t testing.TB, query, user string) *http.Response {
	t.Helper()
	resp := b.authorize(t, b.beginSignIn(t, query), user)
	if resp.StatusCode != http.StatusSeeOther || resp.Request.URL.Path != "/auth/callback" {
		t.Fatalf("callback answered %d at %s", resp.StatusCode, resp.Request.URL.Path)
	}
	return resp
}

// callbackURL signs in at the IdP but stops before the BFF's callback,
// returning the callback URL the IdP redirected to.
func (b *browser) callbackURL(t testing.TB, authURL string) *url.URL {
	t.Helper()
	bffHost := strings.TrimPrefix(b.e.bff.URL, "http://")
	c := *b.client
	c.CheckRedirect = func(req *http.Request, _ []*http.Request) error {
		if req.URL.Host == bffHost {
			return http.ErrUseLastResponse
		}
		return nil
	}
	resp, err := devidptest.SignIn(context.Background(), &c, authURL, devidp.AliceUsername, devidp.AlicePassword)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, err := resp.Location()
	if err != nil || loc.Path != "/auth/callback" {
		t.Fatalf("IdP answered %d %v, want a redirect to the callback", resp.StatusCode, loc)
	}
	return loc
}

// sessionCookie returns the browser's session cookie value, or "".
func (b *browser) sessionCookie() string { return b.cookieValue("bff-session") }

// cookieValue returns the value of the browser's BFF cookie name, or "".
func (b *browser) cookieValue(name string) string {
	u, _ := url.Parse(b.e.bff.URL)
	for _, c := range b.jar.Cookies(u) {
		if c.Name == name {
			return c.Value
		}
	}
	return ""
}

// setCookie puts a cookie into the browser's jar.
func (b *browser) setCookie(name, value string) {
	u, _ := url.Parse(b.e.bff.URL)
	b.jar.SetCookies(u, []*http.Cookie{{Name: name, Value: value, Path: "/"}})
}

// storedSession loads the server-side session a cookie value points to.
func (e *env) storedSession(t testing.TB, cookie string) (*session.Session, error) {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.AddCookie(&http.Cookie{Name: e.sessions.CookieName(), Value: cookie})
	return e.sessions.Load(httptest.NewRecorder(), req)
}

// errorCode decodes the error shape and checks it is exactly that shape.
func errorCode(t testing.TB, body []byte) string {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("not JSON: %q", body)
	}
	code, _ := m["error"].(string)
	desc, _ := m["error_description"].(string)
	if len(m) != 2 || code == "" || desc == "" {
		t.Fatalf("not the error shape: %s", body)
	}
	return code
}
