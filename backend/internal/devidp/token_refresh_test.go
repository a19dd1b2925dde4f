package devidp

import (
	"net/url"
	"slices"
	"sync"
	"testing"
	"time"
)

// signedIn returns the code-exchange response of a consented alice sign-in
// with the given scope and resources.
func (e *env) signedIn(t *testing.T, scope string, resources ...string) map[string]any {
	t.Helper()
	extra := url.Values{"prompt": {"consent"}}
	if len(resources) > 0 {
		extra["resource"] = resources
	}
	return e.exchange(t, e.signIn(t, e.browser(t), e.authURL(scope, extra), AliceUsername, AlicePassword))
}

func TestStrictRefreshRotatesAndReuseRevokes(t *testing.T) {
	e := newEnv(t)
	first := e.signedIn(t, fullScope)
	_, firstID := e.decodeJWT(t, str(first["id_token"]))

	status, second := e.refresh(t, str(first["refresh_token"]), nil)
	if status != 200 || str(second["refresh_token"]) == str(first["refresh_token"]) || len(str(second["access_token"])) != 43 {
		t.Fatalf("refresh: %d %v", status, second)
	}
	_, id := e.decodeJWT(t, str(second["id_token"]))
	if id["nonce"] != firstID["nonce"] || id["sid"] != firstID["sid"] || id["at_hash"] != atHash(str(second["access_token"])) {
		t.Fatalf("refreshed id token %v (first %v)", id, firstID)
	}
	if status, _ := e.userinfo(t, str(second["access_token"])); status != 200 {
		t.Fatalf("refreshed access token at /me: %d", status)
	}

	e.clock.Advance(time.Hour) // long after the 3 s grace; strict mode has none anyway
	status, body := e.refresh(t, str(first["refresh_token"]), nil)
	if status != 400 || body["error"] != "invalid_grant" || body["error_uri"] != "https://openid.sh/debug/invalid_grant" ||
		body["error_description"] != "grant request is invalid" {
		t.Fatalf("reuse: %d %v", status, body)
	}
	if status, _ := e.refresh(t, str(second["refresh_token"]), nil); status != 400 {
		t.Fatalf("the grant's newest refresh token after reuse: %d, want 400", status)
	}
	s := e.p.Stats()
	if s.RefreshReuse != 1 || s.GrantsRevoked != 1 || s.RefreshGrants != 1 || s.Grants != 0 {
		t.Fatalf("stats %+v", s)
	}
}

func TestStrictRefreshReuseWithinGraceStillRevokes(t *testing.T) {
	e := newEnv(t)
	first := e.signedIn(t, fullScope)
	if status, _ := e.refresh(t, str(first["refresh_token"]), nil); status != 200 {
		t.Fatal(status)
	}
	e.clock.Advance(time.Second)
	if status, _ := e.refresh(t, str(first["refresh_token"]), nil); status != 400 {
		t.Fatalf("strict reuse after 1 s: %d, want 400", status)
	}
}

func TestLenientRefresh(t *testing.T) {
	ttl := 10 * 24 * time.Hour
	e := newEnv(t, func(c *Config) { c.LenientRefresh = true; c.RefreshTokenTTL = ttl })
	first := e.signedIn(t, fullScope)
	rt := str(first["refresh_token"])

	// Before 70% of the lifetime: the same refresh token comes back.
	e.clock.Advance(ttl * 6 / 10)
	status, body := e.refresh(t, rt, nil)
	if status != 200 || str(body["refresh_token"]) != rt {
		t.Fatalf("before 70%%: %d, same token = %v", status, str(body["refresh_token"]) == rt)
	}
	// After 70%: rotated.
	e.clock.Advance(ttl * 2 / 10)
	status, body = e.refresh(t, rt, nil)
	next := str(body["refresh_token"])
	if status != 200 || next == rt || next == "" {
		t.Fatalf("after 70%%: %d, rotated = %v", status, next != rt)
	}
	// Reuse within 3 s is forgiven.
	e.clock.Advance(2 * time.Second)
	if status, body := e.refresh(t, rt, nil); status != 200 {
		t.Fatalf("reuse within 3 s: %d %v", status, body)
	}
	// Reuse after 3 s revokes the grant, newest tokens included.
	e.clock.Advance(2 * time.Second)
	if status, body := e.refresh(t, rt, nil); status != 400 || body["error"] != "invalid_grant" {
		t.Fatalf("reuse after 3 s: %d %v", status, body)
	}
	if status, _ := e.refresh(t, next, nil); status != 400 {
		t.Fatalf("successor after revocation: %d, want 400", status)
	}
	if s := e.p.Stats(); s.RefreshReuse != 2 || s.GrantsRevoked != 1 {
		t.Fatalf("stats %+v", s)
	}
}

func TestConcurrentRefreshExactlyOneWins(t *testing.T) {
	e := newEnv(t)
	rt := str(e.signedIn(t, fullScope)["refresh_token"])
	const n = 8
	statuses := make([]int, n)
	bodies := make([]map[string]any, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			statuses[i], bodies[i] = e.refresh(t, rt, nil)
		}()
	}
	wg.Wait()
	wins := 0
	var winner string
	for i, s := range statuses {
		if s == 200 {
			wins++
			winner = str(bodies[i]["refresh_token"])
		}
	}
	if wins != 1 {
		t.Fatalf("%d concurrent refreshes won, want exactly 1 (%v)", wins, statuses)
	}
	if status, _ := e.refresh(t, winner, nil); status != 400 {
		t.Fatalf("winner's token after the losers' reuse: %d, want 400 (grant revoked)", status)
	}
	// The first loser revokes the grant; later ones find no token at all.
	if s := e.p.Stats(); s.RefreshReuse < 1 || s.GrantsRevoked != 1 || s.RefreshGrants != 1 {
		t.Fatalf("stats %+v", s)
	}
}

func TestRefreshExpiredAndWrongClient(t *testing.T) {
	e := newEnv(t, func(c *Config) {
		c.Clients = append(c.Clients, Client{ID: "other", Secret: "other-secret", RedirectURIs: []string{"https://other.example.test/cb"}})
	})
	rt := str(e.signedIn(t, fullScope)["refresh_token"])
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "client_id": {"other"}, "client_secret": {"other-secret"}}
	if status, body := e.postToken(t, form, false); status != 400 || body["error"] != "invalid_grant" {
		t.Fatalf("other client's refresh: %d %v", status, body)
	}
	e.clock.Advance(DefaultRefreshTokenTTL + time.Second)
	if status, body := e.refresh(t, rt, nil); status != 400 || body["error"] != "invalid_grant" {
		t.Fatalf("expired refresh: %d %v", status, body)
	}
}

func TestResourceToken(t *testing.T) {
	e := newEnv(t)
	tokens := e.signedIn(t, fullScope+" read:demo", DefaultResourceIndicator)
	status, body := e.refresh(t, str(tokens["refresh_token"]), url.Values{"resource": {DefaultResourceIndicator}})
	if status != 200 {
		t.Fatalf("%d %v", status, body)
	}
	rotated := str(body["refresh_token"])
	header, claims := e.decodeJWT(t, str(body["access_token"]))
	if header["typ"] != "at+jwt" || header["alg"] != "ES384" || header["kid"] == nil {
		t.Fatalf("header %v", header)
	}
	if got, want := keysOf(claims), sorted("jti", "sub", "iat", "exp", "scope", "client_id", "iss", "aud"); !slices.Equal(got, want) {
		t.Fatalf("claims %v, want %v", got, want)
	}
	if claims["aud"] != DefaultResourceIndicator || claims["scope"] != "read:demo" || body["scope"] != "read:demo" || claims["sub"] != AliceID {
		t.Fatalf("claims %v body %v", claims, body)
	}
	if status, _ := e.userinfo(t, str(body["access_token"])); status != 401 {
		t.Fatalf("resource JWT at /oidc/me: %d, want 401", status)
	}
	_, id := e.decodeJWT(t, str(body["id_token"]))
	if id["nonce"] != "n-0S6_WzA2Mj" || id["at_hash"] != atHash(str(body["access_token"])) {
		t.Fatalf("id token with resource refresh: %v", id)
	}

	// Not requested at sign-in → invalid_target with Logto's body.
	plain := e.signedIn(t, fullScope)
	status, body = e.refresh(t, str(plain["refresh_token"]), url.Values{"resource": {DefaultResourceIndicator}})
	want := map[string]any{"code": "oidc.invalid_target", "message": "Invalid resource indicator.",
		"error": "invalid_target", "error_description": "resource indicator is missing, or unknown"}
	if status != 400 || !equalJSON(body, want) {
		t.Fatalf("unrequested resource: %d %v", status, body)
	}
	if status, body := e.refresh(t, rotated, url.Values{"resource": {"https://unknown.example.test"}}); status != 400 || body["error"] != "invalid_target" {
		t.Fatalf("unknown resource: %d %v", status, body)
	}
}

func equalJSON(a, b map[string]any) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range b {
		if a[k] != v {
			return false
		}
	}
	return true
}

func TestOrganizationToken(t *testing.T) {
	e := newEnv(t)
	orgScope := "openid offline_access urn:logto:scope:organizations read:docs write:docs"
	tokens := e.signedIn(t, orgScope, OrganizationsResource)
	status, body := e.refresh(t, str(tokens["refresh_token"]), url.Values{"organization_id": {DefaultOrganizationID}})
	if status != 200 {
		t.Fatalf("%d %v", status, body)
	}
	header, claims := e.decodeJWT(t, str(body["access_token"]))
	if header["typ"] != "at+jwt" || claims["aud"] != "urn:logto:organization:org_acme" || claims["scope"] != "read:docs write:docs" ||
		claims["client_id"] != testClientID || claims["sub"] != AliceID {
		t.Fatalf("org token %v %v", header, claims)
	}
	_, id := e.decodeJWT(t, str(tokens["id_token"]))
	if orgs, _ := id["organizations"].([]any); len(orgs) != 1 || orgs[0] != DefaultOrganizationID {
		t.Fatalf("id token organizations %v", id["organizations"])
	}

	cases := []struct {
		name, scope string
		resources   []string
		org         string
		status      int
		err         string
	}{
		{"not a member", orgScope, []string{OrganizationsResource}, "org_other", 400, "access_denied"},
		{"resource not requested", orgScope, nil, DefaultOrganizationID, 400, "invalid_target"},
		{"scope not requested", "openid offline_access", []string{OrganizationsResource}, DefaultOrganizationID, 403, "insufficient_scope"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tokens := e.signedIn(t, tc.scope, tc.resources...)
			status, body := e.refresh(t, str(tokens["refresh_token"]), url.Values{"organization_id": {tc.org}})
			if status != tc.status || body["error"] != tc.err {
				t.Fatalf("%d %v", status, body)
			}
		})
	}
}

func TestRefreshHistoryIsBounded(t *testing.T) {
	e := newEnv(t)
	rt := str(e.signedIn(t, fullScope)["refresh_token"])
	var history []string
	for range maxRefreshHistory + 10 {
		history = append(history, rt)
		status, body := e.refresh(t, rt, nil)
		if status != 200 {
			t.Fatalf("refresh: %d %v", status, body)
		}
		rt = str(body["refresh_token"])
	}
	if s := e.p.Stats(); s.RefreshTokens > maxRefreshHistory {
		t.Fatalf("%d refresh tokens remembered for one grant, want <= %d", s.RefreshTokens, maxRefreshHistory)
	}
	// A recently consumed token is still detected as reuse.
	if status, _ := e.refresh(t, history[len(history)-2], nil); status != 400 {
		t.Fatal(status)
	}
	if s := e.p.Stats(); s.RefreshReuse != 1 || s.GrantsRevoked != 1 {
		t.Fatalf("stats %+v", s)
	}
}
