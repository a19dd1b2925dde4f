package redistest

import (
	"strings"
	"testing"
)

func TestSentinelFailoverPromotesTheReplica(t *testing.T) {
	sn := StartSentinel(t)
	if !strings.HasPrefix(sn.URL(), "redis+sentinel://127.0.0.1:") || !strings.HasSuffix(sn.URL(), "/"+SentinelMaster+"/0") {
		t.Fatalf("URL = %q", sn.URL())
	}
	first := sn.Primary()
	if first != sn.Nodes[0] {
		t.Fatalf("primary = %s, want the first node %s", first.Addr(), sn.Nodes[0].Addr())
	}
	if _, err := Do(first.Addr(), "SET", "k", "v"); err != nil {
		t.Fatal(err)
	}
	sn.WaitReplicated()
	killed, promoted := sn.Failover()
	if killed != first || promoted != sn.Nodes[1] || killed.Running() {
		t.Fatalf("fail-over: killed %s (running %v), promoted %s", killed.Addr(), killed.Running(), promoted.Addr())
	}
	if v, err := DoString(promoted.Addr(), "GET", "k"); err != nil || v != "v" {
		t.Fatalf("GET k on the promoted replica = %q, %v", v, err)
	}
	if _, err := Do(promoted.Addr(), "SET", "k2", "v"); err != nil {
		t.Fatalf("the promoted node refuses writes: %v", err)
	}
}

func TestClusterFailoverPromotesTheReplica(t *testing.T) {
	c := StartCluster(t)
	if !strings.HasPrefix(c.URL(), "redis+cluster://127.0.0.1:") || strings.Count(c.URL(), ",") != 5 {
		t.Fatalf("URL = %q", c.URL())
	}
	p := c.PrimaryFor("k")
	if _, err := Do(p.Addr(), "SET", "k", "v"); err != nil {
		t.Fatal(err)
	}
	// Every other node redirects: the slot map is real.
	for _, n := range c.Nodes {
		if n == p {
			continue
		}
		if _, err := Do(n.Addr(), "GET", "k"); err == nil || !strings.HasPrefix(err.Error(), "MOVED") {
			t.Fatalf("GET k on %s (not its primary) = %v, want MOVED", n.Addr(), err)
		}
	}
	c.WaitReplicated("k")
	if n := c.KillClients(); n < 0 {
		t.Fatal(n)
	}
	killed, promoted := c.Failover("k")
	if killed != p || promoted == p || killed.Running() {
		t.Fatalf("fail-over: killed %s, promoted %s", killed.Addr(), promoted.Addr())
	}
	if v, err := DoString(promoted.Addr(), "GET", "k"); err != nil || v != "v" {
		t.Fatalf("GET k on the promoted replica = %q, %v", v, err)
	}
}
