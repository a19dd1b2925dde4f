package httpapi

import (
	"cmp"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/logto-bff/bff/backend/internal/authflow"
	"github.com/logto-bff/bff/backend/internal/authflow/authflowtest"
	"github.com/logto-bff/bff/backend/internal/background"
	"github.com/logto-bff/bff/backend/internal/contracttest"
	"github.com/logto-bff/bff/backend/internal/devidp"
	"github.com/logto-bff/bff/backend/internal/devidp/devidptest"
	"github.com/logto-bff/bff/backend/internal/kittest"
	"github.com/logto-bff/bff/backend/internal/metrics"
	"github.com/logto-bff/bff/backend/internal/redistest"
	"github.com/logto-bff/bff/backend/internal/revocation"
	"github.com/logto-bff/bff/backend/internal/routes"
	"github.com/logto-bff/bff/backend/internal/session"
	"github.com/logto-bff/bff/backend/internal/signin"
	"github.com/logto-bff/bff/backend/internal/store"
)

// clusterAccessTTL is the dev IdP's access-token lifetime in cluster tests.
const clusterAccessTTL = 5 * time.Minute

// cluster is several independent BFF instances (own router, server,
// session.Manager, authflow discovery and metrics) sharing one session
// store, in front of one strict dev IdP. The IdP's clock and the BFFs'
// clock are separate and advanced together.
type cluster struct {
	t      testing.TB
	idp    *devidp.Provider
	idpSrv *httptest.Server
	idpUp  *atomic.Bool // false: the IdP answers 503
	// revocationDelay holds each call to the IdP's revocation endpoint
	// this long (nanoseconds) before the IdP sees it.
	revocationDelay atomic.Int64
	idpClock        *kittest.Clock
	bffClock        *kittest.Clock
	redis           *redistest.Server
	nodes           []*node
	// logoutSink receives every back-channel delivery for our client; it
	// forwards to nodes[len-1] unless holdLogouts is set.
	logoutSink  *httptest.Server
	holdLogouts atomic.Bool
	mu          sync.Mutex
	logouts     map[string][]string // client path → logout tokens received
}

// node is one BFF instance.
type node struct {
	srv      *httptest.Server
	sessions *session.Manager
	store    *store.Redis // the sessions' Redis store; nil with memory
	auth     *authflow.Discovery
	metrics  *metrics.Metrics
	bg       *background.Tracker
	revoker  *revocation.Revoker // records undelivered revocations in the shared store
	// busy holds the connections serving a request now (a client can have
	// its whole response before the handler's deferred work, such as the
	// request metric, has run).
	busy sync.Map // net.Conn → struct{}
}

// trackConn is the server's ConnState hook: it maintains busy.
func (n *node) trackConn(c net.Conn, st http.ConnState) {
	if st == http.StateActive {
		n.busy.Store(c, struct{}{})
	} else {
		n.busy.Delete(c)
	}
}

// idle waits (up to 5 s) until no request is being served.
func (n *node) idle(t testing.TB) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		busy := false
		n.busy.Range(func(any, any) bool { busy = true; return false })
		if !busy {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("requests still being served after 5 s")
		}
		time.Sleep(time.Millisecond)
	}
}

type clusterOptions struct {
	nodes     int    // default 1
	store     string // default redis
	nearCache int    // entries of each node's near-cache (Redis); 0: none
	routes    string // BFF_API_ROUTES (upstream URLs resolved by the test)
	transport http.RoundTripper
	accessTTL time.Duration      // the IdP's access-token lifetime; default clusterAccessTTL
	redisOpts []redistest.Option // for the redis-server (e.g. persistence)
}

// openRedisStore opens the Redis store at url with a near-cache of
// nearCache entries (0: none). The session.Manager built on it closes it.
func openRedisStore(t testing.TB, url string, nearCache int) *store.Redis {
	t.Helper()
	st, err := store.OpenRedis(url, store.RedisOptions{NearCache: store.NearCache{Entries: nearCache}})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func newCluster(t testing.TB, o clusterOptions) *cluster {
	t.Helper()
	if o.nodes == 0 {
		o.nodes = 1
	}
	if o.store == "" {
		o.store = storeRedis
	}
	start := time.Date(2026, 11, 25, 20, 0, 0, 0, time.UTC)
	cl := &cluster{t: t, idpClock: kittest.NewClock(start), bffClock: kittest.NewClock(start), logouts: map[string][]string{}}
	gate := kittest.NewGate(t, "unavailable", func(_ http.ResponseWriter, r *http.Request) bool {
		if d := time.Duration(cl.revocationDelay.Load()); d > 0 && strings.HasSuffix(r.URL.Path, "/token/revocation") {
			time.Sleep(d)
		}
		return true
	})
	cl.idpSrv, cl.idpUp = gate.Server, &gate.Up

	handlers := make([]atomic.Pointer[http.Handler], o.nodes)
	var redirects, postLogout []string
	for i := range o.nodes {
		n := &node{}
		n.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			(*handlers[i].Load()).ServeHTTP(w, r)
		}))
		cl.nodes = append(cl.nodes, n)
		redirects = append(redirects, n.publicURL()+"/auth/callback")
		postLogout = append(postLogout, n.publicURL()+"/")
	}
	cl.logoutSink = httptest.NewServer(http.HandlerFunc(cl.sinkLogout))
	t.Cleanup(cl.logoutSink.Close)

	idp, err := devidp.New(devidp.Config{
		Issuer: cl.idpSrv.URL + "/oidc",
		Clients: []devidp.Client{{
			ID: clientID, Secret: clientSecret,
			RedirectURIs: redirects, PostLogoutRedirectURIs: postLogout,
			BackchannelLogoutURI:             cl.logoutSink.URL + "/bff",
			BackchannelLogoutSessionRequired: true,
		}, {
			ID: otherClientID, Secret: "other-secret",
			RedirectURIs:                     []string{otherRedirect},
			BackchannelLogoutURI:             cl.logoutSink.URL + "/other",
			BackchannelLogoutSessionRequired: true,
		}},
		AccessTokenTTL: cmp.Or(o.accessTTL, clusterAccessTTL),
		Now:            cl.idpClock.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	cl.idp = idp
	gate.Serve(idp)

	if o.store == storeRedis {
		cl.redis = redistest.Start(t, o.redisOpts...)
	}
	var rs []routes.Route
	if o.routes != "" {
		if rs, err = routes.Parse(o.routes); err != nil {
			t.Fatal(err)
		}
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	for i, n := range cl.nodes {
		scfg := session.Config{Secret: []byte(testSecret), Now: cl.bffClock.Now, Logger: logger}
		if o.store == storeRedis {
			n.store = openRedisStore(t, cl.redis.URL(), o.nearCache)
			n.sessions, err = session.New(scfg, n.store)
		} else {
			n.sessions, err = session.NewMemory(scfg)
		}
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { n.sessions.Close() })
		n.auth = authflowtest.StartDiscovery(t, authflow.Config{
			Issuer:                cl.idpSrv.URL + "/oidc",
			ClientID:              clientID,
			ClientSecret:          clientSecret,
			RedirectURL:           n.publicURL() + "/auth/callback",
			PostLogoutRedirectURL: n.publicURL() + "/",
			Scopes:                []string{"openid", "profile", "email", "offline_access", "urn:logto:scope:organizations", "urn:logto:scope:organization_roles"},
			Resources:             []string{devidp.DefaultResourceIndicator, devidp.OrganizationsResource},
			ClockSkew:             time.Minute,
			Now:                   cl.bffClock.Now,
		}, logger)
		authflowtest.WaitDiscovered(t, n.auth)
		n.metrics = metrics.New()
		n.bg = background.New(logger)
		t.Cleanup(func() { _ = n.bg.Drain(5 * time.Second) })
		var revStore store.Store
		if o.store == storeRedis {
			r, err := store.OpenRedis(cl.redis.URL(), store.RedisOptions{})
			if err != nil {
				t.Fatal(err)
			}
			revStore = r
		} else {
			revStore = store.NewMemory(store.MemoryOptions{})
		}
		t.Cleanup(func() { revStore.Close() })
		n.revoker = revocation.New(revocation.Config{Background: n.bg, Store: revStore, Logger: logger})
		keeper, err := signin.New(signin.Config{Secret: []byte(testSecret), Marker: n.sessions, Now: cl.bffClock.Now})
		if err != nil {
			t.Fatal(err)
		}
		h, err := New(Options{
			Sessions: n.sessions, SignIn: keeper, Auth: n.auth, PublicURL: n.publicURL(), IdPOrigin: cl.idpSrv.URL,
			Logger: logger, Now: cl.bffClock.Now, RefreshMargin: time.Minute,
			Routes: rs, ProxyTransport: o.transport, Metrics: n.metrics, Background: n.bg,
			Revoker: n.revoker,
		})
		if err != nil {
			t.Fatal(err)
		}
		handlers[i].Store(&h)
		n.srv.Config.ConnState = n.trackConn
		n.srv.Start()
		t.Cleanup(n.srv.Close)
	}
	return cl
}

const (
	otherClientID = "other-app"
	otherRedirect = "http://other.test/callback"
)

func (n *node) publicURL() string { return "http://" + n.srv.Listener.Addr().String() }

// advance moves the IdP's and the BFFs' clocks together.
func (cl *cluster) advance(d time.Duration) {
	cl.idpClock.Advance(d)
	cl.bffClock.Advance(d)
}

// sinkLogout records a back-channel delivery and, for our client unless
// held, forwards it to the last node, answering with the node's status.
func (cl *cluster) sinkLogout(w http.ResponseWriter, r *http.Request) {
	_ = r.ParseForm()
	token := r.PostForm.Get("logout_token")
	cl.mu.Lock()
	cl.logouts[r.URL.Path] = append(cl.logouts[r.URL.Path], token)
	cl.mu.Unlock()
	if r.URL.Path != "/bff" || cl.holdLogouts.Load() {
		w.WriteHeader(http.StatusOK)
		return
	}
	resp, err := http.PostForm(cl.nodes[len(cl.nodes)-1].publicURL()+"/auth/backchannel-logout", url.Values{"logout_token": {token}})
	if err != nil {
		http.Error(w, "forward failed", http.StatusBadGateway)
		return
	}
	resp.Body.Close()
	w.WriteHeader(resp.StatusCode)
}

func (cl *cluster) logoutTokens(path string) []string {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	return append([]string(nil), cl.logouts[path]...)
}

// cbrowser is one browser profile talking to every node (cookies are
// per host, not port, so they are shared by the nodes like behind one
// load balancer). Its traffic to the nodes is checked against the contract.
type cbrowser struct {
	cl     *cluster
	jar    http.CookieJar
	client *http.Client
}

func (cl *cluster) browser(t testing.TB) *cbrowser {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	var rt http.RoundTripper = http.DefaultTransport
	bffHosts := map[string]bool{}
	for _, n := range cl.nodes {
		host := n.srv.Listener.Addr().String()
		bffHosts[host] = true
		rt = contracttest.Transport(t, host, rt)
	}
	return &cbrowser{cl: cl, jar: jar, client: &http.Client{
		Jar: jar, Transport: rt, Timeout: 15 * time.Second,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) > 10 || (bffHosts[req.URL.Host] && !strings.HasPrefix(req.URL.Path, "/auth/")) || req.URL.Host == "other.test" {
				return http.ErrUseLastResponse
			}
			return nil
		},
	}}
}

// signIn signs alice in through node i.
func (b *cbrowser) signIn(t testing.TB, i int) {
	t.Helper()
	base := b.cl.nodes[i].publicURL()
	resp, err := b.noFollow().Get(base + "/auth/sign-in")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("sign-in: %d", resp.StatusCode)
	}
	resp, err = devidptest.SignIn(context.Background(), b.client, resp.Header.Get("Location"), devidp.AliceUsername, devidp.AlicePassword)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || resp.Request.URL.Path != "/auth/callback" {
		t.Fatalf("callback answered %d at %s", resp.StatusCode, resp.Request.URL)
	}
}

func (b *cbrowser) noFollow() *http.Client {
	c := *b.client
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &c
}

// do sends method path to node i with X-CSRF: 1 and returns status, body.
func (b *cbrowser) do(t testing.TB, i int, method, path string, header ...string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, b.cl.nodes[i].publicURL()+path, nil)
	req.Header.Set("X-CSRF", "1")
	req.Header.Set("Accept", "application/json")
	for j := 0; j+1 < len(header); j += 2 {
		req.Header.Set(header[j], header[j+1])
	}
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

// me GETs /api/me on node i and returns the status and error code ("" on 200).
func (b *cbrowser) me(t testing.TB, i int) (int, string) {
	t.Helper()
	resp, body := b.do(t, i, http.MethodGet, "/api/me")
	if resp.StatusCode == http.StatusOK {
		return resp.StatusCode, ""
	}
	return resp.StatusCode, errorCode(t, body)
}

// cookie is the browser's session cookie value.
func (b *cbrowser) cookie() string {
	u, _ := url.Parse(b.cl.nodes[0].publicURL())
	for _, c := range b.jar.Cookies(u) {
		if c.Name == "bff-session" {
			return c.Value
		}
	}
	return ""
}

// stored loads the session a cookie points to, through node i's manager.
func (cl *cluster) stored(t testing.TB, i int, cookie string) (*session.Session, error) {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.AddCookie(&http.Cookie{Name: cl.nodes[i].sessions.CookieName(), Value: cookie})
	return cl.nodes[i].sessions.Load(httptest.NewRecorder(), req)
}

// metricValue reads one sample from node i's metrics handler (what its
// /metrics listener serves), e.g.
// `bff_token_refreshes_total{result="success"}`; 0 when absent.
func (cl *cluster) metricValue(t testing.TB, i int, sample string) float64 {
	t.Helper()
	cl.nodes[i].idle(t)
	rec := httptest.NewRecorder()
	cl.nodes[i].metrics.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("node %d metrics = %d", i, rec.Code)
	}
	for _, line := range strings.Split(rec.Body.String(), "\n") {
		if rest, ok := strings.CutPrefix(line, sample+" "); ok {
			var v float64
			if err := json.Unmarshal([]byte(strings.TrimSpace(rest)), &v); err != nil {
				t.Fatalf("metric %s = %q", sample, rest)
			}
			return v
		}
	}
	return 0
}
