package reliability

import (
	"net/http"
	"testing"
	"time"
)

// The IdP processes a refresh whose answer the BFF never gets (it gave up
// after its timeout). Under Logto's own rule (a confidential client keeps
// the same refresh token until 70% of its 14-day life) the session must
// survive: the next refresh presents the same token and works. Under strict
// rotation the token is consumed without the BFF knowing, and no client can
// avoid the end of that session; see TestRevokedGrantEndsSessionEverywhere
// for how that end must look.
func TestLostRefreshAnswerUnderLogtoRuleKeepsSession(t *testing.T) {
	ctx := deadline(t, 60*time.Second)
	const ttl = 3 * time.Second
	c := newCluster(t, clusterOptions{replicas: 2, users: 1, accessTokenTTL: ttl, lenientRefresh: true, env: refreshEnv("1s")})
	u := signInAll(ctx, t, c, 1)[0]
	time.Sleep(ttl + 300*time.Millisecond) // past expiry: due whatever the effective margin (at most 5 % of the lifetime)

	c.idp.blind.Store(true)
	c.idp.setDelay("/token", 12*time.Second) // past the BFF's 10 s
	start := time.Now()
	code, m, err := u.me(ctx, 0)
	if err != nil || code != http.StatusServiceUnavailable || errorCode(m) != "idp_unavailable" {
		t.Fatalf("/api/me while the IdP is slow = %d %v %v", code, m, err)
	}
	c.idp.setDelay("", 0)
	// Let the IdP finish the abandoned refresh.
	time.Sleep(12*time.Second - time.Since(start) + 500*time.Millisecond)
	grants := c.idp.provider.Stats().RefreshGrants
	if grants == 0 {
		t.Fatal("the IdP did not process the abandoned refresh")
	}
	expectEverywhere(ctx, t, c, []*user{u}, http.StatusOK, "")
	if st := c.idp.provider.Stats(); st.RefreshReuse != 0 || st.RefreshGrants <= grants {
		t.Errorf("after the lost answer: %d reuses, %d refreshes (was %d)", st.RefreshReuse, st.RefreshGrants, grants)
	}
}

// When Logto ends the grant (revoked, user suspended, reuse), the next
// refresh ends the session for good: 401 session_expired on every replica,
// never a 500, never a retry loop at the IdP.
func TestRevokedGrantEndsSessionEverywhere(t *testing.T) {
	ctx := deadline(t, 30*time.Second)
	const ttl = 3 * time.Second
	c := newCluster(t, clusterOptions{replicas: 2, users: 2, accessTokenTTL: ttl, env: refreshEnv("1s")})
	users := signInAll(ctx, t, c, 2)
	code, m, _ := users[0].me(ctx, 0)
	if code != http.StatusOK {
		t.Fatal(code)
	}
	if n := c.idp.provider.RevokeGrants(m["user"].(map[string]any)["sub"].(string)); n != 1 {
		t.Fatalf("revoked %d grants", n)
	}
	time.Sleep(ttl + 300*time.Millisecond) // past expiry: due whatever the effective margin (at most 5 % of the lifetime)
	before := c.idp.requests("/token")
	for range 3 {
		expectEverywhere(ctx, t, c, users[:1], http.StatusUnauthorized, "session_expired")
	}
	if n := c.idp.requests("/token") - before; n != 1 {
		t.Errorf("%d token requests for one ended session, want exactly 1", n)
	}
	expectEverywhere(ctx, t, c, users[1:], http.StatusOK, "")
	// Signing in again works.
	if _, err := users[0].signIn(ctx, "/"); err != nil {
		t.Fatal(err)
	}
	expectEverywhere(ctx, t, c, users[:1], http.StatusOK, "")
}
