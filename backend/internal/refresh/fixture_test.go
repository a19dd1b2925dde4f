package refresh_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/logto-bff/bff/backend/internal/authflow"
	"github.com/logto-bff/bff/backend/internal/authflow/authflowtest"
	"github.com/logto-bff/bff/backend/internal/background"
	"github.com/logto-bff/bff/backend/internal/devidp"
	"github.com/logto-bff/bff/backend/internal/kittest"
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

// fixture is a dev IdP (in httptest, switchable off) and replicas — each a
// session.Manager, an authflow.Discovery and a Refresher — sharing one
// store: memory (one replica only) or a real redis-server.
type fixture struct {
	idp      *devidp.Provider
	idpSrv   *httptest.Server
	idpUp    *atomic.Bool   // false: the IdP answers 503
	clock    *kittest.Clock // shared by the dev IdP and every replica
	replicas []*replica
	logs     *kittest.LogBuffer
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
	f := &fixture{clock: kittest.NewClock(time.Date(2026, 12, 6, 20, 0, 0, 0, time.UTC)), logs: &kittest.LogBuffer{}}
	gate := kittest.NewGate(t, "unavailable", func(_ http.ResponseWriter, r *http.Request) bool {
		if hook := f.beforeGrant.Load(); hook != nil && strings.HasSuffix(r.URL.Path, "/token") {
			(*hook)()
		}
		return true
	})
	f.idpSrv, f.idpUp = gate.Server, &gate.Up
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
	gate.Serve(idp)

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
		r.auth = authflowtest.StartDiscovery(t, authflow.Config{
			Issuer:       f.idpSrv.URL + "/oidc",
			ClientID:     clientID,
			ClientSecret: clientSecret,
			RedirectURL:  redirectURL,
			Scopes:       []string{"openid", "profile", "offline_access", "urn:logto:scope:organizations"},
			Resources:    []string{devidp.DefaultResourceIndicator, devidp.OrganizationsResource},
			ClockSkew:    time.Minute,
			Now:          f.clock.Now,
		}, logger)
		authflowtest.WaitDiscovered(t, r.auth)
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

// newSignedInPair is a two-replica Redis fixture whose access tokens live
// ttl, with alice signed in (cookie; before, her session as replica 0
// loads it).
func newSignedInPair(t *testing.T, ttl time.Duration) (f *fixture, cookie *http.Cookie, before *session.Session) {
	t.Helper()
	f = newFixture(t, fixtureOptions{store: "redis", replicas: 2, accessTTL: ttl})
	cookie = f.signIn(t)
	return f, cookie, f.load(t, 0, cookie)
}

// newLockedElsewhere is newSignedInPair with alice's session lock held by
// replica 1 (for up to a second) until unlock.
func newLockedElsewhere(t *testing.T, ttl time.Duration) (f *fixture, cookie *http.Cookie, before *session.Session, unlock func()) {
	t.Helper()
	f, cookie, before = newSignedInPair(t, ttl)
	unlock, err := f.replicas[1].sessions.Lock(context.Background(), before.LockKey(), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return f, cookie, before, unlock
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
