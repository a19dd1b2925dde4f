package session

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func testDestroy(t *testing.T, e *env) {
	m := e.open(t, Config{})
	b := newBrowser()
	s := create(t, m, b, sampleRecord("user-1", "sid-1"))
	w := httptest.NewRecorder()
	got, err := m.Destroy(w, b.request())
	if err != nil {
		t.Fatalf("Destroy: %v", err)
	}
	if got == nil || got.Tokens.RefreshToken != s.Tokens.RefreshToken {
		t.Fatalf("Destroy returned %+v, want the destroyed session", got)
	}
	c := setCookie(w, m.CookieName())
	if c == nil || c.MaxAge >= 0 || c.Path != "/" || !c.HttpOnly {
		t.Fatalf("Destroy cookie = %+v, want an expired session cookie", c)
	}
	if _, err := load(m, b); !isNoSession(err) {
		t.Fatalf("Load with the old cookie after Destroy: %v", err)
	}
	b.absorb(w)
	if _, err := load(m, b); !isNoSession(err) {
		t.Fatalf("Load after Destroy: %v", err)
	}
	if n, err := countOf(m.DestroyBySID(context.Background(), "sid-1")); err != nil || n != 0 {
		t.Fatalf("DestroyBySID after Destroy = %d, %v; want 0 (unindexed)", n, err)
	}
	// Destroying again (no cookie now) is fine.
	if got, err := m.Destroy(httptest.NewRecorder(), b.request()); got != nil || err != nil {
		t.Fatalf("second Destroy = %v, %v", got, err)
	}
}

func testDestroyIndexed(t *testing.T, e *env) {
	m := e.open(t, Config{})
	ctx := context.Background()
	a1, a2, b1, c1 := newBrowser(), newBrowser(), newBrowser(), newBrowser()
	create(t, m, a1, sampleRecord("alice", "sid-A"))
	create(t, m, a2, sampleRecord("alice", "sid-A"))
	create(t, m, b1, sampleRecord("alice", "sid-B"))
	noSID := sampleRecord("bob", "")
	create(t, m, c1, noSID)

	if n, err := countOf(m.DestroyBySID(ctx, "sid-A")); err != nil || n != 2 {
		t.Fatalf("DestroyBySID(sid-A) = %d, %v; want 2", n, err)
	}
	for _, br := range []*browser{a1, a2} {
		if _, err := load(m, br); !isNoSession(err) {
			t.Fatalf("session of sid-A still loads: %v", err)
		}
	}
	mustLoad(t, m, b1)
	if n, err := countOf(m.DestroyBySubject(ctx, "alice")); err != nil || n != 1 {
		t.Fatalf("DestroyBySubject(alice) = %d, %v; want 1 (the sid-B one)", n, err)
	}
	if _, err := load(m, b1); !isNoSession(err) {
		t.Fatalf("alice's sid-B session still loads: %v", err)
	}
	mustLoad(t, m, c1)
	for _, tt := range []struct {
		name string
		f    func() (int, error)
	}{
		{"unknown sid", func() (int, error) { return countOf(m.DestroyBySID(ctx, "nope")) }},
		{"empty sid", func() (int, error) { return countOf(m.DestroyBySID(ctx, "")) }},
		{"unknown subject", func() (int, error) { return countOf(m.DestroyBySubject(ctx, "nobody")) }},
		{"alice again", func() (int, error) { return countOf(m.DestroyBySubject(ctx, "alice")) }},
	} {
		if n, err := tt.f(); err != nil || n != 0 {
			t.Fatalf("%s = %d, %v; want 0", tt.name, n, err)
		}
	}
	if n, err := countOf(m.DestroyBySubject(ctx, "bob")); err != nil || n != 1 {
		t.Fatalf("DestroyBySubject(bob) = %d, %v; want 1", n, err)
	}
}

// A session kept alive by reads for longer than the idle timeout must still
// be found by back-channel logout.
func testIndexOutlivesIdle(t *testing.T, e *env) {
	m := e.open(t, Config{IdleTimeout: time.Hour, AbsoluteLifetime: 10 * time.Hour})
	b1, b2 := newBrowser(), newBrowser()
	create(t, m, b1, sampleRecord("alice", "sid-A"))
	create(t, m, b2, sampleRecord("bob", "sid-B"))
	for range 4 {
		e.clock.Advance(50 * time.Minute)
		mustLoad(t, m, b1)
		mustLoad(t, m, b2)
	}
	ctx := context.Background()
	if n, err := countOf(m.DestroyBySID(ctx, "sid-A")); err != nil || n != 1 {
		t.Fatalf("DestroyBySID 3h20m in (idle 1h) = %d, %v; want 1", n, err)
	}
	if n, err := countOf(m.DestroyBySubject(ctx, "bob")); err != nil || n != 1 {
		t.Fatalf("DestroyBySubject 3h20m in (idle 1h) = %d, %v; want 1", n, err)
	}
}

func testRecordSizeBound(t *testing.T, e *env) {
	m := e.open(t, Config{})
	rec := sampleRecord("user-1", "sid-1")
	rec.Me = json.RawMessage(`"` + strings.Repeat("x", maxRecordBytes) + `"`)
	_, err := m.Create(httptest.NewRecorder(), newBrowser().request(), rec)
	if err == nil || isUnavailable(err) || isNoSession(err) {
		t.Fatalf("Create with an oversized record: %v, want a plain error", err)
	}
	b := newBrowser()
	s := create(t, m, b, sampleRecord("user-1", "sid-1"))
	s.Me = rec.Me
	if err := m.Save(context.Background(), s); err == nil || isUnavailable(err) {
		t.Fatalf("Save with an oversized record: %v, want a plain error", err)
	}
	if got := mustLoad(t, m, b); len(got.Me) > 1000 {
		t.Fatal("the oversized record was stored")
	}
}
