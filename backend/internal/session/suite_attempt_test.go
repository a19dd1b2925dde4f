package session

import (
	"context"
	"errors"
	"fmt"
	"github.com/logto-bff/bff/backend/internal/authflow"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func begin(t testing.TB, m *Manager, b *browser, state string) {
	t.Helper()
	w := httptest.NewRecorder()
	err := m.BeginAttempt(w, b.request(), authflow.Attempt{State: state, Nonce: "n-" + state, CodeVerifier: "v-" + state, ReturnTo: "/after/" + state})
	if err != nil {
		t.Fatalf("BeginAttempt(%s): %v", state, err)
	}
	b.absorb(w)
}

func take(m *Manager, b *browser, state string) (*authflow.Attempt, error) {
	return m.TakeAttempt(httptest.NewRecorder(), b.request(), state)
}

func testAttempts(t *testing.T, e *env) {
	m := e.open(t, Config{Secure: true, AttemptTTL: 10 * time.Minute})
	victim, attacker := newBrowser(), newBrowser()

	w := httptest.NewRecorder()
	if err := m.BeginAttempt(w, victim.request(), authflow.Attempt{State: "s1", Nonce: "n1", CodeVerifier: "v1", ReturnTo: "/a"}); err != nil {
		t.Fatal(err)
	}
	c := setCookie(w, "__Host-bff-signin")
	if c == nil || !c.HttpOnly || !c.Secure || c.SameSite != http.SameSiteLaxMode || c.Path != "/" || c.MaxAge != 600 || c.Value == "" {
		t.Fatalf("binding cookie = %+v", c)
	}
	victim.absorb(w)
	bindValue := c.Value
	begin(t, m, victim, "s2") // a second tab
	if got := victim.cookies["__Host-bff-signin"].Value; got != bindValue {
		t.Fatal("a second attempt replaced the binding cookie value")
	}
	begin(t, m, attacker, "evil")

	// Another browser (none, or its own binding) cannot take the victim's
	// attempt, and trying does not consume it.
	if _, err := take(m, newBrowser(), "s1"); !errors.Is(err, ErrNoAttempt) {
		t.Fatalf("take without binding cookie: %v, want ErrNoAttempt", err)
	}
	if _, err := take(m, attacker, "s1"); !errors.Is(err, ErrNoAttempt) {
		t.Fatalf("take from another browser: %v, want ErrNoAttempt", err)
	}
	if _, err := take(m, victim, "evil"); !errors.Is(err, ErrNoAttempt) {
		t.Fatalf("victim took the attacker's attempt: %v", err)
	}

	// Both tabs' attempts are takeable, each once, in any order.
	for _, state := range []string{"s2", "s1"} {
		a, err := take(m, victim, state)
		if err != nil {
			t.Fatalf("take %s: %v", state, err)
		}
		wantNonce := map[string]string{"s1": "n1", "s2": "n-s2"}[state]
		if a.State != state || a.Nonce != wantNonce || a.CreatedAt.IsZero() {
			t.Fatalf("take %s = %+v", state, a)
		}
		if _, err := take(m, victim, state); !errors.Is(err, ErrNoAttempt) {
			t.Fatalf("replayed take %s: %v, want ErrNoAttempt", state, err)
		}
	}
	if a, err := take(m, attacker, "evil"); err != nil || a.ReturnTo != "/after/evil" {
		t.Fatalf("attacker's own attempt = %+v, %v", a, err)
	}
	for _, state := range []string{"", "unknown", string(make([]byte, 600))} {
		if _, err := take(m, victim, state); !errors.Is(err, ErrNoAttempt) {
			t.Fatalf("take %q: %v, want ErrNoAttempt", state, err)
		}
	}

	// Expiry by the injected clock.
	begin(t, m, victim, "late")
	e.clock.Advance(10*time.Minute + time.Second)
	if _, err := take(m, victim, "late"); !errors.Is(err, ErrNoAttempt) {
		t.Fatalf("expired attempt: %v, want ErrNoAttempt", err)
	}
	if err := m.BeginAttempt(httptest.NewRecorder(), victim.request(), authflow.Attempt{}); err == nil {
		t.Fatal("BeginAttempt accepted an empty state")
	}
}

func testAttemptBound(t *testing.T, e *env) {
	m := e.open(t, Config{MaxAttempts: 3})
	b := newBrowser()
	for i := range 5 {
		begin(t, m, b, fmt.Sprintf("s%d", i))
	}
	for i := range 5 {
		_, err := take(m, b, fmt.Sprintf("s%d", i))
		if wantGone := i < 2; wantGone != errors.Is(err, ErrNoAttempt) || (!wantGone && err != nil) {
			t.Fatalf("attempt s%d: %v (the oldest two should be dropped)", i, err)
		}
	}
	// Re-beginning a state does not count twice.
	other := newBrowser()
	for range 4 {
		begin(t, m, other, "same")
	}
	begin(t, m, other, "x")
	if _, err := take(m, other, "same"); err != nil {
		t.Fatalf("re-begun state dropped: %v", err)
	}
}

func testAttemptConcurrentTake(t *testing.T, e *env) {
	m := e.open(t, Config{})
	b := newBrowser()
	begin(t, m, b, "once")
	var wins atomic.Int32
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if _, err := take(m, b, "once"); err == nil {
				wins.Add(1)
			} else if !errors.Is(err, ErrNoAttempt) {
				t.Errorf("take: %v", err)
			}
		})
	}
	wg.Wait()
	if wins.Load() != 1 {
		t.Fatalf("%d concurrent takes succeeded, want exactly 1", wins.Load())
	}
}

func testMarkJTI(t *testing.T, e *env) {
	m := e.open(t, Config{})
	other := e.open(t, Config{})
	ctx := context.Background()
	for _, tt := range []struct {
		m    *Manager
		jti  string
		want bool
	}{
		{m, "jti-1", true},
		{m, "jti-1", false},
		{other, "jti-1", false}, // replayed to another replica
		{other, "jti-2", true},
	} {
		got, err := tt.m.MarkJTI(ctx, tt.jti, 2*time.Minute)
		if err != nil || got != tt.want {
			t.Fatalf("MarkJTI(%s) = %v, %v; want %v", tt.jti, got, err, tt.want)
		}
	}
	if _, err := m.MarkJTI(ctx, "", time.Minute); err == nil {
		t.Fatal("MarkJTI accepted an empty jti")
	}
}

func testLockExclusion(t *testing.T, e *env) {
	managers := []*Manager{e.open(t, Config{}), e.open(t, Config{})}
	ctx := context.Background()
	var inside, maxInside, total atomic.Int32
	var wg sync.WaitGroup
	for i := range 8 {
		m := managers[i%2]
		wg.Go(func() {
			for range 5 {
				unlock, err := m.Lock(ctx, "session:k", 5*time.Second)
				if err != nil {
					t.Errorf("Lock: %v", err)
					return
				}
				n := inside.Add(1)
				if n > maxInside.Load() {
					maxInside.Store(n)
				}
				time.Sleep(200 * time.Microsecond)
				inside.Add(-1)
				total.Add(1)
				unlock()
				unlock() // idempotent
			}
		})
	}
	wg.Wait()
	if maxInside.Load() != 1 || total.Load() != 40 {
		t.Fatalf("max holders %d (want 1), completed %d (want 40)", maxInside.Load(), total.Load())
	}
	// Different keys do not exclude each other.
	u1, err := managers[0].Lock(ctx, "a", time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer u1()
	tctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	u2, err := managers[1].Lock(tctx, "b", time.Second)
	if err != nil {
		t.Fatalf("Lock on another key blocked: %v", err)
	}
	u2()
}

func testLockContext(t *testing.T, e *env) {
	m1, m2 := e.open(t, Config{}), e.open(t, Config{})
	ctx := context.Background()
	unlock, err := m1.Lock(ctx, "k", 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	// Blocked in the store (another replica) and in-process (same Manager).
	for name, m := range map[string]*Manager{"other replica": m2, "same process": m1} {
		tctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
		_, err := m.Lock(tctx, "k", time.Second)
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("%s: Lock while held = %v, want context.DeadlineExceeded", name, err)
		}
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := m2.Lock(cctx, "k", time.Second); !errors.Is(err, context.Canceled) {
		t.Fatalf("Lock with a canceled context = %v", err)
	}

	// Released on unlock: a waiter gets it promptly.
	got := make(chan error, 1)
	go func() {
		tctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		u, err := m2.Lock(tctx, "k", time.Second)
		if err == nil {
			u()
		}
		got <- err
	}()
	time.Sleep(20 * time.Millisecond)
	start := time.Now()
	unlock()
	if err := <-got; err != nil {
		t.Fatalf("waiter after unlock: %v", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("waiter took %v after unlock", d)
	}
	// And the in-process side was released too.
	u, err := m1.Lock(ctx, "k", time.Second)
	if err != nil {
		t.Fatal(err)
	}
	u()
}
