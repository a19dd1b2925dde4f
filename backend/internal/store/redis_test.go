package store_test

import (
	"bytes"
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/logto-bff/bff/backend/internal/redistest"
	"github.com/logto-bff/bff/backend/internal/store"
	"github.com/logto-bff/bff/backend/internal/store/storetest"
)

func openRedis(t testing.TB, url string) *store.Redis {
	t.Helper()
	r, err := store.OpenRedis(url, store.RedisOptions{OpTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func bg(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestRedisConformance(t *testing.T) {
	srv := redistest.Start(t)
	storetest.Run(t, func(t testing.TB) store.Store { return openRedis(t, srv.URL()) })
}

// Every operation touches exactly the key it was given, as a plain string:
// other keys (and so other slots) are never read or written.
func TestRedisKeysArePlainStrings(t *testing.T) {
	srv := redistest.Start(t)
	r := openRedis(t, srv.URL())
	ctx := bg(t)
	if err := r.Set(ctx, "bff:s:abc", []byte("v"), time.Minute); err != nil {
		t.Fatal(err)
	}
	if ok, err := r.CompareAndSwap(ctx, "bff:s:abc", []byte("v"), []byte("w"), 90*time.Second); err != nil || !ok {
		t.Fatal(ok, err)
	}
	keys, err := redistest.Do(srv.Addr(), "KEYS", "*")
	if err != nil {
		t.Fatal(err)
	}
	if ks, _ := keys.([]any); len(ks) != 1 || ks[0] != "bff:s:abc" {
		t.Fatalf("keys after Set+CAS = %v, want only bff:s:abc", keys)
	}
	typ, _ := redistest.DoString(srv.Addr(), "TYPE", "bff:s:abc")
	pttl, _ := redistest.Do(srv.Addr(), "PTTL", "bff:s:abc")
	if ms, _ := pttl.(int64); typ != "string" || ms <= 80_000 || ms > 90_000 {
		t.Fatalf("TYPE = %q, PTTL = %v; want string, ~90 s", typ, pttl)
	}
}

func TestRedisDownAtStartIsNotAnError(t *testing.T) {
	srv := redistest.Start(t)
	srv.Stop()
	r, err := store.OpenRedis(srv.URL(), store.RedisOptions{OpTimeout: 500 * time.Millisecond})
	if err != nil {
		t.Fatalf("OpenRedis with Redis down: %v", err)
	}
	defer r.Close()
	ctx := bg(t)
	if err := r.Ping(ctx); err == nil {
		t.Fatal("Ping with Redis down = nil")
	}
	if v, err := r.Get(ctx, "k"); err == nil {
		t.Fatalf("Get with Redis down = %q, nil; want an error", v)
	}
	if ok, err := r.CompareAndSwap(ctx, "k", nil, []byte("v"), time.Minute); err == nil {
		t.Fatalf("CompareAndSwap with Redis down = %v, nil; want an error", ok)
	}
	srv.Start()
	waitUp(t, r)
	if ok, err := r.CompareAndSwap(ctx, "k", nil, []byte("v"), time.Minute); err != nil || !ok {
		t.Fatalf("CompareAndSwap once Redis is up = %v, %v", ok, err)
	}
	// Down again after the client was built, then back.
	srv.Stop()
	start := time.Now()
	if _, err := r.Get(ctx, "k"); err == nil {
		t.Fatal("Get after Redis stopped = nil error")
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("Get with Redis down took %v, want it bounded by OpTimeout", d)
	}
	srv.Start()
	waitUp(t, r)
	if err := r.Set(ctx, "k", []byte("w"), time.Minute); err != nil {
		t.Fatalf("Set after restart: %v", err)
	}
}

func waitUp(t testing.TB, r store.Store) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := r.Ping(bg(t))
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("store did not come back: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// After CLIENT KILL of every connection the very next operation of each
// kind works: a dropped connection is not an outage.
func TestRedisSurvivesClientKill(t *testing.T) {
	srv := redistest.Start(t)
	r := openRedis(t, srv.URL())
	ctx := bg(t)
	if err := r.Set(ctx, "k", []byte("v0"), time.Minute); err != nil {
		t.Fatal(err)
	}
	ops := []struct {
		name string
		fn   func() error
	}{
		{"Get", func() error {
			v, err := r.Get(ctx, "k")
			if err == nil && string(v) != "v0" {
				return errors.New("wrong value " + string(v))
			}
			return err
		}},
		{"Set", func() error { return r.Set(ctx, "k2", []byte("x"), time.Minute) }},
		{"CAS", func() error {
			ok, err := r.CompareAndSwap(ctx, "k", []byte("v0"), []byte("v1"), time.Minute)
			if err == nil && !ok {
				return errors.New("swap not applied")
			}
			return err
		}},
		{"CAS back", func() error {
			ok, err := r.CompareAndSwap(ctx, "k", []byte("v1"), []byte("v0"), time.Minute)
			if err == nil && !ok {
				return errors.New("swap not applied")
			}
			return err
		}},
		{"CAD", func() error {
			ok, err := r.CompareAndDelete(ctx, "k2", []byte("x"))
			if err == nil && !ok {
				return errors.New("delete not applied")
			}
			return err
		}},
		{"Ping", func() error { return r.Ping(ctx) }},
	}
	for round := range 3 {
		for _, op := range ops {
			if n := srv.KillClients(); n == 0 && round == 0 && op.name == "Get" {
				t.Fatal("CLIENT KILL closed no connection: the store holds none?")
			}
			if err := op.fn(); err != nil {
				t.Fatalf("round %d: %s right after CLIENT KILL: %v", round, op.name, err)
			}
		}
	}
}

func TestRedisSurvivesRestart(t *testing.T) {
	srv := redistest.Start(t, redistest.WithPersistence())
	r := openRedis(t, srv.URL())
	ctx := bg(t)
	if err := r.Set(ctx, "k", []byte("v"), time.Minute); err != nil {
		t.Fatal(err)
	}
	srv.Restart()
	// The first call after the restart is on a dead connection.
	if ok, err := r.CompareAndDelete(ctx, "k", []byte("v")); err != nil || !ok {
		t.Fatalf("CompareAndDelete right after a restart = %v, %v; want true, nil", ok, err)
	}
}

func TestRedisLegacySetMembers(t *testing.T) {
	srv := redistest.Start(t)
	r := openRedis(t, srv.URL())
	ctx := bg(t)
	if _, err := redistest.Do(srv.Addr(), "SADD", "bff:i:sid:S1", "sess-a", "sess-b"); err != nil {
		t.Fatal(err)
	}
	got, err := r.LegacySetMembers(ctx, "bff:i:sid:S1")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || !(got[0] == "sess-a" && got[1] == "sess-b" || got[0] == "sess-b" && got[1] == "sess-a") {
		t.Fatalf("LegacySetMembers = %v, want sess-a and sess-b", got)
	}
	if got, err := r.LegacySetMembers(ctx, "bff:i:sub:none"); err != nil || got != nil {
		t.Fatalf("LegacySetMembers(absent) = %v, %v; want nil, nil", got, err)
	}
	if err := r.Set(ctx, "str", []byte("v"), time.Minute); err != nil {
		t.Fatal(err)
	}
	if _, err := r.LegacySetMembers(ctx, "str"); err == nil {
		t.Fatal("LegacySetMembers on a string key = nil error")
	}
	// A CompareAndDelete(nil) removes an old SET key too (DEL).
	if ok, err := r.CompareAndDelete(ctx, "bff:i:sid:S1", nil); err != nil || !ok {
		t.Fatalf("CompareAndDelete(nil) on a legacy SET = %v, %v", ok, err)
	}
}

func TestRedisErrorsNeverShowThePassword(t *testing.T) {
	srv := redistest.Start(t, redistest.WithArgs("--requirepass", "right-password"))
	r, err := store.OpenRedis("redis://:WRONG-pw-value@"+srv.Addr()+"/0", store.RedisOptions{OpTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	err = r.Ping(bg(t))
	if err == nil {
		t.Fatal("Ping with a wrong password = nil")
	}
	if strings.Contains(err.Error(), "WRONG-pw-value") || strings.Contains(r.URL(), "WRONG-pw-value") {
		t.Fatalf("error or URL shows the password: %v / %s", err, r.URL())
	}
	good := openRedis(t, "redis://:right-password@"+srv.Addr()+"/0")
	if err := good.Ping(bg(t)); err != nil {
		t.Fatalf("Ping with the right password: %v", err)
	}
}

// lossyProxy forwards TCP between the store and Redis, and can lose the
// one request, or the one reply, of the command that carries a marker —
// closing the connection as a crash or a kill would — to provoke a write
// whose outcome the client cannot see.
type lossyProxy struct {
	ln     net.Listener
	target string

	mu            sync.Mutex
	dropRequestOf []byte // lose the request that contains this
	dropReplyOf   []byte // forward the request that contains this, lose its reply
}

func startLossyProxy(t *testing.T, target string) *lossyProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &lossyProxy{ln: ln, target: target}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go p.serve(c)
		}
	}()
	return p
}

func (p *lossyProxy) take(field *[]byte, buf []byte) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if *field != nil && bytes.Contains(buf, *field) {
		*field = nil
		return true
	}
	return false
}

func (p *lossyProxy) serve(client net.Conn) {
	server, err := net.Dial("tcp", p.target)
	if err != nil {
		client.Close()
		return
	}
	closeBoth := func() { client.Close(); server.Close() }
	armed := make(chan struct{})
	var armOnce sync.Once
	go func() {
		buf := make([]byte, 64<<10)
		for {
			n, err := client.Read(buf)
			if err != nil {
				closeBoth()
				return
			}
			if p.take(&p.dropRequestOf, buf[:n]) {
				closeBoth()
				return
			}
			if p.take(&p.dropReplyOf, buf[:n]) {
				armOnce.Do(func() { close(armed) })
			}
			if _, err := server.Write(buf[:n]); err != nil {
				closeBoth()
				return
			}
		}
	}()
	buf := make([]byte, 64<<10)
	for {
		n, err := server.Read(buf)
		if err != nil {
			closeBoth()
			return
		}
		select {
		case <-armed:
			closeBoth() // the reply is lost with the connection
			return
		default:
		}
		if _, err := client.Write(buf[:n]); err != nil {
			closeBoth()
			return
		}
	}
}

func (p *lossyProxy) loseRequest(marker string) {
	p.mu.Lock()
	p.dropRequestOf = []byte(marker)
	p.mu.Unlock()
}

func (p *lossyProxy) loseReply(marker string) {
	p.mu.Lock()
	p.dropReplyOf = []byte(marker)
	p.mu.Unlock()
}

// A CAS or CAD whose request was lost is retried and reports the truth; one
// whose reply was lost after Redis applied it is never reported as
// "condition not met" (which a blind retry would): it is ErrUnknownOutcome.
func TestRedisLostRequestAndLostReply(t *testing.T) {
	srv := redistest.Start(t)
	p := startLossyProxy(t, srv.Addr())
	r := openRedis(t, "redis://"+p.ln.Addr().String()+"/0")
	ctx := bg(t)
	value := func(k string) string {
		v, err := redistest.Do(srv.Addr(), "GET", k)
		if err != nil {
			t.Fatal(err)
		}
		s, _ := v.(string)
		return s
	}
	// Load the scripts so that the marked command is the script run itself.
	if _, err := r.CompareAndSwap(ctx, "warm", nil, []byte("x"), time.Minute); err != nil {
		t.Fatal(err)
	}
	if _, err := r.CompareAndDelete(ctx, "warm", []byte("x")); err != nil {
		t.Fatal(err)
	}

	// Lost request: not applied, retried, true.
	if err := r.Set(ctx, "k", []byte("old-1"), time.Minute); err != nil {
		t.Fatal(err)
	}
	p.loseRequest("new-1")
	if ok, err := r.CompareAndSwap(ctx, "k", []byte("old-1"), []byte("new-1"), time.Minute); err != nil || !ok {
		t.Fatalf("CAS with its request lost = %v, %v; want true, nil", ok, err)
	}
	if got := value("k"); got != "new-1" {
		t.Fatalf("after CAS with a lost request, k = %q, want new-1", got)
	}

	// Lost reply: applied; the store must not say "not applied".
	p.loseReply("new-2")
	ok, err := r.CompareAndSwap(ctx, "k", []byte("new-1"), []byte("new-2"), time.Minute)
	if !errors.Is(err, store.ErrUnknownOutcome) {
		t.Fatalf("CAS with its reply lost = %v, %v; want ErrUnknownOutcome", ok, err)
	}
	if got := value("k"); got != "new-2" {
		t.Fatalf("after CAS with a lost reply, k = %q, want new-2 (applied once)", got)
	}

	// Only-if-absent with a lost reply.
	p.loseReply("mark-3")
	if ok, err := r.CompareAndSwap(ctx, "mark", nil, []byte("mark-3"), time.Minute); !errors.Is(err, store.ErrUnknownOutcome) {
		t.Fatalf("CAS(nil) with its reply lost = %v, %v; want ErrUnknownOutcome", ok, err)
	}
	// And a second caller sees the mark: exactly one was applied.
	if ok, err := r.CompareAndSwap(ctx, "mark", nil, []byte("mark-3"), time.Minute); err != nil || ok {
		t.Fatalf("second CAS(nil) = %v, %v; want false, nil", ok, err)
	}

	// CAD: lost request → retried → true; lost reply → ErrUnknownOutcome.
	p.loseRequest("new-2")
	if ok, err := r.CompareAndDelete(ctx, "k", []byte("new-2")); err != nil || !ok {
		t.Fatalf("CAD with its request lost = %v, %v; want true, nil", ok, err)
	}
	if err := r.Set(ctx, "k", []byte("gone-4"), time.Minute); err != nil {
		t.Fatal(err)
	}
	p.loseReply("gone-4")
	if ok, err := r.CompareAndDelete(ctx, "k", []byte("gone-4")); !errors.Is(err, store.ErrUnknownOutcome) {
		t.Fatalf("CAD with its reply lost = %v, %v; want ErrUnknownOutcome", ok, err)
	}
	if got := value("k"); got != "" {
		t.Fatalf("after CAD with a lost reply, k = %q, want deleted", got)
	}

	// Set and Get are retried: a lost reply costs nothing.
	p.loseReply("set-5")
	if err := r.Set(ctx, "k", []byte("set-5"), time.Minute); err != nil {
		t.Fatalf("Set with its reply lost: %v", err)
	}
	p.loseRequest("k")
	if v, err := r.Get(ctx, "k"); err != nil || string(v) != "set-5" {
		t.Fatalf("Get with its request lost = %q, %v", v, err)
	}
}
