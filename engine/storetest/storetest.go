// Package storetest is the suite every engine.Store must pass: method by
// method, organised by what the store keeps (catalogs, accounts, orders
// with their lines and items, plans with steps and dependencies, claims
// and leases, timers, events and the feed cursor, systems and their
// circuits, assets), each test on a database of its own. It asserts the
// port's documented contract, including the error codes each method's
// comment promises, and nothing of how a store keeps its rows.
//
// A store package runs it once per backend:
//
//	storetest.Run(t, func(t *testing.T, clock engine.Clock) engine.Store { ... })
package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/batonhq/baton/engine"
)

// Open returns a store on a fresh, empty database whose transactions read
// time from clock. The store is closed when the test ends.
type Open func(t *testing.T, clock engine.Clock) engine.Store

// Epoch is where the suite's clocks start.
var Epoch = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

// Run runs the whole suite against the stores open makes, one subtest per
// method (grouped by what it stores), in parallel.
func Run(t *testing.T, open Open) {
	groups := []struct {
		name  string
		tests map[string]func(t *testing.T, b *bundle)
	}{
		{"Catalogs", catalogTests},
		{"Accounts", accountTests},
		{"Orders", orderTests},
		{"Plans", planTests},
		{"Claims", claimTests},
		{"Timers", timerTests},
		{"Events", eventTests},
		{"Systems", systemTests},
		{"Circuits", circuitTests},
		{"Revisions", revisionTests},
		{"Assets", assetTests},
		{"AssetQueries", assetQueryTests},
		{"Transactions", txTests},
	}
	for _, g := range groups {
		t.Run(g.name, func(t *testing.T) {
			t.Parallel()
			for name, test := range g.tests {
				t.Run(name, func(t *testing.T) {
					t.Parallel()
					test(t, setup(t, open))
				})
			}
		})
	}
}

// bundle is what a test works with: a store of its own and its clock.
type bundle struct {
	ctx   context.Context
	store engine.Store
	clock *engine.FakeClock
}

func setup(t *testing.T, open Open) *bundle {
	t.Helper()
	clock := engine.NewFakeClock(Epoch)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return &bundle{ctx: ctx, store: open(t, clock), clock: clock}
}

// write runs fn in a transaction and fails the test on an error.
func (b *bundle) write(t *testing.T, fn func(tx engine.Tx) error) []*engine.Event {
	t.Helper()
	events, err := b.store.Write(b.ctx, fn)
	if err != nil {
		t.Fatalf("Write: %v", err)
	}
	return events
}

// wantCode fails the test unless err carries code.
func wantCode(t *testing.T, what string, err error, code engine.Code) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s: no error; want %s", what, code)
	}
	if got := engine.ErrorCode(err); got != code {
		t.Fatalf("%s: %v (code %s); want %s", what, err, got, code)
	}
}

// fixture is a stored order: one line, one item, and a plan of three
// steps — "provision" (a READY callout to crm), "activate" (PENDING, after
// provision) and "review" (a READY manual task in the ops queue).
type fixture struct {
	catalog *engine.CatalogRecord
	order   *engine.NewOrder
	steps   map[string]*engine.StepRecord
}

func (b *bundle) seedOrder(t *testing.T, externalID string) *fixture {
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
		recs, err := tx.InsertOrder(b.ctx, f.order)
		for _, r := range recs {
			f.steps[r.Name] = r
		}
		return err
	})
	return f
}

func newOrder(externalID string, accountRef, catalogID int) *engine.NewOrder {
	item := &engine.Item{Key: "L1/server", ProductCode: "SRV", Rule: "server", Scope: engine.DecomposeLine, Quantity: 1,
		Attributes: map[string]any{"size": "m"}, Sources: []string{"L1"}, BundleKey: "L1"}
	grp := &engine.PlannedGroup{Name: "delivery", Scenario: "provide", Position: 0}
	provision := &engine.NewStep{Name: "provision", Scenario: "provide", Type: engine.Callout, Scope: engine.ScopeItem,
		InstanceKey: "L1/server", BundleKey: "L1", Group: grp, Item: item, Status: engine.StepReady, System: "crm"}
	activate := &engine.NewStep{Name: "activate", Scenario: "provide", Type: engine.AutoTask, Scope: engine.ScopeItem,
		InstanceKey: "L1/server", BundleKey: "L1", Group: grp, Item: item, Status: engine.StepPending, Pending: 1, PointOfNoReturn: true}
	review := &engine.NewStep{Name: "review", Scenario: "provide", Type: engine.ManualTask, Scope: engine.ScopePlan,
		Group: grp, Status: engine.StepReady, Queue: "ops"}
	return &engine.NewOrder{
		ExternalID: externalID, AccountID: "acct-" + externalID, AccountRef: accountRef,
		Attributes: map[string]any{"priority": "high"}, InputHash: "hash-" + externalID, CatalogID: catalogID,
		Lines: []*engine.DecomposedLine{{LineInput: engine.LineInput{ID: "L1", ProductCode: "SRV", Quantity: 1,
			Attributes: map[string]any{"size": "m"}, Action: engine.ActionAdd}, Status: engine.LineDecomposed}},
		Items: []*engine.Item{item},
		Plan: &engine.NewPlan{AccountRef: accountRef, AccountID: "acct-" + externalID, Usage: engine.UsageSales,
			Type: "order", CatalogID: catalogID, Items: nil,
			Graph: &engine.PlanRows{
				Groups: []*engine.PlannedGroup{grp},
				Steps:  []*engine.NewStep{provision, activate, review},
				Deps:   []*engine.NewDep{{Step: activate, Prereq: provision}},
			}},
	}
}

func ids(steps ...*engine.StepRecord) []int {
	out := make([]int, len(steps))
	for i, s := range steps {
		out[i] = s.ID
	}
	return out
}

func names(steps []*engine.StepRecord) []string {
	out := make([]string, len(steps))
	for i, s := range steps {
		out[i] = s.Name
	}
	return out
}
