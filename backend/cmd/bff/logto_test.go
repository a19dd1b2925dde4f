package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/logto-bff/bff/backend/internal/logtoadmin/logtoadmintest"
)

func logtoEnvFor(f *logtoadmintest.Fake) map[string]string {
	return map[string]string{
		"LOGTO_ENDPOINT":       f.URL,
		"BFF_PUBLIC_URL":       "https://app.example.test",
		"LOGTO_RESOURCES":      "https://api.example.test",
		"LOGTO_M2M_APP_ID":     logtoadmintest.M2MAppID,
		"LOGTO_M2M_APP_SECRET": logtoadmintest.M2MAppSecret,
	}
}

func runLogtoCmd(t *testing.T, env map[string]string, args ...string) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := run(context.Background(), append([]string{"logto"}, args...), func(k string) string { return env[k] }, &out, &errOut)
	return out.String() + errOut.String(), err
}

func TestLogtoSetupWritesTheEnvFileAndIsIdempotent(t *testing.T) {
	f := logtoadmintest.New(t)
	env := logtoEnvFor(f)
	path := filepath.Join(t.TempDir(), "bff.env")
	if err := os.WriteFile(path, []byte("BFF_SESSION_SECRET=keepme\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := runLogtoCmd(t, env, "setup", "--discord-client-id", "did", "--discord-client-secret", "dsecret", "--resource-scopes", "read:x write:x", "--env-file", path)
	if err != nil {
		t.Fatalf("setup: %v\n%s", err, out)
	}
	for _, want := range []string{"created    application \"Logto BFF\"", "created    Discord connector", "redirects must list: " + f.URL + "/callback/", "updated    env file"} {
		if !strings.Contains(strings.ToLower(out), strings.ToLower(want)) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("env file mode %v, %v", st.Mode(), err)
	}
	file, _ := readEnvFile(path)
	app := f.Apps[0]
	if file["LOGTO_APP_ID"] != app.ID || file["LOGTO_APP_SECRET"] != app.Secrets[0] || file["LOGTO_ENDPOINT"] != f.URL ||
		file["BFF_PUBLIC_URL"] != "https://app.example.test" || file["LOGTO_RESOURCES"] != "https://api.example.test" || file["BFF_SESSION_SECRET"] != "keepme" {
		t.Fatalf("env file %v", file)
	}
	if strings.Contains(out, app.Secrets[0]) || strings.Contains(out, "dsecret") || strings.Contains(out, logtoadmintest.M2MAppSecret) {
		t.Fatalf("a secret in the output:\n%s", out)
	}

	out, err = runLogtoCmd(t, env, "setup", "--discord-client-id", "did", "--discord-client-secret", "dsecret", "--resource-scopes", "read:x write:x", "--env-file", path)
	if err != nil {
		t.Fatalf("second setup: %v", err)
	}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if !strings.HasPrefix(line, "unchanged") && !strings.HasPrefix(line, "Discord developer portal") {
			t.Errorf("second run changed something: %q", line)
		}
	}

	out, err = runLogtoCmd(t, map[string]string{"LOGTO_M2M_APP_ID": env["LOGTO_M2M_APP_ID"], "LOGTO_M2M_APP_SECRET": env["LOGTO_M2M_APP_SECRET"], "DISCORD_CLIENT_ID": "did"}, "doctor", "--env-file", path)
	if err != nil || strings.Contains(out, "FAIL") {
		t.Fatalf("doctor: %v\n%s", err, out)
	}

	app.RedirectURIs = []string{"https://app.example.test/other"}
	out, err = runLogtoCmd(t, env, "doctor", "--env-file", path)
	if !errors.Is(err, errDoctorFailed) || exitCode(err) != 1 || !strings.Contains(out, "FAIL  redirect URI: https://app.example.test/auth/callback is not registered") {
		t.Fatalf("doctor after the change: %v\n%s", err, out)
	}
}

func TestLogtoSetupWithoutEnvFilePrintsNoSecret(t *testing.T) {
	f := logtoadmintest.New(t)
	out, err := runLogtoCmd(t, logtoEnvFor(f), "setup")
	if err != nil {
		t.Fatalf("setup: %v", err)
	}
	if strings.Contains(out, f.Apps[0].Secrets[0]) || !strings.Contains(out, "LOGTO_APP_ID="+f.Apps[0].ID) || !strings.Contains(out, "--env-file") {
		t.Fatalf("output:\n%s", out)
	}
}

func TestLogtoUsageErrors(t *testing.T) {
	f := logtoadmintest.New(t)
	full := logtoEnvFor(f)
	without := func(k string) map[string]string {
		m := map[string]string{}
		for kk, v := range full {
			if kk != k {
				m[kk] = v
			}
		}
		return m
	}
	tests := []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"unknown subcommand", full, []string{"nope"}, "unknown command"},
		{"unknown flag", full, []string{"setup", "--bogus"}, "bogus"},
		{"extra argument", full, []string{"doctor", "x"}, "unexpected argument"},
		{"no endpoint", without("LOGTO_ENDPOINT"), []string{"setup"}, "LOGTO_ENDPOINT is required"},
		{"endpoint with /oidc", map[string]string{"LOGTO_ENDPOINT": f.URL + "/oidc", "BFF_PUBLIC_URL": "https://a.test"}, []string{"doctor"}, "without /oidc"},
		{"no public URL", without("BFF_PUBLIC_URL"), []string{"setup"}, "BFF_PUBLIC_URL is required"},
		{"public URL with a path", map[string]string{"LOGTO_ENDPOINT": f.URL, "BFF_PUBLIC_URL": "https://a.test/app"}, []string{"doctor"}, "origin"},
		{"no M2M app", without("LOGTO_M2M_APP_SECRET"), []string{"setup"}, "Logto Management API access"},
		{"half a Discord", full, []string{"setup", "--discord-client-id", "x"}, "both"},
		{"bad clock skew", map[string]string{"LOGTO_ENDPOINT": f.URL, "BFF_PUBLIC_URL": "https://a.test", "BFF_CLOCK_SKEW": "soon"}, []string{"doctor"}, "BFF_CLOCK_SKEW"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := runLogtoCmd(t, tt.env, tt.args...)
			if err == nil || exitCode(err) != 2 || !strings.Contains(err.Error()+out, tt.want) {
				t.Fatalf("err %v (exit %d), want %q\n%s", err, exitCode(err), tt.want, out)
			}
			if len(f.Calls) != 0 {
				t.Fatalf("a usage error changed Logto: %v", f.Calls)
			}
		})
	}
}

func TestLogtoSetupReportsLogtoErrors(t *testing.T) {
	f := logtoadmintest.New(t)
	f.M2MHasRole = false
	_, err := runLogtoCmd(t, logtoEnvFor(f), "setup")
	if err == nil || exitCode(err) != 1 || !strings.Contains(err.Error(), "Roles → Assign roles") {
		t.Fatalf("err %v", err)
	}
}

func TestLogtoHelp(t *testing.T) {
	out, err := runLogtoCmd(t, nil, "--help")
	if err != nil || !strings.Contains(out, "bff logto setup") || !strings.Contains(out, "--env-file") {
		t.Fatalf("%v\n%s", err, out)
	}
	var b bytes.Buffer
	if err := writeUsage(&b); err != nil || !strings.Contains(b.String(), "bff logto doctor") {
		t.Fatalf("bff --help lacks logto:\n%s", b.String())
	}
}
