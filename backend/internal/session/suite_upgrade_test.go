package session

import (
	"context"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/json"
	"github.com/logto-bff/bff/backend/internal/config"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/securecookie"
)

// previousRelease writes a session exactly as the release before the store
// contract did (through boj/redistore): the Record's JSON, without a layout
// marker, at bff:s:<id>, and a cookie made by a securecookie codec of its
// own (HKDF key under the same label, JSON serializer). It returns a
// browser holding that cookie.
func previousRelease(t testing.TB, e *env, cfg Config, rec Record, ttl time.Duration) (*browser, string) {
	t.Helper()
	cfg = e.fill(cfg)
	now := e.clock.Now()
	rec.CreatedAt, rec.LastTouched = now, now
	if rec.ExpiresAt.IsZero() {
		rec.ExpiresAt = now.Add(config.DefaultSessionLifetime)
	}
	data, err := json.Marshal(&rec)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(data), "layout") {
		t.Fatal("the previous release's record must not carry a layout marker")
	}
	id := newSessionID()
	if err := e.st.Store.Set(context.Background(), "bff:s:"+id, data, ttl); err != nil {
		t.Fatal(err)
	}
	key, err := hkdf.Key(sha256.New, cfg.Secret, nil, "logto-bff/session-cookie/v1", 32)
	if err != nil {
		t.Fatal(err)
	}
	sc := securecookie.CodecsFromPairs(key)[0].(*securecookie.SecureCookie)
	sc.SetSerializer(securecookie.JSONEncoder{})
	name := cookieName(cfg.Secure)
	value, err := sc.Encode(name, id)
	if err != nil {
		t.Fatal(err)
	}
	b := newBrowser()
	b.cookies[name] = &http.Cookie{Name: name, Value: value}
	return b, id
}

// testUpgradeKeepsSessions: a session the previous release wrote is read
// with its cookie, listed in this release's indexes and rewritten with the
// layout marker on first use, found by back-channel logout afterwards, and
// its refresh works (Save over the old bytes).
func testUpgradeKeepsSessions(t *testing.T, e *env) {
	ctx := context.Background()
	m := e.open(t, Config{})
	rec := sampleRecord("alice", "sid-old")
	b, id := previousRelease(t, e, Config{}, rec, time.Hour)

	wc := countWrites(m)
	s := mustLoad(t, m, b)
	sameRecord(t, s.Record, rec)
	if !s.indexed || wc.writes() == 0 {
		t.Fatalf("first use did not migrate the session (indexed %v, %d writes)", s.indexed, wc.writes())
	}
	raw, err := e.st.Store.Get(ctx, sessionKey(id))
	if err != nil || !strings.Contains(string(raw), `"layout":2`) {
		t.Fatalf("record after first use = %.60s…, %v; want the layout marker", raw, err)
	}
	// Rewritten once: the next read writes nothing.
	wc = countWrites(m)
	mustLoad(t, m, b)
	if n := wc.writes(); n != 0 {
		t.Fatalf("a second read of a migrated session wrote %d times", n)
	}
	// A refresh saves over it.
	cur, err := m.Reload(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	cur.Tokens.RefreshToken = "rotated"
	if err := m.Save(ctx, cur); err != nil {
		t.Fatalf("Save of a migrated session: %v", err)
	}
	// Back-channel logout finds it in the new index.
	recs, err := m.DestroyBySID(ctx, "sid-old")
	if err != nil || len(recs) != 1 || recs[0].Tokens.RefreshToken != "rotated" {
		t.Fatalf("DestroyBySID of a migrated session = %d records, %v", len(recs), err)
	}
	if _, err := load(m, b); !isNoSession(err) {
		t.Fatalf("Load after back-channel logout: %v", err)
	}

	// A refresh can be the first use too: Save indexes it.
	b2, _ := previousRelease(t, e, Config{}, sampleRecord("bob", "sid-bob"), time.Hour)
	gs, err := m.fromCookie(b2.request())
	if err != nil || gs == nil {
		t.Fatalf("fromCookie: %v", err)
	}
	s2, err := m.decode(ctx, gs.ID, gs.Values[recordKey].([]byte))
	if err != nil || s2.indexed {
		t.Fatalf("decode old record: indexed %v, %v", s2.indexed, err)
	}
	if err := m.Save(ctx, s2); err != nil {
		t.Fatal(err)
	}
	if n, err := countOf(m.DestroyBySubject(ctx, "bob")); err != nil || n != 1 {
		t.Fatalf("DestroyBySubject after a first-use Save = %d, %v; want 1", n, err)
	}

	// Sign-out of a session of the previous release, never used since.
	b3, _ := previousRelease(t, e, Config{}, sampleRecord("carol", "sid-carol"), time.Hour)
	w := httptest.NewRecorder()
	got, err := m.Destroy(w, b3.request())
	if err != nil || got == nil || got.Tokens.RefreshToken != "refresh-carol" {
		t.Fatalf("Destroy of an old session = %v, %v", got, err)
	}
	if _, err := load(m, b3); !isNoSession(err) {
		t.Fatalf("Load after Destroy: %v", err)
	}
}

// TestPreviousReleaseReadsThisRelease: during a rolling upgrade an old
// replica must read what a new one writes — the cookie through its own
// securecookie codec (HKDF key, JSON serializer) and the record through
// json.Unmarshal into the same Record type, which skips the layout marker.
func TestPreviousReleaseReadsThisRelease(t *testing.T) {
	e := memoryEnv(t)
	m := e.open(t, Config{Secure: true})
	b := newBrowser()
	rec := sampleRecord("alice", "sid-A")
	s := create(t, m, b, rec)

	key, err := hkdf.Key(sha256.New, testSecret, nil, "logto-bff/session-cookie/v1", 32)
	if err != nil {
		t.Fatal(err)
	}
	sc := securecookie.CodecsFromPairs(key)[0].(*securecookie.SecureCookie)
	sc.SetSerializer(securecookie.JSONEncoder{})
	var id string
	if err := sc.Decode("__Host-bff-session", b.cookies["__Host-bff-session"].Value, &id); err != nil || id != s.id {
		t.Fatalf("the previous release's codec read the cookie as %q, %v", id, err)
	}
	raw, err := e.st.Store.Get(context.Background(), "bff:s:"+id)
	if err != nil || raw == nil {
		t.Fatalf("GET bff:s:<id> = %v, %v", raw, err)
	}
	var old Record
	if err := json.Unmarshal(raw, &old); err != nil {
		t.Fatalf("the previous release's decoding failed: %v", err)
	}
	sameRecord(t, old, rec)
	if !old.ExpiresAt.Equal(s.ExpiresAt) || !old.LastTouched.Equal(s.LastTouched) || old.Version != s.Version {
		t.Fatalf("timestamps or version lost: %+v", old)
	}
}
