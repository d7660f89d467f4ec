package orchestrator_test

import (
	"context"
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
// steps left READY for lack of room (two workers for twenty orders),
// retries that come due, callouts held and released, attempts answering
// in a random order; and the runner's own loops run beside it.
func TestRunUntilIdleLeavesNothingToDo(t *testing.T) {
	t.Parallel()
	enginetest.EachBackend(t, func(t *testing.T, url string) {
		cat := xCatalog(`  held:
    url: "${SYS_URL}"
    timeout: 5s
    releaseRate: 240
`, []string{
			`{name: A, type: CALLOUT, callout: {system: sys, path: /a}}`,
			`{name: B, type: CALLOUT, scope: ITEM, product: TP-W, callout: {system: sys, path: /b}}`,
			`{name: Flaky, type: CALLOUT, callout: {system: sys, path: /flaky}, retry: {max: 2, policy: FIXED, backoff: 1s}}`,
			`{name: Held, type: CALLOUT, callout: {system: held, path: /held}}`,
			`{name: Wait, type: PAUSE, pause: {for: 2s}}`,
			`{name: Done, type: MILESTONE}`,
		}, []string{`{step: B, after: A}`, `{step: Held, after: B}`, `{step: Done, after: [Held, Flaky, Wait]}`})
		b := setupExec(t, url, cat, xOptions{run: &orchestrator.RunnerConfig{Workers: 2, MaxBatch: 3}})
		var mu sync.Mutex
		jitter := func(*http.Request, int) {
			mu.Lock()
			d := time.Duration(rand.IntN(3000)) * time.Microsecond
			mu.Unlock()
			time.Sleep(d) // answers in a random order
		}
		for _, p := range []string{"/a", "/b", "/held"} {
			b.xs.on(p, func(r *http.Request, n int) (int, string) { jitter(r, n); return 200, `{}` })
		}
		b.xs.on("/flaky", func(r *http.Request, n int) (int, string) {
			jitter(r, n)
			if r.Header.Get("X-Baton-Attempt") == "1" {
				return 503, `{}` // retried a second later
			}
			return 200, `{}`
		})
		if _, err := b.engine.SetSystemStatus(b.ctx, "held", "OFFLINE", "down"); err != nil {
			t.Fatal(err)
		}
		const n = 12
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				in := widgetOrder(fmt.Sprintf("idle-%d", i))
				in.Lines = append(in.Lines, in.Lines[0])
				in.Lines[1].ID = "L2"
				if _, err := b.engine.SubmitOrder(b.ctx, in); err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		b.idle(t)
		idleCheck(t, b, "after submitting")
		if got := sfCount(t, b, step.Name("Held"), step.StatusEQ(step.StatusON_HOLD)); got != n {
			t.Errorf("%d Held callouts ON_HOLD; want %d", got, n)
		}
		if _, err := b.engine.SetSystemStatus(b.ctx, "held", "ONLINE", "up"); err != nil {
			t.Fatal(err)
		}
		for sec := 1; sfCount(t, b, step.StatusNEQ(step.StatusCOMPLETED)) > 0; sec++ {
			if sec > 30 {
				t.Fatalf("%d steps not COMPLETED after %d seconds", sfCount(t, b, step.StatusNEQ(step.StatusCOMPLETED)), sec)
			}
			b.idle(t)
			idleCheck(t, b, fmt.Sprintf("at +%ds", sec-1))
			b.clock.Advance(time.Second)
		}
		if got, want := len(b.xs.requests("")), n*(1+2+2+1); got != want {
			t.Errorf("%d requests; want %d (A, B twice, Flaky twice, Held, for each order)", got, want)
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
