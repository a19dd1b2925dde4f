package bfftest

import (
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestBuildMakesARunnableBFF(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the bff command")
	}
	out := filepath.Join(t.TempDir(), "bff")
	if err := Build(context.Background(), out); err != nil {
		t.Fatal(err)
	}
	b, _ := exec.Command(out, "--help").CombinedOutput()
	if !strings.Contains(string(b), "BFF_SESSION_STORE") {
		t.Fatalf("bff --help does not list its settings:\n%s", b)
	}
}

func TestBuildOutsideTheModuleFails(t *testing.T) {
	t.Chdir(t.TempDir())
	t.Setenv("GO111MODULE", "on")
	t.Setenv("GOFLAGS", "")
	if err := Build(context.Background(), filepath.Join(t.TempDir(), "bff")); err == nil {
		t.Fatal("Build outside the module succeeded")
	}
}
