package devidp

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"

	"github.com/go-jose/go-jose/v4"
)

// JWT "typ" header values Logto uses.
const (
	typJWT    = "JWT"
	typAT     = "at+jwt"
	typLogout = "logout+jwt"
)

// keySet holds the P-384 signing keys. The first key signs; the others stay
// published in the JWKS (Logto's next/current/previous rotation).
type keySet struct {
	mu   sync.RWMutex
	keys []signingKey
}

type signingKey struct {
	priv *ecdsa.PrivateKey
	kid  string
}

func newKeySet() (*keySet, error) {
	k, err := newSigningKey()
	if err != nil {
		return nil, err
	}
	return &keySet{keys: []signingKey{k}}, nil
}

func newSigningKey() (signingKey, error) {
	priv, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		return signingKey{}, fmt.Errorf("generate P-384 key: %w", err)
	}
	jwk := jose.JSONWebKey{Key: &priv.PublicKey}
	tp, err := jwk.Thumbprint(crypto.SHA256)
	if err != nil {
		return signingKey{}, fmt.Errorf("key thumbprint: %w", err)
	}
	return signingKey{priv: priv, kid: base64.RawURLEncoding.EncodeToString(tp)}, nil
}

func (ks *keySet) current() signingKey {
	ks.mu.RLock()
	defer ks.mu.RUnlock()
	return ks.keys[0]
}

// sign serializes claims as a compact ES384 JWS with the given typ and the
// current key's kid.
func (ks *keySet) sign(typ string, claims map[string]any) (string, error) {
	k := ks.current()
	opts := (&jose.SignerOptions{}).WithType(jose.ContentType(typ))
	key := jose.JSONWebKey{Key: k.priv, KeyID: k.kid, Algorithm: string(jose.ES384)}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES384, Key: key}, opts)
	if err != nil {
		return "", fmt.Errorf("new signer: %w", err)
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", fmt.Errorf("marshal claims: %w", err)
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		return "", fmt.Errorf("sign: %w", err)
	}
	return jws.CompactSerialize()
}

// verify checks an ES384 JWS made by one of our keys and decodes its claims.
// It checks no time claims: callers decide what expiry means.
func (ks *keySet) verify(token string) (map[string]any, error) {
	jws, err := jose.ParseSignedCompact(token, []jose.SignatureAlgorithm{jose.ES384})
	if err != nil {
		return nil, fmt.Errorf("parse jws: %w", err)
	}
	if len(jws.Signatures) != 1 {
		return nil, errors.New("want exactly one signature")
	}
	kid := jws.Signatures[0].Header.KeyID
	ks.mu.RLock()
	defer ks.mu.RUnlock()
	for _, k := range ks.keys {
		if k.kid != kid {
			continue
		}
		payload, err := jws.Verify(&k.priv.PublicKey)
		if err != nil {
			return nil, fmt.Errorf("verify: %w", err)
		}
		var claims map[string]any
		if err := json.Unmarshal(payload, &claims); err != nil {
			return nil, fmt.Errorf("decode claims: %w", err)
		}
		return claims, nil
	}
	return nil, errors.New("unknown kid")
}

func (ks *keySet) publicJWKS() jose.JSONWebKeySet {
	ks.mu.RLock()
	defer ks.mu.RUnlock()
	var set jose.JSONWebKeySet
	for _, k := range ks.keys {
		set.Keys = append(set.Keys, jose.JSONWebKey{
			Key: &k.priv.PublicKey, KeyID: k.kid, Algorithm: string(jose.ES384), Use: "sig",
		})
	}
	return set
}

// RotateSigningKey makes a new P-384 key the signing key and keeps the
// previous one published in the JWKS, so tokens signed before still verify.
// Clients that cache the JWKS see an unknown kid on the next token.
func (p *Provider) RotateSigningKey() error {
	k, err := newSigningKey()
	if err != nil {
		return err
	}
	p.keys.mu.Lock()
	defer p.keys.mu.Unlock()
	p.keys.keys = append([]signingKey{k}, p.keys.keys[0])
	return nil
}

func (p *Provider) handleJWKS(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	p.stats.JWKSRequests++
	p.mu.Unlock()
	w.Header().Set("Content-Type", "application/jwk-set+json; charset=utf-8")
	w.Header().Set("Cache-Control", "max-age=60")
	_ = json.NewEncoder(w).Encode(p.keys.publicJWKS())
}

// atHash is OIDC's at_hash for ES384: the left half of SHA-384 of the token.
func atHash(accessToken string) string {
	sum := sha512.Sum384([]byte(accessToken))
	return base64.RawURLEncoding.EncodeToString(sum[:len(sum)/2])
}
