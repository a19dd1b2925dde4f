package httpapi

import (
	"context"
	"errors"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/logto-bff/bff/backend/internal/authflow"
	"github.com/logto-bff/bff/backend/internal/metrics"
	"github.com/logto-bff/bff/backend/internal/session"
)

// Token refresh: transparent, server-side, on the request that needs it.
//
// A session's tokens change only under session.Manager.Lock(s.LockKey()),
// which is an in-process per-session mutex plus a Redis lease shared by
// every replica, and only after Reload: a request that waited for the lock
// finds the tokens another request (or replica) has just refreshed and uses
// them ("waited") instead of presenting the consumed refresh token again,
// which Logto punishes by revoking the whole grant. The new refresh token
// is stored after every grant, resource and organization grants included.
//
// When Logto answers invalid_grant the session ends: it is replaced, under
// the same id, by a tombstone (no tokens, no user) that lives tombstoneTTL
// (or until the session's own end, if sooner). Every request with that
// cookie — on any replica, since the tombstone is in the shared store —
// answers 401 session_expired rather than unauthorized until it expires or
// the browser signs in again. A network error or 5xx from Logto is
// transient: 503 idp_unavailable, the session is kept unchanged.

const (
	// lockTTL is the refresh lock's lease; it is renewed (every third of
	// it) while held, so it only bounds how long a crashed holder blocks the
	// session on other replicas.
	lockTTL = 10 * time.Second
	// pendingSaveFor bounds how long a replica keeps retrying to save tokens
	// that Logto has already rotated when the store failed right after the
	// grant. Meanwhile it keeps the session's lock, so no request anywhere
	// presents the consumed refresh token (which would revoke the grant).
	pendingSaveFor = 5 * time.Minute
	// minGrantTime: a request that got the lock with less of its time
	// budget (requestTimeout, waiting included) left answers 503 rather
	// than start a grant it would likely abandon half way.
	minGrantTime = 2 * time.Second
	// tombstoneTTL is how long an ended session keeps answering
	// session_expired.
	tombstoneTTL = 10 * time.Minute
)

var (
	// errSessionExpired: Logto rejected the refresh token (invalid_grant)
	// or there is none left; the session has ended.
	errSessionExpired = errors.New("session ended: refresh token rejected")
	// errRefreshBusy: another request's refresh held the lock too long.
	errRefreshBusy = errors.New("timed out waiting for a concurrent token refresh")
)

// tokenRefusedError is an OAuth rejection of a token request other than
// invalid_grant (e.g. invalid_target, access_denied): the session is kept.
type tokenRefusedError struct {
	code string // the OAuth error code, for errorFor and the log
	err  error
}

func (e *tokenRefusedError) Error() string { return "token request refused: " + e.err.Error() }
func (e *tokenRefusedError) Unwrap() error { return e.err }

// ended reports whether s is the tombstone of a session whose grant Logto
// rejected.
func ended(s *session.Session) bool {
	return s.Tokens.AccessToken == "" && s.Tokens.RefreshToken == ""
}

// currentSession loads the request's session and refreshes its tokens
// when the access token expires within the refresh margin.
// session.ErrNoSession when signed out, errSessionExpired when the session
// ended at Logto, session.ErrUnavailable / authflow.ErrUnavailable when the
// store / Logto is down (the session is kept).
func (s *server) currentSession(c *gin.Context) (*session.Session, error) {
	sess, err := s.sessions.Load(c.Writer, c.Request)
	if err != nil {
		s.storeError("load", err)
		return nil, err
	}
	return s.freshSession(c.Request.Context(), sess)
}

// freshSession returns sess, or its refreshed copy when its access token
// expires within the margin.
func (s *server) freshSession(ctx context.Context, sess *session.Session) (*session.Session, error) {
	if ended(sess) {
		return nil, errSessionExpired
	}
	stale := func(cur *session.Session) bool {
		return authflow.NeedsRefresh(cur.Tokens.AccessTokenExpiry, s.now(), s.margin)
	}
	if !stale(sess) {
		return sess, nil
	}
	return s.underLock(ctx, sess, stale, func(ctx context.Context, client *authflow.Client, cur *session.Session) error {
		out, err := client.Refresh(ctx, cur.Tokens, cur.Subject)
		if err != nil {
			return err
		}
		if out.IDTokenErr != nil {
			s.log.WarnContext(ctx, "refreshed ID token not kept", "error", out.IDTokenErr.Error())
		}
		cur.Tokens = out.Tokens
		return nil
	})
}

// resourceToken returns an access token for resource and/or organization
// from sess's cache, or obtains one (refresh_token grant with resource= or
// organization_id=) under the session's lock and caches it until it
// expires within the margin.
func (s *server) resourceToken(ctx context.Context, sess *session.Session, resource, organization string) (string, error) {
	if ended(sess) {
		return "", errSessionExpired
	}
	key := authflow.ResourceKey(resource, organization)
	stale := func(cur *session.Session) bool {
		rt, ok := cur.Tokens.Resources[key]
		return !ok || rt.AccessToken == "" || authflow.NeedsRefresh(rt.Expiry, s.now(), s.margin)
	}
	if !stale(sess) {
		return sess.Tokens.Resources[key].AccessToken, nil
	}
	cur, err := s.underLock(ctx, sess, stale, func(ctx context.Context, client *authflow.Client, cur *session.Session) error {
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
		return "", err
	}
	return cur.Tokens.Resources[key].AccessToken, nil
}

// grantFunc runs one token grant on cur (the reloaded session, held under
// its lock) and updates cur.Tokens.
type grantFunc func(ctx context.Context, client *authflow.Client, cur *session.Session) error

// underLock is the one refresh path: Lock → Reload → grant if still
// needed → Save → unlock. stale reports whether the reloaded session still
// needs the grant; when it does not, another request refreshed meanwhile
// and the reloaded session is returned ("waited").
func (s *server) underLock(ctx context.Context, sess *session.Session, stale func(*session.Session) bool, grant grantFunc) (*session.Session, error) {
	client, err := s.auth.Client()
	if err != nil {
		return nil, err
	}
	// One budget for waiting and refreshing: a request that waited for
	// another's failed refresh does not then take as long again.
	deadline := time.Now().Add(requestTimeout)
	lockCtx, cancelLock := context.WithDeadline(ctx, deadline)
	unlock, err := s.sessions.Lock(lockCtx, sess.LockKey(), lockTTL)
	cancelLock()
	if err != nil {
		s.storeError("lock", err)
		if ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
			return nil, errRefreshBusy
		}
		return nil, err
	}
	keepLock := false
	defer func() {
		if !keepLock {
			unlock()
		}
	}()

	// From here on the browser leaving must not cancel anything: once Logto
	// has rotated the refresh token, losing its answer (or not saving it)
	// ends the session.
	work, cancel := context.WithDeadline(context.WithoutCancel(ctx), deadline)
	defer cancel()
	cur, err := s.sessions.Reload(work, sess)
	if err != nil {
		s.storeError("reload", err)
		return nil, err
	}
	if ended(cur) {
		return nil, errSessionExpired
	}
	if !stale(cur) {
		s.metrics.Refresh(metrics.RefreshWaited)
		return cur, nil
	}
	if time.Until(deadline) < minGrantTime {
		s.metrics.Refresh(metrics.RefreshFailure)
		return nil, errRefreshBusy
	}
	if err := grant(work, client, cur); err != nil {
		return nil, s.grantFailed(work, cur, err)
	}
	if err := s.sessions.Save(work, cur); err != nil {
		s.storeError("save", err)
		s.metrics.Refresh(metrics.RefreshFailure)
		switch {
		case errors.Is(err, session.ErrNoSession):
			// Signed out (or logged out by Logto) while refreshing: the new
			// refresh token belongs to no session any more.
			s.revokeQuietly(client, cur.Tokens.RefreshToken)
		case errors.Is(err, session.ErrUnavailable):
			// Logto has rotated the refresh token but the store is down: the
			// only copy of the new one is here. Keep the lock and keep trying
			// in the background; this request answers 503.
			keepLock = true
			go s.saveRotated(client, cur, unlock)
		}
		return nil, err
	}
	s.metrics.Refresh(metrics.RefreshSuccess)
	return cur, nil
}

// saveRotated retries saving cur — whose tokens Logto has already rotated —
// until the store takes it, the session turns out to be gone, or
// pendingSaveFor passes; then it releases the session's lock. Holding the
// lock meanwhile makes every other request, on every replica, wait (503)
// instead of refreshing with the consumed refresh token.
func (s *server) saveRotated(client *authflow.Client, cur *session.Session, unlock func()) {
	defer unlock()
	ctx, cancel := context.WithTimeout(context.Background(), pendingSaveFor)
	defer cancel()
	delay := 50 * time.Millisecond
	for {
		select {
		case <-ctx.Done():
			s.log.Error("gave up saving refreshed tokens; the session will end at its next refresh")
			return
		case <-time.After(delay):
		}
		attempt, cancelAttempt := context.WithTimeout(ctx, 2*time.Second)
		err := s.sessions.Save(attempt, cur)
		cancelAttempt()
		switch {
		case err == nil:
			s.log.Info("refreshed tokens saved after a session-store outage")
			return
		case errors.Is(err, session.ErrNoSession):
			s.revokeQuietly(client, cur.Tokens.RefreshToken)
			return
		}
		delay = min(delay*2, 2*time.Second)
	}
}

// grantFailed classifies a failed grant. invalid_grant ends the session
// (tombstone); anything else keeps it.
func (s *server) grantFailed(ctx context.Context, cur *session.Session, err error) error {
	switch {
	case errors.Is(err, authflow.ErrGrantInvalid):
		s.metrics.Refresh(metrics.RefreshExpired)
		s.log.InfoContext(ctx, "refresh token rejected; session ended", "error", err.Error())
		s.endSession(ctx, cur)
		return errSessionExpired
	case errors.Is(err, authflow.ErrRejected):
		s.metrics.Refresh(metrics.RefreshFailure)
		return &tokenRefusedError{code: authflow.OAuthErrorCode(err), err: err}
	default:
		s.metrics.Refresh(metrics.RefreshFailure)
		return err
	}
}

// endSession replaces cur by its tombstone: no tokens, no user, ending
// within tombstoneTTL. Failure is logged: the dead refresh token makes the
// next attempt end it again.
func (s *server) endSession(ctx context.Context, cur *session.Session) {
	cur.Tokens = authflow.Tokens{}
	cur.Me = nil
	if end := s.now().Add(tombstoneTTL); end.Before(cur.ExpiresAt) {
		cur.ExpiresAt = end
	}
	if err := s.sessions.Save(ctx, cur); err != nil && !errors.Is(err, session.ErrNoSession) {
		s.storeError("save", err)
		s.log.WarnContext(ctx, "could not mark the ended session", "error", err.Error())
	}
}

// storeError counts a session-store failure of operation op.
func (s *server) storeError(op string, err error) {
	if errors.Is(err, session.ErrUnavailable) {
		s.metrics.StoreError(op)
	}
}
