package engine

import "time"

// StepRecord materialises a planned step of p as the store writes it,
// with its ids: the plan's order and catalog, the account of an ACCOUNT
// step, the queue, assignee and system planning chose, and the times its
// status implies (READY is ready now, SKIPPED done now).
func (p *NewPlan) StepRecord(ps *NewStep, id, groupID int, now time.Time) *StepRecord {
	rec := &StepRecord{
		ID: id, PlanID: p.ID, GroupID: groupID, OrderID: p.OrderID, CatalogID: p.CatalogID,
		Name: ps.Name, Scenario: ps.Scenario, Type: ps.Type, Scope: ps.Scope,
		InstanceKey: ps.InstanceKey, BundleKey: ps.BundleKey, Status: ps.Status, Jeopardy: OnTrack,
		Pending: ps.Pending, UpdatedAt: now, Compensates: ps.Compensates,
	}
	if ps.Item != nil {
		rec.ItemID = ps.Item.ID
	}
	if ps.Scope == ScopeAccount {
		rec.AccountRef = p.AccountRef
	}
	rec.Queue, rec.Assignee, rec.System = ps.Queue, ps.Assignee, ps.System
	switch ps.Status {
	case StepReady:
		rec.ReadyAt = &now
	case StepSkipped:
		rec.CompletedAt = &now
	}
	return rec
}
