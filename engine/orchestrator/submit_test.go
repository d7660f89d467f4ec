package orchestrator_test

import (
	"context"
	"fmt"
	"github.com/batonhq/baton/engine"
	"github.com/batonhq/baton/engine/enginetest"
	"github.com/batonhq/baton/engine/entstore"
	"github.com/batonhq/baton/engine/orchestrator"
	"github.com/batonhq/baton/ent"
	"github.com/batonhq/baton/ent/order"
	"github.com/batonhq/baton/ent/step"
	"strings"
	"sync"
	"testing"
)

// testBundle is what an engine test works with.
type testBundle struct {
	ctx    context.Context
	store  *entstore.Store
	engine *orchestrator.Engine
	clock  *engine.FakeClock
	client *ent.Client
}

func setup(t *testing.T, url string) *testBundle {
	t.Helper()
	ctx := context.Background()
	clock := engine.NewFakeClock(enginetest.Epoch)
	st := openStore(t, url, clock)
	e := orchestrator.New(orchestrator.Config{Store: st, Clock: clock})
	if _, err := e.ImportCatalog(ctx, enginetest.ExampleCatalog(t)); err != nil {
		t.Fatalf("import example catalog: %v", err)
	}
	return &testBundle{ctx: ctx, store: st, engine: e, clock: clock, client: st.Client()}
}

// submitAtOnce submits the orders, each from a goroutine of its own, all
// at once, and returns what each submission returned, in order.
func (tb *testBundle) submitAtOnce(ins []engine.OrderInput) ([]*engine.OrderRecord, []error) {
	recs, errs := make([]*engine.OrderRecord, len(ins)), make([]error, len(ins))
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i, in := range ins {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			recs[i], errs[i] = tb.engine.SubmitOrder(tb.ctx, in)
		}()
	}
	close(start)
	wg.Wait()
	return recs, errs
}

func proServerOrder(externalID, account string) engine.OrderInput {
	return engine.OrderInput{
		ExternalID: externalID, AccountID: account,
		Attributes: map[string]any{"shipTo": "1 Main St"},
		Lines:      []engine.LineInput{{ID: "L1", ProductCode: "PRO-SERVER-PKG", Quantity: 1}},
	}
}

func TestSubmitOrder(t *testing.T) {
	t.Parallel()
	enginetest.EachBackend(t, func(t *testing.T, url string) {
		tb := setup(t, url)
		rec, err := tb.engine.SubmitOrder(tb.ctx, proServerOrder("ext-1", "acme"))
		if err != nil {
			t.Fatalf("SubmitOrder: %v", err)
		}
		o, err := tb.client.Order.Query().Where(order.ID(rec.ID)).
			WithLines().WithFulfillmentLines().
			WithPlan(func(q *ent.PlanQuery) {
				q.WithGroups().WithSteps(func(q *ent.StepQuery) { q.WithDependsOn() })
			}).Only(tb.ctx)
		if err != nil {
			t.Fatalf("read order: %v", err)
		}
		if got := len(o.Edges.Lines); got != 4 {
			t.Errorf("lines = %d; want 4 (bundle + 3 components)", got)
		}
		if got := len(o.Edges.FulfillmentLines); got != 4 {
			t.Errorf("fulfillment lines = %d; want 4", got)
		}
		p := o.Edges.Plan
		if p == nil {
			t.Fatal("order has no plan")
		}
		if got := len(p.Edges.Groups); got != 5 {
			t.Errorf("groups = %d; want 5", got)
		}
		if got := len(p.Edges.Steps); got != 12 {
			t.Errorf("steps = %d; want 12", got)
		}
		status := map[string]step.Status{}
		deps := 0
		for _, s := range p.Edges.Steps {
			status[s.Name] = s.Status
			deps += len(s.Edges.DependsOn)
		}
		// With no runner, in-transaction auto tasks still run at submit
		// (CreditCheck, WelcomeCall) and release their dependents, which
		// wait READY for a worker.
		for name, want := range map[string]step.Status{
			"CreditCheck": step.StatusCOMPLETED, "WelcomeCall": step.StatusCOMPLETED,
			"ReserveInventory": step.StatusREADY, "ActivateLicense": step.StatusREADY, "ScheduleTechnician": step.StatusREADY,
			"Pick": step.StatusPENDING, "Ship": step.StatusPENDING, "HardwareDelivered": step.StatusPENDING,
			"Install": step.StatusPENDING, "SetupBilling": step.StatusPENDING, "ActivateSupport": step.StatusPENDING,
			"OrderComplete": step.StatusPENDING,
		} {
			if status[name] != want {
				t.Errorf("%s is %s; want %s", name, status[name], want)
			}
		}
		if deps != 13 {
			t.Errorf("dependencies = %d; want 13", deps)
		}
		events, err := tb.store.EventsAfter(tb.ctx, 0, 100)
		if err != nil {
			t.Fatal(err)
		}
		// order SUBMITTED, plan PENDING ("12 steps created"); CreditCheck
		// and WelcomeCall READY → COMPLETED (one event each: they ran and
		// finished in the submitting transaction); ActivateLicense,
		// ScheduleTechnician READY; plan and order IN_PROGRESS.
		if len(events) != 8 {
			t.Errorf("events = %d; want 8", len(events))
		}
		for _, ev := range events {
			if ev.Kind == engine.EventStepStatus && ev.To == string(engine.StepCompleted) && ev.From != string(engine.StepReady) {
				t.Errorf("step %d completed from %s; want one READY → COMPLETED event", ev.StepID, ev.From)
			}
		}
		for i := 1; i < len(events); i++ {
			if events[i].ID <= events[i-1].ID {
				t.Errorf("event ids not increasing: %d then %d", events[i-1].ID, events[i].ID)
			}
		}
	})
}

func TestSubmitOrderIdempotent(t *testing.T) {
	t.Parallel()
	enginetest.EachBackend(t, func(t *testing.T, url string) {
		tb := setup(t, url)
		first, err := tb.engine.SubmitOrder(tb.ctx, proServerOrder("ext-1", "acme"))
		if err != nil {
			t.Fatal(err)
		}
		again, err := tb.engine.SubmitOrder(tb.ctx, proServerOrder("ext-1", "acme"))
		if err != nil {
			t.Fatalf("resubmit: %v", err)
		}
		if again.ID != first.ID {
			t.Errorf("resubmission gave order %d; want the same order %d", again.ID, first.ID)
		}
		changed := proServerOrder("ext-1", "acme")
		changed.Lines[0].Quantity = 2
		_, err = tb.engine.SubmitOrder(tb.ctx, changed)
		if code := engine.ErrorCode(err); code != engine.CodeConflict {
			t.Errorf("different input under the same externalId: code %s (%v); want CONFLICT", code, err)
		}
		if n := tb.client.Order.Query().CountX(tb.ctx); n != 1 {
			t.Errorf("orders = %d; want 1", n)
		}
	})
}

func TestSubmitOrderConcurrentSameExternalID(t *testing.T) {
	t.Parallel()
	enginetest.EachBackend(t, func(t *testing.T, url string) {
		tb := setup(t, url)
		ins := make([]engine.OrderInput, 8)
		for i := range ins {
			ins[i] = proServerOrder("same", "acme")
		}
		recs, errs := tb.submitAtOnce(ins)
		for i, err := range errs {
			if err != nil {
				t.Errorf("concurrent submit: %v", err)
			} else if recs[i].ID != recs[0].ID {
				t.Errorf("concurrent submissions gave orders %d and %d", recs[0].ID, recs[i].ID)
			}
		}
		if c := tb.client.Order.Query().CountX(tb.ctx); c != 1 {
			t.Errorf("orders = %d; want 1", c)
		}
	})
}

// Orders of an account nobody has seen, submitted at once: every one is
// accepted, and they share one account and its account-scoped items.
func TestSubmitOrderConcurrentNewAccount(t *testing.T) {
	t.Parallel()
	enginetest.EachBackend(t, func(t *testing.T, url string) {
		tb := setup(t, url)
		const n = 16
		ins := make([]engine.OrderInput, n)
		for i := range ins {
			ins[i] = proServerOrder(fmt.Sprint("new-", i), "brand-new")
		}
		_, errs := tb.submitAtOnce(ins)
		for _, err := range errs {
			if err != nil {
				t.Errorf("concurrent submit for a new account: %v", err)
			}
		}
		if c := tb.client.Order.Query().CountX(tb.ctx); c != n {
			t.Errorf("orders = %d; want %d", c, n)
		}
		if c := tb.client.Account.Query().CountX(tb.ctx); c != 1 {
			t.Errorf("accounts = %d; want 1", c)
		}
		if c := tb.client.Step.Query().Where(step.Name("WelcomeCall")).CountX(tb.ctx); c != 1 {
			t.Errorf("WelcomeCall steps = %d; want 1 for the account", c)
		}
	})
}

func TestSubmitOrderValidation(t *testing.T) {
	t.Parallel()
	enginetest.EachBackend(t, func(t *testing.T, url string) {
		tb := setup(t, url)
		line := func(id, product string, q int) engine.LineInput {
			return engine.LineInput{ID: id, ProductCode: product, Quantity: q}
		}
		cases := []struct {
			name  string
			in    engine.OrderInput
			path  string
			wants string
		}{
			{"unknown product", engine.OrderInput{ExternalID: "x1", AccountID: "a", Lines: []engine.LineInput{line("L1", "NOPE", 1)}},
				"lines[0].productCode", `line "L1": unknown product "NOPE"`},
			{"quantity zero", engine.OrderInput{ExternalID: "x2", AccountID: "a", Lines: []engine.LineInput{line("L1", "SRV-HW", 0)}},
				"lines[0].quantity", `line "L1": quantity must be 1 or more, got 0`},
			{"unknown parent", engine.OrderInput{ExternalID: "x3", AccountID: "a", Lines: []engine.LineInput{
				{ID: "L1", ProductCode: "SRV-HW", Quantity: 1, ParentID: "P"}}},
				"lines[0].parentId", `line "L1": unknown parentId "P"`},
			{"duplicate line id", engine.OrderInput{ExternalID: "x4", AccountID: "a", Lines: []engine.LineInput{
				line("L1", "SRV-HW", 1), line("L1", "SW-LIC", 1)}},
				"lines[1].id", `duplicate line id "L1" (also lines[0])`},
			{"technical product", engine.OrderInput{ExternalID: "x5", AccountID: "a", Lines: []engine.LineInput{line("L1", "TP-SHIPMENT", 1)}},
				"lines[0].productCode", `line "L1": "TP-SHIPMENT" is a TECHNICAL product; order commercial products, decomposition creates technical ones`},
			{"empty order", engine.OrderInput{ExternalID: "x6", AccountID: "a"},
				"lines", "an order needs at least one line"},
		}
		for _, c := range cases {
			_, err := tb.engine.SubmitOrder(tb.ctx, c.in)
			e, ok := err.(*engine.Error)
			if !ok || e.Code != engine.CodeBadUserInput {
				t.Errorf("%s: err = %v; want BAD_USER_INPUT", c.name, err)
				continue
			}
			found := false
			for _, p := range e.Problems {
				if p.Path == c.path && p.Message == c.wants {
					found = true
				}
			}
			if !found {
				t.Errorf("%s: problems = %v; want %s: %s", c.name, e.Problems, c.path, c.wants)
			}
		}
		for table, n := range map[string]int{
			"orders": tb.client.Order.Query().CountX(tb.ctx), "order_lines": tb.client.OrderLine.Query().CountX(tb.ctx),
			"plans": tb.client.Plan.Query().CountX(tb.ctx), "steps": tb.client.Step.Query().CountX(tb.ctx),
			"accounts": tb.client.Account.Query().CountX(tb.ctx),
		} {
			if n != 0 {
				t.Errorf("%s has %d rows after rejected orders; want 0", table, n)
			}
		}
		if ev, _ := tb.store.EventsAfter(tb.ctx, 0, 10); len(ev) != 0 {
			t.Errorf("%d events after rejected orders; want 0", len(ev))
		}
	})
}

func TestAccountScopeAcrossOrders(t *testing.T) {
	t.Parallel()
	enginetest.EachBackend(t, func(t *testing.T, url string) {
		tb := setup(t, url)
		for i := range 3 {
			if _, err := tb.engine.SubmitOrder(tb.ctx, proServerOrder(fmt.Sprint("o", i), "acme")); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := tb.engine.SubmitOrder(tb.ctx, proServerOrder("other", "globex")); err != nil {
			t.Fatal(err)
		}
		welcome := tb.client.Step.Query().Where(step.Name("WelcomeCall")).CountX(tb.ctx)
		if welcome != 2 {
			t.Errorf("WelcomeCall steps = %d; want one per account (2)", welcome)
		}
		support := tb.client.FulfillmentLine.Query().Where().AllX(tb.ctx)
		n := 0
		for _, fl := range support {
			if fl.ProductCode == "TP-SUPPORT" {
				n++
			}
		}
		if n != 2 {
			t.Errorf("TP-SUPPORT account items = %d; want one per account (2)", n)
		}
		// The second order's OrderComplete waits on the first order's WelcomeCall.
		oc := tb.client.Step.Query().Where(step.Name("OrderComplete")).WithDependsOn().AllX(tb.ctx)
		for _, s := range oc {
			names := map[string]bool{}
			for _, d := range s.Edges.DependsOn {
				names[d.Name] = true
			}
			if !names["WelcomeCall"] {
				t.Errorf("OrderComplete %d does not depend on the account's WelcomeCall: %v", s.ID, names)
			}
		}
	})
}

// The database enforces no foreign keys; CheckIntegrity finds a reference
// to a missing row (and every test's end runs it).
func TestCheckIntegrityFindsDanglingReferences(t *testing.T) {
	t.Parallel()
	enginetest.EachBackend(t, func(t *testing.T, url string) {
		tb := setup(t, url)
		if _, err := tb.engine.SubmitOrder(tb.ctx, proServerOrder("o1", "acme")); err != nil {
			t.Fatal(err)
		}
		if p, err := tb.store.CheckIntegrity(tb.ctx); err != nil || len(p) > 0 {
			t.Fatalf("after a submit: problems %v, err %v", p, err)
		}
		s := tb.client.Step.Query().FirstX(tb.ctx)
		db := tb.store.DB()
		const dangle = `INSERT INTO step_dependencies (step_id, prerequisite_id) VALUES ($1, 999999999)`
		if strings.HasPrefix(url, "sqlite") {
			// SQLite has the foreign keys, and refuses the row; with
			// them off (one connection), CheckIntegrity must still find it.
			if _, err := db.ExecContext(tb.ctx, dangle, s.ID); err == nil || !strings.Contains(err.Error(), "FOREIGN KEY") {
				t.Fatalf("SQLite stored a dangling dependency: err %v; want a FOREIGN KEY constraint error", err)
			}
			conn, err := db.Conn(tb.ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, q := range []string{"PRAGMA foreign_keys = OFF", dangle, "PRAGMA foreign_keys = ON"} {
				var args []any
				if q == dangle {
					args = []any{s.ID}
				}
				if _, err := conn.ExecContext(tb.ctx, q, args...); err != nil {
					t.Fatalf("%s: %v", q, err)
				}
			}
			conn.Close()
		} else if _, err := db.ExecContext(tb.ctx, dangle, s.ID); err != nil {
			t.Fatal(err)
		}
		p, err := tb.store.CheckIntegrity(tb.ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(p) != 1 || p[0] != "1 rows of step_dependencies.prerequisite_id refer to no steps" {
			t.Errorf("problems = %q; want the one dangling dependency", p)
		}
		if _, err := db.ExecContext(tb.ctx, `DELETE FROM step_dependencies WHERE prerequisite_id = 999999999`); err != nil {
			t.Fatal(err)
		}
	})
}
