package httpapi

import (
	"net/http"
	"net/url"

	"github.com/gin-gonic/gin"

	"github.com/logto-bff/bff/backend/internal/authflow"
	"github.com/logto-bff/bff/backend/internal/session"
)

// callback handles GET /auth/callback: open the state (sealed attempt,
// bound to this browser), check iss, consume the state (single use, on
// every replica), pass Logto's own errors on to the SPA, exchange the
// code and start a new session.
func (s *server) callback(c *gin.Context) {
	ok := false
	defer func() { s.metrics.SignIn(ok) }()
	q, err := url.ParseQuery(c.Request.URL.RawQuery)
	if err != nil || len(q["state"]) != 1 || q.Get("state") == "" {
		fail(c, errInvalidState)
		return
	}
	pending, err := s.signin.Open(c.Request, q.Get("state"))
	if err != nil {
		fail(c, err)
		return
	}
	client, err := s.auth.Client()
	if err != nil {
		fail(c, err)
		return
	}
	if err := client.CheckIssuer(q.Get("iss")); err != nil {
		fail(c, err)
		return
	}
	if err := s.signin.Consume(c.Request.Context(), c.Writer, c.Request, pending); err != nil {
		s.storeError("mark_state", err)
		fail(c, err)
		return
	}
	attempt := pending.Attempt
	if code := q.Get("error"); code != "" {
		code = authflow.SanitizeErrorCode(code)
		s.log.Info("sign-in ended with an identity provider error", "auth_error", code)
		redirect(c, http.StatusSeeOther, "/?authError="+code)
		return
	}
	ctx, cancel := contextWithTimeout(c, requestTimeout)
	defer cancel()
	res, err := client.Exchange(ctx, q.Get("code"), attempt)
	if err != nil {
		fail(c, err)
		return
	}
	_, err = s.sessions.Create(c.Writer, c.Request, session.Record{
		Subject:         res.Subject,
		SID:             res.SID,
		Me:              res.Me,
		Tokens:          res.Tokens,
		AuthenticatedAt: res.AuthenticatedAt,
	})
	if err != nil {
		// The grant exists at Logto but no session holds it: revoke it.
		s.storeError("create", err)
		s.revoker.Revoke(c.Request.Context(), client, res.Tokens.RefreshToken)
		fail(c, err)
		return
	}
	ok = true
	redirect(c, http.StatusSeeOther, authflow.SafeReturnTo(attempt.ReturnTo))
}
