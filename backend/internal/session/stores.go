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
