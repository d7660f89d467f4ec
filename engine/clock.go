package engine

import (
	"sort"
	"sync"
	"time"
)

// Clock is the engine's only source of time, so tests can move time instead
// of sleeping. Times are UTC.
type Clock interface {
	Now() time.Time
	// After fires once, d from now (at once when d <= 0).
	After(d time.Duration) <-chan time.Time
}

// SystemClock is the real clock.
type SystemClock struct{}

// Now returns the current time in UTC.
func (SystemClock) Now() time.Time { return time.Now().UTC() }

// After is time.After.
func (SystemClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// FakeClock is a Clock that moves only when told to. Its zero value starts at
// the zero time; use NewFakeClock.
type FakeClock struct {
	mu      sync.Mutex
	now     time.Time
	waiters []fakeWaiter
}

type fakeWaiter struct {
	at time.Time
	ch chan time.Time
}

// NewFakeClock returns a fake clock standing at t.
func NewFakeClock(t time.Time) *FakeClock { return &FakeClock{now: t.UTC()} }

// Now returns the fake time.
func (c *FakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// After fires when the clock is advanced to or past now+d.
func (c *FakeClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan time.Time, 1)
	at := c.now.Add(d)
	if d <= 0 {
		ch <- c.now
		return ch
	}
	c.waiters = append(c.waiters, fakeWaiter{at: at, ch: ch})
	return ch
}

// Advance moves the clock forward and fires every timer that is due.
func (c *FakeClock) Advance(d time.Duration) {
	c.Set(c.Now().Add(d))
}

// Set moves the clock to t (never backwards) and fires every timer that is
// due, in time order.
func (c *FakeClock) Set(t time.Time) {
	c.mu.Lock()
	if t.After(c.now) {
		c.now = t.UTC()
	}
	now := c.now
	sort.Slice(c.waiters, func(i, j int) bool { return c.waiters[i].at.Before(c.waiters[j].at) })
	var keep []fakeWaiter
	var fire []fakeWaiter
	for _, w := range c.waiters {
		if !w.at.After(now) {
			fire = append(fire, w)
		} else {
			keep = append(keep, w)
		}
	}
	c.waiters = keep
	c.mu.Unlock()
	for _, w := range fire {
		w.ch <- now
	}
}

// Stopwatch measures elapsed wall time on the monotonic clock. It is for
// budgets of this process's own work (how long an expression may run, how
// stale a cache may get), never for domain time, which only the Clock
// tells: a fake clock that never moves must not let a runaway loop run for
// ever.
type Stopwatch struct{ start time.Time }

// StartStopwatch starts a stopwatch now.
func StartStopwatch() Stopwatch { return Stopwatch{start: time.Now()} }

// Elapsed is the wall time since StartStopwatch.
func (w Stopwatch) Elapsed() time.Duration { return time.Since(w.start) }
