package session

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/logto-bff/bff/backend/internal/authflow"
)

var testSecret = []byte("0123456789abcdef0123456789abcdef-test-secret")

// testClock is an injectable clock advanced by hand.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func newTestClock() *testClock {
	return &testClock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// browser keeps cookies across requests like a user agent (minus Domain
// and Path logic: every cookie here is Path=/ on one host).
type browser struct {
	cookies map[string]*http.Cookie
}

func newBrowser() *browser { return &browser{cookies: map[string]*http.Cookie{}} }

func (b *browser) request() *http.Request {
	r := httptest.NewRequest(http.MethodGet, "http://bff.test/api/me", nil)
	for _, c := range b.cookies {
		r.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value})
	}
	return r
}

func (b *browser) absorb(w *httptest.ResponseRecorder) {
	for _, c := range w.Result().Cookies() {
		if c.MaxAge < 0 {
			delete(b.cookies, c.Name)
			continue
		}
		b.cookies[c.Name] = c
	}
}

func (b *browser) clone() *browser {
	n := newBrowser()
	for k, v := range b.cookies {
		cp := *v
		n.cookies[k] = &cp
	}
	return n
}

// cookie returns the Set-Cookie named name in w, or nil.
func setCookie(w *httptest.ResponseRecorder, name string) *http.Cookie {
	for _, c := range w.Result().Cookies() {
		if c.Name == name {
			return c
		}
	}
	return nil
}

func sampleRecord(sub, sid string) Record {
	return Record{
		Subject: sub,
		SID:     sid,
		Me:      json.RawMessage(`{"sub":"` + sub + `","name":"Alice Example","username":null,"roles":["admin"],"identities":{"discord":{"userId":"8035","details":{"rawData":{"global_name":"Nelly"}}}}}`),
		Tokens: authflow.Tokens{
			AccessToken:       "opaque-access-" + sub,
			RefreshToken:      "refresh-" + sub,
			IDToken:           "eyJhbGciOiJFUzM4NCJ9.e30.sig",
			Scope:             "openid profile offline_access",
			AccessTokenExpiry: time.Date(2026, 3, 1, 13, 0, 0, 0, time.UTC),
			Resources: map[string]authflow.ResourceToken{
				"https://api.example.test": {AccessToken: "jwt-api", Expiry: time.Date(2026, 3, 1, 13, 0, 0, 0, time.UTC)},
			},
		},
		AuthenticatedAt: time.Date(2026, 3, 1, 11, 59, 0, 0, time.UTC),
	}
}

// create signs browser b in with rec and fails the test on error.
func create(t testing.TB, m *Manager, b *browser, rec Record) *Session {
	t.Helper()
	w := httptest.NewRecorder()
	s, err := m.Create(w, b.request(), rec)
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	b.absorb(w)
	return s
}

// load loads b's session.
func load(m *Manager, b *browser) (*Session, error) {
	return m.Load(httptest.NewRecorder(), b.request())
}

func mustLoad(t testing.TB, m *Manager, b *browser) *Session {
	t.Helper()
	s, err := load(m, b)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return s
}

func sameRecord(t testing.TB, got, want Record) {
	t.Helper()
	if got.Subject != want.Subject || got.SID != want.SID || !bytes.Equal(compactJSON(t, got.Me), compactJSON(t, want.Me)) {
		t.Fatalf("record identity differs:\n got %s %s %s\nwant %s %s %s", got.Subject, got.SID, got.Me, want.Subject, want.SID, want.Me)
	}
	g, _ := json.Marshal(got.Tokens)
	w, _ := json.Marshal(want.Tokens)
	if !bytes.Equal(g, w) {
		t.Fatalf("tokens differ:\n got %s\nwant %s", g, w)
	}
	if !got.AuthenticatedAt.Equal(want.AuthenticatedAt) {
		t.Fatalf("AuthenticatedAt = %v, want %v", got.AuthenticatedAt, want.AuthenticatedAt)
	}
}

func compactJSON(t testing.TB, b []byte) []byte {
	t.Helper()
	var out bytes.Buffer
	if err := json.Compact(&out, b); err != nil {
		t.Fatalf("compact %q: %v", b, err)
	}
	return out.Bytes()
}

// writeCounter counts the store writes (Set, CompareAndSwap,
// CompareAndDelete) of the env's store from the moment it is made.
type writeCounter struct {
	spy  *spyStore
	base int64
}

func countWrites(m *Manager) *writeCounter {
	spy := m.st.(sharedStore).spyStore
	return &writeCounter{spy: spy, base: spy.writes.Load()}
}

func (c *writeCounter) writes() int64 { return c.spy.writes.Load() - c.base }

// countOf turns DestroyBySID/DestroyBySubject's records into a count.
func countOf(recs []Record, err error) (int, error) { return len(recs), err }
