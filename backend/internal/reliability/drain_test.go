package reliability

import (
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/logto-bff/bff/backend/internal/devidp/devidptest"
)

// A replica asked to stop (SIGTERM) right after it answered a back-channel
// logout, while the revocation of the ended session's refresh token is
// still on its way to a slow Logto: the process waits for it before it
// exits, so the grant does not outlive the session. (A revocation that
// cannot finish within the drain's bound is recorded for another replica:
// revocation.TestShutdownDuringBackchannelRevocationRecordsForRetry.)
func TestShutdownDuringBackchannelLogoutStillRevokes(t *testing.T) {
	ctx := deadline(t, 60*time.Second)
	c := newCluster(t, clusterOptions{replicas: 1, users: 1})
	u := signInAll(ctx, t, c, 1)[0]
	before := c.idp.provider.Stats()

	const slow = 3 * time.Second
	c.idp.setDelay("/token/revocation", slow)
	end := c.idp.issuer() + "/session/end?" + url.Values{"client_id": {clientID}, "post_logout_redirect_uri": {publicURL + "/"}}.Encode()
	resp, err := devidptest.SignOut(ctx, u.follow, end)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	st := c.idp.provider.Stats()
	if st.BackchannelDelivered != before.BackchannelDelivered+1 || st.Revocations != before.Revocations {
		t.Fatalf("after the back-channel logout: %+v (before %+v); want one delivery, no revocation yet", st, before)
	}

	start := time.Now()
	if err := c.replicas[0].stop(); err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	if got := c.idp.provider.Stats().Revocations - before.Revocations; got != 1 {
		t.Errorf("refresh tokens revoked by the time the replica exited: %d, want 1", got)
	}
	logs, _ := os.ReadFile(c.replicas[0].stderrPath)
	if !strings.Contains(string(logs), "background work finished") {
		t.Errorf("the drain was not logged:\n%s", tail(c.replicas[0].stderrPath, 10))
	}
	t.Logf("SIGTERM during a revocation held %v at the IdP: the replica exited after %v", slow, took.Round(time.Millisecond))
}
