// Package revocation revokes refresh tokens that no session holds any
// more — after a sign-out, a back-channel logout, or a refresh that raced
// one — at Logto's revocation endpoint. Logto's end session leaves
// offline_access grants alive, so without this the grant would outlive the
// session until the refresh token expires.
//
// Revocations that run after their request has been answered go through a
// background.Tracker, so shutdown waits for them (bounded). A revocation
// that could not be delivered — Logto down, or a shutdown that could not
// wait — is recorded in the shared store (Config.Store) and retried by the
// sweep of any replica (Run) until it is delivered or the refresh token
// would have expired (Config.RetryFor). Tokens never reach a log line.
package revocation

import (
	"context"
	"crypto/rand"
	"errors"
	"log/slog"
	"time"

	"github.com/logto-bff/bff/backend/internal/authflow"
	"github.com/logto-bff/bff/backend/internal/background"
	"github.com/logto-bff/bff/backend/internal/store"
)

// Timeout bounds one revocation request to Logto.
const Timeout = 5 * time.Second

// Config are a Revoker's dependencies; every field is optional.
type Config struct {
	// Background runs Later's revocations; nil gives the Revoker a tracker
	// of its own (never drained).
	Background *background.Tracker
	// Store keeps undelivered revocations for any replica to retry (the
	// store the sessions live in). Nil: failures are only logged.
	Store store.Store
	// RetryFor is how long an undelivered revocation is retried (default
	// DefaultRetryFor, Logto's default refresh-token lifetime).
	RetryFor time.Duration
	// SweepEvery is the average interval of Run's sweeps (default
	// DefaultSweepEvery).
	SweepEvery time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Logger receives failures (never a token); nil discards.
	Logger *slog.Logger
}

// Revoker revokes refresh tokens. It is safe for concurrent use.
type Revoker struct {
	bg         *background.Tracker
	store      store.Store
	retryFor   time.Duration
	sweepEvery time.Duration
	now        func() time.Time
	log        *slog.Logger
	id         string // this replica's sweep-lease token
}

// New returns a Revoker for cfg.
func New(cfg Config) *Revoker {
	r := &Revoker{
		bg: cfg.Background, store: cfg.Store, retryFor: cfg.RetryFor, sweepEvery: cfg.SweepEvery,
		now: cfg.Now, log: cfg.Logger, id: rand.Text(),
	}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	if r.bg == nil {
		r.bg = background.New(r.log)
	}
	if r.retryFor <= 0 {
		r.retryFor = DefaultRetryFor
	}
	if r.sweepEvery <= 0 {
		r.sweepEvery = DefaultSweepEvery
	}
	if r.now == nil {
		r.now = time.Now
	}
	return r
}

// Revoke revokes refreshToken now, within Timeout, whether or not ctx is
// cancelled (a departing browser must not leave the grant alive). When
// Logto cannot be reached the revocation is recorded for retry. Nothing is
// returned: signing out locally must not depend on Logto. An empty token is
// a no-op.
func (r *Revoker) Revoke(ctx context.Context, client *authflow.Client, refreshToken string) {
	if refreshToken == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), Timeout)
	defer cancel()
	if r.revoke(ctx, client, refreshToken) {
		return
	}
	rec, cancelRec := context.WithTimeout(context.WithoutCancel(ctx), Timeout)
	defer cancelRec()
	r.recordOrLog(rec, []string{refreshToken})
}

// Later revokes refreshTokens in one tracked background task and returns at
// once (the back-channel logout answers Logto first). The task records the
// tokens before it tries them, so that a crash or a shutdown that cannot
// wait leaves them for another replica's sweep; it removes them as they are
// delivered.
func (r *Revoker) Later(client *authflow.Client, refreshTokens ...string) {
	var tokens []string
	for _, t := range refreshTokens {
		if t != "" {
			tokens = append(tokens, t)
		}
	}
	if len(tokens) == 0 {
		return
	}
	r.bg.Go("revoke", func(ctx context.Context) {
		// Recorded even when the drain has already given up on tasks: it
		// is what lets another replica finish the job.
		rec, cancel := context.WithTimeout(context.WithoutCancel(ctx), Timeout)
		recorded := r.recordOrLog(rec, tokens)
		cancel()
		var done []string
		for i, t := range tokens {
			if ctx.Err() != nil {
				if !recorded {
					r.log.Error("refresh token revocations lost at shutdown", "lost", len(tokens)-i)
				}
				break
			}
			attempt, cancel := context.WithTimeout(ctx, Timeout)
			ok := r.revoke(attempt, client, t)
			cancel()
			if ok {
				done = append(done, t)
			} else if !recorded {
				// Not recorded before (store down): try again now.
				rec, cancel := context.WithTimeout(context.WithoutCancel(ctx), Timeout)
				r.recordOrLog(rec, []string{t})
				cancel()
			}
		}
		if recorded && len(done) > 0 {
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), Timeout)
			defer cancel()
			if err := r.forget(fctx, done); err != nil {
				// They will be revoked again by a sweep: harmless.
				r.log.Warn("could not clear delivered revocations", "error", err.Error())
			}
		}
	})
}

// revoke makes one revocation request. It reports whether the token needs
// no retry: delivered, or refused for good (already revoked or expired).
func (r *Revoker) revoke(ctx context.Context, client *authflow.Client, refreshToken string) bool {
	err := client.Revoke(ctx, refreshToken)
	if err == nil {
		return true
	}
	if errors.Is(err, authflow.ErrRejected) {
		r.log.Log(ctx, slog.LevelInfo, "refresh token revocation refused (already revoked or expired)", "error", err.Error())
		return true
	}
	r.log.Log(ctx, slog.LevelWarn, "refresh token revocation failed", "error", err.Error())
	return false
}

// recordOrLog records tokens for retry and reports whether it did; a
// failure (or no store) is logged.
func (r *Revoker) recordOrLog(ctx context.Context, tokens []string) bool {
	if r.store == nil {
		return false
	}
	if err := r.record(ctx, tokens); err != nil {
		r.log.Error("could not record refresh tokens for a later revocation", "tokens", len(tokens), "error", err.Error())
		return false
	}
	return true
}
