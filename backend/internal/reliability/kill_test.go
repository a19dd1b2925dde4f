package reliability

import (
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestReplicaKilledMidLoadOthersServeEverySession(t *testing.T) {
	ctx := deadline(t, 90*time.Second)
	const users, ttl = 60, 3 * time.Second
	c := newCluster(t, clusterOptions{replicas: 3, users: users, accessTokenTTL: ttl, env: refreshEnv("1s")})
	signed := signInAll(ctx, t, c, users)

	var st loadStats
	var wg sync.WaitGroup
	var killedAt atomic.Int64 // unix nanos, 0 before the kill
	var stalledMu sync.Mutex
	stalled := map[string]int{} // user → 503s after the kill
	stop := time.Now().Add(3*ttl + time.Second)
	for i, u := range signed {
		wg.Add(1)
		go func() {
			defer wg.Done()
			want := "User " + userName(i)
			for time.Now().Before(stop) {
				code, m, err := u.me(ctx, -1)
				st.requests.Add(1)
				switch {
				case err != nil:
					st.fail("%s: %v", u.name, err)
				case code == http.StatusServiceUnavailable && errorCode(m) == "idp_unavailable" && killedAt.Load() != 0:
					// Only a session whose refresh lock the dead replica
					// held may wait (for the lease to end).
					stalledMu.Lock()
					stalled[u.name]++
					stalledMu.Unlock()
				case code == http.StatusUnauthorized:
					st.lost.Add(1)
					st.fail("%s: session lost: %v", u.name, m)
					return
				case code != http.StatusOK:
					st.fail("%s: /api/me = %d %v", u.name, code, m)
				case m["user"].(map[string]any)["name"] != want:
					st.fail("%s: someone else's profile", u.name)
				}
				time.Sleep(100 * time.Millisecond)
			}
		}()
	}
	// Kill a replica mid-load, while refreshes are under way.
	time.Sleep(ttl + 500*time.Millisecond)
	victim := c.replicas[0]
	victim.kill()
	killedAt.Store(time.Now().UnixNano())
	wg.Wait()

	ids := c.idp.provider.Stats()
	t.Logf("replica %s killed (SIGKILL) %v into the load; %d requests, %d retried on another replica by the balancer, %d refreshes, %d reuses, per replica %v",
		victim.name, time.Unix(0, killedAt.Load()).Sub(stop.Add(-3*ttl-time.Second)).Round(time.Millisecond), st.requests.Load(), c.bal.retries.Load(),
		ids.RefreshGrants, ids.RefreshReuse, c.bal.perReplica())
	if e := st.errors.Load(); e > 0 {
		t.Errorf("%d errors (%d lost sessions); first: %q", e, st.lost.Load(), st.first)
	}
	if ids.RefreshReuse != 0 {
		t.Errorf("refresh-token reuse at the IdP: %d", ids.RefreshReuse)
	}
	// A refresh lock held by the killed replica stalls its session until
	// the lease ends (TestReplicaKilledHoldingTheRefreshLock measures it):
	// at most the few sessions bff0 was refreshing at that instant.
	if len(stalled) > 3 {
		t.Errorf("%d sessions answered 503 after the kill, more than the dead replica could have been refreshing: %v", len(stalled), stalled)
	} else if len(stalled) > 0 {
		t.Logf("%d session(s) waited for the dead replica's refresh lease: %v", len(stalled), stalled)
	}
	// Every session is served by each survivor (within the lease).
	waitAllOK(ctx, t, c, signed, 40*time.Second)
	// A replacement process (same settings, new port) serves every
	// session at once: nothing lived only in the dead one.
	fresh := c.startExtraReplica("bff0-replacement", nil)
	fbal := newBalancer([]*replica{fresh}, c.sec, 16)
	t.Cleanup(fbal.closeIdle)
	fc := &cluster{t: t, idp: c.idp, replicas: []*replica{fresh}, bal: fbal, sec: c.sec}
	fc.waitReady(ctx)
	for _, u := range signed {
		moved := fc.newUser(u.name, "")
		moved.setCookie(sessionCookie, u.sessionCookie())
		if code, m, err := moved.me(ctx, 0); err != nil || code != http.StatusOK {
			t.Errorf("%s on the replacement replica = %d %v %v", u.name, code, m, err)
		}
	}
	// And sign-out still holds on every survivor.
	for _, u := range signed[:10] {
		if err := u.signOut(ctx); err != nil {
			t.Fatal(err)
		}
	}
	expectEverywhere(ctx, t, c, signed[:10], http.StatusUnauthorized, "unauthorized")
}
