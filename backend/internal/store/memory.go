package store

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"time"
)

// DefaultMemoryMaxBytes is the MaxBytes a Memory store gets when its options
// leave it zero.
const DefaultMemoryMaxBytes = 64 << 20

// DefaultJanitorInterval is how often a Memory store evicts expired entries
// when its options leave JanitorInterval zero.
const DefaultJanitorInterval = time.Minute

// entryOverhead is what one entry is counted for beyond its key and value
// bytes: the map slot, the entry struct and the slice header, roughly.
const entryOverhead = 64

// fullSweepEvery bounds how often a write to a full store sweeps the whole
// map for expired entries, so a store full of live entries does not turn
// every refused write into a scan.
const fullSweepEvery = time.Second

// MemoryOptions configures NewMemory. The zero value is usable.
type MemoryOptions struct {
	// MaxBytes bounds the store's size: the sum over live entries of key
	// length + value length + a fixed per-entry overhead (64 bytes). A
	// write that would exceed it — after expired entries are evicted —
	// fails with ErrFull and changes nothing. Zero means
	// DefaultMemoryMaxBytes.
	MaxBytes int64
	// JanitorInterval is how often a background goroutine evicts expired
	// entries, so memory stays bounded by what is live even for keys that
	// are never read again. Zero means DefaultJanitorInterval; a negative
	// value disables the janitor (expired entries are then evicted only
	// when touched or when the store is full).
	JanitorInterval time.Duration
	// Now is the clock expiry is judged by; nil means time.Now. Tests
	// inject a fake clock to test expiry without sleeping.
	Now func() time.Time
}

// Memory is the in-process Store for a single replica: a map under one
// mutex. Values are copied in and out, so callers may reuse their slices.
type Memory struct {
	maxBytes int64
	now      func() time.Time

	mu        sync.Mutex
	entries   map[string]memEntry
	size      int64
	lastSweep time.Time
	closed    bool

	stop chan struct{}
	done chan struct{}
}

type memEntry struct {
	value   []byte
	expires time.Time
}

func (e memEntry) live(now time.Time) bool { return now.Before(e.expires) }

func entrySize(key string, value []byte) int64 {
	return int64(len(key)) + int64(len(value)) + entryOverhead
}

var _ Store = (*Memory)(nil)

// NewMemory returns a Memory store and starts its janitor; Close stops it.
func NewMemory(opts MemoryOptions) *Memory {
	m := &Memory{
		maxBytes: opts.MaxBytes,
		now:      opts.Now,
		entries:  make(map[string]memEntry),
		stop:     make(chan struct{}),
		done:     make(chan struct{}),
	}
	if m.maxBytes <= 0 {
		m.maxBytes = DefaultMemoryMaxBytes
	}
	if m.now == nil {
		m.now = time.Now
	}
	interval := opts.JanitorInterval
	if interval == 0 {
		interval = DefaultJanitorInterval
	}
	if interval < 0 {
		close(m.done)
		return m
	}
	go m.janitor(interval)
	return m
}

func (m *Memory) janitor(interval time.Duration) {
	defer close(m.done)
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-m.stop:
			return
		case <-tick.C:
			m.mu.Lock()
			m.sweepLocked(m.now())
			m.mu.Unlock()
		}
	}
}

// sweepLocked evicts every expired entry.
func (m *Memory) sweepLocked(now time.Time) {
	m.lastSweep = now
	for k, e := range m.entries {
		if !e.live(now) {
			m.deleteLocked(k, e)
		}
	}
}

func (m *Memory) deleteLocked(key string, e memEntry) {
	delete(m.entries, key)
	m.size -= entrySize(key, e.value)
}

// lookupLocked returns the live entry at key, evicting an expired one.
func (m *Memory) lookupLocked(key string, now time.Time) (memEntry, bool) {
	e, ok := m.entries[key]
	if !ok {
		return memEntry{}, false
	}
	if !e.live(now) {
		m.deleteLocked(key, e)
		return memEntry{}, false
	}
	return e, true
}

// begin checks the context and the closed flag and locks the store.
func (m *Memory) begin(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return ErrClosed
	}
	return nil
}

// Get returns a copy of the value at key, or nil when there is none.
func (m *Memory) Get(ctx context.Context, key string) ([]byte, error) {
	if err := m.begin(ctx); err != nil {
		return nil, err
	}
	defer m.mu.Unlock()
	e, ok := m.lookupLocked(key, m.now())
	if !ok {
		return nil, nil
	}
	return append([]byte{}, e.value...), nil
}

// Set stores a copy of value at key for ttl (rounded up to MinTTL). It
// fails with ErrFull, changing nothing, when the store would exceed
// MaxBytes.
func (m *Memory) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	if err := m.begin(ctx); err != nil {
		return err
	}
	defer m.mu.Unlock()
	return m.putLocked(key, value, ttl, m.now())
}

func (m *Memory) putLocked(key string, value []byte, ttl time.Duration, now time.Time) error {
	var oldSize int64
	if e, ok := m.entries[key]; ok {
		oldSize = entrySize(key, e.value)
	}
	newSize := entrySize(key, value)
	if m.size-oldSize+newSize > m.maxBytes {
		if now.Sub(m.lastSweep) >= fullSweepEvery || now.Before(m.lastSweep) {
			m.sweepLocked(now)
			oldSize = 0
			if e, ok := m.entries[key]; ok {
				oldSize = entrySize(key, e.value)
			}
		}
		if m.size-oldSize+newSize > m.maxBytes {
			return fmt.Errorf("%w (%d of %d bytes in use, the write needs %d)", ErrFull, m.size, m.maxBytes, newSize)
		}
	}
	m.size += newSize - oldSize
	m.entries[key] = memEntry{value: append([]byte{}, value...), expires: now.Add(roundTTL(ttl))}
	return nil
}

// CompareAndSwap stores value at key for ttl only if the key holds exactly
// old (old == nil: only if absent). It may fail with ErrFull, as Set.
func (m *Memory) CompareAndSwap(ctx context.Context, key string, old, value []byte, ttl time.Duration) (bool, error) {
	if err := m.begin(ctx); err != nil {
		return false, err
	}
	defer m.mu.Unlock()
	now := m.now()
	e, ok := m.lookupLocked(key, now)
	if old == nil && ok || old != nil && (!ok || !bytes.Equal(e.value, old)) {
		return false, nil
	}
	if err := m.putLocked(key, value, ttl, now); err != nil {
		return false, err
	}
	return true, nil
}

// CompareAndDelete deletes key only if it holds exactly old (old == nil:
// whatever it holds).
func (m *Memory) CompareAndDelete(ctx context.Context, key string, old []byte) (bool, error) {
	if err := m.begin(ctx); err != nil {
		return false, err
	}
	defer m.mu.Unlock()
	e, ok := m.lookupLocked(key, m.now())
	if !ok || old != nil && !bytes.Equal(e.value, old) {
		return false, nil
	}
	m.deleteLocked(key, e)
	return true, nil
}

// Ping reports nil while the store is open.
func (m *Memory) Ping(ctx context.Context) error {
	if err := m.begin(ctx); err != nil {
		return err
	}
	m.mu.Unlock()
	return nil
}

// Close stops the janitor and drops every entry; later operations fail
// with ErrClosed. Closing twice is harmless.
func (m *Memory) Close() error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil
	}
	m.closed = true
	m.entries = nil
	m.size = 0
	m.mu.Unlock()
	close(m.stop)
	<-m.done
	return nil
}

// Len is the number of entries held, expired ones not yet evicted included.
func (m *Memory) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.entries)
}

// Bytes is the size counted against MaxBytes, expired entries not yet
// evicted included.
func (m *Memory) Bytes() int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.size
}
