package orchestrator_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/batonhq/baton/engine"
	"github.com/batonhq/baton/engine/enginetest"
	"github.com/batonhq/baton/engine/orchestrator"
)

// countingEvents counts the hub's reads of the events table.
type countingEvents struct {
	engine.Store
	reads atomic.Int64
}

func (c *countingEvents) EventsAfter(ctx context.Context, after int64, limit int) ([]*engine.Event, error) {
	c.reads.Add(1)
	return c.Store.EventsAfter(ctx, after, limit)
}

// Events that arrive a little out of order (the transactions of one group
// commit publish from their own goroutines; replicas interleave) are put
// in order without reading the table; a gap that stays open for GapWait
// is filled from the table.
func TestHubWaitsForGaps(t *testing.T) {
	t.Parallel()
	st := &countingEvents{Store: openStore(t, enginetest.SQLiteURL(t), nil)}
	h := orchestrator.NewHub(st, orchestrator.HubConfig{Logger: enginetest.Logger(t), GapWait: 50 * time.Millisecond, PollInterval: time.Hour})
	defer h.Close()

	h.Ingest([]*engine.Event{{ID: 2, Kind: engine.EventStepStatus}, {ID: 3, Kind: engine.EventStepStatus}})
	if got := h.Last(); got != 0 {
		t.Fatalf("delivered up to %d ahead of the missing 1", got)
	}
	h.Ingest([]*engine.Event{{ID: 1, Kind: engine.EventOrderStatus}})
	if got := h.Last(); got != 3 {
		t.Fatalf("after the missing 1 arrived: delivered up to %d; want 3", got)
	}
	if n := st.reads.Load(); n != 0 {
		t.Errorf("read the table %d times for a gap that closed by itself", n)
	}

	// 4 never arrives (nor is it in the table): 5 waits GapWait, then the
	// table says 4 was never committed, and 5 is delivered.
	start := time.Now()
	h.Ingest([]*engine.Event{{ID: 5, Kind: engine.EventStepStatus}})
	enginetest.Eventually(t, 5*time.Second, func() bool { return h.Last() == 5 }, "5 never delivered after the gap")
	if waited := time.Since(start); waited < 40*time.Millisecond {
		t.Errorf("the gap was filled after %s; want GapWait first", waited)
	}
	if n := st.reads.Load(); n == 0 {
		t.Error("a gap that stayed open was never read from the table")
	}
}
