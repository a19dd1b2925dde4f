package httpapi

import (
	"fmt"
	"net/http"

	"github.com/gin-gonic/gin"
)

// signOut handles POST /auth/sign-out (a form post from the SPA). It
// refuses cross-site requests. It never reports success while the
// server-side session still exists: when the session store cannot be
// reached it answers 503 with a page offering to sign out again and keeps
// the cookie, so that retry can finish the job (expiring the cookie would
// leave a session nobody can end but its idle timeout, with its refresh
// token alive). Once the session is deleted (or there was none) it expires
// the cookie, revokes the refresh token (Logto's end session leaves
// offline_access grants alive) and sends the browser to Logto's end session
// — with id_token_hint in that URL, which is how Logto's protocol works
// (the browser is going to Logto itself). Logto being unreachable does not
// stop a local sign-out: the browser then goes to /.
func (s *server) signOut(c *gin.Context) {
	if !s.sameOrigin(c.Request) {
		fail(c, errForbiddenOrigin)
		return
	}
	s.metrics.SignOut()
	sess, err := s.sessions.Destroy(c.Writer, c.Request)
	if err != nil {
		s.storeError("destroy", err)
		s.log.Warn("sign-out could not delete the server-side session; the browser keeps its cookie to retry", "error", err.Error())
		fail(c, fmt.Errorf("%w: %w", errSignOutIncomplete, err))
		return
	}
	client, err := s.auth.Client()
	if err != nil {
		_ = c.Error(err)
		redirect(c, http.StatusSeeOther, "/")
		return
	}
	hint := ""
	if sess != nil {
		hint = sess.Tokens.IDToken
		s.revoker.Revoke(c.Request.Context(), client, sess.Tokens.RefreshToken)
	}
	redirect(c, http.StatusSeeOther, client.EndSessionURL(hint))
}
