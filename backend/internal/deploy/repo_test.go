package deploy

import (
	"bufio"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/dotenv"
	"github.com/compose-spec/compose-go/v2/template"
	"github.com/compose-spec/compose-go/v2/types"
)

const modulePath = "github.com/logto-bff/bff"

// Service names of the two stacks in docker-compose.yml.
const (
	profileLogto   = "logto"
	profileOffline = "offline"
)

var (
	logtoStack   = []string{"bff", "logto", "postgres", "redis", "spa"}
	offlineStack = []string{"bff-dev", "spa-offline"}
)

// repoRoot returns the directory of this module's go.mod.
func repoRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && strings.Contains(string(b), "module "+modulePath+"\n") {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatalf("no go.mod of %s above the test's directory", modulePath)
		}
		dir = parent
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// envExample returns the variables .env.example sets, parsed the way
// `docker compose` parses a .env file.
func envExample(t *testing.T) map[string]string {
	t.Helper()
	env, err := dotenv.Read(filepath.Join(repoRoot(t), ".env.example"))
	if err != nil {
		t.Fatalf("parse .env.example: %v", err)
	}
	return env
}

var envAssignment = regexp.MustCompile(`^([A-Za-z_][A-Za-z0-9_]*)=`)

// documentedVars returns, for every variable assigned in .env.example,
// whether a comment explains it: a comment line directly above it, or above
// the run of assignments it belongs to.
func documentedVars(t *testing.T) map[string]bool {
	t.Helper()
	f, err := os.Open(filepath.Join(repoRoot(t), ".env.example"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]bool{}
	commented := false // the current block of lines started with a comment
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "":
			commented = false
		case strings.HasPrefix(line, "#"):
			commented = true
		default:
			m := envAssignment.FindStringSubmatch(line)
			if m == nil {
				t.Fatalf(".env.example: not a comment nor NAME=value: %q", line)
			}
			out[m[1]] = commented
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// withEnv returns a copy of base with the overrides applied.
func withEnv(base map[string]string, overrides map[string]string) map[string]string {
	out := make(map[string]string, len(base)+len(overrides))
	for k, v := range base {
		out[k] = v
	}
	for k, v := range overrides {
		out[k] = v
	}
	return out
}

// loadProject loads docker-compose.yml the way `docker compose` does, with
// env as the whole interpolation environment (nothing from the process or
// a .env file) and profiles as given by --profile flags: none means
// COMPOSE_PROFILES from env.
func loadProject(t *testing.T, env map[string]string, profiles ...string) *types.Project {
	t.Helper()
	p, err := tryLoadProject(t, env, profiles...)
	if err != nil {
		t.Fatalf("load docker-compose.yml (profiles %q): %v", profiles, err)
	}
	return p
}

func tryLoadProject(t *testing.T, env map[string]string, profiles ...string) (*types.Project, error) {
	t.Helper()
	root := repoRoot(t)
	list := make([]string, 0, len(env))
	for k, v := range env {
		list = append(list, k+"="+v)
	}
	opts, err := cli.NewProjectOptions(
		[]string{filepath.Join(root, "docker-compose.yml")},
		cli.WithWorkingDirectory(root),
		cli.WithEnv(list),
		cli.WithDefaultProfiles(profiles...),
	)
	if err != nil {
		return nil, err
	}
	return opts.LoadProject(context.Background())
}

// service returns the enabled service called name.
func service(t *testing.T, p *types.Project, name string) types.ServiceConfig {
	t.Helper()
	s, ok := p.Services[name]
	if !ok {
		t.Fatalf("service %q is not enabled; enabled: %v", name, sortedKeys(p.Services))
	}
	return s
}

// env returns the value of a service's environment variable ("" when unset).
func env(s types.ServiceConfig, name string) string {
	if v, ok := s.Environment[name]; ok && v != nil {
		return *v
	}
	return ""
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// composeVariables returns the name of every variable docker-compose.yml
// interpolates (${NAME}, ${NAME:-default}, $NAME), read by compose-go from
// the uninterpolated model of every profile.
func composeVariables(t *testing.T) map[string]bool {
	t.Helper()
	root := repoRoot(t)
	opts, err := cli.NewProjectOptions(
		[]string{filepath.Join(root, "docker-compose.yml")},
		cli.WithWorkingDirectory(root),
		cli.WithInterpolation(false),
		cli.WithProfiles([]string{"*"}),
	)
	if err != nil {
		t.Fatal(err)
	}
	model, err := opts.LoadModel(context.Background())
	if err != nil {
		t.Fatalf("load docker-compose.yml: %v", err)
	}
	out := map[string]bool{}
	for name := range template.ExtractVariables(model, template.DefaultPattern) {
		out[name] = true
	}
	return out
}
