package authflow

import (
	"context"
	"io"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"
)

// Backoff bounds of Discovery's retries.
const (
	DefaultMinBackoff = 500 * time.Millisecond
	DefaultMaxBackoff = 30 * time.Second
)

// DiscoveryOptions tune StartDiscovery. The zero value is usable.
type DiscoveryOptions struct {
	// MinBackoff and MaxBackoff bound the exponential backoff between
	// attempts (defaults DefaultMinBackoff, DefaultMaxBackoff).
	MinBackoff, MaxBackoff time.Duration
	// Logger receives one line per failed attempt and one on success.
	Logger *slog.Logger
}

// Discovery discovers the provider in the background, retrying with
// exponential backoff and jitter until it succeeds or its context ends, so
// the BFF can start before Logto is up. It is safe for concurrent use.
type Discovery struct {
	mu      sync.RWMutex
	client  *Client
	lastErr error
	ready   chan struct{}
	done    chan struct{}
}

// StartDiscovery starts discovering cfg's provider in a goroutine that
// stops when ctx ends. Use Client to get the result.
func StartDiscovery(ctx context.Context, cfg Config, opts DiscoveryOptions) *Discovery {
	if opts.MinBackoff <= 0 {
		opts.MinBackoff = DefaultMinBackoff
	}
	if opts.MaxBackoff < opts.MinBackoff {
		opts.MaxBackoff = max(DefaultMaxBackoff, opts.MinBackoff)
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	d := &Discovery{ready: make(chan struct{}), done: make(chan struct{}), lastErr: ErrUnavailable}
	go d.loop(ctx, cfg, opts)
	return d
}

func (d *Discovery) loop(ctx context.Context, cfg Config, opts DiscoveryOptions) {
	defer close(d.done)
	backoff := opts.MinBackoff
	for attempt := 1; ; attempt++ {
		actx, cancel := context.WithTimeout(ctx, 10*time.Second)
		c, err := Discover(actx, cfg)
		cancel()
		if err == nil {
			d.mu.Lock()
			d.client, d.lastErr = c, nil
			d.mu.Unlock()
			close(d.ready)
			opts.Logger.Info("identity provider discovered", "issuer", cfg.Issuer, "attempts", attempt)
			return
		}
		d.mu.Lock()
		d.lastErr = err
		d.mu.Unlock()
		// Jitter in [backoff/2, backoff) spreads replicas restarting together.
		wait := backoff/2 + rand.N(backoff/2+1)
		opts.Logger.Warn("identity provider discovery failed; retrying", "issuer", cfg.Issuer, "attempt", attempt, "retry_in", wait.Round(time.Millisecond), "error", err.Error())
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		backoff = min(backoff*2, opts.MaxBackoff)
	}
}

// Client returns the discovered Client, or an error wrapping ErrUnavailable
// while discovery has not succeeded.
func (d *Discovery) Client() (*Client, error) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	if d.client == nil {
		return nil, d.lastErr
	}
	return d.client, nil
}

// Ready is closed once discovery has succeeded.
func (d *Discovery) Ready() <-chan struct{} { return d.ready }

// Done is closed when the background loop has ended (success or context
// cancelled).
func (d *Discovery) Done() <-chan struct{} { return d.done }
