package session

import (
	"path"
	"testing"
)

func TestRedisKeyHelpersMatchTheStoreLayout(t *testing.T) {
	id := NewSessionID()
	if len(id) != 52 || NewSessionID() == id {
		t.Fatalf("NewSessionID = %q: want 52 base32 characters, fresh each time", id)
	}
	key := RedisSessionKey(id)
	if ok, _ := path.Match(RedisSessionPattern, key); !ok {
		t.Fatalf("RedisSessionPattern %q does not match %q", RedisSessionPattern, key)
	}
	for _, other := range []string{indexPrefix + "x", legacyIndexPrefix + "x", lockPrefix + "x", markPrefix + "x", "bff:rv:pending"} {
		if ok, _ := path.Match(RedisSessionPattern, other); ok {
			t.Fatalf("RedisSessionPattern %q matches the non-session key %q", RedisSessionPattern, other)
		}
	}
}
