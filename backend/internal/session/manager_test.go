package session

import (
	"context"
	"github.com/logto-bff/bff/backend/internal/config"
	"net/http/httptest"
	"testing"
	"time"
)

// Close closes the store the Manager was given, once; afterwards every
// call reports ErrUnavailable.
func TestCloseClosesStore(t *testing.T) {
	clock := newTestClock()
	m, err := NewMemory(Config{Secret: testSecret, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	b := newBrowser()
	create(t, m, b, sampleRecord("u", "s"))
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatal("second Close:", err)
	}
	if err := m.Ping(context.Background()); !isUnavailable(err) {
		t.Fatalf("Ping after Close: %v", err)
	}
	if _, err := load(m, b); !isUnavailable(err) {
		t.Fatalf("Load after Close: %v", err)
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
		{"negative lifetime", Config{Secret: testSecret, AbsoluteLifetime: -time.Hour}},
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
	if m.cfg.IdleTimeout != config.DefaultSessionIdleTimeout || m.cfg.AbsoluteLifetime != config.DefaultSessionLifetime ||
		m.cfg.Now == nil || m.cfg.Logger == nil {
		t.Fatalf("defaults not applied: %+v", m.cfg)
	}
}
