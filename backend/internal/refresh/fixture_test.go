package refresh_test

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/logto-bff/bff/backend/internal/authflow"
	"github.com/logto-bff/bff/backend/internal/authflow/authflowtest"
	"github.com/logto-bff/bff/backend/internal/background"
	"github.com/logto-bff/bff/backend/internal/devidp"
	"github.com/logto-bff/bff/backend/internal/metrics"
	"github.com/logto-bff/bff/backend/internal/redistest"
	"github.com/logto-bff/bff/backend/internal/refresh"
	"github.com/logto-bff/bff/backend/internal/session"
)

const (
	clientID     = "refresh-test-app"
	clientSecret = "refresh-test-secret"
	redirectURL  = "http://bff.test/auth/callback"
	testSecret   = "refresh-test-session-secret-0123456789"
	// defaultMargin is BFF_REFRESH_MARGIN's default.
	defaultMargin = 60 * time.Second
)

// clock is the settable clock shared by the dev IdP and every replica.
// It stands still unless Run makes it follow real time.
type clock struct {
	mu    sync.Mutex
	t     time.Time
	since time.Time // when running: t is the time at since
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.since.IsZero() {
		return c.t.Add(time.Since(c.since))
	}
	return c.t
}

// Run makes the clock advance with real time from now on.
func (c *clock) Run() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.since = time.Now()
}
func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// logBuffer collects the log lines of concurrent goroutines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// fixture is a dev IdP (in httptest, switchable off) and replicas — each a
// session.Manager, an authflow.Discovery and a Refresher — sharing one
// store: memory (one replica only) or a real redis-server.
type fixture struct {
	idp      *devidp.Provider
	idpSrv   *httptest.Server
	idpUp    atomic.Bool
	clock    *clock
	replicas []*replica
	logs     *logBuffer
	redis    *redistest.Server
	// beforeGrant, when set, runs before the IdP sees a token request.
	beforeGrant atomic.Pointer[func()]
}

type replica struct {
	sessions  *session.Manager
	auth      *authflow.Discovery
	metrics   *metrics.Metrics
	refresher *refresh.Refresher
	bg        *background.Tracker
}

type fixtureOptions struct {
	store     string // "memory" (default) or "redis"
	replicas  int    // default 1
	accessTTL time.Duration
	margin    time.Duration // default defaultMargin
}

func newFixture(t *testing.T, o fixtureOptions) *fixture {
	t.Helper()
	if o.replicas == 0 {
		o.replicas = 1
	}
	if o.margin == 0 {
		o.margin = defaultMargin
	}
	f := &fixture{clock: &clock{t: time.Date(2026, 12, 6, 20, 0, 0, 0, time.UTC)}, logs: &logBuffer{}}
	f.idpUp.Store(true)
	var handler atomic.Pointer[http.Handler]
	f.idpSrv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := handler.Load()
		if !f.idpUp.Load() || h == nil {
			http.Error(w, "unavailable", http.StatusServiceUnavailable)
			return
		}
		if hook := f.beforeGrant.Load(); hook != nil && strings.HasSuffix(r.URL.Path, "/token") {
			(*hook)()
		}
		(*h).ServeHTTP(w, r)
	}))
	t.Cleanup(f.idpSrv.Close)
	idp, err := devidp.New(devidp.Config{
		Issuer:         f.idpSrv.URL + "/oidc",
		Clients:        []devidp.Client{{ID: clientID, Secret: clientSecret, RedirectURIs: []string{redirectURL}}},
		AccessTokenTTL: o.accessTTL,
		Now:            f.clock.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	f.idp = idp
	var ih http.Handler = idp
	handler.Store(&ih)

	var redisURL string
	if o.store == "redis" {
		f.redis = redistest.Start(t, redistest.WithPersistence())
		redisURL = f.redis.URL()
	} else if o.replicas > 1 {
		t.Fatal("replicas share a store: use redis")
	}
	logger := slog.New(slog.NewJSONHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	for range o.replicas {
		r := &replica{metrics: metrics.New(), bg: background.New(logger)}
		scfg := session.Config{Secret: []byte(testSecret), Now: f.clock.Now, Logger: logger}
		if redisURL != "" {
			r.sessions, err = session.NewRedis(scfg, redisURL)
		} else {
			r.sessions, err = session.NewMemory(scfg)
		}
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { r.sessions.Close() })
		ctx, cancel := context.WithCancel(context.Background())
		t.Cleanup(cancel)
		r.auth = authflow.StartDiscovery(ctx, authflow.Config{
			Issuer:       f.idpSrv.URL + "/oidc",
			ClientID:     clientID,
			ClientSecret: clientSecret,
			RedirectURL:  redirectURL,
			Scopes:       []string{"openid", "profile", "offline_access", "urn:logto:scope:organizations"},
			Resources:    []string{devidp.DefaultResourceIndicator, devidp.OrganizationsResource},
			ClockSkew:    time.Minute,
			Now:          f.clock.Now,
		}, authflow.DiscoveryOptions{MinBackoff: 5 * time.Millisecond, MaxBackoff: 50 * time.Millisecond, Logger: logger})
		select {
		case <-r.auth.Ready():
		case <-time.After(5 * time.Second):
			t.Fatal("discovery did not complete")
		}
		r.refresher, err = refresh.New(refresh.Config{
			Clients: r.auth, Sessions: r.sessions, Margin: o.margin, Now: f.clock.Now,
			Logger: logger, Metrics: r.metrics, Background: r.bg,
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = r.bg.Drain(5 * time.Second) })
		f.replicas = append(f.replicas, r)
	}
	return f
}

// signIn signs alice in through replica 0 (a real authorization code flow
// against the dev IdP) and returns her session cookie.
func (f *fixture) signIn(t *testing.T) *http.Cookie {
	t.Helper()
	r := f.replicas[0]
	client, err := r.auth.Client()
	if err != nil {
		t.Fatal(err)
	}
	res, err := authflowtest.SignIn(context.Background(), client, devidp.AliceUsername, devidp.AlicePassword)
	if err != nil {
		t.Fatal(err)
	}
	w := httptest.NewRecorder()
	if _, err := r.sessions.Create(w, httptest.NewRequest(http.MethodGet, "/", nil), session.Record{
		Subject: res.Subject, SID: res.SID, Me: res.Me, Tokens: res.Tokens, AuthenticatedAt: res.AuthenticatedAt,
	}); err != nil {
		t.Fatal(err)
	}
	for _, c := range w.Result().Cookies() {
		if c.Name == r.sessions.CookieName() {
			return c
		}
	}
	t.Fatal("no session cookie")
	return nil
}

// load loads the session of cookie through replica i, as a request would.
func (f *fixture) load(t testing.TB, i int, cookie *http.Cookie) *session.Session {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, "/api/me", nil)
	req.AddCookie(cookie)
	s, err := f.replicas[i].sessions.Load(httptest.NewRecorder(), req)
	if err != nil {
		t.Fatalf("load on replica %d: %v", i, err)
	}
	return s
}

// grants is the number of refresh_token grants the IdP has answered.
func (f *fixture) grants() int { return int(f.idp.Stats().RefreshGrants) }

// refreshes is replica i's bff_token_refreshes_total{result=result}.
func (f *fixture) refreshes(t testing.TB, i int, result string) float64 {
	t.Helper()
	mfs, err := f.replicas[i].metrics.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "bff_token_refreshes_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "result" && l.GetValue() == result {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}
