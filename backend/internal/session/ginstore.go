package session

import (
	"encoding/base32"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/gin-contrib/sessions"
	"github.com/gorilla/securecookie"
	gsessions "github.com/gorilla/sessions"

	"github.com/logto-bff/bff/backend/internal/store"
)

// recordKey is the one key of a gorilla session's Values: the stored
// record's JSON.
const recordKey = "record"

// loadedKey marks, in a gorilla session's Values, the stored bytes New read
// (unexported type: no caller's key can collide with it). Save makes its
// write conditional on them.
type loadedKey struct{}

// errChanged is Save's answer when the stored session no longer holds the
// bytes New read (a concurrent writer or deleter went first); the caller
// reads again and decides.
var errChanged = errors.New("session: stored session changed meanwhile")

// maxIDCollisions bounds Save's retries with a fresh id; 256 random bits
// never collide, so a second failure means the store misbehaves.
const maxIDCollisions = 3

// ginStore is gin-contrib/sessions' Store (gorilla-compatible New, Get,
// Save, Options) written once on store.Store, for memory and Redis alike.
// It is a drop-in for the boj/redistore store the previous release used: the
// cookie is the session id encoded by the same securecookie codec (HKDF key,
// JSON serializer), the id has the same shape, and the value at
// "bff:s:<id>" is the record's JSON, the one entry of Values (recordKey).
//
// Unlike redistore, every write is conditional, because the contract has no
// blind overwrite of a session: Save of a new session (empty ID, or an ID
// New did not find) stores only if the key is absent; Save of a session New
// read stores or deletes only if the key still holds the bytes New read, and
// answers errChanged otherwise. So a session deleted by sign-out is never
// written back, and of two writers of the same version only one wins.
type ginStore struct {
	st      store.Store
	codecs  []securecookie.Codec
	options *gsessions.Options
}

var _ sessions.Store = (*ginStore)(nil)

// Get returns the session for name through gorilla's per-request registry
// (which caches the first answer for the rest of the request; the Manager
// calls New instead).
func (s *ginStore) Get(r *http.Request, name string) (*gsessions.Session, error) {
	return gsessions.GetRegistry(r).Get(s, name)
}

// New returns the session the request's cookie points to (IsNew false, the
// record's bytes in Values[recordKey]) or a new empty one. A cookie that
// does not verify yields a securecookie.Error; a store failure its error.
func (s *ginStore) New(r *http.Request, name string) (*gsessions.Session, error) {
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
	data, err := s.getSession(r.Context(), sessionKey(id))
	if err != nil {
		return gs, err
	}
	gs.ID = id
	if data != nil {
		gs.Values[recordKey] = data
		gs.Values[loadedKey{}] = data
		gs.IsNew = false
	}
	return gs, nil
}

// Save stores the session for Options.MaxAge seconds and sets its cookie,
// or deletes it and expires the cookie when MaxAge ≤ 0; both conditionally,
// as the type's documentation says. A session without an ID gets a new
// random one.
func (s *ginStore) Save(r *http.Request, w http.ResponseWriter, gs *gsessions.Session) error {
	ctx := r.Context()
	loaded, _ := gs.Values[loadedKey{}].([]byte)
	if gs.Options.MaxAge <= 0 {
		if gs.ID != "" {
			ok, err := s.st.CompareAndDelete(ctx, sessionKey(gs.ID), loaded)
			if err != nil {
				return err
			}
			if !ok && loaded != nil {
				return errChanged
			}
		}
		http.SetCookie(w, gsessions.NewCookie(gs.Name(), "", gs.Options))
		return nil
	}
	data, ok := gs.Values[recordKey].([]byte)
	others := len(gs.Values) - 1
	if _, has := gs.Values[loadedKey{}]; has {
		others--
	}
	if !ok || others != 0 {
		return errors.New("session: a session holds exactly one record value")
	}
	ttl := time.Duration(gs.Options.MaxAge) * time.Second
	fresh := gs.ID == ""
	for range maxIDCollisions {
		if fresh {
			gs.ID = newSessionID()
		}
		stored, err := s.st.CompareAndSwap(ctx, sessionKey(gs.ID), loaded, data, ttl)
		if err != nil {
			return err
		}
		if stored {
			gs.Values[loadedKey{}] = data
			encoded, err := securecookie.EncodeMulti(gs.Name(), gs.ID, s.codecs...)
			if err != nil {
				return err
			}
			http.SetCookie(w, gsessions.NewCookie(gs.Name(), encoded, gs.Options))
			return nil
		}
		if !fresh {
			return errChanged
		}
	}
	return errors.New("session: could not find a free session id")
}

// Options sets the defaults for new sessions.
func (s *ginStore) Options(o sessions.Options) {
	s.options = o.ToGorillaOptions()
}

// newSessionID returns 256 random bits, base32 without padding — the shape
// boj/redistore generated, so ids of both releases look alike.
func newSessionID() string {
	return strings.TrimRight(base32.StdEncoding.EncodeToString(securecookie.GenerateRandomKey(32)), "=")
}
