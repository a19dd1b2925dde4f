package redistest

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"
)

// SentinelMaster is the master set name StartSentinel monitors.
const SentinelMaster = "bffmaster"

// Fail-over timing of the test topologies: a primary is declared down after
// a second without answering, and a fail-over is retried after 3 s.
const (
	sentinelDownAfter       = time.Second
	sentinelFailoverTimeout = 3 * time.Second
	topologyTimeout         = 30 * time.Second
)

// Sentinel is a replicated Redis watched by Sentinel, on loopback: one
// primary, one replica and three sentinels (quorum 2; redis-server
// --sentinel, so no other binary is needed), each a real process stopped
// when the test ends. Its methods must be called from the test's
// goroutine.
type Sentinel struct {
	t testing.TB
	// Nodes are the two data nodes; which one is the primary changes
	// with fail-overs (see Primary).
	Nodes []*Server
	// Sentinels are the three sentinel processes.
	Sentinels []*Server
}

// StartSentinel starts the topology and returns once the replica is in
// sync and every sentinel knows the replica and the other two sentinels,
// so that a fail-over can happen. Skip/fail rules are those of Start.
func StartSentinel(t testing.TB) *Sentinel {
	t.Helper()
	primary := Start(t)
	replica := Start(t, WithArgs("--replicaof", "127.0.0.1", strconv.Itoa(primary.port)))
	sn := &Sentinel{t: t, Nodes: []*Server{primary, replica}}
	conf := fmt.Sprintf("sentinel resolve-hostnames no\n"+
		"sentinel monitor %[1]s 127.0.0.1 %[2]d 2\n"+
		"sentinel down-after-milliseconds %[1]s %[3]d\n"+
		"sentinel failover-timeout %[1]s %[4]d\n"+
		"sentinel parallel-syncs %[1]s 1\n",
		SentinelMaster, primary.port, sentinelDownAfter.Milliseconds(), sentinelFailoverTimeout.Milliseconds())
	for range 3 {
		sn.Sentinels = append(sn.Sentinels, Start(t, func(o *options) { o.sentinelConf = conf }))
	}
	sn.waitReady()
	return sn
}

func (sn *Sentinel) waitReady() {
	sn.t.Helper()
	waitFor(sn.t, "replica in sync", func() error {
		info, err := DoString(sn.Nodes[1].Addr(), "INFO", "replication")
		if err != nil {
			return err
		}
		if !strings.Contains(info, "master_link_status:up") {
			return fmt.Errorf("replica link not up")
		}
		return nil
	})
	for _, s := range sn.Sentinels {
		waitFor(sn.t, "sentinel "+s.Addr()+" knows the topology", func() error {
			reps, err := Do(s.Addr(), "SENTINEL", "REPLICAS", SentinelMaster)
			if err != nil {
				return err
			}
			others, err := Do(s.Addr(), "SENTINEL", "SENTINELS", SentinelMaster)
			if err != nil {
				return err
			}
			if r, _ := reps.([]any); len(r) != 1 {
				return fmt.Errorf("knows %d replicas", len(r))
			}
			if o, _ := others.([]any); len(o) != 2 {
				return fmt.Errorf("knows %d other sentinels", len(o))
			}
			return nil
		})
	}
}

// URL is the redis+sentinel:// URL of the topology (database 0).
func (sn *Sentinel) URL() string {
	addrs := make([]string, len(sn.Sentinels))
	for i, s := range sn.Sentinels {
		addrs[i] = s.Addr()
	}
	return "redis+sentinel://" + strings.Join(addrs, ",") + "/" + SentinelMaster + "/0"
}

// PrimaryAddr is the primary's address as the first sentinel that answers
// reports it.
func (sn *Sentinel) PrimaryAddr() string {
	sn.t.Helper()
	var last error
	for _, s := range sn.Sentinels {
		if !s.Running() {
			continue
		}
		v, err := Do(s.Addr(), "SENTINEL", "GET-MASTER-ADDR-BY-NAME", SentinelMaster)
		if err != nil {
			last = err
			continue
		}
		if a, _ := v.([]any); len(a) == 2 {
			host, _ := a[0].(string)
			port, _ := a[1].(string)
			return host + ":" + port
		}
	}
	sn.t.Fatalf("redistest: no sentinel reports the primary: %v", last)
	return ""
}

// Primary is the data node that is the primary now (per the sentinels).
func (sn *Sentinel) Primary() *Server {
	sn.t.Helper()
	addr := sn.PrimaryAddr()
	for _, n := range sn.Nodes {
		if n.Addr() == addr {
			return n
		}
	}
	sn.t.Fatalf("redistest: sentinels report an unknown primary %s", addr)
	return nil
}

// WaitReplicated waits until every write acknowledged by the primary so far
// has reached the replica (WAIT 1), as a test must before killing the
// primary if it expects those writes to survive: replication is
// asynchronous.
func (sn *Sentinel) WaitReplicated() {
	sn.t.Helper()
	waitReplicated(sn.t, sn.Primary().Addr())
}

func waitReplicated(t testing.TB, primary string) {
	t.Helper()
	v, err := Do(primary, "WAIT", "1", "5000")
	if err != nil {
		t.Fatalf("redistest: WAIT on %s: %v", primary, err)
	}
	if n, _ := v.(int64); n < 1 {
		t.Fatalf("redistest: WAIT on %s: %v replicas acknowledged, want 1", primary, v)
	}
}

// KillPrimary SIGKILLs the current primary and returns it (it can be
// started again with Start; it then rejoins as a replica).
func (sn *Sentinel) KillPrimary() *Server {
	sn.t.Helper()
	p := sn.Primary()
	p.Kill()
	return p
}

// WaitPromotion waits until the sentinels report a primary other than old
// and that node answers ROLE as a master, and returns it.
func (sn *Sentinel) WaitPromotion(old *Server) *Server {
	sn.t.Helper()
	var promoted *Server
	waitFor(sn.t, "a replica promoted", func() error {
		p := sn.Primary()
		if p == old {
			return fmt.Errorf("sentinels still report %s", old.Addr())
		}
		role, err := Do(p.Addr(), "ROLE")
		if err != nil {
			return err
		}
		if r, _ := role.([]any); len(r) == 0 || r[0] != "master" {
			return fmt.Errorf("%s is not master yet: %v", p.Addr(), role)
		}
		promoted = p
		return nil
	})
	return promoted
}

// Failover is KillPrimary then WaitPromotion; it returns the killed node
// and the new primary.
func (sn *Sentinel) Failover() (killed, promoted *Server) {
	sn.t.Helper()
	killed = sn.KillPrimary()
	return killed, sn.WaitPromotion(killed)
}

// KillClients closes every normal client connection on every running data
// node and returns how many it closed.
func (sn *Sentinel) KillClients() int {
	sn.t.Helper()
	return killAll(sn.t, sn.Nodes)
}

func killAll(t testing.TB, nodes []*Server) int {
	t.Helper()
	total := 0
	for _, n := range nodes {
		if !n.Running() {
			continue
		}
		k, err := killClients(n.Addr())
		if err != nil {
			t.Fatalf("redistest: CLIENT KILL on %s: %v", n.Addr(), err)
		}
		total += int(k)
	}
	return total
}

// waitFor polls cond every 50 ms until it returns nil, failing the test
// after topologyTimeout with cond's last error.
func waitFor(t testing.TB, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(topologyTimeout)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("redistest: waiting for %s: %v after %v", what, err, topologyTimeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
