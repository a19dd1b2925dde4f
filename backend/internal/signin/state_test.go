package signin

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/chacha20poly1305"

	"github.com/logto-bff/bff/backend/internal/authflow"
)

const testSecret = "test-session-secret-0123456789abcdef"

// clock is a settable clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time          { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Advance(d time.Duration) { c.mu.Lock(); defer c.mu.Unlock(); c.t = c.t.Add(d) }

// marks is an in-process Marker with the MarkOnce contract (the session
// package's implementations are tested against real stores).
type marks struct {
	mu   sync.Mutex
	seen map[string]time.Duration
	err  error
}

func (m *marks) MarkOnce(_ context.Context, key string, ttl time.Duration) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.err != nil {
		return false, m.err
	}
	if m.seen == nil {
		m.seen = map[string]time.Duration{}
	}
	if _, ok := m.seen[key]; ok {
		return false, nil
	}
	m.seen[key] = ttl
	return true, nil
}

func newTestKeeper(t testing.TB, clk *clock, m Marker, secret string) *Keeper {
	t.Helper()
	k, err := New(Config{Secret: []byte(secret), Marker: m, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func testAttempt(returnTo string) authflow.Attempt {
	return authflow.Attempt{
		Nonce:        "n0nce-0123456789abcdefghijklmnopqrstuvwxyzABCDEF",
		CodeVerifier: "verifier-0123456789abcdefghijklmnopqrstuvwxyzABCDEF",
		ReturnTo:     returnTo,
	}
}

func randomHandle(t testing.TB) handle {
	h, err := newHandle(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestSealOpenRoundTrip(t *testing.T) {
	clk := &clock{t: time.Date(2026, 12, 6, 22, 0, 0, 0, time.UTC)}
	k := newTestKeeper(t, clk, &marks{}, testSecret)
	h := randomHandle(t)
	for _, rt := range []string{"", "/", "/settings?tab=a#x", "/" + strings.Repeat("é", 400), "/" + strings.Repeat("a", MaxReturnTo-1)} {
		a := testAttempt(rt)
		state, err := k.seal.seal(h, a)
		if err != nil {
			t.Fatalf("seal %d bytes: %v", len(rt), err)
		}
		o, err := k.seal.open(state, []handle{randomHandle(t), h})
		if err != nil {
			t.Fatalf("open %d bytes: %v", len(rt), err)
		}
		got := o.attempt
		if got.Nonce != a.Nonce || got.CodeVerifier != a.CodeVerifier || got.ReturnTo != rt || got.State != state ||
			!got.CreatedAt.Equal(clk.Now()) || o.handle != h {
			t.Errorf("round trip of %q: %+v", rt, got)
		}
		if strings.Contains(state, "n0nce") || strings.Contains(state, "verifier") {
			t.Error("the state shows its content")
		}
	}
	// Two seals of the same attempt differ (random AEAD nonce).
	s1, _ := k.seal.seal(h, testAttempt("/"))
	s2, _ := k.seal.seal(h, testAttempt("/"))
	if s1 == s2 {
		t.Error("two states of the same attempt are equal")
	}
}

func TestStateLengthBound(t *testing.T) {
	clk := &clock{t: time.Now()}
	k := newTestKeeper(t, clk, &marks{}, testSecret)
	h := randomHandle(t)
	long := authflow.Attempt{Nonce: strings.Repeat("n", maxSecretField), CodeVerifier: strings.Repeat("v", maxSecretField),
		ReturnTo: "/" + strings.Repeat("r", MaxReturnTo-1)}
	state, err := k.seal.seal(h, long)
	if err != nil {
		t.Fatal(err)
	}
	if len(state) > MaxStateLength {
		t.Errorf("largest state is %d characters, bound %d", len(state), MaxStateLength)
	}
	if _, err := k.seal.open(state, []handle{h}); err != nil {
		t.Errorf("largest state does not open: %v", err)
	}
	// What the BFF really seals (43-character nonce and verifier) with
	// the longest returnTo stays well under 3 KB.
	a := testAttempt("/" + strings.Repeat("r", MaxReturnTo-1))
	if state, _ = k.seal.seal(h, a); len(state) > 3000 {
		t.Errorf("state with the longest returnTo is %d characters", len(state))
	}
	t.Logf("state: %d characters for returnTo=/, %d for the longest returnTo; MaxStateLength %d",
		len(must(k.seal.seal(h, testAttempt("/")))), len(state), MaxStateLength)

	for _, bad := range []authflow.Attempt{
		{Nonce: "n", CodeVerifier: "v", ReturnTo: "/" + strings.Repeat("r", MaxReturnTo)},
		{Nonce: strings.Repeat("n", maxSecretField+1), CodeVerifier: "v"},
		{Nonce: "n", CodeVerifier: ""},
		{Nonce: "", CodeVerifier: "v"},
	} {
		if _, err := k.seal.seal(h, bad); err == nil {
			t.Errorf("sealed an attempt out of bounds (nonce %d, verifier %d, returnTo %d bytes)", len(bad.Nonce), len(bad.CodeVerifier), len(bad.ReturnTo))
		}
	}
	// A state longer than the bound is refused before any work.
	if _, err := k.seal.open(strings.Repeat("A", MaxStateLength+1), []handle{h}); !errors.Is(err, ErrInvalidState) {
		t.Errorf("an overlong state: %v", err)
	}
}

func must(s string, err error) string {
	if err != nil {
		panic(err)
	}
	return s
}

func TestTamperEveryByte(t *testing.T) {
	clk := &clock{t: time.Now()}
	k := newTestKeeper(t, clk, &marks{}, testSecret)
	h := randomHandle(t)
	state, err := k.seal.seal(h, testAttempt("/x"))
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := base64.RawURLEncoding.DecodeString(state)
	for i := range raw {
		for _, flip := range []byte{0x01, 0x80, 0xff} {
			b := bytes.Clone(raw)
			b[i] ^= flip
			if _, err := k.seal.open(base64.RawURLEncoding.EncodeToString(b), []handle{h}); !errors.Is(err, ErrInvalidState) {
				t.Fatalf("byte %d ^ %#x opened: %v", i, flip, err)
			}
		}
	}
	// Every truncation and every extension.
	for n := range len(raw) {
		if _, err := k.seal.open(base64.RawURLEncoding.EncodeToString(raw[:n]), []handle{h}); !errors.Is(err, ErrInvalidState) {
			t.Fatalf("truncated to %d bytes opened", n)
		}
	}
	if _, err := k.seal.open(base64.RawURLEncoding.EncodeToString(append(bytes.Clone(raw), 0)), []handle{h}); !errors.Is(err, ErrInvalidState) {
		t.Fatal("extended state opened")
	}
	// Another spelling of the same bytes (padding, standard alphabet,
	// non-canonical trailing bits) is refused, so one state has one digest.
	for _, alt := range []string{
		base64.URLEncoding.EncodeToString(raw),
		base64.StdEncoding.EncodeToString(raw),
		state + "=",
		" " + state,
		nonCanonical(state),
	} {
		if alt == state {
			continue
		}
		if _, err := k.seal.open(alt, []handle{h}); !errors.Is(err, ErrInvalidState) {
			t.Errorf("another spelling %q opened", alt)
		}
	}
}

// nonCanonical changes the unused trailing bits of a base64url string
// whose length leaves some (the decoded bytes stay the same for a
// lenient decoder).
func nonCanonical(s string) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	if len(s)%4 == 0 {
		return s
	}
	last := strings.IndexByte(alphabet, s[len(s)-1])
	return s[:len(s)-1] + string(alphabet[last^1])
}

func TestWrongKeyOtherHandleExpiry(t *testing.T) {
	clk := &clock{t: time.Date(2026, 12, 6, 22, 0, 0, 0, time.UTC)}
	k := newTestKeeper(t, clk, &marks{}, testSecret)
	other := newTestKeeper(t, clk, &marks{}, testSecret+"-other")
	h := randomHandle(t)
	state, _ := k.seal.seal(h, testAttempt("/"))

	if _, err := other.seal.open(state, []handle{h}); !errors.Is(err, ErrInvalidState) {
		t.Error("opened under another secret")
	}
	if _, err := k.seal.open(state, []handle{randomHandle(t), randomHandle(t)}); !errors.Is(err, ErrInvalidState) {
		t.Error("opened with other handles")
	}
	if _, err := k.seal.open(state, nil); !errors.Is(err, ErrInvalidState) {
		t.Error("opened without handles")
	}
	clk.Advance(DefaultTTL - time.Millisecond)
	if _, err := k.seal.open(state, []handle{h}); err != nil {
		t.Errorf("refused just before expiry: %v", err)
	}
	clk.Advance(time.Millisecond)
	if _, err := k.seal.open(state, []handle{h}); !errors.Is(err, ErrInvalidState) {
		t.Error("opened at expiry")
	}
	// A state from the future (beyond the tolerated skew) is refused.
	future, _ := k.seal.seal(h, authflow.Attempt{Nonce: "n", CodeVerifier: "v", CreatedAt: clk.Now().Add(2 * maxSkew)})
	if _, err := k.seal.open(future, []handle{h}); !errors.Is(err, ErrInvalidState) {
		t.Error("opened a state created in the future")
	}
}

// browser is a cookie header carried between requests.
type browser struct{ cookies []*http.Cookie }

func (b *browser) request(target string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, target, nil)
	for _, c := range b.cookies {
		r.AddCookie(c)
	}
	return r
}

// keep applies a response's Set-Cookie headers like a browser.
func (b *browser) keep(t testing.TB, w *httptest.ResponseRecorder) {
	t.Helper()
	for _, c := range w.Result().Cookies() {
		b.cookies = slicesDeleteName(b.cookies, c.Name)
		if c.MaxAge >= 0 && c.Value != "" {
			b.cookies = append(b.cookies, c)
		}
	}
}

func slicesDeleteName(cs []*http.Cookie, name string) []*http.Cookie {
	out := cs[:0]
	for _, c := range cs {
		if c.Name != name {
			out = append(out, c)
		}
	}
	return out
}

func (b *browser) begin(t testing.TB, k *Keeper, returnTo string) string {
	t.Helper()
	w := httptest.NewRecorder()
	a, err := k.Begin(w, b.request("/auth/sign-in"), testAttempt(returnTo))
	if err != nil {
		t.Fatal(err)
	}
	b.keep(t, w)
	return a.State
}

// finish opens and consumes state; it returns the attempt or the error
// and the response's Set-Cookie headers.
func (b *browser) finish(t testing.TB, k *Keeper, state string) (*authflow.Attempt, []string, error) {
	t.Helper()
	r := b.request("/auth/callback")
	w := httptest.NewRecorder()
	p, err := k.Open(r, state)
	if err == nil {
		err = k.Consume(context.Background(), w, r, p)
	}
	b.keep(t, w)
	if err != nil {
		return nil, w.Header().Values("Set-Cookie"), err
	}
	return &p.Attempt, w.Header().Values("Set-Cookie"), nil
}

func TestFiveTabsAnyOrderAndTheSixthDropsTheOldest(t *testing.T) {
	clk := &clock{t: time.Now()}
	m := &marks{}
	k := newTestKeeper(t, clk, m, testSecret)
	b := &browser{}
	states := make([]string, 6)
	for i := range states {
		states[i] = b.begin(t, k, "/tab"+string(rune('0'+i)))
		if c := b.cookies[0]; len(c.Name)+len(c.Value) > 200 {
			t.Errorf("binding cookie is %d bytes", len(c.Name)+len(c.Value))
		}
	}
	// The sixth dropped the first.
	if _, set, err := b.finish(t, k, states[0]); !errors.Is(err, ErrInvalidState) || len(set) != 0 {
		t.Errorf("the oldest of six: %v, Set-Cookie %v", err, set)
	}
	for _, i := range []int{3, 1, 5, 2, 4} {
		a, _, err := b.finish(t, k, states[i])
		if err != nil || a.ReturnTo != "/tab"+string(rune('0'+i)) {
			t.Fatalf("tab %d: %v %+v", i, err, a)
		}
	}
	if len(b.cookies) != 0 {
		t.Errorf("binding cookie left after every tab finished: %v", b.cookies)
	}
	if len(m.seen) != 5 {
		t.Errorf("%d marks, want 5", len(m.seen))
	}
}

func TestConsumeIsSingleUseAndWritesNothingOnRefusal(t *testing.T) {
	clk := &clock{t: time.Now()}
	m := &marks{}
	k := newTestKeeper(t, clk, m, testSecret)
	b := &browser{}
	s1 := b.begin(t, k, "/one")
	s2 := b.begin(t, k, "/two")
	before := append([]*http.Cookie(nil), b.cookies...)

	// Another browser (no cookie, or its own) cannot open it, and nothing
	// is written for it.
	attacker := &browser{}
	attacker.begin(t, k, "/evil")
	if _, set, err := attacker.finish(t, k, s1); !errors.Is(err, ErrInvalidState) || len(set) != 0 {
		t.Errorf("other browser: %v, Set-Cookie %v", err, set)
	}
	if _, set, err := (&browser{}).finish(t, k, s1); !errors.Is(err, ErrInvalidState) || len(set) != 0 {
		t.Errorf("no cookie: %v, Set-Cookie %v", err, set)
	}
	if len(m.seen) != 0 {
		t.Fatalf("a refused state was marked: %d marks", len(m.seen))
	}

	_, set, err := b.finish(t, k, s1)
	if err != nil {
		t.Fatal(err)
	}
	if len(set) != 1 || len(b.cookies) != 1 || b.cookies[0].Value == before[0].Value {
		t.Fatalf("binding cookie not rewritten: %v", set)
	}
	for _, ttl := range m.seen {
		if ttl < DefaultTTL || ttl > DefaultTTL+maxSkew {
			t.Errorf("mark ttl %v, want the state's remaining validity plus skew", ttl)
		}
	}
	// Replayed with the cookie as it is now, and with the value from
	// before sign-in: refused, nothing written.
	if _, set, err := b.finish(t, k, s1); !errors.Is(err, ErrInvalidState) || len(set) != 0 {
		t.Errorf("replay: %v, Set-Cookie %v", err, set)
	}
	old := &browser{cookies: before}
	if _, set, err := old.finish(t, k, s1); !errors.Is(err, ErrInvalidState) || len(set) != 0 {
		t.Errorf("replay with the pre-sign-in cookie: %v, Set-Cookie %v", err, set)
	}
	// The other tab still finishes; then the cookie is deleted.
	if _, set, err := b.finish(t, k, s2); err != nil || len(set) != 1 || !strings.Contains(set[0], "Max-Age=0") {
		t.Errorf("second tab: %v, Set-Cookie %v", err, set)
	}

	// The store failing: the error is the Marker's, nothing consumed.
	boom := errors.New("store down")
	m.err = boom
	s3 := b.begin(t, k, "/three")
	if _, _, err := b.finish(t, k, s3); !errors.Is(err, boom) {
		t.Errorf("store down: %v", err)
	}
	m.err = nil
	if _, _, err := b.finish(t, k, s3); err != nil {
		t.Errorf("after the store recovered: %v", err)
	}
}

func TestBindingCookie(t *testing.T) {
	clk := &clock{t: time.Now()}
	secure, err := New(Config{Secret: []byte(testSecret), Marker: &marks{}, Secure: true, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	w := httptest.NewRecorder()
	if _, err := secure.Begin(w, httptest.NewRequest(http.MethodGet, "/auth/sign-in", nil), testAttempt("/")); err != nil {
		t.Fatal(err)
	}
	c := w.Result().Cookies()[0]
	if c.Name != "__Host-bff-signin" || !c.Secure || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Path != "/" ||
		c.Domain != "" || c.MaxAge != int(DefaultTTL/time.Second) {
		t.Errorf("binding cookie %+v", c)
	}
	// Malformed cookies count as none: a new list starts.
	k := newTestKeeper(t, clk, &marks{}, testSecret)
	for _, v := range []string{"", "x", "%%%", strings.Repeat("A", 10000), base64.RawURLEncoding.EncodeToString(make([]byte, handleSize+1))} {
		b := &browser{cookies: []*http.Cookie{{Name: "bff-signin", Value: v}}}
		if hs := k.handles(b.request("/")); len(hs) != 0 {
			t.Errorf("cookie %.20q gave %d handles", v, len(hs))
		}
		s := b.begin(t, k, "/")
		if _, _, err := b.finish(t, k, s); err != nil {
			t.Errorf("after cookie %.20q: %v", v, err)
		}
	}
}

func TestNewValidatesConfig(t *testing.T) {
	for _, cfg := range []Config{
		{Secret: []byte("short"), Marker: &marks{}},
		{Secret: []byte(testSecret)},
		{Secret: []byte(testSecret), Marker: &marks{}, TTL: -time.Second},
		{Secret: []byte(testSecret), Marker: &marks{}, TTL: time.Millisecond},
		{Secret: []byte(testSecret), Marker: &marks{}, MaxPending: maxPendingLimit + 1},
	} {
		if _, err := New(cfg); err == nil {
			t.Errorf("New accepted %+v", cfg)
		}
	}
}

func FuzzOpenState(f *testing.F) {
	clk := &clock{t: time.Date(2026, 12, 6, 22, 0, 0, 0, time.UTC)}
	k := newTestKeeper(f, clk, &marks{}, testSecret)
	var h handle
	copy(h[:], "fuzz-handle-0123")
	good, _ := k.seal.seal(h, testAttempt("/x"))
	for _, seed := range []string{good, good[:len(good)-1], "", "A", strings.Repeat("A", 200), "AQ", good + "A"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, state string) {
		// The payload parser never panics on any bytes (it only ever sees
		// authenticated ones).
		decodePayload([]byte(state))
		o, err := k.seal.open(state, []handle{h})
		if err != nil {
			if !errors.Is(err, ErrInvalidState) {
				t.Fatalf("error %v is not ErrInvalidState", err)
			}
			return
		}
		// Whatever opens was sealed by us: the AEAD admits no forgery.
		if o.attempt.Nonce != testAttempt("").Nonce || o.attempt.State != state {
			t.Fatalf("opened %q to %+v", state, o.attempt)
		}
	})
}

// The contract (api/openapi.yaml) states the callback's state bound.
func TestContractStatesTheBound(t *testing.T) {
	spec, err := os.ReadFile("../../../api/openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(spec), "\n") {
		if strings.Contains(line, "name: state, in: query") {
			if want := fmt.Sprintf("maxLength: %d", MaxStateLength); !strings.Contains(line, want) {
				t.Errorf("api/openapi.yaml's callback state parameter does not say %s: %s", want, line)
			}
			return
		}
	}
	t.Error("api/openapi.yaml has no callback state parameter")
}

// Authentic ciphertexts whose payload is malformed (only a holder of the
// key could make them) are refused all the same.
func TestMalformedPayloadRefused(t *testing.T) {
	clk := &clock{t: time.Now()}
	k := newTestKeeper(t, clk, &marks{}, testSecret)
	h := randomHandle(t)
	good := func() []byte {
		p := binary.BigEndian.AppendUint64(nil, uint64(clk.Now().UnixMilli()))
		p = append(p, 1, 'n', 1, 'v')
		return binary.BigEndian.AppendUint16(p, 1)
	}
	sealRaw := func(payload []byte) string {
		out := make([]byte, 1+chacha20poly1305.NonceSizeX)
		out[0] = version
		_, _ = rand.Read(out[1:])
		out = k.seal.aead.Seal(out, out[1:], payload, additionalData(h))
		return base64.RawURLEncoding.EncodeToString(out)
	}
	if _, err := k.seal.open(sealRaw(append(good(), '/')), []handle{h}); err != nil {
		t.Fatalf("the well-formed payload: %v", err)
	}
	for name, p := range map[string][]byte{
		"empty":            {},
		"short":            good()[:5],
		"trailing byte":    append(good(), '/', 'x'),
		"missing returnTo": good(),
		"empty nonce":      append(append(binary.BigEndian.AppendUint64(nil, uint64(clk.Now().UnixMilli())), 0, 1, 'v'), 0, 0),
		"empty verifier":   append(append(binary.BigEndian.AppendUint64(nil, uint64(clk.Now().UnixMilli())), 1, 'n', 0), 0, 0),
		"long returnTo": append(binary.BigEndian.AppendUint16(append(binary.BigEndian.AppendUint64(nil, uint64(clk.Now().UnixMilli())), 1, 'n', 1, 'v'),
			MaxReturnTo+1), bytes.Repeat([]byte{'/'}, MaxReturnTo+1)...),
	} {
		if _, err := k.seal.open(sealRaw(p), []handle{h}); !errors.Is(err, ErrInvalidState) {
			t.Errorf("%s payload opened: %v", name, err)
		}
	}
}

// BenchmarkSealOpen is one sign-in's state work: seal at /auth/sign-in,
// open at the callback (five handles in the cookie, the match the
// oldest: the worst case).
func BenchmarkSealOpen(b *testing.B) {
	clk := &clock{t: time.Now()}
	k := newTestKeeper(b, clk, &marks{}, testSecret)
	hs := []handle{randomHandle(b), randomHandle(b), randomHandle(b), randomHandle(b), randomHandle(b)}
	a := testAttempt("/settings/profile")
	b.ReportAllocs()
	for b.Loop() {
		state, err := k.seal.seal(hs[0], a)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := k.seal.open(state, hs); err != nil {
			b.Fatal(err)
		}
	}
}

// Begin stamps the attempt with its own clock, the one Open judges by.
func TestBeginStampsItsOwnClock(t *testing.T) {
	clk := &clock{t: time.Date(2026, 12, 6, 22, 0, 0, 0, time.UTC)}
	k := newTestKeeper(t, clk, &marks{}, testSecret)
	b := &browser{}
	a := testAttempt("/")
	a.CreatedAt = clk.Now().Add(-time.Hour) // another component's clock
	w := httptest.NewRecorder()
	begun, err := k.Begin(w, b.request("/auth/sign-in"), a)
	if err != nil {
		t.Fatal(err)
	}
	b.keep(t, w)
	if !begun.CreatedAt.Equal(clk.Now()) {
		t.Errorf("CreatedAt = %v, want the Keeper's now %v", begun.CreatedAt, clk.Now())
	}
	if got, _, err := b.finish(t, k, begun.State); err != nil || !got.CreatedAt.Equal(clk.Now()) {
		t.Errorf("finish: %v %+v", err, got)
	}
}
