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

// encode renders a record for the store (marked as indexed when it is),
// bounded to maxRecordBytes.
func (m *Manager) encode(rec *Record, indexed bool) ([]byte, error) {
	sr := storedRecord{Record: *rec}
	if indexed {
		sr.Layout = layoutIndexed
	}
	data, err := json.Marshal(&sr)
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

// isCookieError reports whether err from the gorilla store's New is about
// the cookie (bad, forged, foreign, expired signature) rather than the
// store.
func isCookieError(err error) bool {
	var ce securecookie.Error
	return errors.As(err, &ce)
}

// hasCookie reports whether r carries a session cookie worth decoding.
func (m *Manager) hasCookie(r *http.Request) bool {
	c, err := r.Cookie(m.cookieName)
	return err == nil && c.Value != "" && len(c.Value) <= maxCookieValue
}

// fromCookie reads the session the request's cookie points to through the
// gin-contrib store: nil, nil when there is none (no, bad, forged or
// foreign cookie; unknown id).
func (m *Manager) fromCookie(r *http.Request) (*gsessions.Session, error) {
	if !m.hasCookie(r) {
		return nil, nil
	}
	gs, err := m.gin.New(r, m.cookieName)
	if err != nil {
		if isCookieError(err) {
			return nil, nil
		}
		return nil, unavailable(err)
	}
	if gs.IsNew || gs.ID == "" {
		return nil, nil
	}
	return gs, nil
}

// Load returns the request's session. It never writes a cookie (clearing
// one on failure could race with a concurrent sign-in that has just set a
// new one) and writes to the store only to push the idle deadline forward,
// at most once per touch interval, or to list a session the previous
// release created in this release's indexes (once).
//
// ErrNoSession: no cookie; malformed, forged, truncated, oversized or
// foreign cookie; unknown or deleted id; idle or absolute lifetime passed
// (the session is then deleted). ErrUnavailable: the store failed.
func (m *Manager) Load(w http.ResponseWriter, r *http.Request) (*Session, error) {
	gs, err := m.fromCookie(r)
	if err != nil {
		return nil, err
	}
	if gs == nil {
		return nil, ErrNoSession
	}
	ctx := r.Context()
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
	if !s.indexed || now.Sub(s.LastTouched) >= m.touchInterval() {
		m.touch(ctx, s, now)
	}
	return s, nil
}

// decode parses stored bytes; an undecodable record is deleted and reported
// as ErrNoSession.
func (m *Manager) decode(ctx context.Context, id string, raw []byte) (*Session, error) {
	s := &Session{id: id, raw: raw}
	if rec, indexed, ok := m.recs.get(id, raw); ok {
		s.Record, s.indexed = rec, indexed
		return s, nil
	}
	var sr storedRecord
	if len(raw) == 0 || json.Unmarshal(raw, &sr) != nil {
		m.cfg.Logger.ErrorContext(ctx, "session: undecodable session record deleted")
		if _, err := m.st.CompareAndDelete(ctx, sessionKey(id), raw); err != nil {
			return nil, unavailable(err)
		}
		return nil, ErrNoSession
	}
	s.Record, s.indexed = sr.Record, sr.Layout >= layoutIndexed
	m.recs.put(id, raw, s.Record, s.indexed)
	return s, nil
}

// touch pushes the idle deadline forward, and lists a session of the
// previous release in this release's indexes first, unless the record
// changed since it was read (then the newer writer already did). Failure
// is logged, not returned: the read itself succeeded.
func (m *Manager) touch(ctx context.Context, s *Session, now time.Time) {
	if !s.indexed {
		if err := m.index(ctx, s.id, &s.Record); err != nil {
			m.cfg.Logger.WarnContext(ctx, "session: indexing a previous release's session failed", "error", err)
			return
		}
	}
	rec := s.Record
	rec.LastTouched = now
	data, err := m.encode(&rec, true)
	if err != nil {
		m.cfg.Logger.ErrorContext(ctx, "session: encode record for touch", "error", err)
		return
	}
	ok, err := m.st.CompareAndSwap(ctx, sessionKey(s.id), s.raw, data, m.ttl(&rec, now))
	if err != nil {
		m.cfg.Logger.WarnContext(ctx, "session: sliding expiry touch failed", "error", err)
		return
	}
	if ok {
		s.Record, s.raw, s.indexed = rec, data, true
	}
}

// drop deletes an expired session (if it still holds what was read) and
// its index entries; failures are logged (the TTL removes it anyway).
func (m *Manager) drop(ctx context.Context, s *Session) {
	m.recs.forget(s.id)
	deleted, err := m.st.CompareAndDelete(ctx, sessionKey(s.id), s.raw)
	if err != nil {
		m.cfg.Logger.WarnContext(ctx, "session: delete expired session failed", "error", err)
		return
	}
	if deleted {
		m.unindexRecord(ctx, s.id, &s.Record)
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
	data, err := m.encode(&rec, true)
	if err != nil {
		return nil, err
	}
	if err := m.deleteFromCookie(r); err != nil {
		return nil, err
	}

	// Listed first, stored second: back-channel logout never misses a
	// stored session, and an entry whose session was never stored is
	// skipped (and dropped when its index is full).
	gs := gsessions.NewSession(m.gin, m.cookieName)
	gs.ID = newSessionID()
	if err := m.index(ctx, gs.ID, &rec); err != nil {
		return nil, unavailable(err)
	}
	gs.Options = &gsessions.Options{
		Path:     "/",
		MaxAge:   int((ttl + time.Second - 1) / time.Second),
		Secure:   m.cfg.Secure,
		HttpOnly: true,
		SameSite: http.SameSiteStrictMode,
	}
	gs.Values[recordKey] = data
	if err := m.gin.Save(r, &discardWriter{}, gs); err != nil {
		m.unindexRecord(ctx, gs.ID, &rec)
		return nil, unavailable(err)
	}
	s := &Session{Record: rec, id: gs.ID, raw: data, indexed: true}
	if err := m.setSessionCookie(w, s.id, rec.ExpiresAt); err != nil {
		return nil, err
	}
	return s, nil
}

// deleteFromCookie deletes the session the request's cookie points to, if
// any. A bad cookie is ignored; a store failure is returned.
func (m *Manager) deleteFromCookie(r *http.Request) error {
	_, err := m.destroy(r)
	return err
}

// destroy deletes the session the request's cookie points to and returns
// it (nil when there was none, or its record did not decode). The delete is
// conditional on the bytes read, and repeated on a fresh read when a
// concurrent write (a touch, a refresh) went first, so the returned record
// is the one deleted — with the latest refresh token to revoke.
func (m *Manager) destroy(r *http.Request) (*Session, error) {
	ctx := r.Context()
	for range maxUpdateAttempts {
		gs, err := m.fromCookie(r)
		if err != nil || gs == nil {
			return nil, err
		}
		raw, _ := gs.Values[recordKey].([]byte)
		gs.Options.MaxAge = -1
		m.recs.forget(gs.ID)
		err = m.gin.Save(r, &discardWriter{}, gs)
		if errors.Is(err, errChanged) {
			continue
		}
		if err != nil && !m.gone(ctx, gs.ID) {
			return nil, unavailable(err)
		}
		var sr storedRecord
		if json.Unmarshal(raw, &sr) != nil {
			return nil, nil
		}
		s := &Session{Record: sr.Record, id: gs.ID, raw: raw}
		m.unindexRecord(ctx, s.id, &s.Record)
		return s, nil
	}
	return nil, unavailable(errContention)
}

// gone reports whether the session id is provably absent now: after a
// delete whose answer was lost (the connection dropped), the session is
// then gone either way, and sign-out can go on to revoke its tokens.
func (m *Manager) gone(ctx context.Context, id string) bool {
	raw, err := m.st.Get(ctx, sessionKey(id))
	return err == nil && raw == nil
}

// Save persists s (after a token refresh) under the same id: it bumps
// Version, sets LastTouched to now and resets the TTL to
// min(IdleTimeout, ExpiresAt-now). The write is a compare-and-swap from the
// bytes Reload read: it never recreates a session that was deleted
// meanwhile (sign-out, back-channel logout: ErrNoSession) and never
// overwrites a newer Version (ErrConflict); a concurrent sliding touch
// (same Version) is written over. Call it while holding Lock(s.LockKey())
// after Reload. ErrUnavailable: the store failed; s is unchanged, and
// calling Save again is safe (a save that was applied although its answer
// was lost is recognised).
func (m *Manager) Save(ctx context.Context, s *Session) error {
	now := m.cfg.Now()
	if !now.Before(s.ExpiresAt) {
		m.drop(ctx, s)
		return ErrNoSession
	}
	rec := s.Record
	rec.Version++
	rec.LastTouched = now
	data, err := m.encode(&rec, true)
	if err != nil {
		return err
	}
	ttl := m.ttl(&rec, now)
	if ttl < time.Millisecond {
		m.drop(ctx, s)
		return ErrNoSession
	}
	if !s.indexed {
		if err := m.index(ctx, s.id, &rec); err != nil {
			return unavailable(err)
		}
	}
	old := s.raw
	for range maxUpdateAttempts {
		ok, err := m.st.CompareAndSwap(ctx, sessionKey(s.id), old, data, ttl)
		if err != nil {
			return unavailable(err)
		}
		if ok {
			s.Record, s.raw, s.indexed = rec, data, true
			return nil
		}
		cur, err := m.st.Get(ctx, sessionKey(s.id))
		if err != nil {
			return unavailable(err)
		}
		if cur == nil {
			return ErrNoSession
		}
		var sr storedRecord
		if json.Unmarshal(cur, &sr) != nil {
			return ErrNoSession
		}
		switch {
		case sr.Version == rec.Version && sameContent(&sr.Record, &rec):
			// An earlier call's save was applied but its answer lost.
			s.Record, s.raw, s.indexed = sr.Record, cur, sr.Layout >= layoutIndexed
			return nil
		case sr.Version != s.Version:
			return ErrConflict
		}
		old = cur // only touched meanwhile: write over it
	}
	return unavailable(errContention)
}

// sameContent reports whether a and b are equal but for LastTouched.
func sameContent(a, b *Record) bool {
	x, y := *a, *b
	x.LastTouched, y.LastTouched = time.Time{}, time.Time{}
	ja, err1 := json.Marshal(&x)
	jb, err2 := json.Marshal(&y)
	return err1 == nil && err2 == nil && string(ja) == string(jb)
}

// Reload re-reads the session s from the store (after taking its lock, so
// the caller sees tokens another replica may have refreshed). It does not
// touch. ErrNoSession if it was deleted or has expired; ErrUnavailable if
// the store failed.
func (m *Manager) Reload(ctx context.Context, s *Session) (*Session, error) {
	raw, err := m.st.Get(ctx, sessionKey(s.id))
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

// Destroy signs the browser out: it deletes the session its cookie points
// to and only then expires the cookie, returning the deleted session (even
// if past its idle limit) so sign-out can revoke its refresh token — or
// nil, nil when there was none or the cookie was bad (the cookie is
// expired too). ErrUnavailable: the store failed, the session may still
// exist, and the cookie is left in place so that a retry can finish the
// job; sign-out must not report success then.
func (m *Manager) Destroy(w http.ResponseWriter, r *http.Request) (*Session, error) {
	s, err := m.destroy(r)
	if err != nil {
		return nil, err
	}
	m.expireSessionCookie(w)
	return s, nil
}

// DestroyBySID deletes every session whose Logto session id is sid
// (back-channel logout) and returns the records it deleted, so the caller
// can revoke their refresh tokens.
func (m *Manager) DestroyBySID(ctx context.Context, sid string) ([]Record, error) {
	if sid == "" {
		return nil, nil
	}
	return m.destroyIndexed(ctx, bySID, sid)
}

// DestroyBySubject deletes every session of the user sub (back-channel
// logout without sid) and returns the records it deleted.
func (m *Manager) DestroyBySubject(ctx context.Context, sub string) ([]Record, error) {
	if sub == "" {
		return nil, nil
	}
	return m.destroyIndexed(ctx, bySubject, sub)
}

// destroyIndexed deletes every session listed in the index (kind, value),
// in this release's index or the previous release's set. An error means
// some sessions may remain: the caller answers so that the logout is
// delivered again.
func (m *Manager) destroyIndexed(ctx context.Context, kind indexKind, value string) ([]Record, error) {
	ids, err := m.indexed(ctx, kind, value)
	if err != nil {
		return nil, unavailable(err)
	}
	var out []Record
	for _, id := range ids {
		rec, err := m.deleteByID(ctx, id)
		if err != nil {
			return out, unavailable(err)
		}
		if rec == nil {
			continue
		}
		out = append(out, *rec)
		// Its entry in the other index; this one is cleaned below at once.
		otherKind, otherValue := bySubject, rec.Subject
		if kind == bySubject {
			otherKind, otherValue = bySID, rec.SID
		}
		if otherValue != "" {
			if err := m.unindex(ctx, indexKey(otherKind, otherValue), id); err != nil {
				m.cfg.Logger.WarnContext(ctx, "session: unindex deleted session failed", "error", err)
			}
		}
	}
	if err := m.unindex(ctx, indexKey(kind, value), ids...); err != nil {
		m.cfg.Logger.WarnContext(ctx, "session: unindex after back-channel logout failed", "error", err)
	}
	return out, nil
}

// deleteByID deletes one session, conditionally on the bytes read (read
// again if a concurrent write went first), and returns the record deleted;
// nil if there was none or it did not decode.
func (m *Manager) deleteByID(ctx context.Context, id string) (*Record, error) {
	for range maxUpdateAttempts {
		raw, err := m.st.Get(ctx, sessionKey(id))
		if err != nil || raw == nil {
			return nil, err
		}
		m.recs.forget(id)
		deleted, err := m.st.CompareAndDelete(ctx, sessionKey(id), raw)
		if err != nil {
			return nil, err
		}
		if !deleted {
			continue
		}
		var sr storedRecord
		if json.Unmarshal(raw, &sr) != nil {
			return nil, nil
		}
		return &sr.Record, nil
	}
	return nil, errContention
}
