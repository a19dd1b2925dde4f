package session

import (
	"context"
	"net/http"
)

// cachedGetter is the optional store capability behind LoadForRead: a Get
// that may be served from a near-cache the store keeps consistent (the
// Redis store's GetCached: invalidated on any replica's write or delete,
// bounded in age). Stores without it are read with Get.
type cachedGetter interface {
	GetCached(ctx context.Context, key string) ([]byte, error)
}

// plainReadKey marks a request context whose session read may come from
// the store's near-cache.
type plainReadKey struct{}

// LoadForRead is Load for a request that only reads the session (GET
// /api/me, the session check in front of the proxy): the record may come
// from the store's near-cache, when it has one. Everything else is Load's:
// the cookie is verified, idle and absolute expiry are judged from the
// record against the clock (so a cached record is never served past
// either), a sliding touch is a compare-and-swap against what Redis holds,
// and every change of a session (Reload under the lock, Save, Destroy,
// back-channel logout) reads and writes the store itself.
func (m *Manager) LoadForRead(w http.ResponseWriter, r *http.Request) (*Session, error) {
	return m.Load(w, r.WithContext(context.WithValue(r.Context(), plainReadKey{}, true)))
}

// getSession reads a session record: through the near-cache for a plain
// read (LoadForRead) when the store has one, else from the store.
func (s *ginStore) getSession(ctx context.Context, key string) ([]byte, error) {
	if cg, ok := s.st.(cachedGetter); ok && ctx.Value(plainReadKey{}) != nil {
		return cg.GetCached(ctx, key)
	}
	return s.st.Get(ctx, key)
}
