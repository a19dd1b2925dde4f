package authflow

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"
)

// How long Probe trusts the last news about the provider (its own check or
// any request the client made): a burst of sign-ins costs Logto at most one
// discovery fetch a second per replica.
const (
	probeOKFor   = 1 * time.Second
	probeTimeout = 2 * time.Second
)

// prober remembers the provider's last reachability check.
type prober struct {
	mu       sync.Mutex
	checked  time.Time // when the last news arrived
	err      error     // nil: the provider answered
	fetching bool      // a Probe is fetching discovery now
}

// Probe reports whether the provider answers right now: the last news
// about it (any request the client made, or a GET of its discovery
// document when that news is over a second old — so a burst of sign-ins
// costs Logto at most one request a second). Sign-in calls it
// before sending a browser to Logto, so an unreachable Logto gives our own
// "identity provider unavailable" page instead of the browser's error page.
// The error wraps ErrUnavailable.
func (c *Client) Probe(ctx context.Context) error {
	c.probe.mu.Lock()
	fresh := !c.probe.checked.IsZero() && time.Since(c.probe.checked) < probeOKFor
	err, busy := c.probe.err, c.probe.fetching
	if !fresh && !busy {
		c.probe.fetching = true
	}
	c.probe.mu.Unlock()
	if fresh || busy {
		// Fresh news, or another request is checking right now: use the
		// last answer rather than pile onto Logto.
		return err
	}
	// The fetch goes through c.http, whose watchTransport records the
	// answer (note) — so the mutex must not be held here.
	err = c.fetchDiscovery(ctx)
	c.probe.mu.Lock()
	c.probe.fetching = false
	if err != nil && c.probe.err == nil {
		// A non-transport failure (e.g. a 404 body) the transport did not
		// see as an outage.
		c.probe.err, c.probe.checked = err, time.Now()
	}
	c.probe.mu.Unlock()
	return err
}

func (c *Client) fetchDiscovery(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	u := strings.TrimSuffix(c.cfg.Issuer, "/") + "/.well-known/openid-configuration"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return fmt.Errorf("probe: %w: %w", ErrUnavailable, err)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("probe: %w: %w", ErrUnavailable, err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("probe: %w: discovery answered %d", ErrUnavailable, resp.StatusCode)
	}
	return nil
}

// note records what a real request to the provider just showed: it
// answered (any status below 500), or it failed (transport error, 5xx).
func (p *prober) note(err error) {
	p.mu.Lock()
	p.err, p.checked = err, time.Now()
	p.mu.Unlock()
}

// watchTransport feeds every request to the provider into the prober, so a
// failed code exchange or refresh makes the next sign-in answer 503 without
// waiting for the cached probe to expire.
type watchTransport struct {
	base  http.RoundTripper
	probe *prober
}

func (t *watchTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(req)
	switch {
	case req.Context().Err() != nil:
		// Our own caller gave up (or the browser left): no news about Logto.
	case err != nil:
		t.probe.note(fmt.Errorf("%w: %w", ErrUnavailable, err))
	case resp.StatusCode >= 500:
		t.probe.note(fmt.Errorf("%w: %s answered %d", ErrUnavailable, req.URL.Path, resp.StatusCode))
	default:
		t.probe.note(nil)
	}
	return resp, err
}

// watched returns a copy of hc whose requests report to p.
func watched(hc *http.Client, p *prober) *http.Client {
	base := hc.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	w := *hc
	w.Transport = &watchTransport{base: base, probe: p}
	return &w
}
