package devidp

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"
	"time"
)

var errServer = &oauthError{http.StatusInternalServerError, "server_error", "Internal server error.", "an unexpected error occurred"}

// exchangeCode runs the authorization_code grant: the code is single-use
// (presenting it again deletes its grant, like Logto), bound to its client
// and redirect_uri, and to its PKCE S256 challenge when one was sent. The
// access token is opaque (for /oidc/me) unless the request names a resource
// requested at sign-in, which yields a JWT for it.
func (p *Provider) exchangeCode(client *Client, f url.Values) (*tokenResponse, *oauthError) {
	code, redirectURI, verifier := f.Get("code"), f.Get("redirect_uri"), f.Get("code_verifier")
	if code == "" {
		return nil, invalidRequest("missing required parameter 'code'")
	}
	resource := ""
	switch rs := f["resource"]; len(rs) {
	case 0:
	case 1:
		resource = rs[0]
	default:
		return nil, errSingleResource
	}
	p.mu.Lock()
	now := p.now()
	p.maybeSweepLocked(now)
	ac := p.codes[code]
	if ac == nil || expired(now, ac.expiresAt) || ac.clientID != client.ID {
		p.mu.Unlock()
		return nil, errInvalidGrant
	}
	if ac.consumed {
		p.revokeGrantLocked(ac.grantID)
		p.mu.Unlock()
		p.log.Warn("devidp: authorization code presented twice; grant revoked", "client_id", client.ID)
		return nil, errInvalidGrant
	}
	if redirectURI != ac.redirectURI {
		p.mu.Unlock()
		return nil, invalidGrant("grant request is invalid")
	}
	if ac.challenge != "" || verifier != "" {
		if !pkceS256Matches(verifier, ac.challenge) {
			p.mu.Unlock()
			return nil, invalidGrant("PKCE verification failed")
		}
	}
	g := p.grants[ac.grantID]
	var u *User
	if g != nil {
		u = p.userByIDLocked(g.sub)
	}
	if g == nil || u == nil {
		p.mu.Unlock()
		return nil, errInvalidGrant
	}
	aud, resScopes, oerr := p.audienceLocked(g, u, resource, "", nil)
	if oerr != nil {
		p.mu.Unlock()
		return nil, oerr
	}
	ac.consumed = true
	resp := &tokenResponse{ExpiresIn: int64(p.accessTTL.Seconds()), TokenType: "Bearer"}
	var atClaims map[string]any
	if aud == "" {
		resp.AccessToken = p.issueAccessTokenLocked(g, now)
		resp.Scope = strings.Join(g.scopes, " ")
	} else {
		resp.Scope = strings.Join(resScopes, " ")
		atClaims = p.jwtAccessClaims(u.ID, client.ID, aud, resp.Scope, now)
	}
	if g.has(scopeOfflineAccess) {
		resp.RefreshToken = p.issueRefreshTokenLocked(g, now)
	}
	withID := g.has(scopeOpenID)
	p.stats.AuthCodeGrants++
	p.recordIssuedLocked(resp.AccessToken, resp.RefreshToken)
	p.mu.Unlock()

	if atClaims != nil {
		jwt, err := p.keys.sign(typAT, atClaims)
		if err != nil {
			p.log.Error("devidp: sign access token", "err", err)
			return nil, errServer
		}
		resp.AccessToken = jwt
		p.recordIssued(jwt)
	}
	if withID {
		idt, oe := p.issueIDToken(g, u, resp.AccessToken, now)
		if oe != nil {
			return nil, oe
		}
		resp.IDToken = idt
	}
	return resp, nil
}

// issueIDToken signs and records the ID token of grant g for user u (code
// exchange and refresh alike; at_hash binds it to accessToken).
func (p *Provider) issueIDToken(g *grant, u *User, accessToken string, now time.Time) (string, *oauthError) {
	p.mu.Lock()
	idClaims := p.idTokenClaimsLocked(g, u, accessToken, now.Unix())
	p.mu.Unlock()
	idt, err := p.keys.sign(typJWT, idClaims)
	if err != nil {
		p.log.Error("devidp: sign id token", "err", err)
		return "", errServer
	}
	p.recordIssued(idt)
	return idt, nil
}

// pkceS256Matches reports whether verifier hashes to challenge (RFC 7636 S256).
func pkceS256Matches(verifier, challenge string) bool {
	if verifier == "" || challenge == "" || !challengePattern.MatchString(verifier) {
		return false
	}
	sum := sha256.Sum256([]byte(verifier))
	got := base64.RawURLEncoding.EncodeToString(sum[:])
	return subtle.ConstantTimeCompare([]byte(got), []byte(challenge)) == 1
}
