package logtoit

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
)

const (
	resource      = "https://api.logtoit.test"
	resourceScope = "read:logtoit"
)

// upstream is an API behind the BFF's proxy that accepts only a JWT access
// token for resource, verified with Logto's JWKS.
type upstream struct {
	*httptest.Server
	mu   sync.Mutex
	jtis []string
}

func newUpstream(t *testing.T, issuer string) *upstream {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	provider, err := oidc.NewProvider(ctx, issuer)
	if err != nil {
		t.Fatal(err)
	}
	verifier := provider.Verifier(&oidc.Config{ClientID: resource, SupportedSigningAlgs: []string{"ES384"}})
	u := &upstream{}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok {
			http.Error(w, "no bearer token", http.StatusUnauthorized)
			return
		}
		tok, err := verifier.Verify(r.Context(), raw)
		if err != nil {
			http.Error(w, "invalid token: "+err.Error(), http.StatusUnauthorized)
			return
		}
		var claims struct {
			JTI   string `json:"jti"`
			Scope string `json:"scope"`
		}
		_ = tok.Claims(&claims)
		u.mu.Lock()
		u.jtis = append(u.jtis, claims.JTI)
		u.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"sub": tok.Subject, "aud": tok.Audience, "scope": claims.Scope, "path": r.URL.Path})
	}))
	t.Cleanup(u.Close)
	return u
}

func (u *upstream) tokens() []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]string(nil), u.jtis...)
}

// me is GET /api/me's user.
type me struct {
	User struct {
		Sub        string                     `json:"sub"`
		Username   *string                    `json:"username"`
		Identities map[string]json.RawMessage `json:"identities"`
	} `json:"user"`
}

func (b *browser) me() (int, me) {
	b.t.Helper()
	p := b.api(http.MethodGet, "/api/me")
	var m me
	if p.status == http.StatusOK {
		if err := json.Unmarshal(p.body, &m); err != nil {
			b.t.Fatal(err)
		}
	}
	return p.status, m
}

// refreshGrant presents a refresh token at Logto's token endpoint and
// returns the OAuth error ("" when it worked).
func refreshGrant(t *testing.T, l *logto, appID, appSecret, rt string) string {
	t.Helper()
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}
	req, _ := http.NewRequest(http.MethodPost, l.env["LOGTO_ENDPOINT"]+"/oidc/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(appID), url.QueryEscape(appSecret))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Error string `json:"error"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&out)
	if resp.StatusCode == http.StatusOK {
		return ""
	}
	return fmt.Sprintf("%d %s", resp.StatusCode, out.Error)
}

// introspect reports whether Logto considers token active.
func introspect(t *testing.T, l *logto, appID, appSecret, token string) bool {
	t.Helper()
	form := url.Values{"token": {token}, "token_type_hint": {"refresh_token"}}
	req, _ := http.NewRequest(http.MethodPost, l.env["LOGTO_ENDPOINT"]+"/oidc/token/introspection", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(appID), url.QueryEscape(appSecret))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Active bool `json:"active"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return out.Active
}

// TestRealLogto is one story on a fresh tenant: setup, the BFF's flows with
// a password user and a Discord user, doctor, and a repair.
func TestRealLogto(t *testing.T) {
	l := requireLogto(t)
	endpoint := l.env["LOGTO_ENDPOINT"]
	issuer := endpoint + "/oidc"
	port := freePort(t)
	bffURL := fmt.Sprintf("http://127.0.0.1:%d", port)
	envFile := filepath.Join(t.TempDir(), "bff.env")
	m2m := map[string]string{
		"LOGTO_ENDPOINT":            endpoint,
		"LOGTO_M2M_APP_ID":          l.env["LOGTO_M2M_APP_ID"],
		"LOGTO_M2M_APP_SECRET":      l.env["LOGTO_M2M_APP_SECRET"],
		"LOGTO_MANAGEMENT_RESOURCE": l.env["LOGTO_MANAGEMENT_RESOURCE"],
		"BFF_PUBLIC_URL":            bffURL,
		"LOGTO_RESOURCES":           resource,
		"DISCORD_CLIENT_ID":         "logtoit-discord-client",
		"DISCORD_CLIENT_SECRET":     "logtoit-discord-secret-" + randomHex(8),
	}
	setupArgs := []string{"logto", "setup", "--app-name", "BFF integration", "--resource-scopes", resourceScope, "--env-file", envFile}

	// ---- bff logto setup on a tenant holding only the M2M app ----------------
	out, code := bffCmd(t, m2m, setupArgs...)
	t.Logf("bff logto setup:\n%s", out)
	if code != 0 {
		t.Fatalf("setup exit %d", code)
	}
	for _, want := range []string{`created    application "BFF integration"`, "created    API resource " + resource, "created    scope " + resourceScope,
		"created    Discord connector", "updated    sign-in experience: Discord added", "skips required identifiers", "created    env file"} {
		if !strings.Contains(out, want) {
			t.Errorf("setup output lacks %q", want)
		}
	}
	st, err := os.Stat(envFile)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("env file: %v %v", st, err)
	}
	app, err := readEnv(envFile)
	if err != nil {
		t.Fatal(err)
	}
	appID, appSecret := app["LOGTO_APP_ID"], app["LOGTO_APP_SECRET"]
	if appID == "" || len(appSecret) < 16 || app["LOGTO_ENDPOINT"] != endpoint || app["BFF_PUBLIC_URL"] != bffURL || app["LOGTO_RESOURCES"] != resource {
		t.Fatalf("env file holds %v", keys(app))
	}
	for _, secret := range []string{appSecret, m2m["LOGTO_M2M_APP_SECRET"], m2m["DISCORD_CLIENT_SECRET"]} {
		if strings.Contains(out, secret) {
			t.Fatal("setup printed a secret")
		}
	}
	var connectors []struct{ ID, ConnectorID string }
	l.api(t, http.MethodGet, "/connectors", nil, &connectors)
	if len(connectors) != 1 || connectors[0].ConnectorID != "discord-universal" {
		t.Fatalf("connectors %+v", connectors)
	}
	connectorID := connectors[0].ID
	if !strings.Contains(out, endpoint+"/callback/"+connectorID) {
		t.Error("setup did not print the redirect URI to register at Discord")
	}

	// ---- a second setup changes nothing; doctor passes -----------------------
	again, code := bffCmd(t, m2m, setupArgs...)
	if code != 0 {
		t.Fatalf("second setup exit %d:\n%s", code, again)
	}
	for _, line := range strings.Split(strings.TrimSpace(again), "\n") {
		if !strings.HasPrefix(line, "unchanged ") && !strings.HasPrefix(line, "Discord developer portal") {
			t.Errorf("second setup: %q", line)
		}
	}
	doctorArgs := []string{"logto", "doctor", "--env-file", envFile}
	if out, code := bffCmd(t, m2m, doctorArgs...); code != 0 || strings.Contains(out, "FAIL") {
		t.Fatalf("doctor after setup (exit %d):\n%s", code, out)
	} else {
		t.Logf("bff logto doctor:\n%s", out)
	}

	// ---- what the tests do behind the BFF's back -----------------------------
	username, password := "it_"+randomHex(4), "Pw-"+randomHex(12)
	var user struct{ ID string }
	l.api(t, http.MethodPost, "/users", map[string]any{"username": username, "password": password, "name": "Integration User"}, &user)
	// Resource tokens live 60 s while the BFF refreshes 30 min ahead: every
	// proxied call refreshes.
	var resources []struct{ ID, Indicator string }
	l.api(t, http.MethodGet, "/resources", nil, &resources)
	for _, r := range resources {
		if r.Indicator == resource {
			l.api(t, http.MethodPatch, "/resources/"+r.ID, map[string]any{"accessTokenTtl": 60}, nil)
		}
	}

	// ---- the BFF, from the written env file ----------------------------------
	up := newUpstream(t, issuer)
	bffEnv := map[string]string{}
	for k, v := range app {
		bffEnv[k] = v
	}
	for k, v := range map[string]string{
		"BFF_LISTEN": fmt.Sprintf("127.0.0.1:%d", port), "BFF_METRICS_LISTEN": "127.0.0.1:0", "BFF_SESSION_SECRET": randomHex(32), "BFF_COOKIE_SECURE": "false",
		"BFF_API_ROUTES": "it=" + up.URL + "/v1|" + resource, "BFF_REFRESH_MARGIN": "30m", "BFF_LOG_FORMAT": "text", "BFF_LOG_LEVEL": "debug",
	} {
		bffEnv[k] = v
	}
	logs := startBFF(t, bffEnv, bffURL)
	t.Cleanup(func() {
		text := logs.String()
		for _, secret := range append([]string{appSecret, password}, l.refreshTokens(t, user.ID, appID)...) {
			if strings.Contains(text, secret) {
				t.Error("a secret or token is in the BFF's log")
			}
		}
		if t.Failed() {
			t.Logf("BFF log:\n%s", text)
		}
	})

	t.Run("password sign-in, refresh with a resource, sign-out revokes the grant", func(t *testing.T) {
		b := newBrowser(t, l, bffURL)
		b.signInWithPassword(username, password)
		st, m := b.me()
		if st != http.StatusOK || m.User.Sub != user.ID || m.User.Username == nil || *m.User.Username != username {
			t.Fatalf("/api/me: %d %+v", st, m.User)
		}
		if p := b.get(bffURL + "/api/me"); p.status != http.StatusForbidden && p.status != http.StatusBadRequest && p.status != http.StatusUnauthorized {
			t.Errorf("/api/me without X-CSRF: %d", p.status)
		}

		for i := range 2 {
			p := b.api(http.MethodGet, "/api/proxy/it/hello")
			if p.status != http.StatusOK {
				t.Fatalf("proxy call %d: %d %.300s", i, p.status, p.body)
			}
			var got struct {
				Sub, Scope, Path string
				Aud              []string
			}
			_ = json.Unmarshal(p.body, &got)
			if got.Sub != user.ID || len(got.Aud) != 1 || got.Aud[0] != resource || got.Path != "/v1/hello" {
				t.Fatalf("upstream saw %+v", got)
			}
		}
		if j := up.tokens(); len(j) != 2 || j[0] == j[1] {
			t.Fatalf("two proxied calls with a 60 s token and a 30 min margin must use two refreshed tokens, got jti %v", j)
		}

		rts := l.refreshTokens(t, user.ID, appID)
		if len(rts) == 0 {
			t.Fatal("Logto holds no refresh token for this sign-in")
		}
		for _, rt := range rts {
			if !introspect(t, l, appID, appSecret, rt) {
				t.Fatal("the refresh token is not active before sign-out")
			}
		}
		seen := b.signOut()
		if !containsPrefix(seen, bffURL+"/") {
			t.Errorf("end session did not return to the post sign-out URI: %v", redactAll(seen))
		}
		if st, _ := b.me(); st != http.StatusUnauthorized {
			t.Errorf("/api/me after sign-out: %d", st)
		}
		for _, rt := range rts {
			if got := refreshGrant(t, l, appID, appSecret, rt); !strings.Contains(got, "invalid_grant") {
				t.Errorf("refresh token after sign-out: %q, want invalid_grant", got)
			}
		}
	})

	t.Run("back-channel logout from Logto's end session", func(t *testing.T) {
		b := newBrowser(t, l, bffURL)
		b.signInWithPassword(username, password)
		if st, _ := b.me(); st != http.StatusOK {
			t.Fatalf("/api/me: %d", st)
		}
		// The user signs out at Logto (another app, or Logto's own page):
		// not through the BFF.
		q := url.Values{"client_id": {appID}, "post_logout_redirect_uri": {bffURL + "/"}}
		b.endSession(endpoint + "/oidc/session/end?" + q.Encode())
		deadline := time.Now().Add(5 * time.Second)
		for {
			st, _ := b.me()
			if st == http.StatusUnauthorized {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("/api/me still %d after Logto's end session: no back-channel logout", st)
			}
			time.Sleep(100 * time.Millisecond)
		}
		if !strings.Contains(logs.String(), "route=/auth/backchannel-logout status=200") {
			t.Error("the BFF's log shows no back-channel logout answered 200")
		}
	})

	t.Run("Continue with Discord shows identities.discord", func(t *testing.T) {
		b := newBrowser(t, l, bffURL)
		b.signInWithDiscord(connectorID)
		st, m := b.me()
		if st != http.StatusOK {
			t.Fatalf("/api/me: %d", st)
		}
		var d struct {
			UserID  string `json:"userId"`
			Details struct{ Name string }
		}
		if raw, ok := m.User.Identities["discord"]; !ok || json.Unmarshal(raw, &d) != nil || d.UserID == "" {
			t.Fatalf("/api/me has no identities.discord: %+v", m.User)
		}
		t.Logf("Discord user %s (%s) signed in as %s", d.Details.Name, d.UserID, m.User.Sub)
		rts := l.refreshTokens(t, m.User.Sub, appID)
		if len(rts) == 0 {
			t.Fatal("Logto holds no refresh token for the Discord sign-in")
		}
		b.signOut()
		if st, _ := b.me(); st != http.StatusUnauthorized {
			t.Errorf("/api/me after sign-out: %d", st)
		}
		for _, rt := range rts {
			if got := refreshGrant(t, l, appID, appSecret, rt); !strings.Contains(got, "invalid_grant") {
				t.Errorf("Discord user's refresh token after sign-out: %q, want invalid_grant", got)
			}
		}
	})

	t.Run("doctor names a redirect URI changed behind setup's back, setup repairs it", func(t *testing.T) {
		l.api(t, http.MethodPatch, "/applications/"+appID, map[string]any{"oidcClientMetadata": map[string]any{
			"redirectUris": []string{bffURL + "/auth/callback/"}, "postLogoutRedirectUris": []string{bffURL + "/"},
			"backchannelLogoutUri": bffURL + "/auth/backchannel-logout", "backchannelLogoutSessionRequired": true,
		}}, nil)
		out, code := bffCmd(t, m2m, doctorArgs...)
		t.Logf("doctor after the change:\n%s", out)
		if code != 1 || !strings.Contains(out, "FAIL  redirect URI: "+bffURL+"/auth/callback is not registered") {
			t.Fatalf("doctor (exit %d) did not name the redirect URI", code)
		}
		if n := strings.Count(out, "FAIL"); n != 1 {
			t.Errorf("%d failures, want 1", n)
		}
		out, code = bffCmd(t, m2m, setupArgs...)
		t.Logf("setup repairs:\n%s", out)
		if code != 0 || !strings.Contains(out, "updated    application \"BFF integration\"") || !strings.Contains(out, "redirect URIs") {
			t.Fatalf("setup (exit %d) did not repair the redirect URI", code)
		}
		if out, code := bffCmd(t, m2m, doctorArgs...); code != 0 {
			t.Fatalf("doctor after the repair (exit %d):\n%s", code, out)
		}
		// And the BFF signs in again.
		b := newBrowser(t, l, bffURL)
		b.signInWithPassword(username, password)
		if st, _ := b.me(); st != http.StatusOK {
			t.Fatalf("/api/me after the repair: %d", st)
		}
	})
}

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
