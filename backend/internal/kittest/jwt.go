package kittest

import (
	"crypto/ecdsa"
	"encoding/json"
	"testing"

	"github.com/go-jose/go-jose/v4"
)

// SignES384 signs payload with key (ES384) into a compact JWS with the
// header kid and, unless typ is empty, the header typ (logout tokens are
// "logout+jwt"). It fails tb on any error.
func SignES384(tb testing.TB, key *ecdsa.PrivateKey, kid, typ string, payload []byte) string {
	tb.Helper()
	opts := (&jose.SignerOptions{}).WithHeader("kid", kid)
	if typ != "" {
		opts = opts.WithType(jose.ContentType(typ))
	}
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

// SignClaimsES384 is SignES384 of claims marshalled as JSON.
func SignClaimsES384(tb testing.TB, key *ecdsa.PrivateKey, kid, typ string, claims map[string]any) string {
	tb.Helper()
	payload, err := json.Marshal(claims)
	if err != nil {
		tb.Fatal(err)
	}
	return SignES384(tb, key, kid, typ, payload)
}
