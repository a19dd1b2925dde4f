package httpapi

import (
	"errors"
	"net/http"
	"sync"

	"github.com/gin-gonic/gin"

	"github.com/logto-bff/bff/backend/internal/authflow"
	"github.com/logto-bff/bff/backend/internal/session"
)

var (
	errNoLogoutToken    = errors.New("missing logout_token")
	errLogoutReplayed   = errors.New("logout token already used (jti replayed)")
	errBadLogoutRequest = errors.New("malformed back-channel logout request")
)

// backchannelMaxBody bounds the back-channel request body: a logout token
// is at most 8 KiB (Logto's are ~550 bytes).
const backchannelMaxBody = 16 << 10

// logoutVerifiers caches the LogoutVerifier of the discovered client (one
// remote key set, fetched once and refetched on an unknown kid).
type logoutVerifiers struct {
	mu     sync.Mutex
	client *authflow.Client
	v      *authflow.LogoutVerifier
}

func (l *logoutVerifiers) get(c *authflow.Client) *authflow.LogoutVerifier {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.client != c {
		l.client, l.v = c, c.LogoutVerifier(authflow.LogoutVerifierOptions{})
	}
	return l.v
}

// backchannelLogout handles POST /auth/backchannel-logout, called by Logto
// (server to server: no CSRF or Origin check; the body is limited to
// backchannelMaxBody). It verifies the logout_token (signature with the provider's
// JWKS, iss, aud, iat age, event, no nonce), refuses a replayed jti for the
// verifier's whole acceptance window, then ends every session with the
// token's sid — or, without sid, every session of its sub — in the shared
// store, so on every replica. Always JSON: 200 empty, 400 invalid_request,
// 503 store_unavailable / idp_unavailable.
func (s *server) backchannelLogout(c *gin.Context) {
	if c.Request.ContentLength > backchannelMaxBody {
		s.metrics.Backchannel("rejected")
		failJSON(c, errTooLarge)
		return
	}
	c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, backchannelMaxBody)
	if err := c.Request.ParseForm(); err != nil {
		s.metrics.Backchannel("rejected")
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			failJSON(c, err)
			return
		}
		failJSON(c, errBadLogoutRequest)
		return
	}
	raw := c.Request.PostForm.Get("logout_token")
	if raw == "" || len(c.Request.PostForm["logout_token"]) != 1 {
		s.metrics.Backchannel("rejected")
		failJSON(c, errNoLogoutToken)
		return
	}
	client, err := s.auth.Client()
	if err != nil {
		s.metrics.Backchannel("failure")
		failJSON(c, err)
		return
	}
	ctx, cancel := contextWithTimeout(c, requestTimeout)
	defer cancel()
	v := s.verifiers.get(client)
	claims, err := v.Verify(ctx, raw)
	if err != nil {
		s.metrics.Backchannel("rejected")
		failJSON(c, err)
		return
	}
	fresh, err := s.sessions.MarkJTI(ctx, claims.JTI, v.ReplayWindow())
	if err != nil {
		s.storeError("mark_jti", err)
		s.metrics.Backchannel("failure")
		failJSON(c, err)
		return
	}
	if !fresh {
		s.metrics.Backchannel("rejected")
		failJSON(c, errLogoutReplayed)
		return
	}
	var ended []session.Record
	if claims.SID != "" {
		ended, err = s.sessions.DestroyBySID(ctx, claims.SID)
	} else {
		ended, err = s.sessions.DestroyBySubject(ctx, claims.Subject)
	}
	// Logto's end session leaves grants with offline_access alive: revoke
	// the ended sessions' refresh tokens too, after answering (Logto waits
	// for this response). The revocation is tracked (shutdown waits for
	// it) and, when Logto cannot take it, recorded for any replica to retry.
	if len(ended) > 0 {
		tokens := make([]string, len(ended))
		for i, rec := range ended {
			tokens[i] = rec.Tokens.RefreshToken
		}
		s.revoker.Later(client, tokens...)
	}
	if err != nil {
		// The jti stays marked: Logto does not retry deliveries.
		s.storeError("destroy", err)
		s.metrics.Backchannel("failure")
		failJSON(c, err)
		return
	}
	s.metrics.Backchannel("success")
	s.log.InfoContext(ctx, "back-channel logout", "by_sid", claims.SID != "", "sessions_ended", len(ended))
	c.Status(http.StatusOK)
	c.Writer.WriteHeaderNow()
}
