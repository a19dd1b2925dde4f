// Package authflowtest is a test helper: it signs a user in through a real
// authorization code flow against a dev identity provider (package devidp)
// and returns what authflow.Client.Exchange made of it, so that tests of
// the layers above authflow (refresh, revocation) start from genuine
// tokens without an HTTP server of their own. It also starts a discovery
// with test backoffs and waits for it (StartDiscovery, WaitDiscovered), for
// fixtures that stand up BFF instances. Test code only.
package authflowtest

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"testing"
	"time"

	"github.com/logto-bff/bff/backend/internal/authflow"
	"github.com/logto-bff/bff/backend/internal/devidp/devidptest"
)

// SignIn signs username in at client's identity provider (a devidp):
// authorization request, the provider's sign-in form, then the code
// exchange. The browser part stops at the first redirect that leaves the
// provider (the callback, which is never requested).
func SignIn(ctx context.Context, client *authflow.Client, username, password string) (*authflow.Result, error) {
	p := authflow.SignInParams{ReturnTo: "/"}
	attempt, err := client.NewAttempt(p)
	if err != nil {
		return nil, err
	}
	attempt.State = rand.Text()
	authURL, err := client.AuthCodeURL(p, attempt)
	if err != nil {
		return nil, err
	}
	issuer, err := url.Parse(client.Issuer())
	if err != nil {
		return nil, err
	}
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar, Timeout: 10 * time.Second, CheckRedirect: func(req *http.Request, _ []*http.Request) error {
		if req.URL.Host != issuer.Host {
			return http.ErrUseLastResponse
		}
		return nil
	}}
	resp, err := devidptest.SignIn(ctx, browser, authURL, username, password)
	if err != nil {
		return nil, err
	}
	resp.Body.Close()
	loc, err := resp.Location()
	if err != nil {
		return nil, fmt.Errorf("authflowtest: sign-in ended at %d without a redirect", resp.StatusCode)
	}
	q := loc.Query()
	if q.Get("state") != attempt.State || q.Get("code") == "" {
		return nil, errors.New("authflowtest: the callback carries no code for this attempt")
	}
	return client.Exchange(ctx, q.Get("code"), attempt)
}

// StartDiscovery starts discovering cfg's provider as the BFF does, but
// with short backoffs (5 to 50 ms) so that a test's IdP outage heals
// fast; the discovery stops at t's cleanup.
func StartDiscovery(t testing.TB, cfg authflow.Config, logger *slog.Logger) *authflow.Discovery {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	return authflow.StartDiscovery(ctx, cfg, authflow.DiscoveryOptions{MinBackoff: 5 * time.Millisecond, MaxBackoff: 50 * time.Millisecond, Logger: logger})
}

// WaitDiscovered waits up to 5 s for d's first successful discovery and
// fails t if it has not completed by then.
func WaitDiscovered(t testing.TB, d *authflow.Discovery) {
	t.Helper()
	select {
	case <-d.Ready():
	case <-time.After(5 * time.Second):
		t.Fatal("discovery did not complete")
	}
}
