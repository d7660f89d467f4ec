package orchestrator

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// Running until idle. A test (or a tool) that drives a fake clock needs to
// know when the runner has done everything there is to do at the clock's
// current time, without sleeping and polling. The runner keeps the account
// for it (work): every write through the kernel counts from before its
// transaction begins until its claims are dispatched, and every claim
// from its dispatch until its outcome is recorded. The database says the
// rest: a pass of the runner's own loops (due timers, READY steps, held
// callouts to release) finds nothing to do.

// work is the runner's account of what it has in flight.
type work struct {
	mu sync.Mutex
	// busy counts writes under way and claims whose outcome is not
	// recorded yet.
	busy int
	// changes counts the writes that changed something (moved a step,
	// emitted an event).
	changes uint64
	// quiet is closed when busy drops to zero (nil while it is zero).
	quiet chan struct{}
}

// add counts n more (or, negative, fewer) things in flight.
func (w *work) add(n int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.busy == 0 && n > 0 {
		w.quiet = make(chan struct{})
	}
	w.busy += n
	if w.busy == 0 && w.quiet != nil {
		close(w.quiet)
		w.quiet = nil
	}
}

// wrote ends a write that add(1) began; changed: it moved a step or
// emitted an event.
func (w *work) wrote(changed bool) {
	if changed {
		w.mu.Lock()
		w.changes++
		w.mu.Unlock()
	}
	w.add(-1)
}

// state returns how much is in flight, the channel closed once nothing
// is (nil when nothing is already) and the count of changing writes.
func (w *work) state() (busy int, quiet <-chan struct{}, changes uint64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.busy, w.quiet, w.changes
}

// track counts n claims more in flight (negative: recorded, or handed
// back): for free, and for RunUntilIdle.
func (r *runner) track(n int) {
	r.inflight.Add(int64(n))
	r.work.add(n)
}

// errStopped is RunUntilIdle's error when the runner stops meanwhile.
var errStopped = errors.New("the runner stopped")

// RunUntilIdle runs the runner until it has nothing left to do at the
// clock's current time, and returns then: no attempt running on this
// replica's workers, no outcome waiting for its transaction, no READY
// step, no timer due (retry, pause, lease, jeopardy), no held callout due
// for release. It does the loops' work itself rather than wait for them
// to wake, so a test moves its fake clock, calls RunUntilIdle and asserts,
// without sleeping or polling.
//
// Idle is established under the runner's own account: RunUntilIdle waits
// until nothing is in flight, runs a pass of the loops, and returns only
// if that pass found nothing and no write changed anything and nothing
// was in flight from before the pass to after it. The clock must not move
// during the call, and what other replicas or callers write meanwhile is
// theirs to wait for. A callout that hangs keeps the runner busy: then
// RunUntilIdle returns ctx's error. It returns an error when the engine
// is not started or stops, and the first error of a pass (a failed read
// or write).
func (e *Engine) RunUntilIdle(ctx context.Context) error {
	r := e.runner()
	if r == nil {
		return errors.New("RunUntilIdle: the engine is not started")
	}
	for {
		busy, quiet, before := r.work.state()
		if busy > 0 {
			select {
			case <-quiet:
			case <-r.stopping:
				return errStopped
			case <-ctx.Done():
				return fmt.Errorf("RunUntilIdle: %d attempts or writes still in flight: %w", busy, ctx.Err())
			}
			continue
		}
		select {
		case <-r.stopping:
			return errStopped
		case <-ctx.Done():
			return ctx.Err()
		default:
		}
		// Another replica may have changed a system's state: read it.
		e.invalidateSystems()
		did, err := r.pass()
		if err != nil {
			return fmt.Errorf("RunUntilIdle: %w", err)
		}
		if busy, _, after := r.work.state(); did == 0 && busy == 0 && after == before {
			return nil
		}
	}
}

// pass does once what the timer loop, the poller and the releaser do when
// they wake, and returns how much it moved.
func (r *runner) pass() (int, error) {
	swept := 0
	// The sweep's transaction only when a timer is due, as the timer loop.
	if at, ok, err := r.e.store.NextDue(context.WithoutCancel(r.ctx)); err != nil {
		return 0, fmt.Errorf("read next timer: %w", err)
	} else if ok && !at.After(r.e.clock.Now()) {
		if swept, err = r.repeat("sweep timers", r.sweep); err != nil {
			return 0, err
		}
	}
	claimed, err := r.repeat("claim ready steps", r.claimReady)
	if err != nil {
		return 0, err
	}
	released, err := r.release()
	if err != nil {
		return 0, err
	}
	return swept + claimed + released, nil
}
