package logtoadmin

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// DiscordFactory is the connector factory id of Logto's Discord connector.
const DiscordFactory = "discord-universal"

// DefaultDiscordScope is the scope the Discord connector asks Discord for.
const DefaultDiscordScope = "identify email"

// Plan is what Setup makes a tenant hold.
type Plan struct {
	// AppName names the Traditional web app (found by name when AppID is "").
	AppName string
	// AppID, when set, is the app to bring back to the plan (LOGTO_APP_ID).
	AppID string
	// AppSecret, when it is still one of the app's valid secrets, is kept
	// (LOGTO_APP_SECRET); otherwise Setup returns another one.
	AppSecret string
	// RedirectURI, PostLogoutRedirectURI and BackchannelLogoutURI are the
	// app's URIs, registered exactly (and only them), with "session required".
	RedirectURI, PostLogoutRedirectURI, BackchannelLogoutURI string
	// Resources are API resource indicators to exist, each with Scopes.
	Resources []string
	Scopes    []string
	// Discord, when not nil, configures the Discord connector and adds it
	// to the sign-in experience.
	Discord *DiscordPlan
}

// DiscordPlan is the Discord connector's configuration.
type DiscordPlan struct {
	ClientID, ClientSecret string
	// Scope defaults to DefaultDiscordScope.
	Scope string
	// SkipRequiredIdentifiers sets the sign-in experience's
	// socialSignIn.skipRequiredIdentifiers: without it a new Discord user
	// (who has no username) stops on Logto's "Set username" page.
	SkipRequiredIdentifiers bool
}

// Action is what Setup did to one item.
type Action string

// The three outcomes of an item.
const (
	Created   Action = "created"
	Updated   Action = "updated"
	Unchanged Action = "unchanged"
)

// Item is one line of Setup's report. What never holds a secret.
type Item struct {
	Action Action
	What   string
}

// Result is what Setup did and what the BFF needs to know.
type Result struct {
	Items []Item
	// AppID and AppSecret are the BFF's LOGTO_APP_ID and LOGTO_APP_SECRET.
	AppID, AppSecret string
	// DiscordRedirectURI is the URI to register at Discord ("" without
	// Discord).
	DiscordRedirectURI string
}

// Changed reports whether any item was created or updated.
func (r *Result) Changed() bool {
	for _, it := range r.Items {
		if it.Action != Unchanged {
			return true
		}
	}
	return false
}

func (r *Result) add(a Action, format string, args ...any) {
	r.Items = append(r.Items, Item{Action: a, What: fmt.Sprintf(format, args...)})
}

// Setup makes the tenant hold what p describes: it checks that discovery's
// issuer is <endpoint>/oidc, then finds each item, creates what is missing
// and brings what differs back to p. Running it twice in a
// row reports every item unchanged the second time. It deletes nothing.
func Setup(ctx context.Context, c *Client, p Plan) (*Result, error) {
	if p.AppName == "" && p.AppID == "" {
		return nil, errors.New("setup: an app name or id is required")
	}
	// Before changing anything: the BFF will derive its issuer from the
	// same endpoint.
	if err := c.CheckIssuer(ctx); err != nil {
		return nil, fmt.Errorf("setup: %w", err)
	}
	res := &Result{}
	app, err := setupApp(ctx, c, p, res)
	if err != nil {
		return nil, err
	}
	res.AppID = app.ID
	if res.AppSecret, err = setupSecret(ctx, c, app.ID, p.AppSecret, res); err != nil {
		return nil, err
	}
	if err := setupResources(ctx, c, p, res); err != nil {
		return nil, err
	}
	if p.Discord != nil {
		if err := setupDiscord(ctx, c, *p.Discord, res); err != nil {
			return nil, err
		}
	}
	return res, nil
}

func (p Plan) metadata() OIDCClientMetadata {
	return OIDCClientMetadata{
		RedirectURIs:                     []string{p.RedirectURI},
		PostLogoutRedirectURIs:           []string{p.PostLogoutRedirectURI},
		BackchannelLogoutURI:             p.BackchannelLogoutURI,
		BackchannelLogoutSessionRequired: true,
	}
}

func setupApp(ctx context.Context, c *Client, p Plan, res *Result) (Application, error) {
	want := p.metadata()
	var app Application
	if p.AppID != "" {
		a, err := c.Application(ctx, p.AppID)
		if errors.Is(err, ErrNotFound) {
			return app, fmt.Errorf("setup: LOGTO_APP_ID %q is not an application of this tenant — unset it to create the app, or fix it", p.AppID)
		}
		if err != nil {
			return app, fmt.Errorf("setup: read the application: %w", err)
		}
		app = a
	} else {
		apps, err := c.Applications(ctx)
		if err != nil {
			return app, fmt.Errorf("setup: list applications: %w", err)
		}
		var found []Application
		for _, a := range apps {
			if a.Name == p.AppName && a.Type == AppTypeTraditional {
				found = append(found, a)
			}
		}
		switch len(found) {
		case 0:
			created, err := c.CreateApplication(ctx, Application{
				Name: p.AppName, Type: AppTypeTraditional,
				Description:        "Backend-for-frontend (created by bff logto setup)",
				OIDCClientMetadata: want,
			})
			if err != nil {
				return app, fmt.Errorf("setup: create the application: %w", err)
			}
			res.add(Created, "application %q (Traditional web, id %s)", p.AppName, created.ID)
			if !sameMetadata(created.OIDCClientMetadata, want) {
				if err := c.SetOIDCClientMetadata(ctx, created.ID, want); err != nil {
					return app, fmt.Errorf("setup: set the application's URIs: %w", err)
				}
			}
			created.OIDCClientMetadata = want
			return created, nil
		case 1:
			app = found[0]
		default:
			ids := make([]string, len(found))
			for i, a := range found {
				ids[i] = a.ID
			}
			return app, fmt.Errorf("setup: %d Traditional apps are called %q (%s) — set LOGTO_APP_ID to the one to use", len(found), p.AppName, strings.Join(ids, ", "))
		}
	}
	if app.Type != AppTypeTraditional {
		return app, fmt.Errorf("setup: application %s is of type %s, not Traditional web — the BFF needs a Traditional web app", app.ID, app.Type)
	}
	if sameMetadata(app.OIDCClientMetadata, want) {
		res.add(Unchanged, "application %q (id %s): redirect, post sign-out and back-channel logout URIs", app.Name, app.ID)
		return app, nil
	}
	if err := c.SetOIDCClientMetadata(ctx, app.ID, want); err != nil {
		return app, fmt.Errorf("setup: update the application's URIs: %w", err)
	}
	res.add(Updated, "application %q (id %s): %s", app.Name, app.ID, strings.Join(metadataDiff(app.OIDCClientMetadata, want), "; "))
	app.OIDCClientMetadata = want
	return app, nil
}

func sameMetadata(a, b OIDCClientMetadata) bool {
	return len(metadataDiff(a, b)) == 0
}

// metadataDiff names each field of have that differs from want (URIs are
// not secret).
func metadataDiff(have, want OIDCClientMetadata) []string {
	var d []string
	if !slices.Equal(have.RedirectURIs, want.RedirectURIs) {
		d = append(d, fmt.Sprintf("redirect URIs %q → %q", have.RedirectURIs, want.RedirectURIs))
	}
	if !slices.Equal(have.PostLogoutRedirectURIs, want.PostLogoutRedirectURIs) {
		d = append(d, fmt.Sprintf("post sign-out redirect URIs %q → %q", have.PostLogoutRedirectURIs, want.PostLogoutRedirectURIs))
	}
	if have.BackchannelLogoutURI != want.BackchannelLogoutURI {
		d = append(d, fmt.Sprintf("back-channel logout URI %q → %q", have.BackchannelLogoutURI, want.BackchannelLogoutURI))
	}
	if have.BackchannelLogoutSessionRequired != want.BackchannelLogoutSessionRequired {
		d = append(d, fmt.Sprintf("back-channel \"session required\" %t → %t", have.BackchannelLogoutSessionRequired, want.BackchannelLogoutSessionRequired))
	}
	return d
}

// setupSecret returns a valid client secret of the app: keep (the one the
// caller has, when still valid), else the first that does not expire within
// a day, else a new one.
func setupSecret(ctx context.Context, c *Client, appID, keep string, res *Result) (string, error) {
	secrets, err := c.AppSecrets(ctx, appID)
	if err != nil {
		return "", fmt.Errorf("setup: list the application's secrets: %w", err)
	}
	soon := time.Now().Add(24 * time.Hour).UnixMilli()
	var valid []AppSecret
	for _, s := range secrets {
		if s.Value != "" && (s.ExpiresAt == nil || *s.ExpiresAt > soon) {
			valid = append(valid, s)
		}
	}
	for _, s := range valid {
		if keep != "" && s.Value == keep {
			res.add(Unchanged, "app secret %q (the one in LOGTO_APP_SECRET)", s.Name)
			return s.Value, nil
		}
	}
	if len(valid) > 0 {
		res.add(Unchanged, "app secret %q", valid[0].Name)
		return valid[0].Value, nil
	}
	s, err := c.CreateAppSecret(ctx, appID, "bff "+time.Now().UTC().Format("2006-01-02"))
	if err != nil {
		return "", fmt.Errorf("setup: create an app secret: %w", err)
	}
	res.add(Created, "app secret %q", s.Name)
	return s.Value, nil
}

func setupResources(ctx context.Context, c *Client, p Plan, res *Result) error {
	if len(p.Resources) == 0 {
		return nil
	}
	have, err := c.Resources(ctx)
	if err != nil {
		return fmt.Errorf("setup: list API resources: %w", err)
	}
	for _, ind := range p.Resources {
		i := slices.IndexFunc(have, func(r Resource) bool { return r.Indicator == ind })
		var r Resource
		if i >= 0 {
			r = have[i]
			res.add(Unchanged, "API resource %s", ind)
		} else {
			if r, err = c.CreateResource(ctx, Resource{Name: ind, Indicator: ind}); err != nil {
				return fmt.Errorf("setup: create API resource %s: %w", ind, err)
			}
			res.add(Created, "API resource %s", ind)
		}
		if len(p.Scopes) == 0 {
			continue
		}
		scopes, err := c.Scopes(ctx, r.ID)
		if err != nil {
			return fmt.Errorf("setup: list the scopes of %s: %w", ind, err)
		}
		for _, name := range p.Scopes {
			if slices.ContainsFunc(scopes, func(s Scope) bool { return s.Name == name }) {
				res.add(Unchanged, "scope %s of %s", name, ind)
				continue
			}
			if _, err := c.CreateScope(ctx, r.ID, name); err != nil {
				return fmt.Errorf("setup: create scope %s of %s: %w", name, ind, err)
			}
			res.add(Created, "scope %s of %s", name, ind)
		}
	}
	return nil
}

// IsDiscord reports whether a connector is Logto's Discord connector.
func IsDiscord(cn Connector) bool {
	return cn.ConnectorID == DiscordFactory || cn.Metadata.Target == "discord"
}

func setupDiscord(ctx context.Context, c *Client, d DiscordPlan, res *Result) error {
	if d.ClientID == "" || d.ClientSecret == "" {
		return errors.New("setup: Discord needs both a client id and a client secret (--discord-client-id, --discord-client-secret or DISCORD_CLIENT_ID, DISCORD_CLIENT_SECRET)")
	}
	if d.Scope == "" {
		d.Scope = DefaultDiscordScope
	}
	conns, err := c.Connectors(ctx)
	if err != nil {
		return fmt.Errorf("setup: list connectors: %w", err)
	}
	i := slices.IndexFunc(conns, IsDiscord)
	var id string
	if i < 0 {
		factories, err := c.ConnectorFactories(ctx)
		if err != nil {
			return fmt.Errorf("setup: list connector factories: %w", err)
		}
		if !slices.ContainsFunc(factories, func(f ConnectorFactory) bool { return f.ID == DiscordFactory }) {
			return fmt.Errorf("setup: this Logto has no Discord connector (%s) to create", DiscordFactory)
		}
		cn, err := c.CreateConnector(ctx, DiscordFactory, map[string]any{"clientId": d.ClientID, "clientSecret": d.ClientSecret, "scope": d.Scope})
		if err != nil {
			return fmt.Errorf("setup: create the Discord connector: %w", err)
		}
		id = cn.ID
		res.add(Created, "Discord connector (id %s, scope %q)", id, d.Scope)
	} else {
		cn := conns[i]
		id = cn.ID
		var changed []string
		cfg := make(map[string]any, len(cn.Config)+3)
		for k, v := range cn.Config {
			cfg[k] = v
		}
		for _, kv := range []struct{ key, val, name string }{
			{"clientId", d.ClientID, "client id"},
			{"clientSecret", d.ClientSecret, "client secret"},
			{"scope", d.Scope, "scope"},
		} {
			if s, _ := cfg[kv.key].(string); s != kv.val {
				changed = append(changed, kv.name)
				cfg[kv.key] = kv.val
			}
		}
		if len(changed) == 0 {
			res.add(Unchanged, "Discord connector (id %s)", id)
		} else {
			if err := c.SetConnectorConfig(ctx, id, cfg); err != nil {
				return fmt.Errorf("setup: update the Discord connector: %w", err)
			}
			res.add(Updated, "Discord connector (id %s): %s", id, strings.Join(changed, ", "))
		}
	}
	res.DiscordRedirectURI = c.Endpoint() + "/callback/" + id
	return setupSignInExperience(ctx, c, d, res)
}

func setupSignInExperience(ctx context.Context, c *Client, d DiscordPlan, res *Result) error {
	raw, err := c.rawSignInExperience(ctx)
	if err != nil {
		return fmt.Errorf("setup: read the sign-in experience: %w", err)
	}
	patch := map[string]any{}
	var targets []string
	if list, ok := raw["socialSignInConnectorTargets"].([]any); ok {
		for _, t := range list {
			if s, ok := t.(string); ok {
				targets = append(targets, s)
			}
		}
	}
	if slices.Contains(targets, "discord") {
		res.add(Unchanged, "sign-in experience: Discord in social sign-in")
	} else {
		patch["socialSignInConnectorTargets"] = append(targets, "discord")
	}
	social, _ := raw["socialSignIn"].(map[string]any)
	skip, _ := social["skipRequiredIdentifiers"].(bool)
	if d.SkipRequiredIdentifiers {
		if skip {
			res.add(Unchanged, "sign-in experience: social sign-in skips required identifiers")
		} else {
			ns := make(map[string]any, len(social)+1)
			for k, v := range social {
				ns[k] = v
			}
			ns["skipRequiredIdentifiers"] = true
			patch["socialSignIn"] = ns
		}
	}
	if len(patch) == 0 {
		return nil
	}
	if err := c.PatchSignInExperience(ctx, patch); err != nil {
		return fmt.Errorf("setup: update the sign-in experience: %w", err)
	}
	if _, ok := patch["socialSignInConnectorTargets"]; ok {
		res.add(Updated, "sign-in experience: Discord added to social sign-in")
	}
	if _, ok := patch["socialSignIn"]; ok {
		res.add(Updated, "sign-in experience: social sign-in skips required identifiers (a new Discord user is not asked for a username)")
	}
	return nil
}
