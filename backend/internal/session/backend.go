package session

import (
	"context"
	"time"

	"github.com/gin-contrib/sessions"
)

// recordKey is the one key of a gorilla session's Values: the Record's JSON.
const recordKey = "record"

// backend is what the Manager needs from a store: the gin-contrib
// sessions.Store for loading by cookie, creating and deleting sessions, and
// the operations that interface cannot express. memBackend and redisBackend
// implement the same semantics; one test suite runs against both.
//
// Errors returned by a backend are store failures (the Manager reports
// them as ErrUnavailable); "not found" is a false/nil result, never an
// error.
type backend interface {
	// store returns the gin-contrib store. Its New/Save see the same
	// sessions as get/replace/touch/del.
	store(ctx context.Context) (sessions.Store, error)

	// get returns a session's stored bytes, or nil if absent.
	get(ctx context.Context, id string) ([]byte, error)
	// replace overwrites an existing session with TTL ttl; false if the
	// session does not exist (it is never created).
	replace(ctx context.Context, id string, data []byte, ttl time.Duration) (bool, error)
	// touch overwrites a session with TTL ttl only if it still holds old;
	// false otherwise.
	touch(ctx context.Context, id string, old, data []byte, ttl time.Duration) (bool, error)
	// del deletes sessions and returns how many existed.
	del(ctx context.Context, ids ...string) (int, error)

	// index adds id to each index set and extends each set's TTL to at
	// least ttl.
	index(ctx context.Context, id string, keys []string, ttl time.Duration) error
	// unindex removes id from each index set.
	unindex(ctx context.Context, id string, keys []string) error
	// members lists the ids in an index set.
	members(ctx context.Context, key string) ([]string, error)

	// putAttempt stores a sign-in attempt under (binding, state) with TTL
	// ttl and keeps at most max pending states per binding, dropping the
	// oldest.
	putAttempt(ctx context.Context, binding, state string, data []byte, ttl time.Duration, max int) error
	// takeAttempt atomically returns and deletes the attempt stored under
	// (binding, state); nil if there is none.
	takeAttempt(ctx context.Context, binding, state string) ([]byte, error)

	// markOnce records key for ttl; true if it was not already recorded.
	markOnce(ctx context.Context, key string, ttl time.Duration) (bool, error)

	// acquire takes the lock key for ttl with token if it is free.
	acquire(ctx context.Context, key, token string, ttl time.Duration) (bool, error)
	// renew extends the lock's lease to ttl if token still holds it.
	renew(ctx context.Context, key, token string, ttl time.Duration) (bool, error)
	// release frees the lock if token still holds it.
	release(ctx context.Context, key, token string) error

	ping(ctx context.Context) error
	close() error
}
