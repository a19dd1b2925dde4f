package devidp

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestDiscovery(t *testing.T) {
	for _, path := range []string{"/oidc", "/tenant/oidc"} {
		t.Run(path, func(t *testing.T) {
			e := newEnv(t, func(c *Config) { c.Issuer = strings.TrimSuffix(c.Issuer, "/oidc") + path })
			resp, err := http.Get(e.issuer + "/.well-known/openid-configuration")
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var d map[string]any
			if err := json.NewDecoder(resp.Body).Decode(&d); err != nil {
				t.Fatal(err)
			}
			urls := map[string]string{
				"issuer": "", "authorization_endpoint": "/auth", "token_endpoint": "/token", "userinfo_endpoint": "/me",
				"jwks_uri": "/jwks", "end_session_endpoint": "/session/end", "revocation_endpoint": "/token/revocation",
			}
			for k, suffix := range urls {
				if d[k] != e.issuer+suffix {
					t.Errorf("%s = %v, want %s", k, d[k], e.issuer+suffix)
				}
			}
			for k, want := range map[string]any{
				"authorization_response_iss_parameter_supported": true, "backchannel_logout_supported": true,
				"backchannel_logout_session_supported": true, "claims_parameter_supported": false,
			} {
				if d[k] != want {
					t.Errorf("%s = %v", k, d[k])
				}
			}
			if a, _ := d["id_token_signing_alg_values_supported"].([]any); len(a) != 1 || a[0] != "ES384" {
				t.Errorf("algs %v", d["id_token_signing_alg_values_supported"])
			}
			if a, _ := d["code_challenge_methods_supported"].([]any); len(a) != 1 || a[0] != "S256" {
				t.Errorf("pkce %v", d["code_challenge_methods_supported"])
			}
			// Every advertised endpoint is really served.
			for _, k := range []string{"jwks_uri", "authorization_endpoint"} {
				r, err := http.Get(str(d[k]))
				if err != nil {
					t.Fatal(err)
				}
				r.Body.Close()
				if r.StatusCode == http.StatusNotFound {
					t.Errorf("%s not served", k)
				}
			}
		})
	}
}

func TestJWKSAndKeyRotation(t *testing.T) {
	e := newEnv(t)
	set := fetchJWKS(t, e.issuer+"/jwks")
	if len(set.Keys) != 1 || set.Keys[0].Algorithm != "ES384" || set.Keys[0].Use != "sig" || !set.Keys[0].IsPublic() || len(set.Keys[0].KeyID) != 43 {
		t.Fatalf("jwks %+v", set.Keys)
	}
	before := e.exchange(t, e.signIn(t, e.browser(t), e.authURL("openid", nil), AliceUsername, AlicePassword))
	if err := e.p.RotateSigningKey(); err != nil {
		t.Fatal(err)
	}
	after := e.exchange(t, e.signIn(t, e.browser(t), e.authURL("openid", nil), AliceUsername, AlicePassword))
	h1, _ := e.decodeJWT(t, str(before["id_token"]))
	h2, _ := e.decodeJWT(t, str(after["id_token"]))
	set = fetchJWKS(t, e.issuer+"/jwks")
	if h1["kid"] == h2["kid"] || len(set.Keys) != 2 || len(set.Key(str(h1["kid"]))) != 1 || len(set.Key(str(h2["kid"]))) != 1 {
		t.Fatalf("rotation: kids %v %v, jwks %d keys", h1["kid"], h2["kid"], len(set.Keys))
	}
}

func TestNewValidates(t *testing.T) {
	ok := Client{ID: "c", Secret: "s"}
	tests := []struct {
		name string
		cfg  Config
	}{
		{"no issuer", Config{Clients: []Client{ok}}},
		{"relative issuer", Config{Issuer: "/oidc", Clients: []Client{ok}}},
		{"issuer with query", Config{Issuer: "http://localhost:3001/oidc?x=1", Clients: []Client{ok}}},
		{"no clients", Config{Issuer: "http://localhost:3001/oidc"}},
		{"client without secret", Config{Issuer: "http://localhost:3001/oidc", Clients: []Client{{ID: "c"}}}},
		{"duplicate client", Config{Issuer: "http://localhost:3001/oidc", Clients: []Client{ok, ok}}},
		{"duplicate username", Config{Issuer: "http://localhost:3001/oidc", Clients: []Client{ok}, Users: []User{{Username: "a"}, {Username: "a"}}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := New(tc.cfg); err == nil {
				t.Fatal("New accepted an invalid config")
			}
		})
	}
}

func TestStartupLogAndDescribe(t *testing.T) {
	var buf bytes.Buffer
	p, err := New(Config{Issuer: "http://localhost:3001/oidc", Clients: []Client{{ID: "c", Secret: "client-secret-value"}},
		Logger: slog.New(slog.NewTextHandler(&buf, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "NOT FOR PRODUCTION") || strings.Contains(buf.String(), "client-secret-value") {
		t.Fatalf("startup log: %s", buf.String())
	}
	d := p.Describe()
	for _, want := range []string{"not for production", "http://localhost:3001/oidc", `"alice"`, `"alice-password"`, "Continue with Discord", NellyID} {
		if !strings.Contains(d, want) {
			t.Errorf("Describe lacks %q:\n%s", want, d)
		}
	}
}

func TestIssuedTokens(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.ExposeIssuedTokens = true })
	tokens := e.signedIn(t, fullScope)
	_, refreshed := e.refresh(t, str(tokens["refresh_token"]), nil)
	issued := e.p.IssuedTokens()
	for _, k := range []string{"access_token", "refresh_token", "id_token"} {
		for _, body := range []map[string]any{tokens, refreshed} {
			if !slices.Contains(issued, str(body[k])) {
				t.Errorf("IssuedTokens lacks a %s", k)
			}
		}
	}
	resp, err := http.Get(e.issuer + "/__dev/issued-tokens")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var served []string
	_ = json.NewDecoder(resp.Body).Decode(&served)
	if !slices.Equal(served, issued) {
		t.Fatalf("served %d tokens, IssuedTokens %d", len(served), len(issued))
	}
	// Off by default.
	off := newEnv(t)
	if status, _, _ := getPage(t, http.DefaultClient, off.issuer+"/__dev/issued-tokens"); status != http.StatusNotFound {
		t.Fatalf("issued-tokens without ExposeIssuedTokens: %d", status)
	}
}

func TestExpiredStateIsSwept(t *testing.T) {
	e := newEnv(t)
	// Leave behind: an abandoned interaction, an unredeemed code, a consented
	// grant with tokens, a session and a pending sign-out.
	b := e.browser(t)
	getPage(t, e.browser(t), e.authURL("openid", nil))
	e.signIn(t, e.browser(t), e.authURL("openid", nil), AliceUsername, AlicePassword)
	e.signedIn(t, fullScope)
	e.signIn(t, b, e.authURL("openid", nil), AliceUsername, AlicePassword)
	getPage(t, b, e.endSessionURL(url.Values{"client_id": {testClientID}}))
	s := e.p.Stats()
	if s.Interactions == 0 || s.Codes == 0 || s.Grants == 0 || s.Sessions == 0 || s.RefreshTokens == 0 {
		t.Fatalf("setup: %+v", s)
	}
	e.clock.Advance(DefaultRefreshTokenTTL + time.Hour)
	getPage(t, http.DefaultClient, e.authURL("openid", nil)) // any request sweeps
	s = e.p.Stats()
	e.p.mu.Lock()
	logouts := len(e.p.logouts)
	e.p.mu.Unlock()
	if s.Interactions != 1 || s.Codes != 0 || s.Grants != 0 || s.Sessions != 0 || s.AccessTokens != 0 || s.RefreshTokens != 0 || logouts != 0 {
		t.Fatalf("after expiry (one new interaction expected): %+v, logouts %d", s, logouts)
	}
}

func TestUnknownPathIs404(t *testing.T) {
	e := newEnv(t)
	for _, p := range []string{"/", "/oidc", "/oidc/nope", "/other/auth"} {
		if status, _, _ := getPage(t, http.DefaultClient, e.srv.URL+p); status != http.StatusNotFound {
			t.Errorf("%s: %d", p, status)
		}
	}
}
