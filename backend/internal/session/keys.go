package session

import (
	"crypto/sha256"
	"encoding/hex"
)

// The key layout (see the package documentation for why each key is where
// it is). Keys the previous release also wrote keep its names and formats
// exactly, so old and new replicas can run side by side during a rolling
// upgrade; keys of a new format carry a Redis Cluster hash tag ({...}).
const (
	// sessionPrefix + id: the session's storedRecord JSON, TTL = idle
	// timeout (capped by the absolute end). Same key and format as the
	// previous release (which read it through boj/redistore).
	sessionPrefix = "bff:s:"
	// indexPrefix + "{sid:<sid>}" or "{sub:<subject>}": the back-channel
	// logout index, a JSON list of {id, exp}. New in this release.
	indexPrefix = "bff:x:"
	// legacyIndexPrefix + "sid:<sid>" or "sub:<subject>": the previous
	// release's index, a Redis SET of ids; read only (LegacySetMembers).
	legacyIndexPrefix = "bff:i:"
	// markPrefix + hex(sha256(key)): a replay mark, value "1". Same as the
	// previous release, so a logout token used on an old replica is a
	// replay on a new one.
	markPrefix = "bff:j:"
	// lockPrefix + hex(sha256(key)): a refresh lock's lease, value = the
	// holder's random token. Same as the previous release, so old and new
	// replicas exclude each other.
	lockPrefix = "bff:l:"

	// maxRecordBytes bounds one stored session record.
	maxRecordBytes = 256 << 10
)

func sessionKey(id string) string { return sessionPrefix + id }

// indexKind names an index: by Logto session id or by subject.
type indexKind string

const (
	bySID     indexKind = "sid"
	bySubject indexKind = "sub"
)

func indexKey(kind indexKind, value string) string {
	return indexPrefix + "{" + string(kind) + ":" + value + "}"
}

func legacyIndexKey(kind indexKind, value string) string {
	return legacyIndexPrefix + string(kind) + ":" + value
}

// hashedKey is prefix + hex(sha256(key)): the store never sees a caller's
// key (a jti, a sign-in state digest, a lock name) itself.
func hashedKey(prefix, key string) string {
	h := sha256.Sum256([]byte(key))
	return prefix + hex.EncodeToString(h[:])
}
