package devidp

import (
	"crypto/subtle"
	"net/http"
	"net/url"
	"slices"
	"time"
)

const (
	sessionCookie     = "devidp_session"
	interactionCookie = "devidp_interaction"
	logoutCookie      = "devidp_logout"
)

// interaction is one pending sign-in: the validated authorization request
// waiting for the user to prove who they are. Its cookie (scoped to the
// interaction's path) binds it to the browser that started it, which is what
// protects the sign-in forms against CSRF.
type interaction struct {
	id, secret string
	req        *authRequest
	expiresAt  time.Time
	flash      string // an error to show on the sign-in page once
}

func (p *Provider) newInteractionLocked(req *authRequest, now time.Time) *interaction {
	it := &interaction{id: randomToken(16), secret: randomToken(32), req: req, expiresAt: now.Add(interactionTTL)}
	p.interactions[it.id] = it
	return it
}

func (p *Provider) interactionPath(id string) string { return p.localPath("/interaction/" + id) }

func (p *Provider) secureCookies() bool { return p.issuerURL.Scheme == "https" }

func (p *Provider) setInteractionCookie(w http.ResponseWriter, it *interaction) {
	http.SetCookie(w, &http.Cookie{
		Name: interactionCookie, Value: it.secret, Path: p.interactionPath(it.id),
		MaxAge: int(interactionTTL / time.Second), HttpOnly: true, Secure: p.secureCookies(), SameSite: http.SameSiteLaxMode,
	})
}

func (p *Provider) clearCookie(w http.ResponseWriter, name, path string) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: "", Path: path, MaxAge: -1, HttpOnly: true, Secure: p.secureCookies(), SameSite: http.SameSiteLaxMode})
}

func (p *Provider) cookiePath() string {
	if p.prefix == "" {
		return "/"
	}
	return p.prefix
}

// interactionLocked returns the live interaction named in the URL if the
// request carries its cookie. Caller holds mu.
func (p *Provider) interactionLocked(r *http.Request, now time.Time) *interaction {
	it := p.interactions[r.PathValue("id")]
	if it == nil || !now.Before(it.expiresAt) {
		return nil
	}
	c, err := r.Cookie(interactionCookie)
	if err != nil || subtle.ConstantTimeCompare([]byte(c.Value), []byte(it.secret)) != 1 {
		return nil
	}
	return it
}

// currentSessionLocked returns the live IdP browser session of the request,
// if any, whose user still exists. Caller holds mu.
func (p *Provider) currentSessionLocked(r *http.Request, now time.Time) *browserSession {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return nil
	}
	s := p.sessions[c.Value]
	if s == nil || !now.Before(s.expiresAt) || p.userByIDLocked(s.sub) == nil {
		return nil
	}
	return s
}

// completeAuthLocked finishes an authorization for user u: it reuses or
// starts the IdP browser session (setting its cookie), creates the grant and
// its authorization code, and returns the callback URL carrying code, state
// and iss. sess is the session the request came with, if any. Caller holds mu.
func (p *Provider) completeAuthLocked(w http.ResponseWriter, req *authRequest, u *User, sess *browserSession, now time.Time) string {
	if sess == nil || sess.sub != u.ID {
		if sess != nil {
			delete(p.sessions, sess.id)
		}
		sess = &browserSession{id: randomToken(32), sub: u.ID, loginAt: now, expiresAt: now.Add(p.sessionTTL), sids: map[string]string{}}
		p.sessions[sess.id] = sess
	} else if req.promptLogin {
		sess.loginAt = now
	}
	http.SetCookie(w, &http.Cookie{
		Name: sessionCookie, Value: sess.id, Path: p.cookiePath(), Expires: sess.expiresAt,
		HttpOnly: true, Secure: p.secureCookies(), SameSite: http.SameSiteLaxMode,
	})
	sid, ok := sess.sids[req.client.ID]
	if !ok {
		sid = randomToken(16)[:21]
		sess.sids[req.client.ID] = sid
	}

	g := &grant{
		id: randomToken(16), clientID: req.client.ID, sub: u.ID, sessionID: sess.id,
		resources: slices.Clone(req.resources), nonce: req.nonce,
		authTime: sess.loginAt, includeAuthTime: req.promptLogin,
		expiresAt: now.Add(p.codeTTL), hardExpiry: now.Add(grantTTL),
	}
	if req.client.BackchannelLogoutSessionRequired {
		g.sid = sid
	}
	for _, s := range req.scopes {
		switch {
		case s == scopeOfflineAccess && !req.promptConsent:
			// Logto drops offline_access unless prompt=consent.
		case isOIDCScope(s):
			g.scopes = append(g.scopes, s)
		default:
			g.apiScopes = append(g.apiScopes, s)
		}
	}
	code := randomToken(32)
	g.code = code
	p.grants[g.id] = g
	p.codes[code] = &authCode{
		grantID: g.id, clientID: req.client.ID, redirectURI: req.redirectURI,
		challenge: req.challenge, expiresAt: now.Add(p.codeTTL),
	}
	p.stats.SignIns++
	p.log.Info("devidp: sign-in completed", "client_id", req.client.ID, "sub", u.ID)

	v := url.Values{"code": {code}, "iss": {p.issuer}}
	if req.state != "" {
		v.Set("state", req.state)
	}
	return appendQuery(req.redirectURI, v)
}

// finishInteractionAndUnlock completes an interaction for u and sends the
// browser to the client's callback. Caller holds mu; it is released here.
func (p *Provider) finishInteractionAndUnlock(w http.ResponseWriter, r *http.Request, it *interaction, u *User, now time.Time) {
	target := p.completeAuthLocked(w, it.req, u, p.currentSessionLocked(r, now), now)
	delete(p.interactions, it.id)
	p.mu.Unlock()
	p.clearCookie(w, interactionCookie, p.interactionPath(it.id))
	http.Redirect(w, r, target, http.StatusSeeOther)
}
