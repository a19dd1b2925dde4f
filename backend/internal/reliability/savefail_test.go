package reliability

import (
	"net/http"
	"testing"
	"time"
)

// Redis goes away after the IdP has rotated the refresh token and before
// the BFF has saved it. The request may fail (503), but the session must
// not: the next refresh must not present the consumed token (strict
// rotation: Logto revokes the whole grant when a consumed refresh token is
// presented again).
func TestRedisBlipBetweenRefreshAndSaveKeepsSession(t *testing.T) {
	ctx := deadline(t, 90*time.Second)
	const ttl = 3 * time.Second
	c := newCluster(t, clusterOptions{replicas: 2, users: 1, accessTokenTTL: ttl, persistentRedis: true, env: refreshEnv("1s")})
	u := signInAll(ctx, t, c, 1)[0]
	time.Sleep(ttl + 300*time.Millisecond) // past expiry: due whatever the effective margin (at most 5 % of the lifetime)

	reached, resume := make(chan struct{}), make(chan struct{})
	hook := func() { close(reached); <-resume }
	c.idp.beforeRefresh.Store(&hook)
	answer := make(chan [2]any, 1)
	go func() {
		code, m, _ := u.me(ctx, 0)
		answer <- [2]any{code, m}
	}()
	select {
	case <-reached:
	case <-ctx.Done():
		t.Fatal("the refresh never reached the IdP")
	}
	c.redis.Stop() // the grant is about to succeed; its answer cannot be saved
	close(resume)
	first := <-answer
	t.Logf("the request whose refresh could not be saved answered %v", first[0])
	c.redis.Start()

	// From here the session must come back (503 while it does is fine).
	start := time.Now()
	for {
		code, m, err := u.me(ctx, int(time.Since(start)/time.Second)%2)
		if err != nil {
			t.Fatal(err)
		}
		if code == http.StatusOK {
			break
		}
		if code == http.StatusUnauthorized {
			st := c.idp.provider.Stats()
			t.Fatalf("session lost after a Redis blip between refresh and save: %d %v (IdP: %d refresh-token reuses, %d grants revoked)",
				code, m, st.RefreshReuse, st.GrantsRevoked)
		}
		if time.Since(start) > 45*time.Second {
			t.Fatalf("still %d %v after 45 s", code, m)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if st := c.idp.provider.Stats(); st.RefreshReuse != 0 {
		t.Errorf("refresh-token reuse at the IdP: %d", st.RefreshReuse)
	}
	t.Logf("session served again %v after Redis came back", time.Since(start).Round(time.Millisecond))
}
