package httpapi

import (
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
)

// me handles GET /api/me: {"user": <Record.Me>, "session": {...}}.
//
// Record.Me is the user object authflow.RenderUser produced with
// json.Marshal at sign-in (it never holds a token), so it is spliced in as
// is: re-encoding it through encoding/json would only re-validate ~1 KB of
// JSON on every request (measured: the hot path's largest avoidable cost).
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
	buf := make([]byte, 0, len(sess.Me)+96)
	buf = append(buf, `{"user":`...)
	buf = append(buf, sess.Me...)
	buf = append(buf, `,"session":{"authenticatedAt":"`...)
	buf = sess.AuthenticatedAt.UTC().Truncate(time.Second).AppendFormat(buf, time.RFC3339)
	buf = append(buf, `","expiresAt":"`...)
	buf = sess.ExpiresAt.UTC().Truncate(time.Second).AppendFormat(buf, time.RFC3339)
	buf = append(buf, `"}}`...)
	c.Data(http.StatusOK, "application/json; charset=utf-8", buf)
}
