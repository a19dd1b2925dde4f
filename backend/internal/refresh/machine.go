package refresh

import (
	"context"
	"errors"
	"time"

	"github.com/logto-bff/bff/backend/internal/authflow"
	"github.com/logto-bff/bff/backend/internal/metrics"
	"github.com/logto-bff/bff/backend/internal/session"
)

// grantFunc runs one token grant on cur (the reloaded session, held under
// its lock) and updates cur.Tokens.
type grantFunc func(ctx context.Context, client *authflow.Client, cur *session.Session) error

// underLock is the one refresh path: Lock → Reload → grant if still
// needed → Save → unlock. stale reports whether the reloaded session still
// needs the grant; when it does not, another request refreshed meanwhile
// and the reloaded session is returned ("waited"). expiry is the expiry of
// the token the caller holds: while it is valid, waiting for the lock is
// bounded by it too (the caller can serve that token instead).
func (r *Refresher) underLock(ctx context.Context, sess *session.Session, expiry time.Time, stale func(*session.Session) bool, grant grantFunc) (*session.Session, error) {
	client, err := r.clients.Client()
	if err != nil {
		return nil, err
	}
	// One budget for waiting and refreshing: a request that waited for
	// another's failed refresh does not then take as long again.
	deadline := time.Now().Add(r.budget)
	unlock, err := r.lock(ctx, sess.LockKey(), deadline, expiry)
	if err != nil {
		r.storeError("lock", err)
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
	cur, err := r.sessions.Reload(work, sess)
	if err != nil {
		r.storeError("reload", err)
		return nil, err
	}
	if Ended(cur) {
		return nil, ErrSessionEnded
	}
	if !stale(cur) {
		r.metrics.Refresh(metrics.RefreshWaited)
		return cur, nil
	}
	if time.Until(deadline) < minGrantTime {
		return nil, ErrBusy
	}
	if err := grant(work, client, cur); err != nil {
		return nil, r.grantFailed(work, cur, err)
	}
	if err := r.sessions.Save(work, cur); err != nil {
		r.storeError("save", err)
		switch {
		case errors.Is(err, session.ErrNoSession):
			// Signed out (or logged out by Logto) while refreshing: the new
			// refresh token belongs to no session any more.
			r.revoke(work, client, cur.Tokens.RefreshToken)
		case errors.Is(err, session.ErrUnavailable):
			// Logto has rotated the refresh token but the store is down: the
			// only copy of the new one is here. Keep the lock and keep trying
			// in the background; this request gets the error.
			keepLock = true
			r.bg.Go("refresh-save", func(bg context.Context) { r.saveRotated(bg, client, cur, unlock) })
		case errors.Is(err, session.ErrConflict):
			// Another writer saved the session while this one held the lock
			// (its lease was lost). Never revoke here: every refresh token
			// of a grant is one grant at Logto, and revoking ours would end
			// the session that writer has just saved. Use what it saved.
			r.log.WarnContext(work, "refreshed tokens not saved: the session was saved by another writer meanwhile")
			if newer, rerr := r.sessions.Reload(work, sess); rerr == nil && !Ended(newer) && !stale(newer) {
				return newer, nil
			}
			return nil, ErrBusy
		}
		return nil, err
	}
	r.metrics.Refresh(metrics.RefreshSuccess)
	return cur, nil
}

// lock takes the session's lock, waiting until deadline — but, while the
// caller's token (expiring at expiry) is valid, no longer than it stays
// valid: then ErrBusy lets the caller serve that token. A token that
// expires during the wait makes the wait go on until deadline (the caller
// needs the refresh now). ErrBusy when deadline passes.
func (r *Refresher) lock(ctx context.Context, key string, deadline, expiry time.Time) (func(), error) {
	for {
		wait, bounded := time.Until(deadline), false
		if r.valid(expiry) {
			if left := expiry.Sub(r.now()); left < wait {
				wait, bounded = left, true
			}
		}
		lockCtx, cancel := context.WithTimeout(ctx, wait)
		unlock, err := r.sessions.Lock(lockCtx, key, LockTTL)
		cancel()
		switch {
		case err == nil:
			return unlock, nil
		case ctx.Err() != nil || !errors.Is(err, context.DeadlineExceeded):
			return nil, err
		case !bounded || r.valid(expiry):
			return nil, ErrBusy
		}
		// The token expired while this request waited: wait on.
	}
}

// saveRotated retries saving cur — whose tokens Logto has already rotated —
// until the store takes it, the session turns out to be gone, pendingSaveFor
// passes or ctx (the background tracker's) ends; then it releases the
// session's lock. Holding the lock meanwhile makes every other request, on
// every replica, wait instead of refreshing with the consumed refresh token.
func (r *Refresher) saveRotated(ctx context.Context, client *authflow.Client, cur *session.Session, unlock func()) {
	defer unlock()
	ctx, cancel := context.WithTimeout(ctx, pendingSaveFor)
	defer cancel()
	delay := 50 * time.Millisecond
	for {
		select {
		case <-ctx.Done():
			r.log.Error("gave up saving refreshed tokens; the session will end at its next refresh")
			return
		case <-time.After(delay):
		}
		attempt, cancelAttempt := context.WithTimeout(ctx, 2*time.Second)
		err := r.sessions.Save(attempt, cur)
		cancelAttempt()
		switch {
		case err == nil:
			r.log.Info("refreshed tokens saved after a session-store outage")
			return
		case errors.Is(err, session.ErrNoSession):
			r.revoke(context.WithoutCancel(ctx), client, cur.Tokens.RefreshToken)
			return
		case errors.Is(err, session.ErrConflict):
			// A newer save won (see the note in run): keep it, revoke nothing.
			r.log.Warn("refreshed tokens not saved: the session was saved by another writer meanwhile")
			return
		}
		delay = min(delay*2, 2*time.Second)
	}
}

// grantFailed classifies a failed grant. invalid_grant ends the session
// (tombstone); anything else keeps it.
func (r *Refresher) grantFailed(ctx context.Context, cur *session.Session, err error) error {
	switch {
	case errors.Is(err, authflow.ErrGrantInvalid):
		r.metrics.Refresh(metrics.RefreshExpired)
		r.log.InfoContext(ctx, "refresh token rejected; session ended", "error", err.Error())
		r.endSession(ctx, cur)
		return ErrSessionEnded
	case errors.Is(err, authflow.ErrRejected):
		return &RefusedError{Code: authflow.OAuthErrorCode(err), err: err}
	default:
		return err
	}
}

// endSession replaces cur by its tombstone: no tokens, no user, ending
// within TombstoneTTL. Failure is logged: the dead refresh token makes the
// next attempt end it again.
func (r *Refresher) endSession(ctx context.Context, cur *session.Session) {
	cur.Tokens = authflow.Tokens{}
	cur.Me = nil
	if end := r.now().Add(TombstoneTTL); end.Before(cur.ExpiresAt) {
		cur.ExpiresAt = end
	}
	if err := r.sessions.Save(ctx, cur); err != nil && !errors.Is(err, session.ErrNoSession) {
		r.storeError("save", err)
		r.log.WarnContext(ctx, "could not mark the ended session", "error", err.Error())
	}
}

// revoke hands an orphaned refresh token to the Revoker, if any.
func (r *Refresher) revoke(ctx context.Context, client *authflow.Client, refreshToken string) {
	if r.revoker != nil && refreshToken != "" {
		r.revoker.Revoke(ctx, client, refreshToken)
	}
}

// storeError counts a session-store failure of operation op.
func (r *Refresher) storeError(op string, err error) {
	if errors.Is(err, session.ErrUnavailable) {
		r.metrics.StoreError(op)
	}
}
