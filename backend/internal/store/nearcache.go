package store

import (
	"container/list"
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/rueidis"
)

// NearCache bounds the Redis store's near-cache: values read with
// GetCached kept in this process, on Redis server-assisted client-side
// caching (RESP3 CLIENT TRACKING in OPTIN mode, through rueidis DoCache).
//
// What it guarantees:
//   - Redis tracks every key read through the cache and pushes an
//     invalidation on the connection that read it when the key is written,
//     deleted or expires, by any client (any replica, this one included);
//     the entry is dropped when the push arrives. The window between a
//     write's reply and the push's arrival is what a reader of another
//     replica can still see; it is measured by tests, not assumed.
//   - An entry is never served after MaxTTL, nor after the key's own TTL
//     on the server (PTTL, read in the same transaction; it can be late by
//     that read's latency): the bound if an invalidation is lost. Callers
//     that need expiry to the millisecond check it in the value (the
//     session layer does).
//   - When a connection that carries invalidations drops (CLIENT KILL, a
//     Redis restart, a network error), every entry cached through it is
//     dropped at once; the replacement connection starts with an empty
//     cache and tracking on, so reads go to Redis until they fill it again.
//   - At most Entries values and Bytes bytes (values plus keys) are cached
//     in the process, over all connections: least recently used first out.
type NearCache struct {
	// Entries bounds how many values are cached; zero or less turns the
	// near-cache off (GetCached is Get).
	Entries int
	// Bytes bounds the cached values' and keys' bytes; zero means Entries
	// × 4 KiB (a Logto session record is 2.5–4 KiB).
	Bytes int64
	// MaxTTL bounds how long an entry is served without being read again;
	// zero means DefaultNearCacheMaxTTL.
	MaxTTL time.Duration
}

// DefaultNearCacheMaxTTL is NearCache.MaxTTL when unset: how long a value
// whose invalidation was lost can still be served, at most.
const DefaultNearCacheMaxTTL = 30 * time.Second

// NearCacheStats are the near-cache's counters since the store was opened.
type NearCacheStats struct {
	// Hits and Misses count GetCached calls served from the cache or sent
	// to Redis.
	Hits, Misses int64
	// Invalidations counts entries dropped on Redis's push.
	Invalidations int64
	// Flushes counts connections whose cache was dropped whole because
	// the connection closed.
	Flushes int64
	// Entries and Bytes are what the cache holds now.
	Entries, Bytes int64
}

// nearBudget is the process-wide bound shared by the caches of every
// connection, and the counters.
type nearBudget struct {
	maxEntries, maxBytes int64
	entries, bytes       atomic.Int64
	hits, misses         atomic.Int64
	invalidations        atomic.Int64
	flushes              atomic.Int64

	// live are the caches of the connections that are open (a cache
	// leaves on Close), for lookup.
	mu   sync.RWMutex
	live map[*connCache]struct{}
}

// lookup serves key from the cache of any open connection that holds it
// live: what rueidis's DoCache would serve on a hit, without building the
// command, a deadline or a round of its pipeline. A miss returns false
// and the caller goes through DoCache.
func (b *nearBudget) lookup(key string, now time.Time) (rueidis.RedisMessage, bool) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	for c := range b.live {
		if v, ok := c.peek(key, now); ok {
			b.hits.Add(1)
			return v, true
		}
	}
	return rueidis.RedisMessage{}, false
}

// nearEntryOverhead is what a cached entry costs beyond its key and value
// bytes (list element, map slot, message), counted against Bytes.
const nearEntryOverhead = 160

// connCache is the rueidis CacheStore of one connection: an LRU of the
// values read through it, bounded by the shared budget. Methods are called
// by rueidis: Flight before a cached read, Update/Cancel with its result,
// Delete on an invalidation push, Close when the connection closes.
type connCache struct {
	budget *nearBudget

	mu      sync.Mutex
	lru     list.List                           // of *nearEntry, most recently used first
	items   map[string]map[string]*list.Element // key → command → entry
	flights map[string]map[string]*nearFlight   // reads in flight, key → command
	closed  bool
}

type nearEntry struct {
	key, cmd string
	val      rueidis.RedisMessage
	xat      int64 // unix ms after which it is not served
	size     int64
}

type nearFlight struct {
	done        chan struct{}
	val         rueidis.RedisMessage
	err         error
	xat         int64 // now + the caller's ttl, in unix ms
	invalidated bool  // a push arrived while the read was in flight
}

func (f *nearFlight) Wait(ctx context.Context) (rueidis.RedisMessage, error) {
	select {
	case <-ctx.Done():
		return rueidis.RedisMessage{}, ctx.Err()
	case <-f.done:
		return f.val, f.err
	}
}

var _ rueidis.CacheStore = (*connCache)(nil)

func newConnCache(b *nearBudget) *connCache {
	c := &connCache{budget: b, items: map[string]map[string]*list.Element{}, flights: map[string]map[string]*nearFlight{}}
	b.mu.Lock()
	if b.live == nil {
		b.live = map[*connCache]struct{}{}
	}
	b.live[c] = struct{}{}
	b.mu.Unlock()
	return c
}

// peek returns key's live GET entry, if any (lookup's half of Flight).
func (c *connCache) peek(key string, now time.Time) (rueidis.RedisMessage, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.items[key][getCmd]
	if !ok || c.closed {
		return rueidis.RedisMessage{}, false
	}
	e := el.Value.(*nearEntry)
	if now.UnixMilli() >= e.xat {
		return rueidis.RedisMessage{}, false
	}
	c.lru.MoveToFront(el)
	return e.val, true
}

// getCmd is how rueidis names a cached GET (the cmd of Flight and
// Update); TestNearCacheLookupFindsDoCacheEntries checks it.
const getCmd = "GET"

// Flight returns a live cached value (a hit), or the read already in
// flight for the same key to wait for, or nothing: the caller reads Redis
// and reports with Update or Cancel.
func (c *connCache) Flight(key, cmd string, ttl time.Duration, now time.Time) (rueidis.RedisMessage, rueidis.CacheEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[key][cmd]; ok {
		e := el.Value.(*nearEntry)
		if now.UnixMilli() < e.xat {
			c.lru.MoveToFront(el)
			c.budget.hits.Add(1)
			return e.val, nil
		}
		c.removeLocked(el)
	}
	c.budget.misses.Add(1)
	if f, ok := c.flights[key][cmd]; ok {
		return rueidis.RedisMessage{}, f
	}
	if !c.closed {
		fs := c.flights[key]
		if fs == nil {
			fs = map[string]*nearFlight{}
			c.flights[key] = fs
		}
		fs[cmd] = &nearFlight{done: make(chan struct{}), xat: now.Add(ttl).UnixMilli()}
	}
	return rueidis.RedisMessage{}, nil
}

// takeFlight removes and returns the flight of key and cmd.
func (c *connCache) takeFlight(key, cmd string) *nearFlight {
	fs := c.flights[key]
	f, ok := fs[cmd]
	if !ok {
		return nil
	}
	delete(fs, cmd)
	if len(fs) == 0 {
		delete(c.flights, key)
	}
	return f
}

// Update delivers a read's reply to its waiters and caches it, unless an
// invalidation of the key arrived while it was in flight or the
// connection closed.
func (c *connCache) Update(key, cmd string, val rueidis.RedisMessage) int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	f := c.takeFlight(key, cmd)
	if f == nil {
		return 0
	}
	xat := f.xat
	if sxat := val.CachePXAT(); sxat > 0 && sxat < xat {
		xat = sxat // the key's own TTL on the server
	}
	f.val = val
	close(f.done)
	if !f.invalidated && !c.closed {
		c.storeLocked(key, cmd, val, xat)
	}
	return xat
}

// Cancel delivers a read's error to its waiters.
func (c *connCache) Cancel(key, cmd string, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if f := c.takeFlight(key, cmd); f != nil {
		f.err = err
		close(f.done)
	}
}

// Delete drops the entries of keys (all entries when keys is nil: the
// server flushed its tracking table) and marks reads in flight for them
// so their replies are delivered but not cached.
func (c *connCache) Delete(keys []rueidis.RedisMessage) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if keys == nil {
		for c.lru.Len() > 0 {
			c.removeLocked(c.lru.Back())
			c.budget.invalidations.Add(1)
		}
		for _, fs := range c.flights {
			for _, f := range fs {
				f.invalidated = true
			}
		}
		return
	}
	for _, k := range keys {
		key, err := k.ToString()
		if err != nil {
			continue
		}
		for _, el := range c.items[key] {
			c.removeLocked(el)
			c.budget.invalidations.Add(1)
		}
		for _, f := range c.flights[key] {
			f.invalidated = true
		}
	}
}

// Close drops every entry and fails the reads in flight: the connection
// that carried this cache's invalidations is gone.
func (c *connCache) Close(err error) {
	c.budget.mu.Lock()
	delete(c.budget.live, c)
	c.budget.mu.Unlock()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return
	}
	c.closed = true
	for c.lru.Len() > 0 {
		c.removeLocked(c.lru.Back())
	}
	for key, fs := range c.flights {
		for _, f := range fs {
			f.err = err
			close(f.done)
		}
		delete(c.flights, key)
	}
	c.budget.flushes.Add(1)
}

// storeLocked caches val if the shared budget allows, evicting this
// connection's least recently used entries to make room.
func (c *connCache) storeLocked(key, cmd string, val rueidis.RedisMessage, xat int64) {
	if el, ok := c.items[key][cmd]; ok {
		c.removeLocked(el)
	}
	size := int64(2*len(key)+len(cmd)) + nearEntryOverhead
	if s, err := val.ToString(); err == nil {
		size += int64(len(s))
	}
	b := c.budget
	if size > b.maxBytes {
		return
	}
	entries, bytes := b.entries.Add(1), b.bytes.Add(size)
	for (entries > b.maxEntries || bytes > b.maxBytes) && c.lru.Len() > 0 {
		c.removeLocked(c.lru.Back())
		entries, bytes = b.entries.Load(), b.bytes.Load()
	}
	if entries > b.maxEntries || bytes > b.maxBytes {
		// The other connections hold the budget: do not cache.
		b.entries.Add(-1)
		b.bytes.Add(-size)
		return
	}
	cmds := c.items[key]
	if cmds == nil {
		cmds = map[string]*list.Element{}
		c.items[key] = cmds
	}
	cmds[cmd] = c.lru.PushFront(&nearEntry{key: key, cmd: cmd, val: val, xat: xat, size: size})
}

func (c *connCache) removeLocked(el *list.Element) {
	e := el.Value.(*nearEntry)
	c.lru.Remove(el)
	if cmds := c.items[e.key]; cmds != nil {
		delete(cmds, e.cmd)
		if len(cmds) == 0 {
			delete(c.items, e.key)
		}
	}
	c.budget.entries.Add(-1)
	c.budget.bytes.Add(-e.size)
}
