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
//
// News is ordered by when its request started, not when it ended: a failed
// request that was already under way when a newer one succeeded says
// nothing the success does not contradict, so it never replaces that
// success (a request that took 10 s to fail must not mark a provider that
// has answered since as down for another second).
type prober struct {
	mu        sync.Mutex
	checked   time.Time // when the last news arrived
	err       error     // nil: the provider answered
	succeeded time.Time // when the last success arrived
	fetching  bool      // a Probe is fetching discovery now
}

// Probe reports whether the provider answers right now: the last news
// about it (any request the client made, or a GET of its discovery
// document when that news is over a second old — so a burst of sign-ins
// costs Logto at most one request a second). Sign-in calls it
// before sending a browser to Logto, so an unreachable Logto gives our own
// "identity provider unavailable" page instead of the browser's error page.
// A request the BFF itself gave up on (its timeout, or the browser
// leaving) is no news, and a failure never replaces a success that
// arrived after the failed request started. The error wraps
// ErrUnavailable.
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
	started := time.Now()
	err = c.fetchDiscovery(ctx)
	c.probe.mu.Lock()
	c.probe.fetching = false
	if err != nil && ctx.Err() == nil {
		// A failure the transport did not record: a non-transport one (e.g.
		// a 404 body), or discovery not answering within probeTimeout —
		// Logto too slow for a sign-in. The caller leaving (ctx ended) is
		// no news about Logto.
		c.probe.failedLocked(err, started)
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

// note records what a real request to the provider, started at started,
// just showed: it answered (err nil: any status below 500), or it failed
// (transport error, 5xx).
func (p *prober) note(err error, started time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err != nil {
		p.failedLocked(err, started)
		return
	}
	now := time.Now()
	p.err, p.checked, p.succeeded = nil, now, now
}

// failedLocked records a failure of a request started at started, unless
// a success arrived after it started (that newer news stands). A failure
// replaces an older failure either way, so the record keeps the last
// error. p.mu must be held.
func (p *prober) failedLocked(err error, started time.Time) {
	if p.err == nil && p.succeeded.After(started) {
		return
	}
	p.err, p.checked = err, time.Now()
}

// watchTransport feeds every request to the provider into the prober, so a
// failed code exchange or refresh makes the next sign-in answer 503 without
// waiting for the cached probe to expire.
type watchTransport struct {
	base  http.RoundTripper
	probe *prober
}

func (t *watchTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	started := time.Now()
	resp, err := t.base.RoundTrip(req)
	switch {
	case gaveUp(req):
		// Our own caller gave up — its deadline or http.Client.Timeout, or
		// the browser left: no news about Logto.
	case err != nil:
		t.probe.note(fmt.Errorf("%w: %w", ErrUnavailable, err), started)
	case resp.StatusCode >= 500:
		t.probe.note(fmt.Errorf("%w: %s answered %d", ErrUnavailable, req.URL.Path, resp.StatusCode), started)
	default:
		t.probe.note(nil, started)
	}
	return resp, err
}

// gaveUp reports whether req was ended by its caller rather than by the
// provider: its context is done, or its deadline has passed. The second
// test is needed because http.Client.Timeout, in front of a RoundTripper
// it does not know (this one), ends a request two ways at the same
// instant — the context's deadline and the legacy Request.Cancel channel
// ("net/http: request canceled") — and when the channel wins, the
// transport returns before the context reports its error.
func gaveUp(req *http.Request) bool {
	ctx := req.Context()
	if ctx.Err() != nil {
		return true
	}
	d, ok := ctx.Deadline()
	return ok && !time.Now().Before(d)
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
