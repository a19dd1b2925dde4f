package redistest

import (
	"bufio"
	"net"
	"strings"
	"testing"
	"time"
)

func TestStartAnswersAndIsEphemeralByDefault(t *testing.T) {
	s := Start(t)
	if !strings.HasPrefix(s.Addr(), "127.0.0.1:") {
		t.Fatalf("Addr = %q, want loopback", s.Addr())
	}
	if _, err := Do(s.Addr(), "SET", "k", "v"); err != nil {
		t.Fatal(err)
	}
	vals, err := Do(s.Addr(), "CONFIG", "GET", "appendonly")
	if v, _ := vals.([]any); err != nil || len(v) != 2 || v[1] != "no" {
		t.Fatalf("appendonly = %v (%v), want no", vals, err)
	}
	addr := s.Addr()
	s.Restart()
	if s.Addr() != addr {
		t.Fatalf("address changed across restart: %s → %s", addr, s.Addr())
	}
	if n, err := Do(s.Addr(), "EXISTS", "k"); err != nil || n != int64(0) {
		t.Fatalf("EXISTS k after restart without persistence = %v, %v; want 0", n, err)
	}
}

func TestPersistenceSurvivesStopAndKill(t *testing.T) {
	s := Start(t, WithPersistence())
	if _, err := Do(s.Addr(), "SET", "k", "v1"); err != nil {
		t.Fatal(err)
	}
	s.Stop()
	if s.Running() {
		t.Fatal("Running after Stop")
	}
	if _, err := Do(s.Addr(), "PING"); err == nil {
		t.Fatal("PING succeeded while stopped")
	}
	s.Start()
	if v, err := DoString(s.Addr(), "GET", "k"); err != nil || v != "v1" {
		t.Fatalf("GET k after Stop/Start = %q, %v; want v1", v, err)
	}
	if _, err := Do(s.Addr(), "SET", "k", "v2"); err != nil {
		t.Fatal(err)
	}
	s.Kill()
	s.Start()
	if v, err := DoString(s.Addr(), "GET", "k"); err != nil || v != "v2" {
		t.Fatalf("GET k after Kill/Start = %q, %v; want v2", v, err)
	}
}

func TestDoReplies(t *testing.T) {
	s := Start(t)
	if v, err := Do(s.Addr(), "GET", "absent"); err != nil || v != nil {
		t.Fatalf("GET absent = %v, %v; want nil, nil", v, err)
	}
	if _, err := Do(s.Addr(), "NOSUCHCOMMAND"); err == nil || !strings.HasPrefix(err.Error(), "ERR") {
		t.Fatalf("unknown command: err = %v, want an ERR reply", err)
	}
	if v, err := Do(s.Addr(), "SET", "bin", "a\r\nb"); err != nil || v != "OK" {
		t.Fatal(v, err)
	}
	if v, err := DoString(s.Addr(), "GET", "bin"); err != nil || v != "a\r\nb" {
		t.Fatalf("GET bin = %q, %v", v, err)
	}
}

func TestKillClientsClosesConnections(t *testing.T) {
	s := Start(t)
	c, err := net.Dial("tcp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("*1\r\n$4\r\nPING\r\n")); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(c)
	if line, err := r.ReadString('\n'); err != nil || line != "+PONG\r\n" {
		t.Fatalf("PING = %q, %v", line, err)
	}
	if n := s.KillClients(); n < 1 {
		t.Fatalf("KillClients closed %d connections, want at least 1", n)
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := r.ReadByte(); err == nil {
		t.Fatal("the connection is still open after KillClients")
	}
}

func TestStopIsIdempotent(t *testing.T) {
	s := Start(t)
	s.Stop()
	s.Stop()
	s.Kill()
	if s.Running() {
		t.Fatal("Running after Stop")
	}
}

func TestInCI(t *testing.T) {
	for _, tt := range []struct {
		val  string
		want bool
	}{
		{"", false}, {"true", true}, {"1", true}, {"TRUE", true}, {"false", false}, {"0", false}, {"yes", true},
	} {
		t.Setenv("CI", tt.val)
		if got := inCI(); got != tt.want {
			t.Errorf("CI=%q: inCI() = %v, want %v", tt.val, got, tt.want)
		}
	}
}
