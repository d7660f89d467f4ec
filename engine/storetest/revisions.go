package storetest

import (
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/batonhq/baton/engine"
)

// revisionTests: what revising an order keeps — revisions, revised lines
// and removed items, frozen plans, plan statuses, a plan's own
// dependencies, compensation steps and plans related by group key.
var revisionTests = map[string]func(t *testing.T, b *bundle){
	"InsertPendingSaveRevision": func(t *testing.T, b *bundle) {
		f := b.seedOrder(t, "o1")
		b.write(t, func(tx engine.Tx) error {
			r, err := tx.PendingRevision(b.ctx, f.order.ID)
			if err == nil && r != nil {
				t.Errorf("PendingRevision of an order never revised = %+v; want nil", r)
			}
			return err
		})
		rev := amendRevision(f.order.ID, 1)
		b.write(t, func(tx engine.Tx) error { return tx.InsertRevision(b.ctx, rev) })
		if rev.ID == 0 {
			t.Fatalf("InsertRevision assigned no id: %+v", rev)
		}
		b.write(t, func(tx engine.Tx) error {
			o, err := tx.LoadOrder(b.ctx, f.order.ID)
			if err != nil {
				return err
			}
			if o.Revision != 1 {
				t.Errorf("LoadOrder.Revision after InsertRevision(1) = %d; want 1", o.Revision)
			}
			got, err := tx.PendingRevision(b.ctx, f.order.ID)
			if err != nil {
				return err
			}
			wantRevision(t, "PendingRevision", got, rev)
			return nil
		})

		applied := Epoch.Add(time.Minute)
		b.clock.Advance(time.Minute)
		saved := *rev
		saved.Status, saved.AppliedAt = engine.RevisionApplied, &applied
		saved.Diff = &engine.Diff{Kept: []engine.DiffStep{{ID: f.steps["provision"].ID, Name: "provision", InstanceKey: "L1/server",
			Status: engine.StepCompleted}}, LinesChanged: []string{"L1"}}
		b.write(t, func(tx engine.Tx) error { return tx.SaveRevision(b.ctx, &saved) })
		b.write(t, func(tx engine.Tx) error {
			r, err := tx.PendingRevision(b.ctx, f.order.ID)
			if err == nil && r != nil {
				t.Errorf("PendingRevision after SaveRevision(APPLIED) = %+v; want nil", r)
			}
			return err
		})

		// A second revision: a cancellation, with no input, still
		// freezing; and a revision of another order.
		cancel := &engine.Revision{OrderID: f.order.ID, Number: 2, Kind: engine.RevisionCancel, Status: engine.RevisionFreezing,
			Actor: "bob", Reason: "customer left", Diff: &engine.Diff{Cancelled: []engine.DiffStep{{ID: f.steps["review"].ID,
				Name: "review", Status: engine.StepReady}}}, RequestedAt: Epoch.Add(time.Minute)}
		g := b.seedOrder(t, "o2")
		other := amendRevision(g.order.ID, 1)
		b.write(t, func(tx engine.Tx) error {
			if err := tx.InsertRevision(b.ctx, cancel); err != nil {
				return err
			}
			return tx.InsertRevision(b.ctx, other)
		})
		if cancel.ID == 0 || other.ID == 0 || cancel.ID == rev.ID || other.ID == rev.ID || other.ID == cancel.ID {
			t.Fatalf("revision ids %d, %d, %d; want three distinct ids", rev.ID, cancel.ID, other.ID)
		}
		b.write(t, func(tx engine.Tx) error {
			got, err := tx.PendingRevision(b.ctx, f.order.ID)
			if err != nil {
				return err
			}
			wantRevision(t, "PendingRevision (the cancellation)", got, cancel)
			o, err := tx.LoadOrder(b.ctx, f.order.ID)
			if err == nil && o.Revision != 2 {
				t.Errorf("LoadOrder.Revision after the second revision = %d; want 2", o.Revision)
			}
			return err
		})

		unrevised := b.seedOrder(t, "o3")
		all, err := b.store.Revisions(b.ctx, []int{g.order.ID, f.order.ID, unrevised.order.ID})
		if err != nil {
			t.Fatal(err)
		}
		if len(all[f.order.ID]) != 2 || len(all[g.order.ID]) != 1 || len(all[unrevised.order.ID]) != 0 {
			t.Fatalf("Revisions = %d of o1, %d of o2, %d of o3; want 2, 1, 0",
				len(all[f.order.ID]), len(all[g.order.ID]), len(all[unrevised.order.ID]))
		}
		wantRevision(t, "Revisions[o1][0] (applied)", all[f.order.ID][0], &saved)
		wantRevision(t, "Revisions[o1][1]", all[f.order.ID][1], cancel)
		wantRevision(t, "Revisions[o2][0]", all[g.order.ID][0], other)
		if none, err := b.store.Revisions(b.ctx, nil); err != nil || len(none) != 0 {
			t.Errorf("Revisions(no orders) = %v, %v; want none", none, err)
		}
	},

	"ReviseLines": func(t *testing.T, b *bundle) {
		f := b.seedWith(t, "o1", func(o *engine.NewOrder) {
			o.Lines = append(o.Lines,
				line("L2", "DISK", 1, "L1", 1, map[string]any{"gb": "10"}),
				line("L5", "IP", 1, "", 2, map[string]any{"v": "4"}))
		})
		before := f.order.LineIDs
		// Revision 1: L1 kept as it is, L2 changed (quantity, attributes,
		// and a parent that is new), L3 added, L4 added under L3 (given
		// before its parent), L5 removed.
		l2 := line("L2", "DISK", 3, "L3", 1, map[string]any{"gb": "20", "ssd": true})
		l4 := line("L4", "NIC", 2, "L3", 4, map[string]any{"speed": "10G"})
		l4.Status, l4.Missing = engine.LineAwaitingData, []string{"vlan"}
		l3 := line("L3", "RACK", 1, "", 3, nil)
		var got map[string]int
		b.write(t, func(tx engine.Tx) (err error) {
			got, err = tx.ReviseLines(b.ctx, f.order.ID, 1, []*engine.DecomposedLine{f.order.Lines[0], l2, l4, l3}, []string{"L5"})
			return
		})
		if len(got) != 5 || got["L1"] != before["L1"] || got["L2"] != before["L2"] || got["L5"] != before["L5"] ||
			got["L3"] == 0 || got["L4"] == 0 || got["L3"] == got["L4"] || slices.Contains([]int{before["L1"], before["L2"], before["L5"]}, got["L3"]) ||
			slices.Contains([]int{before["L1"], before["L2"], before["L5"]}, got["L4"]) {
			t.Fatalf("ReviseLines ids = %v; want the old ids of L1, L2, L5 (%v) and new ones for L3, L4", got, before)
		}
		o := b.loadOrder(t, f.order.ID)
		if ls := lineIDs(o.Lines); !slices.Equal(ls, []string{"L1", "L2", "L3", "L4"}) {
			t.Fatalf("LoadOrder.Lines after revision 1 = %v; want [L1 L2 L3 L4]", ls)
		}
		if rs := lineIDs(o.RemovedLines); !slices.Equal(rs, []string{"L5"}) || o.RemovedLines[0].Status != engine.LineRemoved {
			t.Fatalf("LoadOrder.RemovedLines after revision 1 = %v (%+v); want [L5], REMOVED", rs, o.RemovedLines)
		}
		if !reflect.DeepEqual(o.LineIDs, got) {
			t.Errorf("LoadOrder.LineIDs = %v; want every line, removed ones too: %v", o.LineIDs, got)
		}
		byID := linesByID(o.Lines)
		if l := byID["L1"]; l.Quantity != 1 || l.ParentID != "" || !reflect.DeepEqual(l.Attributes, map[string]any{"size": "m"}) {
			t.Errorf("kept L1 = %+v; want as submitted", l)
		}
		if l := byID["L2"]; l.Quantity != 3 || l.ParentID != "L3" || l.ProductCode != "DISK" ||
			!reflect.DeepEqual(l.Attributes, map[string]any{"gb": "20", "ssd": true}) {
			t.Errorf("changed L2 = %+v; want quantity 3, parent L3, attributes {gb 20, ssd}", l)
		}
		if l := byID["L3"]; l.Quantity != 1 || l.ParentID != "" || l.ProductCode != "RACK" || l.Status != engine.LineDecomposed || l.Action != engine.ActionAdd {
			t.Errorf("added L3 = %+v", l)
		}
		if l := byID["L4"]; l.Quantity != 2 || l.ParentID != "L3" || l.ProductCode != "NIC" || l.Status != engine.LineAwaitingData ||
			!slices.Equal(l.Missing, []string{"vlan"}) || l.Attributes["speed"] != "10G" {
			t.Errorf("added L4 = %+v; want under L3, AWAITING_DATA for vlan", l)
		}

		// Revision 2: L5 given again (revived, with its old id), L4
		// removed.
		l5 := line("L5", "IP", 2, "", 2, map[string]any{"v": "6"})
		b.write(t, func(tx engine.Tx) (err error) {
			got, err = tx.ReviseLines(b.ctx, f.order.ID, 2, []*engine.DecomposedLine{byID["L1"], byID["L2"], byID["L3"], l5}, []string{"L4"})
			return
		})
		if len(got) != 5 || got["L5"] != before["L5"] || got["L4"] != o.LineIDs["L4"] || got["L3"] != o.LineIDs["L3"] {
			t.Fatalf("ReviseLines (revision 2) ids = %v; want the ids so far %v", got, o.LineIDs)
		}
		o = b.loadOrder(t, f.order.ID)
		if ls, rs := lineIDs(o.Lines), lineIDs(o.RemovedLines); !slices.Equal(ls, []string{"L1", "L2", "L5", "L3"}) || !slices.Equal(rs, []string{"L4"}) {
			t.Fatalf("after revision 2: lines %v, removed %v; want [L1 L2 L5 L3] (by position), [L4]", ls, rs)
		}
		if l := linesByID(o.Lines)["L5"]; l.Status != engine.LineDecomposed || l.Quantity != 2 || l.Attributes["v"] != "6" {
			t.Errorf("revived L5 = %+v; want DECOMPOSED, quantity 2, v 6", l)
		}
		if l := o.RemovedLines[0]; l.Status != engine.LineRemoved || l.Quantity != 2 || l.ParentID != "L3" {
			t.Errorf("removed L4 = %+v; want REMOVED, as it was (quantity 2, under L3)", l)
		}
	},

	"RemoveItems": func(t *testing.T, b *bundle) {
		disk := &engine.Item{Key: "L2/disk", ProductCode: "DSK", Rule: "disk", Scope: engine.DecomposeLine, Quantity: 2,
			Attributes: map[string]any{"gb": "10"}, Sources: []string{"L1", "L2"}, BundleKey: "L1"}
		f := b.seedWith(t, "o1", func(o *engine.NewOrder) {
			o.Lines = append(o.Lines, line("L2", "DISK", 1, "L1", 1, nil))
			o.Items = append(o.Items, disk)
		})
		o := b.loadOrder(t, f.order.ID)
		if len(o.Items) != 2 || len(o.RemovedItems) != 0 {
			t.Fatalf("LoadOrder before RemoveItems: %d items, %d removed; want 2, 0", len(o.Items), len(o.RemovedItems))
		}
		b.write(t, func(tx engine.Tx) error { return tx.RemoveItems(b.ctx, []int{disk.ID}, 1) })
		b.write(t, func(tx engine.Tx) error { return tx.RemoveItems(b.ctx, nil, 1) })
		o = b.loadOrder(t, f.order.ID)
		if len(o.Items) != 1 || len(o.RemovedItems) != 1 {
			t.Fatalf("LoadOrder after RemoveItems: items %+v, removed %+v; want the server kept, the disk removed", o.Items, o.RemovedItems)
		}
		if it := o.Items[0]; it.ID != f.order.Items[0].ID || it.Key != "L1/server" || !slices.Equal(it.Sources, []string{"L1"}) {
			t.Errorf("kept item = %+v; want L1/server from [L1]", it)
		}
		if it := o.RemovedItems[0]; it.ID != disk.ID || it.Key != "L2/disk" || it.ProductCode != "DSK" || it.Quantity != 2 ||
			it.BundleKey != "L1" || it.Attributes["gb"] != "10" || !slices.Equal(it.Sources, []string{"L1", "L2"}) {
			t.Errorf("removed item = %+v; want L2/disk (DSK ×2, bundle L1) from [L1 L2]", it)
		}
	},

	"FreezePlan": func(t *testing.T, b *bundle) {
		f := b.seedOrder(t, "o1")
		g := b.seedOrder(t, "o2")
		b.write(t, func(tx engine.Tx) error {
			r := *f.steps["review"]
			r.Status = engine.StepCompleted
			return tx.SaveSteps(b.ctx, []*engine.StepRecord{&r})
		})
		b.write(t, func(tx engine.Tx) error { return tx.FreezePlan(b.ctx, f.order.Plan.ID, true) })
		frozen := b.planSteps(t, f.order.Plan.ID)
		if !slices.Equal(names(frozen), []string{"provision", "activate", "review"}) {
			t.Fatalf("LockPlanSteps = %v; want the plan's three steps in id order", names(frozen))
		}
		for _, s := range frozen {
			if want := s.Name != "review"; s.Frozen != want {
				t.Errorf("after FreezePlan(true): %s (%s) frozen %v; want %v (only unfinished steps freeze)", s.Name, s.Status, s.Frozen, want)
			}
		}
		for _, s := range b.planSteps(t, g.order.Plan.ID) {
			if s.Frozen {
				t.Errorf("another plan's step %s frozen", s.Name)
			}
		}
		all := []engine.StepType{engine.Callout, engine.AutoTask, engine.ManualTask}
		b.write(t, func(tx engine.Tx) error {
			got, err := tx.ClaimReady(b.ctx, all, 10)
			if err == nil && !reflect.DeepEqual(ids(got...), ids(g.steps["provision"], g.steps["review"])) {
				t.Errorf("ClaimReady with o1 frozen = %v of plans %v; want o2's provision and review only", names(got), planIDs(got))
			}
			return err
		})
		// SaveSteps leaves the flag alone; clearing it clears every
		// step's, finished or not.
		b.write(t, func(tx engine.Tx) error {
			a := *frozen[1]
			a.Status = engine.StepCompleted
			return tx.SaveSteps(b.ctx, []*engine.StepRecord{&a})
		})
		if s := b.planSteps(t, f.order.Plan.ID)[1]; !s.Frozen || s.Status != engine.StepCompleted {
			t.Errorf("activate after SaveSteps(COMPLETED) = %s, frozen %v; want COMPLETED and still frozen", s.Status, s.Frozen)
		}
		b.write(t, func(tx engine.Tx) error { return tx.FreezePlan(b.ctx, f.order.Plan.ID, false) })
		for _, s := range b.planSteps(t, f.order.Plan.ID) {
			if s.Frozen {
				t.Errorf("after FreezePlan(false): %s (%s) still frozen", s.Name, s.Status)
			}
		}
		b.write(t, func(tx engine.Tx) error {
			got, err := tx.ClaimReady(b.ctx, all, 10)
			if err == nil && !reflect.DeepEqual(ids(got...), ids(f.steps["provision"], g.steps["provision"], g.steps["review"])) {
				t.Errorf("ClaimReady after thawing = %v of plans %v; want o1's provision back", names(got), planIDs(got))
			}
			return err
		})
	},

	"SetPlanStatus": func(t *testing.T, b *bundle) {
		f := b.seedOrder(t, "o1")
		check := func(what string, plan engine.PlanStatus, order engine.OrderStatus, completed *time.Time) {
			t.Helper()
			o, err := b.store.OrderByExternalID(b.ctx, "o1")
			if err != nil || o.Status != order {
				t.Errorf("%s: order %+v, %v; want %s", what, o, err, order)
			}
			tls, err := b.store.PlanTimelines(b.ctx, []int{f.order.Plan.ID})
			if err != nil || len(tls) != 1 {
				t.Fatalf("%s: PlanTimelines = %+v, %v", what, tls, err)
			}
			if tl := tls[0]; tl.Status != plan || (completed == nil) != (tl.CompletedAt == nil) || (completed != nil && !tl.CompletedAt.Equal(*completed)) {
				t.Errorf("%s: plan %s completed at %v; want %s completed at %v", what, tl.Status, tl.CompletedAt, plan, completed)
			}
			b.write(t, func(tx engine.Tx) error {
				so, err := tx.LoadOrder(b.ctx, f.order.ID)
				if err == nil && (so.Plan.Status != plan || so.Status != order) {
					t.Errorf("%s: LoadOrder plan %s, order %s; want %s, %s", what, so.Plan.Status, so.Status, plan, order)
				}
				return err
			})
		}
		b.write(t, func(tx engine.Tx) error { return tx.SetPlanStatus(b.ctx, f.order.Plan.ID, engine.PlanFreezing, "") })
		check("FREEZING, order left alone", engine.PlanFreezing, engine.OrderSubmitted, nil)
		b.write(t, func(tx engine.Tx) error {
			return tx.SetPlanStatus(b.ctx, f.order.Plan.ID, engine.PlanCancelling, engine.OrderCancelling)
		})
		check("CANCELLING", engine.PlanCancelling, engine.OrderCancelling, nil)
		b.clock.Advance(time.Minute)
		done := Epoch.Add(time.Minute)
		b.write(t, func(tx engine.Tx) error {
			return tx.SetPlanStatus(b.ctx, f.order.Plan.ID, engine.PlanCancelled, engine.OrderCancelled)
		})
		check("CANCELLED", engine.PlanCancelled, engine.OrderCancelled, &done)
	},

	"PlanDependencies": func(t *testing.T, b *bundle) {
		f := b.seedOrder(t, "o1")
		// o2's activate also waits for o1's provision: a dependency
		// between plans, which neither plan lists as its own.
		g := b.seedWith(t, "o2", func(o *engine.NewOrder) {
			o.Plan.Graph.Deps = append(o.Plan.Graph.Deps, &engine.NewDep{Step: o.Plan.Graph.Steps[1], PrereqID: f.steps["provision"].ID})
			o.Plan.Graph.Steps[1].Pending = 2
		})
		b.write(t, func(tx engine.Tx) error {
			for _, x := range []*fixture{f, g} {
				deps, err := tx.PlanDependencies(b.ctx, x.order.Plan.ID)
				if err != nil {
					return err
				}
				want := [][2]int{{x.steps["activate"].ID, x.steps["provision"].ID}}
				if !reflect.DeepEqual(deps, want) {
					t.Errorf("PlanDependencies(%s) = %v; want %v (activate after provision, nothing across plans)", x.order.ExternalID, deps, want)
				}
			}
			return nil
		})
	},

	"Compensates": func(t *testing.T, b *bundle) {
		f := b.seedOrder(t, "o1")
		o := b.loadOrder(t, f.order.ID)
		grp := &engine.PlannedGroup{Name: "delivery", Scenario: "provide", Position: 0}
		undo := &engine.NewStep{Name: "deprovision", Scenario: "provide", Type: engine.Callout, Scope: engine.ScopeItem,
			InstanceKey: "L1/server", BundleKey: "L1", Group: grp, Status: engine.StepReady, System: "crm",
			Compensates: f.steps["provision"].ID}
		var recs []*engine.StepRecord
		b.write(t, func(tx engine.Tx) (err error) {
			recs, err = tx.InsertPlan(b.ctx, &engine.NewPlan{ID: f.order.Plan.ID, OrderID: f.order.ID, AccountRef: f.order.AccountRef,
				AccountID: f.order.AccountID, Usage: engine.UsageSales, Type: "order", CatalogID: f.catalog.ID, Extend: true,
				Status: o.Plan.Status, Groups: o.Groups, LineIDs: o.LineIDs,
				Graph: &engine.PlanRows{Groups: []*engine.PlannedGroup{grp}, Steps: []*engine.NewStep{undo}}})
			return
		})
		if len(recs) != 1 || recs[0].Compensates != f.steps["provision"].ID {
			t.Fatalf("InsertPlan returned %+v; want deprovision compensating step %d", recs, f.steps["provision"].ID)
		}
		steps := b.planSteps(t, f.order.Plan.ID)
		if !slices.Equal(names(steps), []string{"provision", "activate", "review", "deprovision"}) {
			t.Fatalf("LockPlanSteps = %v; want the three steps and deprovision", names(steps))
		}
		for _, s := range steps {
			want := 0
			if s.Name == "deprovision" {
				want = f.steps["provision"].ID
			}
			if s.Compensates != want {
				t.Errorf("%s.Compensates = %d; want %d", s.Name, s.Compensates, want)
			}
		}
		if s := steps[3]; s.GroupID != f.steps["provision"].GroupID || s.Status != engine.StepReady || s.Frozen {
			t.Errorf("deprovision = %+v; want READY in provision's swimlane, not frozen", s)
		}
	},

	"CrossPlanSteps": func(t *testing.T, b *bundle) {
		key := func(k string) func(o *engine.NewOrder) { return func(o *engine.NewOrder) { o.Plan.GroupKey = k } }
		f := b.seedWith(t, "o1", key("site-A"))
		g := b.seedWith(t, "o2", key("site-A"))
		h := b.seedWith(t, "o3", key("site-B"))
		b.seedOrder(t, "o4") // no key
		b.write(t, func(tx engine.Tx) error {
			r := *f.steps["review"]
			r.Status = engine.StepCompleted
			c := *g.steps["provision"]
			c.Status = engine.StepCancelled
			return tx.SaveSteps(b.ctx, []*engine.StepRecord{&r, &c})
		})
		b.write(t, func(tx engine.Tx) error {
			got, err := tx.CrossPlanSteps(b.ctx, "site-A", []string{"provision", "review", "nothing"})
			if err != nil {
				return err
			}
			if len(got) != 2 || !sameSteps(got["provision"], f.steps["provision"]) || !sameSteps(got["review"], g.steps["review"]) {
				t.Errorf("CrossPlanSteps(site-A) = %s; want provision of o1 (o2's is cancelled), review of o2 (o1's is done)", showCross(got))
			}
			got, err = tx.CrossPlanSteps(b.ctx, "site-B", []string{"provision", "activate"})
			if err != nil {
				return err
			}
			if len(got) != 2 || !sameSteps(got["provision"], h.steps["provision"]) || !sameSteps(got["activate"], h.steps["activate"]) {
				t.Errorf("CrossPlanSteps(site-B) = %s; want o3's provision and activate", showCross(got))
			}
			for _, k := range []string{"site-C", ""} {
				if got, err := tx.CrossPlanSteps(b.ctx, k, []string{"provision"}); err != nil || len(got) != 0 {
					t.Errorf("CrossPlanSteps(%q) = %s, %v; want none", k, showCross(got), err)
				}
			}
			if got, err := tx.CrossPlanSteps(b.ctx, "site-A", nil); err != nil || len(got) != 0 {
				t.Errorf("CrossPlanSteps(no names) = %s, %v; want none", showCross(got), err)
			}
			return nil
		})
	},
}

// seedWith is seedOrder with the order changed by change before it is
// written.
func (b *bundle) seedWith(t *testing.T, externalID string, change func(o *engine.NewOrder)) *fixture {
	t.Helper()
	f := &fixture{steps: map[string]*engine.StepRecord{}}
	b.write(t, func(tx engine.Tx) error {
		cat, err := tx.InsertCatalog(b.ctx, "catalog text", "sum")
		if err != nil {
			return err
		}
		f.catalog = cat
		ref, err := tx.EnsureAccount(b.ctx, "acct-"+externalID)
		if err != nil {
			return err
		}
		f.order = newOrder(externalID, ref, cat.ID)
		change(f.order)
		recs, err := tx.InsertOrder(b.ctx, f.order)
		for _, r := range recs {
			f.steps[r.Name] = r
		}
		return err
	})
	return f
}

func (b *bundle) loadOrder(t *testing.T, orderID int) *engine.StoredOrder {
	t.Helper()
	var o *engine.StoredOrder
	b.write(t, func(tx engine.Tx) (err error) { o, err = tx.LoadOrder(b.ctx, orderID); return })
	return o
}

func (b *bundle) planSteps(t *testing.T, planID int) []*engine.StepRecord {
	t.Helper()
	var steps []*engine.StepRecord
	b.write(t, func(tx engine.Tx) (err error) { steps, err = tx.LockPlanSteps(b.ctx, planID); return })
	return steps
}

// amendRevision is a FREEZING amendment with an input and a diff that use
// every kind of JSON value they hold.
func amendRevision(orderID, number int) *engine.Revision {
	return &engine.Revision{OrderID: orderID, Number: number, Kind: engine.RevisionAmend, Status: engine.RevisionFreezing,
		Actor: "ann", Reason: "more disk", RequestedAt: Epoch,
		Input: &engine.AmendInput{
			Lines: []engine.LineInput{
				{ID: "L1", ProductCode: "SRV", Quantity: 2, Attributes: map[string]any{"size": "l", "backup": true}, Action: engine.ActionAdd},
				{ID: "L9", ProductCode: "DISK", Quantity: 1, ParentID: "L1", Action: engine.ActionAdd, AssetID: 7},
			},
			Attributes: map[string]any{"priority": "low", "tags": []any{"a", "b"}},
			Reason:     "more disk",
		},
		Diff: &engine.Diff{
			Kept:      []engine.DiffStep{{ID: 11, Name: "review", Status: engine.StepReady}},
			Cancelled: []engine.DiffStep{{ID: 12, Name: "activate", InstanceKey: "L1/server", Status: engine.StepPending}},
			Added:     []engine.DiffStep{{Name: "provision", InstanceKey: "L9/disk", Status: engine.StepReady}},
			Compensated: []engine.DiffStep{{ID: 13, Name: "provision", InstanceKey: "L1/server", Status: engine.StepCompleted,
				Compensation: "deprovision"}},
			Settling:          []engine.DiffStep{{ID: 14, Name: "notify", Status: engine.StepRunning}},
			LinesAdded:        []string{"L9"},
			LinesChanged:      []string{"L1"},
			LinesRemoved:      []string{"L2", "L3"},
			AttributesChanged: true,
		},
	}
}

// wantRevision fails the test unless got is want as stored: the same
// columns, and an input and diff that decode equal to what was written.
func wantRevision(t *testing.T, what string, got, want *engine.Revision) {
	t.Helper()
	if got == nil {
		t.Fatalf("%s = nil; want revision %d", what, want.ID)
	}
	if got.ID != want.ID || got.OrderID != want.OrderID || got.Number != want.Number || got.Kind != want.Kind ||
		got.Status != want.Status || got.Actor != want.Actor || got.Reason != want.Reason || !got.RequestedAt.Equal(want.RequestedAt) ||
		(got.AppliedAt == nil) != (want.AppliedAt == nil) || (want.AppliedAt != nil && !got.AppliedAt.Equal(*want.AppliedAt)) {
		t.Errorf("%s = %+v; want %+v", what, got, want)
	}
	if !reflect.DeepEqual(got.Input, want.Input) {
		t.Errorf("%s input = %+v; want %+v", what, got.Input, want.Input)
	}
	if !reflect.DeepEqual(got.Diff, want.Diff) {
		t.Errorf("%s diff = %+v; want %+v", what, got.Diff, want.Diff)
	}
}

func line(id, product string, qty int, parent string, pos int, attrs map[string]any) *engine.DecomposedLine {
	return &engine.DecomposedLine{LineInput: engine.LineInput{ID: id, ProductCode: product, Quantity: qty, Attributes: attrs,
		ParentID: parent, Action: engine.ActionAdd}, Position: pos, Status: engine.LineDecomposed, Revised: true}
}

func lineIDs(ls []*engine.DecomposedLine) []string {
	out := make([]string, len(ls))
	for i, l := range ls {
		out[i] = l.ID
	}
	return out
}

func linesByID(ls []*engine.DecomposedLine) map[string]*engine.DecomposedLine {
	out := map[string]*engine.DecomposedLine{}
	for _, l := range ls {
		out[l.ID] = l
	}
	return out
}

func planIDs(steps []*engine.StepRecord) []int {
	out := make([]int, len(steps))
	for i, s := range steps {
		out[i] = s.PlanID
	}
	return out
}

// sameSteps reports whether got are the steps want, by id, name and
// status, in order.
func sameSteps(got []*engine.ExistingStep, want ...*engine.StepRecord) bool {
	if len(got) != len(want) {
		return false
	}
	for i, s := range got {
		if s.ID != want[i].ID || s.Name != want[i].Name || s.Status != want[i].Status {
			return false
		}
	}
	return true
}

func showCross(m map[string][]*engine.ExistingStep) string {
	out := "{"
	for name, ss := range m {
		out += " " + name + ":"
		for _, s := range ss {
			out += fmt.Sprintf(" %d %s", s.ID, s.Status)
		}
	}
	return out + " }"
}
