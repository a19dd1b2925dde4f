package session

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

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
