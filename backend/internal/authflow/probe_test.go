package authflow

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/logto-bff/bff/backend/internal/devidp"
)

// probeIdP serves a devidp whose discovery document can be made to hang,
// with two extra paths: /oidc/hang answers only once the client leaves,
// and /oidc/drop waits for release and then closes the connection without
// an answer (a transport error, like a Logto that went away).
type probeIdP struct {
	srv           *httptest.Server
	client        *Client
	hangDiscovery atomic.Bool
	arrived       chan struct{} // one value per /oidc/drop request received
	release       chan struct{} // closed: /oidc/drop requests are dropped
}

func newProbeIdP(t *testing.T, hc *http.Client) *probeIdP {
	t.Helper()
	p := &probeIdP{arrived: make(chan struct{}, 8), release: make(chan struct{})}
	var idp http.Handler
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/oidc/hang",
			r.URL.Path == "/oidc/.well-known/openid-configuration" && p.hangDiscovery.Load():
			<-r.Context().Done()
			return
		case r.URL.Path == "/oidc/drop":
			p.arrived <- struct{}{}
			<-p.release
			conn, _, err := http.NewResponseController(w).Hijack()
			if err == nil {
				_ = conn.Close()
			}
			return
		}
		idp.ServeHTTP(w, r)
	}))
	t.Cleanup(p.srv.Close)
	var err error
	if idp, err = devidp.New(devidp.Config{Issuer: p.srv.URL + "/oidc", Clients: []devidp.Client{{ID: "c", Secret: "s", RedirectURIs: []string{testRedirect}}}}); err != nil {
		t.Fatal(err)
	}
	if p.client, err = Discover(context.Background(), Config{Issuer: p.srv.URL + "/oidc", ClientID: "c", ClientSecret: "s",
		RedirectURL: testRedirect, Scopes: []string{"openid"}, HTTPClient: hc}); err != nil {
		t.Fatal(err)
	}
	return p
}

// get makes one request to the provider through the client's own
// (watched) HTTP client, as the code exchange and refresh do.
func (p *probeIdP) get(ctx context.Context, path string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.srv.URL+path, nil)
	if err != nil {
		return err
	}
	resp, err := p.client.http.Do(req)
	if err != nil {
		return err
	}
	return resp.Body.Close()
}

// TestProbeIgnoresRequestsOurTimeoutEnded: a request that the BFF's own
// http.Client.Timeout ended says nothing about Logto (as one ended by its
// context's deadline never did), so the next sign-in is not refused. The
// client's timeout ends a request through a context deadline or through
// Request.Cancel, whichever fires first, so the test repeats it: the
// flaky reliability failure ("sign-in after the IdP sped up: 503") came
// from the times Request.Cancel won.
func TestProbeIgnoresRequestsOurTimeoutEnded(t *testing.T) {
	p := newProbeIdP(t, &http.Client{Timeout: 50 * time.Millisecond})
	for i := range 20 {
		if err := p.get(context.Background(), "/oidc/hang"); err == nil {
			t.Fatal("a request to a hanging path succeeded")
		}
		if err := p.client.Probe(context.Background()); err != nil {
			t.Fatalf("Probe after request %d, ended by the client's own timeout: %v (want nil: Logto answers)", i+1, err)
		}
	}
}

// TestProbeKeepsNewerSuccessOverOlderFailure: a failure that arrives after
// a success, from a request that was already under way before the success,
// does not mark the provider down; a failure of a request started after
// the success does.
func TestProbeKeepsNewerSuccessOverOlderFailure(t *testing.T) {
	p := newProbeIdP(t, &http.Client{Timeout: 10 * time.Second})
	failed := make(chan error, 1)
	go func() { failed <- p.get(context.Background(), "/oidc/drop") }()
	<-p.arrived
	if err := p.get(context.Background(), "/oidc/.well-known/openid-configuration"); err != nil {
		t.Fatal(err)
	}
	close(p.release)
	if err := <-failed; err == nil {
		t.Fatal("a dropped connection gave no error")
	}
	if err := p.client.Probe(context.Background()); err != nil {
		t.Errorf("Probe after a stale failure = %v, want nil (a newer request succeeded)", err)
	}
	// A failure newer than every success is news.
	if err := p.get(context.Background(), "/oidc/drop"); err == nil {
		t.Fatal("a dropped connection gave no error")
	}
	if err := p.client.Probe(context.Background()); !errors.Is(err, ErrUnavailable) {
		t.Errorf("Probe after a fresh failure = %v, want ErrUnavailable", err)
	}
}

// TestProbeIgnoresACallerThatLeft: a sign-in whose browser left during
// the probe's discovery fetch records no outage for the next one.
func TestProbeIgnoresACallerThatLeft(t *testing.T) {
	p := newProbeIdP(t, nil)
	// News older than probeOKFor: the next Probe fetches discovery.
	time.Sleep(probeOKFor + 50*time.Millisecond)
	p.hangDiscovery.Store(true)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := p.client.Probe(ctx); err == nil {
		t.Fatal("Probe with a hanging discovery and a caller that left succeeded")
	}
	p.hangDiscovery.Store(false)
	if err := p.client.Probe(context.Background()); err != nil {
		t.Errorf("Probe after a caller left = %v, want nil (Logto answers)", err)
	}
	// Discovery that does not answer within probeTimeout is news.
	p.hangDiscovery.Store(true)
	time.Sleep(probeOKFor + 50*time.Millisecond)
	if err := p.client.Probe(context.Background()); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Probe with a hanging discovery = %v, want ErrUnavailable", err)
	}
	p.hangDiscovery.Store(false)
	if err := p.client.Probe(context.Background()); !errors.Is(err, ErrUnavailable) {
		t.Errorf("Probe right after a timed-out check = %v, want the cached ErrUnavailable", err)
	}
}

// timerNotFired is a context whose deadline has passed but whose timer has
// not fired yet (Err is still nil): the instant in which
// http.Client.Timeout has already ended a request through Request.Cancel.
type timerNotFired struct {
	context.Context
	deadline time.Time
}

func (c timerNotFired) Deadline() (time.Time, bool) { return c.deadline, true }

// canceledTransport fails every request the way http.Transport does when
// Request.Cancel is closed.
type canceledTransport struct{}

func (canceledTransport) RoundTrip(*http.Request) (*http.Response, error) {
	return nil, errors.New("net/http: request canceled")
}

// TestWatchTransportPassedDeadlineIsNoNews pins the window that
// TestProbeIgnoresRequestsOurTimeoutEnded only hits by chance (it needs
// two Ps racing the two timers; with one P the context's timer always
// fires first): our deadline has passed, so the failure is ours, though the
// context does not report it yet. The same failure with the deadline still
// ahead is news.
func TestWatchTransportPassedDeadlineIsNoNews(t *testing.T) {
	for _, tc := range []struct {
		name     string
		deadline time.Duration
		outage   bool
	}{
		{"deadline passed", -time.Millisecond, false},
		{"deadline ahead", time.Hour, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := &prober{}
			w := &watchTransport{base: canceledTransport{}, probe: p}
			ctx := timerNotFired{Context: context.Background(), deadline: time.Now().Add(tc.deadline)}
			req := httptest.NewRequestWithContext(ctx, http.MethodPost, "http://idp.test/oidc/token", nil)
			if _, err := w.RoundTrip(req); err == nil {
				t.Fatal("the canceled request succeeded")
			}
			p.mu.Lock()
			got := p.err
			p.mu.Unlock()
			if (got != nil) != tc.outage {
				t.Errorf("recorded %v, want an outage: %v", got, tc.outage)
			}
		})
	}
}
