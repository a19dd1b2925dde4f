// Package session keeps the BFF's server-side sessions, back-channel-logout
// indexes, single-use marks (logout-token jti, sign-in states) and refresh
// locks — every one of these jobs written once, above the storage contract
// of package store (Get, Set, CompareAndSwap, CompareAndDelete, Ping,
// Close), so memory and Redis (one node, Sentinel or Cluster) behave alike
// and one test suite (TestStores) runs over both.
//
// # Jobs and the primitive each uses
//
//   - Create: the new session is listed in its indexes first, then stored
//     with CompareAndSwap only-if-absent under a new random id (so
//     back-channel logout never misses a stored session; an entry whose
//     session was never stored is skipped).
//   - Load: one Get. The sliding-expiry touch is CompareAndSwap from the
//     bytes read to the same record with a new LastTouched and TTL, at most
//     once per max(1m, IdleTimeout/10): it loses, harmlessly, to any
//     concurrent write.
//   - Save (after a refresh, under Lock): CompareAndSwap from the bytes
//     Reload read. When that fails it reads again: gone → ErrNoSession (a
//     signed-out session is never resurrected); same Version (only a touch
//     went first) → it writes over it; a newer Version → ErrConflict (a
//     stale writer never wins); the very record it meant to write → done (a
//     retry after a reply lost on a dropped connection).
//   - Destroy (sign-out) and back-channel logout: CompareAndDelete of the
//     bytes read, read again if a refresh went first, so the record returned
//     — whose refresh token the caller revokes — is the one deleted. Destroy
//     expires the cookie only once the session is gone; when the store
//     fails it returns ErrUnavailable and leaves the cookie, so a retry can
//     finish.
//   - Indexes by Logto sid and by subject: one JSON list of {id, exp} per
//     sid or subject, updated by a compare-and-swap loop (read, change,
//     CompareAndSwap from what was read; repeat with jittered back-off when
//     another writer went first). Entries expire with their session's
//     absolute end; at most 256 per index: when full, entries of sessions
//     that are gone are dropped, then the session ending first is deleted
//     before it is unlisted (no live session is ever left out).
//   - MarkOnce / MarkJTI: CompareAndSwap only-if-absent of "1" with the
//     mark's TTL; of any number of replicas exactly one gets true.
//   - Lock: an in-process per-key mutex, then a lease in the store — a
//     random token stored with CompareAndSwap only-if-absent and the lease
//     as TTL, renewed every ttl/3 by a CompareAndSwap of the token onto
//     itself, released by CompareAndDelete of the token.
//
// # Persistence: gin-contrib/sessions
//
// The customer requires gin-contrib/sessions, so a session is created, read
// by cookie and deleted through its sessions.Store interface
// (gorilla-compatible New/Get/Save plus Options), implemented once on
// store.Store (ginStore). Its writes are conditional, as above: Save of a
// new session stores only if the key is absent; Save of a session New read
// stores or deletes only if the key still holds the bytes New read.
//
// The Manager does not use gin-contrib's sessions.Default(c) accessor: it
// logs and swallows store errors, so a Redis outage would look like a
// signed-out user. It calls New and Save itself and tells a bad, forged or
// foreign cookie (a securecookie decode error → ErrNoSession) from a store
// failure (→ ErrUnavailable). It calls New rather than Get: Get goes
// through gorilla's per-request registry, which caches the first answer for
// the rest of the request, so a Load after a Create or Destroy in the same
// request would see the old session.
//
// # Cookie
//
// The session cookie carries only the opaque session id, signed with
// gorilla/securecookie (HMAC-SHA256, timestamped, JSON serializer). The
// HMAC key is derived from the configured secret with HKDF-SHA256 and a
// purpose label, so the secret itself is never used directly. There is no
// encryption: the id is random and reveals nothing. The cookie is named
// "__Host-bff-session" when Secure and "bff-session" otherwise; HttpOnly,
// Path=/, no Domain, SameSite=Strict, Max-Age = the session's absolute end.
// Codec, key, names and id shape are those of the previous release (which
// used boj/redistore), so browsers keep their cookies across the upgrade.
//
// # Key layout
//
//	bff:s:<id>                     the session: its record's JSON; TTL =
//	                               min(IdleTimeout, ExpiresAt-now)
//	bff:x:{sid:<sid>}              index by Logto session id: JSON list of
//	bff:x:{sub:<subject>}          {id, exp}; TTL = the latest entry's end
//	bff:j:<hex sha256(key)>        a single-use mark, "1"
//	bff:l:<hex sha256(key)>        a lock lease: the holder's random token
//	bff:i:sid:<sid>, bff:i:sub:<s> the previous release's index SETs: read
//	                               only, until they expire
//
// Every operation touches one key, so nothing is cross-slot on a Redis
// Cluster; keys of a new format carry a hash tag ({...}) all the same.
//
// # Record, reads and the record cache
//
// The stored value is the JSON of Record plus a layout marker
// ("layout":2: the session is in this release's indexes). Record.Me is the
// /api/me "user" object, rendered once at sign-in or refresh. Each Manager
// keeps the decoded Record of up to 1,024 recently read sessions, reused
// only while the stored bytes read back are byte-for-byte those it was
// decoded from; a deleted session is dropped from it. The server-side TTL
// is always min(IdleTimeout, ExpiresAt-now), and Load also checks both
// limits against the injected clock.
//
// # Upgrading from the release before the store contract
//
// That release wrote, in Redis, the same session key and value (the
// record's JSON, without the layout marker), the same mark and lock keys,
// and its indexes as Redis SETs at bff:i:sid:<sid> and bff:i:sub:<subject>
// (and pending sign-in attempts at bff:a:… and bff:ab:…, which nothing
// reads any more: they expire within ten minutes).
// So the upgrade signs nobody out:
//
//   - An old session is read as is. On first use (a read or a refresh) it
//     is added to the new indexes and rewritten with the layout marker;
//     later reads write nothing.
//   - Back-channel logout reads the new index and, when the store offers it
//     (Redis: LegacySetMembers), the old SET, so a session created before
//     the upgrade and not used since is still found. The old SETs expire by
//     themselves within the absolute lifetime (14 days by default).
//   - During a rolling upgrade, old and new replicas share sessions, marks
//     and locks (same keys and formats; an old replica ignores the layout
//     marker it does not know, and a record it rewrites without it is
//     simply indexed again by the next new replica that reads it). The one
//     gap: an old replica's back-channel logout reads only the old SETs, so
//     it misses sessions created by new replicas while both run; keep the
//     rollout short (the contract has no set operations, so new replicas
//     cannot keep the old SETs up to date).
//
// Memory mode has nothing to migrate. Nothing in this package logs a token,
// cookie, session id or secret.
package session
