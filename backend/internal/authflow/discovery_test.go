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

// TestDiscoveryRetriesUntilTheProviderIsUp: the BFF starts before Logto;
// Client reports ErrUnavailable until a background retry succeeds.
func TestDiscoveryRetriesUntilTheProviderIsUp(t *testing.T) {
	var up atomic.Bool
	var attempts atomic.Int32
	var idp http.Handler
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/oidc/.well-known/openid-configuration" {
			attempts.Add(1)
		}
		if !up.Load() {
			http.Error(w, "starting", http.StatusServiceUnavailable)
			return
		}
		idp.ServeHTTP(w, r)
	}))
	defer srv.Close()
	p, err := devidp.New(devidp.Config{Issuer: srv.URL + "/oidc", Clients: []devidp.Client{{ID: "c", Secret: "s", RedirectURIs: []string{testRedirect}}}})
	if err != nil {
		t.Fatal(err)
	}
	idp = p
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	d := StartDiscovery(ctx, Config{Issuer: srv.URL + "/oidc", ClientID: "c", ClientSecret: "s", RedirectURL: testRedirect, Scopes: []string{"openid"}},
		DiscoveryOptions{MinBackoff: time.Millisecond, MaxBackoff: 4 * time.Millisecond})
	for attempts.Load() < 3 {
		time.Sleep(time.Millisecond)
	}
	if c, err := d.Client(); c != nil || !errors.Is(err, ErrUnavailable) {
		t.Fatalf("before the IdP is up: %v, %v", c, err)
	}
	up.Store(true)
	select {
	case <-d.Ready():
	case <-time.After(5 * time.Second):
		t.Fatal("discovery did not succeed after the IdP came up")
	}
	if c, err := d.Client(); c == nil || err != nil {
		t.Fatalf("after: %v, %v", c, err)
	}
	<-d.Done()
}

func TestDiscoveryStopsWithItsContext(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	d := StartDiscovery(ctx, Config{Issuer: srv.URL + "/oidc", ClientID: "c", ClientSecret: "s", RedirectURL: testRedirect, Scopes: []string{"openid"}},
		DiscoveryOptions{MinBackoff: time.Millisecond})
	cancel()
	select {
	case <-d.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the discovery loop did not stop")
	}
	if _, err := d.Client(); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("err = %v", err)
	}
}
