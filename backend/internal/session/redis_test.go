package session

import (
	"context"
	"encoding/json"
	"errors"
	"github.com/logto-bff/bff/backend/internal/config"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/logto-bff/bff/backend/internal/redistest"
	"github.com/logto-bff/bff/backend/internal/store"
)

func redisEnv(t testing.TB, opts ...redistest.Option) *env {
	srv := redistest.Start(t, opts...)
	st, err := store.OpenRedis(srv.URL(), store.RedisOptions{})
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, "redis", st, newTestClock())
	e.redis = srv
	return e
}

func init() {
	envs = append(envs, struct {
		name string
		new  func(t testing.TB) *env
	}{"redis", func(t testing.TB) *env { return redisEnv(t) }})
}

// raw runs one command on the env's redis-server on a connection of its
// own (not the store under test).
func (e *env) raw(t testing.TB, args ...string) any {
	t.Helper()
	v, err := redistest.Do(e.redis.Addr(), args...)
	if err != nil {
		t.Fatalf("%s: %v", strings.Join(args, " "), err)
	}
	return v
}

// pttl is key's remaining TTL in Redis; false if absent.
func (e *env) pttl(t testing.TB, key string) (time.Duration, bool) {
	t.Helper()
	ms, _ := e.raw(t, "PTTL", key).(int64)
	if ms == -2 {
		return 0, false
	}
	if ms < 0 {
		t.Fatalf("%s has no TTL (PTTL %d)", key, ms)
	}
	return time.Duration(ms) * time.Millisecond, true
}

func TestRedisKeyLayoutAndTTL(t *testing.T) {
	e := redisEnv(t)
	m := e.open(t, Config{IdleTimeout: 2 * time.Hour, AbsoluteLifetime: 24 * time.Hour})
	b := newBrowser()
	rec := sampleRecord("user-1", "sid-1")
	s := create(t, m, b, rec)

	// The stored value is the record's JSON itself, nothing wrapped around
	// it, at the key the previous release used.
	raw, _ := e.raw(t, "GET", "bff:s:"+s.id).(string)
	if raw != string(s.raw) || !strings.HasPrefix(raw, `{"sub":"user-1"`) || !strings.HasSuffix(raw, `,"layout":2}`) {
		t.Fatalf("stored value = %.80s…", raw)
	}
	if ttl, _ := e.pttl(t, "bff:s:"+s.id); ttl > 2*time.Hour || ttl < 2*time.Hour-time.Minute {
		t.Fatalf("session TTL = %v, want ~2h (idle)", ttl)
	}
	for _, key := range []string{"bff:x:{sid:sid-1}", "bff:x:{sub:user-1}"} {
		v, _ := e.raw(t, "GET", key).(string)
		var entries []indexEntry
		if err := json.Unmarshal([]byte(v), &entries); err != nil || len(entries) != 1 || entries[0].ID != s.id {
			t.Fatalf("GET %s = %q, %v", key, v, err)
		}
		// Index entries live until the absolute end: touches don't renew them.
		if d, _ := e.pttl(t, key); d > 24*time.Hour+time.Second || d < 23*time.Hour {
			t.Fatalf("index %s PTTL = %v, want ~24h (the absolute lifetime)", key, d)
		}
	}
	if n, _ := e.raw(t, "EXISTS", "bff:i:sid:sid-1", "bff:i:sub:user-1").(int64); n != 0 {
		t.Fatal("the new release wrote the previous release's index sets")
	}

	ok, err := m.MarkJTI(context.Background(), "jti-x", 90*time.Second)
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	if d, ok := e.pttl(t, hashedKey("bff:j:", "jti\x00jti-x")); !ok || d <= 80*time.Second || d > 90*time.Second {
		t.Fatalf("jti mark PTTL = %v (present %v); want ~90s", d, ok)
	}
	unlock, err := m.Lock(context.Background(), "session:k", 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if d, ok := e.pttl(t, hashedKey("bff:l:", "session:k")); !ok || d > 10*time.Second {
		t.Fatalf("lock lease PTTL = %v (present %v)", d, ok)
	}
	unlock()
	if _, ok := e.pttl(t, hashedKey("bff:l:", "session:k")); ok {
		t.Fatal("unlock left the lease")
	}
}

// oldRelease writes a session exactly as the release before the store
// contract did, with raw commands: the record at bff:s:<id> (SET PX) and
// the id in the index SETs bff:i:sid:<sid> and bff:i:sub:<sub> (SADD,
// PEXPIRE to the absolute end). It returns the browser holding the cookie
// that release set.
func oldRelease(t testing.TB, e *env, rec Record) (*browser, string) {
	t.Helper()
	b, id := previousRelease(t, e, Config{}, rec, time.Hour)
	// previousRelease stored the record through the store; write it again
	// with the raw command the old release used, to be exact.
	data, _ := e.raw(t, "GET", "bff:s:"+id).(string)
	e.raw(t, "SET", "bff:s:"+id, data, "PX", "3600000")
	abs := strconv.FormatInt(config.DefaultSessionLifetime.Milliseconds(), 10)
	for _, key := range []string{"bff:i:sid:" + rec.SID, "bff:i:sub:" + rec.Subject} {
		e.raw(t, "SADD", key, id)
		e.raw(t, "PEXPIRE", key, abs)
	}
	return b, id
}

func TestRedisUpgradeFromPreviousRelease(t *testing.T) {
	e := redisEnv(t)
	m := e.open(t, Config{})
	other := e.open(t, Config{})
	ctx := context.Background()

	// Never used since the upgrade: back-channel logout finds it through
	// the old SET, on any replica.
	b1, id1 := oldRelease(t, e, sampleRecord("alice", "sid-A"))
	recs, err := other.DestroyBySID(ctx, "sid-A")
	if err != nil || len(recs) != 1 || recs[0].Tokens.RefreshToken != "refresh-alice" {
		t.Fatalf("DestroyBySID of an unused old session = %d records, %v", len(recs), err)
	}
	if _, err := load(m, b1); !isNoSession(err) {
		t.Fatalf("old session after back-channel logout: %v", err)
	}
	if n, _ := e.raw(t, "EXISTS", "bff:s:"+id1).(int64); n != 0 {
		t.Fatal("old session still stored")
	}

	// Used once: it is now in the new index too, and found once.
	b2, id2 := oldRelease(t, e, sampleRecord("bob", "sid-B"))
	s := mustLoad(t, m, b2)
	sameRecord(t, s.Record, sampleRecord("bob", "sid-B"))
	if v, _ := e.raw(t, "GET", "bff:x:{sub:bob}").(string); !strings.Contains(v, id2) {
		t.Fatalf("first use did not index the old session: %q", v)
	}
	if raw, _ := e.raw(t, "GET", "bff:s:"+id2).(string); !strings.Contains(raw, `"layout":2`) {
		t.Fatal("first use did not rewrite the old record")
	}
	if n, err := countOf(other.DestroyBySubject(ctx, "bob")); err != nil || n != 1 {
		t.Fatalf("DestroyBySubject of a migrated session = %d, %v; want 1", n, err)
	}

	// Sign-out of an old session with the cookie the old release set.
	b3, _ := oldRelease(t, e, sampleRecord("carol", "sid-C"))
	w := httptest.NewRecorder()
	if got, err := other.Destroy(w, b3.request()); err != nil || got == nil || got.Subject != "carol" {
		t.Fatalf("Destroy of an old session = %v, %v", got, err)
	}
	if _, err := load(m, b3); !isNoSession(err) {
		t.Fatalf("old session after sign-out: %v", err)
	}

	// Marks and leases an old replica holds are honoured (same keys).
	e.raw(t, "SET", hashedKey("bff:j:", "jti\x00seen-by-old"), "1", "NX", "PX", "60000")
	if fresh, err := m.MarkJTI(ctx, "seen-by-old", time.Minute); err != nil || fresh {
		t.Fatalf("MarkJTI of a jti an old replica marked = %v, %v; want a replay", fresh, err)
	}
	e.raw(t, "SET", hashedKey("bff:l:", "session:old"), "old-replica-token", "NX", "PX", "60000")
	tctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	if _, err := m.Lock(tctx, "session:old", time.Second); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Lock while an old replica holds the lease = %v, want to wait", err)
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
	if c := setCookie(w, m.CookieName()); c != nil {
		t.Fatal("Destroy during outage touched the cookie: the session still exists")
	}

	e.redis.Start()
	got, err := load(m, b)
	if err != nil {
		t.Fatalf("Load after recovery: %v", err)
	}
	sameRecord(t, got.Record, rec)
	if err := m.Ping(ctx); err != nil {
		t.Fatalf("Ping after recovery: %v", err)
	}
	// The sign-out retried now finishes.
	w = httptest.NewRecorder()
	if got, err := m.Destroy(w, b.request()); err != nil || got == nil {
		t.Fatalf("Destroy after recovery = %v, %v", got, err)
	}
	if _, err := load(m, b); !isNoSession(err) {
		t.Fatalf("Load after the retried sign-out: %v", err)
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
	// The store remembers a failed dial for a moment; Ping says when it
	// answers again.
	deadline := time.Now().Add(5 * time.Second)
	for m.Ping(ctx) != nil {
		if time.Now().After(deadline) {
			t.Fatal("Ping still failing 5s after Redis started")
		}
		time.Sleep(20 * time.Millisecond)
	}
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
	e.raw(t, "SET", hashedKey("bff:l:", "dead"), "dead-token", "NX", "PX", "200")
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
	e.raw(t, "SET", hashedKey("bff:l:", "mine"), "someone-else")
	u()
	if v, _ := e.raw(t, "GET", hashedKey("bff:l:", "mine")).(string); v != "someone-else" {
		t.Fatalf("unlock deleted a lease it no longer held (now %q)", v)
	}
}

// TestRedisDroppedConnections: after Redis closed every connection of the
// BFF (CLIENT KILL, as a restart, fail-over or proxy idle timeout does),
// and across a restart, every operation works at the first try, and
// sign-out really deletes the session.
func TestRedisDroppedConnections(t *testing.T) {
	e := redisEnv(t, redistest.WithPersistence())
	m1, m2 := e.open(t, Config{}), e.open(t, Config{})
	ctx := context.Background()
	for _, disrupt := range []struct {
		name string
		do   func()
	}{
		{"CLIENT KILL", func() {
			if n := e.redis.KillClients(); n == 0 {
				t.Fatal("CLIENT KILL closed no connection: the test proves nothing")
			}
		}},
		{"restart", e.redis.Restart},
	} {
		t.Run(disrupt.name, func(t *testing.T) {
			b := newBrowser()
			s := create(t, m1, b, sampleRecord("user-1", "sid-1"))
			mustLoad(t, m2, b)
			disrupt.do()
			mustLoad(t, m2, b)
			disrupt.do()
			cur, err := m1.Reload(ctx, s)
			if err != nil {
				t.Fatalf("Reload: %v", err)
			}
			cur.Tokens.RefreshToken = "rotated"
			if err := m1.Save(ctx, cur); err != nil {
				t.Fatalf("Save: %v", err)
			}
			disrupt.do()
			w := httptest.NewRecorder()
			got, err := m1.Destroy(w, b.request())
			if err != nil || got == nil || got.Tokens.RefreshToken != "rotated" {
				t.Fatalf("Destroy = %v, %v", got, err)
			}
			for i, m := range []*Manager{m1, m2} {
				if _, err := load(m, b); !isNoSession(err) {
					t.Fatalf("replica %d after sign-out: %v, want ErrNoSession", i+1, err)
				}
			}
			disrupt.do()
			if fresh, err := m2.MarkJTI(ctx, "jti-"+disrupt.name, time.Minute); err != nil || !fresh {
				t.Fatalf("MarkJTI = %v, %v", fresh, err)
			}
		})
	}
}
