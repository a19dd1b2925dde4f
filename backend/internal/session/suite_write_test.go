package session

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/logto-bff/bff/backend/internal/store"
)

// testSaveConflicts: Save writes over a concurrent touch (same Version)
// but never over another writer's save (newer Version), and never brings a
// deleted session back.
func testSaveConflicts(t *testing.T, e *env) {
	ctx := context.Background()
	m := e.open(t, Config{IdleTimeout: time.Hour})
	other := e.open(t, Config{IdleTimeout: time.Hour})
	b := newBrowser()
	s := create(t, m, b, sampleRecord("user-1", "sid-1"))

	// A refresh reloads; meanwhile another replica's read touches.
	cur, err := m.Reload(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(10 * time.Minute)
	touched := mustLoad(t, other, b)
	if !touched.LastTouched.Equal(e.clock.Now()) {
		t.Fatal("the other replica's read did not touch")
	}
	cur.Tokens.RefreshToken = "rotated-1"
	if err := m.Save(ctx, cur); err != nil {
		t.Fatalf("Save over a concurrent touch: %v", err)
	}
	if got := mustLoad(t, other, b); got.Tokens.RefreshToken != "rotated-1" {
		t.Fatalf("after Save over a touch: refresh token %q", got.Tokens.RefreshToken)
	}

	// Two writers from the same version: the second is stale and loses.
	w1, err := m.Reload(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	w2, err := other.Reload(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	w1.Tokens.RefreshToken, w2.Tokens.RefreshToken = "winner", "stale"
	if err := m.Save(ctx, w1); err != nil {
		t.Fatal(err)
	}
	if err := other.Save(ctx, w2); !errors.Is(err, ErrConflict) {
		t.Fatalf("stale Save = %v, want ErrConflict", err)
	}
	if got := mustLoad(t, m, b); got.Tokens.RefreshToken != "winner" {
		t.Fatalf("stored refresh token %q, want the first writer's", got.Tokens.RefreshToken)
	}
}

// testIndexBound: an index holds at most maxIndexed live sessions. Entries
// of sessions that ended are dropped first; when all are live, the session
// ending first is ended (deleted) to make room — never left unlisted.
func testIndexBound(t *testing.T, e *env) {
	ctx := context.Background()
	m := e.open(t, Config{IdleTimeout: time.Hour, AbsoluteLifetime: 10 * time.Hour})
	m.maxIndexed = 3
	for range 3 {
		s := create(t, m, newBrowser(), sampleRecord("alice", ""))
		// Gone by the store's TTL (as after an idle timeout), still listed.
		if _, err := e.st.Store.CompareAndDelete(ctx, sessionKey(s.id), nil); err != nil {
			t.Fatal(err)
		}
	}
	var bs []*browser
	for i := range 4 {
		b := newBrowser()
		create(t, m, b, sampleRecord("alice", ""))
		bs = append(bs, b)
		e.clock.Advance(time.Duration(i+1) * time.Minute)
	}
	// The first of the four ended to make room for the fourth.
	if _, err := load(m, bs[0]); !isNoSession(err) {
		t.Fatalf("the session ending first: %v, want ErrNoSession", err)
	}
	for _, b := range bs[1:] {
		mustLoad(t, m, b)
	}
	raw, err := e.st.Store.Get(ctx, indexKey(bySubject, "alice"))
	if err != nil {
		t.Fatal(err)
	}
	if n := len(decodeIndex(raw, e.clock.Now())); n != 3 {
		t.Fatalf("index holds %d entries, want 3", n)
	}
	if n, err := countOf(m.DestroyBySubject(ctx, "alice")); err != nil || n != 3 {
		t.Fatalf("DestroyBySubject = %d, %v; want 3", n, err)
	}
	if raw, _ := e.st.Store.Get(ctx, indexKey(bySubject, "alice")); raw != nil {
		t.Fatalf("index left after back-channel logout: %s", raw)
	}
}

// testConcurrentCreates: sign-ins of one user on several replicas at once
// all end up in the index (the compare-and-swap loop loses no entry).
func testConcurrentCreates(t *testing.T, e *env) {
	ms := []*Manager{e.open(t, Config{}), e.open(t, Config{}), e.open(t, Config{})}
	var wg sync.WaitGroup
	errs := make(chan error, 24)
	for i := range 24 {
		m := ms[i%len(ms)]
		wg.Go(func() {
			rec := sampleRecord("popular", fmt.Sprintf("sid-%d", i%2))
			if _, err := m.Create(httptest.NewRecorder(), newBrowser().request(), rec); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("concurrent Create: %v", err)
	}
	ctx := context.Background()
	if n, err := countOf(ms[0].DestroyBySID(ctx, "sid-0")); err != nil || n != 12 {
		t.Fatalf("DestroyBySID(sid-0) = %d, %v; want 12", n, err)
	}
	if n, err := countOf(ms[1].DestroyBySubject(ctx, "popular")); err != nil || n != 12 {
		t.Fatalf("DestroyBySubject after sid-0's logout = %d, %v; want the other 12", n, err)
	}
}

// lossyStore applies a write but then reports a dropped connection, once,
// for the operation armed: what a client sees when Redis closes the
// connection after executing a command and before its reply arrives.
type lossyStore struct {
	store.Store
	mu  sync.Mutex
	cas bool
	cad bool
}

var errLostReply = errors.New("test: connection dropped before the reply")

func (l *lossyStore) CompareAndSwap(ctx context.Context, key string, old, value []byte, ttl time.Duration) (bool, error) {
	ok, err := l.Store.CompareAndSwap(ctx, key, old, value, ttl)
	l.mu.Lock()
	defer l.mu.Unlock()
	if err == nil && l.cas {
		l.cas = false
		return false, errLostReply
	}
	return ok, err
}

func (l *lossyStore) CompareAndDelete(ctx context.Context, key string, old []byte) (bool, error) {
	ok, err := l.Store.CompareAndDelete(ctx, key, old)
	l.mu.Lock()
	defer l.mu.Unlock()
	if err == nil && l.cad {
		l.cad = false
		return false, errLostReply
	}
	return ok, err
}

// testLostReplies: a save whose reply was lost is recognised by the retry
// (no ErrConflict against itself); a sign-out whose delete reply was lost
// still returns the session, so its refresh token is revoked.
func testLostReplies(t *testing.T, e *env) {
	ctx := context.Background()
	lossy := &lossyStore{Store: sharedStore{e.st}}
	m, err := New(e.fill(Config{}), lossy)
	if err != nil {
		t.Fatal(err)
	}
	b := newBrowser()
	s := create(t, m, b, sampleRecord("user-1", "sid-1"))

	cur, err := m.Reload(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	cur.Tokens.RefreshToken = "rotated"
	lossy.mu.Lock()
	lossy.cas = true
	lossy.mu.Unlock()
	if err := m.Save(ctx, cur); !isUnavailable(err) {
		t.Fatalf("Save with a lost reply = %v, want ErrUnavailable", err)
	}
	e.clock.Advance(time.Second)
	if err := m.Save(ctx, cur); err != nil {
		t.Fatalf("Save again after a lost reply: %v", err)
	}
	if got := mustLoad(t, m, b); got.Tokens.RefreshToken != "rotated" || got.Version != s.Version+1 {
		t.Fatalf("after the retried Save: %q v%d, want rotated v%d", got.Tokens.RefreshToken, got.Version, s.Version+1)
	}

	lossy.mu.Lock()
	lossy.cad = true
	lossy.mu.Unlock()
	w := httptest.NewRecorder()
	got, err := m.Destroy(w, b.request())
	if err != nil || got == nil || got.Tokens.RefreshToken != "rotated" {
		t.Fatalf("Destroy with a lost reply = %v, %v; want the deleted session", got, err)
	}
	if c := setCookie(w, m.CookieName()); c == nil || c.MaxAge >= 0 {
		t.Fatal("Destroy did not expire the cookie once the session was gone")
	}
}

// testDestroyKeepsCookieOnFailure: when the store fails, Destroy reports
// ErrUnavailable and leaves the cookie alone, so a retry can finish.
func testDestroyKeepsCookieOnFailure(t *testing.T, e *env) {
	broken := &failingStore{Store: sharedStore{e.st}}
	m, err := New(e.fill(Config{}), broken)
	if err != nil {
		t.Fatal(err)
	}
	b := newBrowser()
	create(t, m, b, sampleRecord("user-1", "sid-1"))
	broken.fail(true)
	w := httptest.NewRecorder()
	if s, err := m.Destroy(w, b.request()); s != nil || !isUnavailable(err) {
		t.Fatalf("Destroy with the store failing = %v, %v; want ErrUnavailable", s, err)
	}
	if c := setCookie(w, m.CookieName()); c != nil {
		t.Fatalf("Destroy touched the cookie although the session may exist: %+v", c)
	}
	broken.fail(false)
	mustLoad(t, m, b)
	w = httptest.NewRecorder()
	if s, err := m.Destroy(w, b.request()); s == nil || err != nil {
		t.Fatalf("Destroy once the store is back = %v, %v", s, err)
	}
	if _, err := load(m, b); !isNoSession(err) {
		t.Fatalf("Load after the retried Destroy: %v", err)
	}
}

// failingStore fails every operation while switched on, as an unreachable
// store does.
type failingStore struct {
	store.Store
	mu  sync.Mutex
	off bool
}

var errUnreachable = errors.New("test: store unreachable")

func (f *failingStore) fail(on bool) {
	f.mu.Lock()
	f.off = on
	f.mu.Unlock()
}

func (f *failingStore) down() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.off
}

func (f *failingStore) Get(ctx context.Context, key string) ([]byte, error) {
	if f.down() {
		return nil, errUnreachable
	}
	return f.Store.Get(ctx, key)
}

func (f *failingStore) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	if f.down() {
		return errUnreachable
	}
	return f.Store.Set(ctx, key, value, ttl)
}

func (f *failingStore) CompareAndSwap(ctx context.Context, key string, old, value []byte, ttl time.Duration) (bool, error) {
	if f.down() {
		return false, errUnreachable
	}
	return f.Store.CompareAndSwap(ctx, key, old, value, ttl)
}

func (f *failingStore) CompareAndDelete(ctx context.Context, key string, old []byte) (bool, error) {
	if f.down() {
		return false, errUnreachable
	}
	return f.Store.CompareAndDelete(ctx, key, old)
}
