package session

import (
	"context"
	"encoding/base32"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/gin-contrib/sessions"
	"github.com/gorilla/securecookie"
	gsessions "github.com/gorilla/sessions"
)

// liveSession returns the session's value if present and unexpired; the
// caller holds b.mu.
func (b *memBackend) liveSession(id string, now time.Time) (memValue, bool) {
	v, ok := b.sessions[id]
	if ok && !now.Before(v.exp) {
		delete(b.sessions, id)
		return memValue{}, false
	}
	return v, ok
}

func (b *memBackend) get(_ context.Context, id string) ([]byte, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil, errClosed
	}
	v, ok := b.liveSession(id, b.now())
	if !ok {
		return nil, nil
	}
	return slices.Clone(v.data), nil
}

func (b *memBackend) set(id string, data []byte, ttl time.Duration) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return errClosed
	}
	b.sessions[id] = memValue{data: slices.Clone(data), exp: b.now().Add(ttl)}
	return nil
}

func (b *memBackend) replace(_ context.Context, id string, data []byte, ttl time.Duration) (bool, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return false, errClosed
	}
	now := b.now()
	if _, ok := b.liveSession(id, now); !ok {
		return false, nil
	}
	b.sessions[id] = memValue{data: slices.Clone(data), exp: now.Add(ttl)}
	return true, nil
}

func (b *memBackend) touch(_ context.Context, id string, old, data []byte, ttl time.Duration) (bool, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return false, errClosed
	}
	now := b.now()
	v, ok := b.liveSession(id, now)
	if !ok || string(v.data) != string(old) {
		return false, nil
	}
	b.sessions[id] = memValue{data: slices.Clone(data), exp: now.Add(ttl)}
	return true, nil
}

func (b *memBackend) del(_ context.Context, ids ...string) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return 0, errClosed
	}
	now, n := b.now(), 0
	for _, id := range ids {
		if _, ok := b.liveSession(id, now); ok {
			n++
		}
		delete(b.sessions, id)
	}
	return n, nil
}

// memStore is the gin-contrib sessions.Store over memBackend: the memory
// counterpart of gin-contrib's Redis store, with the same cookie codec,
// the same record-bytes Values layout and expiry by Options.MaxAge.
type memStore struct {
	b       *memBackend
	codecs  []securecookie.Codec
	options *gsessions.Options
}

var _ sessions.Store = (*memStore)(nil)

// Get returns the session for name through gorilla's per-request registry.
func (s *memStore) Get(r *http.Request, name string) (*gsessions.Session, error) {
	return gsessions.GetRegistry(r).Get(s, name)
}

// New returns the session the request's cookie points to (IsNew false) or
// a new empty one. A cookie that does not verify yields a securecookie
// error; a closed store yields errClosed.
func (s *memStore) New(r *http.Request, name string) (*gsessions.Session, error) {
	gs := gsessions.NewSession(s, name)
	opts := *s.options
	gs.Options = &opts
	gs.IsNew = true
	c, err := r.Cookie(name)
	if err != nil {
		return gs, nil
	}
	var id string
	if err := securecookie.DecodeMulti(name, c.Value, &id, s.codecs...); err != nil {
		return gs, err
	}
	data, err := s.b.get(r.Context(), id)
	if err != nil {
		return gs, err
	}
	gs.ID = id
	if data != nil {
		gs.Values[recordKey] = data
		gs.IsNew = false
	}
	return gs, nil
}

// Save stores the session for Options.MaxAge seconds (a new random id if it
// has none) and sets its cookie, or deletes it and expires the cookie when
// MaxAge ≤ 0.
func (s *memStore) Save(r *http.Request, w http.ResponseWriter, gs *gsessions.Session) error {
	if gs.Options.MaxAge <= 0 {
		if gs.ID != "" {
			if _, err := s.b.del(r.Context(), gs.ID); err != nil {
				return err
			}
		}
		http.SetCookie(w, gsessions.NewCookie(gs.Name(), "", gs.Options))
		return nil
	}
	data, ok := gs.Values[recordKey].([]byte)
	if !ok || len(gs.Values) != 1 {
		return errors.New("session: memory store holds exactly one record value")
	}
	if gs.ID == "" {
		gs.ID = newSessionID()
	}
	if err := s.b.set(gs.ID, data, time.Duration(gs.Options.MaxAge)*time.Second); err != nil {
		return err
	}
	encoded, err := securecookie.EncodeMulti(gs.Name(), gs.ID, s.codecs...)
	if err != nil {
		return err
	}
	http.SetCookie(w, gsessions.NewCookie(gs.Name(), encoded, gs.Options))
	return nil
}

// Options sets the defaults for new sessions.
func (s *memStore) Options(o sessions.Options) {
	s.options = o.ToGorillaOptions()
}

// newSessionID returns 256 random bits, base32 without padding — the same
// shape gin-contrib's Redis store generates.
func newSessionID() string {
	return strings.TrimRight(base32.StdEncoding.EncodeToString(securecookie.GenerateRandomKey(32)), "=")
}
