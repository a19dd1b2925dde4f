package reliability

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"
)

// signInAll signs n generated users in concurrently and returns them.
func signInAll(ctx context.Context, t *testing.T, c *cluster, n int) []*user {
	t.Helper()
	users := make([]*user, n)
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			u := c.newUser(userName(i), userPass(i))
			if _, err := u.signIn(ctx, "/"); err != nil {
				errs <- fmt.Errorf("%s: %w", u.name, err)
				return
			}
			users[i] = u
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	return users
}

// expectEverywhere checks every user's /api/me on every live replica.
func expectEverywhere(ctx context.Context, t *testing.T, c *cluster, users []*user, status int, code string) {
	t.Helper()
	for _, u := range users {
		for i, r := range c.replicas {
			if r.dead.Load() {
				continue
			}
			got, m, err := u.me(ctx, i)
			if err != nil || got != status || (code != "" && errorCode(m) != code) {
				t.Errorf("%s on %s: /api/me = %d %v %v, want %d %s", u.name, r.name, got, m, err, status, code)
			}
		}
	}
}

// waitAllOK polls until every user gets 200 on every live replica, failing
// at once on a 401 (a lost session) and after ctx ends otherwise.
func waitAllOK(ctx context.Context, t *testing.T, c *cluster, users []*user, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, within)
	defer cancel()
	for _, u := range users {
		for i, r := range c.replicas {
			if r.dead.Load() {
				continue
			}
			var last string
			err := waitFor(ctx, u.name+" on "+r.name, func() bool {
				code, m, err := u.me(ctx, i)
				if code == http.StatusUnauthorized {
					t.Fatalf("%s on %s: session lost: 401 %v", u.name, r.name, m)
				}
				last = fmt.Sprint(code, m, err)
				return code == http.StatusOK
			})
			if err != nil {
				t.Fatalf("%v (last answer %s)", err, last)
			}
		}
	}
	return time.Since(start)
}

// readyz returns a replica's /readyz status and checks.
func readyz(ctx context.Context, u *user, i int) (int, map[string]any) {
	resp, body, err := u.do(pinned(ctx, i), http.MethodGet, "/readyz", nil)
	if err != nil {
		return 0, nil
	}
	m := map[string]any{}
	_ = json.Unmarshal(body, &m)
	checks, _ := m["checks"].(map[string]any)
	return resp.StatusCode, checks
}

func TestRedisRestartWithPersistenceLosesNoSession(t *testing.T) {
	ctx := deadline(t, 60*time.Second)
	c := newCluster(t, clusterOptions{replicas: 2, users: 20, persistentRedis: true})
	users := signInAll(ctx, t, c, 20)
	expectEverywhere(ctx, t, c, users, http.StatusOK, "")

	c.redis.Restart() // graceful: SIGTERM, then start on the same port and data
	d := waitAllOK(ctx, t, c, users, 15*time.Second)
	t.Logf("after a graceful Redis restart every session answered on every replica within %v", d.Round(time.Millisecond))

	c.redis.Kill() // a crash: appendfsync always keeps every acknowledged write
	c.redis.Start()
	d = waitAllOK(ctx, t, c, users, 15*time.Second)
	t.Logf("after a Redis crash and start every session answered on every replica within %v", d.Round(time.Millisecond))

	// Sign-outs after the restarts still hold everywhere.
	for _, u := range users[:5] {
		if err := u.signOut(ctx); err != nil {
			t.Fatal(err)
		}
	}
	expectEverywhere(ctx, t, c, users[:5], http.StatusUnauthorized, "unauthorized")
	expectEverywhere(ctx, t, c, users[5:], http.StatusOK, "")
}

func TestRedisUnreachableAnswers503AndRecovers(t *testing.T) {
	ctx := deadline(t, 60*time.Second)
	c := newCluster(t, clusterOptions{replicas: 2, users: 5, persistentRedis: true})
	users := signInAll(ctx, t, c, 5)

	c.redis.Stop()
	var pendingCallbacks []string
	for i, r := range c.replicas {
		for _, u := range users {
			code, m, err := u.me(ctx, i)
			if err != nil || code != http.StatusServiceUnavailable || errorCode(m) != "store_unavailable" {
				t.Errorf("%s during the outage: /api/me = %d %v %v, want 503 store_unavailable JSON", r.name, code, m, err)
			}
			if u.sessionCookie() == "" {
				t.Fatalf("%s: the outage cost %s the session cookie", r.name, u.name)
			}
		}
		if code, checks := readyz(ctx, users[0], i); code != http.StatusServiceUnavailable || checks["store"] != "unavailable" {
			t.Errorf("%s during the outage: /readyz = %d %v, want 503 store unavailable", r.name, code, checks)
		}
		// Beginning a sign-in needs no store (the attempt is sealed into
		// the state); its callback does (the single-use mark): 503, nothing
		// consumed, so the same callback completes after the outage.
		authURL, err := users[0].beginSignIn(pinned(ctx, i), "returnTo=/outage")
		if err != nil {
			t.Fatalf("%s during the outage: %v", r.name, err)
		}
		cb, err := users[0].callbackURL(ctx, authURL)
		if err != nil {
			t.Fatal(err)
		}
		resp, body, err := users[0].do(pinned(ctx, i), http.MethodGet, cb, nil, "Accept", "application/json")
		if err != nil || resp.StatusCode != http.StatusServiceUnavailable || !contains(body, "store_unavailable") {
			t.Errorf("%s during the outage: callback = %v %s", r.name, statusOf(resp), body)
		}
		pendingCallbacks = append(pendingCallbacks, cb)
		// Sign-out cannot delete the session: it says so (503) and keeps
		// the cookie, so a retry can finish it, instead of claiming success.
		v := c.newUser("nobody", "")
		v.setCookie(sessionCookie, users[0].sessionCookie())
		resp, body, err = v.do(pinned(ctx, i), http.MethodPost, "/auth/sign-out", nil, "Origin", publicURL)
		if err != nil || resp.StatusCode != http.StatusServiceUnavailable || !contains(body, "store_unavailable") || v.sessionCookie() == "" {
			t.Errorf("%s during the outage: sign-out = %v %s, cookie kept %v; want 503 store_unavailable and the cookie kept", r.name, statusOf(resp), body, v.sessionCookie() != "")
		}
	}

	c.redis.Start()
	d := waitAllOK(ctx, t, c, users, 20*time.Second)
	t.Logf("recovered on every replica %v after Redis came back", d.Round(time.Millisecond))
	// The callbacks refused during the outage complete now.
	for _, cb := range pendingCallbacks {
		if resp, body, err := users[0].do(ctx, http.MethodGet, cb, nil); err != nil || resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/outage" {
			t.Errorf("a callback refused during the outage, retried after = %v %.200s", statusOf(resp), body)
		}
	}
	for i, r := range c.replicas {
		if code, checks := readyz(ctx, users[0], i); code != http.StatusOK {
			t.Errorf("%s after recovery: /readyz = %d %v", r.name, code, checks)
		}
	}
	// New sign-ins work again.
	u := c.alice()
	if _, err := u.signIn(ctx, "/"); err != nil {
		t.Errorf("sign-in after recovery: %v", err)
	}
}

func statusOf(resp *http.Response) any {
	if resp == nil {
		return "no response"
	}
	return resp.StatusCode
}
