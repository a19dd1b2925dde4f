package session

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/logto-bff/bff/backend/internal/redistest"
	"github.com/logto-bff/bff/backend/internal/store"
)

// env is one store under test: every Manager it opens shares the same
// storage (one memory store, or one redis-server), like replicas do.
type env struct {
	name  string
	clock *testClock
	// st is the shared store, seen through a spy that records TTLs.
	st *spyStore
	// ttl is the server-side remaining TTL of a session id; false if absent.
	ttl func(t testing.TB, id string) (time.Duration, bool)
	// redis is the server, for Redis envs.
	redis *redistest.Server
}

func (e *env) fill(cfg Config) Config {
	if cfg.Secret == nil {
		cfg.Secret = testSecret
	}
	if cfg.Now == nil {
		cfg.Now = e.clock.Now
	}
	return cfg
}

// open returns a new Manager (a "replica") over the env's store; cfg's
// Secret and Now are filled in when zero. Closing it leaves the store open
// for the others; the env closes it at the end of the test.
func (e *env) open(t testing.TB, cfg Config) *Manager {
	t.Helper()
	m, err := New(e.fill(cfg), sharedStore{e.st})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

func newEnv(t testing.TB, name string, st store.Store, clock *testClock) *env {
	e := &env{name: name, clock: clock, st: &spyStore{Store: st, now: clock.Now}}
	t.Cleanup(func() { st.Close() })
	e.ttl = func(t testing.TB, id string) (time.Duration, bool) {
		t.Helper()
		return e.st.remaining(t, sessionKey(id))
	}
	return e
}

func memoryEnv(t testing.TB) *env {
	clock := newTestClock()
	return newEnv(t, "memory", store.NewMemory(store.MemoryOptions{Now: clock.Now}), clock)
}

var envs = []struct {
	name string
	new  func(t testing.TB) *env
}{
	{"memory", memoryEnv},
}

// TestStores runs the shared suite against every store.
func TestStores(t *testing.T) {
	for _, ev := range envs {
		t.Run(ev.name, func(t *testing.T) {
			t.Parallel()
			runStoreSuite(t, ev.new)
		})
	}
}

func isNoSession(err error) bool   { return errors.Is(err, ErrNoSession) }
func isUnavailable(err error) bool { return errors.Is(err, ErrUnavailable) }

// sharedStore is one replica's handle on the env's store: its Close does
// nothing (the env closes the store once, at the end).
type sharedStore struct{ *spyStore }

func (sharedStore) Close() error { return nil }

// spyStore passes every call to the real store and records, per key, when
// the last successful write expires by the test clock, and counts writes.
// It judges nothing itself: presence always comes from the real store.
type spyStore struct {
	store.Store
	now    func() time.Time
	writes atomic.Int64
	mu     sync.Mutex
	exp    map[string]time.Time
}

func (s *spyStore) wrote(key string, ttl time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.exp == nil {
		s.exp = map[string]time.Time{}
	}
	s.exp[key] = s.now().Add(ttl)
}

func (s *spyStore) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	s.writes.Add(1)
	err := s.Store.Set(ctx, key, value, ttl)
	if err == nil {
		s.wrote(key, ttl)
	}
	return err
}

func (s *spyStore) CompareAndSwap(ctx context.Context, key string, old, value []byte, ttl time.Duration) (bool, error) {
	s.writes.Add(1)
	ok, err := s.Store.CompareAndSwap(ctx, key, old, value, ttl)
	if ok {
		s.wrote(key, ttl)
	}
	return ok, err
}

func (s *spyStore) CompareAndDelete(ctx context.Context, key string, old []byte) (bool, error) {
	s.writes.Add(1)
	return s.Store.CompareAndDelete(ctx, key, old)
}

// LegacySetMembers forwards to the real store if it has the method.
func (s *spyStore) LegacySetMembers(ctx context.Context, key string) ([]string, error) {
	if li, ok := s.Store.(legacyIndex); ok {
		return li.LegacySetMembers(ctx, key)
	}
	return nil, nil
}

// remaining is key's TTL by the test clock as of its last write, and
// whether the real store holds it.
func (s *spyStore) remaining(t testing.TB, key string) (time.Duration, bool) {
	t.Helper()
	v, err := s.Store.Get(context.Background(), key)
	if err != nil {
		t.Fatalf("Get %s: %v", key, err)
	}
	if v == nil {
		return 0, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.exp[key].Sub(s.now()), true
}
