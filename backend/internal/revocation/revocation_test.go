package revocation_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/logto-bff/bff/backend/internal/authflow"
	"github.com/logto-bff/bff/backend/internal/authflow/authflowtest"
	"github.com/logto-bff/bff/backend/internal/background"
	"github.com/logto-bff/bff/backend/internal/devidp"
	"github.com/logto-bff/bff/backend/internal/redistest"
	"github.com/logto-bff/bff/backend/internal/revocation"
	"github.com/logto-bff/bff/backend/internal/store"
)

const (
	clientID     = "revocation-test-app"
	clientSecret = "revocation-test-secret"
	redirectURL  = "http://bff.test/auth/callback"
)

// fixture is a dev IdP in httptest (switchable off, its revocation
// endpoint delayable) and the store replicas share.
type fixture struct {
	idp    *devidp.Provider
	srv    *httptest.Server
	up     atomic.Bool
	delay  atomic.Int64 // revocation endpoint delay (ns)
	client *authflow.Client
	// newStore opens the shared store for one more replica: the one memory
	// store, or a new client of one real redis-server.
	newStore func() store.Store
}

var stores = []string{"memory", "redis"}

func newFixture(t *testing.T, kind string) *fixture {
	t.Helper()
	f := &fixture{}
	f.up.Store(true)
	var handler atomic.Pointer[http.Handler]
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !f.up.Load() {
			http.Error(w, "unavailable", http.StatusServiceUnavailable)
			return
		}
		if d := time.Duration(f.delay.Load()); d > 0 && strings.HasSuffix(r.URL.Path, "/token/revocation") {
			// Read the body first: only then does net/http notice the
			// client leaving and cancel r's context.
			body, err := io.ReadAll(io.LimitReader(r.Body, 64<<10))
			if err != nil {
				return
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
			select {
			case <-time.After(d):
			case <-r.Context().Done():
				return
			}
		}
		(*handler.Load()).ServeHTTP(w, r)
	}))
	t.Cleanup(f.srv.Close)
	idp, err := devidp.New(devidp.Config{
		Issuer:  f.srv.URL + "/oidc",
		Clients: []devidp.Client{{ID: clientID, Secret: clientSecret, RedirectURIs: []string{redirectURL}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	f.idp = idp
	var h http.Handler = idp
	handler.Store(&h)
	f.client, err = authflow.Discover(context.Background(), authflow.Config{
		Issuer: f.srv.URL + "/oidc", ClientID: clientID, ClientSecret: clientSecret, RedirectURL: redirectURL,
		Scopes: []string{"openid", "offline_access"},
	})
	if err != nil {
		t.Fatal(err)
	}
	switch kind {
	case "memory":
		mem := store.NewMemory(store.MemoryOptions{})
		t.Cleanup(func() { mem.Close() })
		f.newStore = func() store.Store { return mem }
	case "redis":
		srv := redistest.Start(t)
		f.newStore = func() store.Store {
			r, err := store.OpenRedis(srv.URL(), store.RedisOptions{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { r.Close() })
			return r
		}
	}
	return f
}

// refreshToken signs alice in (a real authorization code flow) and returns
// the refresh token the IdP issued.
func (f *fixture) refreshToken(t *testing.T) string {
	t.Helper()
	res, err := authflowtest.SignIn(context.Background(), f.client, devidp.AliceUsername, devidp.AlicePassword)
	if err != nil {
		t.Fatal(err)
	}
	return res.Tokens.RefreshToken
}

// replica is one BFF's Revoker and tracker over the shared store.
func (f *fixture) replica(cfg revocation.Config) (*revocation.Revoker, *background.Tracker) {
	bg := background.New(nil)
	cfg.Background, cfg.Store = bg, f.newStore()
	return revocation.New(cfg), bg
}

func pending(t *testing.T, r *revocation.Revoker) int {
	t.Helper()
	n, err := r.Pending(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestFailedRevocationIsRetriedByAnotherReplica: Logto down while one
// replica revokes (a sign-out, a back-channel logout): the revocations are
// recorded, and another replica's sweep delivers them once Logto is back.
func TestFailedRevocationIsRetriedByAnotherReplica(t *testing.T) {
	for _, kind := range stores {
		t.Run(kind, func(t *testing.T) { failedRevocationIsRetriedByAnotherReplica(t, kind) })
	}
}

func failedRevocationIsRetriedByAnotherReplica(t *testing.T, kind string) {
	f := newFixture(t, kind)
	signOut, backchannel := f.refreshToken(t), f.refreshToken(t)
	a, abg := f.replica(revocation.Config{})
	b, _ := f.replica(revocation.Config{})

	f.up.Store(false)
	a.Revoke(context.Background(), f.client, signOut)
	a.Later(f.client, backchannel)
	if err := abg.Drain(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	if n := pending(t, b); n != 2 {
		t.Fatalf("%d revocations recorded, want 2", n)
	}
	// Logto still down: the sweep keeps them.
	if n, err := b.Sweep(context.Background(), f.client); err != nil || n != 0 || pending(t, b) != 2 {
		t.Fatalf("sweep with Logto down: %d delivered, %v, %d pending", n, err, pending(t, b))
	}
	f.up.Store(true)
	if n, err := b.Sweep(context.Background(), f.client); err != nil || n != 2 {
		t.Fatalf("sweep with Logto back: %d delivered, %v", n, err)
	}
	if st := f.idp.Stats(); st.Revocations != 2 {
		t.Errorf("IdP revocations %d, want 2", st.Revocations)
	}
	if n := pending(t, a); n != 0 {
		t.Errorf("%d still pending", n)
	}
	// The refresh tokens are dead at the IdP.
	if _, err := f.client.Refresh(context.Background(), authflow.Tokens{RefreshToken: signOut}, devidp.AliceID); err == nil {
		t.Error("a revoked refresh token still refreshes")
	}
}

// TestShutdownDuringBackchannelRevocationRecordsForRetry: the back-channel
// logout's revocation is in flight at a Logto that does not answer when
// the replica shuts down; the drain gives up, and another replica delivers
// the revocation.
func TestShutdownDuringBackchannelRevocationRecordsForRetry(t *testing.T) {
	for _, kind := range stores {
		t.Run(kind, func(t *testing.T) { shutdownDuringBackchannelRevocationRecordsForRetry(t, kind) })
	}
}

func shutdownDuringBackchannelRevocationRecordsForRetry(t *testing.T, kind string) {
	f := newFixture(t, kind)
	tok := f.refreshToken(t)
	a, abg := f.replica(revocation.Config{})
	b, _ := f.replica(revocation.Config{})
	f.delay.Store(int64(time.Minute)) // Logto does not answer
	a.Later(f.client, tok)
	time.Sleep(100 * time.Millisecond) // in flight
	start := time.Now()
	err := abg.Drain(200 * time.Millisecond) // shutdown: the drain's bound passes
	t.Logf("drain: %v after %v", err, time.Since(start))
	if d := time.Since(start); d > 200*time.Millisecond+background.Grace+500*time.Millisecond {
		t.Errorf("drain took %v", d)
	}
	if f.idp.Stats().Revocations != 0 || pending(t, b) != 1 {
		t.Fatalf("after the shutdown: %d revocations, %d pending; want 0 and 1", f.idp.Stats().Revocations, pending(t, b))
	}
	f.delay.Store(0)
	if n, err := b.Sweep(context.Background(), f.client); err != nil || n != 1 {
		t.Fatalf("another replica's sweep: %d delivered, %v", n, err)
	}
	if f.idp.Stats().Revocations != 1 || pending(t, b) != 0 {
		t.Errorf("%d revocations, %d pending", f.idp.Stats().Revocations, pending(t, b))
	}
}

// TestDeliveredRevocationsLeaveNothingBehind: with Logto up nothing stays
// recorded.
func TestDeliveredRevocationsLeaveNothingBehind(t *testing.T) {
	for _, kind := range stores {
		t.Run(kind, func(t *testing.T) { deliveredRevocationsLeaveNothingBehind(t, kind) })
	}
}

func deliveredRevocationsLeaveNothingBehind(t *testing.T, kind string) {
	f := newFixture(t, kind)
	r, bg := f.replica(revocation.Config{})
	r.Revoke(context.Background(), f.client, f.refreshToken(t))
	r.Later(f.client, f.refreshToken(t), f.refreshToken(t))
	if err := bg.Drain(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	if st := f.idp.Stats(); st.Revocations != 3 || pending(t, r) != 0 {
		t.Errorf("%d revocations, %d pending; want 3 and 0", st.Revocations, pending(t, r))
	}
}

// TestRetriedOnlyUntilTheTokenWouldHaveExpired: a recorded revocation is
// given up after RetryFor (the refresh token's lifetime): nothing is sent.
func TestRetriedOnlyUntilTheTokenWouldHaveExpired(t *testing.T) {
	for _, kind := range stores {
		t.Run(kind, func(t *testing.T) { retriedOnlyUntilTheTokenWouldHaveExpired(t, kind) })
	}
}

func retriedOnlyUntilTheTokenWouldHaveExpired(t *testing.T, kind string) {
	f := newFixture(t, kind)
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	r, _ := f.replica(revocation.Config{RetryFor: time.Hour, Now: clock})
	f.up.Store(false)
	r.Revoke(context.Background(), f.client, f.refreshTokenUp(t))
	if pending(t, r) != 1 {
		t.Fatal("not recorded")
	}
	mu.Lock()
	now = now.Add(time.Hour)
	mu.Unlock()
	f.up.Store(true)
	if n, err := r.Sweep(context.Background(), f.client); err != nil || n != 0 {
		t.Fatalf("sweep after RetryFor: %d delivered, %v", n, err)
	}
	if f.idp.Stats().Revocations != 0 || pending(t, r) != 0 {
		t.Errorf("%d revocations, %d pending; want none", f.idp.Stats().Revocations, pending(t, r))
	}
}

// refreshTokenUp is refreshToken with the IdP switched on for the sign-in.
func (f *fixture) refreshTokenUp(t *testing.T) string {
	t.Helper()
	was := f.up.Swap(true)
	defer f.up.Store(was)
	return f.refreshToken(t)
}

// TestConcurrentRecordsAreAllKept: replicas recording at once never lose
// each other's entries (compare-and-swap on the one pending list).
func TestConcurrentRecordsAreAllKept(t *testing.T) {
	for _, kind := range stores {
		t.Run(kind, func(t *testing.T) { concurrentRecordsAreAllKept(t, kind) })
	}
}

func concurrentRecordsAreAllKept(t *testing.T, kind string) {
	f := newFixture(t, kind)
	f.up.Store(false)
	const replicas, each = 4, 25
	var wg sync.WaitGroup
	var rs []*revocation.Revoker
	for i := range replicas {
		r, _ := f.replica(revocation.Config{})
		rs = append(rs, r)
		for j := range each {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r.Revoke(context.Background(), f.client, fmt.Sprintf("token-%d-%d", i, j))
			}()
		}
	}
	wg.Wait()
	if n := pending(t, rs[0]); n != replicas*each {
		t.Errorf("%d pending, want %d", n, replicas*each)
	}
}
