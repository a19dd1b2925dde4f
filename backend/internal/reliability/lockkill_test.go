package reliability

import (
	"context"
	"net/http"
	"testing"
	"time"
)

// A replica SIGKILLed while it holds a session's refresh lock (its token
// request in flight at the IdP): the other replicas must not present the
// refresh token concurrently (no reuse), must not sign the user out, and
// must take over once the dead holder's lease ends. The BFF's lease is
// refresh.LockTTL = 10 s (renewed every third of it while a
// live holder runs), so the user sees 503 for up to ~10 s; this test bounds
// and reports it.
func TestReplicaKilledHoldingTheRefreshLock(t *testing.T) {
	ctx := deadline(t, 90*time.Second)
	const ttl = 3 * time.Second
	const lease = 10 * time.Second
	const leaseBound = lease + 8*time.Second
	c := newCluster(t, clusterOptions{replicas: 3, users: 2, accessTokenTTL: ttl, env: refreshEnv("1s")})
	users := signInAll(ctx, t, c, 2)
	victim, bystander := users[0], users[1]
	time.Sleep(ttl + 300*time.Millisecond) // past expiry: due whatever the effective margin (at most 5 % of the lifetime): the victim's token needs a refresh

	// The IdP holds token requests, so bff0 keeps the lock while it waits.
	tokenCalls := c.idp.requests("/token")
	c.idp.setDelay("/token", 20*time.Second)
	held := make(chan int, 1)
	go func() {
		code, _, _ := victim.me(ctx, 0)
		held <- code
	}()
	wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	err := waitFor(wctx, "bff0's refresh to reach the IdP", func() bool { return c.idp.requests("/token") > tokenCalls })
	cancel()
	if err != nil {
		t.Fatal(err)
	}
	c.replicas[0].kill()
	killed := time.Now()
	<-held
	c.idp.setDelay("", 0)

	// A session that needs no refresh is not held up by the dead lock.
	if code, m, _ := bystander.me(ctx, 1); code != http.StatusOK && !(code == http.StatusServiceUnavailable && errorCode(m) == "idp_unavailable") {
		t.Errorf("bystander on bff1 = %d %v", code, m)
	}

	// The victim, on the survivors, until served.
	var busy int
	var firstOK time.Duration
	for i := 0; firstOK == 0; i++ {
		if time.Since(killed) > leaseBound {
			t.Fatalf("the session was still not served %v after its lock holder died (%d × 503)", leaseBound, busy)
		}
		code, m, err := victim.me(ctx, 1+i%2)
		switch {
		case err != nil:
			t.Fatalf("/api/me: %v", err)
		case code == http.StatusOK:
			firstOK = time.Since(killed)
		case code == http.StatusServiceUnavailable && errorCode(m) == "idp_unavailable":
			busy++
		default:
			t.Fatalf("victim on bff%d while the dead holder's lease runs = %d %v (a lost session?)", 1+i%2, code, m)
		}
	}
	st := c.idp.provider.Stats()
	t.Logf("lock holder SIGKILLed mid-refresh: the session answered 503 idp_unavailable %d times and was served again %v later (lease %v); reuse %d",
		busy, firstOK.Round(time.Millisecond), lease, st.RefreshReuse)
	if st.RefreshReuse != 0 {
		t.Errorf("refresh-token reuse at the IdP: %d", st.RefreshReuse)
	}
	expectEverywhere(ctx, t, c, users, http.StatusOK, "")
}
