// Package refresh keeps a session's tokens fresh: the state machine that
// spans requests and replicas (lock → reload → grant if still needed →
// save), the tombstone of a session whose grant Logto rejected, and the
// background save of tokens Logto rotated while the store was down. It
// knows nothing of HTTP: package httpapi calls it and maps its errors.
//
// A session's tokens change only under Sessions.Lock(s.LockKey()), an
// in-process per-session mutex plus a lease in the shared store, and only
// after Reload: a request that waited for the lock finds the tokens another
// request (or replica) has just refreshed and uses them ("waited") instead
// of presenting the consumed refresh token again, which Logto punishes by
// revoking the whole grant. The new refresh token is stored after every
// grant, resource and organization grants included.
//
// A token is refreshed once it expires within its effective margin,
// Margin(configured, lifetime): the configured margin (BFF_REFRESH_MARGIN),
// but never more than 1/MarginDivisor of the token's issued lifetime, so a
// token shorter than the margin is still refreshed about once per lifetime
// rather than on every request.
//
// A refresh ahead of expiry is an optimisation: when it fails transiently
// (Logto unreachable, 5xx, timeout, the lock held too long, the store
// failing) the request is served with the current, still valid token, the
// failure is logged at warn and counted as "deferred". Only an expired
// token turns a transient failure into an error. When Logto answers
// invalid_grant the session ends at once, whatever the token's expiry: it
// is replaced, under the same id, by a tombstone (no tokens, no user) that
// lives TombstoneTTL (or until the session's own end, if sooner), so every
// request with that cookie, on every replica, gets ErrSessionEnded.
package refresh

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/logto-bff/bff/backend/internal/authflow"
	"github.com/logto-bff/bff/backend/internal/background"
	"github.com/logto-bff/bff/backend/internal/metrics"
	"github.com/logto-bff/bff/backend/internal/session"
)

const (
	// MarginDivisor bounds the effective refresh margin to 1/MarginDivisor
	// (5 %) of a token's issued lifetime: a 5 s token is refreshed in its
	// last 250 ms, a 15 s one in its last 750 ms, Logto's default one-hour
	// token in its last minute (the configured 60 s margin is smaller than
	// 3 min). Refreshing at 95 % of a lifetime keeps the grants at about
	// one per lifetime.
	MarginDivisor = 20
	// LockTTL is the refresh lock's lease; it is renewed (every third of
	// it) while held, so it only bounds how long a crashed holder blocks the
	// session on other replicas.
	LockTTL = 10 * time.Second
	// TombstoneTTL is how long an ended session keeps answering
	// ErrSessionEnded.
	TombstoneTTL = 10 * time.Minute
	// DefaultBudget is Config.Budget's default.
	DefaultBudget = 10 * time.Second
	// pendingSaveFor bounds how long a replica keeps retrying to save tokens
	// that Logto has already rotated when the store failed right after the
	// grant. Meanwhile it keeps the session's lock, so no request anywhere
	// presents the consumed refresh token (which would revoke the grant).
	pendingSaveFor = 5 * time.Minute
	// minGrantTime: a request that got the lock with less of its budget
	// left does not start a grant it would likely abandon half way.
	minGrantTime = 2 * time.Second
)

var (
	// ErrSessionEnded means Logto rejected the refresh token
	// (invalid_grant), or there is none left: the session has ended.
	ErrSessionEnded = errors.New("session ended: refresh token rejected")
	// ErrBusy means another request's refresh held the session's lock for
	// the whole budget (or left too little of it for a grant).
	ErrBusy = errors.New("timed out waiting for a concurrent token refresh")
)

// RefusedError is an OAuth rejection of a token request other than
// invalid_grant (e.g. invalid_target, access_denied): the session is kept.
type RefusedError struct {
	// Code is the OAuth error code, e.g. "invalid_target" ("" if none).
	Code string
	err  error
}

func (e *RefusedError) Error() string { return "token request refused: " + e.err.Error() }
func (e *RefusedError) Unwrap() error { return e.err }

// Sessions is what the state machine needs from the session layer: the
// lock, reload and save of session.Manager.
type Sessions interface {
	// Lock gives mutual exclusion on key across every replica until
	// unlock; see session.Manager.Lock.
	Lock(ctx context.Context, key string, ttl time.Duration) (unlock func(), err error)
	// Reload re-reads s from the store.
	Reload(ctx context.Context, s *session.Session) (*session.Session, error)
	// Save stores s under its id, never recreating a deleted session.
	Save(ctx context.Context, s *session.Session) error
}

var _ Sessions = (*session.Manager)(nil)

// Clients yields the discovered identity-provider client, or an error
// wrapping authflow.ErrUnavailable while there is none
// (*authflow.Discovery).
type Clients interface {
	Client() (*authflow.Client, error)
}

var _ Clients = (*authflow.Discovery)(nil)

// Revoker revokes a refresh token that no session holds any more (the
// session was deleted while its tokens were being refreshed). It must not
// block for long; failures are its own business.
type Revoker interface {
	Revoke(ctx context.Context, client *authflow.Client, refreshToken string)
}

// Config are a Refresher's dependencies. Clients and Sessions are
// required.
type Config struct {
	Clients  Clients
	Sessions Sessions
	// Margin is the configured refresh margin (BFF_REFRESH_MARGIN); see
	// Margin for the effective one.
	Margin time.Duration
	// Budget bounds one request's waiting for the lock plus its grant
	// (default DefaultBudget).
	Budget time.Duration
	// Now is the clock for expiry decisions (default time.Now); it must
	// agree with the session manager's and the authflow client's.
	Now func() time.Time
	// Logger receives warnings (deferred refreshes) and background events;
	// nil discards. Never a token.
	Logger *slog.Logger
	// Metrics counts refresh results and store errors; nil records nothing.
	Metrics *metrics.Metrics
	// Background runs the save of rotated tokens after a store failure;
	// nil gives the Refresher a tracker of its own (never drained).
	Background *background.Tracker
	// Revoker revokes refresh tokens orphaned by a concurrent sign-out;
	// nil leaves them to expire.
	Revoker Revoker
}

// Refresher runs the refresh state machine. Build it with New; it is safe
// for concurrent use.
type Refresher struct {
	clients  Clients
	sessions Sessions
	margin   time.Duration
	budget   time.Duration
	now      func() time.Time
	log      *slog.Logger
	metrics  *metrics.Metrics
	bg       *background.Tracker
	revoker  Revoker
}

// New returns a Refresher for cfg.
func New(cfg Config) (*Refresher, error) {
	if cfg.Clients == nil || cfg.Sessions == nil {
		return nil, errors.New("refresh: Clients and Sessions are required")
	}
	if cfg.Margin < 0 || cfg.Budget < 0 {
		return nil, errors.New("refresh: Margin and Budget must not be negative")
	}
	r := &Refresher{
		clients: cfg.Clients, sessions: cfg.Sessions, margin: cfg.Margin, budget: cfg.Budget,
		now: cfg.Now, log: cfg.Logger, metrics: cfg.Metrics, bg: cfg.Background, revoker: cfg.Revoker,
	}
	if r.budget == 0 {
		r.budget = DefaultBudget
	}
	if r.now == nil {
		r.now = time.Now
	}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	if r.bg == nil {
		r.bg = background.New(r.log)
	}
	return r, nil
}

// Margin is the effective refresh margin of a token issued with lifetime:
// the smaller of configured and lifetime/MarginDivisor. An unknown (zero)
// lifetime — a record written before lifetimes were kept — gives
// configured.
func Margin(configured, lifetime time.Duration) time.Duration {
	if lifetime <= 0 {
		return configured
	}
	return min(configured, lifetime/MarginDivisor)
}

// Ended reports whether s is the tombstone of a session whose grant Logto
// rejected.
func Ended(s *session.Session) bool {
	return s.Tokens.AccessToken == "" && s.Tokens.RefreshToken == ""
}

// Session returns sess, or its refreshed copy when its access token
// expires within its effective margin. A transient failure while the token
// is still valid returns sess itself (deferred).
//
// Errors: ErrSessionEnded (invalid_grant, or a tombstone);
// session.ErrNoSession (deleted meanwhile); and, only once the access token
// has expired, ErrBusy, authflow.ErrUnavailable or session.ErrUnavailable —
// all of which keep the session.
func (r *Refresher) Session(ctx context.Context, sess *session.Session) (*session.Session, error) {
	if Ended(sess) {
		return nil, ErrSessionEnded
	}
	t := sess.Tokens
	if !r.stale(t.AccessTokenExpiry, t.AccessTokenLifetime) {
		return sess, nil
	}
	stale := func(cur *session.Session) bool {
		return r.stale(cur.Tokens.AccessTokenExpiry, cur.Tokens.AccessTokenLifetime)
	}
	cur, err := r.underLock(ctx, sess, t.AccessTokenExpiry, stale, func(ctx context.Context, client *authflow.Client, cur *session.Session) error {
		out, err := client.Refresh(ctx, cur.Tokens, cur.Subject)
		if err != nil {
			return err
		}
		if out.IDTokenErr != nil {
			r.log.WarnContext(ctx, "refreshed ID token not kept", "error", out.IDTokenErr.Error())
		}
		cur.Tokens = out.Tokens
		return nil
	})
	if err != nil {
		if r.deferred(ctx, err, t.AccessTokenExpiry, "access_token") {
			return sess, nil
		}
		return nil, err
	}
	return cur, nil
}

// ResourceToken returns an access token for resource and/or organization
// from sess's cache, or obtains one (refresh_token grant with resource= or
// organization_id=) under the session's lock and caches it in the session
// until it expires within its effective margin. A transient failure while
// the cached token is still valid returns the cached token (deferred).
// Errors are those of Session, plus *RefusedError.
func (r *Refresher) ResourceToken(ctx context.Context, sess *session.Session, resource, organization string) (string, error) {
	if Ended(sess) {
		return "", ErrSessionEnded
	}
	key := authflow.ResourceKey(resource, organization)
	stale := func(cur *session.Session) bool {
		rt, ok := cur.Tokens.Resources[key]
		return !ok || rt.AccessToken == "" || r.stale(rt.Expiry, rt.Lifetime)
	}
	cached := sess.Tokens.Resources[key]
	if !stale(sess) {
		return cached.AccessToken, nil
	}
	cur, err := r.underLock(ctx, sess, cached.Expiry, stale, func(ctx context.Context, client *authflow.Client, cur *session.Session) error {
		rt, next, err := client.ResourceToken(ctx, cur.Tokens.RefreshToken, resource, organization)
		if err != nil {
			return err
		}
		cur.Tokens.RefreshToken = next
		resources := make(map[string]authflow.ResourceToken, len(cur.Tokens.Resources)+1)
		for k, v := range cur.Tokens.Resources {
			resources[k] = v
		}
		resources[key] = rt
		cur.Tokens.Resources = resources
		return nil
	})
	if err != nil {
		if cached.AccessToken != "" && r.deferred(ctx, err, cached.Expiry, "resource_token") {
			return cached.AccessToken, nil
		}
		return "", err
	}
	return cur.Tokens.Resources[key].AccessToken, nil
}

// stale reports whether a token expiring at expiry, issued with lifetime,
// is due for a refresh now. A zero expiry (unknown) counts as valid.
func (r *Refresher) stale(expiry time.Time, lifetime time.Duration) bool {
	return authflow.NeedsRefresh(expiry, r.now(), Margin(r.margin, lifetime))
}

// valid reports whether a token expiring at expiry can still be used now.
func (r *Refresher) valid(expiry time.Time) bool {
	return !expiry.IsZero() && r.now().Before(expiry)
}

// deferred reports whether err — a refresh that failed — may be ignored
// because it is transient and the token expiring at expiry is still valid;
// if so it logs and counts the deferral, else it counts a failure.
func (r *Refresher) deferred(ctx context.Context, err error, expiry time.Time, kind string) bool {
	if errors.Is(err, ErrSessionEnded) || errors.Is(err, session.ErrNoSession) {
		return false // the session is over: no refresh result to count
	}
	if transient(err) && r.valid(expiry) {
		r.metrics.Refresh(metrics.RefreshDeferred)
		r.log.WarnContext(ctx, "token refresh deferred: serving the current token until it expires",
			"token", kind, "expires_in", expiry.Sub(r.now()).Round(time.Millisecond).String(), "error", err.Error())
		return true
	}
	r.metrics.Refresh(metrics.RefreshFailure)
	return false
}

// transient reports whether a failed refresh may succeed later with the
// same session: Logto or the store unreachable, a timeout, the lock busy.
func transient(err error) bool {
	return errors.Is(err, authflow.ErrUnavailable) || errors.Is(err, session.ErrUnavailable) ||
		errors.Is(err, ErrBusy) || errors.Is(err, context.DeadlineExceeded)
}
