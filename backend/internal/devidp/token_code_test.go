package devidp

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"
)

const fullScope = "openid profile email offline_access identities roles"

func TestCodeExchangeResponseShape(t *testing.T) {
	e := newEnv(t)
	code := e.signIn(t, e.browser(t), e.authURL(fullScope, url.Values{"prompt": {"consent"}}), AliceUsername, AlicePassword)
	req, _ := http.NewRequest(http.MethodPost, e.issuer+"/token", strings.NewReader(url.Values{
		"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {testRedirect}, "code_verifier": {testVerifier},
	}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(testClientID, testSecret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Cache-Control") != "no-store" ||
		resp.Header.Get("Content-Type") != "application/json; charset=utf-8" {
		t.Fatalf("status %d headers %v", resp.StatusCode, resp.Header)
	}

	code = e.signIn(t, e.browser(t), e.authURL(fullScope, url.Values{"prompt": {"consent"}}), AliceUsername, AlicePassword)
	body := e.exchange(t, code)
	if got, want := keysOf(body), sorted("access_token", "expires_in", "id_token", "refresh_token", "scope", "token_type"); !slices.Equal(got, want) {
		t.Fatalf("token response keys %v, want %v", got, want)
	}
	if len(str(body["access_token"])) != 43 || len(str(body["refresh_token"])) != 43 || body["expires_in"] != float64(3600) ||
		body["token_type"] != "Bearer" || body["scope"] != fullScope {
		t.Fatalf("token response %v", body)
	}
	header, claims := e.decodeJWT(t, str(body["id_token"]))
	if header["alg"] != "ES384" || header["typ"] != "JWT" || str(header["kid"]) != e.p.keys.current().kid {
		t.Fatalf("id token header %v", header)
	}
	// Exactly the claim names a real Logto sent for a password user.
	want := sorted("sub", "name", "picture", "updated_at", "username", "created_at", "email", "email_verified",
		"roles", "nonce", "at_hash", "sid", "aud", "exp", "iat", "iss")
	if got := keysOf(claims); !slices.Equal(got, want) {
		t.Fatalf("id token claims %v, want %v", got, want)
	}
	if claims["picture"] != nil || claims["created_at"] != float64(1795632365819) || claims["nonce"] != "n-0S6_WzA2Mj" ||
		claims["at_hash"] != atHash(str(body["access_token"])) || claims["aud"] != testClientID || claims["iss"] != e.issuer ||
		claims["exp"].(float64)-claims["iat"].(float64) != 3600 {
		t.Fatalf("id token claims %v", claims)
	}
}

func TestClientAuthentication(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		name      string
		basic     [2]string // id, secret; empty → no header
		post      url.Values
		status    int
		wantError string
	}{
		{"basic", [2]string{testClientID, testSecret}, nil, 200, ""},
		{"post", [2]string{}, url.Values{"client_id": {testClientID}, "client_secret": {testSecret}}, 200, ""},
		{"both", [2]string{testClientID, testSecret}, url.Values{"client_id": {testClientID}, "client_secret": {testSecret}}, 400, "invalid_request"},
		{"wrong secret basic", [2]string{testClientID, "nope"}, nil, 401, "invalid_client"},
		{"wrong secret post", [2]string{}, url.Values{"client_id": {testClientID}, "client_secret": {"nope"}}, 401, "invalid_client"},
		{"unknown client", [2]string{"other", testSecret}, nil, 401, "invalid_client"},
		{"none", [2]string{}, url.Values{"client_id": {testClientID}}, 401, "invalid_client"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code := e.signIn(t, e.browser(t), e.authURL("openid", nil), AliceUsername, AlicePassword)
			form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {testRedirect}, "code_verifier": {testVerifier}}
			for k, v := range tc.post {
				form[k] = v
			}
			req, _ := http.NewRequest(http.MethodPost, e.issuer+"/token", strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			if tc.basic[0] != "" {
				req.SetBasicAuth(tc.basic[0], tc.basic[1])
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body := readBody(t, resp)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.status, body)
			}
			if tc.wantError != "" {
				for _, s := range []string{`"error":"` + tc.wantError + `"`, `"code":"oidc.` + tc.wantError + `"`, `"message":`, `"error_description":`} {
					if !strings.Contains(body, s) {
						t.Fatalf("error body %s lacks %s", body, s)
					}
				}
			}
		})
	}
}

func TestCodeExchangeFailures(t *testing.T) {
	e := newEnv(t)
	newCode := func(t *testing.T) string {
		return e.signIn(t, e.browser(t), e.authURL(fullScope, url.Values{"prompt": {"consent"}}), AliceUsername, AlicePassword)
	}
	exchange := func(code, redirect, verifier string) (int, map[string]any) {
		form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirect}}
		if verifier != "" {
			form.Set("code_verifier", verifier)
		}
		return e.postToken(t, form, true)
	}
	t.Run("wrong verifier, then the right one still works", func(t *testing.T) {
		code := newCode(t)
		for _, v := range []string{"", strings.Repeat("x", 43), "short"} {
			if status, body := exchange(code, testRedirect, v); status != 400 || body["error"] != "invalid_grant" {
				t.Fatalf("verifier %q: %d %v", v, status, body)
			}
		}
		if status, body := exchange(code, testRedirect, testVerifier); status != 200 {
			t.Fatalf("right verifier: %d %v", status, body)
		}
	})
	t.Run("redirect_uri mismatch", func(t *testing.T) {
		if status, body := exchange(newCode(t), testRedirect+"/", testVerifier); status != 400 || body["error"] != "invalid_grant" {
			t.Fatalf("%d %v", status, body)
		}
	})
	t.Run("reused code deletes the grant", func(t *testing.T) {
		code := newCode(t)
		first := e.exchange(t, code)
		status, body := exchange(code, testRedirect, testVerifier)
		if status != 400 || body["error"] != "invalid_grant" || body["code"] != "oidc.invalid_grant" || body["message"] != "Grant request is invalid." {
			t.Fatalf("reuse: %d %v", status, body)
		}
		if status, _ := e.userinfo(t, str(first["access_token"])); status != 401 {
			t.Fatalf("first access token after code reuse: %d, want 401", status)
		}
		if status, _ := e.refresh(t, str(first["refresh_token"]), nil); status != 400 {
			t.Fatalf("first refresh token after code reuse: %d, want 400", status)
		}
	})
	t.Run("expired code", func(t *testing.T) {
		code := newCode(t)
		e.clock.Advance(DefaultCodeTTL + time.Second)
		if status, body := exchange(code, testRedirect, testVerifier); status != 400 || body["error"] != "invalid_grant" {
			t.Fatalf("%d %v", status, body)
		}
	})
	t.Run("unknown code", func(t *testing.T) {
		if status, body := exchange("not-a-code", testRedirect, testVerifier); status != 400 || body["error"] != "invalid_grant" {
			t.Fatalf("%d %v", status, body)
		}
	})
	t.Run("grant types", func(t *testing.T) {
		if status, body := e.postToken(t, url.Values{"grant_type": {"password"}}, true); status != 400 || body["error"] != "unsupported_grant_type" {
			t.Fatalf("%d %v", status, body)
		}
		if status, body := e.postToken(t, url.Values{}, true); status != 400 || body["error"] != "invalid_request" {
			t.Fatalf("%d %v", status, body)
		}
	})
}

func TestCodeWithoutPKCE(t *testing.T) {
	e := newEnv(t)
	authURL := e.issuer + "/auth?" + url.Values{"client_id": {testClientID}, "redirect_uri": {testRedirect},
		"response_type": {"code"}, "scope": {"openid"}, "state": {"s"}}.Encode()
	code := e.signIn(t, e.browser(t), authURL, AliceUsername, AlicePassword)
	form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {testRedirect}}
	if status, body := e.postToken(t, form, true); status != 200 {
		t.Fatalf("confidential client without PKCE: %d %v", status, body)
	}
}

func TestOfflineAccessNeedsConsent(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		prompt        string
		wantRefresh   bool
		wantAuthTime  bool
		wantScopeHasO bool
	}{
		{"", false, false, false},
		{"login", false, true, false},
		{"consent", true, false, true},
		{"login consent", true, true, true},
	}
	for _, tc := range tests {
		t.Run("prompt="+tc.prompt, func(t *testing.T) {
			extra := url.Values{}
			if tc.prompt != "" {
				extra.Set("prompt", tc.prompt)
			}
			body := e.exchange(t, e.signIn(t, e.browser(t), e.authURL(fullScope, extra), AliceUsername, AlicePassword))
			if got := body["refresh_token"] != nil; got != tc.wantRefresh {
				t.Fatalf("refresh token issued = %v, want %v", got, tc.wantRefresh)
			}
			if got := strings.Contains(str(body["scope"]), "offline_access"); got != tc.wantScopeHasO {
				t.Fatalf("scope %q", body["scope"])
			}
			_, claims := e.decodeJWT(t, str(body["id_token"]))
			if _, got := claims["auth_time"]; got != tc.wantAuthTime {
				t.Fatalf("auth_time present = %v, want %v", got, tc.wantAuthTime)
			}
		})
	}
}

func TestCodeExchangeWithResource(t *testing.T) {
	e := newEnv(t)
	exchange := func(code string, resources ...string) (int, map[string]any) {
		form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {testRedirect},
			"code_verifier": {testVerifier}, "resource": resources}
		return e.postToken(t, form, true)
	}
	scope := "openid offline_access read:demo"
	withRes := url.Values{"prompt": {"consent"}, "resource": {DefaultResourceIndicator}}
	// Requested at sign-in and at the exchange: a JWT for the resource.
	status, body := exchange(e.signIn(t, e.browser(t), e.authURL(scope, withRes), AliceUsername, AlicePassword), DefaultResourceIndicator)
	if status != 200 {
		t.Fatalf("%d %v", status, body)
	}
	header, claims := e.decodeJWT(t, str(body["access_token"]))
	if header["typ"] != "at+jwt" || claims["aud"] != DefaultResourceIndicator || claims["scope"] != "read:demo" || body["refresh_token"] == nil {
		t.Fatalf("%v %v %v", header, claims, body)
	}
	// Requested at sign-in only: still the opaque token, like Logto.
	body = e.exchange(t, e.signIn(t, e.browser(t), e.authURL(scope, withRes), AliceUsername, AlicePassword))
	if len(str(body["access_token"])) != 43 {
		t.Fatalf("want opaque token, got %q", body["access_token"])
	}
	// Not requested at sign-in: invalid_target, and the code is not spent.
	code := e.signIn(t, e.browser(t), e.authURL(scope, url.Values{"prompt": {"consent"}}), AliceUsername, AlicePassword)
	if status, body := exchange(code, DefaultResourceIndicator); status != 400 || body["error"] != "invalid_target" {
		t.Fatalf("%d %v", status, body)
	}
	if status, body := exchange(code); status != 200 {
		t.Fatalf("after invalid_target: %d %v", status, body)
	}
}
