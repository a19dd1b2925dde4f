package httpapi

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/logto-bff/bff/backend/internal/devidp"
	"github.com/logto-bff/bff/backend/internal/devidp/devidptest"
	"github.com/logto-bff/bff/backend/internal/session"
)

// endSessionURL is the IdP's end-session URL for our client.
func (cl *cluster) endSessionURL() string {
	return cl.idpSrv.URL + "/oidc/session/end?" + url.Values{"client_id": {clientID}}.Encode()
}

// signOutAtIdP ends the browser's IdP session (the user signs out at Logto,
// or the BFF's sign-out redirect got there), which delivers logout tokens.
func (b *cbrowser) signOutAtIdP(t testing.TB, endSessionURL string) {
	t.Helper()
	resp, err := devidptest.SignOut(context.Background(), b.client, endSessionURL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
}

// postLogout POSTs a logout_token to node i (contract-checked).
func (b *cbrowser) postLogout(t testing.TB, i int, token string) (int, string) {
	t.Helper()
	resp, err := b.client.PostForm(b.cl.nodes[i].publicURL()+"/auth/backchannel-logout", url.Values{"logout_token": {token}})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		return resp.StatusCode, ""
	}
	var e struct{ Error string }
	_ = json.NewDecoder(resp.Body).Decode(&e)
	return resp.StatusCode, e.Error
}

func TestBackchannelLogoutEndsSessionsOnEveryInstance(t *testing.T) {
	for _, via := range []string{"bff sign-out", "idp"} {
		t.Run(via, func(t *testing.T) {
			cl := newCluster(t, clusterOptions{nodes: 2})
			b := cl.browser(t)
			// Two BFF sessions in one Logto session (same sid): one made
			// through each instance (the second sign-in is SSO at the IdP).
			b.signIn(t, 0)
			first := b.cookie()
			// Forget the BFF cookie (not the IdP's), or the second sign-in
			// would replace the first session (no fixation).
			b.jar.SetCookies(mustURL(cl.nodes[0].publicURL()), []*http.Cookie{{Name: "bff-session", Value: "x", Path: "/", MaxAge: -1}})
			b.signIn(t, 1)
			second := b.cookie()
			for _, c := range []string{first, second} {
				if _, err := cl.stored(t, 0, c); err != nil {
					t.Fatalf("session missing before logout: %v", err)
				}
			}
			delivered, revoked := cl.idp.Stats().BackchannelDelivered, cl.idp.Stats().Revocations

			endSession := cl.endSessionURL()
			if via == "bff sign-out" {
				req, _ := http.NewRequest(http.MethodPost, cl.nodes[0].publicURL()+"/auth/sign-out", nil)
				req.Header.Set("Origin", cl.nodes[0].publicURL())
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				resp, err := b.noFollow().Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusSeeOther {
					t.Fatalf("sign-out = %d", resp.StatusCode)
				}
				endSession = resp.Header.Get("Location")
			}
			b.signOutAtIdP(t, endSession)

			if st := cl.idp.Stats(); st.BackchannelDelivered != delivered+1 || st.BackchannelFailed != 0 {
				t.Fatalf("back-channel deliveries: %+v", st)
			}
			for i := range 2 {
				for _, c := range []string{first, second} {
					if _, err := cl.stored(t, i, c); !errors.Is(err, session.ErrNoSession) {
						t.Errorf("instance %d: session still there after back-channel logout: %v", i, err)
					}
				}
			}
			b.jar.SetCookies(mustURL(cl.nodes[0].publicURL()), []*http.Cookie{{Name: "bff-session", Value: first, Path: "/"}})
			if code, errCode := b.me(t, 0); code != http.StatusUnauthorized || errCode != "unauthorized" {
				t.Errorf("/api/me with the first session = %d %s", code, errCode)
			}
			if got := cl.metricValue(t, 1, `bff_backchannel_logouts_total{result="success"}`); got != 1 {
				t.Errorf("back-channel success metric = %v", got)
			}
			// Both sessions' refresh tokens are revoked at the IdP (Logto's
			// end session keeps offline_access grants alive): one by the
			// BFF's sign-out when it started there, the rest by the
			// back-channel logout, after it answered.
			deadline := time.Now().Add(5 * time.Second)
			for cl.idp.Stats().Revocations < revoked+2 && time.Now().Before(deadline) {
				time.Sleep(20 * time.Millisecond)
			}
			if got := cl.idp.Stats().Revocations - revoked; got != 2 {
				t.Errorf("refresh tokens revoked at the IdP = %d, want 2", got)
			}
		})
	}
}

func mustURL(s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		panic(err)
	}
	return u
}

// forgedLogoutToken is a well-formed logout token for our client signed by
// a key the IdP never published.
func forgedLogoutToken(t *testing.T, issuer string, iat time.Time) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES384, Key: key},
		(&jose.SignerOptions{}).WithType("logout+jwt").WithHeader("kid", "forged"))
	if err != nil {
		t.Fatal(err)
	}
	payload, _ := json.Marshal(map[string]any{
		"iss": issuer, "aud": clientID, "iat": iat.Unix(), "jti": "forged-jti", "sub": devidp.AliceID, "sid": "some-sid",
		"events": map[string]any{"http://schemas.openid.net/event/backchannel-logout": map[string]any{}},
	})
	jws, err := signer.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func TestBackchannelLogoutRejections(t *testing.T) {
	cl := newCluster(t, clusterOptions{nodes: 2})
	b := cl.browser(t)

	// Replayed: a genuine token, delivered once (200), then again (400) —
	// on the other instance too.
	b.signIn(t, 0)
	b.signOutAtIdP(t, cl.endSessionURL())
	genuine := cl.logoutTokens("/bff")
	if len(genuine) != 1 {
		t.Fatalf("%d logout tokens delivered", len(genuine))
	}
	for i := range 2 {
		if code, errCode := b.postLogout(t, i, genuine[0]); code != http.StatusBadRequest || errCode != "invalid_request" {
			t.Errorf("replay on instance %d = %d %s", i, code, errCode)
		}
	}

	// Wrong audience: the token the IdP sent another app of the same
	// Logto session.
	cl.holdLogouts.Store(true)
	b.signIn(t, 0)
	authz := cl.idpSrv.URL + "/oidc/auth?" + url.Values{
		"client_id": {otherClientID}, "redirect_uri": {otherRedirect}, "response_type": {"code"},
		"scope": {"openid"}, "state": {"s"}, "nonce": {"n"},
	}.Encode()
	resp, err := b.client.Get(authz)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if loc := resp.Header.Get("Location"); !strings.HasPrefix(loc, otherRedirect) {
		t.Fatalf("other app's sign-in did not complete: %d %s", resp.StatusCode, loc)
	}
	b.signOutAtIdP(t, cl.endSessionURL())
	other := cl.logoutTokens("/other")
	held := cl.logoutTokens("/bff")
	if len(other) != 1 || len(held) != 2 {
		t.Fatalf("tokens: other %d, ours %d", len(other), len(held))
	}
	if code, errCode := b.postLogout(t, 0, other[0]); code != http.StatusBadRequest || errCode != "invalid_request" {
		t.Errorf("wrong audience = %d %s", code, errCode)
	}

	// Expired: our held (never delivered) token, once older than the
	// verifier accepts (2 min + 60 s leeway).
	ours := held[1]
	cl.bffClock.Advance(3*time.Minute + time.Second)
	if code, errCode := b.postLogout(t, 1, ours); code != http.StatusBadRequest || errCode != "invalid_request" {
		t.Errorf("expired = %d %s", code, errCode)
	}
	// The same token while fresh is accepted: the rejection was its age.
	cl.bffClock.Advance(-3*time.Minute - time.Second)
	if code, errCode := b.postLogout(t, 1, ours); code != http.StatusOK {
		t.Errorf("the held token while fresh = %d %s", code, errCode)
	}

	// Forged: right claims, unknown key.
	if code, errCode := b.postLogout(t, 0, forgedLogoutToken(t, cl.idpSrv.URL+"/oidc", cl.bffClock.Now())); code != http.StatusBadRequest || errCode != "invalid_request" {
		t.Errorf("forged = %d %s", code, errCode)
	}
	// Garbage and a missing token.
	if code, _ := b.postLogout(t, 0, "not.a.jwt"); code != http.StatusBadRequest {
		t.Errorf("garbage = %d", code)
	}
	resp, err = b.client.Post(cl.nodes[0].publicURL()+"/auth/backchannel-logout", "application/x-www-form-urlencoded", strings.NewReader(""))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		t.Errorf("missing token = %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	// Body size limited.
	resp, err = b.client.Post(cl.nodes[0].publicURL()+"/auth/backchannel-logout", "application/x-www-form-urlencoded",
		strings.NewReader("logout_token="+strings.Repeat("a", DefaultMaxBodyBytes+1)))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("oversized = %d", resp.StatusCode)
	}
	// Store down: 503, the token is not consumed (not marked).
	b.signIn(t, 0)
	b.signOutAtIdP(t, cl.endSessionURL())
	held = cl.logoutTokens("/bff")
	cl.redis.Stop()
	if code, errCode := b.postLogout(t, 0, held[len(held)-1]); code != http.StatusServiceUnavailable || errCode != "store_unavailable" {
		t.Errorf("store down = %d %s", code, errCode)
	}
	cl.redis.Start()
	rejected := cl.metricValue(t, 0, `bff_backchannel_logouts_total{result="rejected"}`) + cl.metricValue(t, 1, `bff_backchannel_logouts_total{result="rejected"}`)
	if rejected != 8 {
		t.Errorf("rejected metric = %v, want 8", rejected)
	}
}
