package session

import (
	"bytes"
	"context"
	"errors"
	mrand "math/rand/v2"
	"time"
)

const (
	// maxUpdateAttempts bounds a compare-and-swap loop; each lost round
	// means another writer changed the same key meanwhile.
	maxUpdateAttempts = 64
	updateBackoffMax  = 20 * time.Millisecond
)

// errContention: a compare-and-swap loop lost maxUpdateAttempts rounds in a
// row. It is reported as ErrUnavailable (try again), never as a result.
var errContention = errors.New("session: too many concurrent writers of one key")

// update rewrites the value at key with a compare-and-swap loop: f gets the
// current value (nil when absent) and returns the next one and its TTL;
// next == nil deletes the key; next equal to the current value writes
// nothing. f may run several times, so whatever else it does must be safe
// to repeat. An error from f ends the loop and is returned as is.
func (m *Manager) update(ctx context.Context, key string, f func(cur []byte) (next []byte, ttl time.Duration, err error)) error {
	backoff := time.Millisecond
	for range maxUpdateAttempts {
		cur, err := m.st.Get(ctx, key)
		if err != nil {
			return err
		}
		next, ttl, err := f(cur)
		if err != nil {
			return err
		}
		var done bool
		switch {
		case bytes.Equal(next, cur) && (next == nil) == (cur == nil):
			return nil
		case next == nil:
			done, err = m.st.CompareAndDelete(ctx, key, cur)
		default:
			done, err = m.st.CompareAndSwap(ctx, key, cur, next, max(ttl, time.Millisecond))
		}
		if err != nil {
			return err
		}
		if done {
			return nil
		}
		// Another writer went first: back off a little (jittered, so
		// contenders spread out) and read again.
		t := time.NewTimer(backoff/2 + mrand.N(backoff/2+1))
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		backoff = min(backoff*2, updateBackoffMax)
	}
	return errContention
}
