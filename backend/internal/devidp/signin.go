package devidp

import (
	"net/http"
	"net/mail"
	"strings"
	"time"
	"unicode/utf8"
)

const (
	staleInteractionTitle = "Sign-in session not found"
	staleInteractionMsg   = "This sign-in attempt has expired, was already completed, or was started in another browser. Go back to the application and sign in again."
)

// signInPageData builds the sign-in page for an interaction. Caller holds mu.
func (p *Provider) signInPageData(it *interaction, identifier, errMsg string) pageData {
	base := p.interactionPath(it.id)
	return pageData{
		Title: "Sign in", Lang: it.req.extra.lang(), AppName: it.req.client.displayName(), Error: errMsg,
		Action: base, RegisterURL: base + "/register", DiscordURL: base + "/discord",
		Identifier: identifier, IdentifierLabel: identifierLabel(it.req.extra.identifiers),
	}
}

func (e extraParams) lang() string {
	if f := strings.Fields(e.uiLocales); len(f) > 0 {
		return f[0]
	}
	return "en"
}

// identifierLabel names the identifier field after Logto's `identifier`
// parameter (default: username or email).
func identifierLabel(ids []string) string {
	names := map[string]string{"username": "username", "email": "email", "phone": "phone number"}
	var parts []string
	for _, id := range ids {
		parts = append(parts, names[id])
	}
	if len(parts) == 0 {
		parts = []string{"username", "email"}
	}
	s := strings.Join(parts, " or ")
	return strings.ToUpper(s[:1]) + s[1:]
}

func (p *Provider) handleSignInPage(w http.ResponseWriter, r *http.Request) {
	it, _, ok := p.lockInteraction(w, r)
	if !ok {
		return
	}
	d := p.signInPageData(it, it.req.extra.loginHint, it.flash)
	it.flash = ""
	p.mu.Unlock()
	p.render(w, http.StatusOK, "signin", d)
}

func (p *Provider) handleSignInSubmit(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	_ = r.ParseForm()
	identifier, password := strings.TrimSpace(r.PostForm.Get("identifier")), r.PostForm.Get("password")
	it, now, ok := p.lockInteraction(w, r)
	if !ok {
		return
	}
	u := p.checkPasswordLocked(identifier, password)
	if u == nil {
		d := p.signInPageData(it, identifier, "Incorrect username or password.")
		p.mu.Unlock()
		p.log.Info("devidp: password sign-in failed", "client_id", it.req.client.ID)
		p.render(w, http.StatusUnauthorized, "signin", d)
		return
	}
	p.finishInteractionAndUnlock(w, r, it, u, now)
}

func (p *Provider) registerPageData(it *interaction) pageData {
	base := p.interactionPath(it.id)
	return pageData{
		Title: "Create your account", Lang: it.req.extra.lang(), AppName: it.req.client.displayName(),
		Action: base + "/register", SignInURL: base, FieldErrors: map[string]string{},
	}
}

func (p *Provider) handleRegisterPage(w http.ResponseWriter, r *http.Request) {
	it, _, ok := p.lockInteraction(w, r)
	if !ok {
		return
	}
	d := p.registerPageData(it)
	p.mu.Unlock()
	p.render(w, http.StatusOK, "register", d)
}

// handleRegisterSubmit creates the user (username, password, optional name
// and email) and signs them in.
func (p *Provider) handleRegisterSubmit(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	_ = r.ParseForm()
	f := r.PostForm
	username, password := strings.TrimSpace(f.Get("username")), f.Get("password")
	name, email := strings.TrimSpace(f.Get("name")), strings.TrimSpace(f.Get("email"))

	it, now, ok := p.lockInteraction(w, r)
	if !ok {
		return
	}
	d := p.registerPageData(it)
	d.Username, d.Name, d.Email = username, name, email
	switch {
	case username == "":
		d.FieldErrors["username"] = "Enter a username."
	case utf8.RuneCountInString(username) > 128 || !usernamePattern.MatchString(username):
		d.FieldErrors["username"] = "Use letters, digits and underscores; do not start with a digit."
	case p.userByUsernameLocked(username) != nil:
		d.FieldErrors["username"] = "This username is already taken."
	}
	if utf8.RuneCountInString(password) < 8 {
		d.FieldErrors["password"] = "Use at least 8 characters."
	}
	if email != "" {
		if a, err := mail.ParseAddress(email); err != nil || a.Address != email {
			d.FieldErrors["email"] = "Enter a valid email address, or leave it empty."
		} else if p.findUserLocked(func(u *User) bool { return strings.EqualFold(u.Email, email) }) != nil {
			d.FieldErrors["email"] = "This email is already used by another account."
		}
	}
	if len(d.FieldErrors) > 0 {
		p.mu.Unlock()
		d.Error = "Please correct the highlighted fields."
		p.render(w, http.StatusBadRequest, "register", d)
		return
	}
	u := &User{
		ID: randomID(12), Username: username, Password: password, Name: name, Email: email,
		Roles: []string{}, CustomData: map[string]any{}, CreatedAt: now, UpdatedAt: now,
	}
	p.users = append(p.users, u)
	p.log.Info("devidp: user registered", "sub", u.ID)
	p.finishInteractionAndUnlock(w, r, it, u, now)
}

func (p *Provider) handleDiscordPage(w http.ResponseWriter, r *http.Request) {
	it, _, ok := p.lockInteraction(w, r)
	if !ok {
		return
	}
	d := pageData{Title: "Simulated Discord", Lang: it.req.extra.lang(), AppName: it.req.client.displayName(),
		Action: p.interactionPath(it.id) + "/discord"}
	if u := p.discordUserLocked(); u != nil {
		d.DiscordName = discordName(u)
	}
	p.mu.Unlock()
	if d.DiscordName == "" {
		p.renderError(w, http.StatusNotFound, "No Discord user", "No seeded user has a Discord identity.")
		return
	}
	p.render(w, http.StatusOK, "discord", d)
}

func discordName(u *User) string {
	if n, ok := u.Identities["discord"].Details["name"].(string); ok && n != "" {
		return n
	}
	return u.Identities["discord"].UserID
}

// handleDiscordSubmit is the simulated Discord consent: "authorize" signs in
// the Discord-linked user; "cancel" returns to the sign-in page with an error,
// as Logto does when the user cancels at Discord.
func (p *Provider) handleDiscordSubmit(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	_ = r.ParseForm()
	it, now, ok := p.lockInteraction(w, r)
	if !ok {
		return
	}
	u := p.discordUserLocked()
	if r.PostForm.Get("decision") != "authorize" || u == nil {
		it.flash = "Discord sign-in was cancelled."
		p.mu.Unlock()
		http.Redirect(w, r, p.interactionPath(it.id), http.StatusSeeOther)
		return
	}
	p.finishInteractionAndUnlock(w, r, it, u, now)
}

// lockInteraction takes p.mu and finds the request's live interaction. When
// there is none it releases the lock, renders the "sign-in session not
// found" page and reports false; otherwise the caller holds p.mu.
func (p *Provider) lockInteraction(w http.ResponseWriter, r *http.Request) (*interaction, time.Time, bool) {
	p.mu.Lock()
	now := p.now()
	it := p.interactionLocked(r, now)
	if it == nil {
		p.mu.Unlock()
		p.renderError(w, http.StatusBadRequest, staleInteractionTitle, staleInteractionMsg)
		return nil, now, false
	}
	return it, now, true
}
