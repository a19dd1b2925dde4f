package session

import (
	"github.com/logto-bff/bff/backend/internal/store"
)

// NewMemory returns a Manager over a new in-process store (one replica
// only: `bff dev` and tests), judging expiry by cfg.Now. Close stops the
// store's janitor.
func NewMemory(cfg Config) (*Manager, error) {
	st := store.NewMemory(store.MemoryOptions{Now: cfg.Now})
	m, err := New(cfg, st)
	if err != nil {
		st.Close()
		return nil, err
	}
	return m, nil
}

// NewRedis returns a Manager over the Redis at redisURL (one node,
// Sentinel or Cluster: see store.ParseRedisURL). It fails only on a bad
// configuration: Redis being down at start is not an error; Ping reports
// it, and calls return ErrUnavailable until it is back.
func NewRedis(cfg Config, redisURL string) (*Manager, error) {
	st, err := store.OpenRedis(redisURL, store.RedisOptions{})
	if err != nil {
		return nil, err
	}
	m, err := New(cfg, st)
	if err != nil {
		st.Close()
		return nil, err
	}
	return m, nil
}
