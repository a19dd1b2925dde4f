package reliability

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/logto-bff/bff/backend/internal/config"
	"github.com/logto-bff/bff/backend/internal/devidp"
	"github.com/logto-bff/bff/backend/internal/devidp/devidptest"
)

// postLogout posts a back-channel logout form to replica i.
func postLogout(ctx context.Context, u *user, i int, form url.Values) (int, map[string]any, error) {
	resp, body, err := u.do(pinned(ctx, i), http.MethodPost, "/auth/backchannel-logout", strings.NewReader(form.Encode()),
		"Content-Type", "application/x-www-form-urlencoded")
	if err != nil {
		return 0, nil, err
	}
	m := map[string]any{}
	_ = json.Unmarshal(body, &m)
	return resp.StatusCode, m, nil
}

// signJWT signs claims with key under kid and alg ES384.
func signJWT(t *testing.T, key *ecdsa.PrivateKey, kid, typ string, claims map[string]any) string {
	t.Helper()
	opts := (&jose.SignerOptions{}).WithType(jose.ContentType(typ)).WithHeader("kid", kid)
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES384, Key: key}, opts)
	if err != nil {
		t.Fatal(err)
	}
	payload, _ := json.Marshal(claims)
	jws, err := s.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	out, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// withPayload keeps tok's header and signature and swaps its payload.
func withPayload(tok string, claims map[string]any) string {
	parts := strings.Split(tok, ".")
	b, _ := json.Marshal(claims)
	return parts[0] + "." + base64.RawURLEncoding.EncodeToString(b) + "." + parts[2]
}

func unsignedJWT(claims map[string]any) string {
	h := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"logout+jwt"}`))
	b, _ := json.Marshal(claims)
	return h + "." + base64.RawURLEncoding.EncodeToString(b) + "."
}

func TestHostileBackchannelLogoutTokens(t *testing.T) {
	ctx := deadline(t, 60*time.Second)
	api := startUpstream(t)
	c := newCluster(t, clusterOptions{replicas: 2, users: 2, env: map[string]string{
		config.EnvAPIRoutes: "demo=" + api.srv.URL + "/base|" + devidp.DefaultResourceIndicator,
	}})
	users := signInAll(ctx, t, c, 2)
	leaver, victim := users[0], users[1]

	// The real thing: the user signs out at Logto only; Logto's logout
	// token reaches one replica and the session ends on every replica.
	delivered := c.idp.provider.Stats().BackchannelDelivered
	end := c.idp.issuer() + "/session/end?" + url.Values{"client_id": {clientID}, "post_logout_redirect_uri": {publicURL + "/"}}.Encode()
	resp, err := devidptest.SignOut(ctx, leaver.follow, end)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := c.idp.provider.Stats().BackchannelDelivered; got != delivered+1 {
		t.Fatalf("back-channel deliveries %d → %d, want one more (failed: %d)", delivered, got, c.idp.provider.Stats().BackchannelFailed)
	}
	expectEverywhere(ctx, t, c, []*user{leaver}, http.StatusUnauthorized, "")
	real := c.bal.lastLogoutToken()
	if real == "" {
		t.Fatal("no logout token captured")
	}
	header, _ := base64.RawURLEncoding.DecodeString(strings.Split(real, ".")[0])
	var hdr struct {
		Kid string `json:"kid"`
	}
	_ = json.Unmarshal(header, &hdr)

	// The victim's identifiers, as an attacker who saw its ID token would know them.
	code, me, _ := victim.me(ctx, 0)
	if code != http.StatusOK {
		t.Fatalf("victim /api/me = %d", code)
	}
	sub := me["user"].(map[string]any)["sub"].(string)
	var idToken, resourceToken, sid string
	// A resource token (aud = the API, signed by the IdP).
	if resp, body, err := victim.do(ctx, http.MethodGet, "/api/proxy/demo/x", nil, "X-CSRF", "1"); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("proxy call = %v %s", statusOf(resp), body)
	}
	for _, tok := range c.idp.provider.IssuedTokens() {
		cl := jwtClaims(tok)
		if cl == nil || cl["sub"] != sub {
			continue
		}
		if _, ok := cl["nonce"]; ok {
			idToken, sid = tok, cl["sid"].(string)
		}
		if cl["aud"] == devidp.DefaultResourceIndicator {
			resourceToken = tok
		}
	}
	if idToken == "" || resourceToken == "" || sid == "" {
		t.Fatalf("could not find the victim's ID token, sid and resource token among the issued tokens")
	}

	now := time.Now().Unix()
	good := map[string]any{
		"iss": c.idp.issuer(), "aud": clientID, "iat": now, "exp": now + 120, "jti": randomHex(16),
		"sub": sub, "sid": sid, "events": map[string]any{"http://schemas.openid.net/event/backchannel-logout": map[string]any{}},
	}
	mallory, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	with := func(k string, v any) map[string]any {
		m := map[string]any{}
		for kk, vv := range good {
			m[kk] = vv
		}
		m["jti"] = randomHex(16)
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
		return m
	}
	forged := []struct {
		name string
		form url.Values
	}{
		{"no logout_token", url.Values{"x": {"1"}}},
		{"empty", url.Values{"logout_token": {""}}},
		{"two tokens", url.Values{"logout_token": {real, real}}},
		{"garbage", url.Values{"logout_token": {"not-a-jwt"}}},
		{"three dots", url.Values{"logout_token": {"a.b.c"}}},
		{"alg none", url.Values{"logout_token": {unsignedJWT(good)}}},
		{"signed by another key, unknown kid", url.Values{"logout_token": {signJWT(t, mallory, "mallory", "logout+jwt", good)}}},
		{"signed by another key, the IdP's kid", url.Values{"logout_token": {signJWT(t, mallory, hdr.Kid, "logout+jwt", good)}}},
		{"forged, expired", url.Values{"logout_token": {signJWT(t, mallory, hdr.Kid, "logout+jwt", with("iat", now-3600))}}},
		{"forged, wrong audience", url.Values{"logout_token": {signJWT(t, mallory, hdr.Kid, "logout+jwt", with("aud", "another-app"))}}},
		{"forged, with nonce", url.Values{"logout_token": {signJWT(t, mallory, hdr.Kid, "logout+jwt", with("nonce", "n"))}}},
		{"real signature, payload for the victim", url.Values{"logout_token": {withPayload(real, with("sid", sid))}}},
		{"real signature, payload without exp", url.Values{"logout_token": {withPayload(real, with("exp", nil))}}},
		{"the victim's ID token (IdP-signed, nonce, no events)", url.Values{"logout_token": {idToken}}},
		{"the victim's API token (IdP-signed, wrong audience)", url.Values{"logout_token": {resourceToken}}},
		{"the real token, replayed", url.Values{"logout_token": {real}}},
	}
	for i := range c.replicas {
		for _, f := range forged {
			code, m, err := postLogout(ctx, victim, i, f.form)
			if err != nil || code != http.StatusBadRequest || errorCode(m) != "invalid_request" {
				t.Errorf("bff%d %s: %d %v %v, want 400 invalid_request", i, f.name, code, m, err)
			}
		}
	}
	// None of it ended the victim's session.
	expectEverywhere(ctx, t, c, []*user{victim}, http.StatusOK, "")
}
