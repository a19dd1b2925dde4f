package reliability

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"
)

// Redis topologies of clusterOptions.topology.
const (
	topoSentinel = "sentinel"
	topoCluster  = "cluster"
)

// TestLoad200UsersAcrossReplicasOnCluster is the 200-user load test with
// the replicas sharing a Redis Cluster (3 primaries + 3 replicas) instead of
// one redis-server.
func TestLoad200UsersAcrossReplicasOnCluster(t *testing.T) {
	load200(t, topoCluster)
}

// TestSentinelFailoverUnderLoad: users hit /api/me across the replicas while
// the Sentinel primary is SIGKILLed. During the fail-over requests answer
// 200 or 503 — never 401 — and after the promotion every session written
// (and replicated) before the kill works on every replica.
func TestSentinelFailoverUnderLoad(t *testing.T) {
	ctx := deadline(t, 150*time.Second)
	c := newCluster(t, clusterOptions{replicas: 3, users: 30, topology: topoSentinel})
	users := signInAll(ctx, t, c, 30)
	c.sentinel.WaitReplicated()
	failoverUnderLoad(ctx, t, c, users, func() { c.sentinel.Failover() })
}

// TestClusterFailoverUnderLoad is the same with a Redis Cluster: one of the
// three primaries is SIGKILLed and its replica promoted.
func TestClusterFailoverUnderLoad(t *testing.T) {
	ctx := deadline(t, 150*time.Second)
	c := newCluster(t, clusterOptions{replicas: 3, users: 30, topology: topoCluster})
	users := signInAll(ctx, t, c, 30)
	c.rcluster.WaitAllReplicated()
	failoverUnderLoad(ctx, t, c, users, func() { c.rcluster.Failover("any-key") })
}

func failoverUnderLoad(ctx context.Context, t *testing.T, c *cluster, users []*user, failover func()) {
	t.Helper()
	expectEverywhere(ctx, t, c, users, http.StatusOK, "")

	var (
		mu       sync.Mutex
		statuses = map[int]int{}
		first503 time.Time
		last503  time.Time
		bad      []string
		stop     = make(chan struct{})
		wg       sync.WaitGroup
	)
	for _, u := range users {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				code, m, err := u.me(ctx, -1)
				now := time.Now()
				mu.Lock()
				switch {
				case err != nil:
					bad = append(bad, fmt.Sprintf("%s: %v", u.name, err))
				case code == http.StatusOK:
					if p, _ := m["user"].(map[string]any); p["name"] != "User "+u.name {
						bad = append(bad, fmt.Sprintf("%s: someone else's profile %v", u.name, p["name"]))
					}
				case code == http.StatusServiceUnavailable && errorCode(m) == "store_unavailable":
					if first503.IsZero() {
						first503 = now
					}
					last503 = now
				default:
					bad = append(bad, fmt.Sprintf("%s: /api/me = %d %v", u.name, code, m))
				}
				statuses[code]++
				mu.Unlock()
				time.Sleep(20 * time.Millisecond)
			}
		}()
	}
	time.Sleep(500 * time.Millisecond)
	killedAt := time.Now()
	failover()
	promotedAt := time.Now()
	time.Sleep(3 * time.Second) // keep the load on past the promotion
	close(stop)
	wg.Wait()

	if len(bad) > 0 {
		n := min(len(bad), 10)
		t.Errorf("%d requests answered neither 200 nor 503 store_unavailable during the fail-over; first %d:\n%v", len(bad), n, bad[:n])
	}
	// Every session written before the kill works again on every replica
	// (waitAllOK fails at once on a 401: a lost session).
	recovered := waitAllOK(ctx, t, c, users, 30*time.Second)
	since := func(ts time.Time) any {
		if ts.IsZero() {
			return "none"
		}
		return ts.Sub(killedAt).Round(time.Millisecond)
	}
	t.Logf("fail-over under load (%d users, %d replicas): promoted %v after SIGKILL; answers %v; first 503 %v, last 503 %v after SIGKILL; all sessions OK on every replica %v after the load stopped",
		len(users), len(c.replicas), promotedAt.Sub(killedAt).Round(time.Millisecond), statuses,
		since(first503), since(last503), recovered.Round(time.Millisecond))
}
