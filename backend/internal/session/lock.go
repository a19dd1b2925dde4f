package session

import (
	"context"
	"crypto/rand"
	mrand "math/rand/v2"
	"sync"
	"time"
)

const (
	// MinLockTTL is the shortest lease Lock accepts; shorter ttls are
	// raised to it.
	MinLockTTL     = 100 * time.Millisecond
	lockPollMin    = 5 * time.Millisecond
	lockPollMax    = 100 * time.Millisecond
	unlockTimeout  = 2 * time.Second
	defaultLockTTL = 30 * time.Second
)

// Lock gives mutual exclusion on key — within this process (a per-key
// mutex) and across every Manager sharing the store (a lease: a random
// token stored only-if-absent with the lease as TTL, renewed by a
// compare-and-swap of the token onto itself, released by a
// compare-and-delete of the token). It blocks until it holds both, polling the
// store with a small growing backoff, or until ctx ends (then ctx.Err()).
// While held, the lease is renewed every ttl/3, so a holder running longer
// than ttl keeps it; if the process dies the lease ends after ttl. unlock
// releases both (the store lease only if still ours) and may be called more
// than once. ErrUnavailable: the store failed.
//
// Refresh uses it as: Lock(ctx, s.LockKey(), …), Reload, refresh if still
// needed, Save, unlock.
func (m *Manager) Lock(ctx context.Context, key string, ttl time.Duration) (unlock func(), err error) {
	if ttl <= 0 {
		ttl = defaultLockTTL
	}
	ttl = max(ttl, MinLockTTL)
	releaseLocal, err := m.locks.lock(ctx, key)
	if err != nil {
		return nil, err
	}
	storeKey := hashedKey(lockPrefix, key)
	token := []byte(rand.Text())

	wait := lockPollMin
	for {
		ok, err := m.st.CompareAndSwap(ctx, storeKey, nil, token, ttl)
		if err != nil {
			releaseLocal()
			if ctxErr := ctx.Err(); ctxErr != nil {
				return nil, ctxErr
			}
			return nil, unavailable(err)
		}
		if ok {
			break
		}
		t := time.NewTimer(wait/2 + mrand.N(wait/2+1))
		select {
		case <-ctx.Done():
			t.Stop()
			releaseLocal()
			return nil, ctx.Err()
		case <-t.C:
		}
		wait = min(wait*2, lockPollMax)
	}

	stop := make(chan struct{})
	done := make(chan struct{})
	go m.renewLease(storeKey, token, ttl, stop, done)

	var once sync.Once
	return func() {
		once.Do(func() {
			close(stop)
			<-done
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), unlockTimeout)
			defer cancel()
			if _, err := m.st.CompareAndDelete(rctx, storeKey, token); err != nil {
				// The lease ends by itself after ttl.
				m.cfg.Logger.WarnContext(rctx, "session: release lock failed", "error", err)
			}
			releaseLocal()
		})
	}, nil
}

// renewLease extends the lease every ttl/3 until stop is closed.
func (m *Manager) renewLease(key string, token []byte, ttl time.Duration, stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	tick := time.NewTicker(ttl / 3)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return
		case <-tick.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), ttl/3)
		ok, err := m.st.CompareAndSwap(ctx, key, token, token, ttl)
		cancel()
		switch {
		case err != nil:
			m.cfg.Logger.Warn("session: renew lock lease failed", "error", err)
		case !ok:
			m.cfg.Logger.Error("session: lock lease lost while held")
			return
		}
	}
}

// keyedMutex is a set of mutexes created on demand, one per key, that can
// be waited for with a context. Entries are removed when unused.
type keyedMutex struct {
	mu sync.Mutex
	m  map[string]*keyedEntry
}

type keyedEntry struct {
	ch   chan struct{} // holds a token while locked
	refs int
}

func (k *keyedMutex) lock(ctx context.Context, key string) (func(), error) {
	k.mu.Lock()
	if k.m == nil {
		k.m = make(map[string]*keyedEntry)
	}
	e := k.m[key]
	if e == nil {
		e = &keyedEntry{ch: make(chan struct{}, 1)}
		k.m[key] = e
	}
	e.refs++
	k.mu.Unlock()

	select {
	case e.ch <- struct{}{}:
	case <-ctx.Done():
		k.unref(key, e)
		return nil, ctx.Err()
	}
	return func() {
		<-e.ch
		k.unref(key, e)
	}, nil
}

func (k *keyedMutex) unref(key string, e *keyedEntry) {
	k.mu.Lock()
	e.refs--
	if e.refs == 0 {
		delete(k.m, key)
	}
	k.mu.Unlock()
}
