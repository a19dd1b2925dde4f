// Package store is the BFF's storage contract: a handful of primitives on
// byte values with a TTL, which every higher-level job (sessions, the
// back-channel logout indexes, replay marks, single-use sign-in states,
// refresh locks) is written once above, in package session. Two
// implementations satisfy it — memory (one replica) and Redis through
// github.com/redis/rueidis (one node, Sentinel or Cluster) — and one
// conformance suite (package storetest) runs against every implementation.
//
// The contract, for every implementation:
//   - Keys are opaque strings chosen by the caller; a key names one value.
//     No operation touches more than one key, so nothing needs a
//     cross-slot operation on a Redis Cluster.
//   - A value is absent once its TTL has passed; Get then returns nil. TTLs
//     are at least one millisecond; implementations round up (zero and
//     negative TTLs too: nothing is ever stored without an expiry).
//   - An empty value is a value: Get returns a non-nil empty slice for it,
//     never nil, and Set with a nil value stores the empty value. So nil
//     always means "absent" — as Get's result and as the old argument of
//     CompareAndSwap/CompareAndDelete — while []byte{} means "the empty
//     value".
//   - "Not found" and "condition not met" are results (nil, false), never
//     errors. An error means the store could not be reached or failed; the
//     operation may or may not have been applied only where its doc says
//     so, and callers report it as "store unavailable", never as a
//     sign-out.
//   - Compare-and-swap and compare-and-delete are atomic: of two concurrent
//     callers presenting the same old value, at most one succeeds.
package store

import (
	"context"
	"time"
)

// Store is the storage contract. Implementations are safe for concurrent
// use.
type Store interface {
	// Get returns the value at key, or nil when there is none (absent or
	// expired).
	Get(ctx context.Context, key string) ([]byte, error)
	// Set stores value at key for ttl, whatever the key held.
	Set(ctx context.Context, key string, value []byte, ttl time.Duration) error
	// CompareAndSwap stores value at key for ttl only if the key holds
	// exactly old; old == nil means "only if the key is absent". It reports
	// whether it stored. An error wrapping ErrUnknownOutcome means the
	// swap may have been applied (its connection failed with it in
	// flight); any other error means it was not.
	CompareAndSwap(ctx context.Context, key string, old, value []byte, ttl time.Duration) (bool, error)
	// CompareAndDelete deletes key only if it holds exactly old; old == nil
	// deletes whatever it holds. It reports whether a value was deleted.
	// An error wrapping ErrUnknownOutcome means the key may have been
	// deleted by this call or another; any other error means it was not.
	CompareAndDelete(ctx context.Context, key string, old []byte) (bool, error)
	// Ping reports whether the store answers now.
	Ping(ctx context.Context) error
	// Close releases the store's connections or background work.
	Close() error
}
