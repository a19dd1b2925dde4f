package authflow

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/go-jose/go-jose/v4"
)

// rotatingJWKS is a JWKS endpoint whose keys the test replaces, counting
// the requests it answers.
type rotatingJWKS struct {
	url  string
	hits atomic.Int64
	mu   sync.Mutex
	keys []jose.JSONWebKey
}

func newRotatingJWKS(t *testing.T, keys ...jose.JSONWebKey) *rotatingJWKS {
	t.Helper()
	j := &rotatingJWKS{keys: keys}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		j.hits.Add(1)
		j.mu.Lock()
		body, err := json.Marshal(jose.JSONWebKeySet{Keys: j.keys})
		j.mu.Unlock()
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	}))
	t.Cleanup(srv.Close)
	j.url = srv.URL + "/oidc/jwks"
	return j
}

func (j *rotatingJWKS) publish(keys ...jose.JSONWebKey) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.keys = keys
}

// manualClock is a clock the test moves.
type manualClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *manualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *manualClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func (c *manualClock) set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

func publicJWK(key *ecdsa.PrivateKey, kid string) jose.JSONWebKey {
	return jose.JSONWebKey{Key: &key.PublicKey, KeyID: kid, Algorithm: string(jose.ES384), Use: "sig"}
}

// signWithKID signs claims as a logout token with key under kid.
func signWithKID(tb testing.TB, key *ecdsa.PrivateKey, kid string, claims map[string]any) string {
	tb.Helper()
	payload, err := json.Marshal(claims)
	if err != nil {
		tb.Fatal(err)
	}
	opts := (&jose.SignerOptions{}).WithHeader("kid", kid).WithType("logout+jwt")
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES384, Key: key}, opts)
	if err != nil {
		tb.Fatal(err)
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		tb.Fatal(err)
	}
	raw, err := jws.CompactSerialize()
	if err != nil {
		tb.Fatal(err)
	}
	return raw
}

func randomKID(tb testing.TB) string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		tb.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// TestLogoutKeysRefetchAtMostOncePerInterval measures the key set's
// invalidation bound: forged tokens with random kids (otherwise perfect:
// right issuer, audience, age and shape) make at most one JWKS fetch per
// KeySetRefetchInterval, and a real rotation is picked up within one
// interval.
func TestLogoutKeysRefetchAtMostOncePerInterval(t *testing.T) {
	keys := ltTestKeys(t)
	clock := &manualClock{t: ltNow}
	jwks := newRotatingJWKS(t, publicJWK(keys.signing, "k1"))
	v := NewLogoutVerifier(newLimitedKeySet(&http.Client{Timeout: 5 * time.Second}, jwks.url, KeySetRefetchInterval, clock.Now),
		ltIssuer, ltClientID, LogoutVerifierOptions{Now: clock.Now, Algorithms: []string{oidc.ES384}})
	ctx := t.Context()
	fresh := func(edits map[string]any) map[string]any {
		c := ltClaims(t, edits)
		c["iat"] = clock.Now().Unix()
		c["jti"] = randomKID(t)
		return c
	}

	// A genuine token: the first use fetches the key set.
	if _, err := v.Verify(ctx, signWithKID(t, keys.signing, "k1", fresh(nil))); err != nil {
		t.Fatalf("genuine token: %v", err)
	}
	if n := jwks.hits.Load(); n != 1 {
		t.Fatalf("JWKS fetched %d times for the first token, want 1", n)
	}

	// 1,000 forged tokens with random kids, all at once: no fetch at all
	// (the last one is more recent than the interval).
	attacker, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	for range 1000 {
		if _, err := v.Verify(ctx, signWithKID(t, attacker, randomKID(t), fresh(nil))); err == nil {
			t.Fatal("a forged token was accepted")
		}
	}
	if n := jwks.hits.Load(); n != 1 {
		t.Fatalf("1,000 forged tokens made %d JWKS fetches, want none beyond the first", n-1)
	}

	// Spread over 1,000 seconds (one per second): at most one fetch per
	// interval.
	for range 1000 {
		clock.advance(time.Second)
		if _, err := v.Verify(ctx, signWithKID(t, attacker, randomKID(t), fresh(nil))); err == nil {
			t.Fatal("a forged token was accepted")
		}
	}
	maxFetches := int64(1000*time.Second/KeySetRefetchInterval) + 1
	if n := jwks.hits.Load() - 1; n > maxFetches {
		t.Fatalf("1,000 forged tokens over 1,000 s made %d JWKS fetches, want at most %d", n, maxFetches)
	}

	// A real rotation right after a fetch: a token signed with the new key
	// is refused for less than one interval, then accepted.
	clock.advance(KeySetRefetchInterval)
	if _, err := v.Verify(ctx, signWithKID(t, attacker, randomKID(t), fresh(nil))); err == nil {
		t.Fatal("a forged token was accepted")
	}
	fetchedAt := clock.Now() // that forged token just fetched the key set
	rotated, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	jwks.publish(publicJWK(rotated, "k2"), publicJWK(keys.signing, "k1"))
	clock.advance(KeySetRefetchInterval / 2)
	if _, err := v.Verify(ctx, signWithKID(t, rotated, "k2", fresh(nil))); err == nil {
		t.Fatal("the rotated key was used before the key set could be fetched again")
	}
	clock.set(fetchedAt.Add(KeySetRefetchInterval))
	before := jwks.hits.Load()
	if _, err := v.Verify(ctx, signWithKID(t, rotated, "k2", fresh(nil))); err != nil {
		t.Fatalf("a token signed with the rotated key, one interval after the last fetch: %v", err)
	}
	if n := jwks.hits.Load() - before; n != 1 {
		t.Fatalf("picking up the rotation took %d fetches, want 1", n)
	}
	// The old key still verifies, from the cache.
	if _, err := v.Verify(ctx, signWithKID(t, keys.signing, "k1", fresh(nil))); err != nil {
		t.Fatalf("token signed with the previous key: %v", err)
	}
}

// countingKeySet counts key lookups.
type countingKeySet struct {
	oidc.KeySet
	calls atomic.Int64
}

func (k *countingKeySet) VerifySignature(ctx context.Context, jwt string) ([]byte, error) {
	k.calls.Add(1)
	return k.KeySet.VerifySignature(ctx, jwt)
}

// TestLogoutTokenCheckedBeforeAnyKeyLookup: a token of the wrong shape,
// algorithm, issuer, audience, age or kind never reaches the key set.
func TestLogoutTokenCheckedBeforeAnyKeyLookup(t *testing.T) {
	keys := ltTestKeys(t)
	ks := &countingKeySet{KeySet: &oidc.StaticKeySet{PublicKeys: []crypto.PublicKey{&keys.signing.PublicKey}}}
	v := NewLogoutVerifier(ks, ltIssuer, ltClientID, LogoutVerifierOptions{
		Now: func() time.Time { return ltNow }, Algorithms: []string{oidc.ES384},
	})
	signed := func(edits map[string]any) string {
		return ltSignClaims(t, keys.other, "logout+jwt", ltClaims(t, edits))
	}
	for name, raw := range map[string]string{
		"not a JWS":    "a.b",
		"garbage":      "x.y.z",
		"alg none":     ltUnsigned(ltSampleClaims),
		"HS256":        ltHS256WithPublicKey(t, &keys.signing.PublicKey, ltSampleClaims),
		"wrong iss":    signed(map[string]any{"iss": "https://evil.example/oidc"}),
		"no iss":       signed(map[string]any{"iss": nil}),
		"wrong aud":    signed(map[string]any{"aud": "another-app"}),
		"no aud":       signed(map[string]any{"aud": nil}),
		"too old":      signed(map[string]any{"iat": ltIAT - 3600}),
		"no events":    signed(map[string]any{"events": nil}),
		"an ID token":  ltSignClaims(t, keys.other, "JWT", ltClaims(t, nil)),
		"with a nonce": signed(map[string]any{"nonce": "n"}),
		"no jti":       signed(map[string]any{"jti": nil}),
	} {
		if _, err := v.Verify(t.Context(), raw); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if n := ks.calls.Load(); n != 0 {
		t.Fatalf("malformed tokens caused %d key lookups, want 0", n)
	}
	// A well-formed token (forged signature) is the first to look a key up.
	if _, err := v.Verify(t.Context(), signed(nil)); err == nil {
		t.Fatal("forged signature accepted")
	}
	if n := ks.calls.Load(); n != 1 {
		t.Fatalf("key lookups = %d, want 1", n)
	}
}
