package session

import (
	"bytes"
	"maps"
	"slices"
	"sync"
)

// recordCacheSize bounds the decoded records kept per Manager (about 5 KB
// each for a Logto-shaped session: the stored bytes plus the decoded
// strings, so at most ~5 MB).
const recordCacheSize = 1024

// recordCache remembers the decoded Record of recently read sessions, keyed
// by session id and checked against the exact stored bytes. Decoding the
// record's JSON is most of a plain read's CPU (profiled: about half of
// Load, and of GET /api/me's handler time with the memory store); the
// bytes still come from the store on every read, so a hit is only taken
// when they are byte-for-byte those that were decoded, and the answer is
// exactly what decoding them again would give. A changed record (refresh,
// touch, another replica's write) simply misses. Callers get deep copies,
// so nothing they do to a Record reaches the cache.
//
// When full, an arbitrary entry is evicted (map iteration order), which
// approximates random replacement without bookkeeping on the hot path.
type recordCache struct {
	mu      sync.Mutex
	entries map[string]cachedRecord
	size    int
}

type cachedRecord struct {
	raw     []byte // never modified: the store's reads return fresh slices
	rec     Record
	indexed bool
}

func newRecordCache(size int) *recordCache {
	return &recordCache{entries: make(map[string]cachedRecord, size), size: size}
}

// get returns a copy of the Record decoded from raw for id, and its layout
// marker, if cached.
func (c *recordCache) get(id string, raw []byte) (rec Record, indexed, ok bool) {
	c.mu.Lock()
	e, ok := c.entries[id]
	c.mu.Unlock()
	if !ok || !bytes.Equal(e.raw, raw) {
		return Record{}, false, false
	}
	return cloneRecord(e.rec), e.indexed, true
}

// put remembers a copy of rec, decoded from raw, for id.
func (c *recordCache) put(id string, raw []byte, rec Record, indexed bool) {
	rec = cloneRecord(rec)
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.entries[id]; !ok && len(c.entries) >= c.size {
		for k := range c.entries {
			delete(c.entries, k)
			break
		}
	}
	c.entries[id] = cachedRecord{raw: raw, rec: rec, indexed: indexed}
}

// forget drops id (its session was deleted: keep no tokens of it).
func (c *recordCache) forget(id string) {
	c.mu.Lock()
	delete(c.entries, id)
	c.mu.Unlock()
}

// cloneRecord deep-copies the parts of a Record that share memory (Me and
// the Resources map); everything else is a value or an immutable string.
func cloneRecord(r Record) Record {
	r.Me = slices.Clone(r.Me)
	r.Tokens.Resources = maps.Clone(r.Tokens.Resources)
	return r
}
