package logtoadmin_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"

	"github.com/logto-bff/bff/backend/internal/logtoadmin"
	"github.com/logto-bff/bff/backend/internal/logtoadmin/logtoadmintest"
)

const public = "https://app.example.test"

func plan() logtoadmin.Plan {
	return logtoadmin.Plan{
		AppName:               "Logto BFF",
		RedirectURI:           public + "/auth/callback",
		PostLogoutRedirectURI: public + "/",
		BackchannelLogoutURI:  public + "/auth/backchannel-logout",
		Resources:             []string{"https://api.example.test"},
		Scopes:                []string{"read:x"},
		Discord:               &logtoadmin.DiscordPlan{ClientID: "did", ClientSecret: "dsecret", SkipRequiredIdentifiers: true},
	}
}

func client(f *logtoadmintest.Fake) *logtoadmin.Client {
	return logtoadmin.New(logtoadmin.Config{Endpoint: f.URL, AppID: logtoadmintest.M2MAppID, AppSecret: logtoadmintest.M2MAppSecret})
}

func actions(res *logtoadmin.Result) map[logtoadmin.Action][]string {
	m := map[logtoadmin.Action][]string{}
	for _, it := range res.Items {
		m[it.Action] = append(m[it.Action], it.What)
	}
	return m
}

func mustSetup(t *testing.T, f *logtoadmintest.Fake, p logtoadmin.Plan) *logtoadmin.Result {
	t.Helper()
	res, err := logtoadmin.Setup(context.Background(), client(f), p)
	if err != nil {
		t.Fatalf("Setup: %v", err)
	}
	return res
}

func TestSetupCreatesEverythingThenChangesNothing(t *testing.T) {
	f := logtoadmintest.New(t)
	res := mustSetup(t, f, plan())
	a := actions(res)
	if len(a[logtoadmin.Created]) != 4 || len(a[logtoadmin.Updated]) != 2 {
		t.Fatalf("first run: %+v", res.Items)
	}
	app := f.App(res.AppID)
	if app == nil || app.Type != "Traditional" || app.RedirectURIs[0] != public+"/auth/callback" ||
		app.PostLogoutRedirectURIs[0] != public+"/" || app.BackchannelLogoutURI != public+"/auth/backchannel-logout" || !app.BackchannelLogoutSessionRequired {
		t.Fatalf("app %+v", app)
	}
	if res.AppSecret != app.Secrets[0] {
		t.Fatalf("secret is not the app's default secret")
	}
	if got := f.Resources["https://api.example.test"]; len(got) != 1 || got[0] != "read:x" {
		t.Fatalf("resource scopes %v", got)
	}
	if len(f.Connectors) != 1 || !strings.HasPrefix(res.DiscordRedirectURI, f.URL+"/callback/conn") {
		t.Fatalf("connectors %v, redirect %q", f.Connectors, res.DiscordRedirectURI)
	}
	sie := f.SignInExperience
	if tg := sie["socialSignInConnectorTargets"].([]any); len(tg) != 1 || tg[0] != "discord" {
		t.Fatalf("targets %v", tg)
	}
	if sie["socialSignIn"].(map[string]any)["skipRequiredIdentifiers"] != true {
		t.Fatalf("skipRequiredIdentifiers not set")
	}
	for _, it := range res.Items {
		if strings.Contains(it.What, res.AppSecret) || strings.Contains(it.What, "dsecret") {
			t.Fatalf("a secret in the report: %q", it.What)
		}
	}

	f.Calls = nil
	p := plan()
	p.AppSecret = res.AppSecret
	again := mustSetup(t, f, p)
	if again.Changed() || len(f.Calls) != 0 {
		t.Fatalf("second run changed something: %+v, calls %v", again.Items, f.Calls)
	}
	if again.AppID != res.AppID || again.AppSecret != res.AppSecret {
		t.Fatal("second run returned other credentials")
	}
}

func TestSetupRepairsWhatDiffers(t *testing.T) {
	f := logtoadmintest.New(t)
	first := mustSetup(t, f, plan())
	app := f.App(first.AppID)
	app.RedirectURIs = []string{"https://evil.example.test/cb"}
	app.BackchannelLogoutSessionRequired = false
	for id := range f.Connectors {
		f.Connectors[id]["clientSecret"] = "old"
	}
	f.SignInExperience["socialSignInConnectorTargets"] = []any{"github"}

	res := mustSetup(t, f, plan())
	up := strings.Join(actions(res)[logtoadmin.Updated], "\n")
	for _, want := range []string{"redirect URIs", "session required", "Discord connector", "client secret", "Discord added"} {
		if !strings.Contains(up, want) {
			t.Errorf("updated items lack %q:\n%s", want, up)
		}
	}
	if strings.Contains(up, "dsecret") || strings.Contains(up, "old") {
		t.Errorf("a secret in the report:\n%s", up)
	}
	if app.RedirectURIs[0] != public+"/auth/callback" || len(app.RedirectURIs) != 1 || !app.BackchannelLogoutSessionRequired {
		t.Errorf("app not repaired: %+v", app)
	}
	if tg := f.SignInExperience["socialSignInConnectorTargets"].([]any); len(tg) != 2 {
		t.Errorf("targets %v: github must stay, discord be added", tg)
	}
}

func TestSetupSecrets(t *testing.T) {
	f := logtoadmintest.New(t)
	first := mustSetup(t, f, plan())
	app := f.App(first.AppID)

	// LOGTO_APP_SECRET still valid: kept even when it is not the first.
	app.Secrets = []string{"other", first.AppSecret}
	p := plan()
	p.AppSecret = first.AppSecret
	if res := mustSetup(t, f, p); res.AppSecret != first.AppSecret {
		t.Fatal("a valid LOGTO_APP_SECRET was not kept")
	}
	// No secret left: a new one.
	app.Secrets = nil
	res := mustSetup(t, f, p)
	if len(app.Secrets) != 1 || res.AppSecret != app.Secrets[0] || len(actions(res)[logtoadmin.Created]) != 1 {
		t.Fatalf("no new secret: %+v", res.Items)
	}
}

func TestSetupFindsTheAppByID(t *testing.T) {
	f := logtoadmintest.New(t)
	first := mustSetup(t, f, plan())
	p := plan()
	p.AppName = "another name"
	p.AppID = first.AppID
	if res := mustSetup(t, f, p); res.AppID != first.AppID || res.Changed() {
		t.Fatalf("by id: %+v", res.Items)
	}
}

func TestSetupWithoutDiscordOrResources(t *testing.T) {
	f := logtoadmintest.New(t)
	p := plan()
	p.Discord, p.Resources = nil, nil
	mustSetup(t, f, p)
	if len(f.Connectors) != 0 || len(f.Resources) != 0 {
		t.Fatal("made what was not asked")
	}
	p = plan()
	p.Discord.SkipRequiredIdentifiers = false
	mustSetup(t, f, p)
	if _, ok := f.SignInExperience["socialSignIn"].(map[string]any)["skipRequiredIdentifiers"]; ok {
		t.Fatal("skipRequiredIdentifiers set although not asked")
	}
}

func TestSetupErrors(t *testing.T) {
	closed, _ := net.Listen("tcp", "127.0.0.1:0")
	deadURL := "http://" + closed.Addr().String()
	closed.Close()

	tests := []struct {
		name    string
		prep    func(f *logtoadmintest.Fake, cfg *logtoadmin.Config, p *logtoadmin.Plan)
		is      error
		message string
	}{
		{"unreachable", func(f *logtoadmintest.Fake, c *logtoadmin.Config, p *logtoadmin.Plan) { c.Endpoint = deadURL }, logtoadmin.ErrUnreachable, "LOGTO_ENDPOINT"},
		{"issuer mismatch", func(f *logtoadmintest.Fake, c *logtoadmin.Config, p *logtoadmin.Plan) {
			c.Endpoint = strings.Replace(f.URL, "127.0.0.1", "localhost", 1)
		}, logtoadmin.ErrIssuer, "LOGTO_ENDPOINT"},
		{"wrong M2M secret", func(f *logtoadmintest.Fake, c *logtoadmin.Config, p *logtoadmin.Plan) { c.AppSecret = "nope" }, logtoadmin.ErrCredentials, "LOGTO_M2M_APP_SECRET"},
		{"unknown M2M app", func(f *logtoadmintest.Fake, c *logtoadmin.Config, p *logtoadmin.Plan) { c.AppID = "nope" }, logtoadmin.ErrCredentials, "LOGTO_M2M_APP_ID"},
		{"no M2M credentials", func(f *logtoadmintest.Fake, c *logtoadmin.Config, p *logtoadmin.Plan) { c.AppID = "" }, logtoadmin.ErrCredentials, "not set"},
		{"M2M app without the role", func(f *logtoadmintest.Fake, c *logtoadmin.Config, p *logtoadmin.Plan) { f.M2MHasRole = false }, logtoadmin.ErrForbidden, "Logto Management API access"},
		{"wrong management resource", func(f *logtoadmintest.Fake, c *logtoadmin.Config, p *logtoadmin.Plan) {
			c.Resource = "https://x.logto.app/api"
		}, logtoadmin.ErrResource, "LOGTO_MANAGEMENT_RESOURCE"},
		{"endpoint with a path", func(f *logtoadmintest.Fake, c *logtoadmin.Config, p *logtoadmin.Plan) { c.Endpoint += "/nothing" }, logtoadmin.ErrUnreachable, "404"},
		{"API forbids a call", func(f *logtoadmintest.Fake, c *logtoadmin.Config, p *logtoadmin.Plan) {
			f.Fail["GET /api/applications"] = 403
		}, logtoadmin.ErrForbidden, "Roles"},
		{"API fails to create", func(f *logtoadmintest.Fake, c *logtoadmin.Config, p *logtoadmin.Plan) {
			f.Fail["POST /api/applications"] = 500
		}, nil, "create the application: POST /api/applications: 500"},
		{"resource creation fails", func(f *logtoadmintest.Fake, c *logtoadmin.Config, p *logtoadmin.Plan) {
			f.Fail["POST /api/resources"] = 422
		}, nil, "create API resource"},
		{"connector update fails", func(f *logtoadmintest.Fake, c *logtoadmin.Config, p *logtoadmin.Plan) {
			f.Connectors["c1"] = map[string]any{"clientId": "x"}
			f.Fail["PATCH /api/connectors/c1"] = 400
		}, nil, "update the Discord connector"},
		{"sign-in experience update fails", func(f *logtoadmintest.Fake, c *logtoadmin.Config, p *logtoadmin.Plan) {
			f.Fail["PATCH /api/sign-in-exp"] = 400
		}, nil, "update the sign-in experience"},
		{"no Discord factory", func(f *logtoadmintest.Fake, c *logtoadmin.Config, p *logtoadmin.Plan) { f.DiscordFactory = false }, nil, "no Discord connector"},
		{"Discord without a secret", func(f *logtoadmintest.Fake, c *logtoadmin.Config, p *logtoadmin.Plan) { p.Discord.ClientSecret = "" }, nil, "client secret"},
		{"LOGTO_APP_ID unknown", func(f *logtoadmintest.Fake, c *logtoadmin.Config, p *logtoadmin.Plan) { p.AppID = "gone" }, nil, "not an application"},
		{"LOGTO_APP_ID not Traditional", func(f *logtoadmintest.Fake, c *logtoadmin.Config, p *logtoadmin.Plan) {
			f.Apps = append(f.Apps, &logtoadmintest.App{ID: "spa1", Name: "spa", Type: "SPA"})
			p.AppID = "spa1"
		}, nil, "not Traditional"},
		{"two apps of that name", func(f *logtoadmintest.Fake, c *logtoadmin.Config, p *logtoadmin.Plan) {
			f.Apps = append(f.Apps, &logtoadmintest.App{ID: "a1", Name: "Logto BFF", Type: "Traditional"}, &logtoadmintest.App{ID: "a2", Name: "Logto BFF", Type: "Traditional"})
		}, nil, "set LOGTO_APP_ID"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := logtoadmintest.New(t)
			cfg := logtoadmin.Config{Endpoint: f.URL, AppID: logtoadmintest.M2MAppID, AppSecret: logtoadmintest.M2MAppSecret}
			p := plan()
			tt.prep(f, &cfg, &p)
			_, err := logtoadmin.Setup(context.Background(), logtoadmin.New(cfg), p)
			if err == nil {
				t.Fatal("no error")
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("error %v is not %v", err, tt.is)
			}
			if !strings.Contains(err.Error(), tt.message) {
				t.Errorf("error %q lacks %q", err, tt.message)
			}
			if tt.is != nil && len(f.Calls) != 0 {
				// Access and endpoint problems stop setup before any change.
				t.Errorf("changes before the error: %v", f.Calls)
			}
			if strings.Contains(err.Error(), logtoadmintest.M2MAppSecret) {
				t.Errorf("the M2M secret is in the error: %q", err)
			}
		})
	}
}
