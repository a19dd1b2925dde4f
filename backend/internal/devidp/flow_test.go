package devidp

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/go-jose/go-jose/v4"
	"github.com/logto-bff/bff/backend/internal/devidp/devidptest"
	"golang.org/x/oauth2"
)

// logoutReceiver is a client's back-channel logout endpoint.
type logoutReceiver struct {
	mu     sync.Mutex
	tokens []string
}

func (l *logoutReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/x-www-form-urlencoded" {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	_ = r.ParseForm()
	l.mu.Lock()
	l.tokens = append(l.tokens, r.PostForm.Get("logout_token"))
	l.mu.Unlock()
	w.WriteHeader(http.StatusOK)
}

func (l *logoutReceiver) received() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.tokens...)
}

// TestFullCodeFlow runs the real client stack (x/oauth2 + go-oidc) through
// every step a BFF takes against the dev IdP.
func TestFullCodeFlow(t *testing.T) {
	recv := &logoutReceiver{}
	rs := httptest.NewServer(recv)
	t.Cleanup(rs.Close)
	e := newEnv(t, func(c *Config) {
		c.Now = nil // real clock: go-oidc checks exp/iat against time.Now
		c.Clients[0].BackchannelLogoutURI = rs.URL + "/auth/backchannel-logout"
	})
	ctx := oidc.ClientContext(context.Background(), http.DefaultClient)

	// Discovery and the verifier built from it (ES384 only).
	op, err := oidc.NewProvider(ctx, e.issuer)
	if err != nil {
		t.Fatalf("discovery: %v", err)
	}
	verifier := op.Verifier(&oidc.Config{ClientID: testClientID})
	cfg := e.oauth2Config(oidc.ScopeOpenID, "profile", "email", oidc.ScopeOfflineAccess, "identities", "roles", "read:demo")
	cfg.Endpoint = op.Endpoint()
	cfg.Endpoint.AuthStyle = oauth2.AuthStyleInHeader

	signIn := func(t *testing.T, discord bool, nonce string) (*oauth2.Token, *oidc.IDToken) {
		t.Helper()
		verifierPKCE := oauth2.GenerateVerifier()
		authURL := cfg.AuthCodeURL("state-"+nonce, oauth2.S256ChallengeOption(verifierPKCE), oidc.Nonce(nonce),
			oauth2.SetAuthURLParam("prompt", "consent"), oauth2.SetAuthURLParam("resource", DefaultResourceIndicator))
		var resp *http.Response
		if discord {
			resp, err = devidptest.SignInWithDiscord(ctx, e.browser(t), authURL)
		} else {
			resp, err = devidptest.SignIn(ctx, e.browser(t), authURL, AliceUsername, AlicePassword)
		}
		if err != nil {
			t.Fatal(err)
		}
		q := callback(t, resp)
		if q.Get("state") != "state-"+nonce || q.Get("iss") != e.issuer {
			t.Fatalf("callback state/iss: %v", q)
		}
		tok, err := cfg.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(verifierPKCE))
		if err != nil {
			t.Fatalf("exchange: %v", err)
		}
		raw, _ := tok.Extra("id_token").(string)
		idt, err := verifier.Verify(ctx, raw)
		if err != nil {
			t.Fatalf("verify id token: %v", err)
		}
		if idt.Nonce != nonce {
			t.Fatalf("nonce = %q, want %q", idt.Nonce, nonce)
		}
		if err := idt.VerifyAccessToken(tok.AccessToken); err != nil {
			t.Fatalf("at_hash: %v", err)
		}
		return tok, idt
	}

	// Alice: password form.
	browser := e.browser(t)
	verifierPKCE := oauth2.GenerateVerifier()
	authURL := cfg.AuthCodeURL("state-alice", oauth2.S256ChallengeOption(verifierPKCE), oidc.Nonce("nonce-alice"),
		oauth2.SetAuthURLParam("prompt", "consent"), oauth2.SetAuthURLParam("resource", DefaultResourceIndicator))
	resp, err := devidptest.SignIn(ctx, browser, authURL, AliceUsername, AlicePassword)
	if err != nil {
		t.Fatal(err)
	}
	q := callback(t, resp)
	tok, err := cfg.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(verifierPKCE))
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	if len(tok.AccessToken) != 43 || tok.RefreshToken == "" || tok.TokenType != "Bearer" {
		t.Fatalf("token response: access %d chars, refresh %t, type %q", len(tok.AccessToken), tok.RefreshToken != "", tok.TokenType)
	}
	rawID, _ := tok.Extra("id_token").(string)
	idt, err := verifier.Verify(ctx, rawID)
	if err != nil {
		t.Fatalf("verify id token: %v", err)
	}
	var idClaims struct {
		Sid      string   `json:"sid"`
		Username string   `json:"username"`
		Roles    []string `json:"roles"`
	}
	if err := idt.Claims(&idClaims); err != nil {
		t.Fatal(err)
	}
	if idt.Subject != AliceID || idt.Nonce != "nonce-alice" || idClaims.Sid == "" || idClaims.Username != AliceUsername {
		t.Fatalf("id token: sub %q nonce %q claims %+v", idt.Subject, idt.Nonce, idClaims)
	}
	if err := idt.VerifyAccessToken(tok.AccessToken); err != nil {
		t.Fatalf("at_hash: %v", err)
	}

	// Nelly: Discord, userinfo shows the Discord identity.
	ntok, _ := signIn(t, true, "nonce-nelly")
	ui, err := op.UserInfo(ctx, oauth2.StaticTokenSource(ntok))
	if err != nil {
		t.Fatalf("userinfo: %v", err)
	}
	var uiClaims map[string]any
	if err := ui.Claims(&uiClaims); err != nil {
		t.Fatal(err)
	}
	discord, _ := uiClaims["identities"].(map[string]any)["discord"].(map[string]any)
	details, _ := discord["details"].(map[string]any)
	raw, _ := details["rawData"].(map[string]any)
	if ui.Subject != NellyID || discord["userId"] != DiscordUserID || raw["global_name"] != "Nelly" || uiClaims["username"] != nil {
		t.Fatalf("nelly userinfo: %v", uiClaims)
	}

	// Resource token for alice: a JWT verified with go-jose against the JWKS.
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}, "resource": {DefaultResourceIndicator}}
	status, body := postBasic(t, op.Endpoint().TokenURL, form)
	if status != http.StatusOK {
		t.Fatalf("resource refresh: %d %v", status, body)
	}
	at := str(body["access_token"])
	jws, err := jose.ParseSigned(at, []jose.SignatureAlgorithm{jose.ES384})
	if err != nil {
		t.Fatalf("parse resource token: %v", err)
	}
	if typ := jws.Signatures[0].Protected.ExtraHeaders["typ"]; typ != "at+jwt" {
		t.Fatalf("resource token typ = %v", typ)
	}
	keys := fetchJWKS(t, e.issuer+"/jwks")
	matching := keys.Key(jws.Signatures[0].Header.KeyID)
	if len(matching) != 1 {
		t.Fatalf("kid %q not in JWKS", jws.Signatures[0].Header.KeyID)
	}
	payload, err := jws.Verify(matching[0])
	if err != nil {
		t.Fatalf("resource token signature: %v", err)
	}
	var atClaims map[string]any
	_ = json.Unmarshal(payload, &atClaims)
	if atClaims["aud"] != DefaultResourceIndicator || atClaims["scope"] != "read:demo" || atClaims["client_id"] != testClientID ||
		atClaims["sub"] != AliceID || atClaims["iss"] != e.issuer || atClaims["jti"] == nil || atClaims["exp"] == nil {
		t.Fatalf("resource token claims: %v", atClaims)
	}
	rotated := str(body["refresh_token"])
	if rotated == "" || rotated == tok.RefreshToken {
		t.Fatal("strict mode must rotate the refresh token")
	}
	newAccess := func() string {
		status, body := postBasic(t, op.Endpoint().TokenURL, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rotated}})
		if status != http.StatusOK {
			t.Fatalf("refresh: %d %v", status, body)
		}
		rotated = str(body["refresh_token"])
		return str(body["access_token"])
	}()
	if status, _ := e.userinfo(t, newAccess); status != http.StatusOK {
		t.Fatalf("userinfo with refreshed token: %d", status)
	}

	// Reusing the consumed refresh token revokes the grant: /oidc/me then 401.
	status, body = postBasic(t, op.Endpoint().TokenURL, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}})
	if status != http.StatusBadRequest || body["error"] != "invalid_grant" {
		t.Fatalf("reuse: %d %v", status, body)
	}
	if status, _ := e.userinfo(t, newAccess); status != http.StatusUnauthorized {
		t.Fatalf("userinfo after grant revoked: %d, want 401", status)
	}
	if status, body := postBasic(t, op.Endpoint().TokenURL, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rotated}}); status != http.StatusBadRequest {
		t.Fatalf("latest refresh token after revocation: %d %v", status, body)
	}

	// End session: confirmation page, back-channel delivery first, then the
	// redirect with state.
	endURL := op.Endpoint().AuthURL[:len(op.Endpoint().AuthURL)-len("/auth")] + "/session/end?" + url.Values{
		"client_id": {testClientID}, "post_logout_redirect_uri": {testPostLogout}, "id_token_hint": {rawID}, "state": {"bye"},
	}.Encode()
	resp, err = devidptest.SignOut(ctx, browser, endURL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != testPostLogout+"?state=bye" {
		t.Fatalf("end session: %d Location %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	got := recv.received()
	if len(got) != 1 {
		t.Fatalf("back-channel deliveries = %d, want 1", len(got))
	}
	lj, err := jose.ParseSigned(got[0], []jose.SignatureAlgorithm{jose.ES384})
	if err != nil {
		t.Fatal(err)
	}
	if typ := lj.Signatures[0].Protected.ExtraHeaders["typ"]; typ != "logout+jwt" {
		t.Fatalf("logout token typ = %v", typ)
	}
	lp, err := lj.Verify(keys.Key(lj.Signatures[0].Header.KeyID)[0])
	if err != nil {
		t.Fatal(err)
	}
	var lc map[string]any
	_ = json.Unmarshal(lp, &lc)
	if _, hasExp := lc["exp"]; hasExp {
		t.Fatal("logout token must have no exp, like Logto")
	}
	if _, hasNonce := lc["nonce"]; hasNonce {
		t.Fatal("logout token must have no nonce")
	}
	events, _ := lc["events"].(map[string]any)
	if lc["sid"] != idClaims.Sid || lc["sub"] != AliceID || lc["aud"] != testClientID || lc["iss"] != e.issuer || events[backchannelEvent] == nil {
		t.Fatalf("logout token claims: %v", lc)
	}
	if s := e.p.Stats(); s.BackchannelDelivered != 1 || s.RefreshReuse != 1 || s.AuthCodeGrants != 2 {
		t.Fatalf("stats: %+v", s)
	}
	// The IdP session is gone: the next authorization shows the form again.
	resp, err = browser.Get(authURL)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(page), `id="sign-in"`) {
		t.Fatalf("after sign-out want the sign-in form, got %d", resp.StatusCode)
	}
}

func postBasic(t *testing.T, tokenURL string, form url.Values) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, tokenURL, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(testClientID, testSecret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&m)
	return resp.StatusCode, m
}

func fetchJWKS(t *testing.T, jwksURL string) jose.JSONWebKeySet {
	t.Helper()
	resp, err := http.Get(jwksURL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var set jose.JSONWebKeySet
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil {
		t.Fatal(err)
	}
	return set
}
