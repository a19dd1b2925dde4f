package deploy

import (
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/types"
)

// ownerHealthURL is the URL a service's own healthcheck fetches (the last
// http:// word of its test).
func ownerHealthURL(t *testing.T, s types.ServiceConfig) string {
	t.Helper()
	if s.HealthCheck == nil {
		t.Fatalf("%s has no healthcheck", s.Name)
	}
	u := ""
	for _, w := range s.HealthCheck.Test {
		if strings.HasPrefix(w, "http://") {
			u = w
		}
	}
	if u == "" {
		t.Fatalf("%s: no URL in its healthcheck %q", s.Name, s.HealthCheck.Test)
	}
	return u
}

// TestNamespaceJoinersFollowTheirOwner: a service in another's network
// namespace checks the owner first, on the shared loopback, and when the
// owner is gone ends its own processes so that its restart policy starts
// it again in the owner's current namespace. (The daemon restarting a
// crashed owner gives it a new namespace; depends_on.restart covers only
// compose's own restarts.)
func TestNamespaceJoinersFollowTheirOwner(t *testing.T) {
	p := loadProject(t, withEnv(envExample(t), filledSecrets), "*")
	joiners := 0
	for _, name := range sortedKeys(p.Services) {
		s := p.Services[name]
		ownerName, ok := strings.CutPrefix(s.NetworkMode, types.ServicePrefix)
		if !ok {
			continue
		}
		joiners++
		ownerURL := ownerHealthURL(t, p.Services[ownerName])
		if r := s.Restart; r != types.RestartPolicyUnlessStopped && r != types.RestartPolicyAlways {
			t.Errorf("%s: restart %q: a joiner that ends itself must be restarted", name, r)
		}
		test := s.HealthCheck.Test
		switch {
		case len(test) > 1 && test[1] == "/bff":
			want := []string{"CMD", "/bff", "healthcheck", "--namespace-owner", ownerURL}
			if strings.Join(test, " ") != strings.Join(want, " ") {
				t.Errorf("%s: healthcheck %q, want %q", name, test, want)
			}
		default:
			script := strings.Join(test, " ")
			owner, own := strings.Index(script, ownerURL), strings.Index(script, "/api/status")
			if owner < 0 || own < 0 || owner > own {
				t.Errorf("%s: healthcheck does not check %s (%s's own check) before itself: %q", name, ownerURL, ownerName, script)
			}
			if !strings.Contains(script, "process.kill(-1") {
				t.Errorf("%s: healthcheck does not end the container's processes when the owner is gone: %q", name, script)
			}
		}
	}
	if joiners != 3 {
		t.Errorf("%d services join another's namespace, want 3 (logto, bff, bff-dev)", joiners)
	}
}

// TestLogtoSSRFSwitchIsNamedRight: the comment about Logto 1.42's SSRF
// protection names the variable Logto reads
// (packages/shared/src/node/env/GlobalValues.ts), not an invented one.
func TestLogtoSSRFSwitchIsNamedRight(t *testing.T) {
	raw := readFile(t, filepath.Join(repoRoot(t), "docker-compose.yml"))
	if !strings.Contains(raw, "OIDC_PROVIDER_SSRF_PROTECTION_DISABLED") {
		t.Error("docker-compose.yml does not name OIDC_PROVIDER_SSRF_PROTECTION_DISABLED (Logto 1.42+)")
	}
	if strings.Contains(raw, "SSRF_ALLOWED_ADDRESSES") {
		t.Error("docker-compose.yml names SSRF_ALLOWED_ADDRESSES, which Logto does not read")
	}
}

// TestSPABuildTakesTheAPIRoute: the SPA's API view target (VITE_API_ROUTE)
// is a build argument the Dockerfile declares before the build; the logto
// stack passes .env's value (empty by default: no route, no view) and the
// offline stack bff dev's demo route.
func TestSPABuildTakesTheAPIRoute(t *testing.T) {
	p := loadProject(t, withEnv(envExample(t), filledSecrets), "*")
	for name, want := range map[string]string{"spa": "", "spa-offline": "demo/hello"} {
		b := p.Services[name].Build
		if b == nil {
			t.Fatalf("%s is not built", name)
		}
		v, ok := b.Args["VITE_API_ROUTE"]
		if !ok || v == nil || *v != want {
			t.Errorf("%s: build arg VITE_API_ROUTE = %v, want %q", name, v, want)
		}
	}
	p = loadProject(t, withEnv(withEnv(envExample(t), filledSecrets), map[string]string{"VITE_API_ROUTE": "orders/items"}), "*")
	if v := p.Services["spa"].Build.Args["VITE_API_ROUTE"]; v == nil || *v != "orders/items" {
		t.Errorf("spa: VITE_API_ROUTE from .env does not reach the build (%v)", v)
	}

	stages := parseDockerfile(t, "frontend/Dockerfile")
	declared := false
	for _, st := range stages[:len(stages)-1] {
		for _, in := range st.Body {
			switch {
			case in.Cmd == "ARG" && strings.HasPrefix(in.Args, "VITE_API_ROUTE"):
				declared = true
			case in.Cmd == "RUN" && strings.Contains(in.Args, "npm run build") && !declared:
				t.Errorf("frontend/Dockerfile:%d builds the SPA before declaring ARG VITE_API_ROUTE", in.Line)
			}
		}
	}
	if !declared {
		t.Error("frontend/Dockerfile declares no ARG VITE_API_ROUTE: the build argument would be ignored")
	}
}

// supportedNodeMajors are the Node.js release lines in (LTS) support. 20
// reached its end of life on 2026-04-30.
var supportedNodeMajors = map[int]bool{22: true, 24: true}

// TestSPABuilderUsesASupportedNode: the SPA's build stage runs a Node.js
// that still gets security fixes.
func TestSPABuilderUsesASupportedNode(t *testing.T) {
	nodeImage := regexp.MustCompile(`^node:(\d+)[-.]`)
	found := false
	for _, st := range parseDockerfile(t, "frontend/Dockerfile") {
		m := nodeImage.FindStringSubmatch(st.Base)
		if m == nil {
			continue
		}
		found = true
		if major, _ := strconv.Atoi(m[1]); !supportedNodeMajors[major] {
			t.Errorf("frontend/Dockerfile builds with %s: Node %d is not a supported release line", st.Base, major)
		}
	}
	if !found {
		t.Error("frontend/Dockerfile has no node:<major>-… build stage")
	}
}

// TestReadmeSaysHowToStopEachStack: with profiles, a plain `docker compose
// down` acts on COMPOSE_PROFILES (the logto stack) only.
func TestReadmeSaysHowToStopEachStack(t *testing.T) {
	readme := readFile(t, filepath.Join(repoRoot(t), "README.md"))
	for _, cmd := range []string{"docker compose down", "docker compose --profile offline down"} {
		if !strings.Contains(readme, cmd) {
			t.Errorf("README.md does not say %q", cmd)
		}
	}
}

// TestMakeTestSetsItselfUp: `make test` runs .ci/test-deps before any
// test, runs the Go tests with CI=true (a missing redis-server or nginx
// fails instead of skipping), and .ci/run only calls it.
func TestMakeTestSetsItselfUp(t *testing.T) {
	root := repoRoot(t)
	out, err := exec.Command("make", "-C", root, "-n", "test").CombinedOutput()
	if err != nil {
		t.Fatalf("make -n test: %v\n%s", err, out)
	}
	lines := strings.Split(string(out), "\n")
	deps, goTest := -1, -1
	for i, l := range lines {
		if strings.Contains(l, ".ci/test-deps") && deps < 0 {
			deps = i
		}
		if strings.Contains(l, " test ") && strings.Contains(l, "go") && goTest < 0 {
			goTest = i
			if !strings.HasPrefix(strings.TrimSpace(l), "CI=true ") {
				t.Errorf("make test runs the Go tests without CI=true: %q", l)
			}
		}
	}
	if deps < 0 || goTest < 0 || deps > goTest {
		t.Errorf("make test must run .ci/test-deps before the Go tests (lines %d, %d):\n%s", deps, goTest, out)
	}
	ci := readFile(t, filepath.Join(root, ".ci", "run"))
	if !strings.Contains(ci, "\nmake test\n") || strings.Contains(ci, "redis-server") {
		t.Errorf(".ci/run should just call make test (set-up lives in .ci/test-deps):\n%s", ci)
	}
}
