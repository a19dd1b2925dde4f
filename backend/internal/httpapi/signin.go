package httpapi

import (
	"net/http"
	"net/url"

	"github.com/gin-gonic/gin"

	"github.com/logto-bff/bff/backend/internal/authflow"
)

// signIn handles GET /auth/sign-in: validate the parameters (Logto would
// silently drop all of them for one bad value), seal a new attempt into
// the state (bound to this browser by the binding cookie; nothing is
// stored server-side) and redirect to Logto.
func (s *server) signIn(c *gin.Context) {
	q, err := url.ParseQuery(c.Request.URL.RawQuery)
	if err != nil {
		fail(c, errBadQuery)
		return
	}
	params, err := authflow.ParseSignInParams(q)
	if err != nil {
		fail(c, err)
		return
	}
	client, err := s.auth.Client()
	if err != nil {
		fail(c, err)
		return
	}
	// Discovery is cached, so the authorization URL could be built with
	// Logto down; check it answers before sending the browser there.
	if err := client.Probe(c.Request.Context()); err != nil {
		fail(c, err)
		return
	}
	attempt, err := client.NewAttempt(params)
	if err != nil {
		fail(c, err)
		return
	}
	attempt, err = s.signin.Begin(c.Writer, c.Request, attempt)
	if err != nil {
		fail(c, err)
		return
	}
	authURL, err := client.AuthCodeURL(params, attempt)
	if err != nil {
		fail(c, err)
		return
	}
	redirect(c, http.StatusFound, authURL)
}
