package session

import (
	"context"
	"errors"
	"maps"
	"net/http"
	"sync"
	"time"

	"github.com/gin-contrib/sessions"
	"github.com/gorilla/securecookie"
	gsessions "github.com/gorilla/sessions"
)

// memBackend keeps everything in maps under one mutex, with expiry checked
// against the injected clock on every access and a janitor that evicts
// expired entries, so memory stays bounded by what is live.
type memBackend struct {
	now func() time.Time
	// maxAttempts bounds pending sign-in attempts across all browsers:
	// anyone can begin one, so without a bound a flood of sign-in requests
	// would grow memory until AttemptTTL passes.
	maxAttempts int

	mu       sync.Mutex
	closed   bool
	sessions map[string]memValue
	sets     map[string]*memSet
	attempts map[string]memValue
	lists    map[string]*memList // binding → pending states, oldest first
	marks    map[string]time.Time
	locks    map[string]memLock

	st   *memStore
	stop chan struct{}
	done chan struct{}
}

type memValue struct {
	data []byte
	exp  time.Time
}

type memSet struct {
	ids map[string]struct{}
	exp time.Time
}

type memList struct {
	states []string
	exp    time.Time
}

type memLock struct {
	token string
	exp   time.Time
}

var (
	errClosed          = errors.New("session: store closed")
	errTooManyAttempts = errors.New("session: too many pending sign-in attempts")
)

// defaultMemMaxAttempts is memBackend.maxAttempts (≈ 300 bytes each).
const defaultMemMaxAttempts = 100_000

// newMemBackend starts a janitor sweeping every interval (0: no janitor).
func newMemBackend(now func() time.Time, codecs []securecookie.Codec, interval time.Duration) *memBackend {
	b := &memBackend{
		now:         now,
		maxAttempts: defaultMemMaxAttempts,
		sessions:    make(map[string]memValue),
		sets:        make(map[string]*memSet),
		attempts:    make(map[string]memValue),
		lists:       make(map[string]*memList),
		marks:       make(map[string]time.Time),
		locks:       make(map[string]memLock),
		stop:        make(chan struct{}),
		done:        make(chan struct{}),
	}
	b.st = &memStore{b: b, codecs: codecs, options: &gsessions.Options{Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode}}
	if interval > 0 {
		go b.janitor(interval)
	} else {
		close(b.done)
	}
	return b
}

func (b *memBackend) janitor(interval time.Duration) {
	defer close(b.done)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-b.stop:
			return
		case <-t.C:
			b.sweep()
		}
	}
}

// sweep evicts every expired entry and index entries of gone sessions.
func (b *memBackend) sweep() {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now()
	maps.DeleteFunc(b.sessions, func(_ string, v memValue) bool { return !now.Before(v.exp) })
	maps.DeleteFunc(b.attempts, func(_ string, v memValue) bool { return !now.Before(v.exp) })
	for k, v := range b.sets {
		// Sessions that expired by TTL leave their ids behind; drop them.
		for id := range v.ids {
			if _, ok := b.sessions[id]; !ok {
				delete(v.ids, id)
			}
		}
		if len(v.ids) == 0 || !now.Before(v.exp) {
			delete(b.sets, k)
		}
	}
	maps.DeleteFunc(b.lists, func(_ string, v *memList) bool { return !now.Before(v.exp) })
	maps.DeleteFunc(b.marks, func(_ string, exp time.Time) bool { return !now.Before(exp) })
	maps.DeleteFunc(b.locks, func(_ string, v memLock) bool { return !now.Before(v.exp) })
}

// size is the number of entries held (for tests of the janitor).
func (b *memBackend) size() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.sessions) + len(b.attempts) + len(b.sets) + len(b.lists) + len(b.marks) + len(b.locks)
}

func (b *memBackend) store(context.Context) (sessions.Store, error) { return b.st, nil }

func (b *memBackend) ping(context.Context) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return errClosed
	}
	return nil
}

func (b *memBackend) close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	b.mu.Unlock()
	close(b.stop)
	<-b.done
	return nil
}
