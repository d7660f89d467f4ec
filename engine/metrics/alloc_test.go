package metrics_test

import (
	"testing"
	"time"

	"github.com/batonhq/baton/engine"
	"github.com/batonhq/baton/engine/metrics"
)

// The per-step calls allocate nothing once their series exist: they run
// for every transition and every callout attempt.
func TestHotPathAllocatesNothing(t *testing.T) {
	m := metrics.New()
	m.StepCompleted(engine.Callout, "Call", time.Second)
	m.Callout("erp", metrics.OutcomeSuccess, time.Millisecond)
	if n := testing.AllocsPerRun(100, func() {
		m.StepTransition(engine.Callout, engine.StepRunning)
		m.StepCompleted(engine.Callout, "Call", time.Second)
		m.Callout("erp", metrics.OutcomeSuccess, time.Millisecond)
		m.Commit(3, time.Millisecond)
		m.FeedDelivered(2)
	}); n != 0 {
		t.Errorf("%v allocations per step; want 0", n)
	}
}
