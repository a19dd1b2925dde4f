package httpapi

import (
	"errors"

	"github.com/gin-gonic/gin"

	"github.com/logto-bff/bff/backend/internal/session"
)

// Token refresh is transparent and server-side, on the request that needs
// it: package refresh runs the state machine (lock → reload → grant if
// still needed → save; tombstones; deferral while a token is still
// valid). The HTTP layer only loads the session and maps refresh's errors
// (errorFor).

// currentSession loads the request's session for a plain read (it may
// come from the store's near-cache) and refreshes its tokens when the
// access token is due (under the lock, from the store itself). session.ErrNoSession when signed out,
// refresh.ErrSessionEnded when the session ended at Logto,
// session.ErrUnavailable / authflow.ErrUnavailable / refresh.ErrBusy when
// the store / Logto is down and the token has expired (the session is
// kept).
func (s *server) currentSession(c *gin.Context) (*session.Session, error) {
	sess, err := s.sessions.LoadForRead(c.Writer, c.Request)
	if err != nil {
		s.storeError("load", err)
		return nil, err
	}
	return s.refresher.Session(c.Request.Context(), sess)
}

// storeError counts a session-store failure of operation op.
func (s *server) storeError(op string, err error) {
	if errors.Is(err, session.ErrUnavailable) {
		s.metrics.StoreError(op)
	}
}
