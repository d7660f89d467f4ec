package orchestrator_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/batonhq/baton/engine"
	"github.com/batonhq/baton/engine/enginetest"
	"github.com/batonhq/baton/engine/orchestrator"
	"github.com/batonhq/baton/ent/step"
)

// idleCheck fails the test unless the database shows nothing the runner
// would do at the clock's time: no READY or RUNNING step, no timer due.
func idleCheck(t *testing.T, b *xBundle, when string) {
	t.Helper()
	now := b.clock.Now()
	for what, n := range map[string]int{
		"READY":                 sfCount(t, b, step.StatusEQ(step.StatusREADY)),
		"RUNNING":               sfCount(t, b, step.StatusEQ(step.StatusRUNNING)),
		"with a due wake":       sfCount(t, b, step.WakeAtLTE(now)),
		"with a due jeopardy":   sfCount(t, b, step.JeopardyAtLTE(now)),
		"with an expired lease": sfCount(t, b, step.LeaseUntilLTE(now)),
	} {
		if n != 0 {
			t.Errorf("%s: %d steps %s once the runner is idle; want none", when, n, what)
		}
	}
}

// RunUntilIdle returns only once nothing is left to do, however the work
// races: outcomes that make more work in the committer's transaction,
// steps left READY for lack of room (two workers for eight orders),
// retries that come due, callouts held and released (one a second, or all
// at once), attempts answering in a random order; and the runner's own
// loops run beside it.
func TestRunUntilIdleLeavesNothingToDo(t *testing.T) {
	t.Parallel()
	enginetest.EachBackend(t, func(t *testing.T, url string) {
		b := setupExec(t, url, sfHoldCatalog(), xOptions{run: &orchestrator.RunnerConfig{Workers: 2, MaxBatch: 3}})
		for _, p := range []string{"/erp/reserve", "/billing/charge", "/ledger/post"} {
			b.xs.on(p, func(r *http.Request, _ int) (int, string) {
				time.Sleep(time.Duration(rand.IntN(3000)) * time.Microsecond) // answers in a random order
				if p == "/billing/charge" && r.Header.Get("X-Baton-Attempt") == "1" {
					return 503, `{}` // retried 10s later
				}
				return 200, `{}`
			})
		}
		for _, sys := range []string{"billing", "ledger"} {
			if _, err := b.engine.SetSystemStatus(b.ctx, sys, engine.SystemOffline, "down"); err != nil {
				t.Fatal(err)
			}
		}
		const n = 8
		ins := make([]engine.OrderInput, n)
		for i := range ins {
			ins[i] = widgetOrder(fmt.Sprintf("idle-%d", i))
		}
		if _, errs := b.submitAtOnce(ins); errors.Join(errs...) != nil {
			t.Fatal(errors.Join(errs...))
		}
		b.idle(t)
		idleCheck(t, b, "after submitting")
		if got := sfCount(t, b, step.StatusEQ(step.StatusON_HOLD)); got != 2*n {
			t.Errorf("%d callouts ON_HOLD; want %d", got, 2*n)
		}
		for _, sys := range []string{"billing", "ledger"} {
			if _, err := b.engine.SetSystemStatus(b.ctx, sys, engine.SystemOnline, "up"); err != nil {
				t.Fatal(err)
			}
		}
		for sec := 0; sfCount(t, b, step.StatusNEQ(step.StatusCOMPLETED)) > 0; sec += 2 {
			if sec > 60 {
				t.Fatalf("%d steps not COMPLETED after %d seconds", sfCount(t, b, step.StatusNEQ(step.StatusCOMPLETED)), sec)
			}
			b.idle(t)
			idleCheck(t, b, fmt.Sprintf("at +%ds", sec))
			b.clock.Advance(2 * time.Second)
		}
		if got, want := len(b.xs.requests("")), n*(1+2+1); got != want {
			t.Errorf("%d requests; want %d (Reserve, Bill twice, Post, for each order)", got, want)
		}
	})
}

// heldDispatch holds the first StepContexts read, which dispatch makes
// after the transaction that claimed the steps committed and before the
// claims reach a worker.
type heldDispatch struct {
	engine.Store
	once    sync.Once
	entered chan struct{}
	release chan struct{}
}

func (s *heldDispatch) StepContexts(ctx context.Context, ids []int) (map[int]*engine.ExecContext, error) {
	first := false
	s.once.Do(func() { first = true })
	if first {
		close(s.entered)
		<-s.release
	}
	return s.Store.StepContexts(ctx, ids)
}

// A step claimed by a transaction that committed is RUNNING in the
// database before any worker has it: RunUntilIdle, which would find
// nothing to do there, waits for the claim all the same (the write counts
// until its claims are dispatched), and returns once its outcome is in.
func TestRunUntilIdleWaitsForClaimsBeingDispatched(t *testing.T) {
	t.Parallel()
	enginetest.EachBackend(t, func(t *testing.T, url string) {
		held := &heldDispatch{entered: make(chan struct{}), release: make(chan struct{})}
		b := setupExec(t, url, xCatalog("", []string{`{name: Call, type: CALLOUT, callout: {system: sys, path: /call}}`}, nil),
			xOptions{wrapStore: func(st engine.Store) engine.Store { held.Store = st; return held }})
		t.Cleanup(func() {
			select {
			case <-held.release:
			default:
				close(held.release)
			}
		})
		rec := b.submit(t, widgetOrder("dispatch-1")) // no runner: Call stays READY
		b.start(t, orchestrator.RunnerConfig{})       // the poller claims it
		select {
		case <-held.entered:
		case <-time.After(15 * time.Second):
			t.Fatal("the poller did not claim the step")
		}
		if s := b.stepByName(t, rec.ID, "Call"); s.Status != step.StatusRUNNING {
			t.Fatalf("Call is %s once claimed; want RUNNING", s.Status)
		}
		idle := make(chan error, 1)
		go func() { idle <- b.engine.RunUntilIdle(b.ctx) }()
		select {
		case err := <-idle:
			t.Fatalf("RunUntilIdle returned (%v) while the claim was not dispatched", err)
		case <-time.After(200 * time.Millisecond):
		}
		close(held.release)
		select {
		case err := <-idle:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("RunUntilIdle did not return once the claim was dispatched")
		}
		if s := b.stepByName(t, rec.ID, "Call"); s.Status != step.StatusCOMPLETED {
			t.Errorf("Call is %s when RunUntilIdle returned; want COMPLETED", s.Status)
		}
	})
}
