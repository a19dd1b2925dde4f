package session

import (
	"errors"
	"testing"

	"github.com/gorilla/securecookie"
)

// countingCodec counts the decodes that reach the real codec.
type countingCodec struct {
	securecookie.Codec
	decodes int
}

func (c *countingCodec) Decode(name, value string, dst any) error {
	c.decodes++
	return c.Codec.Decode(name, value, dst)
}

func TestVerifiedCodecCachesOnlyVerifiedValues(t *testing.T) {
	sc := securecookie.New([]byte("0123456789abcdef0123456789abcdef"), nil)
	sc.SetSerializer(securecookie.JSONEncoder{})
	inner := &countingCodec{Codec: sc}
	v := &verifiedCodec{Codec: inner}

	good, err := sc.Encode("bff-session", "session-id-1")
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		var id string
		if err := v.Decode("bff-session", good, &id); err != nil || id != "session-id-1" {
			t.Fatalf("decode %d = %q, %v", i, id, err)
		}
	}
	if inner.decodes != 1 {
		t.Errorf("the real codec verified the same cookie %d times, want 1", inner.decodes)
	}

	// The same value under another cookie name is verified afresh (and
	// fails: the name is part of the MAC).
	var id string
	if err := v.Decode("other", good, &id); err == nil {
		t.Error("a cookie verified for one name was accepted for another")
	}
	// Tampered values fail every time: nothing unverified is cached.
	bad := good[:len(good)-2] + "AA"
	for range 2 {
		var id string
		var scErr securecookie.Error
		if err := v.Decode("bff-session", bad, &id); err == nil || !errors.As(err, &scErr) {
			t.Fatalf("tampered cookie: %v", err)
		}
	}
	if inner.decodes != 4 {
		t.Errorf("real decodes = %d, want 4 (1 good + 1 other name + 2 tampered)", inner.decodes)
	}
}

func TestVerifiedCodecIsBounded(t *testing.T) {
	sc := securecookie.New([]byte("0123456789abcdef0123456789abcdef"), nil)
	sc.SetSerializer(securecookie.JSONEncoder{})
	v := &verifiedCodec{Codec: sc}
	for i := range maxVerified + 10 {
		val, _ := sc.Encode("n", string(rune('a'+i%26))+string(rune(i)))
		var id string
		if err := v.Decode("n", val, &id); err != nil {
			t.Fatal(err)
		}
	}
	if len(v.ids) > maxVerified {
		t.Errorf("cache holds %d entries, bound %d", len(v.ids), maxVerified)
	}
}
