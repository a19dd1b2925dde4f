package main

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
)

// demoRouteName is the API proxy route `bff dev` adds for its demo API, so
// the SPA's API view (GET /api/proxy/demo/hello) works out of the box.
const demoRouteName = "demo"

// demoAPI is the upstream API `bff dev` runs on a loopback port. It is a
// real resource server: it accepts only a bearer JWT signed by the dev
// IdP (keys from its JWKS, algorithms from its discovery, via go-oidc)
// whose aud is its resource indicator, and never echoes the token.
type demoAPI struct {
	issuer   string
	resource string
	client   *http.Client

	mu       sync.Mutex
	verifier *oidc.IDTokenVerifier // nil until discovery succeeds
}

func newDemoAPI(issuer, resource string) *demoAPI {
	return &demoAPI{issuer: issuer, resource: resource, client: &http.Client{Timeout: 5 * time.Second}}
}

// verifierFor discovers the IdP on first use (it may start after us) and
// caches the verifier; a failed discovery is retried on the next request.
func (d *demoAPI) verifierFor(ctx context.Context) (*oidc.IDTokenVerifier, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.verifier != nil {
		return d.verifier, nil
	}
	p, err := oidc.NewProvider(oidc.ClientContext(ctx, d.client), d.issuer)
	if err != nil {
		return nil, err
	}
	// ClientID is the audience to require: the API's resource indicator.
	// The provider's key set and algorithms come from discovery; its
	// requests use d.client, not this request's context.
	d.verifier = p.Verifier(&oidc.Config{ClientID: d.resource})
	return d.verifier, nil
}

// demoHello is the demo API's answer: facts from the verified token, never
// the token itself.
type demoHello struct {
	Message        string    `json:"message"`
	Subject        string    `json:"subject"`
	Scope          string    `json:"scope"`
	Audience       []string  `json:"audience"`
	TokenExpiresAt time.Time `json:"tokenExpiresAt"`
}

// ServeHTTP answers GET /hello (and /) with demoHello; 401 without a valid
// token for the resource; 404 elsewhere.
func (d *demoAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/hello" && r.URL.Path != "/" {
		demoJSON(w, http.StatusNotFound, map[string]string{"error": "not_found", "error_description": "The demo API has only /hello."})
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		demoJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": "invalid_request", "error_description": "Use GET."})
		return
	}
	raw, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || raw == "" {
		w.Header().Set("WWW-Authenticate", `Bearer realm="demo"`)
		demoJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_token", "error_description": "A bearer token is required."})
		return
	}
	v, err := d.verifierFor(r.Context())
	if err != nil {
		demoJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "temporarily_unavailable", "error_description": "The identity provider's keys are unavailable."})
		return
	}
	tok, err := v.Verify(r.Context(), raw)
	if err != nil {
		w.Header().Set("WWW-Authenticate", `Bearer realm="demo", error="invalid_token"`)
		demoJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_token", "error_description": "The bearer token is not valid for this API."})
		return
	}
	var claims struct {
		Scope string `json:"scope"`
	}
	_ = tok.Claims(&claims)
	demoJSON(w, http.StatusOK, demoHello{
		Message:        "Hello from the demo API",
		Subject:        tok.Subject,
		Scope:          claims.Scope,
		Audience:       tok.Audience,
		TokenExpiresAt: tok.Expiry.UTC(),
	})
}

func demoJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
