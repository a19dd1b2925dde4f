package httpapi

import (
	"context"
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

// TestSignOutRevocationRetriedByAnotherInstance: Logto is down when the
// browser signs out through one instance; the refresh token's revocation
// is recorded in the shared store and delivered by the other instance's
// sweep once Logto is back.
func TestSignOutRevocationRetriedByAnotherInstance(t *testing.T) {
	cl := newCluster(t, clusterOptions{nodes: 2})
	b := cl.browser(t)
	b.signIn(t, 0)
	stored, err := cl.stored(t, 0, b.cookie())
	if err != nil {
		t.Fatal(err)
	}
	revoked := cl.idp.Stats().Revocations

	cl.idpUp.Store(false)
	req, _ := http.NewRequest(http.MethodPost, cl.nodes[0].publicURL()+"/auth/sign-out", nil)
	req.Header.Set("Origin", cl.nodes[0].publicURL())
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := b.noFollow().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-out with Logto down = %d", resp.StatusCode)
	}
	if n, err := cl.nodes[1].revoker.Pending(context.Background()); err != nil || n != 1 {
		t.Fatalf("pending revocations seen by the other instance = %d, %v; want 1", n, err)
	}

	cl.idpUp.Store(true)
	client, err := cl.nodes[1].auth.Client()
	if err != nil {
		t.Fatal(err)
	}
	if n, err := cl.nodes[1].revoker.Sweep(context.Background(), client); err != nil || n != 1 {
		t.Fatalf("the other instance's sweep delivered %d, %v; want 1", n, err)
	}
	if got := cl.idp.Stats().Revocations - revoked; got != 1 {
		t.Errorf("revocations at the IdP = %d, want 1", got)
	}
	// The grant is gone: its refresh token no longer refreshes.
	if _, err := client.Refresh(context.Background(), stored.Tokens, stored.Subject); err == nil {
		t.Error("the signed-out session's refresh token still refreshes")
	}
}
