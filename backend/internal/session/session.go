package session

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/gin-contrib/sessions"

	"github.com/logto-bff/bff/backend/internal/authflow"
	"github.com/logto-bff/bff/backend/internal/config"
	"github.com/logto-bff/bff/backend/internal/store"
)

// Zero Config fields take the defaults of the settings they come from
// (config.DefaultSessionIdleTimeout, config.DefaultSessionLifetime), and the
// secret obeys the same rule as BFF_SESSION_SECRET (config.MinSecretBytes):
// one rule, one name, in package config.

// Errors returned by the Manager. ErrUnavailable always wraps the
// underlying cause as well, so errors.Is(err, ErrUnavailable) holds and the
// cause is reachable with errors.Unwrap/As.
var (
	// ErrNoSession means the request has no valid session: no cookie, a
	// malformed, forged or foreign cookie, an unknown or deleted id, or a
	// session past its idle or absolute lifetime.
	ErrNoSession = errors.New("session: no session")
	// ErrUnavailable means the session store could not be reached or
	// failed; the caller must not treat it as a sign-out.
	ErrUnavailable = errors.New("session: store unavailable")
	// ErrConflict means Save found the session saved by another writer
	// since it was reloaded (a newer Version): the stale write was not
	// applied. Under Lock this happens only if the lock's lease was lost.
	ErrConflict = errors.New("session: saved by another writer meanwhile")
)

func unavailable(err error) error {
	if errors.Is(err, ErrUnavailable) {
		return err
	}
	return fmt.Errorf("%w: %w", ErrUnavailable, err)
}

// Config configures a Manager. Zero durations and counts take the defaults
// above.
type Config struct {
	// Secret signs cookies (an HMAC key is derived from it); at least
	// config.MinSecretBytes bytes.
	Secret []byte
	// Secure sets the Secure attribute and the __Host- cookie-name prefix.
	// Only `bff dev` on plain http runs without it.
	Secure bool
	// IdleTimeout ends a session not used for this long (default 24h).
	IdleTimeout time.Duration
	// AbsoluteLifetime bounds a session's life from sign-in (default 14
	// days, Logto's refresh-token lifetime).
	AbsoluteLifetime time.Duration
	// Now is the clock (default time.Now). Expiry decisions use it; Redis
	// TTLs necessarily run on real time.
	Now func() time.Time
	// Logger receives store problems that do not fail the call (e.g. a
	// failed sliding touch). Default: discard.
	Logger *slog.Logger
}

func (c Config) normalized() (Config, error) {
	if len(c.Secret) < config.MinSecretBytes {
		return c, fmt.Errorf("session: secret must be at least %d bytes, got %d", config.MinSecretBytes, len(c.Secret))
	}
	if c.IdleTimeout < 0 || c.AbsoluteLifetime < 0 {
		return c, errors.New("session: durations must not be negative")
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = config.DefaultSessionIdleTimeout
	}
	if c.AbsoluteLifetime == 0 {
		c.AbsoluteLifetime = config.DefaultSessionLifetime
	}
	if c.IdleTimeout < time.Second || c.AbsoluteLifetime < time.Second {
		return c, errors.New("session: IdleTimeout and AbsoluteLifetime must be at least 1s")
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return c, nil
}

// Record is everything kept server-side for one signed-in browser. Its
// JSON is what the store holds.
type Record struct {
	Subject string `json:"sub"`
	// SID is the Logto session id (the ID token's sid claim), if any; it
	// keys back-channel logout.
	SID string `json:"sid,omitempty"`
	// Me is the `user` object /api/me returns, rendered once at sign-in or
	// refresh and served as is.
	Me json.RawMessage `json:"me,omitempty"`
	// Tokens never leave the server.
	Tokens          authflow.Tokens `json:"tokens"`
	AuthenticatedAt time.Time       `json:"authenticated_at"`
	CreatedAt       time.Time       `json:"created_at"`
	// ExpiresAt is the absolute end of the session.
	ExpiresAt time.Time `json:"expires_at"`
	// Version is bumped by Manager.Save on every save (i.e. every token
	// change); callers may compare it after Reload.
	Version int64 `json:"version"`
	// LastTouched is maintained by the Manager: the last time the idle
	// deadline was pushed forward.
	LastTouched time.Time `json:"last_touched"`
}

// Session is a loaded session: its Record plus the (unexported) id. The id
// never leaves the package; use LockKey to serialize work on a session.
type Session struct {
	Record
	id      string
	raw     []byte // the stored bytes this Record was decoded from
	indexed bool   // listed in this release's indexes (storedRecord.Layout)
}

// layoutIndexed marks a stored record whose session is listed in this
// release's indexes. The previous release wrote no Layout (and ignores it
// when it reads, since unknown JSON fields are skipped): a record without it
// is indexed and rewritten on first use.
const layoutIndexed = 2

// storedRecord is the JSON the store holds for a session: the Record's
// fields plus the layout marker, in one flat object.
type storedRecord struct {
	Record
	Layout int `json:"layout,omitempty"`
}

// LockKey is a stable key for Manager.Lock that identifies this session
// without revealing its id (a hash of it). Two Session values loaded from
// the same session have the same LockKey.
func (s *Session) LockKey() string {
	h := sha256.Sum256([]byte("bff session lock\x00" + s.id))
	return "session:" + hex.EncodeToString(h[:16])
}

// Manager owns sessions, back-channel-logout indexes, single-use marks and locks
// over one store.Store (memory or Redis): every job is written once, above
// the contract. It is safe for concurrent use.
type Manager struct {
	cfg        Config
	st         store.Store
	gin        *ginStore
	cookie     cookieCodec
	recs       *recordCache
	locks      keyedMutex
	closeOnce  func() error
	cookieName string
	maxIndexed int
}

// New returns a Manager over st, which it owns: Close closes st. Every
// Manager sharing one store (replicas sharing a Redis) sees the same
// sessions. It fails only on a bad configuration: a store that cannot be
// reached at start is not an error; Ping reports it, and calls return
// ErrUnavailable until it is back.
func New(cfg Config, st store.Store) (*Manager, error) {
	cfg, err := cfg.normalized()
	if err != nil {
		return nil, err
	}
	cc, err := newCookieCodec(cfg)
	if err != nil {
		return nil, err
	}
	m := &Manager{cfg: cfg, st: st, cookie: cc, recs: newRecordCache(recordCacheSize), maxIndexed: defaultMaxIndexed}
	m.cookieName = cookieName(cfg.Secure)
	m.gin = &ginStore{st: st, codecs: cc.codecs()}
	m.gin.Options(sessions.Options{Path: "/", HttpOnly: true, Secure: cfg.Secure, SameSite: http.SameSiteStrictMode, MaxAge: cc.maxAge})
	m.closeOnce = onceErr(st.Close)
	return m, nil
}

// CookieName is the session cookie's name: "__Host-bff-session" when
// Secure, else "bff-session".
func (m *Manager) CookieName() string { return m.cookieName }

// Ping checks that the store answers. A nil error means reachable; any
// error wraps ErrUnavailable.
func (m *Manager) Ping(ctx context.Context) error {
	if err := m.st.Ping(ctx); err != nil {
		return unavailable(err)
	}
	return nil
}

// Close closes the store (its connections, or the memory janitor). Calls
// after the first return its result again.
func (m *Manager) Close() error { return m.closeOnce() }
