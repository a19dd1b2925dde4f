package session

import (
	"context"
	"github.com/logto-bff/bff/backend/internal/authflow"
	"net/http/httptest"
	"testing"
	"time"
)

func TestMemoryJanitorEvictsExpired(t *testing.T) {
	e := memoryEnv(t)
	m := e.open(t, Config{IdleTimeout: time.Hour, AttemptTTL: 10 * time.Minute})
	be := m.be.(*memBackend)
	ctx := context.Background()
	live := newBrowser()
	for i := range 20 {
		b := newBrowser()
		create(t, m, b, sampleRecord("user", "sid"))
		begin(t, m, b, "st")
		if _, err := m.MarkJTI(ctx, "jti"+string(rune('a'+i)), time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	if be.size() == 0 {
		t.Fatal("nothing stored")
	}
	e.clock.Advance(2 * time.Hour)
	create(t, m, live, sampleRecord("live", "sid-live"))
	be.sweep()
	// Only the live session and its two index sets remain.
	if n := be.size(); n != 3 {
		t.Fatalf("%d entries after sweep, want 3 (one live session + its 2 index sets)", n)
	}
	mustLoad(t, m, live)
}

func TestMemoryJanitorRunsAndCloseStopsIt(t *testing.T) {
	clock := newTestClock()
	m, err := NewMemory(Config{Secret: testSecret, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	// Swap in a fast janitor to see it run on its own.
	m.be.close()
	be := newMemBackend(clock.Now, m.cookie.codecs(), 5*time.Millisecond)
	m = newManager(m.cfg, m.cookie, be)
	create(t, m, newBrowser(), sampleRecord("u", "s"))
	clock.Advance(48 * time.Hour)
	deadline := time.Now().Add(5 * time.Second)
	for be.size() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("janitor did not evict (%d entries left)", be.size())
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatal("second Close:", err)
	}
	if err := m.Ping(context.Background()); !isUnavailable(err) {
		t.Fatalf("Ping after Close: %v", err)
	}
	if _, err := m.Create(httptest.NewRecorder(), newBrowser().request(), sampleRecord("u", "s")); !isUnavailable(err) {
		t.Fatalf("Create after Close: %v", err)
	}
}

func TestConfigValidation(t *testing.T) {
	for _, tt := range []struct {
		name string
		cfg  Config
	}{
		{"no secret", Config{}},
		{"31-byte secret", Config{Secret: make([]byte, 31)}},
		{"negative attempts", Config{Secret: testSecret, MaxAttempts: -1}},
		{"sub-second idle", Config{Secret: testSecret, IdleTimeout: time.Millisecond}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if m, err := NewMemory(tt.cfg); err == nil {
				m.Close()
				t.Fatal("NewMemory accepted it")
			}
		})
	}
	m, err := NewMemory(Config{Secret: testSecret})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if m.cfg.IdleTimeout != DefaultIdleTimeout || m.cfg.AbsoluteLifetime != DefaultAbsoluteLifetime ||
		m.cfg.AttemptTTL != DefaultAttemptTTL || m.cfg.MaxAttempts != DefaultMaxAttempts {
		t.Fatalf("defaults not applied: %+v", m.cfg)
	}
}

func TestMemoryAttemptCap(t *testing.T) {
	e := memoryEnv(t)
	m := e.open(t, Config{AttemptTTL: time.Minute})
	m.be.(*memBackend).maxAttempts = 3
	for i := range 3 {
		begin(t, m, newBrowser(), "s"+string(rune('0'+i)))
	}
	err := m.BeginAttempt(httptest.NewRecorder(), newBrowser().request(), authflow.Attempt{State: "over"})
	if !isUnavailable(err) {
		t.Fatalf("BeginAttempt over the cap: %v, want ErrUnavailable", err)
	}
	e.clock.Advance(time.Minute)
	begin(t, m, newBrowser(), "after-expiry") // expired ones make room
}

func TestCheckRedisVersion(t *testing.T) {
	for _, tt := range []struct {
		info string
		ok   bool
	}{
		{"# Server\r\nredis_version:7.0.15\r\nredis_mode:standalone\r\n", true},
		{"redis_version:6.2.0\r\n", true},
		{"redis_version:10.0.0\r\n", true},
		{"redis_version:6.0.16\r\n", false},
		{"redis_version:5.0.7\r\n", false},
		{"redis_version:x\r\n", false},
		{"# Server\r\n", false},
	} {
		if err := checkRedisVersion(tt.info); (err == nil) != tt.ok {
			t.Errorf("checkRedisVersion(%q) = %v, want ok=%v", tt.info, err, tt.ok)
		}
	}
}
