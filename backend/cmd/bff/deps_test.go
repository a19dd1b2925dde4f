package main

import (
	"os/exec"
	"strings"
	"testing"
)

// goList runs `go list` with args in this package's directory and returns
// its lines.
func goList(t *testing.T, args ...string) []string {
	t.Helper()
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go tool is needed to list dependencies: %v", err)
	}
	out, err := exec.Command(gobin, append([]string{"list"}, args...)...).Output()
	if err != nil {
		t.Fatalf("go list %v: %v", args, err)
	}
	return strings.Fields(string(out))
}

// TestProductionBinaryLinksNoTestCode: the bff binary links neither a test
// helper package (…test, e.g. devidptest, redistest, contracttest) nor the
// testing package, nor golang.org/x/net/html (which only the dev IdP's
// sign-in robot, a test helper, needs).
func TestProductionBinaryLinksNoTestCode(t *testing.T) {
	deps := goList(t, "-deps", ".")
	if len(deps) < 20 {
		t.Fatalf("go list -deps found only %d packages: %v", len(deps), deps)
	}
	for _, p := range deps {
		last := p[strings.LastIndex(p, "/")+1:]
		switch {
		case p == "testing" || strings.HasPrefix(p, "testing/"):
			t.Errorf("the bff binary links %s", p)
		case strings.HasPrefix(p, "golang.org/x/net/html"):
			t.Errorf("the bff binary links %s (the sign-in robot belongs in devidptest)", p)
		case strings.HasSuffix(last, "test") && strings.Contains(p, "."): // not the standard library's own
			t.Errorf("the bff binary links the test helper package %s", p)
		}
	}
}

// TestDependencyDirections: config reads settings and does not depend on
// the proxy it configures (route parsing lives in package routes).
func TestDependencyDirections(t *testing.T) {
	const module = "github.com/logto-bff/bff/backend/internal/"
	for pkg, forbidden := range map[string][]string{
		"../../internal/config": {module + "proxy", module + "httpapi", module + "session"},
		"../../internal/routes": {module + "proxy", module + "config"},
	} {
		deps := goList(t, "-deps", pkg)
		for _, p := range deps {
			for _, f := range forbidden {
				if p == f {
					t.Errorf("%s depends on %s", pkg, f)
				}
			}
		}
	}
}
