package redistest

import (
	"strings"
	"testing"

	"github.com/gomodule/redigo/redis"
)

func dial(t *testing.T, s *Server) redis.Conn {
	t.Helper()
	c, err := redis.DialURL(s.URL())
	if err != nil {
		t.Fatalf("dial %s: %v", s.Addr(), err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestStartAnswersAndIsEphemeralByDefault(t *testing.T) {
	s := Start(t)
	if !strings.HasPrefix(s.Addr(), "127.0.0.1:") {
		t.Fatalf("Addr = %q, want loopback", s.Addr())
	}
	c := dial(t, s)
	if _, err := c.Do("SET", "k", "v"); err != nil {
		t.Fatal(err)
	}
	vals, err := redis.Strings(c.Do("CONFIG", "GET", "appendonly"))
	if err != nil || len(vals) != 2 || vals[1] != "no" {
		t.Fatalf("appendonly = %v (%v), want no", vals, err)
	}
	addr := s.Addr()
	s.Restart()
	if s.Addr() != addr {
		t.Fatalf("address changed across restart: %s → %s", addr, s.Addr())
	}
	c2 := dial(t, s)
	if n, err := redis.Int(c2.Do("EXISTS", "k")); err != nil || n != 0 {
		t.Fatalf("EXISTS k after restart without persistence = %d, %v; want 0", n, err)
	}
}

func TestPersistenceSurvivesStopAndKill(t *testing.T) {
	s := Start(t, WithPersistence())
	c := dial(t, s)
	if _, err := c.Do("SET", "k", "v1"); err != nil {
		t.Fatal(err)
	}
	s.Stop()
	if s.Running() {
		t.Fatal("Running after Stop")
	}
	if _, err := redis.DialURL(s.URL()); err == nil {
		t.Fatal("dial succeeded while stopped")
	}
	s.Start()
	c = dial(t, s)
	if v, err := redis.String(c.Do("GET", "k")); err != nil || v != "v1" {
		t.Fatalf("GET k after Stop/Start = %q, %v; want v1", v, err)
	}
	if _, err := c.Do("SET", "k", "v2"); err != nil {
		t.Fatal(err)
	}
	s.Kill()
	s.Start()
	c = dial(t, s)
	if v, err := redis.String(c.Do("GET", "k")); err != nil || v != "v2" {
		t.Fatalf("GET k after Kill/Start = %q, %v; want v2", v, err)
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
