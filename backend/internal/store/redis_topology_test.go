package store_test

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/logto-bff/bff/backend/internal/redistest"
	"github.com/logto-bff/bff/backend/internal/store"
	"github.com/logto-bff/bff/backend/internal/store/storetest"
)

func TestSentinelConformance(t *testing.T) {
	sn := redistest.StartSentinel(t)
	storetest.Run(t, func(t testing.TB) store.Store { return openRedis(t, sn.URL()) })
}

func TestClusterConformance(t *testing.T) {
	c := redistest.StartCluster(t)
	storetest.Run(t, func(t testing.TB) store.Store { return openRedis(t, c.URL()) })
}

func TestSentinelSurvivesClientKill(t *testing.T) {
	sn := redistest.StartSentinel(t)
	clientKill(t, openRedis(t, sn.URL()), sn.KillClients)
}

func TestClusterSurvivesClientKill(t *testing.T) {
	c := redistest.StartCluster(t)
	clientKill(t, openRedis(t, c.URL()), c.KillClients)
}

// clientKill writes keys across slots, drops every connection, and checks
// that the next operation of each kind on every key works.
func clientKill(t *testing.T, r *store.Redis, kill func() int) {
	ctx := bg(t)
	const n = 20
	for i := range n {
		if err := r.Set(ctx, fmt.Sprint("k", i), []byte("v0"), time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	if kill() == 0 {
		t.Fatal("CLIENT KILL closed no connection")
	}
	for i := range n {
		k := fmt.Sprint("k", i)
		if v, err := r.Get(ctx, k); err != nil || string(v) != "v0" {
			t.Fatalf("Get %s after CLIENT KILL = %q, %v", k, v, err)
		}
	}
	kill()
	for i := range n {
		k := fmt.Sprint("k", i)
		if ok, err := r.CompareAndSwap(ctx, k, []byte("v0"), []byte("v1"), time.Minute); err != nil || !ok {
			t.Fatalf("CAS %s after CLIENT KILL = %v, %v", k, ok, err)
		}
	}
	kill()
	for i := range n {
		k := fmt.Sprint("k", i)
		if ok, err := r.CompareAndDelete(ctx, k, []byte("v1")); err != nil || !ok {
			t.Fatalf("CAD %s after CLIENT KILL = %v, %v", k, ok, err)
		}
	}
}

// failoverCase is what the fail-over test needs of a topology.
type failoverCase struct {
	url            string
	waitReplicated func(keys []string)
	failover       func(keys []string) // SIGKILL the primary (of keys[0]'s slot) and wait for promotion
}

func TestSentinelFailover(t *testing.T) {
	sn := redistest.StartSentinel(t)
	testFailover(t, failoverCase{
		url:            sn.URL(),
		waitReplicated: func([]string) { sn.WaitReplicated() },
		failover:       func([]string) { sn.Failover() },
	})
}

func TestClusterFailover(t *testing.T) {
	c := redistest.StartCluster(t)
	testFailover(t, failoverCase{
		url: c.URL(),
		waitReplicated: func(keys []string) {
			done := map[*redistest.Server]bool{}
			for _, k := range keys {
				if p := c.PrimaryFor(k); !done[p] {
					done[p] = true
					c.WaitReplicated(k)
				}
			}
		},
		failover: func(keys []string) { c.Failover(keys[0]) },
	})
}

// testFailover: values written and replicated before the primary is killed
// are read after the promotion; while the fail-over runs, every call
// returns either an error or a right result — never a wrong value, never
// "absent" for a value that replicated.
func testFailover(t *testing.T, fc failoverCase) {
	r := openRedis(t, fc.url)
	ctx := bg(t)
	const n = 60
	keys := make([]string, n)
	for i := range keys {
		keys[i] = fmt.Sprintf("sess:%d", i)
		if err := r.Set(ctx, keys[i], fmt.Appendf(nil, "value-%d", i), 5*time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	fc.waitReplicated(keys)

	var (
		stop                  = make(chan struct{})
		wg                    sync.WaitGroup
		calls, errs, wrong    atomic.Int64
		firstErr, lastErrTime atomic.Value
	)
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				k := (w*17 + i) % n
				c, cancel := context.WithTimeout(context.Background(), time.Second)
				v, err := r.Get(c, keys[k])
				cancel()
				calls.Add(1)
				if err != nil {
					errs.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
					lastErrTime.Store(time.Now())
					time.Sleep(10 * time.Millisecond)
					continue
				}
				if !bytes.Equal(v, fmt.Appendf(nil, "value-%d", k)) {
					wrong.Add(1)
					t.Errorf("during the fail-over Get(%s) = %q, want value-%d", keys[k], v, k)
				}
				time.Sleep(2 * time.Millisecond)
			}
		}()
	}
	time.Sleep(200 * time.Millisecond)
	killedAt := time.Now()
	fc.failover(keys)
	promotedAt := time.Now()

	// Every replicated value is there once the store finds the new primary.
	deadline := time.Now().Add(20 * time.Second)
	for {
		if err := r.Ping(ctx); err == nil {
			if _, err := r.Get(ctx, keys[0]); err == nil {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("the store did not recover within 20 s of the promotion")
		}
		time.Sleep(20 * time.Millisecond)
	}
	recoveredAt := time.Now()
	time.Sleep(300 * time.Millisecond) // let the readers run on the new primary
	close(stop)
	wg.Wait()
	for i, k := range keys {
		v, err := r.Get(ctx, k)
		if err != nil || !bytes.Equal(v, fmt.Appendf(nil, "value-%d", i)) {
			t.Fatalf("after the fail-over Get(%s) = %q, %v; want value-%d (it was replicated before the kill)", k, v, err, i)
		}
	}
	// Writes work on the new primary, CAS included.
	if ok, err := r.CompareAndSwap(ctx, keys[0], []byte("value-0"), []byte("after"), time.Minute); err != nil || !ok {
		t.Fatalf("CAS after the fail-over = %v, %v", ok, err)
	}
	var lastErr time.Duration
	if v, ok := lastErrTime.Load().(time.Time); ok {
		lastErr = v.Sub(killedAt).Round(time.Millisecond)
	}
	t.Logf("fail-over: promotion %v after SIGKILL, store answering %v after SIGKILL; %d reads during it, %d errors (last %v after SIGKILL), %d wrong; first error: %v",
		promotedAt.Sub(killedAt).Round(time.Millisecond), recoveredAt.Sub(killedAt).Round(time.Millisecond),
		calls.Load(), errs.Load(), lastErr, wrong.Load(), firstErr.Load())
}
