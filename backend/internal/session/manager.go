package session

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/gorilla/securecookie"
	gsessions "github.com/gorilla/sessions"
)

// touchInterval is how stale LastTouched must be before a read pushes the
// idle deadline forward: max(1m, IdleTimeout/10).
func (m *Manager) touchInterval() time.Duration {
	return max(time.Minute, m.cfg.IdleTimeout/10)
}

// encode renders a record for the store, bounded to maxRecordBytes.
func (m *Manager) encode(rec *Record) ([]byte, error) {
	data, err := json.Marshal(rec)
	if err != nil {
		return nil, fmt.Errorf("session: encode record: %w", err)
	}
	if len(data) > maxRecordBytes {
		return nil, fmt.Errorf("session: record of %d bytes exceeds %d", len(data), maxRecordBytes)
	}
	return data, nil
}

// ttl is the server-side TTL of a record saved at now. Index entries live
// until ExpiresAt instead: touches do not refresh them.
func (m *Manager) ttl(rec *Record, now time.Time) time.Duration {
	return min(m.cfg.IdleTimeout, rec.ExpiresAt.Sub(now))
}

// expired reports whether rec is past its absolute or idle limit at now.
func (m *Manager) expired(rec *Record, now time.Time) bool {
	return !now.Before(rec.ExpiresAt) || now.Sub(rec.LastTouched) >= m.cfg.IdleTimeout
}

func indexKeys(rec *Record) []string {
	keys := make([]string, 0, 2)
	if rec.SID != "" {
		keys = append(keys, "sid:"+rec.SID)
	}
	if rec.Subject != "" {
		keys = append(keys, "sub:"+rec.Subject)
	}
	return keys
}

// isCookieError reports whether err from a gorilla store's New is about the
// cookie (bad, forged, foreign, expired signature) rather than the store.
func isCookieError(err error) bool {
	var ce securecookie.Error
	return errors.As(err, &ce)
}

// Load returns the request's session. It never writes a cookie (clearing
// one on failure could race with a concurrent sign-in that has just set a
// new one) and writes to the store only to push the idle deadline forward,
// at most once per touch interval.
//
// ErrNoSession: no cookie; malformed, forged, truncated, oversized or
// foreign cookie; unknown or deleted id; idle or absolute lifetime passed
// (the session is then deleted). ErrUnavailable: the store failed.
func (m *Manager) Load(w http.ResponseWriter, r *http.Request) (*Session, error) {
	c, err := r.Cookie(m.cookieName)
	if err != nil || c.Value == "" || len(c.Value) > maxCookieValue {
		return nil, ErrNoSession
	}
	ctx := r.Context()
	st, err := m.be.store(ctx)
	if err != nil {
		return nil, unavailable(err)
	}
	gs, err := st.New(r, m.cookieName)
	if err != nil && staleConnection(err) {
		// A pooled connection died with a Redis restart; the pool has
		// dropped its stale connections, and a read is safe to repeat.
		gs, err = st.New(r, m.cookieName)
	}
	if err != nil {
		if isCookieError(err) {
			return nil, ErrNoSession
		}
		return nil, unavailable(err)
	}
	if gs.IsNew || gs.ID == "" {
		return nil, ErrNoSession
	}
	raw, _ := gs.Values[recordKey].([]byte)
	s, err := m.decode(ctx, gs.ID, raw)
	if err != nil {
		return nil, err
	}
	now := m.cfg.Now()
	if m.expired(&s.Record, now) {
		m.drop(ctx, s)
		return nil, ErrNoSession
	}
	if now.Sub(s.LastTouched) >= m.touchInterval() {
		m.touch(ctx, s, now)
	}
	return s, nil
}

// decode parses stored bytes; an undecodable record is deleted and reported
// as ErrNoSession.
func (m *Manager) decode(ctx context.Context, id string, raw []byte) (*Session, error) {
	s := &Session{id: id, raw: raw}
	if rec, ok := m.recs.get(id, raw); ok {
		s.Record = rec
		return s, nil
	}
	if len(raw) == 0 || json.Unmarshal(raw, &s.Record) != nil {
		m.cfg.Logger.ErrorContext(ctx, "session: undecodable session record deleted")
		if _, err := m.be.del(ctx, id); err != nil {
			return nil, unavailable(err)
		}
		return nil, ErrNoSession
	}
	m.recs.put(id, raw, s.Record)
	return s, nil
}

// touch pushes the idle deadline forward unless the record changed since it
// was read (then the newer writer already did). Failure is logged, not
// returned: the read itself succeeded.
func (m *Manager) touch(ctx context.Context, s *Session, now time.Time) {
	rec := s.Record
	rec.LastTouched = now
	data, err := json.Marshal(&rec)
	if err != nil {
		m.cfg.Logger.ErrorContext(ctx, "session: encode record for touch", "error", err)
		return
	}
	ok, err := m.be.touch(ctx, s.id, s.raw, data, m.ttl(&rec, now))
	if err != nil {
		m.cfg.Logger.WarnContext(ctx, "session: sliding expiry touch failed", "error", err)
		return
	}
	if ok {
		s.Record, s.raw = rec, data
	}
}

// drop deletes an expired session and its index entries; failures are
// logged (the TTL removes it anyway).
func (m *Manager) drop(ctx context.Context, s *Session) {
	m.recs.forget(s.id)
	if _, err := m.be.del(ctx, s.id); err != nil {
		m.cfg.Logger.WarnContext(ctx, "session: delete expired session failed", "error", err)
		return
	}
	if err := m.be.unindex(ctx, s.id, indexKeys(&s.Record)); err != nil {
		m.cfg.Logger.WarnContext(ctx, "session: unindex expired session failed", "error", err)
	}
}

// Create stores rec as a new session under a new random id, deleting any
// session the request's cookie pointed to (no fixation), indexes it by SID
// and Subject, and sets the session cookie. CreatedAt and LastTouched are
// set to now; ExpiresAt is clamped to now+AbsoluteLifetime (and set to it
// when zero). ErrUnavailable: the store failed (no cookie is written).
func (m *Manager) Create(w http.ResponseWriter, r *http.Request, rec Record) (*Session, error) {
	ctx := r.Context()
	now := m.cfg.Now()
	if rec.Subject == "" {
		return nil, errors.New("session: record without subject")
	}
	rec.CreatedAt, rec.LastTouched = now, now
	if limit := now.Add(m.cfg.AbsoluteLifetime); rec.ExpiresAt.IsZero() || rec.ExpiresAt.After(limit) {
		rec.ExpiresAt = limit
	}
	ttl := m.ttl(&rec, now)
	if ttl < time.Second {
		return nil, errors.New("session: record expires in less than a second")
	}
	data, err := m.encode(&rec)
	if err != nil {
		return nil, err
	}

	st, err := m.be.store(ctx)
	if err != nil {
		return nil, unavailable(err)
	}
	if err := m.deleteFromCookie(r, st); err != nil {
		return nil, err
	}

	gs := gsessions.NewSession(st, m.cookieName)
	gs.Options = &gsessions.Options{
		Path:     "/",
		MaxAge:   int((ttl + time.Second - 1) / time.Second),
		Secure:   m.cfg.Secure,
		HttpOnly: true,
		SameSite: http.SameSiteStrictMode,
	}
	gs.Values[recordKey] = data
	if err := st.Save(r, &discardWriter{}, gs); err != nil {
		return nil, unavailable(err)
	}
	s := &Session{Record: rec, id: gs.ID, raw: data}
	if err := m.be.index(ctx, s.id, indexKeys(&rec), rec.ExpiresAt.Sub(now)); err != nil {
		// Without its index entry back-channel logout could not end this
		// session: undo rather than keep an unreachable session.
		_, _ = m.be.del(ctx, s.id)
		return nil, unavailable(err)
	}
	if err := m.setSessionCookie(w, s.id, rec.ExpiresAt); err != nil {
		return nil, err
	}
	return s, nil
}

// deleteFromCookie deletes the session the request's cookie points to, if
// any. A bad cookie is ignored; a store failure is returned.
func (m *Manager) deleteFromCookie(r *http.Request, st gsessions.Store) error {
	c, err := r.Cookie(m.cookieName)
	if err != nil || c.Value == "" || len(c.Value) > maxCookieValue {
		return nil
	}
	old, err := st.New(r, m.cookieName)
	if err != nil {
		if isCookieError(err) {
			return nil
		}
		return unavailable(err)
	}
	if old.IsNew || old.ID == "" {
		return nil
	}
	var rec Record
	raw, _ := old.Values[recordKey].([]byte)
	_ = json.Unmarshal(raw, &rec) // best effort: only for unindexing
	old.Options.MaxAge = -1
	m.recs.forget(old.ID)
	if err := st.Save(r, &discardWriter{}, old); err != nil {
		return unavailable(err)
	}
	if err := m.be.unindex(r.Context(), old.ID, indexKeys(&rec)); err != nil {
		return unavailable(err)
	}
	return nil
}

// Save persists s (after a token refresh) under the same id: it bumps
// Version, sets LastTouched to now and resets the TTL to
// min(IdleTimeout, ExpiresAt-now). It never recreates a session that was
// deleted meanwhile (sign-out, back-channel logout): then ErrNoSession.
// Call it while holding Lock(s.LockKey()) after Reload. ErrUnavailable: the
// store failed.
func (m *Manager) Save(ctx context.Context, s *Session) error {
	now := m.cfg.Now()
	if !now.Before(s.ExpiresAt) {
		m.drop(ctx, s)
		return ErrNoSession
	}
	rec := s.Record
	rec.Version++
	rec.LastTouched = now
	data, err := m.encode(&rec)
	if err != nil {
		return err
	}
	ttl := m.ttl(&rec, now)
	if ttl < time.Millisecond {
		m.drop(ctx, s)
		return ErrNoSession
	}
	ok, err := m.be.replace(ctx, s.id, data, ttl)
	if err != nil {
		return unavailable(err)
	}
	if !ok {
		return ErrNoSession
	}
	s.Record, s.raw = rec, data
	if err := m.be.index(ctx, s.id, indexKeys(&rec), rec.ExpiresAt.Sub(now)); err != nil {
		return unavailable(err)
	}
	return nil
}

// Reload re-reads the session s from the store (after taking its lock, so
// the caller sees tokens another replica may have refreshed). It does not
// touch. ErrNoSession if it was deleted or has expired; ErrUnavailable if
// the store failed.
func (m *Manager) Reload(ctx context.Context, s *Session) (*Session, error) {
	raw, err := m.be.get(ctx, s.id)
	if err != nil {
		return nil, unavailable(err)
	}
	if raw == nil {
		return nil, ErrNoSession
	}
	fresh, err := m.decode(ctx, s.id, raw)
	if err != nil {
		return nil, err
	}
	if m.expired(&fresh.Record, m.cfg.Now()) {
		m.drop(ctx, fresh)
		return nil, ErrNoSession
	}
	return fresh, nil
}

// Destroy signs the browser out locally: it always expires the session
// cookie, deletes the session server-side if the cookie pointed to one, and
// returns that session (even if past its idle limit) so sign-out can revoke
// its refresh token — or nil, nil when there was none or the cookie was bad.
// ErrUnavailable: the store failed (the cookie is still expired).
func (m *Manager) Destroy(w http.ResponseWriter, r *http.Request) (*Session, error) {
	m.expireSessionCookie(w)
	c, err := r.Cookie(m.cookieName)
	if err != nil || c.Value == "" || len(c.Value) > maxCookieValue {
		return nil, nil
	}
	ctx := r.Context()
	st, err := m.be.store(ctx)
	if err != nil {
		return nil, unavailable(err)
	}
	gs, err := st.New(r, m.cookieName)
	if err != nil {
		if isCookieError(err) {
			return nil, nil
		}
		return nil, unavailable(err)
	}
	if gs.IsNew || gs.ID == "" {
		return nil, nil
	}
	s := &Session{id: gs.ID}
	raw, _ := gs.Values[recordKey].([]byte)
	decoded := json.Unmarshal(raw, &s.Record) == nil
	s.raw = raw
	gs.Options.MaxAge = -1
	m.recs.forget(gs.ID)
	if err := st.Save(r, &discardWriter{}, gs); err != nil {
		return nil, unavailable(err)
	}
	if !decoded {
		return nil, nil
	}
	if err := m.be.unindex(ctx, s.id, indexKeys(&s.Record)); err != nil {
		return s, unavailable(err)
	}
	return s, nil
}

// DestroyBySID deletes every session whose Logto session id is sid
// (back-channel logout) and returns the records it deleted, so the caller
// can revoke their refresh tokens.
func (m *Manager) DestroyBySID(ctx context.Context, sid string) ([]Record, error) {
	if sid == "" {
		return nil, nil
	}
	return m.destroyIndexed(ctx, "sid:"+sid)
}

// DestroyBySubject deletes every session of the user sub (back-channel
// logout without sid) and returns the records it deleted.
func (m *Manager) DestroyBySubject(ctx context.Context, sub string) ([]Record, error) {
	if sub == "" {
		return nil, nil
	}
	return m.destroyIndexed(ctx, "sub:"+sub)
}

func (m *Manager) destroyIndexed(ctx context.Context, key string) ([]Record, error) {
	ids, err := m.be.members(ctx, key)
	if err != nil {
		return nil, unavailable(err)
	}
	var out []Record
	for _, id := range ids {
		keys := []string{key}
		raw, err := m.be.get(ctx, id)
		if err != nil {
			return out, unavailable(err)
		}
		var rec Record
		decoded := raw != nil && json.Unmarshal(raw, &rec) == nil
		if decoded {
			keys = indexKeys(&rec)
			keys = append(keys, key)
		}
		m.recs.forget(id)
		d, err := m.be.del(ctx, id)
		if err != nil {
			return out, unavailable(err)
		}
		if d > 0 && decoded {
			out = append(out, rec)
		}
		if err := m.be.unindex(ctx, id, keys); err != nil {
			return out, unavailable(err)
		}
	}
	return out, nil
}
