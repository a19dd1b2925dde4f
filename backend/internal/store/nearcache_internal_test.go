package store

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/logto-bff/bff/backend/internal/redistest"
)

// miss asserts that Flight misses and opens a flight the caller owns.
func miss(t *testing.T, c *connCache, key string, ttl time.Duration, now time.Time) {
	t.Helper()
	if v, e := c.Flight(key, "GET", ttl, now); served(v) || e != nil {
		t.Fatalf("Flight(%s) = hit or shared flight, want a miss to read", key)
	}
}

// served reports whether Flight returned a value (the zero message is
// rueidis's "not cached").
func served(v rueidis.RedisMessage) bool { return v.IsString() || v.IsNil() }

// hit reports whether Flight serves key from the cache.
func hit(c *connCache, key string, now time.Time) bool {
	v, e := c.Flight(key, "GET", time.Minute, now)
	if e != nil {
		return false
	}
	if !served(v) {
		// A miss opened a flight: cancel it, the test reads nothing.
		c.Cancel(key, "GET", errors.New("test"))
		return false
	}
	return true
}

func fill(t *testing.T, msg func(string) rueidis.RedisMessage, c *connCache, key, value string, ttl time.Duration, now time.Time) {
	t.Helper()
	miss(t, c, key, ttl, now)
	c.Update(key, "GET", msg(value))
}

// replies returns a maker of real RESP string replies: rueidis builds
// RedisMessages only from what a server sends, so one is asked for them.
func replies(t *testing.T) func(value string) rueidis.RedisMessage {
	t.Helper()
	srv := redistest.Start(t)
	c, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{srv.Addr()}, DisableCache: true, ForceSingleClient: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return func(value string) rueidis.RedisMessage {
		t.Helper()
		ctx := context.Background()
		if err := c.Do(ctx, c.B().Set().Key("m").Value(value).Build()).Error(); err != nil {
			t.Fatal(err)
		}
		m, err := c.Do(ctx, c.B().Get().Key("m").Build()).ToMessage()
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
}

func newTestBudget(entries, bytes int64) *nearBudget {
	return &nearBudget{maxEntries: entries, maxBytes: bytes}
}

func TestConnCacheServesUntilItsTTL(t *testing.T) {
	msg := replies(t)
	c := newConnCache(newTestBudget(10, 1<<20))
	now := time.Now()
	fill(t, msg, c, "k", "v", 100*time.Millisecond, now)
	if !hit(c, "k", now.Add(99*time.Millisecond)) {
		t.Fatal("not served within its TTL")
	}
	if hit(c, "k", now.Add(100*time.Millisecond)) {
		t.Fatal("served at its TTL: a lost invalidation would be served forever")
	}
}

func TestConnCacheInvalidation(t *testing.T) {
	msg := replies(t)
	c := newConnCache(newTestBudget(10, 1<<20))
	now := time.Now()
	fill(t, msg, c, "a", "1", time.Minute, now)
	fill(t, msg, c, "b", "2", time.Minute, now)
	c.Delete([]rueidis.RedisMessage{msg("a")})
	if hit(c, "a", now) || !hit(c, "b", now) {
		t.Fatal("an invalidation of a must drop a and only a")
	}
	// An invalidation while a read is in flight: the reply reaches the
	// waiter but is not cached (it may predate the write).
	miss(t, c, "b2", time.Minute, now)
	c.Delete([]rueidis.RedisMessage{msg("b2")})
	c.Update("b2", "GET", msg("old"))
	if hit(c, "b2", now) {
		t.Fatal("a reply whose key was invalidated in flight was cached")
	}
	c.Delete(nil)
	if hit(c, "b", now) || c.budget.entries.Load() != 0 {
		t.Fatal("a flush-all invalidation left entries")
	}
}

func TestConnCacheCloseDropsEverything(t *testing.T) {
	msg := replies(t)
	b := newTestBudget(10, 1<<20)
	c := newConnCache(b)
	now := time.Now()
	fill(t, msg, c, "a", "1", time.Minute, now)
	miss(t, c, "p", time.Minute, now)
	_, waiter := c.Flight("p", "GET", time.Minute, now)
	if waiter == nil {
		t.Fatal("a second reader of a key in flight does not wait for it")
	}
	closeErr := errors.New("connection closed")
	c.Close(closeErr)
	if _, err := waiter.Wait(context.Background()); !errors.Is(err, closeErr) {
		t.Fatalf("waiter got %v, want the close error", err)
	}
	if hit(c, "a", now) || b.entries.Load() != 0 || b.bytes.Load() != 0 || b.flushes.Load() != 1 {
		t.Fatalf("after Close: entries %d bytes %d flushes %d", b.entries.Load(), b.bytes.Load(), b.flushes.Load())
	}
	if v, e := c.Flight("a", "GET", time.Minute, now); e != nil || served(v) {
		t.Fatal("a closed cache opened a flight or served a value")
	}
	c.Update("a", "GET", msg("late"))
	if hit(c, "a", now) {
		t.Fatal("a closed cache cached a late reply")
	}
}

// The budget is shared by every connection's cache: entries and bytes
// stay within it, least recently used first out.
func TestConnCacheBounds(t *testing.T) {
	msg := replies(t)
	b := newTestBudget(3, 1<<20)
	c1, c2 := newConnCache(b), newConnCache(b)
	now := time.Now()
	for _, k := range []string{"a", "b", "c", "d"} {
		fill(t, msg, c1, k, "v", time.Minute, now)
	}
	if b.entries.Load() != 3 || hit(c1, "a", now) || !hit(c1, "d", now) {
		t.Fatalf("entries %d; want 3 with the least recently used (a) out", b.entries.Load())
	}
	// c2 cannot take c1's entries: it does not cache while c1 holds the budget.
	fill(t, msg, c2, "x", "v", time.Minute, now)
	if b.entries.Load() > 3 {
		t.Fatalf("entries %d over the shared bound", b.entries.Load())
	}

	big := string(make([]byte, 3000))
	bb := newTestBudget(100, 8000)
	c3 := newConnCache(bb)
	for _, k := range []string{"1", "2", "3", "4"} {
		fill(t, msg, c3, k, big, time.Minute, now)
	}
	if bb.bytes.Load() > 8000 || bb.entries.Load() != 2 {
		t.Fatalf("bytes %d entries %d; want ≤ 8000 bytes (2 entries of 3 KB)", bb.bytes.Load(), bb.entries.Load())
	}
	fill(t, msg, c3, "huge", string(make([]byte, 9000)), time.Minute, now)
	if hit(c3, "huge", now) {
		t.Fatal("a value larger than the whole budget was cached")
	}
}

// GetCached's fast path finds what DoCache cached: the command name it
// looks under is rueidis's.
func TestNearCacheLookupFindsDoCacheEntries(t *testing.T) {
	srv := redistest.Start(t)
	r, err := OpenRedis(srv.URL(), RedisOptions{NearCache: NearCache{Entries: 10}})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	ctx := context.Background()
	if err := r.Set(ctx, "k", []byte("v"), time.Minute); err != nil {
		t.Fatal(err)
	}
	if v, err := r.GetCached(ctx, "k"); err != nil || string(v) != "v" {
		t.Fatalf("GetCached = %q, %v", v, err)
	}
	m, ok := r.near.lookup("k", time.Now())
	if !ok {
		t.Fatal("lookup does not find the entry DoCache stored")
	}
	if s, _ := m.ToString(); s != "v" {
		t.Fatalf("lookup = %q", s)
	}
	if _, ok := r.near.lookup("other", time.Now()); ok {
		t.Fatal("lookup found a key never read")
	}
}
