// Package revocation revokes refresh tokens that no session holds any
// more — after a sign-out, a back-channel logout, or a refresh that raced
// one — at Logto's revocation endpoint. Logto's end session leaves
// offline_access grants alive, so without this the grant would outlive the
// session until the refresh token expires.
//
// Revocations that run after their request has been answered go through a
// background.Tracker, so shutdown waits for them (bounded).
package revocation

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/logto-bff/bff/backend/internal/authflow"
	"github.com/logto-bff/bff/backend/internal/background"
)

// Timeout bounds one revocation request to Logto.
const Timeout = 5 * time.Second

// Config are a Revoker's dependencies.
type Config struct {
	// Background runs Later's revocations; nil gives the Revoker a tracker
	// of its own (never drained).
	Background *background.Tracker
	// Logger receives failures (never a token); nil discards.
	Logger *slog.Logger
}

// Revoker revokes refresh tokens. It is safe for concurrent use.
type Revoker struct {
	bg  *background.Tracker
	log *slog.Logger
}

// New returns a Revoker for cfg.
func New(cfg Config) *Revoker {
	r := &Revoker{bg: cfg.Background, log: cfg.Logger}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	if r.bg == nil {
		r.bg = background.New(r.log)
	}
	return r
}

// Revoke revokes refreshToken now, within Timeout, whether or not ctx is
// cancelled (a departing browser must not leave the grant alive). A
// failure is logged, not returned: signing out locally must not depend on
// Logto. An empty token is a no-op.
func (r *Revoker) Revoke(ctx context.Context, client *authflow.Client, refreshToken string) {
	if refreshToken == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), Timeout)
	defer cancel()
	r.revoke(ctx, client, refreshToken)
}

// Later revokes refreshTokens in one tracked background task and returns at
// once (the back-channel logout answers Logto first).
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
		for _, t := range tokens {
			attempt, cancel := context.WithTimeout(ctx, Timeout)
			r.revoke(attempt, client, t)
			cancel()
		}
	})
}

// revoke makes one revocation request and logs its failure.
func (r *Revoker) revoke(ctx context.Context, client *authflow.Client, refreshToken string) {
	err := client.Revoke(ctx, refreshToken)
	if err == nil {
		return
	}
	level := slog.LevelWarn
	if errors.Is(err, authflow.ErrRejected) {
		level = slog.LevelInfo // already revoked or expired
	}
	r.log.Log(ctx, level, "refresh token revocation failed", "error", err.Error())
}
