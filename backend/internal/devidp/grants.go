package devidp

import (
	"maps"
	"slices"
	"time"
)

// grant is what one completed authorization gave one client: the scopes,
// resources and identity every code, access token and refresh token of the
// grant derives from. Deleting it kills all of them.
type grant struct {
	id, clientID, sub string
	sessionID, sid    string // the IdP browser session; sid is empty unless the client requires it
	scopes            []string
	apiScopes         []string // requested scopes that are not OIDC scopes (resource permissions)
	resources         []string
	nonce             string
	authTime          time.Time
	includeAuthTime   bool
	expiresAt         time.Time // the latest expiry of anything still usable
	hardExpiry        time.Time // Logto's 180-day grant lifetime
	code              string
	accessTokens      []string
	refreshTokens     []string
}

func (g *grant) has(scope string) bool { return slices.Contains(g.scopes, scope) }

// extend keeps the grant alive until t, but never past its hard expiry.
func (g *grant) extend(t time.Time) {
	if t.After(g.hardExpiry) {
		t = g.hardExpiry
	}
	if t.After(g.expiresAt) {
		g.expiresAt = t
	}
}

type authCode struct {
	grantID, clientID, redirectURI, challenge string
	expiresAt                                 time.Time
	consumed                                  bool
}

type accessToken struct {
	grantID   string
	expiresAt time.Time
}

type refreshToken struct {
	grantID                         string
	issuedAt, expiresAt, consumedAt time.Time
}

// browserSession is the IdP's own sign-in session (Logto's SSO session),
// identified by the devidp_session cookie.
type browserSession struct {
	id, sub            string
	loginAt, expiresAt time.Time
	sids               map[string]string // client id → sid
}

// revokeGrantLocked deletes a grant and every code and token of it. It
// returns false when the grant no longer exists. Caller holds mu.
func (p *Provider) revokeGrantLocked(id string) bool {
	g, ok := p.grants[id]
	if !ok {
		return false
	}
	delete(p.grants, id)
	delete(p.codes, g.code)
	for _, t := range g.accessTokens {
		delete(p.access, t)
	}
	for _, t := range g.refreshTokens {
		delete(p.refresh, t)
	}
	p.stats.GrantsRevoked++
	return true
}

// RevokeGrants ends every grant of a user, as if an administrator revoked
// them at the IdP: their refresh tokens then fail with invalid_grant and
// their access tokens stop working at /oidc/me. It returns how many grants
// it ended. IdP browser sessions are left alone.
func (p *Provider) RevokeGrants(subject string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for id, g := range p.grants {
		if g.sub == subject && p.revokeGrantLocked(id) {
			n++
		}
	}
	if n > 0 {
		p.log.Info("devidp: grants revoked", "sub", subject, "count", n)
	}
	return n
}

// issueAccessTokenLocked creates an opaque access token for g.
func (p *Provider) issueAccessTokenLocked(g *grant, now time.Time) string {
	v := randomToken(32)
	p.access[v] = &accessToken{grantID: g.id, expiresAt: now.Add(p.accessTTL)}
	g.accessTokens = append(g.accessTokens, v)
	g.extend(now.Add(p.accessTTL))
	return v
}

// issueRefreshTokenLocked creates a refresh token for g.
func (p *Provider) issueRefreshTokenLocked(g *grant, now time.Time) string {
	v := randomToken(32)
	p.refresh[v] = &refreshToken{grantID: g.id, issuedAt: now, expiresAt: now.Add(p.refreshTTL)}
	g.refreshTokens = append(g.refreshTokens, v)
	g.extend(now.Add(p.refreshTTL))
	// Remember only the most recent consumed tokens for reuse detection, so a
	// grant refreshed all day does not grow without bound.
	if n := len(g.refreshTokens) - maxRefreshHistory; n > 0 {
		for _, old := range g.refreshTokens[:n] {
			delete(p.refresh, old)
		}
		g.refreshTokens = slices.Clone(g.refreshTokens[n:])
	}
	return v
}

// expired reports whether deadline has been reached at now.
func expired(now, deadline time.Time) bool { return !now.Before(deadline) }

// maybeSweepLocked drops expired state at most once per sweepInterval of the
// provider's clock, so memory stays bounded by what is still alive.
func (p *Provider) maybeSweepLocked(now time.Time) {
	if now.Sub(p.lastSweep) < sweepInterval && now.After(p.lastSweep) {
		return
	}
	p.lastSweep = now
	p.sweepLocked(now)
}

func (p *Provider) sweepLocked(now time.Time) {
	maps.DeleteFunc(p.interactions, func(_ string, it *interaction) bool { return !now.Before(it.expiresAt) })
	maps.DeleteFunc(p.logouts, func(_ string, l *pendingLogout) bool { return !now.Before(l.expiresAt) })
	maps.DeleteFunc(p.sessions, func(_ string, s *browserSession) bool { return !now.Before(s.expiresAt) })
	maps.DeleteFunc(p.codes, func(_ string, c *authCode) bool { return !now.Before(c.expiresAt) })
	maps.DeleteFunc(p.access, func(_ string, t *accessToken) bool { return !now.Before(t.expiresAt) })
	maps.DeleteFunc(p.refresh, func(_ string, t *refreshToken) bool { return !now.Before(t.expiresAt) })
	for id, g := range p.grants {
		if !now.Before(g.expiresAt) {
			delete(p.grants, id) // natural end: not counted as revoked
			delete(p.codes, g.code)
			for _, t := range g.accessTokens {
				delete(p.access, t)
			}
			for _, t := range g.refreshTokens {
				delete(p.refresh, t)
			}
			continue
		}
		g.accessTokens = slices.DeleteFunc(g.accessTokens, func(v string) bool { _, ok := p.access[v]; return !ok })
		g.refreshTokens = slices.DeleteFunc(g.refreshTokens, func(v string) bool { _, ok := p.refresh[v]; return !ok })
	}
}
