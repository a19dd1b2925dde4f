package session

import (
	"errors"
	"testing"
	"time"

	"github.com/gomodule/redigo/redis"

	"github.com/logto-bff/bff/backend/internal/redistest"
)

// env is one store under test: every Manager it opens shares the same
// storage (one memory backend, or one redis-server), like replicas do.
type env struct {
	name  string
	clock *testClock
	// open returns a new Manager over the env's storage; cfg's Secret and
	// Now are filled in when zero.
	open func(t testing.TB, cfg Config) *Manager
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

func memoryEnv(t testing.TB) *env {
	e := &env{name: "memory", clock: newTestClock()}
	var be *memBackend
	e.open = func(t testing.TB, cfg Config) *Manager {
		t.Helper()
		cfg = e.fill(cfg)
		if be == nil {
			m, err := NewMemory(cfg)
			if err != nil {
				t.Fatalf("NewMemory: %v", err)
			}
			t.Cleanup(func() { m.Close() })
			be = m.be.(*memBackend)
			return m
		}
		// A second "replica" over the same memory backend.
		ncfg, err := cfg.normalized()
		if err != nil {
			t.Fatal(err)
		}
		cc, err := newCookieCodec(ncfg)
		if err != nil {
			t.Fatal(err)
		}
		return newManager(ncfg, cc, be)
	}
	e.ttl = func(t testing.TB, id string) (time.Duration, bool) {
		be.mu.Lock()
		defer be.mu.Unlock()
		v, ok := be.sessions[id]
		return v.exp.Sub(e.clock.Now()), ok
	}
	return e
}

func redisEnv(t testing.TB, opts ...redistest.Option) *env {
	srv := redistest.Start(t, opts...)
	e := &env{name: "redis", clock: newTestClock(), redis: srv}
	e.open = func(t testing.TB, cfg Config) *Manager {
		t.Helper()
		m, err := NewRedis(e.fill(cfg), srv.URL())
		if err != nil {
			t.Fatalf("NewRedis: %v", err)
		}
		t.Cleanup(func() { m.Close() })
		return m
	}
	e.ttl = func(t testing.TB, id string) (time.Duration, bool) {
		t.Helper()
		ms, err := redis.Int64(e.do(t, "PTTL", redisSessionPrefix+id))
		if err != nil {
			t.Fatalf("PTTL: %v", err)
		}
		if ms == -2 {
			return 0, false
		}
		if ms < 0 {
			t.Fatalf("session key has no TTL (PTTL %d)", ms)
		}
		return time.Duration(ms) * time.Millisecond, true
	}
	return e
}

// do runs one command on the env's redis-server with a fresh connection.
func (e *env) do(t testing.TB, cmd string, args ...any) (any, error) {
	t.Helper()
	c, err := redis.DialURL(e.redis.URL())
	if err != nil {
		t.Fatalf("dial redis: %v", err)
	}
	defer c.Close()
	return c.Do(cmd, args...)
}

var envs = []struct {
	name string
	new  func(t testing.TB) *env
}{
	{"memory", memoryEnv},
	{"redis", func(t testing.TB) *env { return redisEnv(t) }},
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
