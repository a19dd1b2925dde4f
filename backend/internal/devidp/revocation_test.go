package devidp

import (
	"net/url"
	"testing"
)

func TestRevocation(t *testing.T) {
	e := newEnv(t)
	tokens := e.signedIn(t, fullScope)
	_, rotated := e.refresh(t, str(tokens["refresh_token"]), nil)

	// Client authentication is required.
	if status, body := e.postForm(t, "/token/revocation", url.Values{"token": {str(rotated["refresh_token"])}}, false); status != 401 || body["error"] != "invalid_client" {
		t.Fatalf("unauthenticated revocation: %d %v", status, body)
	}
	form := url.Values{"token": {str(rotated["refresh_token"])}, "client_id": {testClientID}, "client_secret": {"wrong"}}
	if status, _ := e.postForm(t, "/token/revocation", form, false); status != 401 {
		t.Fatalf("wrong secret: %d", status)
	}
	// Revoking the refresh token deletes the whole grant.
	if status, body := e.postForm(t, "/token/revocation", url.Values{"token": {str(rotated["refresh_token"])}, "token_type_hint": {"refresh_token"}}, true); status != 200 {
		t.Fatalf("revocation: %d %v", status, body)
	}
	for _, at := range []string{str(tokens["access_token"]), str(rotated["access_token"])} {
		if status, _ := e.userinfo(t, at); status != 401 {
			t.Fatalf("access token after grant revocation: %d", status)
		}
	}
	if status, _ := e.refresh(t, str(rotated["refresh_token"]), nil); status != 400 {
		t.Fatalf("revoked refresh token: %d", status)
	}
	// Unknown tokens: 200 without effect. Post auth works too.
	form = url.Values{"token": {"unknown"}, "client_id": {testClientID}, "client_secret": {testSecret}}
	if status, _ := e.postForm(t, "/token/revocation", form, false); status != 200 {
		t.Fatalf("unknown token: %d", status)
	}
	if s := e.p.Stats(); s.Revocations != 1 || s.GrantsRevoked != 1 {
		t.Fatalf("stats %+v", s)
	}

	// Revoking an access token kills only that token.
	other := e.signedIn(t, fullScope)
	if status, _ := e.postForm(t, "/token/revocation", url.Values{"token": {str(other["access_token"])}}, true); status != 200 {
		t.Fatal(status)
	}
	if status, _ := e.userinfo(t, str(other["access_token"])); status != 401 {
		t.Fatalf("revoked access token: %d", status)
	}
	if status, _ := e.refresh(t, str(other["refresh_token"]), nil); status != 200 {
		t.Fatalf("refresh after access-token revocation: %d", status)
	}
}

func TestRevokeGrants(t *testing.T) {
	e := newEnv(t)
	a1, a2 := e.signedIn(t, fullScope), e.signedIn(t, fullScope)
	nelly := e.exchange(t, callback(t, mustDiscordConsent(t, e)).Get("code"))
	if n := e.p.RevokeGrants(AliceID); n != 2 {
		t.Fatalf("RevokeGrants = %d, want 2", n)
	}
	for _, tok := range []map[string]any{a1, a2} {
		if status, body := e.refresh(t, str(tok["refresh_token"]), nil); status != 400 || body["error"] != "invalid_grant" {
			t.Fatalf("alice refresh after RevokeGrants: %d %v", status, body)
		}
		if status, _ := e.userinfo(t, str(tok["access_token"])); status != 401 {
			t.Fatalf("alice access token after RevokeGrants: %d", status)
		}
	}
	if status, _ := e.refresh(t, str(nelly["refresh_token"]), nil); status != 200 {
		t.Fatalf("nelly unaffected: %d", status)
	}
}
