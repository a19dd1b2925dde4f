package devidp

import (
	"net/http"
	"strings"
)

// handleUserinfo serves /oidc/me. Only the opaque access tokens of a live
// grant work here (resource and organization JWTs do not, like Logto); the
// claims follow the grant's scopes in Logto's userinfo shape.
func (p *Provider) handleUserinfo(w http.ResponseWriter, r *http.Request) {
	token, ok := bearerToken(r)
	if !ok {
		p.writeUserinfoError(w)
		return
	}
	p.mu.Lock()
	now := p.now()
	p.maybeSweepLocked(now)
	at := p.access[token]
	var claims map[string]any
	if at != nil && !expired(now, at.expiresAt) {
		if g := p.grants[at.grantID]; g != nil {
			if u := p.userByIDLocked(g.sub); u != nil {
				claims = p.userClaims(u, g.scopes, true)
			}
		}
	}
	p.mu.Unlock()
	if claims == nil {
		p.writeUserinfoError(w)
		return
	}
	writeJSON(w, http.StatusOK, claims)
}

func bearerToken(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	scheme, token, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(token) == "" {
		return "", false
	}
	return strings.TrimSpace(token), true
}

func (p *Provider) writeUserinfoError(w http.ResponseWriter) {
	w.Header().Set("WWW-Authenticate", `Bearer realm="`+p.issuer+`", error="invalid_token", error_description="invalid token provided"`)
	writeOAuthError(w, errInvalidToken)
}
