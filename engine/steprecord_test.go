package engine_test

import (
	"testing"
	"time"

	"github.com/batonhq/baton/engine"
)

func TestNewPlanStepRecord(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	p := &engine.NewPlan{ID: 7, OrderID: 3, CatalogID: 2, AccountRef: 11}
	item := &engine.Item{ID: 5}
	tests := []struct {
		name             string
		step             engine.NewStep
		wantItem, wantAc int
		ready, completed bool
	}{
		{"a ready item step is ready now", engine.NewStep{Name: "ship", Type: engine.Callout, Scope: engine.ScopeItem, Item: item,
			Status: engine.StepReady, System: "erp"}, 5, 0, true, false},
		{"a pending step has no times", engine.NewStep{Name: "wait", Type: engine.Milestone, Scope: engine.ScopePlan,
			Status: engine.StepPending, Pending: 2}, 0, 0, false, false},
		{"a skipped step is done now", engine.NewStep{Name: "skip", Type: engine.AutoTask, Scope: engine.ScopePlan,
			Status: engine.StepSkipped}, 0, 0, false, true},
		{"an account step carries the account", engine.NewStep{Name: "acct", Type: engine.ManualTask, Scope: engine.ScopeAccount,
			Status: engine.StepPending, Queue: "ops", Assignee: "ann"}, 0, 11, false, false},
	}
	for _, tt := range tests {
		r := p.StepRecord(&tt.step, 42, 9, now)
		if r.ID != 42 || r.GroupID != 9 || r.PlanID != 7 || r.OrderID != 3 || r.CatalogID != 2 || r.Name != tt.step.Name ||
			r.Type != tt.step.Type || r.Status != tt.step.Status || r.Pending != tt.step.Pending || r.Jeopardy != engine.OnTrack ||
			r.Queue != tt.step.Queue || r.Assignee != tt.step.Assignee || r.System != tt.step.System || !r.UpdatedAt.Equal(now) {
			t.Errorf("%s: record %+v does not carry the step and plan", tt.name, r)
		}
		if r.ItemID != tt.wantItem || r.AccountRef != tt.wantAc {
			t.Errorf("%s: item %d, account %d; want %d, %d", tt.name, r.ItemID, r.AccountRef, tt.wantItem, tt.wantAc)
		}
		if (r.ReadyAt != nil) != tt.ready || r.ReadyAt != nil && !r.ReadyAt.Equal(now) {
			t.Errorf("%s: ReadyAt %v; want set %v", tt.name, r.ReadyAt, tt.ready)
		}
		if (r.CompletedAt != nil) != tt.completed || r.CompletedAt != nil && !r.CompletedAt.Equal(now) {
			t.Errorf("%s: CompletedAt %v; want set %v", tt.name, r.CompletedAt, tt.completed)
		}
	}
}
