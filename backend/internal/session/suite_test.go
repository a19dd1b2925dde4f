package session

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/securecookie"
)

// runStoreSuite is the behaviour every store must have. newEnv returns a
// fresh, empty store for each subtest.
func runStoreSuite(t *testing.T, newEnv func(t testing.TB) *env) {
	t.Run("CreateLoad", func(t *testing.T) { testCreateLoad(t, newEnv) })
	t.Run("CreateRotatesID", func(t *testing.T) { testCreateRotatesID(t, newEnv(t)) })
	t.Run("BadCookies", func(t *testing.T) { testBadCookies(t, newEnv(t)) })
	t.Run("IdleTimeout", func(t *testing.T) { testIdleTimeout(t, newEnv(t)) })
	t.Run("AbsoluteLifetime", func(t *testing.T) { testAbsoluteLifetime(t, newEnv(t)) })
	t.Run("SlidingTouch", func(t *testing.T) { testSlidingTouch(t, newEnv(t)) })
	t.Run("TouchNeverOverwritesNewerSave", func(t *testing.T) { testTouchRace(t, newEnv(t)) })
	t.Run("SaveReload", func(t *testing.T) { testSaveReload(t, newEnv(t)) })
	t.Run("RecordCache", func(t *testing.T) { testRecordCache(t, newEnv(t)) })
	t.Run("Destroy", func(t *testing.T) { testDestroy(t, newEnv(t)) })
	t.Run("DestroyIndexed", func(t *testing.T) { testDestroyIndexed(t, newEnv(t)) })
	t.Run("IndexOutlivesIdleTimeout", func(t *testing.T) { testIndexOutlivesIdle(t, newEnv(t)) })
	t.Run("RecordSizeBound", func(t *testing.T) { testRecordSizeBound(t, newEnv(t)) })
	t.Run("MarkOnce", func(t *testing.T) { testMarkOnce(t, newEnv(t)) })
	t.Run("MarkJTI", func(t *testing.T) { testMarkJTI(t, newEnv(t)) })
	t.Run("LockExclusion", func(t *testing.T) { testLockExclusion(t, newEnv(t)) })
	t.Run("LockContext", func(t *testing.T) { testLockContext(t, newEnv(t)) })
	t.Run("UpgradeKeepsSessions", func(t *testing.T) { testUpgradeKeepsSessions(t, newEnv(t)) })
	t.Run("SaveConflicts", func(t *testing.T) { testSaveConflicts(t, newEnv(t)) })
	t.Run("IndexBound", func(t *testing.T) { testIndexBound(t, newEnv(t)) })
	t.Run("ConcurrentCreates", func(t *testing.T) { testConcurrentCreates(t, newEnv(t)) })
	t.Run("LostReplies", func(t *testing.T) { testLostReplies(t, newEnv(t)) })
	t.Run("DestroyKeepsCookieOnFailure", func(t *testing.T) { testDestroyKeepsCookieOnFailure(t, newEnv(t)) })
}

func testCreateLoad(t *testing.T, newEnv func(t testing.TB) *env) {
	tests := []struct {
		secure   bool
		wantName string
	}{
		{true, "__Host-bff-session"},
		{false, "bff-session"},
	}
	for _, tt := range tests {
		t.Run(tt.wantName, func(t *testing.T) {
			e := newEnv(t)
			m := e.open(t, Config{Secure: tt.secure, AbsoluteLifetime: 48 * time.Hour})
			if m.CookieName() != tt.wantName {
				t.Fatalf("CookieName = %q, want %q", m.CookieName(), tt.wantName)
			}
			rec := sampleRecord("user-1", "sid-1")
			w := httptest.NewRecorder()
			s, err := m.Create(w, httptest.NewRequest(http.MethodGet, "/auth/callback", nil), rec)
			if err != nil {
				t.Fatalf("Create: %v", err)
			}
			c := setCookie(w, tt.wantName)
			if c == nil {
				t.Fatalf("no %s cookie set; got %v", tt.wantName, w.Result().Header["Set-Cookie"])
			}
			if !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Path != "/" || c.Domain != "" || c.Secure != tt.secure {
				t.Fatalf("cookie attributes wrong: %+v", c)
			}
			if c.MaxAge != int((48 * time.Hour).Seconds()) {
				t.Fatalf("cookie Max-Age = %d, want the absolute lifetime %d", c.MaxAge, int((48 * time.Hour).Seconds()))
			}
			if strings.Contains(c.Value, s.id) {
				t.Fatal("cookie carries the raw session id")
			}
			now := e.clock.Now()
			if !s.CreatedAt.Equal(now) || !s.LastTouched.Equal(now) || !s.ExpiresAt.Equal(now.Add(48*time.Hour)) {
				t.Fatalf("timestamps: created %v touched %v expires %v (now %v)", s.CreatedAt, s.LastTouched, s.ExpiresAt, now)
			}

			b := newBrowser()
			b.absorb(w)
			got := mustLoad(t, m, b)
			sameRecord(t, got.Record, rec)
			if got.id != s.id || got.LockKey() != s.LockKey() || got.Version != rec.Version {
				t.Fatalf("loaded a different session")
			}
			// Another Manager over the same store (another replica) reads it.
			other := e.open(t, Config{Secure: tt.secure, AbsoluteLifetime: 48 * time.Hour})
			sameRecord(t, mustLoad(t, other, b).Record, rec)
		})
	}
}

func testCreateRotatesID(t *testing.T, e *env) {
	m := e.open(t, Config{})
	b := newBrowser()
	s1 := create(t, m, b, sampleRecord("user-1", "sid-1"))
	oldCookie := b.clone()
	s2 := create(t, m, b, sampleRecord("user-1", "sid-2"))
	if s1.id == s2.id {
		t.Fatal("Create reused the session id")
	}
	if _, err := load(m, oldCookie); !isNoSession(err) {
		t.Fatalf("Load with the pre-Create cookie: %v, want ErrNoSession", err)
	}
	if _, ok := e.ttl(t, s1.id); ok {
		t.Fatal("old session still stored")
	}
	if got := mustLoad(t, m, b); got.SID != "sid-2" {
		t.Fatalf("loaded sid %q, want sid-2", got.SID)
	}
	// The old session's index entries went with it.
	if n, err := countOf(m.DestroyBySID(context.Background(), "sid-1")); err != nil || n != 0 {
		t.Fatalf("DestroyBySID(old sid) = %d, %v; want 0", n, err)
	}
}

func testBadCookies(t *testing.T, e *env) {
	m := e.open(t, Config{})
	b := newBrowser()
	s := create(t, m, b, sampleRecord("user-1", "sid-1"))
	valid := b.cookies[m.CookieName()].Value

	foreign, err := securecookie.New([]byte("another-secret-another-secret-000"), nil).Encode(m.CookieName(), s.id)
	if err != nil {
		t.Fatal(err)
	}
	otherName, err := m.cookie.encode("bff-signin", s.id)
	if err != nil {
		t.Fatal(err)
	}
	unknownID, err := m.cookie.encode(m.CookieName(), newSessionID())
	if err != nil {
		t.Fatal(err)
	}
	tampered := []byte(valid)
	tampered[len(tampered)/2] ^= 0x01

	tests := []struct {
		name  string
		value string
		none  bool // no cookie at all
	}{
		{name: "absent", none: true},
		{name: "empty", value: ""},
		{name: "garbage", value: "not-a-cookie"},
		{name: "truncated", value: valid[:len(valid)-5]},
		{name: "tampered", value: string(tampered)},
		{name: "oversized", value: strings.Repeat("A", 5000)},
		{name: "signed by another key", value: foreign},
		{name: "signed for another cookie name", value: otherName},
		{name: "unknown id", value: unknownID},
		{name: "raw id", value: s.id},
		{name: "binary", value: "\x00\xff\xfe"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/api/me", nil)
			if !tt.none {
				r.Header.Set("Cookie", m.CookieName()+"="+tt.value)
			}
			if _, err := m.Load(httptest.NewRecorder(), r); !isNoSession(err) {
				t.Fatalf("Load: %v, want ErrNoSession", err)
			}
			w := httptest.NewRecorder()
			got, err := m.Destroy(w, r)
			if got != nil || err != nil {
				t.Fatalf("Destroy = %v, %v; want nil, nil", got, err)
			}
			if c := setCookie(w, m.CookieName()); c == nil || c.MaxAge >= 0 {
				t.Fatalf("Destroy did not expire the cookie: %v", c)
			}
			// The real session is untouched by any of this.
			mustLoad(t, m, b)
		})
	}
}

func testIdleTimeout(t *testing.T, e *env) {
	m := e.open(t, Config{IdleTimeout: time.Hour, AbsoluteLifetime: 10 * time.Hour})
	b := newBrowser()
	s := create(t, m, b, sampleRecord("user-1", "sid-1"))
	e.clock.Advance(59 * time.Minute)
	mustLoad(t, m, b) // touches: last touch older than max(1m, 6m)
	e.clock.Advance(59 * time.Minute)
	mustLoad(t, m, b)
	e.clock.Advance(61 * time.Minute)
	if _, err := load(m, b); !isNoSession(err) {
		t.Fatalf("Load after 61m idle: %v, want ErrNoSession", err)
	}
	if _, ok := e.ttl(t, s.id); ok {
		t.Fatal("idle-expired session not deleted")
	}
}

func testAbsoluteLifetime(t *testing.T, e *env) {
	m := e.open(t, Config{IdleTimeout: time.Hour, AbsoluteLifetime: 2 * time.Hour})
	b := newBrowser()
	s := create(t, m, b, sampleRecord("user-1", "sid-1"))
	for range 3 {
		e.clock.Advance(30 * time.Minute)
		mustLoad(t, m, b)
	}
	// 1h30m in: the TTL is bounded by the 30m left, not the 1h idle timeout.
	if ttl, ok := e.ttl(t, s.id); !ok || ttl > 30*time.Minute || ttl < 29*time.Minute {
		t.Fatalf("TTL 30m before the absolute end = %v (present %v), want ~30m", ttl, ok)
	}
	e.clock.Advance(30 * time.Minute)
	if _, err := load(m, b); !isNoSession(err) {
		t.Fatalf("Load at the absolute end: %v, want ErrNoSession", err)
	}
	if _, ok := e.ttl(t, s.id); ok {
		t.Fatal("session past its absolute lifetime not deleted")
	}
}

func testSlidingTouch(t *testing.T, e *env) {
	m := e.open(t, Config{IdleTimeout: time.Hour, AbsoluteLifetime: 90 * time.Minute})
	b := newBrowser()
	s := create(t, m, b, sampleRecord("user-1", "sid-1"))
	wc := countWrites(m)
	ttl0, _ := e.ttl(t, s.id)
	if ttl0 > time.Hour || ttl0 < 59*time.Minute {
		t.Fatalf("TTL after Create = %v, want ~1h (the idle timeout)", ttl0)
	}
	for range 5 {
		e.clock.Advance(time.Minute)
		got := mustLoad(t, m, b)
		if !got.LastTouched.Equal(s.LastTouched) {
			t.Fatalf("LastTouched moved within the touch interval")
		}
	}
	if n := wc.writes(); n != 0 {
		t.Fatalf("%d store writes for 5 plain reads within the touch interval, want 0", n)
	}
	if ttl, _ := e.ttl(t, s.id); ttl > ttl0 {
		t.Fatalf("TTL grew from %v to %v without a touch", ttl0, ttl)
	}

	e.clock.Advance(35 * time.Minute) // 40m in: past max(1m, 6m)
	got := mustLoad(t, m, b)
	if n := wc.writes(); n != 1 {
		t.Fatalf("%d store writes for a read past the touch interval, want 1", n)
	}
	if !got.LastTouched.Equal(e.clock.Now()) {
		t.Fatalf("LastTouched = %v, want now %v", got.LastTouched, e.clock.Now())
	}
	// TTL = min(idle 1h, 50m left before the absolute end).
	if ttl, _ := e.ttl(t, s.id); ttl > 50*time.Minute || ttl < 49*time.Minute {
		t.Fatalf("TTL after touch = %v, want ~50m", ttl)
	}
	mustLoad(t, m, b)
	if n := wc.writes(); n != 1 {
		t.Fatalf("a read right after a touch wrote again (%d writes)", n)
	}
}

func testTouchRace(t *testing.T, e *env) {
	m := e.open(t, Config{IdleTimeout: time.Hour})
	b := newBrowser()
	create(t, m, b, sampleRecord("user-1", "sid-1"))
	e.clock.Advance(3 * time.Minute) // within the 6m touch interval: no touch

	// A request read the session just before a refresh saved new tokens…
	stale := mustLoad(t, m, b)
	fresh, err := m.Reload(context.Background(), stale)
	if err != nil {
		t.Fatal(err)
	}
	fresh.Tokens.RefreshToken = "rotated"
	if err := m.Save(context.Background(), fresh); err != nil {
		t.Fatalf("Save: %v", err)
	}
	// …and only then pushes the idle deadline forward: it must lose.
	e.clock.Advance(10 * time.Minute)
	m.touch(context.Background(), stale, e.clock.Now())
	got, err := m.Reload(context.Background(), stale)
	if err != nil {
		t.Fatal(err)
	}
	if got.Tokens.RefreshToken != "rotated" || got.Version != fresh.Version {
		t.Fatalf("a stale touch overwrote the refreshed tokens (refresh token %q, version %d)", got.Tokens.RefreshToken, got.Version)
	}
}

func testSaveReload(t *testing.T, e *env) {
	m := e.open(t, Config{IdleTimeout: time.Hour, AbsoluteLifetime: 3 * time.Hour})
	b := newBrowser()
	s := create(t, m, b, sampleRecord("user-1", "sid-1"))
	ctx := context.Background()

	e.clock.Advance(20 * time.Minute)
	s.Tokens.AccessToken = "new-access"
	v := s.Version
	if err := m.Save(ctx, s); err != nil {
		t.Fatalf("Save: %v", err)
	}
	if s.Version != v+1 || !s.LastTouched.Equal(e.clock.Now()) {
		t.Fatalf("Save: version %d (was %d), LastTouched %v", s.Version, v, s.LastTouched)
	}
	if ttl, _ := e.ttl(t, s.id); ttl > time.Hour || ttl < 59*time.Minute {
		t.Fatalf("TTL after Save = %v, want ~1h", ttl)
	}
	got, err := m.Reload(ctx, s)
	if err != nil {
		t.Fatalf("Reload: %v", err)
	}
	if got.Tokens.AccessToken != "new-access" || got.Version != s.Version {
		t.Fatalf("Reload = %q v%d", got.Tokens.AccessToken, got.Version)
	}
	if l := mustLoad(t, m, b); l.Tokens.AccessToken != "new-access" {
		t.Fatalf("Load after Save = %q", l.Tokens.AccessToken)
	}

	// Destroyed meanwhile (sign-out in another tab): Save must not revive it.
	if _, err := m.Destroy(httptest.NewRecorder(), b.request()); err != nil {
		t.Fatal(err)
	}
	if err := m.Save(ctx, got); !isNoSession(err) {
		t.Fatalf("Save after Destroy: %v, want ErrNoSession", err)
	}
	if _, ok := e.ttl(t, s.id); ok {
		t.Fatal("Save resurrected a destroyed session")
	}
	if _, err := m.Reload(ctx, got); !isNoSession(err) {
		t.Fatalf("Reload after Destroy: %v, want ErrNoSession", err)
	}

	// Past the absolute end Save fails too.
	b2 := newBrowser()
	s2 := create(t, m, b2, sampleRecord("user-2", "sid-2"))
	e.clock.Advance(3 * time.Hour)
	if err := m.Save(ctx, s2); !isNoSession(err) {
		t.Fatalf("Save past ExpiresAt: %v, want ErrNoSession", err)
	}
}
