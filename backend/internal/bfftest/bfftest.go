// Package bfftest builds the bff command for tests and tools that run it as
// a separate process (the reliability suite, the load harness), so both
// run a binary built the same way from the same module.
package bfftest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"time"
)

// Package is the import path of the bff command.
const Package = "github.com/logto-bff/bff/backend/cmd/bff"

// BuildTimeout bounds one build (a cold cache on a loaded two-core
// machine).
const BuildTimeout = 3 * time.Minute

// Build compiles the bff command of this module to out, statically
// (CGO_ENABLED=0, as `make build` does), with the go command of the
// toolchain that runs the caller when it is there (tests and `go run`),
// else the go on PATH. It must run inside the module (any directory of it).
func Build(ctx context.Context, out string) error {
	goBin := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(goBin); err != nil {
		goBin = "go"
	}
	ctx, cancel := context.WithTimeout(ctx, BuildTimeout)
	defer cancel()
	gomod, err := exec.CommandContext(ctx, goBin, "env", "GOMOD").Output()
	if err != nil {
		return fmt.Errorf("go env GOMOD: %w", err)
	}
	if mod := string(gomod); mod == "" || mod == "\n" || mod == os.DevNull+"\n" {
		return errors.New("build bff: not inside the module (go env GOMOD is empty); run from the repository")
	}
	cmd := exec.CommandContext(ctx, goBin, "build", "-o", out, Package)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s: %w\n%s", Package, err, b)
	}
	return nil
}
