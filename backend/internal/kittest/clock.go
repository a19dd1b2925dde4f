package kittest

import (
	"sync"
	"time"
)

// Clock is a settable clock for injecting as a Now func. It stands still
// unless the test moves it (Set, Advance) or makes it follow real time
// (Run). Safe for concurrent use; the zero value reads the zero time.
type Clock struct {
	mu    sync.Mutex
	t     time.Time
	since time.Time // when running: t is the time at since
}

// NewClock returns a clock that reads t.
func NewClock(t time.Time) *Clock { return &Clock{t: t} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.since.IsZero() {
		return c.t.Add(time.Since(c.since))
	}
	return c.t
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// Set sets the clock to t.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// Run makes the clock advance with real time from now on.
func (c *Clock) Run() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.since = time.Now()
}
