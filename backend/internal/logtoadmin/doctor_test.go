package logtoadmin_test

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/logto-bff/bff/backend/internal/logtoadmin"
	"github.com/logto-bff/bff/backend/internal/logtoadmin/logtoadmintest"
)

// doctorFor is a tenant Setup configured, and the doctor settings of the
// BFF it was configured for.
func doctorFor(t *testing.T) (*logtoadmintest.Fake, logtoadmin.DoctorConfig) {
	t.Helper()
	f := logtoadmintest.New(t)
	res := mustSetup(t, f, plan())
	p := plan()
	return f, logtoadmin.DoctorConfig{
		Endpoint: f.URL, AppID: res.AppID, AppSecret: res.AppSecret,
		RedirectURI: p.RedirectURI, PostLogoutRedirectURI: p.PostLogoutRedirectURI, BackchannelLogoutURI: p.BackchannelLogoutURI,
		Scopes:    strings.Fields("openid profile offline_access"),
		Resources: p.Resources, ClockSkew: time.Minute, Discord: true,
		Admin: client(f),
	}
}

// failures are the names and texts of the failed checks.
func failures(checks []logtoadmin.Check) string {
	var b strings.Builder
	for _, c := range checks {
		if !c.OK {
			b.WriteString(c.Name + ": " + c.Problem + " — " + c.Fix + "\n")
		}
	}
	return b.String()
}

func TestDoctorPassesAfterSetup(t *testing.T) {
	_, cfg := doctorFor(t)
	checks := logtoadmin.Doctor(context.Background(), cfg)
	if logtoadmin.Failed(checks) {
		t.Fatalf("failed:\n%s", failures(checks))
	}
	if len(checks) < 12 {
		t.Fatalf("only %d checks ran: %+v", len(checks), checks)
	}
	for _, c := range checks {
		if c.Skipped != "" {
			t.Errorf("skipped %s: %s", c.Name, c.Skipped)
		}
	}
}

func TestDoctorFailures(t *testing.T) {
	closed, _ := net.Listen("tcp", "127.0.0.1:0")
	deadURL := "http://" + closed.Addr().String()
	closed.Close()
	tests := []struct {
		name string
		prep func(f *logtoadmintest.Fake, cfg *logtoadmin.DoctorConfig)
		// want is in the only failure's text; fix in its fix.
		want, fix string
		// also: more checks may fail (the first listed is checked).
		also bool
	}{
		{"redirect URI changed", func(f *logtoadmintest.Fake, c *logtoadmin.DoctorConfig) {
			f.App(c.AppID).RedirectURIs = []string{public + "/auth/callback/"}
		}, "redirect URI: " + public + "/auth/callback is not registered", "Redirect URIs", false},
		{"post sign-out URI missing", func(f *logtoadmintest.Fake, c *logtoadmin.DoctorConfig) {
			f.App(c.AppID).PostLogoutRedirectURIs = nil
		}, "post sign-out redirect URI", "Post sign-out redirect URIs", false},
		{"no back-channel URI", func(f *logtoadmintest.Fake, c *logtoadmin.DoctorConfig) {
			f.App(c.AppID).BackchannelLogoutURI = ""
		}, "back-channel logout URI", "Backchannel logout URI", false},
		{"session required off", func(f *logtoadmintest.Fake, c *logtoadmin.DoctorConfig) {
			f.App(c.AppID).BackchannelLogoutSessionRequired = false
		}, "session required", "Is session required", false},
		{"wrong app secret", func(f *logtoadmintest.Fake, c *logtoadmin.DoctorConfig) { c.AppSecret = "wrong" }, "invalid_client", "App secret", false},
		{"app secret unset", func(f *logtoadmintest.Fake, c *logtoadmin.DoctorConfig) { c.AppSecret = "" }, "not set", "bff logto setup", false},
		{"unknown app", func(f *logtoadmintest.Fake, c *logtoadmin.DoctorConfig) { c.AppID = "gone" }, "not an application", "bff logto setup", true},
		{"app of another type", func(f *logtoadmintest.Fake, c *logtoadmin.DoctorConfig) { f.App(c.AppID).Type = "SPA" }, "not Traditional", "Traditional web", false},
		{"no offline_access", func(f *logtoadmintest.Fake, c *logtoadmin.DoctorConfig) { c.Scopes = []string{"openid"} }, "offline_access", "LOGTO_SCOPES", false},
		{"missing resource", func(f *logtoadmintest.Fake, c *logtoadmin.DoctorConfig) {
			c.Resources = append(c.Resources, "https://other.example.test")
		}, "API resource https://other.example.test", "Create API resource", false},
		{"Discord not in the sign-in experience", func(f *logtoadmintest.Fake, c *logtoadmin.DoctorConfig) {
			f.SignInExperience["socialSignInConnectorTargets"] = []any{}
		}, "Discord in the sign-in experience", "Social sign-in", false},
		{"new Discord users stuck on Set username", func(f *logtoadmintest.Fake, c *logtoadmin.DoctorConfig) {
			f.SignInExperience["socialSignIn"] = map[string]any{}
		}, "Set username", "skipRequiredIdentifiers", false},
		{"Discord connector missing", func(f *logtoadmintest.Fake, c *logtoadmin.DoctorConfig) { f.Connectors = map[string]map[string]any{} }, "no Discord connector", "Connectors", false},
		{"clock skew", func(f *logtoadmintest.Fake, c *logtoadmin.DoctorConfig) { f.ClockOffset = 90 * time.Second }, "differ by about 1m30s", "NTP", false},
		{"issuer mismatch", func(f *logtoadmintest.Fake, c *logtoadmin.DoctorConfig) {
			c.Endpoint = strings.Replace(f.URL, "127.0.0.1", "localhost", 1)
			c.Admin = nil
		}, "issuer is", "ENDPOINT", false},
		{"endpoint with /oidc", func(f *logtoadmintest.Fake, c *logtoadmin.DoctorConfig) { c.Endpoint += "/oidc"; c.Admin = nil }, "answered 404", "without /oidc", false},
		{"Logto down", func(f *logtoadmintest.Fake, c *logtoadmin.DoctorConfig) { c.Endpoint = deadURL; c.Admin = nil }, "unreachable", "Logto is running", false},
		{"M2M app without the role", func(f *logtoadmintest.Fake, c *logtoadmin.DoctorConfig) { f.M2MHasRole = false }, "Management API access", "Logto Management API access", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, cfg := doctorFor(t)
			tt.prep(f, &cfg)
			checks := logtoadmin.Doctor(context.Background(), cfg)
			var failed []logtoadmin.Check
			for _, c := range checks {
				if !c.OK {
					failed = append(failed, c)
				}
			}
			if len(failed) == 0 || (!tt.also && len(failed) != 1) {
				t.Fatalf("want one failure, got:\n%s", failures(checks))
			}
			found := false
			for _, c := range failed {
				if strings.Contains(c.Name+": "+c.Problem, tt.want) && strings.Contains(c.Fix, tt.fix) {
					found = true
				}
			}
			if !found {
				t.Errorf("no failure says %q — %q:\n%s", tt.want, tt.fix, failures(checks))
			}
			if strings.Contains(failures(checks), "secret-value") {
				t.Error("a secret in the report")
			}
		})
	}
}

func TestDoctorWithoutManagementAccessSkipsTheDeepChecks(t *testing.T) {
	_, cfg := doctorFor(t)
	cfg.Admin = nil
	checks := logtoadmin.Doctor(context.Background(), cfg)
	if logtoadmin.Failed(checks) {
		t.Fatalf("failed:\n%s", failures(checks))
	}
	last := checks[len(checks)-1]
	if last.Skipped == "" || !strings.Contains(last.Skipped, "LOGTO_M2M_APP_ID") {
		t.Fatalf("last check %+v", last)
	}
}

func TestDoctorWithoutDiscordSkipsIt(t *testing.T) {
	f, cfg := doctorFor(t)
	f.Connectors = map[string]map[string]any{}
	cfg.Discord = false
	checks := logtoadmin.Doctor(context.Background(), cfg)
	if logtoadmin.Failed(checks) {
		t.Fatalf("failed:\n%s", failures(checks))
	}
}
