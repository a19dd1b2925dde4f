package httpapi

import (
	"net/http"

	"github.com/gin-gonic/gin"
)

// signOut handles POST /auth/sign-out (a form post from the SPA). It always
// signs the browser out locally, whatever else fails: it refuses only
// cross-site requests. Then it revokes the refresh token (Logto's end
// session leaves offline_access grants alive) and sends the browser to
// Logto's end session — with id_token_hint in that URL, which is how
// Logto's protocol works (the browser is going to Logto itself).
func (s *server) signOut(c *gin.Context) {
	if !s.sameOrigin(c.Request) {
		fail(c, errForbiddenOrigin)
		return
	}
	s.metrics.SignOut()
	sess, err := s.sessions.Destroy(c.Writer, c.Request)
	if err != nil {
		s.storeError("destroy", err)
		// The cookie is expired anyway; the record dies with its TTL.
		_ = c.Error(err)
		s.log.Warn("sign-out could not delete the server-side session", "error", err.Error())
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
