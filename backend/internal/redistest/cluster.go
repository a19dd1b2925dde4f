package redistest

import (
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// clusterNodeTimeout is the test cluster's cluster-node-timeout: a primary
// that does not answer for this long is failed over to its replica.
const clusterNodeTimeout = time.Second

// Cluster is a Redis Cluster on loopback: three primaries and three
// replicas (real redis-server processes) created with redis-cli --cluster
// create, stopped when the test ends. Its methods must be called from the
// test's goroutine.
type Cluster struct {
	t testing.TB
	// Nodes are the six nodes; which are primaries changes with
	// fail-overs (see PrimaryFor).
	Nodes []*Server
}

// StartCluster starts six cluster nodes, joins them with redis-cli --cluster
// create --cluster-replicas 1 and returns once every node reports
// cluster_state:ok and every replica is in sync. Skip/fail rules are those
// of Start; redis-cli must be installed next to redis-server.
func StartCluster(t testing.TB) *Cluster {
	t.Helper()
	cli, err := exec.LookPath("redis-cli")
	if err != nil {
		// Debian's redis-server depends on redis-tools, which has it.
		if inCI() {
			t.Fatalf("redistest: redis-cli not found on PATH; it is required when CI is set")
		}
		t.Skipf("redistest: redis-cli not found on PATH; skipping (set CI=true to make this a failure)")
	}
	c := &Cluster{t: t}
	for range 6 {
		c.Nodes = append(c.Nodes, Start(t, func(o *options) { o.clusterNodeTimeout = clusterNodeTimeout }))
	}
	args := []string{"--cluster", "create"}
	for _, n := range c.Nodes {
		args = append(args, n.Addr())
	}
	args = append(args, "--cluster-replicas", "1", "--cluster-yes")
	if out, err := exec.Command(cli, args...).CombinedOutput(); err != nil {
		t.Fatalf("redistest: redis-cli --cluster create: %v\n%s", err, out)
	}
	c.waitHealthy(nil)
	return c
}

// URL is the redis+cluster:// URL listing every node as a seed.
func (c *Cluster) URL() string {
	addrs := make([]string, len(c.Nodes))
	for i, n := range c.Nodes {
		addrs[i] = n.Addr()
	}
	return "redis+cluster://" + strings.Join(addrs, ",")
}

// clusterNode is one line of CLUSTER NODES.
type clusterNode struct {
	addr    string
	flags   string
	primary bool
	failed  bool
	slots   [][2]int
}

func (c *Cluster) nodesView(from *Server) ([]clusterNode, error) {
	out, err := DoString(from.Addr(), "CLUSTER", "NODES")
	if err != nil {
		return nil, err
	}
	var nodes []clusterNode
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Fields(line)
		if len(f) < 8 {
			continue
		}
		addr, _, _ := strings.Cut(f[1], "@")
		n := clusterNode{addr: addr, flags: f[2],
			primary: strings.Contains(f[2], "master"),
			failed:  strings.Contains(f[2], "fail")}
		for _, s := range f[8:] {
			if strings.HasPrefix(s, "[") { // a slot being migrated
				continue
			}
			lo, hi, found := strings.Cut(s, "-")
			if !found {
				hi = lo
			}
			a, err1 := strconv.Atoi(lo)
			b, err2 := strconv.Atoi(hi)
			if err1 == nil && err2 == nil {
				n.slots = append(n.slots, [2]int{a, b})
			}
		}
		nodes = append(nodes, n)
	}
	return nodes, nil
}

func (c *Cluster) server(addr string) *Server {
	for _, n := range c.Nodes {
		if n.Addr() == addr {
			return n
		}
	}
	return nil
}

// waitHealthy waits until every running node reports cluster_state:ok,
// sees no node but dead as failed, every slot is served by a live primary,
// and every replica of a live primary is in sync.
func (c *Cluster) waitHealthy(dead *Server) {
	c.t.Helper()
	waitFor(c.t, "a healthy cluster", func() error {
		for _, n := range c.Nodes {
			if !n.Running() {
				continue
			}
			info, err := DoString(n.Addr(), "CLUSTER", "INFO")
			if err != nil {
				return err
			}
			if !strings.Contains(info, "cluster_state:ok") {
				return fmt.Errorf("%s: cluster_state not ok", n.Addr())
			}
			view, err := c.nodesView(n)
			if err != nil {
				return err
			}
			covered := 0
			for _, v := range view {
				if v.primary && !v.failed {
					for _, r := range v.slots {
						covered += r[1] - r[0] + 1
					}
				}
				if dead == nil || v.addr != dead.Addr() {
					if v.failed {
						return fmt.Errorf("%s sees %s as %s", n.Addr(), v.addr, v.flags)
					}
				}
			}
			if covered != 16384 {
				return fmt.Errorf("%s: live primaries serve %d of 16384 slots", n.Addr(), covered)
			}
			if role, err := Do(n.Addr(), "ROLE"); err == nil {
				if r, _ := role.([]any); len(r) >= 4 && r[0] == "slave" && r[3] != "connected" {
					return fmt.Errorf("replica %s link is %v", n.Addr(), r[3])
				}
			}
		}
		return nil
	})
}

// Slot is the cluster hash slot of key (asked of a running node).
func (c *Cluster) Slot(key string) int {
	c.t.Helper()
	for _, n := range c.Nodes {
		if !n.Running() {
			continue
		}
		v, err := Do(n.Addr(), "CLUSTER", "KEYSLOT", key)
		if err != nil {
			continue
		}
		if s, ok := v.(int64); ok {
			return int(s)
		}
	}
	c.t.Fatalf("redistest: no node answers CLUSTER KEYSLOT")
	return -1
}

// PrimaryFor is the node that serves key's slot now, as a running node
// sees it.
func (c *Cluster) PrimaryFor(key string) *Server {
	c.t.Helper()
	slot := c.Slot(key)
	for _, n := range c.Nodes {
		if !n.Running() {
			continue
		}
		view, err := c.nodesView(n)
		if err != nil {
			continue
		}
		for _, v := range view {
			if !v.primary || v.failed {
				continue
			}
			for _, r := range v.slots {
				if slot >= r[0] && slot <= r[1] {
					if s := c.server(v.addr); s != nil {
						return s
					}
				}
			}
		}
	}
	c.t.Fatalf("redistest: no live primary serves slot %d", slot)
	return nil
}

// WaitReplicated waits until the writes acknowledged so far by the primary
// of key's slot have reached its replica (WAIT 1).
func (c *Cluster) WaitReplicated(key string) {
	c.t.Helper()
	waitReplicated(c.t, c.PrimaryFor(key).Addr())
}

// KillPrimaryFor SIGKILLs the primary that serves key's slot and returns it.
func (c *Cluster) KillPrimaryFor(key string) *Server {
	c.t.Helper()
	p := c.PrimaryFor(key)
	p.Kill()
	return p
}

// WaitPromotion waits until key's slot is served by a primary other than
// old and the cluster is healthy again without it, and returns that
// primary.
func (c *Cluster) WaitPromotion(key string, old *Server) *Server {
	c.t.Helper()
	waitFor(c.t, "a replica promoted", func() error {
		for _, n := range c.Nodes {
			if !n.Running() {
				continue
			}
			view, err := c.nodesView(n)
			if err != nil {
				return err
			}
			for _, v := range view {
				if v.addr == old.Addr() && (v.primary && !v.failed) {
					return fmt.Errorf("%s still sees %s as a live primary", n.Addr(), old.Addr())
				}
			}
		}
		return nil
	})
	c.waitHealthy(old)
	p := c.PrimaryFor(key)
	if p == old {
		c.t.Fatalf("redistest: %s still serves the slot after the fail-over", old.Addr())
	}
	return p
}

// Failover SIGKILLs the primary of key's slot and waits for its replica's
// promotion; it returns the killed node and the new primary.
func (c *Cluster) Failover(key string) (killed, promoted *Server) {
	c.t.Helper()
	killed = c.KillPrimaryFor(key)
	return killed, c.WaitPromotion(key, killed)
}

// KillClients closes every normal client connection on every running node
// and returns how many it closed.
func (c *Cluster) KillClients() int {
	c.t.Helper()
	return killAll(c.t, c.Nodes)
}

// WaitAllReplicated waits until the writes acknowledged so far by every
// live primary have reached its replica (WAIT 1 on each).
func (c *Cluster) WaitAllReplicated() {
	c.t.Helper()
	seen := map[string]bool{}
	for _, n := range c.Nodes {
		if !n.Running() {
			continue
		}
		view, err := c.nodesView(n)
		if err != nil {
			continue
		}
		for _, v := range view {
			if v.primary && !v.failed && len(v.slots) > 0 && !seen[v.addr] {
				seen[v.addr] = true
				waitReplicated(c.t, v.addr)
			}
		}
		break
	}
	if len(seen) != 3 {
		c.t.Fatalf("redistest: WaitAllReplicated found %d live primaries, want 3", len(seen))
	}
}
