// Package session keeps the BFF's server-side sessions, sign-in attempts,
// back-channel-logout indexes, logout-token replay marks and refresh locks.
//
// # Persistence: gin-contrib/sessions stores
//
// The customer requires gin-contrib/sessions, so a session is persisted
// through its sessions.Store interface (gorilla-compatible New/Get/Save plus
// Options):
//
//   - Redis mode uses gin-contrib/sessions' own Redis store
//     (github.com/gin-contrib/sessions/redis, NewStoreWithPool, i.e.
//     boj/redistore) over a redigo Pool built from REDIS_URL. Session keys
//     are "bff:s:<id>". Its constructor PINGs and fails when Redis is down;
//     NewRedis must not, so the gin-contrib store is created on first
//     successful contact and every call before that reports ErrUnavailable.
//   - Memory mode uses memStore, our own implementation of the same
//     sessions.Store interface, with TTL expiry on every read and a janitor
//     that evicts expired entries. gin-contrib's memstore (quasoft/memstore)
//     is not used: it never evicts anything, so memory grows without bound
//     and sessions have no idle timeout.
//
// The Manager does not use gin-contrib's sessions.Default(c) accessor: it
// logs and swallows store errors, so a Redis outage would look like a
// signed-out user. It calls store.New and store.Save itself and tells a
// bad, forged or foreign cookie (a securecookie decode error → ErrNoSession)
// from a store failure (→ ErrUnavailable). It calls store.New rather than
// store.Get: Get goes through gorilla's per-request registry, which rewrites
// *r and caches the first answer (and error) for the rest of the request, so
// a Load after a Create or Destroy in the same request would see the old
// session.
//
// The sessions.Store interface has no conditional write, yet two writes race
// with others and must be conditional: the sliding-expiry touch (it must not
// overwrite tokens a concurrent refresh has just saved — a stale refresh
// token presented to Logto revokes the whole grant) and the refresh Save (it
// must not resurrect a session that sign-out or back-channel logout deleted
// meanwhile). Those two write the same key in the same format as the
// gin-contrib store but conditionally: a compare-and-set script and SET XX
// in Redis, the same checks under the mutex in memory.
//
// # Cookie
//
// The session cookie carries only the opaque session id, signed with
// gorilla/securecookie (HMAC-SHA256, timestamped). The HMAC key is derived
// from the configured secret with HKDF-SHA256 and a purpose label, so the
// secret itself is never used directly and can safely serve other purposes
// under other labels. There is no encryption: the id is random and reveals
// nothing. The cookie is named "__Host-bff-session" when Secure (so it is
// Secure, Path=/ and host-only by browser rule) and "bff-session" otherwise;
// HttpOnly, Path=/, no Domain, SameSite=Strict, Max-Age = the session's
// absolute end. The Manager writes this cookie itself rather than letting
// the store do it: gorilla's Options.MaxAge is both the cookie's Max-Age and
// the Redis TTL, and we want a sliding idle TTL server-side but a cookie that
// never needs rewriting.
//
// # Record, reads and sliding expiry
//
// The stored value is the JSON of Record, kept as bytes in the session's
// Values and written to Redis as is (a serializer that passes the bytes
// through, not gob). Record.Me is the /api/me "user" object, rendered once
// at sign-in or refresh, so a plain read decodes once and needs no further
// encoding. Each Manager keeps the decoded Record of up to 1,024 recently
// read sessions, reused only while the stored bytes read back are
// byte-for-byte those it was decoded from (decoding is about half of a
// plain read's CPU); a deleted session is dropped from it. Redis
// connections are pooled with as many idle as active ones, so sustained
// concurrency never closes and redials them. A plain read never writes:
// the idle deadline is only pushed forward (the record re-saved with a new
// LastTouched and TTL) when the last touch is older than max(1m,
// IdleTimeout/10). The server-side TTL is always min(IdleTimeout,
// ExpiresAt-now), and Load also checks both limits against the injected
// clock.
//
// # Other data (same Redis, same pool)
//
//   - Sign-in attempts "bff:a:<binding>:<state>", taken atomically with
//     GETDEL (Redis ≥ 6.2). The binding is a hash of the random value of the
//     SameSite=Lax binding cookie, so a callback from another browser looks
//     up a different key: it gets ErrNoAttempt and leaves the victim's
//     attempt in place. "bff:ab:<binding>" lists a browser's pending states
//     so at most MaxAttempts stay pending (the oldest is dropped).
//   - Indexes "bff:i:sid:<sid>" and "bff:i:sub:<subject>": sets of session
//     ids with a TTL, for back-channel logout.
//   - Logout-token replay marks "bff:j:<sha256(jti)>" (SET NX PX).
//   - Refresh locks "bff:l:<sha256(key)>" (SET NX PX with a random token,
//     lease renewed every ttl/3 while held, released by a compare-and-delete
//     script), always behind an in-process per-key mutex.
//
// Memory mode implements the same semantics with maps, one mutex and expiry
// against the injected clock. Nothing in this package logs a token, cookie,
// session id or secret.
package session
