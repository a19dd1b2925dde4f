package refresh_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/logto-bff/bff/backend/internal/authflow"
	"github.com/logto-bff/bff/backend/internal/devidp"
	"github.com/logto-bff/bff/backend/internal/metrics"
	"github.com/logto-bff/bff/backend/internal/refresh"
	"github.com/logto-bff/bff/backend/internal/session"
)

func TestMargin(t *testing.T) {
	for _, tt := range []struct {
		configured, lifetime, want time.Duration
	}{
		{time.Minute, time.Hour, time.Minute},                  // Logto's default token: the configured margin
		{time.Minute, 5 * time.Second, 250 * time.Millisecond}, // shorter than the margin: 5 % of it
		{time.Minute, 15 * time.Second, 750 * time.Millisecond},
		{time.Minute, 20 * time.Minute, time.Minute}, // the crossover
		{0, 5 * time.Second, 0},                      // only expired tokens
		{time.Minute, 0, time.Minute},                // lifetime unknown (older records)
	} {
		if got := refresh.Margin(tt.configured, tt.lifetime); got != tt.want {
			t.Errorf("Margin(%v, %v) = %v, want %v", tt.configured, tt.lifetime, got, tt.want)
		}
	}
}

// TestOneGrantPerLifetime: tokens shorter than the 60 s margin, two minutes
// of steady traffic (a request every 100 ms on the shared clock): at most
// one refresh_token grant per token lifetime (plus one), and at least one
// per lifetime less one (refresh does happen), every request served.
func TestOneGrantPerLifetime(t *testing.T) {
	const traffic, every = 2 * time.Minute, 100 * time.Millisecond
	for _, ttl := range []time.Duration{5 * time.Second, 15 * time.Second} {
		t.Run(ttl.String(), func(t *testing.T) {
			f := newFixture(t, fixtureOptions{accessTTL: ttl})
			cookie := f.signIn(t)
			r := f.replicas[0]
			for elapsed := time.Duration(0); elapsed < traffic; elapsed += every {
				sess, err := r.refresher.Session(context.Background(), f.load(t, 0, cookie))
				if err != nil {
					t.Fatalf("at %v: %v", elapsed, err)
				}
				if !f.clock.Now().Before(sess.Tokens.AccessTokenExpiry) {
					t.Fatalf("at %v: served an expired token", elapsed)
				}
				f.clock.Advance(every)
			}
			limit := int(traffic/ttl) + 1
			got := f.grants()
			t.Logf("%v tokens, %v of traffic: %d refresh_token grants (limit %d)", ttl, traffic, got, limit)
			if got > limit || got < limit-2 {
				t.Errorf("%d grants, want between %d and %d", got, limit-2, limit)
			}
			if s := f.refreshes(t, 0, metrics.RefreshSuccess); int(s) != got {
				t.Errorf("success metric %v, grants %d", s, got)
			}
		})
	}
}

// TestRecordWithoutLifetimeUsesConfiguredMargin: a session written before
// lifetimes were recorded is refreshed within the configured margin.
func TestRecordWithoutLifetimeUsesConfiguredMargin(t *testing.T) {
	f := newFixture(t, fixtureOptions{accessTTL: 5 * time.Minute})
	cookie := f.signIn(t)
	r := f.replicas[0]
	sess := f.load(t, 0, cookie)
	if sess.Tokens.AccessTokenLifetime != 5*time.Minute {
		t.Fatalf("lifetime recorded at sign-in = %v", sess.Tokens.AccessTokenLifetime)
	}
	// Write the record back as an older version would have.
	unlock, err := r.sessions.Lock(context.Background(), sess.LockKey(), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	sess.Tokens.AccessTokenLifetime = 0
	if err := r.sessions.Save(context.Background(), sess); err != nil {
		t.Fatal(err)
	}
	unlock()
	f.clock.Advance(5*time.Minute - 50*time.Second) // within 60 s, outside 15 s
	got, err := r.refresher.Session(context.Background(), f.load(t, 0, cookie))
	if err != nil {
		t.Fatal(err)
	}
	if f.grants() != 1 || got.Tokens.AccessTokenLifetime != 5*time.Minute {
		t.Errorf("grants %d, lifetime now %v: want one refresh that records the lifetime", f.grants(), got.Tokens.AccessTokenLifetime)
	}
}

// TestConcurrentRequestsAcrossReplicasOneGrant: right after expiry, n
// concurrent requests spread over two replicas sharing Redis: exactly one
// grant, no refresh-token reuse, every request served with a fresh token.
func TestConcurrentRequestsAcrossReplicasOneGrant(t *testing.T) {
	for _, ttl := range []time.Duration{5 * time.Second, 15 * time.Second} {
		for _, n := range []int{20, 50} {
			t.Run(fmt.Sprintf("%v/%d", ttl, n), func(t *testing.T) {
				f := newFixture(t, fixtureOptions{store: "redis", replicas: 2, accessTTL: ttl})
				cookie := f.signIn(t)
				f.clock.Advance(ttl + 10*time.Millisecond)
				sessions := make([]*session.Session, n)
				for i := range n {
					sessions[i] = f.load(t, i%2, cookie)
				}
				errs := make([]error, n)
				start := make(chan struct{})
				var wg sync.WaitGroup
				for i := range n {
					wg.Add(1)
					go func() {
						defer wg.Done()
						<-start
						s, err := f.replicas[i%2].refresher.Session(context.Background(), sessions[i])
						if err == nil && !f.clock.Now().Before(s.Tokens.AccessTokenExpiry) {
							err = errors.New("served an expired token")
						}
						errs[i] = err
					}()
				}
				close(start)
				wg.Wait()
				for i, err := range errs {
					if err != nil {
						t.Errorf("request %d (replica %d): %v", i, i%2, err)
					}
				}
				st := f.idp.Stats()
				if st.RefreshGrants != 1 || st.RefreshReuse != 0 || st.GrantsRevoked != 0 {
					t.Errorf("IdP stats %+v: want exactly one grant, no reuse", st)
				}
				success := f.refreshes(t, 0, metrics.RefreshSuccess) + f.refreshes(t, 1, metrics.RefreshSuccess)
				if success != 1 {
					t.Errorf("success metric across replicas = %v", success)
				}
			})
		}
	}
}

// TestIdPDownBeforeExpiryDefers: a refresh ahead of expiry that fails
// because Logto is unreachable serves the current token (warn log,
// "deferred" metric); once the token has expired the failure is
// authflow.ErrUnavailable (503 at the edge), fast, never the end of the
// session; Logto back → one refresh.
func TestIdPDownBeforeExpiryDefers(t *testing.T) {
	for _, store := range []string{"memory", "redis"} {
		t.Run(store, func(t *testing.T) {
			const ttl = 5 * time.Second
			f := newFixture(t, fixtureOptions{store: store, accessTTL: ttl})
			cookie := f.signIn(t)
			r := f.replicas[0]
			before := f.load(t, 0, cookie)

			// 1 s left: outside the 250 ms margin, nothing asks Logto.
			f.idpUp.Store(false)
			f.clock.Advance(ttl - time.Second)
			if s, err := r.refresher.Session(context.Background(), f.load(t, 0, cookie)); err != nil || s.Tokens.AccessToken != before.Tokens.AccessToken {
				t.Fatalf("1 s left, IdP down: %v", err)
			}
			// 200 ms left: within the margin, the refresh fails, the token
			// is still served.
			f.clock.Advance(800 * time.Millisecond)
			s, err := r.refresher.Session(context.Background(), f.load(t, 0, cookie))
			if err != nil || s.Tokens.AccessToken != before.Tokens.AccessToken {
				t.Fatalf("200 ms left, IdP down: %v", err)
			}
			if d := f.refreshes(t, 0, metrics.RefreshDeferred); d != 1 {
				t.Errorf("deferred metric = %v", d)
			}
			if !strings.Contains(f.logs.String(), `"level":"WARN","msg":"token refresh deferred`) {
				t.Error("no warning logged for the deferred refresh")
			}
			// Expired: a transient error, quickly, and the session is kept.
			f.clock.Advance(200 * time.Millisecond)
			start := time.Now()
			_, err = r.refresher.Session(context.Background(), f.load(t, 0, cookie))
			if !errors.Is(err, authflow.ErrUnavailable) || errors.Is(err, refresh.ErrSessionEnded) {
				t.Fatalf("expired, IdP down: %v, want authflow.ErrUnavailable", err)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("took %v", d)
			}
			if f.refreshes(t, 0, metrics.RefreshFailure) != 1 {
				t.Errorf("failure metric = %v", f.refreshes(t, 0, metrics.RefreshFailure))
			}
			if kept := f.load(t, 0, cookie); kept.Tokens.RefreshToken != before.Tokens.RefreshToken {
				t.Fatal("session changed during the outage")
			}
			// Logto back: one refresh.
			f.idpUp.Store(true)
			s, err = r.refresher.Session(context.Background(), f.load(t, 0, cookie))
			if err != nil || s.Tokens.AccessToken == before.Tokens.AccessToken {
				t.Fatalf("IdP back: %v", err)
			}
			if st := f.idp.Stats(); st.RefreshGrants != 1 || st.RefreshReuse != 0 {
				t.Errorf("IdP stats %+v", st)
			}
			if !strings.Contains(f.logs.String(), "deferred") || strings.Contains(f.logs.String(), before.Tokens.RefreshToken) ||
				strings.Contains(f.logs.String(), before.Tokens.AccessToken) {
				t.Error("a token reached the log")
			}
		})
	}
}

// TestLockBusyBeforeExpiryDefers: another holder keeps the session's lock;
// a request whose token is still valid waits at most until that token
// expires, then is served with it.
func TestLockBusyBeforeExpiryDefers(t *testing.T) {
	const ttl = 15 * time.Second
	f := newFixture(t, fixtureOptions{store: "redis", replicas: 2, accessTTL: ttl})
	cookie := f.signIn(t)
	before := f.load(t, 0, cookie)
	unlock, err := f.replicas[1].sessions.Lock(context.Background(), before.LockKey(), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	f.clock.Advance(ttl - 300*time.Millisecond) // within the 750 ms margin
	start := time.Now()
	s, err := f.replicas[0].refresher.Session(context.Background(), f.load(t, 0, cookie))
	waited := time.Since(start)
	if err != nil || s.Tokens.AccessToken != before.Tokens.AccessToken {
		t.Fatalf("lock busy, token valid: %v", err)
	}
	if waited > 2*time.Second {
		t.Errorf("waited %v for the lock with 300 ms of token left", waited)
	}
	if f.grants() != 0 || f.refreshes(t, 0, metrics.RefreshDeferred) != 1 {
		t.Errorf("grants %d, deferred %v", f.grants(), f.refreshes(t, 0, metrics.RefreshDeferred))
	}
}

// TestInvalidGrantEndsSessionEvenBeforeExpiry: Logto rejecting the refresh
// token ends the session at once (tombstone on every replica), valid
// access token or not.
func TestInvalidGrantEndsSessionEvenBeforeExpiry(t *testing.T) {
	const ttl = 5 * time.Second
	f := newFixture(t, fixtureOptions{store: "redis", replicas: 2, accessTTL: ttl})
	cookie := f.signIn(t)
	if n := f.idp.RevokeGrants(devidp.AliceID); n == 0 {
		t.Fatal("no grant revoked")
	}
	f.clock.Advance(ttl - 100*time.Millisecond)
	if _, err := f.replicas[0].refresher.Session(context.Background(), f.load(t, 0, cookie)); !errors.Is(err, refresh.ErrSessionEnded) {
		t.Fatalf("refresh with a revoked grant: %v, want ErrSessionEnded", err)
	}
	for i := range 2 {
		s := f.load(t, i, cookie)
		if !refresh.Ended(s) || len(s.Me) != 0 {
			t.Errorf("replica %d: not a tombstone", i)
		}
		if _, err := f.replicas[i].refresher.Session(context.Background(), s); !errors.Is(err, refresh.ErrSessionEnded) {
			t.Errorf("replica %d later: %v", i, err)
		}
	}
	if f.refreshes(t, 0, metrics.RefreshExpired) != 1 || f.refreshes(t, 0, metrics.RefreshDeferred) != 0 {
		t.Error("expired metric not counted once")
	}
}

// TestResourceTokenDefersThenFails: the same rules through resource and
// organization tokens.
func TestResourceTokenDefersThenFails(t *testing.T) {
	const ttl = 15 * time.Second
	f := newFixture(t, fixtureOptions{store: "redis", replicas: 2, accessTTL: ttl})
	cookie := f.signIn(t)
	ctx := context.Background()
	for _, target := range []struct{ resource, organization string }{
		{devidp.DefaultResourceIndicator, ""},
		{"", devidp.DefaultOrganizationID},
	} {
		first, err := f.replicas[0].refresher.ResourceToken(ctx, f.load(t, 0, cookie), target.resource, target.organization)
		if err != nil || first == "" {
			t.Fatalf("%+v: first token: %v", target, err)
		}
		stored := f.load(t, 1, cookie).Tokens.Resources[authflow.ResourceKey(target.resource, target.organization)]
		if stored.Lifetime != ttl {
			t.Errorf("%+v: lifetime recorded %v", target, stored.Lifetime)
		}
	}
	grants := f.grants()

	f.idpUp.Store(false)
	f.clock.Advance(ttl - 500*time.Millisecond) // within 750 ms: due, still valid
	for i := range 2 {
		tok, err := f.replicas[i].refresher.ResourceToken(ctx, f.load(t, i, cookie), devidp.DefaultResourceIndicator, "")
		if err != nil || tok == "" {
			t.Errorf("replica %d, IdP down, token valid: %v", i, err)
		}
	}
	f.clock.Advance(time.Second) // expired
	if _, err := f.replicas[1].refresher.ResourceToken(ctx, f.load(t, 1, cookie), "", devidp.DefaultOrganizationID); !errors.Is(err, authflow.ErrUnavailable) {
		t.Errorf("expired organization token, IdP down: %v", err)
	}
	f.idpUp.Store(true)
	tok, err := f.replicas[1].refresher.ResourceToken(ctx, f.load(t, 1, cookie), devidp.DefaultResourceIndicator, "")
	if err != nil || tok == "" {
		t.Fatalf("IdP back: %v", err)
	}
	if st := f.idp.Stats(); int(st.RefreshGrants)-grants != 1 || st.RefreshReuse != 0 {
		t.Errorf("IdP back: %d grants, stats %+v; want one", int(st.RefreshGrants)-grants, st)
	}
	if d := f.refreshes(t, 0, metrics.RefreshDeferred) + f.refreshes(t, 1, metrics.RefreshDeferred); d != 2 {
		t.Errorf("deferred across replicas = %v", d)
	}
}

// TestStoreDownAfterRotationSavesInBackground: the store goes away between
// Logto rotating the refresh token and the save. The request is served
// with its still valid token (deferred); the rotated tokens are saved by
// the background tracker once the store is back, holding the session's
// lock meanwhile, so no replica presents the consumed refresh token.
func TestStoreDownAfterRotationSavesInBackground(t *testing.T) {
	const ttl = 15 * time.Second
	f := newFixture(t, fixtureOptions{store: "redis", replicas: 2, accessTTL: ttl})
	cookie := f.signIn(t)
	before := f.load(t, 0, cookie)
	var once sync.Once
	hook := func() { once.Do(f.redis.Stop) }
	f.beforeGrant.Store(&hook)

	f.clock.Advance(ttl - 500*time.Millisecond) // due, still valid
	s, err := f.replicas[0].refresher.Session(context.Background(), before)
	if err != nil || s.Tokens.AccessToken != before.Tokens.AccessToken {
		t.Fatalf("store down after the grant, token valid: %v", err)
	}
	if n := f.replicas[0].bg.Running(); n != 1 {
		t.Fatalf("%d background saves running, want 1", n)
	}
	f.beforeGrant.Store(nil)
	f.redis.Start()
	if err := f.replicas[0].bg.Drain(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	after := f.load(t, 1, cookie)
	if after.Tokens.RefreshToken == before.Tokens.RefreshToken || after.Tokens.AccessToken == before.Tokens.AccessToken {
		t.Fatal("the rotated tokens were not saved")
	}
	// The other replica refreshes with the saved (rotated) refresh token.
	f.clock.Advance(ttl)
	if _, err := f.replicas[1].refresher.Session(context.Background(), after); err != nil {
		t.Fatal(err)
	}
	if st := f.idp.Stats(); st.RefreshGrants != 2 || st.RefreshReuse != 0 {
		t.Errorf("IdP stats %+v", st)
	}
	if !strings.Contains(f.logs.String(), "refreshed tokens saved after a session-store outage") {
		t.Error("the background save was not logged")
	}
}

// TestTokenExpiringWhileWaitingForTheLockWaitsOn: a request whose token
// expires while it waits for another holder of the session's lock goes on
// waiting (within its budget) and refreshes, rather than failing the
// moment its token expires.
func TestTokenExpiringWhileWaitingForTheLockWaitsOn(t *testing.T) {
	const ttl = 15 * time.Second
	f := newFixture(t, fixtureOptions{store: "redis", replicas: 2, accessTTL: ttl})
	cookie := f.signIn(t)
	before := f.load(t, 0, cookie)
	unlock, err := f.replicas[1].sessions.Lock(context.Background(), before.LockKey(), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(ttl - 300*time.Millisecond) // due, 300 ms left
	f.clock.Run()
	time.AfterFunc(time.Second, unlock) // the other holder leaves after the token expired
	s, err := f.replicas[0].refresher.Session(context.Background(), before)
	if err != nil {
		t.Fatalf("token expired while waiting for the lock: %v", err)
	}
	if s.Tokens.AccessToken == before.Tokens.AccessToken || f.grants() != 1 {
		t.Errorf("not refreshed after the wait (grants %d)", f.grants())
	}
}

// TestConflictingSaveKeepsTheNewerSessionAndRevokesNothing: another writer
// saves the session while this refresh's grant is in flight (its lock lease
// was lost). The newer save wins and is served; nothing is revoked — every
// refresh token of a grant is the same grant at Logto, so revoking ours
// would end the session the other writer has just saved.
func TestConflictingSaveKeepsTheNewerSessionAndRevokesNothing(t *testing.T) {
	const ttl = 15 * time.Second
	f := newFixture(t, fixtureOptions{store: "redis", replicas: 2, accessTTL: ttl})
	cookie := f.signIn(t)
	before := f.load(t, 0, cookie)
	var once sync.Once
	hook := func() {
		once.Do(func() {
			other, err := f.replicas[1].sessions.Reload(context.Background(), before)
			if err != nil {
				t.Errorf("reload on the other replica: %v", err)
				return
			}
			other.Tokens.AccessToken = "saved-by-the-other-writer"
			other.Tokens.AccessTokenExpiry = f.clock.Now().Add(time.Hour)
			if err := f.replicas[1].sessions.Save(context.Background(), other); err != nil {
				t.Errorf("save on the other replica: %v", err)
			}
		})
	}
	f.beforeGrant.Store(&hook)
	f.clock.Advance(ttl) // expired: the refresh is needed now
	s, err := f.replicas[0].refresher.Session(context.Background(), before)
	if err != nil {
		t.Fatalf("conflicting save: %v", err)
	}
	if s.Tokens.AccessToken != "saved-by-the-other-writer" {
		t.Errorf("served access token %q, want the newer save's", s.Tokens.AccessToken)
	}
	if got := f.load(t, 1, cookie).Tokens.AccessToken; got != "saved-by-the-other-writer" {
		t.Errorf("stored access token %q: the newer save was overwritten", got)
	}
	if st := f.idp.Stats(); st.Revocations != 0 || st.GrantsRevoked != 0 {
		t.Errorf("IdP stats %+v: a conflicting save must revoke nothing", st)
	}
}
