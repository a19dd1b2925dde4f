package reliability

import (
	"context"
	"encoding/json"
	"net/http"
	"sync"
	"testing"
	"time"
)

func TestIdPUnreachableKeepsSessionsThen503AndRecovers(t *testing.T) {
	ctx := deadline(t, 60*time.Second)
	const ttl, margin = 5 * time.Second, "1s"
	c := newCluster(t, clusterOptions{replicas: 2, users: 6, accessTokenTTL: ttl, env: refreshEnv(margin)})
	signedIn := time.Now()
	users := signInAll(ctx, t, c, 6)
	// Past expiry whatever the margin: a refresh is needed by then.
	refreshAt := signedIn.Add(ttl)

	c.idp.Down()
	if time.Now().After(refreshAt.Add(-2 * time.Second)) {
		t.Fatalf("signing in took too long (%v) to test fresh tokens", time.Since(signedIn))
	}
	// Tokens are fresh: sessions keep working with the IdP unreachable.
	expectEverywhere(ctx, t, c, users, http.StatusOK, "")
	for i, r := range c.replicas {
		if code, checks := readyz(ctx, users[0], i); code != http.StatusOK {
			t.Errorf("%s: /readyz with the IdP unreachable after discovery = %d %v (discovery is cached; sessions still work)", r.name, code, checks)
		}
	}
	// A sign-in cannot complete: the callback answers 503, not 500.
	{
		c.idp.Up()
		u := c.newUser(userName(5), userPass(5))
		authURL, err := u.beginSignIn(ctx, "")
		if err != nil {
			t.Fatal(err)
		}
		cb, err := u.callbackURL(ctx, authURL)
		if err != nil {
			t.Fatal(err)
		}
		c.idp.Down()
		resp, body, err := u.do(ctx, http.MethodGet, cb, nil, "Accept", "application/json")
		if err != nil || resp.StatusCode != http.StatusServiceUnavailable || !contains(body, `"idp_unavailable"`) {
			t.Errorf("callback with the IdP unreachable = %v %s", statusOf(resp), body)
		}
		if u.sessionCookie() != "" {
			t.Error("a session was created without a code exchange")
		}
		// A new sign-in is not sent to a Logto that does not answer (each
		// replica trusts its last news of Logto for at most a second).
		time.Sleep(1100 * time.Millisecond)
		resp, body, err = u.do(ctx, http.MethodGet, "/auth/sign-in", nil, "Accept", "application/json")
		if err != nil || resp.StatusCode != http.StatusServiceUnavailable || !contains(body, `"idp_unavailable"`) {
			t.Errorf("sign-in with the IdP unreachable = %v %s", statusOf(resp), body)
		}
	}

	// Once the access tokens need a refresh: 503 idp_unavailable, never a
	// sign-out, on every replica, and the cookie stays.
	time.Sleep(time.Until(refreshAt.Add(300 * time.Millisecond)))
	expectEverywhere(ctx, t, c, users, http.StatusServiceUnavailable, "idp_unavailable")
	for _, u := range users {
		if u.sessionCookie() == "" {
			t.Errorf("%s lost the session cookie during the IdP outage", u.name)
		}
	}

	before := c.idp.provider.Stats()
	c.idp.Up()
	d := waitAllOK(ctx, t, c, users, 15*time.Second)
	after := c.idp.provider.Stats()
	t.Logf("IdP back: every session answered on every replica within %v; %d refreshes", d.Round(time.Millisecond), after.RefreshGrants-before.RefreshGrants)
	if after.RefreshGrants-before.RefreshGrants < len(users) {
		t.Errorf("%d refreshes after the IdP came back for %d expired sessions", after.RefreshGrants-before.RefreshGrants, len(users))
	}
	if after.RefreshReuse != 0 {
		t.Errorf("refresh-token reuse: %d", after.RefreshReuse)
	}
}

// resources counts what a replica holds.
type resources struct{ fds, threads int }

func snapshot(c *cluster) []resources {
	out := make([]resources, len(c.replicas))
	for i, r := range c.replicas {
		out[i] = resources{r.fds(), r.threads()}
	}
	return out
}

func TestIdPSlowIsBoundedAndLeaksNothing(t *testing.T) {
	ctx := deadline(t, 120*time.Second)
	const ttl, margin = 4 * time.Second, "1s"
	// The BFF bounds every call to Logto at 10 s (authflow's HTTP client and
	// the handlers' requestTimeout); the IdP here answers the token
	// endpoint after 25 s, so only the BFF's own timeouts can end the wait.
	const bffTimeout, slowBy, slack = 10 * time.Second, 25 * time.Second, 5 * time.Second
	c := newCluster(t, clusterOptions{replicas: 2, users: 8, accessTokenTTL: ttl, env: refreshEnv(margin)})
	// Warm up: sign-ins and refreshes open the BFF's connections to the
	// IdP and Redis, so the baseline includes its idle pools.
	users := signInAll(ctx, t, c, 4)
	time.Sleep(ttl + 200*time.Millisecond) // past expiry: due whatever the effective margin

	expectEverywhere(ctx, t, c, users, http.StatusOK, "")
	time.Sleep(500 * time.Millisecond)
	baseConns, baseRes := c.idp.openConns(), snapshot(c)

	// Stalled code exchanges: 4 browsers reach the callback together.
	var cbs []string
	var late []*user
	for i := 4; i < 8; i++ {
		u := c.newUser(userName(i), userPass(i))
		authURL, err := u.beginSignIn(ctx, "")
		if err != nil {
			t.Fatal(err)
		}
		cb, err := u.callbackURL(ctx, authURL)
		if err != nil {
			t.Fatal(err)
		}
		cbs, late = append(cbs, cb), append(late, u)
	}
	c.idp.setDelay("/token", slowBy)
	// Let the early users' tokens expire too (a refresh due before expiry
	// would be deferred: 200 with the still valid token).
	time.Sleep(ttl + 200*time.Millisecond)
	var wg sync.WaitGroup
	type answer struct {
		what    string
		status  int
		code    string
		elapsed time.Duration
	}
	answers := make(chan answer, 32)
	for i, u := range late {
		wg.Add(1)
		go func() {
			defer wg.Done()
			start := time.Now()
			resp, body, err := u.do(ctx, http.MethodGet, cbs[i], nil, "Accept", "application/json")
			a := answer{what: u.name + " callback", elapsed: time.Since(start)}
			if err == nil {
				m := map[string]any{}
				_ = json.Unmarshal(body, &m)
				a.status, a.code = resp.StatusCode, errorCode(m)
			}
			answers <- a
		}()
	}
	for _, u := range users {
		for i := range c.replicas {
			wg.Add(1)
			go func() {
				defer wg.Done()
				start := time.Now()
				code, m, _ := u.me(ctx, i)
				answers <- answer{what: u.name + " /api/me on " + c.replicas[i].name, status: code, code: errorCode(m), elapsed: time.Since(start)}
			}()
		}
	}
	wg.Wait()
	close(answers)
	var worst time.Duration
	for a := range answers {
		worst = max(worst, a.elapsed)
		if a.status != http.StatusServiceUnavailable || a.code != "idp_unavailable" {
			t.Errorf("%s with a slow IdP = %d %s after %v, want 503 idp_unavailable", a.what, a.status, a.code, a.elapsed.Round(time.Millisecond))
		}
		if a.elapsed > bffTimeout+slack {
			t.Errorf("%s took %v: not bounded by the BFF's %v timeout", a.what, a.elapsed.Round(time.Millisecond), bffTimeout)
		}
	}
	t.Logf("slow IdP (%v): every request answered 503 within %v (BFF timeout %v)", slowBy, worst.Round(time.Millisecond), bffTimeout)

	// Nothing left behind: the IdP sees its connections closed, the
	// replicas hold no more descriptors or threads than before.
	c.idp.setDelay("", 0)
	settle, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	const connSlack, fdSlack, threadSlack = 2, 8, 4
	err := waitFor(settle, "connections and descriptors back to the baseline", func() bool {
		if c.idp.openConns() > baseConns+connSlack*len(c.replicas) {
			return false
		}
		for i, now := range snapshot(c) {
			if now.fds > baseRes[i].fds+fdSlack || now.threads > baseRes[i].threads+threadSlack {
				return false
			}
		}
		return true
	})
	t.Logf("IdP-side open connections: %d before, %d after; replicas (fds, threads) before %v, after %v", baseConns, c.idp.openConns(), baseRes, snapshot(c))
	if err != nil {
		t.Errorf("leak: %v", err)
	}

	// And it recovers: the same sessions work, a new sign-in works.
	waitAllOK(ctx, t, c, users, 15*time.Second)
	if _, err := c.alice().signIn(ctx, "/"); err != nil {
		t.Errorf("sign-in after the IdP sped up: %v", err)
	}
	if st := c.idp.provider.Stats(); st.RefreshReuse != 0 {
		t.Errorf("refresh-token reuse: %d", st.RefreshReuse)
	}
}
