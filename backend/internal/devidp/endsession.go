package devidp

import (
	"crypto/subtle"
	"net/http"
	"slices"
	"time"
)

// pendingLogout is an end-session request waiting for the user's
// confirmation. Its key is also the value of the devidp_logout cookie and the
// confirmation form's xsrf field, so only the browser that opened the page
// can confirm it.
type pendingLogout struct {
	clientID, redirectURI, state string
	expiresAt                    time.Time
}

func (p *Provider) logoutCookiePath() string { return p.localPath("/session/end") }

// handleEndSession serves /oidc/session/end (GET or POST): it validates
// client_id, id_token_hint and post_logout_redirect_uri, then shows the
// "Sign out of <app>?" page. Anything invalid gets an HTML error page, never a
// redirect.
func (p *Provider) handleEndSession(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		p.renderError(w, http.StatusBadRequest, "Invalid sign-out request", "The sign-out request could not be read.")
		return
	}
	q := r.Form
	clientID, hint, target := q.Get("client_id"), q.Get("id_token_hint"), q.Get("post_logout_redirect_uri")
	if hint != "" {
		claims, err := p.keys.verify(hint)
		aud, _ := claims["aud"].(string)
		if err != nil || claims["iss"] != p.issuer || aud == "" {
			p.renderError(w, http.StatusBadRequest, "Invalid sign-out request", "The id_token_hint could not be validated.")
			return
		}
		if clientID != "" && clientID != aud {
			p.renderError(w, http.StatusBadRequest, "Invalid sign-out request", "The id_token_hint was not issued to this client_id.")
			return
		}
		clientID = aud
	}
	var client *Client
	if clientID != "" {
		if client = p.clients[clientID]; client == nil {
			p.renderError(w, http.StatusBadRequest, "Unknown application", "The client_id in this sign-out request is not a registered application.")
			return
		}
	}
	if target != "" && (client == nil || !slices.Contains(client.PostLogoutRedirectURIs, target)) {
		p.renderError(w, http.StatusBadRequest, "Invalid sign-out request", "The post_logout_redirect_uri is not registered for this application.")
		return
	}
	xsrf := randomToken(32)
	p.mu.Lock()
	now := p.now()
	p.maybeSweepLocked(now)
	p.logouts[xsrf] = &pendingLogout{clientID: clientID, redirectURI: target, state: q.Get("state"), expiresAt: now.Add(logoutTTL)}
	p.mu.Unlock()

	http.SetCookie(w, &http.Cookie{
		Name: logoutCookie, Value: xsrf, Path: p.logoutCookiePath(), MaxAge: int(logoutTTL / time.Second),
		HttpOnly: true, Secure: p.secureCookies(), SameSite: http.SameSiteLaxMode,
	})
	app := "the development identity provider"
	if client != nil {
		app = client.displayName()
	}
	p.render(w, http.StatusOK, "logout", pageData{
		Title: "Sign out", AppName: app, Action: p.localPath("/session/end/confirm"), XSRF: xsrf,
	})
}

// handleEndSessionConfirm ends the IdP browser session, delivers back-channel
// logout to every client that took part in it (synchronously, before the
// browser is redirected) and redirects to the validated post-logout URI.
func (p *Provider) handleEndSessionConfirm(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	_ = r.ParseForm()
	xsrf := r.PostForm.Get("xsrf")
	c, err := r.Cookie(logoutCookie)
	p.mu.Lock()
	now := p.now()
	pl := p.logouts[xsrf]
	if err != nil || xsrf == "" || pl == nil || expired(now, pl.expiresAt) ||
		subtle.ConstantTimeCompare([]byte(c.Value), []byte(xsrf)) != 1 {
		p.mu.Unlock()
		p.renderError(w, http.StatusBadRequest, "Sign-out request expired", "This sign-out confirmation has expired or was opened in another browser. Sign out from the application again.")
		return
	}
	delete(p.logouts, xsrf)
	var targets []logoutTarget
	if sess := p.currentSessionLocked(r, now); sess != nil {
		targets = p.endSessionLocked(sess)
	}
	p.mu.Unlock()

	p.clearCookie(w, logoutCookie, p.logoutCookiePath())
	p.clearCookie(w, sessionCookie, p.cookiePath())
	p.deliverBackchannel(r.Context(), targets)
	p.log.Info("devidp: session ended", "client_id", pl.clientID, "backchannel_targets", len(targets))
	if pl.redirectURI == "" {
		p.render(w, http.StatusOK, "logout_done", pageData{Title: "Signed out"})
		return
	}
	dest := pl.redirectURI
	if pl.state != "" {
		dest = appendQuery(dest, map[string][]string{"state": {pl.state}})
	}
	http.Redirect(w, r, dest, http.StatusSeeOther)
}

// endSessionLocked deletes an IdP browser session and the grants made in it
// that lack offline_access (those with offline_access survive sign-out, like
// Logto), and returns the back-channel deliveries owed. Caller holds mu.
func (p *Provider) endSessionLocked(sess *browserSession) []logoutTarget {
	delete(p.sessions, sess.id)
	for id, g := range p.grants {
		if g.sessionID == sess.id && !g.has(scopeOfflineAccess) {
			p.revokeGrantLocked(id)
		}
	}
	var targets []logoutTarget
	for clientID, sid := range sess.sids {
		c := p.clients[clientID]
		if c == nil || c.BackchannelLogoutURI == "" {
			continue
		}
		t := logoutTarget{clientID: c.ID, uri: c.BackchannelLogoutURI, sub: sess.sub}
		if c.BackchannelLogoutSessionRequired {
			t.sid = sid
		}
		targets = append(targets, t)
	}
	return targets
}
