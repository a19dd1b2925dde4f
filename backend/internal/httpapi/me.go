package httpapi

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
)

// meResponse is GET /api/me's body. User is the object rendered at sign-in
// (authflow.RenderUser): it never holds a token.
type meResponse struct {
	User    json.RawMessage `json:"user"`
	Session sessionInfo     `json:"session"`
}

type sessionInfo struct {
	AuthenticatedAt time.Time `json:"authenticatedAt"`
	ExpiresAt       time.Time `json:"expiresAt"`
}

// me handles GET /api/me.
func (s *server) me(c *gin.Context) {
	sess, err := s.currentSession(c)
	if err != nil {
		fail(c, err)
		return
	}
	if len(sess.Me) == 0 {
		fail(c, errNoUser)
		return
	}
	c.JSON(http.StatusOK, meResponse{
		User: sess.Me,
		Session: sessionInfo{
			AuthenticatedAt: sess.AuthenticatedAt.UTC().Truncate(time.Second),
			ExpiresAt:       sess.ExpiresAt.UTC().Truncate(time.Second),
		},
	})
}
