package background_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/logto-bff/bff/backend/internal/background"
)

type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func newTracker() (*background.Tracker, *logBuffer) {
	logs := &logBuffer{}
	return background.New(slog.New(slog.NewTextHandler(logs, nil))), logs
}

func TestDrainWaitsForTasksAndTheirChildren(t *testing.T) {
	tr, logs := newTracker()
	var done atomic.Int32
	release := make(chan struct{})
	tr.Go("parent", func(ctx context.Context) {
		<-release
		// A task that starts another while the tracker drains.
		tr.Go("child", func(ctx context.Context) {
			time.Sleep(50 * time.Millisecond)
			done.Add(1)
		})
		done.Add(1)
	})
	if n := tr.Running(); n != 1 {
		t.Fatalf("Running = %d", n)
	}
	time.AfterFunc(50*time.Millisecond, func() { close(release) })
	if err := tr.Drain(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	if done.Load() != 2 || tr.Running() != 0 {
		t.Errorf("done %d, running %d after Drain", done.Load(), tr.Running())
	}
	if !strings.Contains(logs.String(), "background work finished") {
		t.Errorf("log: %s", logs)
	}
}

func TestDrainCancelsAtTheTimeout(t *testing.T) {
	tr, logs := newTracker()
	recorded := make(chan struct{})
	tr.Go("revoke", func(ctx context.Context) {
		<-ctx.Done() // e.g. Logto not answering
		close(recorded)
	})
	start := time.Now()
	if err := tr.Drain(100 * time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 100*time.Millisecond || d > background.Grace {
		t.Errorf("Drain took %v", d)
	}
	select {
	case <-recorded:
	default:
		t.Error("the task was not told to stop")
	}
	if !strings.Contains(logs.String(), "interrupted") {
		t.Errorf("log: %s", logs)
	}
}

func TestDrainAbandonsStuckTasksAndSaysWhich(t *testing.T) {
	tr, logs := newTracker()
	stuck := make(chan struct{})
	defer close(stuck)
	tr.Go("stuck", func(context.Context) { <-stuck })
	start := time.Now()
	err := tr.Drain(50 * time.Millisecond)
	if !errors.Is(err, background.ErrAbandoned) {
		t.Fatalf("Drain = %v", err)
	}
	if d := time.Since(start); d > 50*time.Millisecond+background.Grace+500*time.Millisecond {
		t.Errorf("Drain took %v: not bounded", d)
	}
	if !strings.Contains(logs.String(), "abandoned") || !strings.Contains(logs.String(), "stuck") {
		t.Errorf("log: %s", logs)
	}
}

func TestDrainWithNothingRunning(t *testing.T) {
	tr, _ := newTracker()
	if err := tr.Drain(time.Second); err != nil {
		t.Fatal(err)
	}
}
