package storetest

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/batonhq/baton/engine"
)

var catalogTests = map[string]func(t *testing.T, b *bundle){
	"CurrentCatalogEmpty": func(t *testing.T, b *bundle) {
		c, err := b.store.CurrentCatalog(b.ctx)
		if err != nil || c != nil {
			t.Fatalf("CurrentCatalog on an empty store = %v, %v; want nil, nil", c, err)
		}
	},
	"InsertCatalogNumbersVersions": func(t *testing.T, b *bundle) {
		var first, second *engine.CatalogRecord
		b.write(t, func(tx engine.Tx) (err error) { first, err = tx.InsertCatalog(b.ctx, "one", "c1"); return })
		b.write(t, func(tx engine.Tx) (err error) { second, err = tx.InsertCatalog(b.ctx, "two", "c2"); return })
		if first.Version != 1 || second.Version != 2 {
			t.Fatalf("versions %d, %d; want 1, 2", first.Version, second.Version)
		}
		cur, err := b.store.CurrentCatalog(b.ctx)
		if err != nil || cur.ID != second.ID || cur.Document != "two" || cur.Checksum != "c2" || !cur.CreatedAt.Equal(Epoch) {
			t.Fatalf("CurrentCatalog = %+v, %v; want version 2 created at %v", cur, err, Epoch)
		}
	},
	"CatalogByID": func(t *testing.T, b *bundle) {
		var c *engine.CatalogRecord
		b.write(t, func(tx engine.Tx) (err error) { c, err = tx.InsertCatalog(b.ctx, "doc", "sum"); return })
		got, err := b.store.CatalogByID(b.ctx, c.ID)
		if err != nil || got.Document != "doc" {
			t.Fatalf("CatalogByID(%d) = %+v, %v", c.ID, got, err)
		}
		_, err = b.store.CatalogByID(b.ctx, c.ID+100)
		wantCode(t, "CatalogByID(missing)", err, engine.CodeNotFound)
		b.write(t, func(tx engine.Tx) error {
			_, err := tx.CatalogByID(b.ctx, c.ID+100)
			wantCode(t, "Tx.CatalogByID(missing)", err, engine.CodeNotFound)
			return nil
		})
	},
}

var accountTests = map[string]func(t *testing.T, b *bundle){
	"EnsureAccountOnce": func(t *testing.T, b *bundle) {
		var a, a2 int
		b.write(t, func(tx engine.Tx) (err error) { a, err = tx.EnsureAccount(b.ctx, "acct"); return })
		b.write(t, func(tx engine.Tx) (err error) { a2, err = tx.EnsureAccount(b.ctx, "acct"); return })
		if a == 0 || a != a2 {
			t.Fatalf("EnsureAccount twice = %d, %d; want one non-zero id", a, a2)
		}
	},
	"AccountStateNew": func(t *testing.T, b *bundle) {
		st, err := b.store.AccountState(b.ctx, "nobody")
		if err != nil || st.ID != "nobody" || len(st.Items) != 0 || len(st.Steps) != 0 {
			t.Fatalf("AccountState(new) = %+v, %v", st, err)
		}
	},
	"LockAccount": func(t *testing.T, b *bundle) {
		b.write(t, func(tx engine.Tx) error {
			ref, err := tx.EnsureAccount(b.ctx, "acct")
			if err != nil {
				return err
			}
			st, err := tx.LockAccount(b.ctx, ref, "acct")
			if err == nil && st.ID != "acct" {
				t.Errorf("LockAccount = %+v", st)
			}
			return err
		})
	},
}

var orderTests = map[string]func(t *testing.T, b *bundle){
	"InsertOrderAssignsIDs": func(t *testing.T, b *bundle) {
		f := b.seedOrder(t, "o1")
		if f.order.ID == 0 || f.order.Plan.ID == 0 || f.order.LineIDs["L1"] == 0 || f.order.Items[0].ID == 0 {
			t.Fatalf("ids not assigned: order %d plan %d lines %v item %d", f.order.ID, f.order.Plan.ID, f.order.LineIDs, f.order.Items[0].ID)
		}
		if len(f.steps) != 3 {
			t.Fatalf("InsertOrder returned steps %v; want 3", f.steps)
		}
		p := f.steps["provision"]
		if p.Status != engine.StepReady || p.ReadyAt == nil || !p.ReadyAt.Equal(Epoch) || p.System != "crm" || p.ItemID != f.order.Items[0].ID {
			t.Errorf("provision = %+v; want READY since %v, system crm, on the item", p, Epoch)
		}
		if a := f.steps["activate"]; a.Pending != 1 || a.ReadyAt != nil {
			t.Errorf("activate = %+v; want PENDING with one prerequisite", a)
		}
	},
	// A plan larger than the batches the store writes small ones in (on
	// PostgreSQL, steps and dependencies past 2,000 rows go by COPY) is
	// stored whole and as given: every step, its text verbatim (tabs,
	// newlines, backslashes and quotes, which COPY's text format escapes),
	// its nulls null, and every dependency.
	"InsertOrderLargePlan": func(t *testing.T, b *bundle) {
		const n = 2500
		var cat *engine.CatalogRecord
		var ref int
		b.write(t, func(tx engine.Tx) (err error) {
			if cat, err = tx.InsertCatalog(b.ctx, "doc", "sum"); err != nil {
				return err
			}
			ref, err = tx.EnsureAccount(b.ctx, "acct-large")
			return err
		})
		o := newOrder("large", ref, cat.ID)
		grp := o.Plan.Graph.Groups[0]
		o.Plan.Graph.Steps, o.Plan.Graph.Deps = nil, nil
		for i := range n {
			st := &engine.NewStep{Name: fmt.Sprintf("step\t%d\n\\ \"q\"", i), Scenario: "provide", Type: engine.AutoTask, Scope: engine.ScopePlan,
				Group: grp, Status: engine.StepReady}
			if i%2 == 1 {
				st.System = "crm"
			}
			if i > 0 {
				st.Status, st.Pending = engine.StepPending, 1
				o.Plan.Graph.Deps = append(o.Plan.Graph.Deps, &engine.NewDep{Step: st, Prereq: o.Plan.Graph.Steps[i-1]})
			}
			o.Plan.Graph.Steps = append(o.Plan.Graph.Steps, st)
		}
		var first int
		b.write(t, func(tx engine.Tx) error {
			recs, err := tx.InsertOrder(b.ctx, o)
			if err != nil {
				return err
			}
			if len(recs) != n {
				t.Fatalf("InsertOrder returned %d steps; want %d", len(recs), n)
			}
			first = recs[0].ID
			return nil
		})
		b.write(t, func(tx engine.Tx) error {
			steps, err := tx.LockPlanSteps(b.ctx, o.Plan.ID)
			if err != nil {
				return err
			}
			if len(steps) != n {
				t.Fatalf("the plan has %d steps; want %d", len(steps), n)
			}
			byName := map[string]*engine.StepRecord{}
			for _, s := range steps {
				byName[s.Name] = s
			}
			for i, want := range o.Plan.Graph.Steps {
				s := byName[want.Name]
				if s == nil {
					t.Fatalf("step %d (%q) not stored as named", i, want.Name)
				}
				if s.System != want.System || s.Status != want.Status || s.Pending != want.Pending || s.OrderID != o.ID {
					t.Fatalf("step %d = system %q, %s, pending %d, order %d; want %q, %s, %d, %d",
						i, s.System, s.Status, s.Pending, s.OrderID, want.System, want.Status, want.Pending, o.ID)
				}
			}
			released, err := tx.ReleaseDependents(b.ctx, []int{first})
			if err != nil {
				return err
			}
			if len(released) != 1 || released[0].Name != o.Plan.Graph.Steps[1].Name {
				t.Errorf("ReleaseDependents(first) = %v; want the second step", names(released))
			}
			return nil
		})
	},
	"OrderByExternalID": func(t *testing.T, b *bundle) {
		f := b.seedOrder(t, "o1")
		o, err := b.store.OrderByExternalID(b.ctx, "o1")
		if err != nil || o == nil || o.ID != f.order.ID || o.InputHash != "hash-o1" || o.Status != engine.OrderSubmitted ||
			o.PlanID != f.order.Plan.ID || o.CatalogID != f.catalog.ID {
			t.Fatalf("OrderByExternalID = %+v, %v", o, err)
		}
		if o, err := b.store.OrderByExternalID(b.ctx, "none"); o != nil || err != nil {
			t.Fatalf("OrderByExternalID(missing) = %+v, %v; want nil, nil", o, err)
		}
	},
	"LoadOrder": func(t *testing.T, b *bundle) {
		f := b.seedOrder(t, "o1")
		b.write(t, func(tx engine.Tx) error {
			o, err := tx.LoadOrder(b.ctx, f.order.ID)
			if err != nil {
				return err
			}
			if o.Plan == nil || o.Plan.ID != f.order.Plan.ID || len(o.Lines) != 1 || len(o.Items) != 1 || len(o.Steps) != 3 {
				t.Errorf("LoadOrder = plan %+v, %d lines, %d items, %d steps", o.Plan, len(o.Lines), len(o.Items), len(o.Steps))
			}
			_, err = tx.LoadOrder(b.ctx, f.order.ID+100)
			wantCode(t, "LoadOrder(missing)", err, engine.CodeNotFound)
			return nil
		})
	},
	"MergeAttributes": func(t *testing.T, b *bundle) {
		f := b.seedOrder(t, "o1")
		b.write(t, func(tx engine.Tx) error {
			return tx.MergeAttributes(b.ctx, map[int]map[string]any{f.order.ID: {"ref": "R1", "nested": map[string]any{"a": true}}},
				map[int]map[string]any{f.order.Items[0].ID: {"ip": "10.0.0.1"}})
		})
		ctxs, err := b.store.StepContexts(b.ctx, ids(f.steps["provision"]))
		if err != nil {
			t.Fatal(err)
		}
		ec := ctxs[f.steps["provision"].ID]
		if ec.Order.Attributes["priority"] != "high" || ec.Order.Attributes["ref"] != "R1" || ec.Item.Attributes["ip"] != "10.0.0.1" || ec.Item.Attributes["size"] != "m" {
			t.Fatalf("after MergeAttributes: order %v, item %v; want old and new keys", ec.Order.Attributes, ec.Item.Attributes)
		}
		if n, ok := ec.Order.Attributes["nested"].(map[string]any); !ok || n["a"] == nil {
			t.Fatalf("nested attribute = %#v; want an object", ec.Order.Attributes["nested"])
		}
	},
}

var planTests = map[string]func(t *testing.T, b *bundle){
	"GenericPlanConflict": func(t *testing.T, b *bundle) {
		var cat *engine.CatalogRecord
		b.write(t, func(tx engine.Tx) (err error) { cat, err = tx.InsertCatalog(b.ctx, "doc", "sum"); return })
		plan := func() *engine.NewPlan {
			g := &engine.PlannedGroup{Name: "lane", Scenario: "s"}
			s := &engine.NewStep{Name: "notify", Scenario: "s", Type: engine.AutoTask, Scope: engine.ScopePlan, Group: g, Status: engine.StepReady}
			return &engine.NewPlan{Usage: engine.UsageGeneric, Type: "ticket", SubjectID: "T1", CatalogID: cat.ID,
				Graph: &engine.PlanRows{Groups: []*engine.PlannedGroup{g}, Steps: []*engine.NewStep{s}}}
		}
		b.write(t, func(tx engine.Tx) error { _, err := tx.InsertPlan(b.ctx, plan()); return err })
		_, err := b.store.Write(b.ctx, func(tx engine.Tx) error { _, err := tx.InsertPlan(b.ctx, plan()); return err })
		wantCode(t, "InsertPlan(same type and subject)", err, engine.CodeConflict)
		b.write(t, func(tx engine.Tx) error {
			p, err := tx.PlanBySubject(b.ctx, "ticket", "T1")
			if err == nil && (p == nil || p.Usage != engine.UsageGeneric || p.Status != engine.PlanPending || p.OpenSteps != 1) {
				t.Errorf("PlanBySubject = %+v", p)
			}
			if p, err := tx.PlanBySubject(b.ctx, "ticket", "T2"); p != nil || err != nil {
				t.Errorf("PlanBySubject(missing) = %+v, %v; want nil, nil", p, err)
			}
			return err
		})
	},
	"ReleaseDependents": func(t *testing.T, b *bundle) {
		f := b.seedOrder(t, "o1")
		b.write(t, func(tx engine.Tx) error {
			deps, err := tx.ReleaseDependents(b.ctx, ids(f.steps["provision"], f.steps["provision"]))
			if err == nil && (len(deps) != 1 || deps[0].Name != "activate" || deps[0].Pending != 0) {
				t.Errorf("ReleaseDependents = %v; want activate with 0 pending", names(deps))
			}
			return err
		})
	},
	"AddPending": func(t *testing.T, b *bundle) {
		f := b.seedOrder(t, "o1")
		b.write(t, func(tx engine.Tx) error {
			if err := tx.AddPending(b.ctx, map[int]int{f.steps["activate"].ID: 2}); err != nil {
				return err
			}
			got, err := tx.LockSteps(b.ctx, ids(f.steps["activate"]))
			if err == nil && got[0].Pending != 3 {
				t.Errorf("pending after AddPending(2) = %d; want 3", got[0].Pending)
			}
			return err
		})
	},
	"StartAndCompletePlan": func(t *testing.T, b *bundle) {
		f := b.seedOrder(t, "o1")
		b.write(t, func(tx engine.Tx) error {
			started, err := tx.StartPlans(b.ctx, []int{f.order.Plan.ID})
			if err != nil {
				return err
			}
			if len(started) != 1 || started[0].Status != engine.PlanStatus("IN_PROGRESS") {
				t.Errorf("StartPlans = %+v", started)
			}
			again, err := tx.StartPlans(b.ctx, []int{f.order.Plan.ID})
			if err == nil && len(again) != 0 {
				t.Errorf("StartPlans again = %+v; want none (already started)", again)
			}
			finished, err := tx.AdjustOpenSteps(b.ctx, map[int]int{f.order.Plan.ID: -3})
			if err != nil {
				return err
			}
			if len(finished) != 1 || finished[0].OpenSteps != 0 {
				t.Fatalf("AdjustOpenSteps(-3) = %+v; want the plan, finished", finished)
			}
			return tx.CompletePlan(b.ctx, finished[0])
		})
		o, err := b.store.OrderByExternalID(b.ctx, "o1")
		if err != nil || o.Status != engine.OrderCompleted {
			t.Fatalf("order after CompletePlan = %+v, %v", o, err)
		}
	},
	"Signals": func(t *testing.T, b *bundle) {
		f := b.seedOrder(t, "o1")
		b.write(t, func(tx engine.Tx) error {
			if err := tx.RecordSignal(b.ctx, f.order.Plan.ID, "approved", map[string]any{"by": "ann"}); err != nil {
				return err
			}
			if err := tx.RecordSignal(b.ctx, f.order.Plan.ID, "paid", nil); err != nil {
				return err
			}
			sig, err := tx.LockPlanSignals(b.ctx, f.order.Plan.ID)
			if err == nil && (len(sig) != 2 || sig["approved"].(map[string]any)["by"] != "ann") {
				t.Errorf("LockPlanSignals = %v", sig)
			}
			planID, pauses, err := tx.WaitingPauses(b.ctx, f.order.ID)
			if err == nil && (planID != f.order.Plan.ID || len(pauses) != 0) {
				t.Errorf("WaitingPauses = %d, %v", planID, names(pauses))
			}
			_, _, err2 := tx.WaitingPauses(b.ctx, f.order.ID+100)
			wantCode(t, "WaitingPauses(missing)", err2, engine.CodeNotFound)
			return err
		})
	},
	"PlanTimelines": func(t *testing.T, b *bundle) {
		f := b.seedOrder(t, "o1")
		tls, err := b.store.PlanTimelines(b.ctx, []int{f.order.Plan.ID})
		if err != nil || len(tls) != 1 || len(tls[0].Steps) != 3 {
			t.Fatalf("PlanTimelines = %+v, %v", tls, err)
		}
		for _, s := range tls[0].Steps {
			if want := s.ID == f.steps["activate"].ID; want != slices.Contains(s.Prereqs, f.steps["provision"].ID) {
				t.Errorf("step %s prerequisites %v", s.Name, s.Prereqs)
			}
			if s.Scenario != "provide" || s.Jeopardy != engine.OnTrack || s.Type == "" || len(s.External) != 0 {
				t.Errorf("step %s: scenario %q jeopardy %q type %q external %v", s.Name, s.Scenario, s.Jeopardy, s.Type, s.External)
			}
		}
		if g := tls[0].Groups; len(g) != 1 || g[0].Name != "delivery" || g[0].Scenario != "provide" || tls[0].Steps[0].GroupID != g[0].ID {
			t.Errorf("groups %+v, first step's group %d", g, tls[0].Steps[0].GroupID)
		}
	},
	"StepDurations": func(t *testing.T, b *bundle) {
		// Three orders' "review" completed after 1h, 2h and 3h, and one
		// "provision": the last two reviews (limit 2), newest first.
		for i := range 3 {
			f := b.seedOrder(t, fmt.Sprintf("o%d", i))
			b.write(t, func(tx engine.Tx) error {
				r, p := *f.steps["review"], *f.steps["provision"]
				ready := Epoch.Add(time.Duration(i) * 24 * time.Hour)
				done := ready.Add(time.Duration(i+1) * time.Hour)
				r.Status, r.ReadyAt, r.CompletedAt = engine.StepCompleted, &ready, &done
				recs := []*engine.StepRecord{&r}
				if i == 0 {
					p.Status, p.ReadyAt, p.CompletedAt = engine.StepCompleted, &ready, &done
					recs = append(recs, &p)
				}
				if i == 1 {
					// A callout an operator marked complete from fallout
					// (a note) took 9h: not the system's duration.
					late := ready.Add(9 * time.Hour)
					p.Status, p.ReadyAt, p.CompletedAt, p.Note = engine.StepCompleted, &ready, &late, "done by phone"
					recs = append(recs, &p)
				}
				if i == 2 {
					// One an operator retried took 8h (fallout included).
					late := ready.Add(8 * time.Hour)
					p.Status, p.ReadyAt, p.CompletedAt, p.AttemptBase, p.Attempts = engine.StepCompleted, &ready, &late, 1, 2
					recs = append(recs, &p)
				}
				return tx.SaveSteps(b.ctx, recs)
			})
		}
		review, provision := engine.StepDefKey{Scenario: "provide", Name: "review"}, engine.StepDefKey{Scenario: "provide", Name: "provision"}
		other := engine.StepDefKey{Scenario: "other", Name: "review"}
		got, err := b.store.StepDurations(b.ctx, []engine.StepDefKey{review, provision, other}, 2)
		if err != nil {
			t.Fatal(err)
		}
		dur := func(ss []engine.DurationSample) []time.Duration {
			var out []time.Duration
			for _, s := range ss {
				out = append(out, s.CompletedAt.Sub(s.ReadyAt))
			}
			return out
		}
		if d := dur(got[review]); !slices.Equal(d, []time.Duration{3 * time.Hour, 2 * time.Hour}) {
			t.Errorf("review durations %v; want [3h 2h]", d)
		}
		if d := dur(got[provision]); !slices.Equal(d, []time.Duration{time.Hour}) {
			t.Errorf("provision durations %v; want [1h]", d)
		}
		if ss, ok := got[other]; !ok || len(ss) != 0 {
			t.Errorf("other scenario: %v, %v; want an empty history", ss, ok)
		}
	},
}

var claimTests = map[string]func(t *testing.T, b *bundle){
	"ClaimReadyByType": func(t *testing.T, b *bundle) {
		b.seedOrder(t, "o1")
		b.write(t, func(tx engine.Tx) error {
			got, err := tx.ClaimReady(b.ctx, []engine.StepType{engine.Callout, engine.AutoTask}, 10)
			if err == nil && !slices.Equal(names(got), []string{"provision"}) {
				t.Errorf("ClaimReady(CALLOUT, AUTO_TASK) = %v; want [provision]", names(got))
			}
			return err
		})
	},
	"SaveStepsAndLockSteps": func(t *testing.T, b *bundle) {
		f := b.seedOrder(t, "o1")
		until := Epoch.Add(time.Minute)
		b.write(t, func(tx engine.Tx) error {
			s := *f.steps["provision"]
			s.Status, s.LeaseOwner, s.LeaseUntil, s.Attempts, s.Output = engine.StepRunning, "w1", &until, 1, map[string]any{"k": "v"}
			if err := tx.SaveSteps(b.ctx, []*engine.StepRecord{&s}); err != nil {
				return err
			}
			got, err := tx.LockSteps(b.ctx, []int{s.ID, s.ID + 1000})
			if err != nil {
				return err
			}
			if len(got) != 1 || got[0].Status != engine.StepRunning || got[0].LeaseOwner != "w1" || !got[0].LeaseUntil.Equal(until) ||
				got[0].Attempts != 1 || got[0].Output["k"] != "v" || got[0].Pending != 0 {
				t.Errorf("LockSteps after SaveSteps = %+v", got)
			}
			return nil
		})
	},
	"InsertAttempts": func(t *testing.T, b *bundle) {
		f := b.seedOrder(t, "o1")
		b.write(t, func(tx engine.Tx) error {
			return tx.InsertAttempts(b.ctx, []*engine.Attempt{{StepID: f.steps["provision"].ID, Number: 1, Outcome: "SUCCEEDED",
				StartedAt: Epoch, FinishedAt: Epoch.Add(time.Second), HTTPStatus: 200, Worker: "w1"}})
		})
	},
}

var timerTests = map[string]func(t *testing.T, b *bundle){
	"DueExpiredJeopardy": func(t *testing.T, b *bundle) {
		f := b.seedOrder(t, "o1")
		if _, ok, err := b.store.NextDue(b.ctx); ok || err != nil {
			t.Fatalf("NextDue with no timer = %v, %v; want none", ok, err)
		}
		wake, lease, jat := Epoch.Add(3*time.Minute), Epoch.Add(time.Minute), Epoch.Add(2*time.Minute)
		b.write(t, func(tx engine.Tx) error {
			p, a, r := *f.steps["provision"], *f.steps["activate"], *f.steps["review"]
			p.Status, p.LeaseUntil = engine.StepRunning, &lease
			a.WakeAt = &wake
			r.JeopardyAt = &jat
			return tx.SaveSteps(b.ctx, []*engine.StepRecord{&p, &a, &r})
		})
		if at, ok, err := b.store.NextDue(b.ctx); !ok || err != nil || !at.Equal(lease) {
			t.Fatalf("NextDue = %v, %v, %v; want %v", at, ok, err, lease)
		}
		b.write(t, func(tx engine.Tx) error {
			now := Epoch.Add(time.Hour)
			due, err := tx.DueSteps(b.ctx, now, 10)
			if err != nil {
				return err
			}
			exp, err := tx.ExpiredLeases(b.ctx, now, 10)
			if err != nil {
				return err
			}
			jeo, err := tx.JeopardyDue(b.ctx, now, 10)
			if err != nil {
				return err
			}
			if !slices.Equal(names(due), []string{"activate"}) || !slices.Equal(names(exp), []string{"provision"}) || !slices.Equal(names(jeo), []string{"review"}) {
				t.Errorf("due %v, expired %v, jeopardy %v", names(due), names(exp), names(jeo))
			}
			if early, err := tx.DueSteps(b.ctx, Epoch, 10); err != nil || len(early) != 0 {
				t.Errorf("DueSteps before the timer = %v, %v", names(early), err)
			}
			return nil
		})
	},
}

var eventTests = map[string]func(t *testing.T, b *bundle){
	"EmitInCommitOrder": func(t *testing.T, b *bundle) {
		f := b.seedOrder(t, "o1")
		if id, err := b.store.LastEventID(b.ctx); err != nil || id != 0 {
			t.Fatalf("LastEventID on no events = %d, %v", id, err)
		}
		first := b.write(t, func(tx engine.Tx) error {
			tx.Emit(&engine.Event{Kind: engine.EventOrderStatus, OrderID: f.order.ID, To: "IN_PROGRESS"},
				&engine.Event{Kind: engine.EventStepStatus, OrderID: f.order.ID, PlanID: f.order.Plan.ID, StepID: f.steps["provision"].ID,
					From: "READY", To: "RUNNING", Step: f.steps["provision"].Snapshot()})
			return nil
		})
		second := b.write(t, func(tx engine.Tx) error {
			tx.Emit(&engine.Event{Kind: engine.EventSystemStatus, System: "crm", To: "OFFLINE", Actor: "ann"})
			return nil
		})
		if len(first) != 2 || len(second) != 1 || !(first[0].ID < first[1].ID && first[1].ID < second[0].ID) || !first[0].At.Equal(Epoch) {
			t.Fatalf("events %+v then %+v; want ids in commit order, at the transaction's time", first, second)
		}
		all, err := b.store.EventsAfter(b.ctx, 0, 10)
		if err != nil || len(all) != 3 || all[1].Step == nil || all[1].Step.Name != "provision" || all[2].System != "crm" {
			t.Fatalf("EventsAfter(0) = %+v, %v", all, err)
		}
		if last, err := b.store.LastEventID(b.ctx); err != nil || last != second[0].ID {
			t.Fatalf("LastEventID = %d, %v; want %d", last, err, second[0].ID)
		}
		if rest, err := b.store.EventsAfter(b.ctx, first[1].ID, 10); err != nil || len(rest) != 1 {
			t.Fatalf("EventsAfter(cursor) = %+v, %v", rest, err)
		}
		if one, err := b.store.EventsAfter(b.ctx, 0, 1); err != nil || len(one) != 1 {
			t.Fatalf("EventsAfter(limit 1) = %d events, %v", len(one), err)
		}
		plan, err := b.store.EventsFor(b.ctx, engine.EventQuery{PlanID: f.order.Plan.ID, Limit: 10})
		if err != nil || len(plan) != 1 || plan[0].StepID != f.steps["provision"].ID {
			t.Fatalf("EventsFor(plan) = %+v, %v", plan, err)
		}
		order, err := b.store.EventsFor(b.ctx, engine.EventQuery{OrderID: f.order.ID, Limit: 10})
		if err != nil || len(order) != 2 {
			t.Fatalf("EventsFor(order) = %+v, %v", order, err)
		}
	},
	"RolledBackEmitsNothing": func(t *testing.T, b *bundle) {
		boom := errors.New("boom")
		_, err := b.store.Write(b.ctx, func(tx engine.Tx) error {
			tx.Emit(&engine.Event{Kind: engine.EventSystemStatus, System: "crm", To: "OFFLINE"})
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("Write = %v; want fn's error", err)
		}
		if id, err := b.store.LastEventID(b.ctx); err != nil || id != 0 {
			t.Fatalf("LastEventID after a rollback = %d, %v; want 0", id, err)
		}
	},
}

var systemTests = map[string]func(t *testing.T, b *bundle){
	"LockSystemCreatesOnline": func(t *testing.T, b *bundle) {
		b.write(t, func(tx engine.Tx) error {
			st, err := tx.LockSystem(b.ctx, "crm")
			if err == nil && (st.Name != "crm" || st.Status != engine.SystemOnline || st.Failures != 0 || st.OpenUntil != nil || st.ReleaseAt != nil) {
				t.Errorf("LockSystem of a new system = %+v; want ONLINE with nothing else", st)
			}
			return err
		})
		sts, err := b.store.SystemStates(b.ctx)
		if err != nil || sts["crm"] == nil || sts["crm"].Held(Epoch) {
			t.Fatalf("SystemStates = %+v, %v; want crm, not held", sts, err)
		}
	},
	"SaveSystemRoundTrips": func(t *testing.T, b *bundle) {
		open, release := Epoch.Add(time.Minute), Epoch.Add(59*time.Second)
		want := engine.SystemState{Name: "crm", Status: engine.SystemOffline, Failures: 2, OpenUntil: &open, ReleaseAt: &release,
			ChangedBy: "ann", UpdatedAt: Epoch.Add(time.Second)}
		b.write(t, func(tx engine.Tx) error {
			if _, err := tx.LockSystem(b.ctx, "crm"); err != nil {
				return err
			}
			return tx.SaveSystem(b.ctx, &want)
		})
		var got *engine.SystemState
		b.write(t, func(tx engine.Tx) (err error) {
			got, err = tx.LockSystem(b.ctx, "crm")
			return
		})
		sts, err := b.store.SystemStates(b.ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, st := range []*engine.SystemState{got, sts["crm"]} {
			if st == nil || st.Status != want.Status || st.Failures != 2 || st.ChangedBy != "ann" || !st.UpdatedAt.Equal(want.UpdatedAt) ||
				st.OpenUntil == nil || !st.OpenUntil.Equal(open) || st.ReleaseAt == nil || !st.ReleaseAt.Equal(release) {
				t.Fatalf("system after SaveSystem = %+v; want %+v", st, want)
			}
		}
		b.write(t, func(tx engine.Tx) error {
			cleared := want
			cleared.Status, cleared.OpenUntil, cleared.ReleaseAt, cleared.ChangedBy = engine.SystemOnline, nil, nil, ""
			return tx.SaveSystem(b.ctx, &cleared)
		})
		if sts, err = b.store.SystemStates(b.ctx); err != nil || sts["crm"].OpenUntil != nil || sts["crm"].ReleaseAt != nil || sts["crm"].ChangedBy != "" {
			t.Fatalf("system after clearing = %+v, %v; want no times and no actor", sts["crm"], err)
		}
	},
	"ClearSystemFailures": func(t *testing.T, b *bundle) {
		b.write(t, func(tx engine.Tx) error { return tx.ClearSystemFailures(b.ctx, "crm") })
		if sts, err := b.store.SystemStates(b.ctx); err != nil || sts["crm"] != nil {
			t.Fatalf("ClearSystemFailures of an unknown system created %+v, %v", sts["crm"], err)
		}
		b.write(t, func(tx engine.Tx) error {
			st, err := tx.LockSystem(b.ctx, "crm")
			if err != nil {
				return err
			}
			st.Failures = 3
			return tx.SaveSystem(b.ctx, st)
		})
		b.write(t, func(tx engine.Tx) error { return tx.ClearSystemFailures(b.ctx, "crm") })
		if sts, err := b.store.SystemStates(b.ctx); err != nil || sts["crm"] == nil || sts["crm"].Failures != 0 {
			t.Fatalf("after ClearSystemFailures: %+v, %v; want 0 failures", sts["crm"], err)
		}
	},
	"HeldStepsAndCounts": func(t *testing.T, b *bundle) {
		f := b.seedOrder(t, "o1")
		b.write(t, func(tx engine.Tx) error {
			s := *f.steps["provision"]
			s.Status = engine.StepOnHold
			return tx.SaveSteps(b.ctx, []*engine.StepRecord{&s})
		})
		counts, err := b.store.HeldCounts(b.ctx)
		if err != nil || counts["crm"] != 1 {
			t.Fatalf("HeldCounts = %v, %v", counts, err)
		}
		b.write(t, func(tx engine.Tx) error {
			held, err := tx.HeldSteps(b.ctx, "crm", 10)
			if err == nil && !slices.Equal(names(held), []string{"provision"}) {
				t.Errorf("HeldSteps = %v", names(held))
			}
			return err
		})
	},
}

var assetTests = map[string]func(t *testing.T, b *bundle){
	"OrderAssetLines": func(t *testing.T, b *bundle) {
		f := b.seedOrder(t, "o1")
		b.write(t, func(tx engine.Tx) error {
			oa, lines, err := tx.OrderAssetLines(b.ctx, f.order.ID)
			if err != nil {
				return err
			}
			if oa.OrderID != f.order.ID || oa.AccountID != "acct-o1" || oa.AccountRef != f.order.AccountRef {
				t.Errorf("OrderAssetLines order = %+v", oa)
			}
			want := engine.AssetLine{LineID: f.order.LineIDs["L1"], Product: "SRV", Quantity: 1, Action: engine.ActionAdd}
			if len(lines) != 1 || lines[0].LineID != want.LineID || lines[0].Product != want.Product || lines[0].Quantity != 1 ||
				lines[0].Action != engine.ActionAdd || lines[0].Attributes["size"] != "m" || lines[0].AssetID != 0 {
				t.Errorf("OrderAssetLines lines = %+v; want [%+v with size m]", lines, want)
			}
			_, _, err = tx.OrderAssetLines(b.ctx, f.order.ID+1000)
			wantCode(t, "OrderAssetLines(unknown)", err, engine.CodeNotFound)
			return nil
		})
	},
	"ApplyAssetChanges": func(t *testing.T, b *bundle) {
		f := b.seedOrder(t, "o1")
		lineID := f.order.LineIDs["L1"]
		qty := func(n int) *int { return &n }
		apply := func(changes ...engine.AssetChange) {
			b.write(t, func(tx engine.Tx) error {
				return tx.ApplyAssetChanges(b.ctx, &engine.OrderAssets{OrderID: f.order.ID, AccountRef: f.order.AccountRef,
					AccountID: "acct-o1", Changes: changes})
			})
		}
		read := func() []*engine.Asset {
			as, err := b.store.Assets(b.ctx, engine.AssetQuery{AccountID: "acct-o1"})
			if err != nil {
				t.Fatal(err)
			}
			return as
		}
		apply(engine.AssetChange{LineID: lineID, Product: "SRV", Quantity: qty(2), Attributes: map[string]any{"size": "m", "os": "linux"},
			Status: engine.AssetActive})
		as := read()
		if len(as) != 1 || as[0].Product != "SRV" || as[0].Quantity != 2 || as[0].Status != engine.AssetActive || as[0].Attributes["os"] != "linux" ||
			as[0].OrderID != f.order.ID || as[0].OrderLineID != lineID || as[0].LastOrderID != f.order.ID || !as[0].CreatedAt.Equal(Epoch) {
			t.Fatalf("assets after an ADD = %+v", as)
		}
		id := as[0].ID
		b.clock.Advance(time.Minute)
		apply(engine.AssetChange{LineID: lineID, AssetID: id, Quantity: qty(3), Attributes: map[string]any{"size": "l"}})
		if as = read(); as[0].Quantity != 3 || as[0].Attributes["size"] != "l" || as[0].Attributes["os"] != "linux" ||
			as[0].Status != engine.AssetActive || !as[0].UpdatedAt.Equal(Epoch.Add(time.Minute)) {
			t.Fatalf("asset after a CHANGE = %+v; want quantity 3, size merged, os kept", as[0])
		}
		apply(engine.AssetChange{LineID: lineID, AssetID: id, Status: engine.AssetSuspended})
		if as = read(); as[0].Status != engine.AssetSuspended || as[0].Quantity != 3 {
			t.Fatalf("asset after a SUSPEND = %+v", as[0])
		}
		if other, err := b.store.Assets(b.ctx, engine.AssetQuery{AccountID: "acct-other"}); err != nil || len(other) != 0 {
			t.Fatalf("Assets of another account = %v, %v; want none", other, err)
		}
	},
}

var txTests = map[string]func(t *testing.T, b *bundle){
	"NowIsTheClock": func(t *testing.T, b *bundle) {
		b.clock.Advance(time.Hour)
		b.write(t, func(tx engine.Tx) error {
			if !tx.Now().Equal(Epoch.Add(time.Hour)) {
				t.Errorf("Tx.Now = %v; want the clock's %v", tx.Now(), Epoch.Add(time.Hour))
			}
			return nil
		})
	},
	"ErrorRollsBack": func(t *testing.T, b *bundle) {
		_, err := b.store.Write(b.ctx, func(tx engine.Tx) error {
			if _, err := tx.InsertCatalog(b.ctx, "doc", "sum"); err != nil {
				return err
			}
			return engine.Errorf(engine.CodeInvalidState, "no")
		})
		wantCode(t, "Write(fn fails)", err, engine.CodeInvalidState)
		if c, err := b.store.CurrentCatalog(b.ctx); c != nil || err != nil {
			t.Fatalf("CurrentCatalog after a rollback = %+v, %v; want nil", c, err)
		}
	},
}
