package session

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"github.com/logto-bff/bff/backend/internal/authflow"
	"net"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gomodule/redigo/redis"

	"github.com/logto-bff/bff/backend/internal/redistest"
)

func TestRedisKeyLayoutAndTTL(t *testing.T) {
	e := redisEnv(t)
	m := e.open(t, Config{IdleTimeout: 2 * time.Hour, AbsoluteLifetime: 24 * time.Hour})
	b := newBrowser()
	rec := sampleRecord("user-1", "sid-1")
	s := create(t, m, b, rec)

	// The stored value is the record's JSON itself, nothing wrapped around it.
	raw, err := redis.Bytes(e.do(t, "GET", "bff:s:"+s.id))
	if err != nil {
		t.Fatalf("GET bff:s:<id>: %v", err)
	}
	if !bytes.Equal(raw, s.raw) || !bytes.HasPrefix(raw, []byte(`{"sub":"user-1"`)) {
		t.Fatalf("stored value = %.80s…", raw)
	}
	if ttl, _ := e.ttl(t, s.id); ttl > 2*time.Hour || ttl < 2*time.Hour-time.Minute {
		t.Fatalf("session TTL = %v, want ~2h (idle)", ttl)
	}
	for _, key := range []string{"bff:i:sid:sid-1", "bff:i:sub:user-1"} {
		members, err := redis.Strings(e.do(t, "SMEMBERS", key))
		if err != nil || len(members) != 1 || members[0] != s.id {
			t.Fatalf("SMEMBERS %s = %v, %v", key, members, err)
		}
		ms, _ := redis.Int64(e.do(t, "PTTL", key))
		// Index entries live until the absolute end: touches don't renew them.
		if d := time.Duration(ms) * time.Millisecond; d > 24*time.Hour || d < 23*time.Hour {
			t.Fatalf("index %s PTTL = %v, want ~24h (the absolute lifetime)", key, d)
		}
	}

	ok, err := m.MarkJTI(context.Background(), "jti-x", 90*time.Second)
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	h := sha256.Sum256([]byte("jti\x00jti-x"))
	ms, err := redis.Int64(e.do(t, "PTTL", "bff:j:"+hex.EncodeToString(h[:])))
	if err != nil || ms <= 80_000 || ms > 90_000 {
		t.Fatalf("jti mark PTTL = %d, %v; want ~90s", ms, err)
	}

	begin(t, m, b, "st")
	keys, err := redis.Strings(e.do(t, "KEYS", "bff:a:*"))
	if err != nil || len(keys) != 1 || !strings.HasSuffix(keys[0], ":st") || strings.Contains(keys[0], b.cookies[m.bindName].Value) {
		t.Fatalf("attempt keys = %v, %v (want one, keyed by a hash of the binding)", keys, err)
	}
}

func TestRedisOutageAndRecovery(t *testing.T) {
	e := redisEnv(t, redistest.WithPersistence())
	m := e.open(t, Config{})
	ctx := context.Background()
	b := newBrowser()
	rec := sampleRecord("user-1", "sid-1")
	s := create(t, m, b, rec)
	if err := m.Ping(ctx); err != nil {
		t.Fatalf("Ping: %v", err)
	}

	e.redis.Stop()
	if _, err := load(m, b); !isUnavailable(err) || isNoSession(err) {
		t.Fatalf("Load during outage: %v, want ErrUnavailable (not a sign-out)", err)
	}
	if err := m.Ping(ctx); !isUnavailable(err) {
		t.Fatalf("Ping during outage: %v", err)
	}
	w := httptest.NewRecorder()
	if _, err := m.Create(w, b.request(), rec); !isUnavailable(err) {
		t.Fatalf("Create during outage: %v", err)
	}
	if c := setCookie(w, m.CookieName()); c != nil {
		t.Fatal("Create set a cookie although it failed")
	}
	if err := m.Save(ctx, s); !isUnavailable(err) {
		t.Fatalf("Save during outage: %v", err)
	}
	if _, err := m.Reload(ctx, s); !isUnavailable(err) {
		t.Fatalf("Reload during outage: %v", err)
	}
	if err := m.BeginAttempt(httptest.NewRecorder(), b.request(), authflow.Attempt{State: "x"}); !isUnavailable(err) {
		t.Fatalf("BeginAttempt during outage: %v", err)
	}
	if _, err := m.MarkJTI(ctx, "j", time.Minute); !isUnavailable(err) {
		t.Fatalf("MarkJTI during outage: %v", err)
	}
	if _, err := countOf(m.DestroyBySID(ctx, "sid-1")); !isUnavailable(err) {
		t.Fatalf("DestroyBySID during outage: %v", err)
	}
	if _, err := m.Lock(ctx, "k", time.Second); !isUnavailable(err) {
		t.Fatalf("Lock during outage: %v", err)
	}
	w = httptest.NewRecorder()
	if _, err := m.Destroy(w, b.request()); !isUnavailable(err) {
		t.Fatalf("Destroy during outage: %v", err)
	}
	if c := setCookie(w, m.CookieName()); c == nil || c.MaxAge >= 0 {
		t.Fatal("Destroy during outage did not expire the cookie")
	}
	var netErr net.Error
	if _, err := load(m, b); !errors.As(err, &netErr) {
		t.Fatalf("ErrUnavailable does not carry its network cause: %v", err)
	}

	e.redis.Start()
	// The very first call after recovery works: stale pooled connections
	// are flushed, not failed one request at a time.
	got, err := load(m, b)
	if err != nil {
		t.Fatalf("Load after recovery: %v", err)
	}
	sameRecord(t, got.Record, rec)
	if err := m.Ping(ctx); err != nil {
		t.Fatalf("Ping after recovery: %v", err)
	}
}

func TestRedisDownAtStart(t *testing.T) {
	e := redisEnv(t)
	e.redis.Stop()
	m := e.open(t, Config{}) // must not fail
	ctx := context.Background()
	if err := m.Ping(ctx); !isUnavailable(err) {
		t.Fatalf("Ping with Redis down: %v", err)
	}
	b := newBrowser()
	if _, err := m.Create(httptest.NewRecorder(), b.request(), sampleRecord("u", "s")); !isUnavailable(err) {
		t.Fatalf("Create with Redis down: %v", err)
	}
	e.redis.Start()
	create(t, m, b, sampleRecord("u", "s"))
	mustLoad(t, m, b)
}

func TestNewRedisRejectsBadConfig(t *testing.T) {
	for _, tt := range []struct {
		name string
		cfg  Config
		url  string
	}{
		{"short secret", Config{Secret: []byte("short")}, "redis://127.0.0.1:1/0"},
		{"bad scheme", Config{Secret: testSecret}, "http://127.0.0.1:6379"},
		{"no host", Config{Secret: testSecret}, "redis:///0"},
		{"unparsable", Config{Secret: testSecret}, "redis://[::1"},
		{"negative idle", Config{Secret: testSecret, IdleTimeout: -time.Second}, "redis://127.0.0.1:1/0"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if m, err := NewRedis(tt.cfg, tt.url); err == nil {
				m.Close()
				t.Fatal("NewRedis accepted it")
			}
		})
	}
}

func TestRedisLockLease(t *testing.T) {
	e := redisEnv(t)
	m1, m2 := e.open(t, Config{}), e.open(t, Config{})
	ctx := context.Background()

	// A holder running past its ttl keeps the lock: the lease is renewed.
	unlock, err := m1.Lock(ctx, "k", 300*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	tctx, cancel := context.WithTimeout(ctx, 900*time.Millisecond)
	_, err = m2.Lock(tctx, "k", 300*time.Millisecond)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("another replica got the lock while it was held 3×ttl: %v", err)
	}
	unlock()
	tctx, cancel = context.WithTimeout(ctx, time.Second)
	u, err := m2.Lock(tctx, "k", 300*time.Millisecond)
	cancel()
	if err != nil {
		t.Fatalf("Lock after unlock: %v", err)
	}
	u()

	// A holder that died (no renewal, no release) loses it after ttl.
	h := sha256.Sum256([]byte("dead"))
	if ok, err := m1.be.acquire(ctx, hex.EncodeToString(h[:]), "dead-token", 200*time.Millisecond); err != nil || !ok {
		t.Fatalf("acquire: %v %v", ok, err)
	}
	start := time.Now()
	tctx, cancel = context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	u, err = m2.Lock(tctx, "dead", time.Second)
	if err != nil {
		t.Fatalf("Lock after a dead holder's lease: %v", err)
	}
	u()
	if d := time.Since(start); d < 100*time.Millisecond {
		t.Fatalf("got a dead holder's lock after %v, before its lease ended", d)
	}

	// Unlock never deletes someone else's lease.
	u, err = m1.Lock(ctx, "mine", time.Second)
	if err != nil {
		t.Fatal(err)
	}
	hm := sha256.Sum256([]byte("mine"))
	if _, err := e.do(t, "SET", "bff:l:"+hex.EncodeToString(hm[:]), "someone-else"); err != nil {
		t.Fatal(err)
	}
	u()
	if v, _ := redis.String(e.do(t, "GET", "bff:l:"+hex.EncodeToString(hm[:]))); v != "someone-else" {
		t.Fatalf("unlock deleted a lease it no longer held (now %q)", v)
	}
}

func TestRedisRestartFlushesStaleConnections(t *testing.T) {
	e := redisEnv(t, redistest.WithPersistence())
	m := e.open(t, Config{})
	b := newBrowser()
	create(t, m, b, sampleRecord("user-1", "sid-1"))

	// Fill the pool with idle connections, then restart Redis under them.
	pool := m.be.(*redisBackend).pool
	conns := make([]redis.Conn, 8)
	for i := range conns {
		conns[i] = pool.Get()
		if _, err := conns[i].Do("PING"); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range conns {
		c.Close()
	}
	if n := pool.IdleCount(); n < len(conns) {
		t.Fatalf("%d idle connections, want %d", n, len(conns))
	}
	e.redis.Restart()

	// Every request after the restart works: the first one to meet a dead
	// connection flushes them all and retries its read.
	for i := range 4 {
		if _, err := load(m, b); err != nil {
			t.Fatalf("Load %d after restart: %v (stale pooled connections not flushed)", i+1, err)
		}
	}

}
