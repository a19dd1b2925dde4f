package authflow

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
)

// KeySetRefetchInterval bounds how often the provider's JWKS is fetched to
// verify logout tokens: at most once per interval, whatever the tokens say.
// A token whose key is not in the cached set (an unknown "kid", or a
// signature no cached key verifies) triggers a fetch only when the last one
// is at least this old; otherwise it is refused without any request to the
// provider. So anonymous clients POSTing forged logout tokens with random
// kids cost the provider at most one JWKS request per interval, and a real
// key rotation is picked up at most this long after it happened: a logout
// token signed with the new key is accepted once the interval since the
// last fetch has passed (immediately when nothing fetched recently).
const KeySetRefetchInterval = 30 * time.Second

// errKeysFetchedRecently is the refused fetch: the key set was fetched less
// than KeySetRefetchInterval ago.
var errKeysFetchedRecently = fmt.Errorf("key set fetched less than %s ago; not fetched again", KeySetRefetchInterval)

// limitedKeySet is the provider's remote JWKS (go-oidc's cache, parsing and
// single-flight fetch) behind a gate that lets at most one fetch per
// interval through. It is safe for concurrent use.
type limitedKeySet struct {
	keys *oidc.RemoteKeySet
}

var _ oidc.KeySet = (*limitedKeySet)(nil)

// newLimitedKeySet returns the key set at jwksURL, fetched with hc at most
// once per interval as measured by now.
func newLimitedKeySet(hc *http.Client, jwksURL string, interval time.Duration, now func() time.Time) *limitedKeySet {
	base := hc.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	gate := &fetchGate{base: base, interval: interval, now: now}
	gated := *hc
	gated.Transport = gate
	return &limitedKeySet{keys: oidc.NewRemoteKeySet(oidc.ClientContext(context.Background(), &gated), jwksURL)}
}

// VerifySignature verifies jwt's signature with a cached key, fetching the
// key set first when no cached key fits and the gate allows it.
func (k *limitedKeySet) VerifySignature(ctx context.Context, jwt string) ([]byte, error) {
	return k.keys.VerifySignature(ctx, jwt)
}

// fetchGate is the key set's transport: it refuses a request when the
// previous one it let through started less than interval ago. go-oidc
// keeps its cached keys when a fetch fails, so a refused fetch changes
// nothing but the one verification that asked for it.
type fetchGate struct {
	base     http.RoundTripper
	interval time.Duration
	now      func() time.Time

	mu   sync.Mutex
	last time.Time // start of the last fetch let through; zero before the first
}

// RoundTrip implements http.RoundTripper.
func (g *fetchGate) RoundTrip(req *http.Request) (*http.Response, error) {
	g.mu.Lock()
	now := g.now()
	if since := now.Sub(g.last); !g.last.IsZero() && since >= 0 && since < g.interval {
		g.mu.Unlock()
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, errKeysFetchedRecently
	}
	g.last = now
	g.mu.Unlock()
	return g.base.RoundTrip(req)
}
