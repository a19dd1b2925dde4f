package devidp

import (
	"crypto/subtle"
	"encoding/json"
	"net/http"
	"net/url"
)

// oauthError is an error in Logto's body shape:
// {"code":"oidc.<error>","message":"...","error":"...","error_description":"..."}.
type oauthError struct {
	status      int
	err         string
	message     string
	description string
}

var (
	errInvalidGrant = &oauthError{http.StatusBadRequest, "invalid_grant", "Grant request is invalid.", "grant request is invalid"}
	errInvalidTgt   = &oauthError{http.StatusBadRequest, "invalid_target", "Invalid resource indicator.", "resource indicator is missing, or unknown"}
	errInvalidCli   = &oauthError{http.StatusUnauthorized, "invalid_client", "Client authentication failed.", "client authentication failed"}
	errUnsupported  = &oauthError{http.StatusBadRequest, "unsupported_grant_type", "Unsupported grant type.", "unsupported grant_type requested"}
	errInvalidToken = &oauthError{http.StatusUnauthorized, "invalid_token", "Invalid token provided.", "invalid token provided"}
)

func invalidRequest(description string) *oauthError {
	return &oauthError{http.StatusBadRequest, "invalid_request", "Request is invalid.", description}
}

func invalidGrant(description string) *oauthError {
	return &oauthError{http.StatusBadRequest, "invalid_grant", "Grant request is invalid.", description}
}

func (e *oauthError) body() map[string]any {
	b := map[string]any{"code": "oidc." + e.err, "message": e.message, "error": e.err, "error_description": e.description}
	if e.err == "invalid_grant" {
		b["error_uri"] = "https://openid.sh/debug/invalid_grant"
	}
	return b
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeOAuthError(w http.ResponseWriter, e *oauthError) {
	writeJSON(w, e.status, e.body())
}

// authenticateClient checks client_secret_basic or client_secret_post (never
// both at once) against the registered clients.
func (p *Provider) authenticateClient(r *http.Request) (*Client, *oauthError) {
	basicID, basicSecret, hasBasic := r.BasicAuth()
	postID, postSecret := r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	var id, secret string
	switch {
	case hasBasic && postSecret != "":
		return nil, invalidRequest("client authentication must only be provided using one mechanism")
	case hasBasic:
		// RFC 6749 §2.3.1: both parts are form-urlencoded inside Basic.
		var err1, err2 error
		id, err1 = url.QueryUnescape(basicID)
		secret, err2 = url.QueryUnescape(basicSecret)
		if err1 != nil || err2 != nil {
			return nil, invalidRequest("client_id and client_secret in the authorization header must be properly encoded")
		}
		if postID != "" && postID != id {
			return nil, invalidRequest("mismatch between client_id in the authorization header and the body")
		}
	case postSecret != "":
		id, secret = postID, postSecret
	default:
		return nil, errInvalidCli
	}
	c := p.clients[id]
	if c == nil || subtle.ConstantTimeCompare([]byte(c.Secret), []byte(secret)) != 1 {
		return nil, errInvalidCli
	}
	return c, nil
}

// tokenResponse is the token endpoint's success body.
type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	ExpiresIn    int64  `json:"expires_in"`
	IDToken      string `json:"id_token,omitempty"`
	RefreshToken string `json:"refresh_token,omitempty"`
	Scope        string `json:"scope"`
	TokenType    string `json:"token_type"`
}

// handleToken serves /oidc/token: client authentication, then the grant.
func (p *Provider) handleToken(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		writeOAuthError(w, invalidRequest("could not parse the request body"))
		return
	}
	client, oerr := p.authenticateClient(r)
	if oerr != nil {
		p.log.Info("devidp: token request rejected", "error", oerr.err)
		writeOAuthError(w, oerr)
		return
	}
	var resp *tokenResponse
	switch gt := r.PostForm.Get("grant_type"); gt {
	case "authorization_code":
		resp, oerr = p.exchangeCode(client, r.PostForm)
	case "refresh_token":
		resp, oerr = p.exchangeRefresh(client, r.PostForm)
	case "":
		oerr = invalidRequest("missing required parameter 'grant_type'")
	default:
		oerr = errUnsupported
	}
	if oerr != nil {
		p.log.Info("devidp: token request failed", "client_id", client.ID, "grant_type", r.PostForm.Get("grant_type"), "error", oerr.err)
		writeOAuthError(w, oerr)
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

// idTokenClaims builds an ID token for g and the access token it accompanies.
// Caller holds mu.
func (p *Provider) idTokenClaimsLocked(g *grant, u *User, accessToken string, now int64) map[string]any {
	c := p.userClaims(u, g.scopes, false)
	if g.nonce != "" {
		c["nonce"] = g.nonce
	}
	c["at_hash"] = atHash(accessToken)
	if g.sid != "" {
		c["sid"] = g.sid
	}
	if g.includeAuthTime {
		c["auth_time"] = g.authTime.Unix()
	}
	c["aud"] = g.clientID
	c["iat"] = now
	c["exp"] = now + int64(p.idTTL.Seconds())
	c["iss"] = p.issuer
	return c
}
