package httpapi

import (
	"net/http"
	"testing"
	"time"
)

// TestShutdownDrainsBackchannelRevocation: the back-channel logout answers
// Logto before it revokes the ended sessions' refresh tokens; a shutdown
// right then (the servers closed, then the background tracker drained, as
// cmd/bff does) still revokes them.
func TestShutdownDrainsBackchannelRevocation(t *testing.T) {
	cl := newCluster(t, clusterOptions{nodes: 1})
	b := cl.browser(t)
	b.signIn(t, 0)
	cl.holdLogouts.Store(true) // deliver the logout token ourselves
	b.signOutAtIdP(t, cl.endSessionURL())
	tokens := cl.logoutTokens("/bff")
	if len(tokens) != 1 {
		t.Fatalf("%d logout tokens delivered", len(tokens))
	}
	revoked := cl.idp.Stats().Revocations

	const delay = 700 * time.Millisecond
	cl.revocationDelay.Store(int64(delay))
	start := time.Now()
	if code, errCode := b.postLogout(t, 0, tokens[0]); code != http.StatusOK {
		t.Fatalf("back-channel logout = %d %s", code, errCode)
	}
	if d := time.Since(start); d >= delay {
		t.Errorf("the logout waited %v for the revocation", d)
	}
	n := cl.nodes[0]
	if n.bg.Running() != 1 || cl.idp.Stats().Revocations != revoked {
		t.Fatalf("revocation not pending in the background (running %d)", n.bg.Running())
	}
	// Shutdown: no more requests, then the drain.
	n.srv.Close()
	if err := n.bg.Drain(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	if got := cl.idp.Stats().Revocations - revoked; got != 1 {
		t.Errorf("refresh tokens revoked by the time the drain returned = %d, want 1", got)
	}
}
