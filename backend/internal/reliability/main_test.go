package reliability

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/logto-bff/bff/backend/internal/bfftest"
)

// bffBinary is the bff command built once by TestMain.
var bffBinary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "bff-reliability-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "reliability: temp dir:", err)
		os.Exit(1)
	}
	bffBinary = filepath.Join(dir, "bff")
	if err := bfftest.Build(context.Background(), bffBinary); err != nil {
		fmt.Fprintln(os.Stderr, "reliability:", err)
		_ = os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// deadline bounds one test: it fails the test (from a watchdog, with a
// goroutine dump of the test process) if it runs longer than d, and
// returns a context that ends at the same time for the test's own work.
func deadline(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	done := make(chan struct{})
	go func() {
		select {
		case <-done:
		case <-ctx.Done():
			select {
			case <-done:
				return
			default:
			}
			buf := make([]byte, 1<<20)
			n := runtime.Stack(buf, true)
			// t.Errorf from here would race the test's end; print and
			// let the context cancel the test's work instead.
			fmt.Fprintf(os.Stderr, "reliability: %s exceeded its %v deadline; goroutines:\n%s\n", t.Name(), d, buf[:n])
		}
	}()
	t.Cleanup(func() {
		close(done)
		if ctx.Err() != nil {
			t.Errorf("%s exceeded its deadline of %v", t.Name(), d)
		}
		cancel()
	})
	return ctx
}
