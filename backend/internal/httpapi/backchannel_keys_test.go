package httpapi

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/go-jose/go-jose/v4"

	"github.com/logto-bff/bff/backend/internal/authflow"
	"github.com/logto-bff/bff/backend/internal/devidp"
)

// TestForgedLogoutTokensDoNotHammerTheJWKS: anyone can POST to
// /auth/backchannel-logout. 1,000 forged logout tokens, each with a random
// kid (and otherwise well formed: right issuer, audience and age), cost
// the IdP at most one JWKS request; after the IdP rotates its signing key,
// a genuine logout token signed with the new key is accepted once the
// refetch interval has passed, and ends the session.
func TestForgedLogoutTokensDoNotHammerTheJWKS(t *testing.T) {
	cl := newCluster(t, clusterOptions{nodes: 1})
	b := cl.browser(t)
	b.signIn(t, 0)
	cookie := b.cookie()

	attacker, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	before := cl.idp.Stats().JWKSRequests
	for i := range 1000 {
		raw := forgedWithKID(t, attacker, cl.idpSrv.URL+"/oidc", cl.bffClock.Now().Unix(), i)
		if code, errCode := b.postLogout(t, 0, raw); code != http.StatusBadRequest || errCode != "invalid_request" {
			t.Fatalf("forged token %d = %d %s", i, code, errCode)
		}
	}
	fetches := cl.idp.Stats().JWKSRequests - before
	t.Logf("1,000 forged logout tokens with random kids: %d JWKS requests", fetches)
	if fetches > 1 {
		t.Fatalf("1,000 forged logout tokens made %d JWKS requests, want at most 1", fetches)
	}
	if _, err := cl.stored(t, 0, cookie); err != nil {
		t.Fatalf("a forged token ended the session: %v", err)
	}

	// The IdP rotates its key; its next logout token is signed with it.
	if err := cl.idp.RotateSigningKey(); err != nil {
		t.Fatal(err)
	}
	cl.bffClock.Advance(authflow.KeySetRefetchInterval)
	cl.idpClock.Advance(authflow.KeySetRefetchInterval)
	delivered := cl.idp.Stats().BackchannelDelivered
	b.signOutAtIdP(t, cl.endSessionURL())
	if got := cl.idp.Stats().BackchannelDelivered - delivered; got != 1 {
		t.Fatalf("genuine logout token (rotated key) delivered %d times with 2xx, want 1 (failed: %d)", got, cl.idp.Stats().BackchannelFailed)
	}
	if _, err := cl.stored(t, 0, cookie); err == nil {
		t.Fatal("the session survived a genuine back-channel logout")
	}
}

// forgedWithKID is a well-formed logout token for our client, signed by
// key under a random kid.
func forgedWithKID(t *testing.T, key *ecdsa.PrivateKey, issuer string, iat int64, n int) string {
	t.Helper()
	kid := make([]byte, 12)
	if _, err := rand.Read(kid); err != nil {
		t.Fatal(err)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES384, Key: key},
		(&jose.SignerOptions{}).WithType("logout+jwt").WithHeader("kid", hex.EncodeToString(kid)))
	if err != nil {
		t.Fatal(err)
	}
	payload, _ := json.Marshal(map[string]any{
		"iss": issuer, "aud": clientID, "iat": iat, "jti": "forged-" + hex.EncodeToString(kid), "sub": devidp.AliceID,
		"sid": "some-sid", "n": n,
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
