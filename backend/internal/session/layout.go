package session

// The Redis key layout of sessions, exported for tools that inspect a
// Redis the BFF writes to (the load harness measures a session's footprint
// and fills Redis with copies of one): they use these instead of a copy of
// the layout, so a layout change cannot break them silently.

// RedisSessionKey is the key that holds session id's record.
func RedisSessionKey(id string) string { return sessionKey(id) }

// RedisSessionPattern is a SCAN MATCH pattern matching every session key
// (and no other key the BFF writes).
const RedisSessionPattern = sessionPrefix + "*"

// NewSessionID returns a fresh session id of the shape the store generates
// (256 random bits).
func NewSessionID() string { return newSessionID() }
