// Package logtoadmintest is an in-memory fake of the parts of Logto's
// Management API and OIDC endpoints that logtoadmin uses, for unit tests.
// It answers as Logto 1.37.1 does (shapes and error codes observed on a
// real one); the integration tests in package logtoit run against a real
// Logto.
package logtoadmintest

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// Credentials of the fake's M2M app and of the app Setup creates.
const (
	M2MAppID     = "m2m-app"
	M2MAppSecret = "m2m-secret"
)

// App is an application held by the fake.
type App struct {
	ID, Name, Type                       string
	RedirectURIs, PostLogoutRedirectURIs []string
	BackchannelLogoutURI                 string
	BackchannelLogoutSessionRequired     bool
	// Secrets are the client secrets (values).
	Secrets []string
}

// Fake is a fake Logto. Its fields may be changed between requests while
// holding Mu.
type Fake struct {
	Mu sync.Mutex
	// Server serves the fake; URL is the tenant endpoint.
	Server *httptest.Server
	URL    string
	// M2MHasRole false makes the token carry no "all" scope (Logto's
	// answer for an M2M app without the Management API role).
	M2MHasRole bool
	Apps       []*App
	// Resources maps indicator → scope names.
	Resources map[string][]string
	// Connectors maps connector id → config; DiscordFactory false removes
	// the discord-universal factory.
	Connectors     map[string]map[string]any
	DiscordFactory bool
	// SignInExperience is the raw sign-in experience.
	SignInExperience map[string]any
	// ClockOffset is added to the Date header.
	ClockOffset time.Duration
	// Fail makes the request "METHOD /api/path" answer this status.
	Fail map[string]int
	// Calls lists "METHOD /path" of every Management API call that changes
	// something.
	Calls []string

	next int
}

// New starts a fake Logto with Logto's seeded defaults: no apps but the
// M2M one, no resources, no connectors, sign-up by username.
func New(t *testing.T) *Fake {
	t.Helper()
	f := &Fake{
		M2MHasRole:     true,
		Resources:      map[string][]string{},
		Connectors:     map[string]map[string]any{},
		DiscordFactory: true,
		SignInExperience: map[string]any{
			"socialSignInConnectorTargets": []any{},
			"socialSignIn":                 map[string]any{},
			"signUp":                       map[string]any{"identifiers": []any{"username"}, "password": true},
		},
		Fail: map[string]int{},
	}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	f.URL = f.Server.URL
	t.Cleanup(f.Server.Close)
	return f
}

func (f *Fake) id(prefix string) string {
	f.next++
	return fmt.Sprintf("%s%d", prefix, f.next)
}

// App returns the app with id, or nil.
func (f *Fake) App(id string) *App {
	for _, a := range f.Apps {
		if a.ID == id {
			return a
		}
	}
	return nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func apiError(w http.ResponseWriter, status int, code string) {
	writeJSON(w, status, map[string]string{"code": code, "message": code})
}

func (f *Fake) serve(w http.ResponseWriter, r *http.Request) {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	w.Header().Set("Date", time.Now().Add(f.ClockOffset).UTC().Format(http.TimeFormat))
	key := r.Method + " " + r.URL.Path
	if st, ok := f.Fail[key]; ok {
		apiError(w, st, "fake.failure")
		return
	}
	switch {
	case r.URL.Path == "/oidc/.well-known/openid-configuration":
		writeJSON(w, 200, map[string]any{
			"issuer": f.URL + "/oidc", "token_endpoint": f.URL + "/oidc/token",
			"revocation_endpoint":   f.URL + "/oidc/token/revocation",
			"scopes_supported":      []string{"openid", "offline_access", "profile", "email"},
			"grant_types_supported": []string{"authorization_code", "refresh_token", "client_credentials"},
		})
	case key == "POST /oidc/token":
		f.token(w, r)
	case key == "POST /oidc/token/revocation":
		id, secret, _ := r.BasicAuth()
		if a := f.App(id); a == nil || !contains(a.Secrets, secret) {
			writeJSON(w, 401, map[string]string{"error": "invalid_client"})
			return
		}
		w.WriteHeader(200)
	case strings.HasPrefix(r.URL.Path, "/api/"):
		if r.Header.Get("Authorization") != "Bearer fake-management-token" {
			apiError(w, 401, "auth.unauthorized")
			return
		}
		if !f.M2MHasRole {
			apiError(w, 403, "auth.forbidden")
			return
		}
		if r.Method != http.MethodGet {
			f.Calls = append(f.Calls, key)
		}
		f.api(w, r, strings.Split(strings.TrimPrefix(r.URL.Path, "/api/"), "/"))
	default:
		http.NotFound(w, r)
	}
}

func (f *Fake) token(w http.ResponseWriter, r *http.Request) {
	id, secret, _ := r.BasicAuth()
	_ = r.ParseForm()
	switch {
	case id != M2MAppID:
		writeJSON(w, 400, map[string]string{"error": "invalid_client", "error_description": "invalid client " + id})
	case secret != M2MAppSecret:
		writeJSON(w, 401, map[string]string{"error": "invalid_client", "error_description": "client authentication failed"})
	case r.PostForm.Get("resource") != "https://default.logto.app/api":
		writeJSON(w, 400, map[string]string{"error": "invalid_target"})
	default:
		scope := ""
		if f.M2MHasRole {
			scope = "all"
		}
		writeJSON(w, 200, map[string]any{"access_token": "fake-management-token", "expires_in": 3600, "token_type": "Bearer", "scope": scope})
	}
}

// resID is the fake's id of the resource with indicator ind.
func resID(ind string) string { return "res" + hex.EncodeToString([]byte(ind)) }

func decode(r *http.Request) map[string]any {
	var m map[string]any
	_ = json.NewDecoder(r.Body).Decode(&m)
	return m
}

func strs(v any) []string {
	var out []string
	list, _ := v.([]any)
	for _, x := range list {
		if s, ok := x.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func appJSON(a *App) map[string]any {
	md := map[string]any{
		"redirectUris": a.RedirectURIs, "postLogoutRedirectUris": a.PostLogoutRedirectURIs,
		"backchannelLogoutSessionRequired": a.BackchannelLogoutSessionRequired,
	}
	if md["redirectUris"] == nil {
		md["redirectUris"] = []string{}
	}
	if md["postLogoutRedirectUris"] == nil {
		md["postLogoutRedirectUris"] = []string{}
	}
	if a.BackchannelLogoutURI != "" {
		md["backchannelLogoutUri"] = a.BackchannelLogoutURI
	}
	return map[string]any{"id": a.ID, "name": a.Name, "type": a.Type, "secret": "#internal:x", "oidcClientMetadata": md}
}

func setMetadata(a *App, md map[string]any) {
	if md == nil {
		return
	}
	a.RedirectURIs = strs(md["redirectUris"])
	a.PostLogoutRedirectURIs = strs(md["postLogoutRedirectUris"])
	a.BackchannelLogoutURI, _ = md["backchannelLogoutUri"].(string)
	a.BackchannelLogoutSessionRequired, _ = md["backchannelLogoutSessionRequired"].(bool)
}

func (f *Fake) api(w http.ResponseWriter, r *http.Request, p []string) {
	switch {
	case p[0] == "applications" && len(p) == 1 && r.Method == "GET":
		out := []any{}
		for _, a := range f.Apps {
			out = append(out, appJSON(a))
		}
		writeJSON(w, 200, out)
	case p[0] == "applications" && len(p) == 1 && r.Method == "POST":
		b := decode(r)
		a := &App{ID: f.id("app"), Type: fmt.Sprint(b["type"]), Secrets: []string{f.id("secret-value-")}}
		a.Name, _ = b["name"].(string)
		md, _ := b["oidcClientMetadata"].(map[string]any)
		setMetadata(a, md)
		f.Apps = append(f.Apps, a)
		writeJSON(w, 200, appJSON(a))
	case p[0] == "applications" && len(p) >= 2:
		a := f.App(p[1])
		if a == nil {
			apiError(w, 404, "entity.not_exists_with_id")
			return
		}
		switch {
		case len(p) == 2 && r.Method == "GET":
			writeJSON(w, 200, appJSON(a))
		case len(p) == 2 && r.Method == "PATCH":
			md, _ := decode(r)["oidcClientMetadata"].(map[string]any)
			setMetadata(a, md)
			writeJSON(w, 200, appJSON(a))
		case len(p) == 3 && p[2] == "secrets" && r.Method == "GET":
			out := []any{}
			for i, s := range a.Secrets {
				out = append(out, map[string]any{"name": fmt.Sprintf("secret %d", i), "value": s, "expiresAt": nil})
			}
			writeJSON(w, 200, out)
		case len(p) == 3 && p[2] == "secrets" && r.Method == "POST":
			s := f.id("secret-value-")
			a.Secrets = append(a.Secrets, s)
			writeJSON(w, 201, map[string]any{"name": decode(r)["name"], "value": s, "expiresAt": nil})
		default:
			http.NotFound(w, r)
		}
	case p[0] == "resources" && len(p) == 1 && r.Method == "GET":
		out := []any{}
		for ind := range f.Resources {
			out = append(out, map[string]any{"id": resID(ind), "name": ind, "indicator": ind})
		}
		writeJSON(w, 200, out)
	case p[0] == "resources" && len(p) == 1 && r.Method == "POST":
		ind, _ := decode(r)["indicator"].(string)
		f.Resources[ind] = []string{}
		writeJSON(w, 201, map[string]any{"id": resID(ind), "name": ind, "indicator": ind})
	case p[0] == "resources" && len(p) == 3 && p[2] == "scopes":
		ind, _ := hex.DecodeString(strings.TrimPrefix(p[1], "res"))
		scopes, ok := f.Resources[string(ind)]
		if !ok {
			apiError(w, 404, "entity.not_exists_with_id")
			return
		}
		if r.Method == "POST" {
			name, _ := decode(r)["name"].(string)
			f.Resources[string(ind)] = append(scopes, name)
			writeJSON(w, 201, map[string]any{"id": "scope:" + name, "name": name})
			return
		}
		out := []any{}
		for _, s := range scopes {
			out = append(out, map[string]any{"id": "scope:" + s, "name": s})
		}
		writeJSON(w, 200, out)
	case p[0] == "connector-factories":
		out := []any{}
		if f.DiscordFactory {
			out = append(out, map[string]any{"id": "discord-universal"})
		}
		writeJSON(w, 200, out)
	case p[0] == "connectors" && len(p) == 1 && r.Method == "GET":
		out := []any{}
		for id, cfg := range f.Connectors {
			out = append(out, map[string]any{"id": id, "connectorId": "discord-universal", "config": cfg, "metadata": map[string]any{"target": "discord"}})
		}
		writeJSON(w, 200, out)
	case p[0] == "connectors" && len(p) == 1 && r.Method == "POST":
		b := decode(r)
		id := f.id("conn")
		cfg, _ := b["config"].(map[string]any)
		f.Connectors[id] = cfg
		writeJSON(w, 200, map[string]any{"id": id, "connectorId": b["connectorId"], "config": cfg})
	case p[0] == "connectors" && len(p) == 2 && r.Method == "PATCH":
		if _, ok := f.Connectors[p[1]]; !ok {
			apiError(w, 404, "entity.not_exists_with_id")
			return
		}
		cfg, _ := decode(r)["config"].(map[string]any)
		f.Connectors[p[1]] = cfg
		writeJSON(w, 200, map[string]any{"id": p[1]})
	case p[0] == "sign-in-exp" && r.Method == "GET":
		writeJSON(w, 200, f.SignInExperience)
	case p[0] == "sign-in-exp" && r.Method == "PATCH":
		for k, v := range decode(r) {
			f.SignInExperience[k] = v
		}
		writeJSON(w, 200, f.SignInExperience)
	default:
		http.NotFound(w, r)
	}
}
