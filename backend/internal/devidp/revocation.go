package devidp

import "net/http"

// handleRevocation serves /oidc/token/revocation (RFC 7009) with client
// authentication. Revoking a refresh token deletes its whole grant (every
// access and refresh token of it), like Logto; revoking an opaque access
// token deletes that token. Unknown tokens, and tokens of another client,
// are answered 200 without effect.
func (p *Provider) handleRevocation(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		writeOAuthError(w, invalidRequest("could not parse the request body"))
		return
	}
	client, oerr := p.authenticateClient(r)
	if oerr != nil {
		writeOAuthError(w, oerr)
		return
	}
	token := r.PostForm.Get("token")
	if token == "" {
		writeOAuthError(w, invalidRequest("missing required parameter 'token'"))
		return
	}
	p.mu.Lock()
	kind := ""
	if t := p.refresh[token]; t != nil {
		if g := p.grants[t.grantID]; g != nil && g.clientID == client.ID {
			p.revokeGrantLocked(g.id)
			kind = "refresh_token"
		}
	} else if t := p.access[token]; t != nil {
		if g := p.grants[t.grantID]; g != nil && g.clientID == client.ID {
			delete(p.access, token)
			kind = "access_token"
		}
	}
	if kind != "" {
		p.stats.Revocations++
	}
	p.mu.Unlock()
	p.log.Info("devidp: revocation", "client_id", client.ID, "revoked", kind)
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
}
