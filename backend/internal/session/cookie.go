package session

import (
	"crypto/hkdf"
	"crypto/sha256"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/gorilla/securecookie"
)

const (
	hkdfLabel = "logto-bff/session-cookie/v1"
	// maxCookieValue bounds a cookie value we try to decode; securecookie
	// enforces the same bound, checked here first to skip any work.
	maxCookieValue = 4096
)

// cookieName returns the session cookie's name.
func cookieName(secure bool) string {
	if secure {
		return "__Host-bff-session"
	}
	return "bff-session"
}

// cookieCodec signs and verifies the session cookie. The store is given the
// same key, so both verify each other's values.
type cookieCodec struct {
	hashKey []byte
	sc      *securecookie.SecureCookie
	maxAge  int
	secure  bool
}

func newCookieCodec(cfg Config) (cookieCodec, error) {
	key, err := hkdf.Key(sha256.New, cfg.Secret, nil, hkdfLabel, 32)
	if err != nil {
		return cookieCodec{}, fmt.Errorf("session: derive cookie key: %w", err)
	}
	// securecookie rejects values older than maxAge by their embedded
	// timestamp; a session cookie never outlives AbsoluteLifetime.
	maxAge := int((cfg.AbsoluteLifetime + time.Minute) / time.Second)
	sc := securecookie.New(key, nil)
	sc.MaxAge(maxAge)
	sc.SetSerializer(securecookie.JSONEncoder{})
	return cookieCodec{hashKey: key, sc: sc, maxAge: maxAge, secure: cfg.Secure}, nil
}

// codecs returns fresh codecs for a gorilla store, configured like ours.
func (c cookieCodec) codecs() []securecookie.Codec {
	codecs := securecookie.CodecsFromPairs(c.hashKey)
	c.configure(codecs)
	return codecs
}

// configure makes gorilla codecs match ours: same maximum age and JSON
// (not gob) for the id, which is cheaper to decode on every request; and
// wraps them in a verifiedCodec.
func (c cookieCodec) configure(codecs []securecookie.Codec) {
	for i, cd := range codecs {
		if sc, ok := cd.(*securecookie.SecureCookie); ok {
			sc.MaxAge(c.maxAge)
			sc.SetSerializer(securecookie.JSONEncoder{})
			codecs[i] = &verifiedCodec{Codec: sc}
		}
	}
}

func (c cookieCodec) encode(name, id string) (string, error) {
	return c.sc.Encode(name, id)
}

// setSession writes the session cookie for id, living until expiresAt.
func (m *Manager) setSessionCookie(w http.ResponseWriter, id string, expiresAt time.Time) error {
	value, err := m.cookie.encode(m.cookieName, id)
	if err != nil {
		return fmt.Errorf("session: sign cookie: %w", err)
	}
	maxAge := int(expiresAt.Sub(m.cfg.Now()) / time.Second)
	if maxAge < 1 {
		maxAge = 1
	}
	http.SetCookie(w, &http.Cookie{
		Name:     m.cookieName,
		Value:    value,
		Path:     "/",
		MaxAge:   maxAge,
		Secure:   m.cfg.Secure,
		HttpOnly: true,
		SameSite: http.SameSiteStrictMode,
	})
	return nil
}

// expireSessionCookie tells the browser to drop the session cookie.
func (m *Manager) expireSessionCookie(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{
		Name:     m.cookieName,
		Value:    "",
		Path:     "/",
		MaxAge:   -1,
		Secure:   m.cfg.Secure,
		HttpOnly: true,
		SameSite: http.SameSiteStrictMode,
	})
}

// discardWriter is the ResponseWriter handed to gorilla stores' Save: the
// Manager writes cookies itself, so whatever the store sets is dropped.
type discardWriter struct{ h http.Header }

func (d *discardWriter) Header() http.Header {
	if d.h == nil {
		d.h = http.Header{}
	}
	return d.h
}
func (d *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (d *discardWriter) WriteHeader(int)             {}

func onceErr(f func() error) func() error {
	var (
		once sync.Once
		err  error
	)
	return func() error {
		once.Do(func() { err = f() })
		return err
	}
}

// maxVerified bounds verifiedCodec's memory (the cache is cleared when full).
const maxVerified = 16384

// verifiedCodec remembers the cookie values its Codec has verified, so a
// browser's session cookie costs one HMAC per replica instead of one per
// request (about 8% of a /api/me on the memory store). Only values that
// verified enter the cache, keyed by the exact cookie name and value, so
// attacker input is never trusted from it. A cached value skips
// securecookie's timestamp check; that bound (AbsoluteLifetime) is enforced
// on the session record anyway, which is looked up on every request.
type verifiedCodec struct {
	securecookie.Codec
	mu  sync.RWMutex
	ids map[string]string // name + "\x00" + value → session id
}

// Decode implements securecookie.Codec.
func (v *verifiedCodec) Decode(name, value string, dst any) error {
	id, ok := dst.(*string)
	if !ok {
		return v.Codec.Decode(name, value, dst)
	}
	key := name + "\x00" + value
	v.mu.RLock()
	cached, hit := v.ids[key]
	v.mu.RUnlock()
	if hit {
		*id = cached
		return nil
	}
	if err := v.Codec.Decode(name, value, dst); err != nil {
		return err
	}
	v.mu.Lock()
	if v.ids == nil || len(v.ids) >= maxVerified {
		v.ids = make(map[string]string)
	}
	v.ids[key] = *id
	v.mu.Unlock()
	return nil
}
