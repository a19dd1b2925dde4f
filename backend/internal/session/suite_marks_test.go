package session

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

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

// testMarkOnce: of many concurrent marks of one key on two replicas exactly
// one is fresh; marks of other keys are independent; the store sees a hash
// of the key, kept at least a second.
func testMarkOnce(t *testing.T, e *env) {
	ms := []*Manager{e.open(t, Config{}), e.open(t, Config{})}
	ctx := context.Background()
	var fresh atomic.Int32
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Go(func() {
			ok, err := ms[i%2].MarkOnce(ctx, "signin-state\x00digest", time.Minute)
			if err != nil {
				t.Errorf("MarkOnce: %v", err)
			}
			if ok {
				fresh.Add(1)
			}
		})
	}
	wg.Wait()
	if fresh.Load() != 1 {
		t.Fatalf("%d of 16 concurrent marks were fresh, want exactly 1", fresh.Load())
	}
	if ok, err := ms[0].MarkOnce(ctx, "other-purpose\x00digest", time.Millisecond); err != nil || !ok {
		t.Fatalf("a mark of another key = %v, %v; want fresh", ok, err)
	}
	if ttl, ok := e.st.remaining(t, hashedKey(markPrefix, "other-purpose\x00digest")); !ok || ttl < 999*time.Millisecond {
		t.Fatalf("mark TTL = %v (present %v), want at least 1s", ttl, ok)
	}
	if _, err := ms[0].MarkOnce(ctx, "", time.Minute); err == nil {
		t.Fatal("MarkOnce accepted an empty key")
	}
}
