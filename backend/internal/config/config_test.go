package config

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const testSecret = "0123456789abcdef0123456789abcdef-session"

func validEnv() map[string]string {
	return map[string]string{
		EnvLogtoEndpoint:  "https://tenant.logto.app/",
		EnvLogtoAppID:     "app123",
		EnvLogtoAppSecret: "app-secret-value",
		EnvPublicURL:      "https://app.example.com",
		EnvSessionSecret:  testSecret,
	}
}

func getenv(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestLoadDefaults(t *testing.T) {
	c, err := Load(getenv(validEnv()))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"endpoint trimmed", c.LogtoEndpoint, "https://tenant.logto.app"},
		{"issuer", c.Issuer(), "https://tenant.logto.app/oidc"},
		{"redirect", c.RedirectURL(), "https://app.example.com/auth/callback"},
		{"post logout", c.PostLogoutRedirectURL(), "https://app.example.com/"},
		{"listen", c.Listen, ":8080"},
		{"store", c.SessionStore, StoreMemory},
		{"secure", c.CookieSecure, true},
		{"scopes", strings.Join(c.Scopes, " "), DefaultScopes},
		{"resources", len(c.Resources), 0},
		{"idle", c.SessionIdleTimeout, 24 * time.Hour},
		{"lifetime", c.SessionLifetime, 14 * 24 * time.Hour},
		{"skew", c.ClockSkew, 60 * time.Second},
		{"level", c.LogLevel, slog.LevelInfo},
		{"format", c.LogFormat, LogJSON},
	}
	for _, ch := range checks {
		if fmt.Sprint(ch.got) != fmt.Sprint(ch.want) {
			t.Errorf("%s = %v, want %v", ch.name, ch.got, ch.want)
		}
	}
}

func TestLoadOverrides(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "index.html"), []byte("<html>"), 0o644); err != nil {
		t.Fatal(err)
	}
	env := validEnv()
	env[EnvSessionStore] = "redis"
	env[EnvRedisURL] = "redis://:pw@127.0.0.1:6379/0"
	env[EnvCookieSecure] = "false"
	env[EnvPublicURL] = "http://localhost:8080/"
	env[EnvLogtoResources] = "https://api.example.test, urn:logto:resource:organizations"
	env[EnvLogtoScopes] = "openid profile"
	env[EnvClockSkew] = "2m"
	env[EnvLogLevel] = "debug"
	env[EnvLogFormat] = "TEXT"
	env[EnvSPADir] = dir
	c, err := Load(getenv(env))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if c.SessionStore != StoreRedis || c.CookieSecure || c.PublicURL != "http://localhost:8080" ||
		len(c.Resources) != 2 || c.Resources[1] != "urn:logto:resource:organizations" ||
		c.ClockSkew != 2*time.Minute || c.LogLevel != slog.LevelDebug || c.LogFormat != LogText || c.SPADir != dir {
		t.Errorf("unexpected config: %+v", c)
	}
}

func TestLoadReportsEveryProblemWithoutSecrets(t *testing.T) {
	const shortSecret = "SHORT-SECRET-VALUE"
	const redisPassword = "REDIS-PASSWORD-VALUE"
	env := map[string]string{
		EnvLogtoEndpoint:      "ftp://tenant",
		EnvSessionSecret:      shortSecret,
		EnvSessionStore:       "redis",
		EnvRedisURL:           "http://:" + redisPassword + "@x",
		EnvCookieSecure:       "maybe",
		EnvSessionIdleTimeout: "forever",
		EnvClockSkew:          "10m",
		EnvLogtoScopes:        "profile email",
		EnvLogtoResources:     "not-a-uri",
		EnvLogLevel:           "loud",
		EnvLogFormat:          "xml",
		EnvListen:             "8080",
		EnvSPADir:             filepath.Join(t.TempDir(), "missing"),
		EnvPublicURL:          "https://app.example.com/path?q=1",
	}
	_, err := Load(getenv(env))
	var probs Problems
	if !errors.As(err, &probs) {
		t.Fatalf("Load error = %v, want Problems", err)
	}
	want := []string{EnvLogtoEndpoint, EnvLogtoAppID, EnvLogtoAppSecret, EnvLogtoScopes, EnvLogtoResources,
		EnvPublicURL, EnvListen, EnvSessionSecret, EnvRedisURL, EnvCookieSecure, EnvSessionIdleTimeout,
		EnvClockSkew, EnvSPADir, EnvLogLevel, EnvLogFormat}
	var got []string
	for _, p := range probs {
		got = append(got, p.Var)
	}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("problems for\n %v\nwant\n %v\nfull:\n%v", got, want, err)
	}
	msg := err.Error()
	if n := strings.Count(msg, "\n") + 1; n != len(probs) {
		t.Errorf("error has %d lines for %d problems", n, len(probs))
	}
	for _, secret := range []string{shortSecret, redisPassword} {
		if strings.Contains(msg, secret) {
			t.Errorf("error reveals a secret:\n%s", msg)
		}
	}
	for _, line := range strings.Split(msg, "\n") {
		if _, ok := Lookup(strings.SplitN(line, ":", 2)[0]); !ok {
			t.Errorf("line does not start with a variable name: %q", line)
		}
	}
}

func TestValidateCases(t *testing.T) {
	tests := []struct {
		name    string
		change  map[string]string
		wantVar string // "" = valid
	}{
		{"valid", nil, ""},
		{"endpoint with /oidc", map[string]string{EnvLogtoEndpoint: "https://t.logto.app/oidc"}, EnvLogtoEndpoint},
		{"endpoint with path ok", map[string]string{EnvLogtoEndpoint: "https://example.com/logto"}, ""},
		{"endpoint query", map[string]string{EnvLogtoEndpoint: "https://t.logto.app?x=1"}, EnvLogtoEndpoint},
		{"public url path", map[string]string{EnvPublicURL: "https://a.example/app"}, EnvPublicURL},
		{"public url userinfo", map[string]string{EnvPublicURL: "https://u:p@a.example"}, EnvPublicURL},
		{"http public url secure", map[string]string{EnvPublicURL: "http://app.example.com"}, EnvPublicURL},
		{"http public url not secure", map[string]string{EnvPublicURL: "http://app.example.com", EnvCookieSecure: "false"}, ""},
		{"http localhost secure", map[string]string{EnvPublicURL: "http://localhost:8080"}, ""},
		{"secret 31 bytes", map[string]string{EnvSessionSecret: strings.Repeat("x", 31)}, EnvSessionSecret},
		{"secret 32 bytes", map[string]string{EnvSessionSecret: strings.Repeat("x", 32)}, ""},
		{"redis without url", map[string]string{EnvSessionStore: "redis"}, EnvRedisURL},
		{"redis sentinel url", map[string]string{EnvSessionStore: "redis", EnvRedisURL: "redis+sentinel://:pw@s1:26379,s2:26379/mymaster/0"}, ""},
		{"redis cluster url", map[string]string{EnvSessionStore: "redis", EnvRedisURL: "rediss+cluster://:pw@n1:7000,n2:7000"}, ""},
		{"redis sentinel without master", map[string]string{EnvSessionStore: "redis", EnvRedisURL: "redis+sentinel://s1:26379"}, EnvRedisURL},
		{"redis cluster with db", map[string]string{EnvSessionStore: "redis", EnvRedisURL: "redis+cluster://n1:7000/1"}, EnvRedisURL},
		{"redis two hosts single", map[string]string{EnvSessionStore: "redis", EnvRedisURL: "redis://a:1,b:2"}, EnvRedisURL},
		{"unknown store", map[string]string{EnvSessionStore: "postgres"}, EnvSessionStore},
		{"idle above lifetime", map[string]string{EnvSessionIdleTimeout: "48h", EnvSessionLifetime: "24h"}, EnvSessionIdleTimeout},
		{"negative skew", map[string]string{EnvClockSkew: "-1s"}, EnvClockSkew},
		{"listen port 0", map[string]string{EnvListen: "127.0.0.1:0"}, ""},
		{"listen bad port", map[string]string{EnvListen: "127.0.0.1:99999"}, EnvListen},
		{"scope with quote", map[string]string{EnvLogtoScopes: `openid "x`}, EnvLogtoScopes},
		{"resource fragment", map[string]string{EnvLogtoResources: "https://api.example#x"}, EnvLogtoResources},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := validEnv()
			for k, v := range tt.change {
				env[k] = v
			}
			_, err := Load(getenv(env))
			if tt.wantVar == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			var probs Problems
			if !errors.As(err, &probs) || len(probs) != 1 || probs[0].Var != tt.wantVar {
				t.Fatalf("error = %v, want exactly one problem for %s", err, tt.wantVar)
			}
		})
	}
}

func TestConfigNeverPrintsSecrets(t *testing.T) {
	env := validEnv()
	env[EnvSessionStore] = "redis"
	env[EnvRedisURL] = "redis://:redis-pass-value@127.0.0.1:6379"
	c, err := Load(getenv(env))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("config", "config", *c, "ptr", c)
	outputs := []string{fmt.Sprintf("%v %+v %#v %s", *c, *c, *c, c), buf.String()}
	for _, out := range outputs {
		for _, secret := range []string{"app-secret-value", testSecret, "redis-pass-value"} {
			if strings.Contains(out, secret) {
				t.Errorf("output reveals %q: %s", secret, out)
			}
		}
	}
}

func TestHelpListsEverySetting(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteHelp(&buf); err != nil {
		t.Fatal(err)
	}
	table := MarkdownTable()
	for _, s := range Settings {
		if !strings.Contains(buf.String(), s.Name) {
			t.Errorf("--help misses %s", s.Name)
		}
		if !strings.Contains(table, "`"+s.Name+"`") {
			t.Errorf("markdown table misses %s", s.Name)
		}
	}
	seen := map[string]bool{}
	for _, s := range Settings {
		if seen[s.Name] {
			t.Errorf("setting %s declared twice", s.Name)
		}
		seen[s.Name] = true
		if s.Description == "" {
			t.Errorf("setting %s has no description", s.Name)
		}
	}
}

func TestLoadRefreshMarginRoutesAndMetrics(t *testing.T) {
	env := validEnv()
	env[EnvLogtoScopes] = "openid offline_access " + OrganizationsScope
	env[EnvLogtoResources] = "https://api.example.com " + OrganizationsResource
	env[EnvAPIRoutes] = "orders=https://orders.internal/v1|https://api.example.com,\nacme=http://acme:8080|org:org_acme"
	env[EnvRefreshMargin] = "2m"
	env[EnvMetricsListen] = "127.0.0.1:9090"
	c, err := Load(getenv(env))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if c.RefreshMargin != 2*time.Minute || c.MetricsListen != "127.0.0.1:9090" {
		t.Errorf("margin %v metrics %q", c.RefreshMargin, c.MetricsListen)
	}
	if len(c.APIRoutes) != 2 || c.APIRoutes[0].Name != "orders" || c.APIRoutes[0].Resource != "https://api.example.com" ||
		c.APIRoutes[1].Organization != "org_acme" {
		t.Errorf("routes = %+v", c.APIRoutes)
	}
	if d, _ := Load(getenv(validEnv())); d.RefreshMargin != 60*time.Second || d.APIRoutes != nil || d.MetricsListen != DefaultMetricsListen {
		t.Errorf("defaults: margin %v routes %v metrics %q", d.RefreshMargin, d.APIRoutes, d.MetricsListen)
	}
}

func TestRouteAndMarginProblems(t *testing.T) {
	tests := []struct {
		name string
		set  map[string]string
		want []string // substrings of the problems, all of EnvAPIRoutes unless prefixed
	}{
		{"resource not requested", map[string]string{EnvAPIRoutes: "a=https://a.internal|https://api.example.com"},
			[]string{`route "a" uses resource "https://api.example.com", which is not in LOGTO_RESOURCES`}},
		{"org without scope and resource", map[string]string{EnvAPIRoutes: "a=https://a.internal|org:o1"},
			[]string{"add " + OrganizationsScope, "add " + OrganizationsResource}},
		{"no token at all", map[string]string{EnvAPIRoutes: "a=https://a.internal"},
			[]string{"needs a resource indicator or org:<id>"}},
		{"unparsable", map[string]string{EnvAPIRoutes: "a=ftp://user:pw@a.internal|https://x"},
			[]string{"route entry 1"}},
		{"margin too large", map[string]string{EnvRefreshMargin: "2h"},
			[]string{"BFF_REFRESH_MARGIN: must be between 0s and 30m0s"}},
		{"metrics address", map[string]string{EnvMetricsListen: "nope"},
			[]string{"BFF_METRICS_LISTEN: must be host:port"}},
		{"metrics same as main", map[string]string{EnvMetricsListen: ":8080"},
			[]string{"BFF_METRICS_LISTEN: must differ from BFF_LISTEN"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := validEnv()
			for k, v := range tt.set {
				env[k] = v
			}
			_, err := Load(getenv(env))
			if err == nil {
				t.Fatal("Load accepted the configuration")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("problems lack %q:\n%v", w, err)
				}
			}
			if strings.Contains(err.Error(), "pw@") {
				t.Errorf("an upstream URL with credentials was quoted:\n%v", err)
			}
		})
	}
}

func TestSessionCacheSetting(t *testing.T) {
	if c, err := Load(getenv(validEnv())); err != nil || c.SessionCache != 10000 {
		t.Fatalf("default: %v, %v; want 10000", c.SessionCache, err)
	}
	for _, ok := range []struct {
		raw  string
		want int
	}{{"0", 0}, {"250", 250}, {" 42 ", 42}} {
		env := validEnv()
		env[EnvSessionCache] = ok.raw
		if c, err := Load(getenv(env)); err != nil || c.SessionCache != ok.want {
			t.Errorf("%s=%q: %v, %v; want %d", EnvSessionCache, ok.raw, c, err, ok.want)
		}
	}
	for _, bad := range []string{"-1", "lots", "1.5", "10000001"} {
		env := validEnv()
		env[EnvSessionCache] = bad
		if _, err := Load(getenv(env)); err == nil || !strings.Contains(err.Error(), EnvSessionCache+": must be a whole number") {
			t.Errorf("%s=%q: %v; want a problem naming it", EnvSessionCache, bad, err)
		}
	}
}

func TestMemoryStoreMaxSetting(t *testing.T) {
	if c, err := Load(getenv(validEnv())); err != nil || c.MemoryStoreMaxBytes != 1024<<20 {
		t.Fatalf("default: %v, %v; want 1 GiB", c.MemoryStoreMaxBytes, err)
	}
	env := validEnv()
	env[EnvMemoryStoreMaxMB] = "64"
	if c, err := Load(getenv(env)); err != nil || c.MemoryStoreMaxBytes != 64<<20 {
		t.Errorf("64: %v, %v; want 64 MiB", c.MemoryStoreMaxBytes, err)
	}
	for _, bad := range []string{"0", "-1", "1.5", "big", "1048577"} {
		env := validEnv()
		env[EnvMemoryStoreMaxMB] = bad
		if _, err := Load(getenv(env)); err == nil || !strings.Contains(err.Error(), EnvMemoryStoreMaxMB+": must be a whole number of MiB") {
			t.Errorf("%s=%q: %v; want a problem naming it", EnvMemoryStoreMaxMB, bad, err)
		}
	}
}
