package signin

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"time"

	"github.com/logto-bff/bff/backend/internal/authflow"
	"github.com/logto-bff/bff/backend/internal/config"
)

// Defaults applied by New to zero Config fields.
const (
	// DefaultTTL is how long a state waits for its callback.
	DefaultTTL = 10 * time.Minute
	// DefaultMaxPending bounds the pending sign-ins of one browser.
	DefaultMaxPending = 5
	// maxPendingLimit keeps the binding cookie small whatever the config.
	maxPendingLimit = 20
)

// markPrefix is the purpose prefix of the single-use marks.
const markPrefix = "signin-state\x00"

// Marker records single-use marks shared by every replica:
// session.Manager's MarkOnce. Of any number of calls with the same key
// within ttl, exactly one gets true.
type Marker interface {
	MarkOnce(ctx context.Context, key string, ttl time.Duration) (bool, error)
}

// Config configures a Keeper.
type Config struct {
	// Secret is BFF_SESSION_SECRET (at least config.MinSecretBytes bytes); the
	// state key is derived from it under its own HKDF label.
	Secret []byte
	// Secure sets the Secure attribute and the __Host- cookie-name prefix.
	Secure bool
	// Marker makes states single-use (required).
	Marker Marker
	// TTL bounds how long a state waits for its callback (default 10m);
	// it is also the binding cookie's Max-Age.
	TTL time.Duration
	// MaxPending bounds the handles one browser holds (default 5, at most
	// 20); beginning one more drops the oldest.
	MaxPending int
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Rand is the source of handles and AEAD nonces (default crypto/rand).
	Rand io.Reader
}

// Keeper begins and finishes sign-ins whose pending state travels with
// the browser (see the package comment). It is safe for concurrent use.
type Keeper struct {
	seal       *sealer
	marker     Marker
	cookieName string
	secure     bool
	ttl        time.Duration
	maxPending int
	rand       io.Reader
}

// New returns a Keeper for cfg.
func New(cfg Config) (*Keeper, error) {
	if len(cfg.Secret) < config.MinSecretBytes {
		return nil, fmt.Errorf("signin: secret must be at least %d bytes, got %d", config.MinSecretBytes, len(cfg.Secret))
	}
	if cfg.Marker == nil {
		return nil, errors.New("signin: Marker is required")
	}
	if cfg.TTL < 0 || cfg.MaxPending < 0 || cfg.MaxPending > maxPendingLimit {
		return nil, fmt.Errorf("signin: TTL must not be negative and MaxPending must be 0..%d", maxPendingLimit)
	}
	if cfg.TTL == 0 {
		cfg.TTL = DefaultTTL
	}
	if cfg.TTL < time.Second {
		return nil, errors.New("signin: TTL must be at least 1s")
	}
	if cfg.MaxPending == 0 {
		cfg.MaxPending = DefaultMaxPending
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Rand == nil {
		cfg.Rand = defaultRand
	}
	s, err := newSealer(cfg.Secret, cfg.TTL, cfg.Now, cfg.Rand)
	if err != nil {
		return nil, err
	}
	name := "bff-signin"
	if cfg.Secure {
		name = "__Host-bff-signin"
	}
	return &Keeper{seal: s, marker: cfg.Marker, cookieName: name, secure: cfg.Secure,
		ttl: cfg.TTL, maxPending: cfg.MaxPending, rand: cfg.Rand}, nil
}

// CookieName is the binding cookie's name: "__Host-bff-signin" when
// Secure, else "bff-signin".
func (k *Keeper) CookieName() string { return k.cookieName }

// Begin seals a (from authflow.Client.NewAttempt) into a new state bound
// to a new handle, adds the handle to the request's binding cookie
// (dropping the oldest beyond MaxPending) and sets the cookie on w. It
// returns a with State set and CreatedAt set to the Keeper's now (its
// expiry is judged by the same clock). It writes nothing to any store.
func (k *Keeper) Begin(w http.ResponseWriter, r *http.Request, a authflow.Attempt) (authflow.Attempt, error) {
	h, err := newHandle(k.rand)
	if err != nil {
		return a, err
	}
	a.CreatedAt = k.seal.now() // the clock that judges expiry stamps it
	state, err := k.seal.seal(h, a)
	if err != nil {
		return a, err
	}
	handles := append(k.handles(r), h)
	if len(handles) > k.maxPending {
		handles = handles[len(handles)-k.maxPending:]
	}
	k.setCookie(w, handles)
	a.State = state
	return a, nil
}

// Pending is a state that opened in this browser and is not yet consumed.
type Pending struct {
	// Attempt is the sealed attempt, with State set to the state.
	Attempt authflow.Attempt
	opened  *opened
}

// Open returns the pending sign-in sealed in state if it opens under a
// handle of the request's binding cookie and has not expired; else
// ErrInvalidState. It writes nothing (a forged callback cannot burn the
// victim's sign-in); Consume makes it single-use.
func (k *Keeper) Open(r *http.Request, state string) (*Pending, error) {
	o, err := k.seal.open(state, k.handles(r))
	if err != nil {
		return nil, err
	}
	return &Pending{Attempt: o.attempt, opened: o}, nil
}

// Consume marks p used on every replica (for the rest of its validity)
// and removes its handle from the binding cookie on w (deleting the
// cookie when it was the last). ErrInvalidState: p was already consumed
// (a replay, or a concurrent callback won). Other errors are the Marker's
// (session.ErrUnavailable): nothing was consumed, the caller answers 503.
func (k *Keeper) Consume(ctx context.Context, w http.ResponseWriter, r *http.Request, p *Pending) error {
	if p == nil || p.opened == nil {
		return ErrInvalidState
	}
	remaining := p.Attempt.CreatedAt.Add(k.ttl).Sub(k.seal.now()) + maxSkew
	fresh, err := k.marker.MarkOnce(ctx, markPrefix+hex.EncodeToString(p.opened.digest[:]), remaining)
	if err != nil {
		return fmt.Errorf("signin: mark state used: %w", err)
	}
	if !fresh {
		return ErrInvalidState
	}
	handles := slices.DeleteFunc(k.handles(r), func(h handle) bool { return h == p.opened.handle })
	k.setCookie(w, handles)
	return nil
}

// handles returns the handles of the request's binding cookie, oldest
// first; none for a missing or malformed cookie.
func (k *Keeper) handles(r *http.Request) []handle {
	c, err := r.Cookie(k.cookieName)
	if err != nil || len(c.Value) > base64.RawURLEncoding.EncodedLen(maxPendingLimit*handleSize) {
		return nil
	}
	raw, err := base64.RawURLEncoding.Strict().DecodeString(c.Value)
	if err != nil || len(raw) == 0 || len(raw)%handleSize != 0 {
		return nil
	}
	hs := make([]handle, 0, len(raw)/handleSize)
	for i := 0; i < len(raw); i += handleSize {
		hs = append(hs, handle(raw[i:i+handleSize]))
	}
	if len(hs) > k.maxPending {
		hs = hs[len(hs)-k.maxPending:]
	}
	return hs
}

// setCookie writes the binding cookie holding handles (SameSite=Lax: it
// must come back on the top-level redirect from Logto to the callback),
// or deletes it when there are none.
func (k *Keeper) setCookie(w http.ResponseWriter, handles []handle) {
	c := &http.Cookie{
		Name:     k.cookieName,
		Path:     "/",
		MaxAge:   int(k.ttl / time.Second),
		Secure:   k.secure,
		HttpOnly: true,
		SameSite: http.SameSiteLaxMode,
	}
	if len(handles) == 0 {
		c.MaxAge = -1
	} else {
		raw := make([]byte, 0, len(handles)*handleSize)
		for _, h := range handles {
			raw = append(raw, h[:]...)
		}
		c.Value = base64.RawURLEncoding.EncodeToString(raw)
	}
	http.SetCookie(w, c)
}
