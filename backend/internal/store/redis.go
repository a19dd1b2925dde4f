package store

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"iter"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/rueidis"
)

// Redis defaults; RedisOptions overrides them.
const (
	// DefaultRedisOpTimeout bounds one store operation, retries included,
	// when the caller's context allows longer: a Redis that does not answer
	// costs a request this long before it is reported unavailable.
	DefaultRedisOpTimeout = 3 * time.Second
	// DefaultRedisDialTimeout bounds one connection attempt.
	DefaultRedisDialTimeout = 2 * time.Second
	// redisAttempts is how often an operation is tried when it fails in a
	// way after which trying again is safe (a dropped connection, a node
	// that is loading or was demoted).
	redisAttempts = 3
	// redisConnectBackoff is how long a failed construction of the client
	// is remembered: calls in that window fail at once instead of each
	// dialling a Redis that is down.
	redisConnectBackoff = 200 * time.Millisecond
)

// RedisOptions tunes NewRedis. The zero value is usable.
type RedisOptions struct {
	// OpTimeout bounds one operation, retries included; zero means
	// DefaultRedisOpTimeout.
	OpTimeout time.Duration
	// DialTimeout bounds one connection attempt; zero means
	// DefaultRedisDialTimeout.
	DialTimeout time.Duration
	// TLSConfig is used for rediss URLs; nil means the system roots, TLS
	// 1.2 at least, and each connection verifying the host it dials.
	TLSConfig *tls.Config
	// NearCache turns on and bounds the cache behind GetCached (off when
	// NearCache.Entries is zero).
	NearCache NearCache
}

// Redis is the Store on Redis through rueidis: one node, a primary found
// through Sentinel, or a Cluster, as its URL says (ParseRedisURL). Every
// operation is on one key, so nothing is cross-slot on a Cluster.
//
// NewRedis never dials: a Redis that is down at start-up is not an error.
// The client is built at the first operation and then reconnects by
// itself; while Redis is unreachable every operation returns an error
// (within OpTimeout) and works again once it is back.
//
// A dropped connection (CLIENT KILL, a restart, a fail-over, an idle
// timeout of a proxy) is not an outage: Get, Set and Ping are retried on a
// fresh connection. CompareAndSwap and CompareAndDelete are not blindly
// retried, since the lost command may have been applied: after a lost
// reply they read the key back and retry only when it provably still holds
// what it held before; otherwise they return an error wrapping
// ErrUnknownOutcome.
type Redis struct {
	url  RedisURL
	opt  rueidis.ClientOption
	opTO time.Duration
	// near is the near-cache's budget and counters; nil when it is off.
	near    *nearBudget
	nearTTL time.Duration

	mu         sync.Mutex
	client     rueidis.Client
	connecting chan struct{}
	lastErr    error
	lastTry    time.Time
	closed     bool
}

var _ Store = (*Redis)(nil)

// The scripts touch KEYS[1] only.
var (
	// casScript: ARGV = mode ("0": only if absent, "1": only if equal to
	// ARGV[2]), old, new, ttl in ms. Returns 1 if it stored.
	casScript = rueidis.NewLuaScript(`
local cur = redis.call('GET', KEYS[1])
if ARGV[1] == '0' then
  if cur then return 0 end
elseif cur ~= ARGV[2] then
  return 0
end
redis.call('SET', KEYS[1], ARGV[3], 'PX', ARGV[4])
return 1`)
	// cadScript: ARGV = old. Deletes only if the key holds exactly old.
	cadScript = rueidis.NewLuaScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0`)
)

// OpenRedis parses rawURL (ParseRedisURL) and returns a Redis store for it
// without dialling.
func OpenRedis(rawURL string, opts RedisOptions) (*Redis, error) {
	u, err := ParseRedisURL(rawURL)
	if err != nil {
		return nil, err
	}
	return NewRedis(u, opts), nil
}

// NewRedis returns a Redis store for u without dialling.
func NewRedis(u RedisURL, opts RedisOptions) *Redis {
	r := &Redis{url: u, opTO: opts.OpTimeout}
	if r.opTO <= 0 {
		r.opTO = DefaultRedisOpTimeout
	}
	dialTO := opts.DialTimeout
	if dialTO <= 0 {
		dialTO = DefaultRedisDialTimeout
	}
	o := rueidis.ClientOption{
		InitAddress:  append([]string(nil), u.Addrs...),
		Username:     u.Username,
		Password:     u.Password,
		SelectDB:     u.DB,
		Dialer:       net.Dialer{Timeout: dialTO, KeepAlive: time.Second},
		DisableCache: true,
		// rueidis retries read-only commands until the context ends; the
		// store retries itself, a bounded number of times, knowing which
		// operations are safe to repeat.
		DisableRetry:     true,
		ConnWriteTimeout: 5 * time.Second,
		ClientName:       "bff",
	}
	if u.TLS {
		o.TLSConfig = opts.TLSConfig
		if o.TLSConfig == nil {
			// No ServerName: each connection verifies the host it dials
			// (sentinels and the nodes they name have different names).
			o.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12}
		}
	}
	if nc := opts.NearCache; nc.Entries > 0 {
		r.near = &nearBudget{maxEntries: int64(nc.Entries), maxBytes: nc.Bytes}
		if r.near.maxBytes <= 0 {
			r.near.maxBytes = int64(nc.Entries) * 4 << 10
		}
		if r.nearTTL = nc.MaxTTL; r.nearTTL <= 0 {
			r.nearTTL = DefaultNearCacheMaxTTL
		}
		// Only keys read through GetCached are tracked (OPTIN): plain
		// reads and the scripts' reads cost Redis no tracking state.
		o.DisableCache = false
		o.ClientTrackingOptions = []string{"OPTIN"}
		o.NewCacheStoreFn = func(rueidis.CacheStoreOption) rueidis.CacheStore { return newConnCache(r.near) }
	}
	switch u.Mode {
	case RedisSingle:
		o.ForceSingleClient = true
	case RedisSentinel:
		o.Sentinel = rueidis.SentinelOption{
			MasterSet:               u.MasterName,
			Dialer:                  o.Dialer,
			TLSConfig:               o.TLSConfig,
			TopologyRefreshInterval: 2 * time.Second,
		}
	case RedisCluster:
		o.ClusterOption = rueidis.ClusterOption{ShardsRefreshInterval: 5 * time.Second}
	}
	r.opt = o
	return r
}

// URL is the store's URL with the password hidden, for logs.
func (r *Redis) URL() string { return r.url.String() }

// conn returns the client, building it on first use. A failed build is
// remembered for redisConnectBackoff so that a Redis which is down is not
// dialled by every caller.
func (r *Redis) conn(ctx context.Context) (rueidis.Client, error) {
	for {
		r.mu.Lock()
		switch {
		case r.closed:
			r.mu.Unlock()
			return nil, ErrClosed
		case r.client != nil:
			c := r.client
			r.mu.Unlock()
			return c, nil
		case r.connecting != nil:
			ch := r.connecting
			r.mu.Unlock()
			select {
			case <-ch:
				continue
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		case r.lastErr != nil && time.Since(r.lastTry) < redisConnectBackoff:
			err := r.lastErr
			r.mu.Unlock()
			return nil, err
		}
		ch := make(chan struct{})
		r.connecting = ch
		r.mu.Unlock()

		c, err := r.newClient()

		r.mu.Lock()
		r.connecting = nil
		close(ch)
		r.lastTry = time.Now()
		if err != nil {
			r.lastErr = fmt.Errorf("connect to redis (%s): %w", r.url.Mode, err)
			err = r.lastErr
			r.mu.Unlock()
			return nil, err
		}
		r.lastErr = nil
		if r.closed {
			r.mu.Unlock()
			c.Close()
			return nil, ErrClosed
		}
		r.client = c
		r.mu.Unlock()
		return c, nil
	}
}

func (r *Redis) newClient() (rueidis.Client, error) {
	c, err := rueidis.NewClient(r.opt)
	if errors.Is(err, rueidis.ErrNoCache) {
		// A Redis without RESP3 client tracking: no near-cache (GetCached
		// reads Redis), rather than no store.
		r.opt.DisableCache = true
		r.opt.ClientTrackingOptions, r.opt.NewCacheStoreFn = nil, nil
		c, err = rueidis.NewClient(r.opt)
	}
	if err != nil {
		return nil, err
	}
	// With one seed that is not a cluster node, rueidis falls back to a
	// single-node client; a redis+cluster URL must reach a cluster.
	if r.url.Mode == RedisCluster && c.Mode() != rueidis.ClientModeCluster {
		c.Close()
		return nil, errors.New("redis+cluster URL, but the seed node is not in cluster mode")
	}
	return c, nil
}

// begin checks the caller's context and bounds the operation by OpTimeout.
func (r *Redis) begin(ctx context.Context) (context.Context, context.CancelFunc, error) {
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, r.opTO)
	return ctx, cancel, nil
}

// outcome classifies an error of one attempt.
type outcome int

const (
	permanent    outcome = iota // do not retry: a Redis error, the context ended, closed
	notApplied                  // the command provably did nothing; retry is safe
	maybeApplied                // the connection failed with the command possibly in flight
)

func classify(ctx context.Context, err error) outcome {
	if ctx.Err() != nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, ErrClosed) {
		return permanent
	}
	return execOutcome(err)
}

// execOutcome classifies the error of a write whose command may have been
// sent: only a Redis error reply and a failed dial prove it was not
// applied; anything else — a connection that broke, the context ending
// while waiting for the reply — may hide an applied write.
func execOutcome(err error) outcome {
	if re, ok := rueidis.IsRedisErr(err); ok {
		// Replies of a node that cannot take the command now: loading its
		// data, demoted to replica by a fail-over, a cluster slot moving or
		// without a primary. The command was refused, not applied.
		msg := re.Error()
		for _, p := range []string{"LOADING", "READONLY", "MASTERDOWN", "CLUSTERDOWN", "TRYAGAIN", "NOREPLICAS"} {
			if strings.HasPrefix(msg, p) {
				return notApplied
			}
		}
		return permanent
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return notApplied
	}
	return maybeApplied
}

// unknown wraps err of a write whose outcome cannot be known.
func unknown(verb string, err error) error {
	return fmt.Errorf("store: redis %s: %w (the connection failed with the command in flight: %v)", verb, ErrUnknownOutcome, err)
}

// pause waits before attempt n (n ≥ 1) unless the context ends first.
func pause(ctx context.Context, n int) bool {
	t := time.NewTimer(time.Duration(n*n) * 25 * time.Millisecond)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// retry runs fn until it succeeds, fails permanently, or redisAttempts
// attempts are spent. It is for operations that are safe to repeat.
func (r *Redis) retry(ctx context.Context, fn func(c rueidis.Client) error) error {
	var err error
	for n := range redisAttempts {
		if n > 0 && !pause(ctx, n) {
			break
		}
		var c rueidis.Client
		if c, err = r.conn(ctx); err == nil {
			if err = fn(c); err == nil {
				return nil
			}
		}
		if classify(ctx, err) == permanent {
			return err
		}
	}
	return err
}

// attempts yields a client for each of up to redisAttempts attempts,
// pausing before every one after the first. An attempt whose client
// cannot be had is passed over with its error left in *err; a permanent
// such error, or the context's end during a pause, ends the attempts.
// It is for writes that decide themselves, after each failure, whether
// trying again is safe.
func (r *Redis) attempts(ctx context.Context, err *error) iter.Seq[rueidis.Client] {
	return func(yield func(rueidis.Client) bool) {
		for n := range redisAttempts {
			if n > 0 && !pause(ctx, n) {
				return
			}
			c, cerr := r.conn(ctx)
			if cerr != nil {
				*err = cerr
				if classify(ctx, cerr) == permanent {
					return
				}
				continue
			}
			if !yield(c) {
				return
			}
		}
	}
}

// Get returns the value at key, or nil when there is none.
func (r *Redis) Get(ctx context.Context, key string) ([]byte, error) {
	return r.get(ctx, func(ctx context.Context, c rueidis.Client) rueidis.RedisResult {
		return c.Do(ctx, c.B().Get().Key(key).Build())
	})
}

// get runs one GET (do, with the context bounded by OpTimeout), retried
// after a dropped connection, and returns its value (nil when the key is
// absent).
func (r *Redis) get(ctx context.Context, do func(ctx context.Context, c rueidis.Client) rueidis.RedisResult) ([]byte, error) {
	ctx, cancel, err := r.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer cancel()
	var v []byte
	err = r.retry(ctx, func(c rueidis.Client) error {
		m, err := do(ctx, c).ToMessage()
		if err != nil && !rueidis.IsRedisNil(err) {
			return err
		}
		v, err = getValue(m)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("store: redis get: %w", err)
	}
	return v, nil
}

// getValue is the value of a GET reply: nil for a nil reply, else a copy
// (callers may keep or change it; non-nil even for the empty value).
func getValue(m rueidis.RedisMessage) ([]byte, error) {
	if m.IsNil() {
		return nil, nil
	}
	s, err := m.ToString()
	if err != nil {
		return nil, err
	}
	v := make([]byte, len(s))
	copy(v, s)
	return v, nil
}

// GetCached is Get served from the near-cache when it holds the key (see
// NearCache for what that guarantees), else from Redis, caching the reply.
// Only plain reads may use it: anything that decides a write (a
// compare-and-swap's old value) reads with Get. Without a near-cache it is
// Get.
func (r *Redis) GetCached(ctx context.Context, key string) ([]byte, error) {
	if r.near == nil {
		return r.Get(ctx, key)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if m, ok := r.near.lookup(key, time.Now()); ok {
		return getValue(m)
	}
	return r.get(ctx, func(ctx context.Context, c rueidis.Client) rueidis.RedisResult {
		return c.DoCache(ctx, c.B().Get().Key(key).Cache(), r.nearTTL)
	})
}

// NearCacheStats returns the near-cache's counters (zero when it is off).
func (r *Redis) NearCacheStats() NearCacheStats {
	b := r.near
	if b == nil {
		return NearCacheStats{}
	}
	return NearCacheStats{
		Hits: b.hits.Load(), Misses: b.misses.Load(), Invalidations: b.invalidations.Load(),
		Flushes: b.flushes.Load(), Entries: b.entries.Load(), Bytes: b.bytes.Load(),
	}
}

func pxArg(ttl time.Duration) int64 { return int64(roundTTL(ttl) / time.Millisecond) }

// Set stores value at key for ttl. It is retried after a dropped
// connection (storing the same value again is harmless).
func (r *Redis) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	ctx, cancel, err := r.begin(ctx)
	if err != nil {
		return err
	}
	defer cancel()
	err = r.retry(ctx, func(c rueidis.Client) error {
		return c.Do(ctx, c.B().Set().Key(key).Value(rueidis.BinaryString(value)).PxMilliseconds(pxArg(ttl)).Build()).Error()
	})
	if err != nil {
		return fmt.Errorf("store: redis set: %w", err)
	}
	return nil
}

// CompareAndSwap stores value at key for ttl only if the key holds exactly
// old (old == nil: only if absent), in one Lua script. After a reply lost
// with its connection it reads the key back: if the key still holds old
// (absent, for old == nil) the swap was not applied and is tried again;
// otherwise the outcome is unknown and the error wraps ErrUnknownOutcome.
func (r *Redis) CompareAndSwap(ctx context.Context, key string, old, value []byte, ttl time.Duration) (bool, error) {
	ctx, cancel, err := r.begin(ctx)
	if err != nil {
		return false, err
	}
	defer cancel()
	mode, oldArg := "1", string(old)
	if old == nil {
		mode = "0"
	}
	args := []string{mode, oldArg, string(value), strconv.FormatInt(pxArg(ttl), 10)}
	inFlight := false // a same-value swap may have been applied
	for c := range r.attempts(ctx, &err) {
		var stored int64
		stored, err = casScript.Exec(ctx, c, []string{key}, args).AsInt64()
		if err == nil {
			return stored == 1, nil
		}
		switch execOutcome(err) {
		case permanent:
			return false, fmt.Errorf("store: redis compare-and-swap: %w", err)
		case notApplied:
			continue
		}
		// The script may have run. A swap to the same value is idempotent:
		// run it again. Otherwise look at what the key holds now.
		if ctx.Err() != nil {
			return false, unknown("compare-and-swap", err)
		}
		if old != nil && bytes.Equal(old, value) {
			inFlight = true
			continue
		}
		cur, gerr := r.Get(ctx, key)
		if gerr != nil {
			return false, unknown("compare-and-swap", err)
		}
		if old == nil && cur == nil || old != nil && cur != nil && bytes.Equal(cur, old) {
			inFlight = false
			continue // provably not applied
		}
		return false, unknown("compare-and-swap", err)
	}
	if inFlight {
		return false, unknown("compare-and-swap", err)
	}
	return false, fmt.Errorf("store: redis compare-and-swap: %w", err)
}

// CompareAndDelete deletes key only if it holds exactly old (old == nil:
// whatever it holds, with DEL; otherwise in one Lua script). After a reply
// lost with its connection it checks the key: still there (holding old) →
// tried again; gone → an error wrapping ErrUnknownOutcome (deleted by this
// call or by another).
func (r *Redis) CompareAndDelete(ctx context.Context, key string, old []byte) (bool, error) {
	ctx, cancel, err := r.begin(ctx)
	if err != nil {
		return false, err
	}
	defer cancel()
	for c := range r.attempts(ctx, &err) {
		var deleted int64
		if old == nil {
			deleted, err = c.Do(ctx, c.B().Del().Key(key).Build()).AsInt64()
		} else {
			deleted, err = cadScript.Exec(ctx, c, []string{key}, []string{string(old)}).AsInt64()
		}
		if err == nil {
			return deleted == 1, nil
		}
		switch execOutcome(err) {
		case permanent:
			return false, fmt.Errorf("store: redis compare-and-delete: %w", err)
		case notApplied:
			continue
		}
		if ctx.Err() != nil {
			return false, unknown("compare-and-delete", err)
		}
		still, gerr := r.holds(ctx, key, old)
		if gerr != nil {
			return false, unknown("compare-and-delete", err)
		}
		if still {
			continue // provably not applied
		}
		return false, unknown("compare-and-delete", err)
	}
	return false, fmt.Errorf("store: redis compare-and-delete: %w", err)
}

// holds reports whether key exists (old == nil) or holds exactly old.
func (r *Redis) holds(ctx context.Context, key string, old []byte) (bool, error) {
	if old != nil {
		cur, err := r.Get(ctx, key)
		return cur != nil && bytes.Equal(cur, old), err
	}
	var n int64
	err := r.retry(ctx, func(c rueidis.Client) error {
		var err error
		n, err = c.Do(ctx, c.B().Exists().Key(key).Build()).AsInt64()
		return err
	})
	return n == 1, err
}

// Ping reports whether Redis answers now (building the client if needed).
func (r *Redis) Ping(ctx context.Context) error {
	ctx, cancel, err := r.begin(ctx)
	if err != nil {
		return err
	}
	defer cancel()
	err = r.retry(ctx, func(c rueidis.Client) error {
		return c.Do(ctx, c.B().Ping().Build()).Error()
	})
	if err != nil {
		return fmt.Errorf("store: redis ping: %w", err)
	}
	return nil
}

// LegacySetMembers returns the members of the Redis SET at key, or nil when
// there is none. It exists for one job: the release before the store
// contract kept the back-channel-logout indexes as SETs at bff:i:sid:<sid>
// and bff:i:sub:<sub>, and the session layer reads them to find sessions
// indexed the old way. Nothing else of the old layout needs it (old session
// records are plain strings, which Get reads). A key holding another type
// is an error.
func (r *Redis) LegacySetMembers(ctx context.Context, key string) ([]string, error) {
	ctx, cancel, err := r.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer cancel()
	var members []string
	err = r.retry(ctx, func(c rueidis.Client) error {
		var err error
		members, err = c.Do(ctx, c.B().Smembers().Key(key).Build()).AsStrSlice()
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("store: redis legacy set members: %w", err)
	}
	if len(members) == 0 {
		return nil, nil
	}
	return members, nil
}

// Close closes the client; later operations fail with ErrClosed. Closing
// twice is harmless.
func (r *Redis) Close() error {
	r.mu.Lock()
	c := r.client
	r.client, r.closed = nil, true
	r.mu.Unlock()
	if c != nil {
		c.Close()
	}
	return nil
}
