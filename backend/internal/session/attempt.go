package session

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/logto-bff/bff/backend/internal/authflow"
)

// maxStateLength bounds the state accepted from a callback URL.
const maxStateLength = 512

// BeginAttempt stores a pending sign-in under a.State, bound to this
// browser by the SameSite=Lax binding cookie ("__Host-bff-signin" /
// "bff-signin"), which it sets (random value) if the request has none and
// refreshes to Max-Age = AttemptTTL otherwise. Each browser keeps at most
// MaxAttempts pending attempts; beginning another drops the oldest. Several
// tabs can therefore sign in at once. CreatedAt is set to now if zero.
// ErrUnavailable: the store failed.
func (m *Manager) BeginAttempt(w http.ResponseWriter, r *http.Request, a authflow.Attempt) error {
	if a.State == "" || len(a.State) > maxStateLength {
		return fmt.Errorf("session: attempt state must be 1..%d bytes", maxStateLength)
	}
	if a.CreatedAt.IsZero() {
		a.CreatedAt = m.cfg.Now()
	}
	data, err := json.Marshal(&a)
	if err != nil {
		return fmt.Errorf("session: encode attempt: %w", err)
	}
	binding, ok := m.bindingFromRequest(r)
	if !ok {
		binding = newBindingValue()
	}
	if err := m.be.putAttempt(r.Context(), bindingHash(binding), a.State, data, m.cfg.AttemptTTL, m.cfg.MaxAttempts); err != nil {
		return unavailable(err)
	}
	m.setBindingCookie(w, binding)
	return nil
}

// TakeAttempt returns and consumes the pending sign-in with this state,
// atomically: of two concurrent callbacks with the same state at most one
// gets it. ErrNoAttempt: unknown or expired state, already taken, or begun
// in another browser (no or another binding cookie) — in that case the
// attempt is left in place, so a forged callback cannot burn the victim's
// sign-in. ErrUnavailable: the store failed. It writes no cookie: the
// binding cookie may still serve other tabs' attempts and expires by itself.
func (m *Manager) TakeAttempt(w http.ResponseWriter, r *http.Request, state string) (*authflow.Attempt, error) {
	if state == "" || len(state) > maxStateLength {
		return nil, ErrNoAttempt
	}
	binding, ok := m.bindingFromRequest(r)
	if !ok {
		return nil, ErrNoAttempt
	}
	data, err := m.be.takeAttempt(r.Context(), bindingHash(binding), state)
	if err != nil {
		return nil, unavailable(err)
	}
	if data == nil {
		return nil, ErrNoAttempt
	}
	var a authflow.Attempt
	if err := json.Unmarshal(data, &a); err != nil || a.State != state {
		return nil, ErrNoAttempt
	}
	if m.cfg.Now().Sub(a.CreatedAt) >= m.cfg.AttemptTTL {
		return nil, ErrNoAttempt
	}
	return &a, nil
}

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
	h := sha256.Sum256([]byte(key))
	fresh, err := m.be.markOnce(ctx, hex.EncodeToString(h[:]), ttl)
	if err != nil {
		return false, unavailable(err)
	}
	return fresh, nil
}
