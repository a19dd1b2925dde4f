package store_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/logto-bff/bff/backend/internal/redistest"
	"github.com/logto-bff/bff/backend/internal/store"
	"github.com/logto-bff/bff/backend/internal/store/storetest"
)

func openCached(t testing.TB, url string, nc store.NearCache) *store.Redis {
	t.Helper()
	r, err := store.OpenRedis(url, store.RedisOptions{OpTimeout: 2 * time.Second, NearCache: nc})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

var testNearCache = store.NearCache{Entries: 1000, MaxTTL: time.Minute}

// The near-cache changes nothing the contract promises.
func TestRedisNearCacheConformance(t *testing.T) {
	srv := redistest.Start(t)
	storetest.Run(t, func(t testing.TB) store.Store { return openCached(t, srv.URL(), testNearCache) })
}

// waitFor polls GetCached until it returns want, and returns how long
// that took; it fails the test after limit.
func waitFor(t *testing.T, r *store.Redis, key string, want []byte, limit time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		v, err := r.GetCached(bg(t), key)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Equal(v, want) && (v == nil) == (want == nil) {
			return time.Since(start)
		}
		if time.Since(start) > limit {
			t.Fatalf("GetCached(%s) still %q after %v, want %q", key, v, limit, want)
		}
		time.Sleep(50 * time.Microsecond)
	}
}

// Two replicas share Redis: a write or delete through one invalidates the
// other's cached copy (and the writer's own).
func TestRedisNearCacheInvalidatesEveryReplica(t *testing.T) {
	srv := redistest.Start(t)
	a := openCached(t, srv.URL(), testNearCache)
	b := openCached(t, srv.URL(), testNearCache)
	ctx := bg(t)
	if err := b.Set(ctx, "k", []byte("v1"), time.Minute); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if v, err := a.GetCached(ctx, "k"); err != nil || string(v) != "v1" {
			t.Fatalf("GetCached = %q, %v", v, err)
		}
	}
	if st := a.NearCacheStats(); st.Hits < 2 || st.Entries != 1 {
		t.Fatalf("stats after three reads: %+v; want ≥ 2 hits and 1 entry", st)
	}
	if err := b.Set(ctx, "k", []byte("v2"), time.Minute); err != nil {
		t.Fatal(err)
	}
	t.Logf("a sees b's write after %v", waitFor(t, a, "k", []byte("v2"), 50*time.Millisecond))
	if ok, err := b.CompareAndSwap(ctx, "k", []byte("v2"), []byte("v3"), time.Minute); err != nil || !ok {
		t.Fatal(ok, err)
	}
	t.Logf("a sees b's compare-and-swap after %v", waitFor(t, a, "k", []byte("v3"), 50*time.Millisecond))
	if _, err := a.GetCached(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	if ok, err := b.CompareAndDelete(ctx, "k", []byte("v3")); err != nil || !ok {
		t.Fatal(ok, err)
	}
	t.Logf("a sees b's delete after %v", waitFor(t, a, "k", nil, 50*time.Millisecond))
	// The writer's own cache too.
	if err := a.Set(ctx, "k", []byte("mine"), time.Minute); err != nil {
		t.Fatal(err)
	}
	t.Logf("a sees its own write after %v", waitFor(t, a, "k", []byte("mine"), 50*time.Millisecond))
	if a.NearCacheStats().Invalidations == 0 {
		t.Fatal("no invalidation was counted")
	}
}

// A key that expires on the server is not served after its TTL: the
// cached copy carries the server's TTL as read with it (so it may outlive
// the key by the read's latency; 50 ms here is generous slack), and
// Redis pushes an invalidation when it expires the key.
func TestRedisNearCacheHonoursTheKeysTTL(t *testing.T) {
	srv := redistest.Start(t)
	a := openCached(t, srv.URL(), testNearCache)
	ctx := bg(t)
	if err := a.Set(ctx, "k", []byte("v"), 300*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	set := time.Now()
	for range 2 {
		if v, err := a.GetCached(ctx, "k"); err != nil || string(v) != "v" {
			t.Fatalf("GetCached = %q, %v", v, err)
		}
	}
	time.Sleep(time.Until(set.Add(350 * time.Millisecond)))
	if v, err := a.GetCached(ctx, "k"); err != nil || v != nil {
		t.Fatalf("GetCached after the key's TTL = %q, %v; want nil", v, err)
	}
}

// After CLIENT KILL of every connection, a delete made through another
// store is not hidden for long by a copy cached before the kill: the cache
// of a closed connection is dropped whole as soon as this process reads
// the close (its connection's reader goroutine runs), normally within
// microseconds, on a loaded machine a few milliseconds. The test allows
// 50 ms and reports the worst it saw.
func TestRedisNearCacheAfterClientKill(t *testing.T) {
	srv := redistest.Start(t)
	a := openCached(t, srv.URL(), testNearCache)
	b := openRedis(t, srv.URL())
	ctx := bg(t)
	var worst time.Duration
	stale := 0
	for i := range 50 {
		if err := b.Set(ctx, "k", []byte("v"), time.Minute); err != nil {
			t.Fatal(err)
		}
		// The previous round cached "absent"; b's write invalidates it
		// within the invalidation window.
		waitFor(t, a, "k", []byte("v"), 50*time.Millisecond)
		if v, err := a.GetCached(ctx, "k"); err != nil || string(v) != "v" {
			t.Fatalf("round %d: GetCached = %q, %v", i, v, err)
		}
		if srv.KillClients() == 0 {
			t.Fatal("CLIENT KILL closed no connection")
		}
		if ok, err := b.CompareAndDelete(ctx, "k", nil); err != nil || !ok {
			t.Fatalf("round %d: delete after the kill = %v, %v", i, ok, err)
		}
		if v, _ := a.GetCached(ctx, "k"); v != nil {
			stale++
		}
		worst = max(worst, waitFor(t, a, "k", nil, 50*time.Millisecond))
	}
	t.Logf("50 rounds: %d served the pre-kill copy once after the delete; longest until the delete was seen: %v", stale, worst)
	if st := a.NearCacheStats(); st.Flushes == 0 {
		t.Fatalf("no cache was flushed: %+v", st)
	}
}

// Across a Redis restart: the copy cached before is dropped with its
// connection; a delete after the restart is seen at once.
func TestRedisNearCacheAcrossRestart(t *testing.T) {
	srv := redistest.Start(t, redistest.WithPersistence())
	a := openCached(t, srv.URL(), testNearCache)
	b := openRedis(t, srv.URL())
	ctx := bg(t)
	if err := b.Set(ctx, "k", []byte("v"), time.Minute); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if v, err := a.GetCached(ctx, "k"); err != nil || string(v) != "v" {
			t.Fatalf("GetCached = %q, %v", v, err)
		}
	}
	srv.Restart()
	if ok, err := b.CompareAndDelete(ctx, "k", []byte("v")); err != nil || !ok {
		t.Fatalf("delete after the restart = %v, %v", ok, err)
	}
	if v, err := a.GetCached(ctx, "k"); err != nil || v != nil {
		t.Fatalf("GetCached after restart + delete = %q, %v; want nil", v, err)
	}
}

// Without a near-cache GetCached is Get.
func TestRedisGetCachedWithoutNearCache(t *testing.T) {
	srv := redistest.Start(t)
	a := openRedis(t, srv.URL())
	ctx := bg(t)
	if err := a.Set(ctx, "k", []byte("v"), time.Minute); err != nil {
		t.Fatal(err)
	}
	if v, err := a.GetCached(ctx, "k"); err != nil || string(v) != "v" {
		t.Fatalf("GetCached = %q, %v", v, err)
	}
	if st := a.NearCacheStats(); st != (store.NearCacheStats{}) {
		t.Fatalf("stats without a near-cache: %+v", st)
	}
}
