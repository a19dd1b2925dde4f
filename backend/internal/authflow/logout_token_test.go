package authflow

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/go-jose/go-jose/v4"
)

// ltSampleClaims are the claims of a logout token a real Logto 1.37.1 sent
// (logto-samples/e-logout_logout-token.claims.json): note there is no "exp".
const ltSampleClaims = `{
  "sub": "y0hahtpzdlqa",
  "events": {"http://schemas.openid.net/event/backchannel-logout": {}},
  "jti": "LpKL9ZrJgAhIIze6vZKAs",
  "sid": "yEkxx3yvA3OJJFlLeL3D0",
  "aud": "2xnhxlalgdzpdlbmddc42",
  "iat": 1795634187,
  "iss": "http://127.0.0.1:3001/oidc"
}`

const (
	ltIssuer   = "http://127.0.0.1:3001/oidc"
	ltClientID = "2xnhxlalgdzpdlbmddc42"
	ltKID      = "PnV61WWwI-yCOdlzz8KfbDniqSVI5stktDpFtom_-Mw"
	ltIAT      = 1795634187
)

// ltNow is 30 s after the sample's iat: the POST is prompt.
var ltNow = time.Unix(ltIAT+30, 0)

type ltKeys struct {
	signing *ecdsa.PrivateKey // the IdP's key, published in the JWKS
	other   *ecdsa.PrivateKey // an attacker's key, never published
}

var (
	ltKeysOnce sync.Once
	ltKeysVal  ltKeys
)

func ltTestKeys(tb testing.TB) ltKeys {
	tb.Helper()
	ltKeysOnce.Do(func() {
		for _, k := range []**ecdsa.PrivateKey{&ltKeysVal.signing, &ltKeysVal.other} {
			key, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
			if err != nil {
				panic(err)
			}
			*k = key
		}
	})
	return ltKeysVal
}

// ltClaims returns the sample claims with edits applied; a nil value
// deletes the claim.
func ltClaims(tb testing.TB, edits map[string]any) map[string]any {
	tb.Helper()
	var c map[string]any
	if err := json.Unmarshal([]byte(ltSampleClaims), &c); err != nil {
		tb.Fatal(err)
	}
	for k, v := range edits {
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
	}
	return c
}

// ltSign signs payload with ES384 like Logto: kid and (unless typ is empty)
// the typ header.
func ltSign(tb testing.TB, key *ecdsa.PrivateKey, typ string, payload []byte) string {
	tb.Helper()
	opts := (&jose.SignerOptions{}).WithHeader("kid", ltKID)
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

func ltSignClaims(tb testing.TB, key *ecdsa.PrivateKey, typ string, claims map[string]any) string {
	tb.Helper()
	payload, err := json.Marshal(claims)
	if err != nil {
		tb.Fatal(err)
	}
	return ltSign(tb, key, typ, payload)
}

func ltB64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// ltUnsigned builds alg "none" tokens, the classic signature bypass.
func ltUnsigned(claims string) string {
	return ltB64([]byte(`{"alg":"none","typ":"logout+jwt"}`)) + "." + ltB64([]byte(claims)) + "."
}

// ltHS256WithPublicKey builds the key-confusion forgery: HMAC keyed with the
// IdP's public key bytes, which an attacker knows.
func ltHS256WithPublicKey(tb testing.TB, pub crypto.PublicKey, claims string) string {
	tb.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		tb.Fatal(err)
	}
	input := ltB64([]byte(`{"alg":"HS256","typ":"logout+jwt","kid":"`+ltKID+`"}`)) + "." + ltB64([]byte(claims))
	mac := hmac.New(sha256.New, der)
	mac.Write([]byte(input))
	return input + "." + ltB64(mac.Sum(nil))
}

// ltJWKSServer publishes the signing key like Logto's /oidc/jwks.
func ltJWKSServer(tb testing.TB, pub *ecdsa.PublicKey) string {
	tb.Helper()
	set := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: pub, KeyID: ltKID, Algorithm: "ES384", Use: "sig"}}}
	body, err := json.Marshal(set)
	if err != nil {
		tb.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	}))
	tb.Cleanup(srv.Close)
	return srv.URL + "/oidc/jwks"
}

func TestLogoutVerifierVerify(t *testing.T) {
	keys := ltTestKeys(t)
	ctx := t.Context()
	remote := oidc.NewRemoteKeySet(ctx, ltJWKSServer(t, &keys.signing.PublicKey))
	v := NewLogoutVerifier(remote, ltIssuer, ltClientID, LogoutVerifierOptions{
		Now:        func() time.Time { return ltNow },
		Algorithms: []string{oidc.ES384}, // as Logto's discovery advertises
	})
	signed := func(edits map[string]any) func(t *testing.T) string {
		return func(t *testing.T) string { return ltSignClaims(t, keys.signing, "logout+jwt", ltClaims(t, edits)) }
	}
	tests := []struct {
		name    string
		token   func(t *testing.T) string
		wantErr string // "" means accepted
	}{
		{"logto sample, no exp", signed(nil), ""},
		{"exp in the future", signed(map[string]any{"exp": ltIAT + 120}), ""},
		{"exp passed within leeway", signed(map[string]any{"exp": ltIAT}), ""},
		{"fractional iat", signed(map[string]any{"iat": ltIAT + 0.5}), ""},
		{"only sub", signed(map[string]any{"sid": nil}), ""},
		{"only sid", signed(map[string]any{"sub": nil}), ""},
		{"aud array", signed(map[string]any{"aud": []string{"other", ltClientID}}), ""},
		{"no typ header", func(t *testing.T) string { return ltSignClaims(t, keys.signing, "", ltClaims(t, nil)) }, ""},
		{"typ with application prefix", func(t *testing.T) string {
			return ltSignClaims(t, keys.signing, "application/Logout+JWT", ltClaims(t, nil))
		}, ""},
		{"expired exp", signed(map[string]any{"exp": ltIAT - 61}), "expired"},
		{"exp not a number", signed(map[string]any{"exp": "soon"}), "exp: not a number"},
		{"iat too old", signed(map[string]any{"iat": ltNow.Unix() - 181}), "iat older than 3m0s"},
		{"iat at the age limit", signed(map[string]any{"iat": ltNow.Unix() - 180}), ""},
		{"iat in the future", signed(map[string]any{"iat": ltNow.Unix() + 61}), "iat in the future"},
		{"iat missing", signed(map[string]any{"iat": nil}), "iat missing"},
		{"nbf in the future", signed(map[string]any{"nbf": ltNow.Unix() + 300}), "nbf"},
		{"wrong aud", signed(map[string]any{"aud": "another-app"}), "aud does not contain the client ID"},
		{"wrong iss", signed(map[string]any{"iss": "http://127.0.0.1:3001/other"}), "iss is not the issuer"},
		{"forged signature, other key", func(t *testing.T) string {
			return ltSignClaims(t, keys.other, "logout+jwt", ltClaims(t, nil))
		}, "signature, issuer, audience or claim types"},
		{"alg none", func(t *testing.T) string { return ltUnsigned(ltSampleClaims) }, "header alg"},
		{"HS256 keyed with the public key", func(t *testing.T) string {
			return ltHS256WithPublicKey(t, &keys.signing.PublicKey, ltSampleClaims)
		}, "header alg"},
		{"payload swapped under a valid signature", func(t *testing.T) string {
			parts := strings.Split(ltSignClaims(t, keys.signing, "logout+jwt", ltClaims(t, nil)), ".")
			evil, _ := json.Marshal(ltClaims(t, map[string]any{"sub": "victim"}))
			return parts[0] + "." + ltB64(evil) + "." + parts[2]
		}, "signature, issuer, audience or claim types"},
		{"missing events", signed(map[string]any{"events": nil}), "events missing"},
		{"wrong event", signed(map[string]any{"events": map[string]any{"http://schemas.openid.net/event/other": map[string]any{}}}), "lacks the backchannel-logout event"},
		{"events not an object", signed(map[string]any{"events": []string{logoutEvent}}), "events is not an object"},
		{"event value not an object", signed(map[string]any{"events": map[string]any{logoutEvent: true}}), "event is not an object"},
		{"event value null", signed(map[string]any{"events": map[string]any{logoutEvent: json.RawMessage("null")}}), "event is not an object"},
		{"nonce present", signed(map[string]any{"nonce": "n-0S6_WzA2Mj"}), "nonce"},
		{"nonce null", signed(map[string]any{"nonce": json.RawMessage("null")}), "nonce"},
		{"no sid and no sub", signed(map[string]any{"sid": nil, "sub": nil}), "neither sub nor sid"},
		{"empty sid and sub", signed(map[string]any{"sid": "", "sub": ""}), "neither sub nor sid"},
		{"sid not a string", signed(map[string]any{"sid": 42}), "sid is not a string"},
		{"missing jti", signed(map[string]any{"jti": nil}), "jti missing"},
		{"jti null", signed(map[string]any{"jti": json.RawMessage("null")}), "jti is not a string"},
		{"wrong typ JWT (an ID token)", func(t *testing.T) string {
			return ltSignClaims(t, keys.signing, "JWT", ltClaims(t, nil))
		}, "typ"},
		{"wrong typ at+jwt", func(t *testing.T) string {
			return ltSignClaims(t, keys.signing, "at+jwt", ltClaims(t, nil))
		}, "typ"},
		{"oversize", signed(map[string]any{"pad": strings.Repeat("x", 8<<10)}), "larger than 8192 bytes"},
		{"JSON serialization", func(t *testing.T) string {
			parts := strings.Split(ltSignClaims(t, keys.signing, "logout+jwt", ltClaims(t, nil)), ".")
			return `{"protected":"` + parts[0] + `","payload":"` + parts[1] + `","signature":"` + parts[2] + `"}`
		}, "not a compact JWS"},
		{"empty", func(*testing.T) string { return "" }, "not a compact JWS"},
		{"header not JSON", func(*testing.T) string { return ltB64([]byte("nope")) + ".e30.c2ln" }, "header is not a JSON object"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw := tt.token(t)
			got, err := v.Verify(ctx, raw)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				if got.JTI == "" || (got.Subject == "" && got.SID == "") || got.IssuedAt.IsZero() {
					t.Fatalf("claims incomplete: %+v", got)
				}
				return
			}
			if err == nil {
				t.Fatalf("Verify accepted the token, want error containing %q", tt.wantErr)
			}
			if !errors.Is(err, ErrInvalidLogoutToken) {
				t.Fatalf("error %v does not wrap ErrInvalidLogoutToken", err)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error %q, want it to contain %q", err, tt.wantErr)
			}
			if raw != "" && strings.Contains(err.Error(), raw) {
				t.Fatalf("error message contains the token")
			}
			if got != nil {
				t.Fatalf("claims returned with an error: %+v", got)
			}
		})
	}
}

func TestLogoutVerifierSampleClaims(t *testing.T) {
	keys := ltTestKeys(t)
	v := NewLogoutVerifier(&oidc.StaticKeySet{PublicKeys: []crypto.PublicKey{&keys.signing.PublicKey}},
		ltIssuer, ltClientID, LogoutVerifierOptions{Now: func() time.Time { return ltNow }})
	got, err := v.Verify(t.Context(), ltSign(t, keys.signing, "logout+jwt", []byte(ltSampleClaims)))
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	want := LogoutClaims{Subject: "y0hahtpzdlqa", SID: "yEkxx3yvA3OJJFlLeL3D0", JTI: "LpKL9ZrJgAhIIze6vZKAs", IssuedAt: time.Unix(ltIAT, 0)}
	if *got != want {
		t.Fatalf("claims = %+v, want %+v", *got, want)
	}
}

func TestLogoutVerifierOptions(t *testing.T) {
	keys := ltTestKeys(t)
	static := &oidc.StaticKeySet{PublicKeys: []crypto.PublicKey{&keys.signing.PublicKey}}
	token := ltSign(t, keys.signing, "logout+jwt", []byte(ltSampleClaims))
	clock := func(d time.Duration) func() time.Time { return func() time.Time { return time.Unix(ltIAT, 0).Add(d) } }
	tests := []struct {
		name string
		opts LogoutVerifierOptions
		ok   bool
	}{
		{"defaults, 3m after iat", LogoutVerifierOptions{Now: clock(3 * time.Minute)}, true},
		{"defaults, 3m1s after iat", LogoutVerifierOptions{Now: clock(3*time.Minute + time.Second)}, false},
		{"MaxAge 10m", LogoutVerifierOptions{Now: clock(10 * time.Minute), MaxAge: 10 * time.Minute}, true},
		{"negative leeway is zero", LogoutVerifierOptions{Now: clock(2*time.Minute + time.Second), Leeway: -1}, false},
		{"leeway 5m for a skewed clock", LogoutVerifierOptions{Now: clock(-4 * time.Minute), Leeway: 5 * time.Minute}, true},
		{"only RS256 allowed", LogoutVerifierOptions{Now: clock(0), Algorithms: []string{oidc.RS256}}, false},
		{"HS256 and none dropped, defaults remain", LogoutVerifierOptions{Now: clock(0), Algorithms: []string{"HS256", "none"}}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewLogoutVerifier(static, ltIssuer, ltClientID, tt.opts).Verify(t.Context(), token)
			if (err == nil) != tt.ok {
				t.Fatalf("Verify err = %v, want ok=%v", err, tt.ok)
			}
		})
	}
	t.Run("replay window covers every acceptable iat", func(t *testing.T) {
		v := NewLogoutVerifier(static, ltIssuer, ltClientID, LogoutVerifierOptions{})
		if got := v.ReplayWindow(); got != 4*time.Minute {
			t.Fatalf("ReplayWindow = %s, want 4m (2m MaxAge + 2 x 60s leeway)", got)
		}
		// First seen when iat is a leeway ahead; still accepted a window later.
		seen := time.Unix(ltIAT, 0).Add(-time.Minute)
		last := seen.Add(v.ReplayWindow())
		for _, at := range []time.Time{seen, last} {
			if _, err := NewLogoutVerifier(static, ltIssuer, ltClientID, LogoutVerifierOptions{Now: func() time.Time { return at }}).Verify(t.Context(), token); err != nil {
				t.Fatalf("at %s: %v", at.Sub(time.Unix(ltIAT, 0)), err)
			}
		}
		if _, err := NewLogoutVerifier(static, ltIssuer, ltClientID, LogoutVerifierOptions{Now: func() time.Time { return last.Add(time.Second) }}).Verify(t.Context(), token); err == nil {
			t.Fatal("accepted after the replay window")
		}
	})
	t.Run("empty client ID rejects everything", func(t *testing.T) {
		_, err := NewLogoutVerifier(static, ltIssuer, "", LogoutVerifierOptions{Now: clock(0)}).Verify(t.Context(), token)
		if !errors.Is(err, ErrInvalidLogoutToken) {
			t.Fatalf("err = %v, want ErrInvalidLogoutToken", err)
		}
	})
}

// FuzzParseLogoutToken feeds arbitrary strings to Verify. It must never
// panic, every error must wrap ErrInvalidLogoutToken without quoting the
// input, and nothing but a token actually signed by the IdP's key may pass:
// the fuzzer does not hold that key.
func FuzzParseLogoutToken(f *testing.F) {
	keys := ltTestKeys(f)
	genuine := map[string]bool{}
	sign := func(typ string, claims string) string {
		raw := ltSign(f, keys.signing, typ, []byte(claims))
		genuine[raw] = true
		return raw
	}
	valid := sign("logout+jwt", ltSampleClaims)
	f.Add(valid)
	f.Add(sign("", ltSampleClaims))
	f.Add(sign("logout+jwt", `{"iss":"http://127.0.0.1:3001/oidc","aud":"2xnhxlalgdzpdlbmddc42","iat":1795634187,"jti":"j","sub":"s","events":{"http://schemas.openid.net/event/backchannel-logout":{}},"nonce":"x"}`))
	f.Add(ltSignClaims(f, keys.other, "logout+jwt", ltClaims(f, nil)))
	f.Add(ltUnsigned(ltSampleClaims))
	f.Add(ltHS256WithPublicKey(f, &keys.signing.PublicKey, ltSampleClaims))
	f.Add(valid[:len(valid)-2])
	f.Add(strings.Replace(valid, ".", "..", 1))
	f.Add("")
	f.Add("..")
	f.Add("e30.e30.")
	f.Add(`{"protected":"e30","payload":"e30","signature":""}`)
	v := NewLogoutVerifier(&oidc.StaticKeySet{PublicKeys: []crypto.PublicKey{&keys.signing.PublicKey}},
		ltIssuer, ltClientID, LogoutVerifierOptions{Now: func() time.Time { return ltNow }})
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, raw string) {
		got, err := v.Verify(ctx, raw)
		if err == nil {
			if !genuine[raw] {
				t.Fatalf("accepted a token the IdP never signed: %q", raw)
			}
			if got == nil || got.JTI == "" || (got.Subject == "" && got.SID == "") {
				t.Fatalf("accepted with incomplete claims: %+v", got)
			}
			return
		}
		if !errors.Is(err, ErrInvalidLogoutToken) {
			t.Fatalf("error %v does not wrap ErrInvalidLogoutToken", err)
		}
		if len(raw) >= 16 && strings.Contains(err.Error(), raw) {
			t.Fatalf("error quotes the token: %v", err)
		}
	})
}

// FuzzLogoutTokenClaims signs arbitrary claim bytes with the IdP's key, so
// the claim checks (not the signature) are what is fuzzed: whatever passes
// must satisfy the back-channel logout rules.
func FuzzLogoutTokenClaims(f *testing.F) {
	keys := ltTestKeys(f)
	for _, s := range []string{
		ltSampleClaims,
		`{"iss":"http://127.0.0.1:3001/oidc","aud":["2xnhxlalgdzpdlbmddc42"],"iat":1795634200.25,"exp":1795634307,"jti":"j","sid":"s","events":{"http://schemas.openid.net/event/backchannel-logout":{"x":1}}}`,
		`{"iss":"http://127.0.0.1:3001/oidc","aud":"2xnhxlalgdzpdlbmddc42","iat":1795634187,"jti":"j","sub":"s","events":{"http://schemas.openid.net/event/backchannel-logout":null},"nonce":null}`,
		`{"iss":"http://127.0.0.1:3001/oidc","aud":"2xnhxlalgdzpdlbmddc42","iat":1e300,"jti":"j","sub":"s","events":{}}`,
		`[]`, `null`, `{}`, `{"iat":-1}`,
	} {
		f.Add([]byte(s))
	}
	v := NewLogoutVerifier(&oidc.StaticKeySet{PublicKeys: []crypto.PublicKey{&keys.signing.PublicKey}},
		ltIssuer, ltClientID, LogoutVerifierOptions{Now: func() time.Time { return ltNow }})
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, claims []byte) {
		got, err := v.Verify(ctx, ltSign(t, keys.signing, "logout+jwt", claims))
		if err != nil {
			if !errors.Is(err, ErrInvalidLogoutToken) {
				t.Fatalf("error %v does not wrap ErrInvalidLogoutToken", err)
			}
			return
		}
		if got.JTI == "" || (got.Subject == "" && got.SID == "") {
			t.Fatalf("accepted with incomplete claims: %+v", got)
		}
		if d := ltNow.Sub(got.IssuedAt); d > 3*time.Minute || d < -time.Minute {
			t.Fatalf("accepted iat %v, %v from now", got.IssuedAt, d)
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal(claims, &m); err != nil {
			t.Fatalf("accepted claims that are not a JSON object: %v", err)
		}
		if _, ok := m["nonce"]; ok {
			t.Fatalf("accepted a token with a nonce")
		}
		var events map[string]map[string]json.RawMessage
		if err := json.Unmarshal(m["events"], &events); err != nil || events[logoutEvent] == nil {
			t.Fatalf("accepted without a backchannel-logout event object: %s", m["events"])
		}
	})
}
