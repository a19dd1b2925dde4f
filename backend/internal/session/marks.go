package session

import (
	"context"
	"errors"
	"time"
)

// MarkJTI records a logout token's jti for ttl and reports whether it was
// fresh (not seen before within its ttl): a replayed token gets false.
// ErrUnavailable: the store failed.
func (m *Manager) MarkJTI(ctx context.Context, jti string, ttl time.Duration) (bool, error) {
	if jti == "" {
		return false, errors.New("session: empty jti")
	}
	return m.MarkOnce(ctx, "jti\x00"+jti, ttl)
}

// MarkOnce records key for ttl (at least a second) and reports whether it
// was fresh: of any number of calls with the same key within ttl, on every
// replica sharing the store, exactly one gets true. The store sees only a
// hash of key. Callers prefix their keys with a purpose so that marks of
// different kinds never collide. ErrUnavailable: the store failed.
func (m *Manager) MarkOnce(ctx context.Context, key string, ttl time.Duration) (bool, error) {
	if key == "" {
		return false, errors.New("session: empty mark key")
	}
	if ttl < time.Second {
		ttl = time.Second
	}
	fresh, err := m.st.CompareAndSwap(ctx, hashedKey(markPrefix, key), nil, []byte("1"), ttl)
	if err != nil {
		return false, unavailable(err)
	}
	return fresh, nil
}
