package orchestrator_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/batonhq/baton/engine"
	"github.com/batonhq/baton/engine/enginetest"
	"github.com/batonhq/baton/engine/plan"
	"github.com/batonhq/baton/ent/step"
)

// Predictive jeopardy through the engine, on both databases: Install's
// catalog estimate is 2h, but of its 20 completions 3 took 3h20m. With 19
// the forecast uses the estimate and a plan requested 4h out is on track;
// with 20 (once the cached history is older than its TTL) it uses p50 2h
// for the prediction and p90 3h20m for the risk, so the plan is AT_RISK
// naming Install before any step is late.
func TestPredictiveJeopardyThroughEngine(t *testing.T) {
	t.Parallel()
	enginetest.EachBackend(t, func(t *testing.T, url string) {
		h := time.Hour
		slow := 3*h + 20*time.Minute
		cat := sfCatalog("", []string{
			`{name: Survey, type: MANUAL_TASK, task: {queue: field}, estimatedDuration: 1h}`,
			`{name: Install, type: MANUAL_TASK, task: {queue: field}, estimatedDuration: 2h, jeopardyThreshold: 30m}`,
		}, []string{`{step: Install, after: Survey}`})
		b := setupExec(t, url, cat, xOptions{})
		now := enginetest.Epoch
		// run completes one order: Survey after 1h, Install after d.
		run := func(i int, d time.Duration) {
			t.Helper()
			b.clock.Set(now)
			rec := b.submit(t, widgetOrder(fmt.Sprintf("hist-%d", i)))
			now = now.Add(h)
			b.clock.Set(now)
			if err := b.engine.CompleteTask(b.ctx, b.stepByName(t, rec.ID, "Survey").ID, nil, ""); err != nil {
				t.Fatal(err)
			}
			now = now.Add(d)
			b.clock.Set(now)
			if err := b.engine.CompleteTask(b.ctx, b.stepByName(t, rec.ID, "Install").ID, nil, ""); err != nil {
				t.Fatal(err)
			}
			now = now.Add(time.Minute)
		}
		// probe submits an order requested 4h out and forecasts it.
		probe := func(ext string) (*plan.Forecast, *engine.OrderRecord) {
			t.Helper()
			now = now.Add(2 * time.Minute) // past the cache's TTL
			b.clock.Set(now)
			in := widgetOrder(ext)
			due := now.Add(4 * h)
			in.RequestedCompletion = &due
			rec := b.submit(t, in)
			fs, err := b.engine.Forecasts(b.ctx, []int{rec.PlanID})
			if err != nil || fs[rec.PlanID] == nil {
				t.Fatalf("Forecasts = %v, %v", fs, err)
			}
			return fs[rec.PlanID], rec
		}
		for i := range 19 {
			d := 2 * h
			if i%7 == 6 { // 2 of the first 19
				d = slow
			}
			run(i, d)
		}
		f, rec := probe("probe-19")
		install := b.stepByName(t, rec.ID, "Install")
		if sf := f.Step(install.ID); sf == nil || sf.Basis != plan.BasisEstimate || sf.Samples != 19 || sf.P50 != 2*h {
			t.Fatalf("19 completions: Install forecast %+v; want the 2h estimate with 19 samples", sf)
		}
		if f.Jeopardy != engine.OnTrack || f.Reason != "" || !sfTimeEq(f.Predicted, now.Add(3*h)) {
			t.Errorf("19 completions: %s %q predicted %s; want ON_TRACK at now+3h", f.Jeopardy, f.Reason, sfTime(f.Predicted))
		}

		run(19, slow) // the 20th: 3 of 20 took 3h20m
		f, rec = probe("probe-20")
		install = b.stepByName(t, rec.ID, "Install")
		survey := b.stepByName(t, rec.ID, "Survey")
		sf := f.Step(install.ID)
		if sf == nil || sf.Basis != plan.BasisHistory || sf.Samples != 20 || sf.P50 != 2*h || sf.P90 != slow {
			t.Fatalf("20 completions: Install forecast %+v; want history p50 2h p90 3h20m of 20", sf)
		}
		if !sfTimeEq(f.Predicted, now.Add(3*h)) || !sfTimeEq(f.PredictedP90, now.Add(h+slow)) {
			t.Errorf("predicted %s, p90 %s; want now+3h and now+4h20m", sfTime(f.Predicted), sfTime(f.PredictedP90))
		}
		if !slices.Equal(f.CriticalPathP90, []int{survey.ID, install.ID}) {
			t.Errorf("p90 critical path %v; want [Survey Install]", f.CriticalPathP90)
		}
		if f.Jeopardy != engine.AtRisk || !strings.HasPrefix(f.Reason, "Install p90 3h20m on the critical path") {
			t.Errorf("20 completions: %s %q; want AT_RISK, Install p90 3h20m on the critical path", f.Jeopardy, f.Reason)
		}
		// Before any single step is late: every step is on track.
		n, err := b.client.Step.Query().Where(step.PlanID(rec.PlanID), step.JeopardyNEQ(step.JeopardyON_TRACK)).Count(b.ctx)
		if err != nil || n != 0 {
			t.Errorf("steps not on track: %d, %v; want none", n, err)
		}
	})
}

// countingDurations counts the history reads that reach the store.
type countingDurations struct {
	engine.Store
	mu    sync.Mutex
	reads int
	defs  int
}

func (c *countingDurations) StepDurations(ctx context.Context, defs []engine.StepDefKey, limit int) (map[engine.StepDefKey][]engine.DurationSample, error) {
	c.mu.Lock()
	c.reads++
	c.defs += len(defs)
	c.mu.Unlock()
	return c.Store.StepDurations(ctx, defs, limit)
}

func (c *countingDurations) counts() (int, int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.reads, c.defs
}

// The history is read once per definition per TTL (a minute), whatever the
// number of plans and forecasts in between; one read for all the
// definitions a call needs.
func TestPredictiveHistoryCache(t *testing.T) {
	t.Parallel()
	enginetest.EachBackend(t, func(t *testing.T, url string) {
		var counter *countingDurations
		cat := sfCatalog("", []string{
			`{name: Survey, type: MANUAL_TASK, task: {queue: field}, estimatedDuration: 1h}`,
			`{name: Install, type: MANUAL_TASK, task: {queue: field}, estimatedDuration: 2h}`,
		}, []string{`{step: Install, after: Survey}`})
		b := setupExec(t, url, cat, xOptions{wrapStore: func(s engine.Store) engine.Store {
			counter = &countingDurations{Store: s}
			return counter
		}})
		a := b.submit(t, widgetOrder("cache-a"))
		c := b.submit(t, widgetOrder("cache-b"))
		forecast := func(ids ...int) {
			t.Helper()
			if _, err := b.engine.Forecasts(b.ctx, ids); err != nil {
				t.Fatal(err)
			}
		}
		check := func(what string, reads, defs int) {
			t.Helper()
			if r, d := counter.counts(); r != reads || d != defs {
				t.Errorf("%s: %d reads of %d definitions; want %d of %d", what, r, d, reads, defs)
			}
		}
		forecast(a.PlanID, c.PlanID)
		check("first forecast of two plans", 1, 2)
		forecast(a.PlanID)
		forecast(c.PlanID)
		check("again within the TTL", 1, 2)
		b.clock.Set(enginetest.Epoch.Add(59 * time.Second))
		forecast(a.PlanID)
		check("59s later", 1, 2)
		b.clock.Set(enginetest.Epoch.Add(time.Minute))
		forecast(a.PlanID, c.PlanID)
		check("a minute later", 2, 4)
	})
}
