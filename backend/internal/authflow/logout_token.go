package authflow

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
)

// ErrInvalidLogoutToken is wrapped by every error LogoutVerifier.Verify
// returns. The wrapping message names the failed check for logs; it never
// contains the token.
var ErrInvalidLogoutToken = errors.New("invalid logout token")

// logoutEvent is the member of the "events" claim that makes a JWT a
// back-channel logout token (OpenID Connect Back-Channel Logout 1.0, 2.4).
const logoutEvent = "http://schemas.openid.net/event/backchannel-logout"

const (
	// logoutMaxTokenBytes bounds the raw token. Logto's are ~550 bytes.
	logoutMaxTokenBytes = 8 << 10
	logoutDefaultMaxAge = 2 * time.Minute
	logoutDefaultLeeway = 60 * time.Second
)

// logoutDefaultAlgs are the asymmetric algorithms accepted when the caller
// names none. Logto signs with ES384 (new tenants) or RS256 (older ones).
var logoutDefaultAlgs = []string{
	oidc.ES384, oidc.RS256, oidc.ES256, oidc.ES512,
	oidc.RS384, oidc.RS512, oidc.PS256, oidc.PS384, oidc.PS512, oidc.EdDSA,
}

// LogoutClaims are the facts a verified logout token asserts. At least one
// of Subject and SID is non-empty; JTI is always non-empty.
type LogoutClaims struct {
	Subject  string    // "sub": the user whose sessions end (may be empty when SID is set)
	SID      string    // "sid": Logto's session id (set when the app requires sessions)
	JTI      string    // "jti": the token id, for replay detection by the caller
	IssuedAt time.Time // "iat"
}

// LogoutVerifierOptions tune a LogoutVerifier. The zero value is usable.
type LogoutVerifierOptions struct {
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// MaxAge bounds how old (by "iat") an accepted token may be, on top of
	// Leeway. Zero means 2 minutes. Logto's tokens carry no "exp", so this is
	// the only thing that makes a captured token go stale.
	MaxAge time.Duration
	// Leeway is the allowed clock skew for "iat", "exp" and "nbf". Zero means
	// 60 seconds; negative values are treated as zero.
	Leeway time.Duration
	// Algorithms are the accepted JWS algorithms; take them from discovery
	// (id_token_signing_alg_values_supported). "none" and HMAC algorithms
	// are always dropped. Empty (or nothing left) means ES384, RS256, ES256,
	// ES512, RS384, RS512, PS256, PS384, PS512 and EdDSA.
	Algorithms []string
}

// LogoutVerifier verifies OpenID Connect back-channel logout tokens as
// Logto sends them. It is safe for concurrent use.
type LogoutVerifier struct {
	verifier *oidc.IDTokenVerifier
	issuer   string
	clientID string
	algs     []string
	now      func() time.Time
	maxAge   time.Duration
	leeway   time.Duration
}

// NewLogoutVerifier returns a verifier for logout tokens signed by a key in
// keys, issued by issuer for the audience clientID. An empty issuer or
// clientID makes every token fail verification; configuration is validated
// by the caller.
func NewLogoutVerifier(keys oidc.KeySet, issuer, clientID string, opts LogoutVerifierOptions) *LogoutVerifier {
	v := &LogoutVerifier{issuer: issuer, clientID: clientID, now: opts.Now, maxAge: opts.MaxAge, leeway: opts.Leeway}
	if v.now == nil {
		v.now = time.Now
	}
	if v.maxAge <= 0 {
		v.maxAge = logoutDefaultMaxAge
	}
	if v.leeway == 0 {
		v.leeway = logoutDefaultLeeway
	}
	if v.leeway < 0 {
		v.leeway = 0
	}
	var algs []string
	for _, a := range opts.Algorithms {
		if logoutAsymmetricAlg(a) {
			algs = append(algs, a)
		}
	}
	if len(algs) == 0 {
		algs = append(algs, logoutDefaultAlgs...)
	}
	v.algs = algs
	v.verifier = oidc.NewVerifier(issuer, keys, &oidc.Config{
		ClientID:             clientID,
		SupportedSigningAlgs: algs,
		// Logto's logout tokens have no "exp"; go-oidc would treat that as
		// expired. Expiry, "nbf" and age are checked in Verify instead.
		SkipExpiryCheck: true,
		Now:             v.now,
	})
	return v
}

func logoutAsymmetricAlg(a string) bool {
	for _, ok := range logoutDefaultAlgs {
		if a == ok {
			return true
		}
	}
	return false
}

// Verify checks raw, a compact-serialized JWT from the "logout_token" form
// field, and returns its claims. It guarantees that:
//   - raw is at most 8 KiB and a three-part compact JWS;
//   - the signature verifies with a key of the key set, using an accepted
//     asymmetric algorithm ("none" and HMAC never verify);
//   - "iss" equals the issuer and "aud" contains the client ID;
//   - the header "typ", when present, is "logout+jwt" (case-insensitive,
//     "application/" prefix allowed). Logto always sends it; the spec only
//     says SHOULD, so an absent typ is accepted, but any other typ (an ID
//     token's "JWT", an access token's "at+jwt") is rejected so that no other
//     token kind can be replayed as a logout;
//   - "iat" is present, not older than MaxAge+Leeway and not later than
//     now+Leeway; "exp", when present, has not passed (with Leeway) — Logto
//     sends none, and that is accepted; "nbf", when present, has passed;
//   - "events" is an object whose backchannel-logout member is an object;
//   - there is no "nonce" claim;
//   - "jti" is a non-empty string, and "sub" or "sid" is a non-empty string.
//
// Every check but the signature runs first, on the token as sent: a token
// of the wrong shape, algorithm, issuer, audience, age or kind is refused
// before any key is looked up, so it can never make the key set fetch the
// provider's JWKS. (The signature covers exactly the bytes checked, so
// checking before verifying changes no outcome.)
//
// Verify does NOT detect replays: the caller must record JTI (the session
// store's MarkJTI does) for ReplayWindow and drop a token whose JTI it has
// already seen. Every error wraps ErrInvalidLogoutToken.
func (v *LogoutVerifier) Verify(ctx context.Context, raw string) (*LogoutClaims, error) {
	if len(raw) > logoutMaxTokenBytes {
		return nil, logoutErr("token larger than %d bytes", logoutMaxTokenBytes)
	}
	header, c, err := logoutParts(raw)
	if err != nil {
		return nil, err
	}
	if !v.acceptsAlg(header["alg"]) {
		return nil, logoutErr("header alg is not an accepted asymmetric algorithm")
	}
	if typ, ok := header["typ"]; ok && !logoutTyp(typ) {
		return nil, logoutErr("header typ is not logout+jwt")
	}
	out, err := v.checkClaims(c)
	if err != nil {
		return nil, err
	}
	// Only now is a key looked up (and perhaps the key set fetched):
	// signature, and again issuer and audience. go-oidc's messages carry no
	// token.
	if _, err := v.verifier.Verify(ctx, raw); err != nil {
		return nil, logoutErr("signature, issuer, audience or claim types: %v", err)
	}
	return out, nil
}

// acceptsAlg reports whether the JWS header's alg is one v accepts.
func (v *LogoutVerifier) acceptsAlg(raw json.RawMessage) bool {
	var alg string
	if raw == nil || json.Unmarshal(raw, &alg) != nil {
		return false
	}
	for _, a := range v.algs {
		if alg == a {
			return true
		}
	}
	return false
}

// checkClaims checks the claims of a logout token (not yet its signature)
// as Verify documents and returns them.
func (v *LogoutVerifier) checkClaims(c map[string]json.RawMessage) (*LogoutClaims, error) {
	var iss string
	if err := json.Unmarshal(c["iss"], &iss); err != nil || iss == "" || iss != v.issuer {
		return nil, logoutErr("iss is not the issuer")
	}
	if !logoutAudience(c["aud"], v.clientID) {
		return nil, logoutErr("aud does not contain the client ID")
	}
	now := v.now()
	iat, ok, err := logoutNumericDate(c["iat"])
	switch {
	case err != nil:
		return nil, logoutErr("iat: %v", err)
	case !ok:
		return nil, logoutErr("iat missing")
	case now.Sub(iat) > v.maxAge+v.leeway:
		return nil, logoutErr("iat older than %s", v.maxAge+v.leeway)
	case iat.Sub(now) > v.leeway:
		return nil, logoutErr("iat in the future")
	}
	if exp, ok, err := logoutNumericDate(c["exp"]); err != nil {
		return nil, logoutErr("exp: %v", err)
	} else if ok && now.Sub(exp) > v.leeway {
		return nil, logoutErr("expired")
	}
	if nbf, ok, err := logoutNumericDate(c["nbf"]); err != nil {
		return nil, logoutErr("nbf: %v", err)
	} else if ok && nbf.Sub(now) > v.leeway {
		return nil, logoutErr("not valid yet (nbf)")
	}
	if err := logoutCheckEvents(c["events"]); err != nil {
		return nil, err
	}
	if _, ok := c["nonce"]; ok {
		return nil, logoutErr("nonce claim present")
	}
	out := &LogoutClaims{IssuedAt: iat}
	for _, f := range []struct {
		name string
		raw  json.RawMessage
		dst  *string
	}{{"sub", c["sub"], &out.Subject}, {"sid", c["sid"], &out.SID}, {"jti", c["jti"], &out.JTI}} {
		if f.raw == nil {
			continue
		}
		if err := json.Unmarshal(f.raw, f.dst); err != nil || bytes.Equal(f.raw, []byte("null")) {
			return nil, logoutErr("%s is not a string", f.name)
		}
	}
	if out.JTI == "" {
		return nil, logoutErr("jti missing")
	}
	if out.Subject == "" && out.SID == "" {
		return nil, logoutErr("neither sub nor sid present")
	}
	return out, nil
}

// logoutAudience reports whether aud (a string or an array of strings)
// contains clientID.
func logoutAudience(raw json.RawMessage, clientID string) bool {
	if clientID == "" || raw == nil {
		return false
	}
	var one string
	if json.Unmarshal(raw, &one) == nil {
		return one == clientID
	}
	var many []string
	if json.Unmarshal(raw, &many) != nil {
		return false
	}
	for _, a := range many {
		if a == clientID {
			return true
		}
	}
	return false
}

// ReplayWindow is how long a token Verify accepts stays acceptable, at
// most: from an "iat" Leeway in the future to MaxAge+Leeway in the past.
// A JTI recorded for this long cannot be replayed.
func (v *LogoutVerifier) ReplayWindow() time.Duration {
	return v.maxAge + 2*v.leeway
}

func logoutErr(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalidLogoutToken}, args...)...)
}

// logoutParts requires the compact serialization (go-jose would also parse
// the JSON one, which can carry unprotected headers) and decodes the
// protected header and the (not yet verified) payload, both JSON objects.
// Claims are kept raw and looked up by exact name (encoding/json would match
// struct fields case-insensitively), so that presence and JSON type can be
// told apart: a "nonce": null is still a nonce.
func logoutParts(raw string) (header, claims map[string]json.RawMessage, err error) {
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return nil, nil, logoutErr("not a compact JWS")
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[0])
	if err != nil {
		return nil, nil, logoutErr("header is not base64url")
	}
	if err := json.Unmarshal(b, &header); err != nil || header == nil {
		return nil, nil, logoutErr("header is not a JSON object")
	}
	if b, err = base64.RawURLEncoding.DecodeString(parts[1]); err != nil {
		return nil, nil, logoutErr("payload is not base64url")
	}
	if err := json.Unmarshal(b, &claims); err != nil || claims == nil {
		return nil, nil, logoutErr("claims are not a JSON object")
	}
	return header, claims, nil
}

// logoutTyp reports whether a JWS "typ" header value names a logout token
// (RFC 7515 4.1.9: media types compare case-insensitively and may omit
// "application/").
func logoutTyp(raw json.RawMessage) bool {
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return false
	}
	s = strings.ToLower(s)
	return s == "logout+jwt" || s == "application/logout+jwt"
}

// logoutNumericDate parses an optional NumericDate claim: ok is false when
// the claim is absent; null, non-numbers and out-of-range values are errors.
func logoutNumericDate(raw json.RawMessage) (t time.Time, ok bool, err error) {
	if raw == nil {
		return time.Time{}, false, nil
	}
	var f float64
	if err := json.Unmarshal(raw, &f); err != nil || bytes.Equal(raw, []byte("null")) {
		return time.Time{}, false, errors.New("not a number")
	}
	// Up to year ~2286 only: enough for any real token, and no overflow.
	if math.IsNaN(f) || f < 0 || f > 1e10 {
		return time.Time{}, false, errors.New("out of range")
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)), true, nil
}

// logoutCheckEvents requires "events" to be an object holding the
// backchannel-logout event, itself an object (usually {}).
func logoutCheckEvents(raw json.RawMessage) error {
	if raw == nil {
		return logoutErr("events missing")
	}
	var events map[string]json.RawMessage
	if err := json.Unmarshal(raw, &events); err != nil || events == nil {
		return logoutErr("events is not an object")
	}
	ev, ok := events[logoutEvent]
	if !ok {
		return logoutErr("events lacks the backchannel-logout event")
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(ev, &obj); err != nil || obj == nil {
		return logoutErr("backchannel-logout event is not an object")
	}
	return nil
}

// LogoutVerifier returns a verifier for this provider's back-channel logout
// tokens: keys from the discovered jwks_uri (one remote key set per Client,
// cached, refetched on an unknown kid at most once per
// KeySetRefetchInterval), the issuer, this client's ID as
// audience and discovery's signing algorithms. Zero opts.Now and
// opts.Algorithms take Config.Now and discovery's values.
func (c *Client) LogoutVerifier(opts LogoutVerifierOptions) *LogoutVerifier {
	if opts.Now == nil {
		opts.Now = c.cfg.Now
	}
	if len(opts.Algorithms) == 0 {
		opts.Algorithms = c.meta.IDTokenAlgs
	}
	return NewLogoutVerifier(c.logoutKeys, c.cfg.Issuer, c.cfg.ClientID, opts)
}
