package store

import (
	"errors"
	"time"
)

// ErrClosed is returned by every operation on a store after Close.
var ErrClosed = errors.New("store: closed")

// ErrFull is returned by a write to a Memory store that would take it past
// its MaxBytes bound, once expired entries have been evicted. The write
// changes nothing; callers treat it as "store unavailable".
var ErrFull = errors.New("store: memory store is full")

// MinTTL is the shortest TTL a store keeps a value for: shorter TTLs,
// including zero and negative ones, are rounded up to it (a value is never
// kept forever by mistake).
const MinTTL = time.Millisecond

// roundTTL rounds ttl up to a whole number of milliseconds, at least MinTTL.
func roundTTL(ttl time.Duration) time.Duration {
	if ttl < MinTTL {
		return MinTTL
	}
	if r := ttl % time.Millisecond; r != 0 {
		ttl += time.Millisecond - r
	}
	return ttl
}

// ErrUnknownOutcome is wrapped by the error of a CompareAndSwap or
// CompareAndDelete whose connection failed with the command in flight when
// the store, reading the key back, cannot tell whether it was applied: the
// key no longer holds the old value, which this call or another one may
// have changed. A caller whose new value is unique to it (a random lease
// token, a record with a fresh nonce) may treat it as applied when Get
// returns that value; a caller of a single-use mark must treat it as
// "store unavailable", never as success.
var ErrUnknownOutcome = errors.New("store: outcome unknown")
