package session

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
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
	if err := m.putAttempt(r.Context(), bindingHash(binding), a.State, data); err != nil {
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
	data, err := m.takeAttempt(r.Context(), bindingHash(binding), state)
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

// putAttempt stores an attempt under (binding, state) and lists state
// among the binding's pending ones, dropping the oldest beyond MaxAttempts.
func (m *Manager) putAttempt(ctx context.Context, binding, state string, data []byte) error {
	ttl := m.cfg.AttemptTTL
	if err := m.st.Set(ctx, attemptKey(binding, state), data, ttl); err != nil {
		return err
	}
	return m.update(ctx, bindingPrefix+"{"+binding+"}", func(cur []byte) ([]byte, time.Duration, error) {
		var states []string
		_ = json.Unmarshal(cur, &states) // unreadable: start afresh
		states = slices.DeleteFunc(states, func(s string) bool { return s == state })
		states = append(states, state)
		for len(states) > m.cfg.MaxAttempts {
			// Repeating this delete when the swap loses is harmless.
			if _, err := m.st.CompareAndDelete(ctx, attemptKey(binding, states[0]), nil); err != nil {
				return nil, 0, err
			}
			states = states[1:]
		}
		next, err := json.Marshal(states)
		return next, ttl, err
	})
}

// takeAttempt returns and deletes the attempt under (binding, state): of
// concurrent takers only the one whose compare-and-delete succeeds gets it.
func (m *Manager) takeAttempt(ctx context.Context, binding, state string) ([]byte, error) {
	key := attemptKey(binding, state)
	data, err := m.st.Get(ctx, key)
	if err != nil || data == nil {
		return nil, err
	}
	taken, err := m.st.CompareAndDelete(ctx, key, data)
	if err != nil || !taken {
		return nil, err
	}
	err = m.update(ctx, bindingPrefix+"{"+binding+"}", func(cur []byte) ([]byte, time.Duration, error) {
		var states []string
		if cur == nil || json.Unmarshal(cur, &states) != nil {
			return cur, 0, nil
		}
		states = slices.DeleteFunc(states, func(s string) bool { return s == state })
		if len(states) == 0 {
			return nil, 0, nil
		}
		next, err := json.Marshal(states)
		return next, m.cfg.AttemptTTL, err
	})
	if err != nil {
		m.cfg.Logger.WarnContext(ctx, "session: unlist taken attempt failed", "error", err)
	}
	return data, nil
}

func attemptKey(binding, state string) string {
	return attemptPrefix + "{" + binding + "}:" + state
}
