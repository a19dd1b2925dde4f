package session

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/boj/redistore"
	"github.com/gin-contrib/sessions"
	ginredis "github.com/gin-contrib/sessions/redis"
	"github.com/gomodule/redigo/redis"
	gsessions "github.com/gorilla/sessions"
)

// Redis key layout (see the package documentation).
const (
	redisPrefix        = "bff:"
	redisSessionPrefix = redisPrefix + "s:"
	redisIndexPrefix   = redisPrefix + "i:"
	redisAttemptPrefix = redisPrefix + "a:"
	redisBindingPrefix = redisPrefix + "ab:"
	redisMarkPrefix    = redisPrefix + "j:"
	redisLockPrefix    = redisPrefix + "l:"
	// maxRecordBytes bounds one stored session record.
	maxRecordBytes = 256 << 10
)

var (
	// KEYS[1] session; ARGV: old bytes, new bytes, ttl ms.
	touchScript = redis.NewScript(1, `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
  return 1
end
return 0`)
	// KEYS: index sets; ARGV: id, ttl ms. Adds id and extends each TTL.
	indexScript = redis.NewScript(-1, `
for _, k in ipairs(KEYS) do
  redis.call('SADD', k, ARGV[1])
  if redis.call('PTTL', k) < tonumber(ARGV[2]) then
    redis.call('PEXPIRE', k, ARGV[2])
  end
end
return 0`)
	// KEYS: index sets; ARGV: id.
	unindexScript = redis.NewScript(-1, `
for _, k in ipairs(KEYS) do redis.call('SREM', k, ARGV[1]) end
return 0`)
	// KEYS[1] attempt, KEYS[2] binding list; ARGV: data, ttl ms, max,
	// state, attempt key prefix of this binding.
	putAttemptScript = redis.NewScript(2, `
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('LREM', KEYS[2], 0, ARGV[4])
redis.call('RPUSH', KEYS[2], ARGV[4])
redis.call('PEXPIRE', KEYS[2], ARGV[2])
while redis.call('LLEN', KEYS[2]) > tonumber(ARGV[3]) do
  local old = redis.call('LPOP', KEYS[2])
  redis.call('DEL', ARGV[5] .. old)
end
return 0`)
	// KEYS[1] attempt, KEYS[2] binding list; ARGV: state.
	takeAttemptScript = redis.NewScript(2, `
local v = redis.call('GETDEL', KEYS[1])
if v then redis.call('LREM', KEYS[2], 0, ARGV[1]) end
return v`)
	// KEYS[1] lock; ARGV: token, ttl ms.
	renewScript = redis.NewScript(1, `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0`)
	// KEYS[1] lock; ARGV: token.
	releaseScript = redis.NewScript(1, `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0`)
)

// redisBackend stores sessions through gin-contrib's Redis store and does
// the rest with redigo on the same pool.
type redisBackend struct {
	pool  *redis.Pool
	codec cookieCodec
	log   *slog.Logger

	mu sync.Mutex
	st sessions.Store // created on first successful contact

	versionOK atomic.Bool
}

func newRedisBackend(redisURL string, cc cookieCodec, log *slog.Logger) (*redisBackend, error) {
	pool, err := newRedisPool(redisURL)
	if err != nil {
		return nil, err
	}
	return &redisBackend{pool: pool, codec: cc, log: log}, nil
}

// store returns gin-contrib's Redis store, creating it on first use: its
// constructor PINGs and fails while Redis is down, which must not stop the
// BFF from starting.
func (b *redisBackend) store(ctx context.Context) (sessions.Store, error) {
	b.mu.Lock()
	st := b.st
	b.mu.Unlock()
	if st != nil {
		return st, nil
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	st, err := ginredis.NewStoreWithPool(b.pool, b.codec.hashKey)
	if err != nil {
		return nil, fmt.Errorf("create redis session store: %w", err)
	}
	rs, err := ginredis.GetRedisStore(st)
	if err != nil {
		return nil, err
	}
	rs.SetKeyPrefix(redisSessionPrefix)
	rs.SetSerializer(recordSerializer{})
	rs.SetMaxLength(maxRecordBytes)
	b.codec.configure(rs.Codecs)
	st.Options(sessions.Options{Path: "/", HttpOnly: true, Secure: b.codec.secure, SameSite: http.SameSiteStrictMode, MaxAge: b.codec.maxAge})

	b.mu.Lock()
	defer b.mu.Unlock()
	if b.st == nil {
		b.st = st
	}
	return b.st, nil
}

// recordSerializer stores the Record's JSON bytes as the Redis value as is
// (gin-contrib's default is gob of the whole Values map).
type recordSerializer struct{}

var _ redistore.SessionSerializer = recordSerializer{}

func (recordSerializer) Serialize(gs *gsessions.Session) ([]byte, error) {
	data, ok := gs.Values[recordKey].([]byte)
	if !ok || len(gs.Values) != 1 {
		return nil, errors.New("session: redis store holds exactly one record value")
	}
	return data, nil
}

func (recordSerializer) Deserialize(d []byte, gs *gsessions.Session) error {
	gs.Values[recordKey] = d
	return nil
}

// do runs one command on a pooled connection.
func (b *redisBackend) do(ctx context.Context, cmd string, args ...any) (any, error) {
	c, err := b.pool.GetContext(ctx)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	return redis.DoContext(c, ctx, cmd, args...)
}

// script runs one Lua script on a pooled connection.
func (b *redisBackend) script(ctx context.Context, s *redis.Script, keysAndArgs ...any) (any, error) {
	c, err := b.pool.GetContext(ctx)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	return s.DoContext(ctx, c, keysAndArgs...)
}

func ms(d time.Duration) int64 { return max(d.Milliseconds(), 1) }

func (b *redisBackend) get(ctx context.Context, id string) ([]byte, error) {
	v, err := redis.Bytes(b.do(ctx, "GET", redisSessionPrefix+id))
	if err != nil && staleConnection(err) {
		v, err = redis.Bytes(b.do(ctx, "GET", redisSessionPrefix+id))
	}
	if errors.Is(err, redis.ErrNil) {
		return nil, nil
	}
	return v, err
}

func (b *redisBackend) replace(ctx context.Context, id string, data []byte, ttl time.Duration) (bool, error) {
	_, err := redis.String(b.do(ctx, "SET", redisSessionPrefix+id, data, "PX", ms(ttl), "XX"))
	if errors.Is(err, redis.ErrNil) {
		return false, nil
	}
	return err == nil, err
}

func (b *redisBackend) touch(ctx context.Context, id string, old, data []byte, ttl time.Duration) (bool, error) {
	n, err := redis.Int(b.script(ctx, touchScript, redisSessionPrefix+id, old, data, ms(ttl)))
	return n == 1, err
}

func (b *redisBackend) del(ctx context.Context, ids ...string) (int, error) {
	if len(ids) == 0 {
		return 0, nil
	}
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = redisSessionPrefix + id
	}
	return redis.Int(b.do(ctx, "DEL", args...))
}

func indexArgs(keys []string, args ...any) []any {
	out := make([]any, 0, 1+len(keys)+len(args))
	out = append(out, len(keys))
	for _, k := range keys {
		out = append(out, redisIndexPrefix+k)
	}
	return append(out, args...)
}

func (b *redisBackend) index(ctx context.Context, id string, keys []string, ttl time.Duration) error {
	if len(keys) == 0 {
		return nil
	}
	_, err := b.script(ctx, indexScript, indexArgs(keys, id, ms(ttl))...)
	return err
}

func (b *redisBackend) unindex(ctx context.Context, id string, keys []string) error {
	if len(keys) == 0 {
		return nil
	}
	_, err := b.script(ctx, unindexScript, indexArgs(keys, id)...)
	return err
}

func (b *redisBackend) members(ctx context.Context, key string) ([]string, error) {
	return redis.Strings(b.do(ctx, "SMEMBERS", redisIndexPrefix+key))
}

func (b *redisBackend) putAttempt(ctx context.Context, binding, state string, data []byte, ttl time.Duration, max int) error {
	prefix := redisAttemptPrefix + binding + ":"
	_, err := b.script(ctx, putAttemptScript, prefix+state, redisBindingPrefix+binding, data, ms(ttl), max, state, prefix)
	return err
}

func (b *redisBackend) takeAttempt(ctx context.Context, binding, state string) ([]byte, error) {
	v, err := redis.Bytes(b.script(ctx, takeAttemptScript, redisAttemptPrefix+attemptKey(binding, state), redisBindingPrefix+binding, state))
	if errors.Is(err, redis.ErrNil) {
		return nil, nil
	}
	return v, err
}

func (b *redisBackend) markOnce(ctx context.Context, key string, ttl time.Duration) (bool, error) {
	_, err := redis.String(b.do(ctx, "SET", redisMarkPrefix+key, 1, "NX", "PX", ms(ttl)))
	if errors.Is(err, redis.ErrNil) {
		return false, nil
	}
	return err == nil, err
}

func (b *redisBackend) acquire(ctx context.Context, key, token string, ttl time.Duration) (bool, error) {
	_, err := redis.String(b.do(ctx, "SET", redisLockPrefix+key, token, "NX", "PX", ms(ttl)))
	if errors.Is(err, redis.ErrNil) {
		return false, nil
	}
	return err == nil, err
}

func (b *redisBackend) renew(ctx context.Context, key, token string, ttl time.Duration) (bool, error) {
	n, err := redis.Int(b.script(ctx, renewScript, redisLockPrefix+key, token, ms(ttl)))
	return n == 1, err
}

func (b *redisBackend) release(ctx context.Context, key, token string) error {
	_, err := b.script(ctx, releaseScript, redisLockPrefix+key, token)
	return err
}

// ping checks Redis answers and, once, that it is recent enough for
// GETDEL (6.2).
func (b *redisBackend) ping(ctx context.Context) error {
	if _, err := b.do(ctx, "PING"); err != nil {
		return err
	}
	if b.versionOK.Load() {
		return nil
	}
	info, err := redis.String(b.do(ctx, "INFO", "server"))
	if err != nil {
		return err
	}
	if err := checkRedisVersion(info); err != nil {
		return err
	}
	b.versionOK.Store(true)
	return nil
}

// checkRedisVersion reads redis_version from INFO server output and
// requires at least 6.2.
func checkRedisVersion(info string) error {
	for line := range strings.Lines(info) {
		v, ok := strings.CutPrefix(strings.TrimSpace(line), "redis_version:")
		if !ok {
			continue
		}
		var major, minor int
		if _, err := fmt.Sscanf(v, "%d.%d", &major, &minor); err != nil {
			return fmt.Errorf("unreadable redis_version %q", v)
		}
		if major < 6 || major == 6 && minor < 2 {
			return fmt.Errorf("redis %s is too old: 6.2 or newer is required (GETDEL)", v)
		}
		return nil
	}
	return errors.New("INFO server has no redis_version")
}

func (b *redisBackend) close() error { return b.pool.Close() }
