// Package background tracks work that outlives the request that started
// it — the save of tokens Logto has rotated while the session store was
// down, the revocation of refresh tokens after a sign-out or a back-channel
// logout — so that shutdown waits for it instead of dropping it.
//
// A Tracker runs each task in its own goroutine with a context that ends
// only when Drain gives up waiting; Drain waits for every task (including
// tasks started by tasks) for a bounded time and logs what it did.
package background

import (
	"context"
	"errors"
	"log/slog"
	"sort"
	"sync"
	"time"
)

// ErrAbandoned is returned by Drain when tasks were still running after its
// wait and their grace period.
var ErrAbandoned = errors.New("background: tasks still running after the drain timeout")

// Grace is how long Drain keeps waiting after it has cancelled the tasks'
// context, so that a task can record what it could not finish.
const Grace = time.Second

// Tracker runs and counts background tasks. The zero value is not usable;
// build one with New. It is safe for concurrent use.
type Tracker struct {
	log    *slog.Logger
	ctx    context.Context
	cancel context.CancelFunc

	mu      sync.Mutex
	running map[string]int // task name → running count
	idle    *sync.Cond     // signalled when a task ends
}

// New returns a Tracker that logs to logger (nil discards).
func New(logger *slog.Logger) *Tracker {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t := &Tracker{log: logger, ctx: ctx, cancel: cancel, running: map[string]int{}}
	t.idle = sync.NewCond(&t.mu)
	return t
}

// Go runs f in a new goroutine and tracks it under name (a fixed word such
// as "revoke", never data: it is logged). f's context is not tied to any
// request; it ends only when Drain stops waiting, and then f should record
// what it could not finish and return promptly. Go may be called during
// Drain (a task starting another): the new task is waited for as well.
func (t *Tracker) Go(name string, f func(ctx context.Context)) {
	t.mu.Lock()
	t.running[name]++
	t.mu.Unlock()
	go func() {
		defer t.done(name)
		f(t.ctx)
	}()
}

func (t *Tracker) done(name string) {
	t.mu.Lock()
	if t.running[name]--; t.running[name] == 0 {
		delete(t.running, name)
	}
	t.mu.Unlock()
	t.idle.Broadcast()
}

// Running returns how many tasks are running now.
func (t *Tracker) Running() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for _, c := range t.running {
		n += c
	}
	return n
}

// Drain waits until no task is running or timeout passes. On timeout it
// cancels the tasks' context, waits at most Grace more, and returns
// ErrAbandoned if tasks are still running (their names are logged). Call it
// once the servers have stopped taking requests.
func (t *Tracker) Drain(timeout time.Duration) error {
	start := time.Now()
	pending := t.Running()
	if pending == 0 {
		t.cancel()
		return nil
	}
	t.log.Info("waiting for background work", "tasks", pending, "timeout", timeout.String())
	if t.waitIdle(timeout) {
		t.cancel()
		t.log.Info("background work finished", "duration", time.Since(start).Round(time.Millisecond).String())
		return nil
	}
	t.cancel()
	if t.waitIdle(Grace) {
		t.log.Warn("background work interrupted at the drain timeout", "duration", time.Since(start).Round(time.Millisecond).String())
		return nil
	}
	t.log.Error("background work abandoned at shutdown", "tasks", t.names())
	return ErrAbandoned
}

// waitIdle waits up to d for no task to be running.
func (t *Tracker) waitIdle(d time.Duration) bool {
	// The timer takes the lock before it wakes the waiter, so its wake-up
	// cannot fall between the deadline check and Wait.
	timer := time.AfterFunc(d, func() {
		t.mu.Lock()
		defer t.mu.Unlock()
		t.idle.Broadcast()
	})
	defer timer.Stop()
	deadline := time.Now().Add(d)
	t.mu.Lock()
	defer t.mu.Unlock()
	for len(t.running) > 0 {
		if !time.Now().Before(deadline) {
			return false
		}
		t.idle.Wait()
	}
	return true
}

// names lists the running tasks as "name×count", sorted.
func (t *Tracker) names() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]string, 0, len(t.running))
	for name := range t.running {
		out = append(out, name)
	}
	sort.Strings(out)
	return out
}
