// Package signin keeps a pending sign-in with the browser that began it,
// so that no server state exists before a browser comes back from Logto.
//
// The pending attempt (nonce, PKCE verifier, returnTo, creation time) is
// sealed with XChaCha20-Poly1305 under a key derived from the session
// secret by HKDF-SHA256 with its own label (used for nothing else), and
// the sealed attempt IS the OAuth state sent to Logto (ASP.NET's OIDC
// handler does the same). The binding cookie ("__Host-bff-signin",
// SameSite=Lax) holds a few random per-attempt handles; a state is sealed
// with its handle as associated data, so it opens only in the browser whose
// cookie holds that handle. Beginning a sign-in therefore writes nothing
// but a cookie: an anonymous flood costs the server no memory.
//
// Security duties:
//   - Open refuses (ErrInvalidState) a state that is longer than
//     MaxStateLength, not canonical base64url, forged, tampered,
//     truncated, sealed under another key, bound to a handle this browser
//     does not hold, or older than the TTL by the sealed timestamp and the
//     injected clock. It writes nothing, not even a cookie.
//   - Consume makes a state single-use: it records a digest of the state
//     with the Marker (the only server state a sign-in creates, and only
//     for a browser that came back with a valid state) for the rest of the
//     state's validity; of concurrent callbacks on any replica sharing the
//     store, exactly one wins. It then removes the finished handle from
//     the binding cookie (deleting the cookie when none is left).
//   - A browser holds at most MaxPending handles; beginning one more
//     drops the oldest (its state no longer opens).
//   - It does NOT check iss, the code or the ID token: package authflow
//     and the callback handler do, before Consume.
package signin

import (
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"

	"golang.org/x/crypto/chacha20poly1305"

	"github.com/logto-bff/bff/backend/internal/authflow"
)

// Bounds of what is sealed and accepted.
const (
	// MaxReturnTo is the longest returnTo sealed into a state: the same
	// bound authflow.SafeReturnTo applies.
	MaxReturnTo = authflow.MaxReturnToLength
	// maxSecretField bounds the sealed nonce and code verifier (RFC 7636
	// allows verifiers up to 128 characters).
	maxSecretField = 255
	// MaxStateLength bounds the state Open accepts, in characters. A state
	// sealed by Seal is never longer (see TestStateLengthBound).
	MaxStateLength = 4 * (stateOverhead + payloadOverhead + 2*maxSecretField + MaxReturnTo + 2) / 3
	// handleSize is the size in bytes of one per-attempt handle.
	handleSize = 16
)

const (
	hkdfLabel = "logto-bff/signin-state/v1"
	version   = byte(1)
	adPrefix  = "logto-bff sign-in state v1\x00"
	// stateOverhead: version, XChaCha nonce and Poly1305 tag.
	stateOverhead = 1 + chacha20poly1305.NonceSizeX + chacha20poly1305.Overhead
	// payloadOverhead: created-at, two 1-byte and one 2-byte lengths.
	payloadOverhead = 8 + 1 + 1 + 2
)

// ErrInvalidState means a state did not open: unknown, forged, tampered,
// expired, already used, or begun in another browser. Callers must answer
// every case alike.
var ErrInvalidState = errors.New("signin: invalid, expired or used state")

// handle binds one sealed state to the browser that holds it.
type handle [handleSize]byte

// newHandle returns a random handle.
func newHandle(r io.Reader) (handle, error) {
	var h handle
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return h, fmt.Errorf("signin: random: %w", err)
	}
	return h, nil
}

// sealer seals and opens states with one key.
type sealer struct {
	aead cipher.AEAD
	ttl  time.Duration
	now  func() time.Time
	rand io.Reader
}

func newSealer(secret []byte, ttl time.Duration, now func() time.Time, r io.Reader) (*sealer, error) {
	key, err := hkdf.Key(sha256.New, secret, nil, hkdfLabel, chacha20poly1305.KeySize)
	if err != nil {
		return nil, fmt.Errorf("signin: derive key: %w", err)
	}
	aead, err := chacha20poly1305.NewX(key)
	if err != nil {
		return nil, fmt.Errorf("signin: cipher: %w", err)
	}
	return &sealer{aead: aead, ttl: ttl, now: now, rand: r}, nil
}

func additionalData(h handle) []byte {
	ad := make([]byte, 0, len(adPrefix)+1+handleSize)
	ad = append(ad, adPrefix...)
	ad = append(ad, version)
	return append(ad, h[:]...)
}

// seal returns the state for a (its State is ignored) bound to h.
func (s *sealer) seal(h handle, a authflow.Attempt) (string, error) {
	if len(a.Nonce) == 0 || len(a.Nonce) > maxSecretField || len(a.CodeVerifier) == 0 || len(a.CodeVerifier) > maxSecretField {
		return "", errors.New("signin: nonce and code verifier must be 1..255 bytes")
	}
	if len(a.ReturnTo) > MaxReturnTo {
		return "", fmt.Errorf("signin: returnTo longer than %d bytes", MaxReturnTo)
	}
	if a.CreatedAt.IsZero() {
		a.CreatedAt = s.now()
	}
	payload := make([]byte, 0, payloadOverhead+len(a.Nonce)+len(a.CodeVerifier)+len(a.ReturnTo))
	payload = binary.BigEndian.AppendUint64(payload, uint64(a.CreatedAt.UnixMilli()))
	payload = append(payload, byte(len(a.Nonce)))
	payload = append(payload, a.Nonce...)
	payload = append(payload, byte(len(a.CodeVerifier)))
	payload = append(payload, a.CodeVerifier...)
	payload = binary.BigEndian.AppendUint16(payload, uint16(len(a.ReturnTo)))
	payload = append(payload, a.ReturnTo...)

	out := make([]byte, 1+chacha20poly1305.NonceSizeX, stateOverhead+len(payload))
	out[0] = version
	if _, err := io.ReadFull(s.rand, out[1:]); err != nil {
		return "", fmt.Errorf("signin: random: %w", err)
	}
	out = s.aead.Seal(out, out[1:], payload, additionalData(h))
	return base64.RawURLEncoding.EncodeToString(out), nil
}

// opened is a state that opened: its attempt and the digest that marks
// it used.
type opened struct {
	attempt authflow.Attempt
	handle  handle
	digest  [sha256.Size]byte
}

// open returns the attempt sealed in state under one of handles (oldest
// first), or ErrInvalidState. It checks the expiry against the injected clock.
func (s *sealer) open(state string, handles []handle) (*opened, error) {
	if len(state) == 0 || len(state) > MaxStateLength || len(handles) == 0 {
		return nil, ErrInvalidState
	}
	// Strict: one state has one spelling, so one digest for the mark.
	raw, err := base64.RawURLEncoding.Strict().DecodeString(state)
	if err != nil || len(raw) < stateOverhead+payloadOverhead || raw[0] != version {
		return nil, ErrInvalidState
	}
	nonce, ct := raw[1:1+chacha20poly1305.NonceSizeX], raw[1+chacha20poly1305.NonceSizeX:]
	// Newest first: the tab that began last is the likeliest to finish.
	for i := len(handles) - 1; i >= 0; i-- {
		h := handles[i]
		payload, err := s.aead.Open(nil, nonce, ct, additionalData(h))
		if err != nil {
			continue
		}
		a, ok := decodePayload(payload)
		if !ok {
			return nil, ErrInvalidState
		}
		// A state from the future (beyond the clock skew between
		// replicas) was not sealed by a sane replica.
		if age := s.now().Sub(a.CreatedAt); age >= s.ttl || age < -maxSkew {
			return nil, ErrInvalidState
		}
		a.State = state
		return &opened{attempt: a, handle: h, digest: sha256.Sum256(raw)}, nil
	}
	return nil, ErrInvalidState
}

// maxSkew is the clock difference between replicas tolerated on a state's
// creation time; the single-use mark outlives the state by as much.
const maxSkew = time.Minute

// decodePayload reverses seal's encoding: created-at (Unix ms), then the
// nonce and the code verifier (1-byte lengths, not empty), then returnTo
// (2-byte length) and nothing after it.
func decodePayload(p []byte) (a authflow.Attempt, ok bool) {
	r := payloadReader{p: p}
	a.CreatedAt = time.UnixMilli(int64(r.num(8)))
	a.Nonce = r.bytes(int(r.num(1)))
	a.CodeVerifier = r.bytes(int(r.num(1)))
	n := int(r.num(2))
	a.ReturnTo = r.bytes(n)
	return a, !r.bad && len(r.p) == 0 && a.Nonce != "" && a.CodeVerifier != "" && n <= MaxReturnTo
}

// payloadReader reads big-endian fields; a short read sets bad.
type payloadReader struct {
	p   []byte
	bad bool
}

func (r *payloadReader) next(n int) []byte {
	if r.bad || len(r.p) < n {
		r.bad = true
		return nil
	}
	b := r.p[:n]
	r.p = r.p[n:]
	return b
}

func (r *payloadReader) num(n int) uint64 {
	var v uint64
	for _, c := range r.next(n) {
		v = v<<8 | uint64(c)
	}
	return v
}

func (r *payloadReader) bytes(n int) string { return string(r.next(n)) }

// defaultRand is crypto/rand, whose Read never fails (Go ≥ 1.24).
var defaultRand io.Reader = rand.Reader
