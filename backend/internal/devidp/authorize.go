package devidp

import (
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
)

// authRequest is a validated authorization request.
type authRequest struct {
	client                     *Client
	redirectURI, state, nonce  string
	challenge                  string // S256 code challenge, may be empty
	scopes                     []string
	resources                  []string
	promptLogin, promptConsent bool
	promptNone                 bool
	extra                      extraParams
}

// extraParams are Logto's extra authorization parameters. Logto validates
// them as one group: when any one is invalid, all of them are ignored.
type extraParams struct {
	firstScreen, interactionMode, directSignIn string
	loginHint, organizationID, uiLocales       string
	identifiers                                []string
}

// authError is an OAuth error sent back to a validated redirect_uri.
type authError struct{ code, description string }

var (
	challengePattern    = regexp.MustCompile(`^[A-Za-z0-9._~-]{43,128}$`)
	directSignInPattern = regexp.MustCompile(`^(social|sso):[A-Za-z0-9_.-]+$`)
	localePattern       = regexp.MustCompile(`^[A-Za-z]{1,8}(-[A-Za-z0-9]{1,8})*$`)
	firstScreens        = []string{"sign_in", "register", "reset_password", "identifier:sign_in", "identifier:register", "single_sign_on"}
)

// handleAuthorize serves /oidc/auth: it validates the request, then either
// answers straight away from an existing IdP session (Logto's SSO) or starts
// an interaction and sends the browser to the right sign-in screen.
func (p *Provider) handleAuthorize(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		p.renderError(w, http.StatusBadRequest, "Invalid request", "The authorization request could not be read.")
		return
	}
	q := r.Form
	client := p.clients[q.Get("client_id")]
	if client == nil {
		p.renderError(w, http.StatusBadRequest, "Unknown application", "The client_id in this sign-in request is not a registered application.")
		return
	}
	redirectURI := q.Get("redirect_uri")
	if redirectURI == "" || !slices.Contains(client.RedirectURIs, redirectURI) {
		p.renderError(w, http.StatusBadRequest, "Redirect URI not registered", "The redirect_uri in this sign-in request is not registered for "+client.displayName()+". It must match a registered URI exactly.")
		return
	}
	req, aerr := p.parseAuthRequest(client, redirectURI, q)
	if aerr != nil {
		p.log.Info("devidp: authorization request rejected", "client_id", client.ID, "error", aerr.code)
		http.Redirect(w, r, p.authErrorURL(redirectURI, q.Get("state"), aerr), http.StatusSeeOther)
		return
	}

	p.mu.Lock()
	now := p.now()
	p.maybeSweepLocked(now)
	sess := p.currentSessionLocked(r, now)
	if sess != nil && !req.promptLogin {
		u := p.userByIDLocked(sess.sub)
		target := p.completeAuthLocked(w, req, u, sess, now)
		p.mu.Unlock()
		http.Redirect(w, r, target, http.StatusSeeOther)
		return
	}
	if req.promptNone {
		p.mu.Unlock()
		http.Redirect(w, r, p.authErrorURL(redirectURI, req.state, &authError{"login_required", "End-User authentication is required"}), http.StatusSeeOther)
		return
	}
	it := p.newInteractionLocked(req, now)
	p.mu.Unlock()

	p.setInteractionCookie(w, it)
	screen := ""
	switch {
	case req.extra.directSignIn == "social:discord":
		screen = "/discord"
	case req.extra.firstScreen == "register" || req.extra.firstScreen == "identifier:register" || req.extra.interactionMode == "signUp":
		screen = "/register"
	}
	http.Redirect(w, r, p.interactionPath(it.id)+screen, http.StatusSeeOther)
}

func (p *Provider) parseAuthRequest(client *Client, redirectURI string, q url.Values) (*authRequest, *authError) {
	req := &authRequest{client: client, redirectURI: redirectURI, state: q.Get("state"), nonce: q.Get("nonce")}
	if rt := q.Get("response_type"); rt != "code" {
		return nil, &authError{"unsupported_response_type", "unsupported response_type requested"}
	}
	if rm := q.Get("response_mode"); rm != "" && rm != "query" {
		return nil, &authError{"invalid_request", "only response_mode=query is supported"}
	}
	req.scopes = splitScope(q.Get("scope"))
	if !slices.Contains(req.scopes, scopeOpenID) {
		return nil, &authError{"invalid_scope", "openid scope must be requested"}
	}
	challenge, method := q.Get("code_challenge"), q.Get("code_challenge_method")
	switch {
	case challenge == "" && method != "":
		return nil, &authError{"invalid_request", "code_challenge_method without code_challenge"}
	case challenge != "" && method != "S256":
		return nil, &authError{"invalid_request", "only S256 code_challenge_method is supported"}
	case challenge != "" && !challengePattern.MatchString(challenge):
		return nil, &authError{"invalid_request", "code_challenge must be 43 to 128 characters"}
	}
	req.challenge = challenge
	for _, res := range q["resource"] {
		if _, ok := p.resources[res]; !ok && res != OrganizationsResource {
			return nil, &authError{"invalid_target", "resource indicator is missing, or unknown"}
		}
		if !slices.Contains(req.resources, res) {
			req.resources = append(req.resources, res)
		}
	}
	for _, pr := range strings.Fields(q.Get("prompt")) {
		switch pr {
		case "login":
			req.promptLogin = true
		case "consent":
			req.promptConsent = true
		case "none":
			req.promptNone = true
		default:
			return nil, &authError{"invalid_request", "unsupported prompt value requested"}
		}
	}
	if req.promptNone && (req.promptLogin || req.promptConsent) {
		return nil, &authError{"invalid_request", "prompt none must only be used alone"}
	}
	req.extra = parseExtraParams(q)
	return req, nil
}

// parseExtraParams returns Logto's extra parameters, or none of them when any
// present one is invalid (Logto ignores the whole group silently).
func parseExtraParams(q url.Values) extraParams {
	e := extraParams{
		firstScreen: q.Get("first_screen"), interactionMode: q.Get("interaction_mode"),
		directSignIn: q.Get("direct_sign_in"), loginHint: q.Get("login_hint"),
		organizationID: q.Get("organization_id"), uiLocales: q.Get("ui_locales"),
	}
	valid := true
	check := func(present, ok bool) {
		if present && !ok {
			valid = false
		}
	}
	check(e.firstScreen != "", slices.Contains(firstScreens, e.firstScreen))
	check(e.interactionMode != "", e.interactionMode == "signIn" || e.interactionMode == "signUp")
	check(e.directSignIn != "", directSignInPattern.MatchString(e.directSignIn))
	check(e.loginHint != "", len(e.loginHint) <= 256)
	check(e.organizationID != "", len(e.organizationID) <= 128 && !strings.ContainsAny(e.organizationID, " \t\r\n"))
	if e.uiLocales != "" {
		for _, l := range strings.Fields(e.uiLocales) {
			check(true, localePattern.MatchString(l))
		}
	}
	if id := q.Get("identifier"); id != "" {
		for _, f := range strings.Fields(id) {
			check(true, f == "email" || f == "phone" || f == "username")
			if !slices.Contains(e.identifiers, f) {
				e.identifiers = append(e.identifiers, f)
			}
		}
	}
	if !valid {
		return extraParams{}
	}
	return e
}

// authErrorURL builds the error redirect to an already validated redirect URI.
func (p *Provider) authErrorURL(redirectURI, state string, e *authError) string {
	v := url.Values{"error": {e.code}, "error_description": {e.description}, "iss": {p.issuer}}
	if state != "" {
		v.Set("state", state)
	}
	return appendQuery(redirectURI, v)
}

// appendQuery adds v to the query of a registered URI, keeping its own query.
func appendQuery(rawURL string, v url.Values) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return rawURL
	}
	q := u.Query()
	for k, vs := range v {
		q[k] = vs
	}
	u.RawQuery = q.Encode()
	return u.String()
}
