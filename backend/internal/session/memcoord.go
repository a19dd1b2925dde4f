package session

// Memory counterparts of the Redis coordination data: back-channel-logout
// indexes, sign-in attempts, replay marks and lock leases.

import (
	"context"
	"slices"
	"time"
)

func (b *memBackend) index(_ context.Context, id string, keys []string, ttl time.Duration) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return errClosed
	}
	now := b.now()
	for _, k := range keys {
		s := b.sets[k]
		if s == nil || !now.Before(s.exp) {
			s = &memSet{ids: make(map[string]struct{})}
			b.sets[k] = s
		}
		s.ids[id] = struct{}{}
		if exp := now.Add(ttl); exp.After(s.exp) {
			s.exp = exp
		}
	}
	return nil
}

func (b *memBackend) unindex(_ context.Context, id string, keys []string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return errClosed
	}
	for _, k := range keys {
		if s := b.sets[k]; s != nil {
			delete(s.ids, id)
			if len(s.ids) == 0 {
				delete(b.sets, k)
			}
		}
	}
	return nil
}

func (b *memBackend) members(_ context.Context, key string) ([]string, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil, errClosed
	}
	s := b.sets[key]
	if s == nil || !b.now().Before(s.exp) {
		return nil, nil
	}
	ids := make([]string, 0, len(s.ids))
	for id := range s.ids {
		ids = append(ids, id)
	}
	return ids, nil
}

func attemptKey(binding, state string) string { return binding + ":" + state }

func (b *memBackend) putAttempt(_ context.Context, binding, state string, data []byte, ttl time.Duration, max int) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return errClosed
	}
	now := b.now()
	if len(b.attempts) >= b.maxAttempts {
		for k, v := range b.attempts {
			if !now.Before(v.exp) {
				delete(b.attempts, k)
			}
		}
		if len(b.attempts) >= b.maxAttempts {
			return errTooManyAttempts
		}
	}
	b.attempts[attemptKey(binding, state)] = memValue{data: slices.Clone(data), exp: now.Add(ttl)}
	l := b.lists[binding]
	if l == nil || !now.Before(l.exp) {
		l = &memList{}
		b.lists[binding] = l
	}
	l.states = slices.DeleteFunc(l.states, func(s string) bool { return s == state })
	l.states = append(l.states, state)
	l.exp = now.Add(ttl)
	for len(l.states) > max {
		delete(b.attempts, attemptKey(binding, l.states[0]))
		l.states = l.states[1:]
	}
	return nil
}

func (b *memBackend) takeAttempt(_ context.Context, binding, state string) ([]byte, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil, errClosed
	}
	k := attemptKey(binding, state)
	v, ok := b.attempts[k]
	if !ok {
		return nil, nil
	}
	delete(b.attempts, k)
	if l := b.lists[binding]; l != nil {
		l.states = slices.DeleteFunc(l.states, func(s string) bool { return s == state })
	}
	if !b.now().Before(v.exp) {
		return nil, nil
	}
	return v.data, nil
}

func (b *memBackend) markOnce(_ context.Context, key string, ttl time.Duration) (bool, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return false, errClosed
	}
	now := b.now()
	if exp, ok := b.marks[key]; ok && now.Before(exp) {
		return false, nil
	}
	b.marks[key] = now.Add(ttl)
	return true, nil
}

func (b *memBackend) acquire(_ context.Context, key, token string, ttl time.Duration) (bool, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return false, errClosed
	}
	now := b.now()
	if l, ok := b.locks[key]; ok && now.Before(l.exp) {
		return false, nil
	}
	b.locks[key] = memLock{token: token, exp: now.Add(ttl)}
	return true, nil
}

func (b *memBackend) renew(_ context.Context, key, token string, ttl time.Duration) (bool, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return false, errClosed
	}
	now := b.now()
	l, ok := b.locks[key]
	if !ok || l.token != token || !now.Before(l.exp) {
		return false, nil
	}
	b.locks[key] = memLock{token: token, exp: now.Add(ttl)}
	return true, nil
}

func (b *memBackend) release(_ context.Context, key, token string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return errClosed
	}
	if l, ok := b.locks[key]; ok && l.token == token {
		delete(b.locks, key)
	}
	return nil
}
