package reliability

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/logto-bff/bff/backend/internal/config"
)

// Load figures: 200 users on 3 replicas, access tokens living 3 s and
// refreshed 1 s before expiry, so every user's session crosses at least
// one refresh while it makes requests for loadUserRun.
const (
	loadUsers       = 200
	loadReplicas    = 3
	loadAccessTTL   = 3 * time.Second
	loadMargin      = "1s"
	loadUserRun     = 5 * time.Second
	loadThink       = 200 * time.Millisecond
	loadRamp        = 3 * time.Second
	loadMaxInFlight = 32
)

// refreshEnv turns on the BFF's refresh with a margin fit for short-lived
// tokens.
func refreshEnv(margin string) map[string]string {
	return map[string]string{config.EnvRefreshMargin: margin}
}

// loadRun is one user's life: sign in, use the API across replicas past a
// token expiry, sign out, and check the sign-out holds on every replica.
type loadStats struct {
	requests atomic.Int64
	errors   atomic.Int64
	lost     atomic.Int64 // a 401 while signed in
	mu       sync.Mutex
	first    []string // the first few error messages
}

func (s *loadStats) fail(format string, args ...any) {
	s.errors.Add(1)
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.first) < 10 {
		s.first = append(s.first, fmt.Sprintf(format, args...))
	}
}

// runUser signs u in, calls /api/me every think until run has passed,
// checking each answer is u's own profile, then (if signOut) signs out and
// checks every replica refuses the old session.
func runUser(ctx context.Context, c *cluster, u *user, wantName string, run, think time.Duration, st *loadStats, signOut bool) {
	loc, err := u.signIn(ctx, "/after-sign-in")
	st.requests.Add(5)
	if err != nil {
		st.fail("%s: sign-in: %v", u.name, err)
		return
	}
	if loc != "/after-sign-in" {
		st.fail("%s: landed on %q", u.name, loc)
	}
	end := time.Now().Add(run)
	for time.Now().Before(end) {
		if ctx.Err() != nil {
			st.fail("%s: deadline", u.name)
			return
		}
		code, m, err := u.me(ctx, -1)
		st.requests.Add(1)
		switch {
		case err != nil:
			st.fail("%s: /api/me: %v", u.name, err)
		case code == http.StatusUnauthorized:
			st.lost.Add(1)
			st.fail("%s: session lost: /api/me = 401 %v", u.name, m)
			return
		case code != http.StatusOK:
			st.fail("%s: /api/me = %d %v", u.name, code, m)
		default:
			user, _ := m["user"].(map[string]any)
			if user["name"] != wantName {
				st.fail("%s: /api/me returned someone else's profile (%v)", u.name, user["name"])
			}
		}
		time.Sleep(think)
	}
	if !signOut {
		return
	}
	if err := u.signOut(ctx); err != nil {
		st.fail("%s: sign-out: %v", u.name, err)
		return
	}
	st.requests.Add(3)
	// The old cookie, replayed to every live replica, is refused.
	for i, r := range c.replicas {
		if r.dead.Load() {
			continue
		}
		code, m, err := u.me(ctx, i)
		st.requests.Add(1)
		if err != nil || code != http.StatusUnauthorized || errorCode(m) != "unauthorized" {
			st.fail("%s: after sign-out %s /api/me = %d %v %v", u.name, r.name, code, m, err)
		}
	}
}

func TestLoad200UsersAcrossReplicas(t *testing.T) {
	load200(t, "")
}

// load200 is TestLoad200UsersAcrossReplicas on a Redis topology ("" for
// one redis-server, topoSentinel, topoCluster).
func load200(t *testing.T, topology string) {
	ctx := deadline(t, 150*time.Second)
	c := newCluster(t, clusterOptions{
		replicas: loadReplicas, accessTokenTTL: loadAccessTTL, users: loadUsers,
		maxInFlight: loadMaxInFlight, env: refreshEnv(loadMargin), topology: topology,
	})
	var st loadStats
	start := time.Now()
	var wg sync.WaitGroup
	for i := range loadUsers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			time.Sleep(loadRamp * time.Duration(i) / loadUsers)
			u := c.newUser(userName(i), userPass(i))
			runUser(ctx, c, u, "User "+userName(i), loadUserRun, loadThink, &st, true)
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	p50, p99, n := c.bal.percentiles()
	ids := c.idp.provider.Stats()
	t.Logf("load (Redis %s): %d users, %d replicas (%v), %d requests to the BFF, %d retried, %.0f req/s, "+
		"%d sign-ins, %d refreshes, %d refresh-token reuses, %d revocations, %d back-channel deliveries (%d failed), "+
		"duration %v, latency p50 %v p99 %v, all users alive at once (ramp %v), at most %d requests in flight",
		c.redisURL[:strings.Index(c.redisURL, ":")], loadUsers, loadReplicas, c.bal.perReplica(), n, c.bal.retries.Load(), float64(n)/elapsed.Seconds(),
		ids.AuthCodeGrants, ids.RefreshGrants, ids.RefreshReuse, ids.Revocations, ids.BackchannelDelivered, ids.BackchannelFailed,
		elapsed.Round(time.Millisecond), p50.Round(time.Microsecond), p99.Round(time.Microsecond), loadRamp, loadMaxInFlight)

	if e := st.errors.Load(); e > 0 {
		t.Errorf("%d errors (%d lost sessions); first: %q", e, st.lost.Load(), st.first)
	}
	if ids.AuthCodeGrants != loadUsers {
		t.Errorf("%d code exchanges, want %d", ids.AuthCodeGrants, loadUsers)
	}
	if ids.RefreshReuse != 0 {
		t.Errorf("refresh-token reuse at the IdP: %d", ids.RefreshReuse)
	}
	if ids.Revocations != loadUsers {
		t.Errorf("%d revocations at sign-out, want %d", ids.Revocations, loadUsers)
	}
	if ids.RefreshGrants < loadUsers {
		t.Errorf("%d refreshes for %d users whose tokens all expired while in use: refresh is not happening (BFF_REFRESH_MARGIN=%s, token TTL %v)",
			ids.RefreshGrants, loadUsers, loadMargin, loadAccessTTL)
	}
	for i := range c.replicas {
		checkMetricLabels(t, c.replicas[i].name, scrapeMetrics(ctx, t, c, i), nil)
	}
	for name, n := range c.bal.perReplica() {
		if n < loadUsers {
			t.Errorf("replica %s answered only %d requests: load was not spread", name, n)
		}
	}
}
