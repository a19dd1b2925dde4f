package session

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gomodule/redigo/redis"
)

const (
	redisConnectTimeout = 2 * time.Second
	redisIOTimeout      = 3 * time.Second
	redisPingAfterIdle  = 30 * time.Second
	// redisMaxConns bounds the pool's connections, idle or in use.
	redisMaxConns = 128
)

// newRedisPool builds a redigo pool that dials redisURL lazily (nothing is
// dialled here). Connections are tagged with a generation: any network
// error on any connection starts a new generation, and idle connections of
// an older one are discarded when borrowed. After a Redis restart the first
// failed command therefore flushes every stale pooled connection, instead
// of each of them failing one request in turn.
func newRedisPool(redisURL string) (*redis.Pool, error) {
	u, err := url.Parse(redisURL)
	if err != nil {
		return nil, errors.New("session: invalid Redis URL")
	}
	if u.Scheme != "redis" && u.Scheme != "rediss" {
		return nil, fmt.Errorf("session: Redis URL scheme must be redis or rediss, got %q", u.Scheme)
	}
	if u.Host == "" {
		return nil, errors.New("session: Redis URL has no host")
	}
	g := &generation{}
	return &redis.Pool{
		// MaxIdle = MaxActive: a pool that may hold fewer idle connections
		// than it has active ones closes connections as soon as load
		// exceeds MaxIdle concurrent requests and dials new ones a moment
		// later (measured with bffbench at 32 connections and MaxIdle 16:
		// one new Redis connection per ~6 requests). Unused connections
		// still close after IdleTimeout.
		MaxIdle:     redisMaxConns,
		MaxActive:   redisMaxConns,
		Wait:        true,
		IdleTimeout: 5 * time.Minute,
		DialContext: func(ctx context.Context) (redis.Conn, error) {
			c, err := redis.DialURLContext(ctx, redisURL,
				redis.DialConnectTimeout(redisConnectTimeout),
				redis.DialReadTimeout(redisIOTimeout),
				redis.DialWriteTimeout(redisIOTimeout),
			)
			if err != nil {
				g.bump()
				return nil, err
			}
			return &genConn{Conn: c, g: g, gen: g.current()}, nil
		},
		TestOnBorrowContext: func(ctx context.Context, c redis.Conn, lastUsed time.Time) error {
			if gc, ok := c.(*genConn); ok && gc.gen != g.current() {
				return errors.New("stale connection generation")
			}
			if time.Since(lastUsed) < redisPingAfterIdle {
				return nil
			}
			_, err := redis.DoContext(c, ctx, "PING")
			return err
		},
	}, nil
}

// staleConnection reports whether err is what a pooled connection to a
// restarted Redis fails with (as opposed to Redis being unreachable, where
// dialling fails): worth one retry of an idempotent read.
func staleConnection(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

type generation struct{ n atomic.Uint64 }

func (g *generation) current() uint64 { return g.n.Load() }
func (g *generation) bump()           { g.n.Add(1) }

// genConn is a redigo connection that starts a new generation when it sees
// a network (non-Redis, non-context) error.
type genConn struct {
	redis.Conn
	g   *generation
	gen uint64
}

var (
	_ redis.ConnWithContext = (*genConn)(nil)
	_ redis.ConnWithTimeout = (*genConn)(nil)
)

func (c *genConn) observe(err error) error {
	if err == nil {
		return nil
	}
	var re redis.Error
	if errors.As(err, &re) || errors.Is(err, redis.ErrNil) ||
		errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	c.g.bump()
	return err
}

func (c *genConn) Do(cmd string, args ...any) (any, error) {
	r, err := c.Conn.Do(cmd, args...)
	return r, c.observe(err)
}

func (c *genConn) Send(cmd string, args ...any) error { return c.observe(c.Conn.Send(cmd, args...)) }
func (c *genConn) Flush() error                       { return c.observe(c.Conn.Flush()) }

func (c *genConn) Receive() (any, error) {
	r, err := c.Conn.Receive()
	return r, c.observe(err)
}

func (c *genConn) DoContext(ctx context.Context, cmd string, args ...any) (any, error) {
	r, err := redis.DoContext(c.Conn, ctx, cmd, args...)
	return r, c.observe(err)
}

func (c *genConn) DoWithTimeout(d time.Duration, cmd string, args ...any) (any, error) {
	r, err := redis.DoWithTimeout(c.Conn, d, cmd, args...)
	return r, c.observe(err)
}

func (c *genConn) ReceiveContext(ctx context.Context) (any, error) {
	r, err := redis.ReceiveContext(c.Conn, ctx)
	return r, c.observe(err)
}

func (c *genConn) ReceiveWithTimeout(d time.Duration) (any, error) {
	r, err := redis.ReceiveWithTimeout(c.Conn, d)
	return r, c.observe(err)
}
