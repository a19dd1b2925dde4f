package store_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/logto-bff/bff/backend/internal/store"
	"github.com/logto-bff/bff/backend/internal/store/storetest"
)

func TestMemoryConformance(t *testing.T) {
	storetest.Run(t, func(t testing.TB) store.Store {
		m := store.NewMemory(store.MemoryOptions{JanitorInterval: 20 * time.Millisecond})
		t.Cleanup(func() { m.Close() })
		return m
	})
}

// fakeClock is a settable clock for expiry tests.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func newClock() *fakeClock { return &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)} }

func TestMemoryExpiryFollowsTheClock(t *testing.T) {
	clk := newClock()
	m := store.NewMemory(store.MemoryOptions{Now: clk.Now, JanitorInterval: -1})
	defer m.Close()
	ctx := context.Background()
	if err := m.Set(ctx, "k", []byte("v"), time.Minute); err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Minute - time.Nanosecond)
	if v, _ := m.Get(ctx, "k"); string(v) != "v" {
		t.Fatalf("Get just before expiry = %q, want v", v)
	}
	clk.Advance(time.Nanosecond)
	if v, _ := m.Get(ctx, "k"); v != nil {
		t.Fatalf("Get at expiry = %q, want nil", v)
	}
	// A sub-millisecond TTL is rounded up to 1 ms, not kept forever.
	if err := m.Set(ctx, "k", []byte("v"), 0); err != nil {
		t.Fatal(err)
	}
	if v, _ := m.Get(ctx, "k"); string(v) != "v" {
		t.Fatalf("Get right after Set with TTL 0 = %q, want v (rounded up to 1 ms)", v)
	}
	clk.Advance(time.Millisecond)
	if v, _ := m.Get(ctx, "k"); v != nil {
		t.Fatalf("Get 1 ms after Set with TTL 0 = %q, want nil", v)
	}
}

func TestMemoryJanitorEvictsExpiredEntries(t *testing.T) {
	clk := newClock()
	m := store.NewMemory(store.MemoryOptions{Now: clk.Now, JanitorInterval: 5 * time.Millisecond})
	defer m.Close()
	ctx := context.Background()
	for i := range 1000 {
		if err := m.Set(ctx, fmt.Sprint("short", i), make([]byte, 100), time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.Set(ctx, "long", []byte("v"), time.Hour); err != nil {
		t.Fatal(err)
	}
	if m.Len() != 1001 {
		t.Fatalf("Len = %d, want 1001", m.Len())
	}
	clk.Advance(2 * time.Minute)
	deadline := time.Now().Add(5 * time.Second)
	for m.Len() != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("janitor left %d entries, want 1 (the live one)", m.Len())
		}
		time.Sleep(5 * time.Millisecond)
	}
	if want := int64(len("long") + 1 + 64); m.Bytes() != want {
		t.Fatalf("Bytes = %d after eviction, want %d", m.Bytes(), want)
	}
}

func TestMemoryBoundedSize(t *testing.T) {
	clk := newClock()
	// Room for exactly ten entries of key "kN" + 100-byte value.
	const entry = 2 + 100 + 64
	m := store.NewMemory(store.MemoryOptions{Now: clk.Now, JanitorInterval: -1, MaxBytes: 10 * entry})
	defer m.Close()
	ctx := context.Background()
	val := make([]byte, 100)
	for i := range 10 {
		if err := m.Set(ctx, fmt.Sprint("k", i), val, time.Minute); err != nil {
			t.Fatalf("Set %d: %v", i, err)
		}
	}
	err := m.Set(ctx, "kX", val, time.Minute)
	if !errors.Is(err, store.ErrFull) {
		t.Fatalf("Set into a full store = %v, want ErrFull", err)
	}
	if ok, err := m.CompareAndSwap(ctx, "kY", nil, val, time.Minute); ok || !errors.Is(err, store.ErrFull) {
		t.Fatalf("CompareAndSwap into a full store = %v, %v; want false, ErrFull", ok, err)
	}
	if v, _ := m.Get(ctx, "kX"); v != nil {
		t.Fatal("a refused write stored its value")
	}
	// Overwriting an entry with one of the same size fits.
	if err := m.Set(ctx, "k0", make([]byte, 100), time.Minute); err != nil {
		t.Fatalf("same-size overwrite in a full store: %v", err)
	}
	// A delete makes room.
	if ok, _ := m.CompareAndDelete(ctx, "k0", nil); !ok {
		t.Fatal("delete failed")
	}
	if err := m.Set(ctx, "kX", val, time.Minute); err != nil {
		t.Fatalf("Set after a delete: %v", err)
	}
	// Expired entries are evicted when the store is full, even without a
	// janitor.
	clk.Advance(2 * time.Minute)
	if err := m.Set(ctx, "kZ", val, time.Minute); err != nil {
		t.Fatalf("Set into a store full of expired entries: %v", err)
	}
	if m.Len() != 1 {
		t.Fatalf("Len = %d after the sweep, want 1", m.Len())
	}
	// A value larger than the whole bound is refused.
	if err := m.Set(ctx, "huge", make([]byte, 11*entry), time.Minute); !errors.Is(err, store.ErrFull) {
		t.Fatalf("Set of a value larger than MaxBytes = %v, want ErrFull", err)
	}
}

func TestMemoryCloseIsFinal(t *testing.T) {
	m := store.NewMemory(store.MemoryOptions{})
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Get(context.Background(), "k"); !errors.Is(err, store.ErrClosed) {
		t.Fatalf("Get after Close = %v, want ErrClosed", err)
	}
	if err := m.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}
