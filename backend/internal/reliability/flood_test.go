package reliability

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/logto-bff/bff/backend/internal/config"
	"github.com/logto-bff/bff/backend/internal/redistest"
)

// floodRequests is the size of the anonymous sign-in flood (issue 11).
const floodRequests = 100_000

// flood sends n anonymous GET /auth/sign-in (no cookie ever kept) to
// replica i over keep-alive connections, straight to the replica (not
// through the balancer, which records cookies for the secret scan), and
// returns how many did not answer 302.
func flood(ctx context.Context, t *testing.T, c *cluster, i, n int) int64 {
	t.Helper()
	tr := replicaTransport(c.replicas[i])
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	const workers = 8
	var next, bad atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(n) && ctx.Err() == nil {
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, bffURL("/auth/sign-in?returnTo=/flood"), nil)
				resp, err := client.Do(req)
				if err != nil {
					bad.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusFound {
					bad.Add(1)
					firstErr.CompareAndSwap(nil, resp.Status)
				}
			}
		}()
	}
	wg.Wait()
	if e := firstErr.Load(); e != nil {
		t.Logf("flood: first failure: %v", e)
	}
	return bad.Load()
}

// redisFootprint is Redis's key count and used_memory (bytes).
func redisFootprint(t *testing.T, c *cluster) (keys, usedMemory int64) {
	t.Helper()
	n, err := redistest.Do(c.redis.Addr(), "DBSIZE")
	keys, ok := n.(int64)
	if err != nil || !ok {
		t.Fatalf("DBSIZE: %v %v", n, err)
	}
	info, err := redistest.DoString(c.redis.Addr(), "INFO", "memory")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "used_memory:"); ok {
			usedMemory, _ = strconv.ParseInt(v, 10, 64)
		}
	}
	if usedMemory == 0 {
		t.Fatal("INFO memory has no used_memory")
	}
	return keys, usedMemory
}

// rss is a process's resident set size in bytes (VmRSS).
func rss(t *testing.T, pid int) int64 {
	t.Helper()
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				t.Fatalf("VmRSS %q", v)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmRSS")
	return 0
}

// signInDuring signs a real user in while fn runs, and once more after it.
func signInDuringAndAfter(ctx context.Context, t *testing.T, c *cluster, fn func()) {
	t.Helper()
	during := c.newUser(userName(0), userPass(0))
	errc := make(chan error, 1)
	started := make(chan struct{})
	go func() {
		<-started
		time.Sleep(200 * time.Millisecond) // well inside the flood
		loc, err := during.signIn(pinned(ctx, 0), "/during")
		if err == nil && loc != "/during" {
			err = fmt.Errorf("landed on %q", loc)
		}
		errc <- err
	}()
	close(started)
	fn()
	if err := <-errc; err != nil {
		t.Errorf("a real user signing in during the flood: %v", err)
	}
	if code, _, _ := during.me(ctx, 0); code != http.StatusOK {
		t.Errorf("/api/me of the user who signed in during the flood = %d", code)
	}
	after := c.newUser(userName(1), userPass(1))
	if loc, err := after.signIn(pinned(ctx, 0), "/after"); err != nil || loc != "/after" {
		t.Errorf("a real user signing in after the flood: %q %v", loc, err)
	}
	if code, _, _ := after.me(ctx, 0); code != http.StatusOK {
		t.Errorf("/api/me of the user who signed in after the flood = %d", code)
	}
}

// floodWithRealUsers sends floodRequests anonymous sign-ins to replica 0
// while real users sign in during and after (signInDuringAndAfter), fails
// t unless every anonymous one answered 302, and returns how long the
// whole took.
func floodWithRealUsers(ctx context.Context, t *testing.T, c *cluster) time.Duration {
	t.Helper()
	start := time.Now()
	var bad int64
	signInDuringAndAfter(ctx, t, c, func() { bad = flood(ctx, t, c, 0, floodRequests) })
	took := time.Since(start)
	if bad != 0 {
		t.Errorf("%d of %d anonymous sign-ins did not answer 302", bad, floodRequests)
	}
	return took
}

// TestAnonymousSignInFloodRedis: 100,000 anonymous sign-ins leave Redis's
// key count unchanged but for what the two real users wrote, and its
// used_memory within 1 MB; both real users sign in. (Before the sealed
// state, every anonymous sign-in stored an attempt for ten minutes.)
func TestAnonymousSignInFloodRedis(t *testing.T) {
	ctx := deadline(t, 5*time.Minute)
	c := newCluster(t, clusterOptions{replicas: 1, users: 3})
	// What one real sign-in writes, measured on a third user.
	keys0, _ := redisFootprint(t, c)
	if _, err := c.newUser(userName(2), userPass(2)).signIn(ctx, "/"); err != nil {
		t.Fatal(err)
	}
	keys1, mem1 := redisFootprint(t, c)
	perSignIn := keys1 - keys0
	if perSignIn <= 0 {
		t.Fatalf("a real sign-in wrote %d keys: the measure is blind", perSignIn)
	}

	took := floodWithRealUsers(ctx, t, c)
	keys2, mem2 := redisFootprint(t, c)
	t.Logf("flood of %d anonymous sign-ins in %v: keys %d → %d (a real sign-in writes %d), used_memory %d → %d (%+d bytes)",
		floodRequests, took.Round(time.Millisecond), keys1, keys2, perSignIn, mem1, mem2, mem2-mem1)
	if keys2-keys1 > 2*perSignIn {
		t.Errorf("Redis keys grew by %d; the two real users wrote at most %d", keys2-keys1, 2*perSignIn)
	}
	if mem2-mem1 > 1<<20 {
		t.Errorf("Redis used_memory grew by %d bytes, more than 1 MB", mem2-mem1)
	}
}

// TestAnonymousSignInFloodMemory: 100,000 anonymous sign-ins grow a
// memory-store BFF's RSS by less than 10 MB; real users sign in during
// and after. (Before the sealed state, the memory store's 100,000-attempt
// cap was reached and every real sign-in answered 503 for ten minutes.)
func TestAnonymousSignInFloodMemory(t *testing.T) {
	ctx := deadline(t, 5*time.Minute)
	c := newCluster(t, clusterOptions{replicas: 1, users: 2, env: map[string]string{
		config.EnvSessionStore: config.StoreMemory, config.EnvRedisURL: "",
	}})
	pid := c.replicas[0].pid()
	before := rss(t, pid)
	took := floodWithRealUsers(ctx, t, c)
	after := rss(t, pid)
	t.Logf("flood of %d anonymous sign-ins in %v: RSS %.1f MB → %.1f MB (%+.1f MB)",
		floodRequests, took.Round(time.Millisecond), float64(before)/(1<<20), float64(after)/(1<<20), float64(after-before)/(1<<20))
	if after-before >= 10<<20 {
		t.Errorf("RSS grew by %.1f MB, want < 10 MB", float64(after-before)/(1<<20))
	}
}
