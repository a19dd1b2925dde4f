package deploy

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/types"
)

// filledSecrets stand for the values a user writes into .env.
var filledSecrets = map[string]string{
	"POSTGRES_PASSWORD":  "sentinel-postgres-password-5f3a",
	"LOGTO_APP_ID":       "sentinel-app-id-9c1e",
	"LOGTO_APP_SECRET":   "sentinel-app-secret-77d0",
	"BFF_SESSION_SECRET": "sentinel-session-secret-0123456789abcdef0123456789",
}

// The variables .env.example must leave empty: a copied file must fail
// closed, never run with a value published in the repository.
var secretVars = []string{"POSTGRES_PASSWORD", "LOGTO_APP_ID", "LOGTO_APP_SECRET", "BFF_SESSION_SECRET"}

func TestStacksAreExclusive(t *testing.T) {
	example := envExample(t)
	tests := []struct {
		name     string
		env      map[string]string
		profiles []string
		want     []string
	}{
		{"docker compose up with .env from .env.example", example, nil, logtoStack},
		{"--profile offline replaces COMPOSE_PROFILES", example, []string{profileOffline}, offlineStack},
		{"--profile offline without any .env", map[string]string{}, []string{profileOffline}, offlineStack},
		{"--profile logto", map[string]string{}, []string{profileLogto}, logtoStack},
		{"no profile selects nothing", map[string]string{}, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := loadProject(t, tt.env, tt.profiles...)
			got := sortedKeys(p.Services)
			want := slices.Clone(tt.want)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("enabled services = %v, want %v", got, want)
			}
		})
	}

	// Each service is in exactly one of the two stacks: with a service
	// outside every profile, --profile offline would also start it.
	p := loadProject(t, example, "*")
	for name, s := range p.Services {
		want := profileLogto
		if slices.Contains(offlineStack, name) {
			want = profileOffline
		}
		if !slices.Equal(s.Profiles, []string{want}) {
			t.Errorf("service %s: profiles = %v, want [%s]", name, s.Profiles, want)
		}
	}
	if got := len(p.Services); got != len(logtoStack)+len(offlineStack) {
		t.Errorf("%d services, want %d: %v", got, len(logtoStack)+len(offlineStack), sortedKeys(p.Services))
	}
}

func TestEveryServiceHasAHealthcheck(t *testing.T) {
	p := loadProject(t, withEnv(envExample(t), filledSecrets), "*")
	for _, name := range sortedKeys(p.Services) {
		hc := p.Services[name].HealthCheck
		switch {
		case hc == nil:
			t.Errorf("%s: no healthcheck", name)
		case hc.Disable || len(hc.Test) < 2 || hc.Test[0] == "NONE":
			t.Errorf("%s: healthcheck disabled: %q", name, hc.Test)
		case hc.Test[0] != "CMD" && hc.Test[0] != "CMD-SHELL":
			t.Errorf("%s: healthcheck test = %q, want CMD or CMD-SHELL", name, hc.Test)
		}
	}
	// The BFF image has no shell and no curl: its check is the binary's own
	// (with the namespace owner's URL: see TestNamespaceJoinersFollowTheirOwner).
	for _, name := range []string{"bff", "bff-dev"} {
		if got := p.Services[name].HealthCheck; got == nil || !slices.Equal([]string(got.Test[:3]), []string{"CMD", "/bff", "healthcheck"}) {
			t.Errorf("%s: healthcheck = %+v, want [CMD /bff healthcheck …]", name, got)
		}
	}
}

func TestDependsOnWaitsForHealthyServices(t *testing.T) {
	p := loadProject(t, withEnv(envExample(t), filledSecrets), "*")
	want := map[string][]string{
		"bff":         {"logto", "redis", "spa"},
		"logto":       {"postgres", "spa"},
		"bff-dev":     {"spa-offline"},
		"postgres":    nil,
		"redis":       nil,
		"spa":         nil,
		"spa-offline": nil,
	}
	for _, name := range sortedKeys(p.Services) {
		s := p.Services[name]
		wantDeps, ok := want[name]
		if !ok {
			t.Errorf("service %s is not covered by this test", name)
			continue
		}
		if got := sortedKeys(s.DependsOn); !slices.Equal(got, wantDeps) {
			t.Errorf("%s depends on %v, want %v", name, got, wantDeps)
		}
		for dep, d := range s.DependsOn {
			if d.Condition != types.ServiceConditionHealthy {
				t.Errorf("%s → %s: condition %q, want %q", name, dep, d.Condition, types.ServiceConditionHealthy)
			}
			if !d.Required {
				t.Errorf("%s → %s: not required", name, dep)
			}
		}
		// A container in another's network namespace loses its network when
		// the owner is recreated, so it must be restarted with it.
		if owner, ok := strings.CutPrefix(s.NetworkMode, types.ServicePrefix); ok {
			if d, ok := s.DependsOn[owner]; !ok || !d.Restart {
				t.Errorf("%s shares %s's network namespace but isn't restarted with it (depends_on.%s.restart)", name, owner, owner)
			}
		}
	}
}

func TestPublishedPorts(t *testing.T) {
	p := loadProject(t, withEnv(envExample(t), filledSecrets), "*")
	want := map[string][]string{
		"spa":         {"127.0.0.1:3001->3001/tcp", "127.0.0.1:3002->3002/tcp", "127.0.0.1:8080->80/tcp"},
		"spa-offline": {"127.0.0.1:3001->3001/tcp", "127.0.0.1:8080->80/tcp"},
	}
	for _, name := range sortedKeys(p.Services) {
		var got []string
		for _, port := range p.Services[name].Ports {
			got = append(got, port.HostIP+":"+port.Published+"->"+itoa(port.Target)+"/"+port.Protocol)
		}
		slices.Sort(got)
		if !slices.Equal(got, want[name]) {
			t.Errorf("%s publishes %v, want %v", name, got, want[name])
		}
	}
}

func TestSecretsComeFromVariables(t *testing.T) {
	p := loadProject(t, withEnv(envExample(t), filledSecrets))
	bff, postgres := service(t, p, "bff"), service(t, p, "postgres")
	for _, name := range []string{"LOGTO_APP_ID", "LOGTO_APP_SECRET", "BFF_SESSION_SECRET"} {
		if got := env(bff, name); got != filledSecrets[name] {
			t.Errorf("bff %s does not come from the .env variable %s", name, name)
		}
	}
	if got := env(postgres, "POSTGRES_PASSWORD"); got != filledSecrets["POSTGRES_PASSWORD"] {
		t.Error("postgres POSTGRES_PASSWORD does not come from the .env variable")
	}

	example := envExample(t)
	for _, name := range secretVars {
		v, ok := example[name]
		if !ok {
			t.Errorf(".env.example does not list %s", name)
		} else if v != "" {
			t.Errorf(".env.example sets %s; leave it empty so a copied file fails closed", name)
		}
	}
	// And no secret is written into the compose file itself.
	raw := readFile(t, filepath.Join(repoRoot(t), "docker-compose.yml"))
	for _, v := range filledSecrets {
		if strings.Contains(raw, v) {
			t.Errorf("docker-compose.yml contains a test sentinel %q", v)
		}
	}
}

// TestComposeVariablesDocumented: every variable docker-compose.yml
// interpolates is explained in .env.example, and .env.example lists nothing
// the compose file doesn't use.
func TestComposeVariablesDocumented(t *testing.T) {
	used := composeVariables(t)
	used["COMPOSE_PROFILES"] = true // read by docker compose itself
	documented := documentedVars(t)
	for _, name := range sortedKeys(used) {
		commented, ok := documented[name]
		switch {
		case !ok:
			t.Errorf("docker-compose.yml uses ${%s}, which .env.example does not list", name)
		case !commented:
			t.Errorf(".env.example lists %s without a comment explaining it", name)
		}
	}
	for _, name := range sortedKeys(documented) {
		if !used[name] {
			t.Errorf(".env.example lists %s, which docker-compose.yml does not use", name)
		}
	}
	if len(used) < 2 {
		t.Fatalf("found only %v in docker-compose.yml: the extraction is broken", sortedKeys(used))
	}
}

func TestBuildContextsExist(t *testing.T) {
	root := repoRoot(t)
	p := loadProject(t, withEnv(envExample(t), filledSecrets), "*")
	built := 0
	for _, name := range sortedKeys(p.Services) {
		b := p.Services[name].Build
		if b == nil {
			continue
		}
		built++
		// The repository root: backend/Dockerfile needs go.mod (the module
		// root), frontend/Dockerfile copies api/ beside frontend/.
		if filepath.Clean(b.Context) != root {
			t.Errorf("%s: build context %q, want the repository root", name, b.Context)
		}
		if st, err := os.Stat(b.Context); err != nil || !st.IsDir() {
			t.Errorf("%s: build context %q is not a directory", name, b.Context)
		}
		df := b.Dockerfile
		if !filepath.IsAbs(df) {
			df = filepath.Join(b.Context, df)
		}
		if st, err := os.Stat(df); err != nil || !st.Mode().IsRegular() {
			t.Errorf("%s: dockerfile %q does not exist", name, df)
		}
	}
	if built != 4 {
		t.Errorf("%d services are built from source, want 4 (bff, bff-dev, spa, spa-offline)", built)
	}
}
