package devidp

import (
	"net/url"
	"strings"
)

// exchangeRefresh runs the refresh_token grant. Without resource or
// organization_id it returns a new opaque access token (for /oidc/me); with
// resource=<indicator> a JWT access token for that API; with organization_id
// an organization token. Rotation and reuse follow Config.LenientRefresh.
func (p *Provider) exchangeRefresh(client *Client, f url.Values) (*tokenResponse, *oauthError) {
	value := f.Get("refresh_token")
	if value == "" {
		return nil, invalidRequest("missing required parameter 'refresh_token'")
	}
	resources, orgID := f["resource"], f.Get("organization_id")
	if len(resources) > 1 {
		return nil, errSingleResource
	}
	resource := ""
	if len(resources) == 1 {
		resource = resources[0]
	}
	if resource != "" && orgID != "" {
		return nil, invalidRequest("resource and organization_id cannot be combined")
	}
	requested := splitScope(f.Get("scope"))

	p.mu.Lock()
	now := p.now()
	p.maybeSweepLocked(now)
	t := p.refresh[value]
	if t == nil || expired(now, t.expiresAt) {
		p.mu.Unlock()
		return nil, errInvalidGrant
	}
	g := p.grants[t.grantID]
	if g == nil || g.clientID != client.ID {
		p.mu.Unlock()
		return nil, errInvalidGrant
	}
	forgiven := false
	if !t.consumedAt.IsZero() {
		p.stats.RefreshReuse++
		if !p.lenient || now.Sub(t.consumedAt) > reuseGrace {
			p.revokeGrantLocked(g.id)
			p.mu.Unlock()
			p.log.Warn("devidp: consumed refresh token presented again; grant revoked", "client_id", client.ID, "sub", g.sub)
			return nil, errInvalidGrant
		}
		forgiven = true
	}
	u := p.userByIDLocked(g.sub)
	if u == nil {
		p.revokeGrantLocked(g.id)
		p.mu.Unlock()
		return nil, errInvalidGrant
	}
	aud, tokenScopes, oerr := p.audienceLocked(g, u, resource, orgID, requested)
	if oerr != nil {
		p.mu.Unlock()
		return nil, oerr
	}

	// Rotation: strict rotates every time; lenient keeps the token until 70%
	// of its lifetime has passed (and re-rotates a forgiven reuse).
	newRefresh := value
	if !p.lenient || forgiven || !now.Before(t.issuedAt.Add(p.refreshTTL*7/10)) {
		if t.consumedAt.IsZero() {
			t.consumedAt = now
		}
		newRefresh = p.issueRefreshTokenLocked(g, now)
	}
	resp := &tokenResponse{ExpiresIn: int64(p.accessTTL.Seconds()), RefreshToken: newRefresh, TokenType: "Bearer"}
	var atClaims map[string]any
	if aud == "" {
		resp.AccessToken = p.issueAccessTokenLocked(g, now)
		resp.Scope = strings.Join(g.scopes, " ")
	} else {
		resp.Scope = strings.Join(tokenScopes, " ")
		atClaims = p.jwtAccessClaims(u.ID, client.ID, aud, resp.Scope, now)
	}
	p.stats.RefreshGrants++
	if newRefresh != value {
		p.recordIssuedLocked(newRefresh)
	}
	p.recordIssuedLocked(resp.AccessToken)
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
	if g.has(scopeOpenID) {
		idt, oe := p.issueIDToken(g, u, resp.AccessToken, now)
		if oe != nil {
			return nil, oe
		}
		resp.IDToken = idt
	}
	return resp, nil
}
