// Package storetest is the conformance suite of the store contract: every
// implementation of store.Store runs Run, and passes it, before anything is
// built on it.
//
// Run needs a fresh or shared store per call of open; it writes only keys
// under a random prefix per subtest, so one Redis server (or cluster) can
// serve every subtest and other tests at once. Expiry is tested with short
// real TTLs (about 100 ms) and polling, so the suite takes a few seconds.
package storetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/logto-bff/bff/backend/internal/store"
)

// expiryDeadline bounds how long the suite waits for a short TTL to pass
// (the TTL itself is ~100 ms; the rest is slack for a loaded machine and for
// Redis's lazy expiry, which removes a key at the first access after it).
const expiryDeadline = 5 * time.Second

// Run runs every clause of the contract against the stores open returns.
// open is called once per subtest; it may return the same store or a new
// one, and must arrange for it to be closed (t.Cleanup). The subtest "Close"
// closes the store it gets itself, so open must return a store of its own
// for that subtest to be meaningful; a second Close must not panic.
func Run(t *testing.T, open func(t testing.TB) store.Store) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"GetAbsent", testGetAbsent},
		{"SetGetRoundTrip", testSetGetRoundTrip},
		{"SetOverwrites", testSetOverwrites},
		{"EmptyValueIsNotAbsent", testEmptyValue},
		{"LargeValue", testLargeValue},
		{"ReturnedValueIsACopy", testReturnedValueIsACopy},
		{"TTLExpires", testTTLExpires},
		{"TTLNotEarly", testTTLNotEarly},
		{"SubMillisecondTTLRoundsUp", testSubMillisecondTTL},
		{"CASOnlyIfAbsent", testCASOnlyIfAbsent},
		{"CASMatchingOld", testCASMatchingOld},
		{"CASNonMatchingOld", testCASNonMatchingOld},
		{"CASAfterExpiry", testCASAfterExpiry},
		{"CASResetsTTL", testCASResetsTTL},
		{"CASExtendsTTL", testCASExtendsTTL},
		{"CADAny", testCADAny},
		{"CADMatchingOld", testCADMatchingOld},
		{"CASConcurrentOneWinner", testCASConcurrentOneWinner},
		{"CASCreateConcurrentOneWinner", testCASCreateConcurrentOneWinner},
		{"CADConcurrentOneWinner", testCADConcurrentOneWinner},
		{"LeaseLockMutualExclusion", testLeaseLock},
		{"CancelledContext", testCancelledContext},
		{"Ping", testPing},
		{"Close", testClose},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(t, open(t))
		})
	}
}

// Key returns a key no other test uses: a random prefix, then name. Tests
// of implementations can use it for their own keys.
func Key(t testing.TB, name string) string {
	t.Helper()
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	return "storetest:" + hex.EncodeToString(b[:]) + ":" + name
}

func ctx(t testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return c
}

// MustGet is Get that fails the test on error.
func MustGet(t testing.TB, s store.Store, key string) []byte {
	t.Helper()
	v, err := s.Get(ctx(t), key)
	if err != nil {
		t.Fatalf("Get(%q): %v", key, err)
	}
	return v
}

// MustSet is Set that fails the test on error.
func MustSet(t testing.TB, s store.Store, key string, value []byte, ttl time.Duration) {
	t.Helper()
	if err := s.Set(ctx(t), key, value, ttl); err != nil {
		t.Fatalf("Set(%q): %v", key, err)
	}
}

func mustCAS(t testing.TB, s store.Store, key string, old, value []byte, ttl time.Duration) bool {
	t.Helper()
	ok, err := s.CompareAndSwap(ctx(t), key, old, value, ttl)
	if err != nil {
		t.Fatalf("CompareAndSwap(%q): %v", key, err)
	}
	return ok
}

func mustCAD(t testing.TB, s store.Store, key string, old []byte) bool {
	t.Helper()
	ok, err := s.CompareAndDelete(ctx(t), key, old)
	if err != nil {
		t.Fatalf("CompareAndDelete(%q): %v", key, err)
	}
	return ok
}

func wantValue(t testing.TB, s store.Store, key string, want []byte) {
	t.Helper()
	got := MustGet(t, s, key)
	if want == nil {
		if got != nil {
			t.Fatalf("Get(%q) = %q, want absent (nil)", key, got)
		}
		return
	}
	if got == nil || !bytes.Equal(got, want) {
		t.Fatalf("Get(%q) = %s, want %s", key, show(got), show(want))
	}
}

func show(v []byte) string {
	if v == nil {
		return "nil"
	}
	if len(v) > 40 {
		return fmt.Sprintf("%d bytes %q...", len(v), v[:40])
	}
	return fmt.Sprintf("%q", v)
}

// waitAbsent polls until key is absent, failing after expiryDeadline.
func waitAbsent(t testing.TB, s store.Store, key string) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		if MustGet(t, s, key) == nil {
			return time.Since(start)
		}
		if time.Since(start) > expiryDeadline {
			t.Fatalf("key %q still present %v after its TTL", key, expiryDeadline)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func testGetAbsent(t *testing.T, s store.Store) {
	wantValue(t, s, Key(t, "never-set"), nil)
	if mustCAD(t, s, Key(t, "never-set"), nil) {
		t.Fatal("CompareAndDelete(absent, nil) = true, want false")
	}
	if mustCAD(t, s, Key(t, "never-set"), []byte("x")) {
		t.Fatal("CompareAndDelete(absent, x) = true, want false")
	}
}

func testSetGetRoundTrip(t *testing.T, s store.Store) {
	binary := make([]byte, 256)
	for i := range binary {
		binary[i] = byte(i)
	}
	for name, v := range map[string][]byte{
		"text":        []byte("hello"),
		"binary":      binary,
		"nul":         {0},
		"invalid-utf": {0xff, 0xfe, 0x00, '\r', '\n', '$'},
		"resp-like":   []byte("*1\r\n$4\r\nPING\r\n"),
	} {
		k := Key(t, name)
		MustSet(t, s, k, v, time.Minute)
		wantValue(t, s, k, v)
	}
}

func testSetOverwrites(t *testing.T, s store.Store) {
	k := Key(t, "k")
	MustSet(t, s, k, []byte("one"), time.Minute)
	MustSet(t, s, k, []byte("two"), time.Minute)
	wantValue(t, s, k, []byte("two"))
	// Set over a short TTL gives the new one.
	MustSet(t, s, k, []byte("three"), 100*time.Millisecond)
	waitAbsent(t, s, k)
}

func testEmptyValue(t *testing.T, s store.Store) {
	k := Key(t, "empty")
	MustSet(t, s, k, []byte{}, time.Minute)
	got := MustGet(t, s, k)
	if got == nil || len(got) != 0 {
		t.Fatalf("Get(empty value) = %s, want a non-nil empty slice (present, not absent)", show(got))
	}
	// A nil value stores the empty value too.
	k2 := Key(t, "nil")
	MustSet(t, s, k2, nil, time.Minute)
	if got := MustGet(t, s, k2); got == nil || len(got) != 0 {
		t.Fatalf("Get(after Set nil) = %s, want a non-nil empty slice", show(got))
	}
	// An empty old value matches an empty value, and not an absent key.
	if !mustCAS(t, s, k, []byte{}, []byte("x"), time.Minute) {
		t.Fatal("CompareAndSwap(old=empty) on an empty value = false, want true")
	}
	if mustCAS(t, s, Key(t, "absent"), []byte{}, []byte("x"), time.Minute) {
		t.Fatal("CompareAndSwap(old=empty) on an absent key = true, want false")
	}
	// old == nil does not match an empty value: the key is present.
	MustSet(t, s, k, []byte{}, time.Minute)
	if mustCAS(t, s, k, nil, []byte("x"), time.Minute) {
		t.Fatal("CompareAndSwap(old=nil) on an empty value = true, want false (the key is present)")
	}
	if !mustCAD(t, s, k, []byte{}) {
		t.Fatal("CompareAndDelete(old=empty) on an empty value = false, want true")
	}
	wantValue(t, s, k, nil)
}

func testLargeValue(t *testing.T, s store.Store) {
	v := make([]byte, 256<<10)
	if _, err := rand.Read(v); err != nil {
		t.Fatal(err)
	}
	k := Key(t, "large")
	MustSet(t, s, k, v, time.Minute)
	wantValue(t, s, k, v)
	v2 := append(bytes.Clone(v[:len(v)-1]), v[len(v)-1]^1)
	if mustCAS(t, s, k, v2, []byte("x"), time.Minute) {
		t.Fatal("CompareAndSwap with a large old value differing in its last byte = true, want false")
	}
	if !mustCAS(t, s, k, v, v2, time.Minute) {
		t.Fatal("CompareAndSwap with the large old value = false, want true")
	}
	wantValue(t, s, k, v2)
	if !mustCAD(t, s, k, v2) {
		t.Fatal("CompareAndDelete with the large value = false, want true")
	}
}

func testReturnedValueIsACopy(t *testing.T, s store.Store) {
	k := Key(t, "copy")
	in := []byte("value")
	MustSet(t, s, k, in, time.Minute)
	in[0] = 'X'
	got := MustGet(t, s, k)
	if string(got) != "value" {
		t.Fatalf("after changing the slice passed to Set, Get = %q, want \"value\"", got)
	}
	got[0] = 'Y'
	wantValue(t, s, k, []byte("value"))
}

func testTTLExpires(t *testing.T, s store.Store) {
	k := Key(t, "short")
	MustSet(t, s, k, []byte("v"), 100*time.Millisecond)
	waitAbsent(t, s, k)
	// Once expired it is absent for every operation.
	if mustCAD(t, s, k, nil) {
		t.Fatal("CompareAndDelete on an expired key = true, want false")
	}
}

func testTTLNotEarly(t *testing.T, s store.Store) {
	k := Key(t, "long")
	start := time.Now()
	MustSet(t, s, k, []byte("v"), 2*time.Second)
	got := MustGet(t, s, k)
	if elapsed := time.Since(start); elapsed < time.Second && got == nil {
		t.Fatalf("a key with a 2 s TTL was absent %v after Set", elapsed)
	}
}

func testSubMillisecondTTL(t *testing.T, s store.Store) {
	for name, ttl := range map[string]time.Duration{"1ns": time.Nanosecond, "zero": 0, "negative": -time.Second} {
		k := Key(t, name)
		// Not an error, and not "forever": rounded up to 1 ms.
		MustSet(t, s, k, []byte("v"), ttl)
		waitAbsent(t, s, k)
		if !mustCAS(t, s, k, nil, []byte("v"), ttl) {
			t.Fatalf("CompareAndSwap(absent) with TTL %v = false", ttl)
		}
		waitAbsent(t, s, k)
	}
}

func testCASOnlyIfAbsent(t *testing.T, s store.Store) {
	k := Key(t, "k")
	if !mustCAS(t, s, k, nil, []byte("first"), time.Minute) {
		t.Fatal("CompareAndSwap(absent, old=nil) = false, want true")
	}
	wantValue(t, s, k, []byte("first"))
	if mustCAS(t, s, k, nil, []byte("second"), time.Minute) {
		t.Fatal("CompareAndSwap(present, old=nil) = true, want false")
	}
	wantValue(t, s, k, []byte("first"))
}

func testCASMatchingOld(t *testing.T, s store.Store) {
	k := Key(t, "k")
	MustSet(t, s, k, []byte("v1"), time.Minute)
	if !mustCAS(t, s, k, []byte("v1"), []byte("v2"), time.Minute) {
		t.Fatal("CompareAndSwap(v1→v2) = false, want true")
	}
	wantValue(t, s, k, []byte("v2"))
	// The same swap again no longer matches.
	if mustCAS(t, s, k, []byte("v1"), []byte("v3"), time.Minute) {
		t.Fatal("second CompareAndSwap(v1→v3) = true, want false")
	}
	wantValue(t, s, k, []byte("v2"))
}

func testCASNonMatchingOld(t *testing.T, s store.Store) {
	k := Key(t, "k")
	MustSet(t, s, k, []byte("value"), time.Minute)
	for _, old := range [][]byte{[]byte("valu"), []byte("value "), []byte("VALUE"), []byte("other")} {
		if mustCAS(t, s, k, old, []byte("x"), time.Minute) {
			t.Fatalf("CompareAndSwap(old=%q) on %q = true, want false", old, "value")
		}
	}
	wantValue(t, s, k, []byte("value"))
	// A non-nil old value never matches an absent key.
	k2 := Key(t, "absent")
	if mustCAS(t, s, k2, []byte("value"), []byte("x"), time.Minute) {
		t.Fatal("CompareAndSwap(old=value) on an absent key = true, want false")
	}
	wantValue(t, s, k2, nil)
}

func testCASAfterExpiry(t *testing.T, s store.Store) {
	k := Key(t, "k")
	MustSet(t, s, k, []byte("old"), 100*time.Millisecond)
	waitAbsent(t, s, k)
	if mustCAS(t, s, k, []byte("old"), []byte("x"), time.Minute) {
		t.Fatal("CompareAndSwap with the expired value as old = true, want false")
	}
	if !mustCAS(t, s, k, nil, []byte("new"), time.Minute) {
		t.Fatal("CompareAndSwap(old=nil) after expiry = false, want true")
	}
	wantValue(t, s, k, []byte("new"))
}

func testCASResetsTTL(t *testing.T, s store.Store) {
	// A long TTL replaced by a short one: the value expires.
	k := Key(t, "k")
	MustSet(t, s, k, []byte("v1"), time.Hour)
	if !mustCAS(t, s, k, []byte("v1"), []byte("v2"), 100*time.Millisecond) {
		t.Fatal("CompareAndSwap = false, want true")
	}
	waitAbsent(t, s, k)
	// A failed swap leaves the TTL alone.
	k2 := Key(t, "k2")
	MustSet(t, s, k2, []byte("v1"), 100*time.Millisecond)
	if mustCAS(t, s, k2, []byte("other"), []byte("v2"), time.Hour) {
		t.Fatal("CompareAndSwap(non-matching) = true, want false")
	}
	waitAbsent(t, s, k2)
}

func testCASExtendsTTL(t *testing.T, s store.Store) {
	k := Key(t, "k")
	MustSet(t, s, k, []byte("v1"), 150*time.Millisecond)
	if !mustCAS(t, s, k, []byte("v1"), []byte("v2"), time.Hour) {
		// On a very slow machine the 150 ms may have passed already.
		t.Skip("the short TTL passed before the swap; machine too slow for this check")
	}
	// Deliberately wait past the first TTL: the new one must hold.
	time.Sleep(400 * time.Millisecond)
	wantValue(t, s, k, []byte("v2"))
}

func testCADAny(t *testing.T, s store.Store) {
	k := Key(t, "k")
	MustSet(t, s, k, []byte("v"), time.Minute)
	if !mustCAD(t, s, k, nil) {
		t.Fatal("CompareAndDelete(old=nil) on a present key = false, want true")
	}
	wantValue(t, s, k, nil)
	if mustCAD(t, s, k, nil) {
		t.Fatal("CompareAndDelete(old=nil) on a deleted key = true, want false")
	}
}

func testCADMatchingOld(t *testing.T, s store.Store) {
	k := Key(t, "k")
	MustSet(t, s, k, []byte("v"), time.Minute)
	if mustCAD(t, s, k, []byte("w")) {
		t.Fatal("CompareAndDelete(old=w) on v = true, want false")
	}
	wantValue(t, s, k, []byte("v"))
	if !mustCAD(t, s, k, []byte("v")) {
		t.Fatal("CompareAndDelete(old=v) on v = false, want true")
	}
	wantValue(t, s, k, nil)
}

const contenders = 32

// race runs fn in contenders goroutines released at once and counts the
// true results.
func race(t *testing.T, fn func(i int) (bool, error)) int {
	t.Helper()
	var (
		wg    sync.WaitGroup
		start = make(chan struct{})
		wins  atomic.Int32
		errs  = make(chan error, contenders)
	)
	for i := range contenders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			ok, err := fn(i)
			if err != nil {
				errs <- err
				return
			}
			if ok {
				wins.Add(1)
			}
		}()
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("concurrent call: %v", err)
	}
	return int(wins.Load())
}

func testCASConcurrentOneWinner(t *testing.T, s store.Store) {
	for round := range 5 {
		k := Key(t, fmt.Sprintf("round%d", round))
		MustSet(t, s, k, []byte("old"), time.Minute)
		c := ctx(t)
		wins := race(t, func(i int) (bool, error) {
			return s.CompareAndSwap(c, k, []byte("old"), fmt.Appendf(nil, "new-%d", i), time.Minute)
		})
		if wins != 1 {
			t.Fatalf("round %d: %d of %d concurrent CompareAndSwap calls on the same old value won, want exactly 1", round, wins, contenders)
		}
	}
}

func testCASCreateConcurrentOneWinner(t *testing.T, s store.Store) {
	k := Key(t, "k")
	c := ctx(t)
	var winner atomic.Int32
	wins := race(t, func(i int) (bool, error) {
		ok, err := s.CompareAndSwap(c, k, nil, fmt.Appendf(nil, "v-%d", i), time.Minute)
		if ok {
			winner.Store(int32(i))
		}
		return ok, err
	})
	if wins != 1 {
		t.Fatalf("%d of %d concurrent only-if-absent CompareAndSwap calls won, want exactly 1", wins, contenders)
	}
	wantValue(t, s, k, fmt.Appendf(nil, "v-%d", winner.Load()))
}

func testCADConcurrentOneWinner(t *testing.T, s store.Store) {
	for _, old := range [][]byte{nil, []byte("v")} {
		k := Key(t, "k")
		MustSet(t, s, k, []byte("v"), time.Minute)
		c := ctx(t)
		wins := race(t, func(int) (bool, error) { return s.CompareAndDelete(c, k, old) })
		if wins != 1 {
			t.Fatalf("old=%s: %d of %d concurrent CompareAndDelete calls reported a delete, want exactly 1", show(old), wins, contenders)
		}
	}
}

// testLeaseLock builds the lease lock the session layer uses — acquire with
// CompareAndSwap(key, nil, token), release with CompareAndDelete(key, token)
// — and checks that no two holders are ever inside at once, and that a
// holder's release cannot free someone else's lease.
func testLeaseLock(t *testing.T, s store.Store) {
	k := Key(t, "lock")
	c := ctx(t)
	const workers, rounds = 8, 10
	var (
		inside, maxInside, entries atomic.Int32
		wg                         sync.WaitGroup
		errs                       = make(chan error, workers)
	)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := range rounds {
				token := fmt.Appendf(nil, "holder-%d-%d", w, r)
				for {
					ok, err := s.CompareAndSwap(c, k, nil, token, 10*time.Second)
					if err != nil {
						errs <- err
						return
					}
					if ok {
						break
					}
					time.Sleep(time.Millisecond)
				}
				n := inside.Add(1)
				for {
					m := maxInside.Load()
					if n <= m || maxInside.CompareAndSwap(m, n) {
						break
					}
				}
				entries.Add(1)
				// A release with someone else's token must not free the lease.
				if ok, err := s.CompareAndDelete(c, k, []byte("not-my-token")); err != nil || ok {
					errs <- fmt.Errorf("CompareAndDelete with a foreign token = %v, %v; want false, nil", ok, err)
					return
				}
				time.Sleep(100 * time.Microsecond)
				inside.Add(-1)
				ok, err := s.CompareAndDelete(c, k, token)
				if err != nil || !ok {
					errs <- fmt.Errorf("release of a held lease = %v, %v; want true, nil", ok, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if maxInside.Load() != 1 || entries.Load() != workers*rounds {
		t.Fatalf("lease lock: at most %d holders at once (want 1), %d entries (want %d)", maxInside.Load(), entries.Load(), workers*rounds)
	}
	wantValue(t, s, k, nil)
}

func testCancelledContext(t *testing.T, s store.Store) {
	k := Key(t, "k")
	MustSet(t, s, k, []byte("v"), time.Minute)
	c, cancel := context.WithCancel(context.Background())
	cancel()
	if v, err := s.Get(c, k); err == nil {
		t.Fatalf("Get with a cancelled context = %s, nil; want an error", show(v))
	}
	if err := s.Set(c, k, []byte("w"), time.Minute); err == nil {
		t.Fatal("Set with a cancelled context = nil, want an error")
	}
	if ok, err := s.CompareAndSwap(c, k, []byte("v"), []byte("w"), time.Minute); err == nil {
		t.Fatalf("CompareAndSwap with a cancelled context = %v, nil; want an error", ok)
	}
	if ok, err := s.CompareAndDelete(c, k, nil); err == nil {
		t.Fatalf("CompareAndDelete with a cancelled context = %v, nil; want an error", ok)
	}
	if err := s.Ping(c); err == nil {
		t.Fatal("Ping with a cancelled context = nil, want an error")
	}
	// Nothing was changed by the refused calls.
	wantValue(t, s, k, []byte("v"))
}

func testPing(t *testing.T, s store.Store) {
	if err := s.Ping(ctx(t)); err != nil {
		t.Fatalf("Ping: %v", err)
	}
}

func testClose(t *testing.T, s store.Store) {
	k := Key(t, "k")
	MustSet(t, s, k, []byte("v"), time.Minute)
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	c := ctx(t)
	if v, err := s.Get(c, k); err == nil {
		t.Fatalf("Get after Close = %s, nil; want an error", show(v))
	}
	if err := s.Set(c, k, []byte("w"), time.Minute); err == nil {
		t.Fatal("Set after Close = nil, want an error")
	}
	if _, err := s.CompareAndSwap(c, k, nil, []byte("w"), time.Minute); err == nil {
		t.Fatal("CompareAndSwap after Close = nil error, want an error")
	}
	if _, err := s.CompareAndDelete(c, k, nil); err == nil {
		t.Fatal("CompareAndDelete after Close = nil error, want an error")
	}
	if err := s.Ping(c); err == nil {
		t.Fatal("Ping after Close = nil, want an error")
	}
	_ = s.Close() // a second Close must not panic
}
