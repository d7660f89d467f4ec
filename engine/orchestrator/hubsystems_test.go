package orchestrator_test

import (
	"github.com/batonhq/baton/engine"
	"github.com/batonhq/baton/engine/enginetest"
	"github.com/batonhq/baton/engine/orchestrator"
	"testing"
)

// The hub tells the engine when events of a system's status arrive (from
// any replica), and only then: a replica's cached system states are
// refreshed by the change, not by every work signal.
func TestHubReportsSystemChanges(t *testing.T) {
	t.Parallel()
	st := openStore(t, enginetest.SQLiteURL(t), nil)
	calls := 0
	h := orchestrator.NewHub(st, orchestrator.HubConfig{Logger: enginetest.Logger(t), OnSystemChange: func() { calls++ }})
	defer h.Close()
	h.Ingest([]*engine.Event{{ID: 1, Kind: engine.EventStepStatus}, {ID: 2, Kind: engine.EventOrderStatus}})
	if calls != 0 {
		t.Errorf("step and order events: OnSystemChange called %d times; want 0", calls)
	}
	h.Ingest([]*engine.Event{{ID: 3, Kind: engine.EventStepStatus}, {ID: 4, Kind: engine.EventSystemStatus, System: "erp", To: "OFFLINE"}})
	if calls != 1 {
		t.Errorf("a system event: OnSystemChange called %d times; want 1", calls)
	}
	h.Ingest([]*engine.Event{{ID: 4, Kind: engine.EventSystemStatus, System: "erp", To: "OFFLINE"}})
	if calls != 1 {
		t.Errorf("the same event again: OnSystemChange called %d times; want still 1", calls)
	}
}
