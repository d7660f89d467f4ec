package orchestrator_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/batonhq/baton/engine"
	"github.com/batonhq/baton/engine/enginetest"
	"github.com/batonhq/baton/ent"
	"github.com/batonhq/baton/ent/order"
	"github.com/batonhq/baton/ent/step"
)

// awCatalog: a BOX bundles a ROUTER and a MODEM. A ROUTER line waits for
// its serial and site (staggered decomposition) and makes a T-DEV item,
// unless its serial is NONE; a CAM line waits for its serial too but makes
// T-CAM, which no step here depends on. The PLAN milestone Done follows
// every Register (T-DEV) and Quick; the BUNDLE milestone Check follows the
// Register and Config of its bundle.
const awCatalog = `version: 1
systems: {}
products:
  - {code: BOX, type: COMMERCIAL, components: [{product: ROUTER}, {product: MODEM}]}
  - {code: ROUTER, type: COMMERCIAL}
  - {code: MODEM, type: COMMERCIAL}
  - {code: CAM, type: COMMERCIAL}
  - {code: T-DEV, type: TECHNICAL}
  - {code: T-CFG, type: TECHNICAL}
  - {code: T-CAM, type: TECHNICAL}
decomposition:
  - {name: router, from: ROUTER, to: T-DEV, scope: LINE, requires: [serial, site], when: 'line.attributes.serial != "NONE"'}
  - {name: modem, from: MODEM, to: T-CFG, scope: LINE}
  - {name: cam, from: CAM, to: T-CAM, scope: LINE, requires: [serial]}
scenarios:
  - name: main
    groups:
      - name: Work
        steps:
          - {name: Quick, type: MANUAL_TASK, task: {queue: q}}
          - {name: Register, type: MANUAL_TASK, scope: ITEM, product: T-DEV, task: {queue: q}}
          - {name: Config, type: MANUAL_TASK, scope: ITEM, product: T-CFG, task: {queue: q}}
          - {name: Mount, type: MANUAL_TASK, scope: ITEM, product: T-CAM, task: {queue: q}}
          - {name: Check, type: MILESTONE, scope: BUNDLE, product: T-CFG}
      - name: End
        steps:
          - {name: Done, type: MILESTONE}
    dependencies:
      - {step: Check, after: [Register, Config], scope: BUNDLE}
      - {step: Done, after: [Register, Quick]}
`

// awStep is the order's step of that name and instance key.
func awStep(t *testing.T, b *xBundle, orderID int, name, instance string) *ent.Step {
	t.Helper()
	s, err := b.client.Step.Query().Where(step.OrderID(orderID), step.Name(name), step.InstanceKey(instance)).Only(b.ctx)
	if err != nil {
		t.Fatalf("step %s %s: %v", name, instance, err)
	}
	return s
}

// awCheck checks a step's status and open prerequisites.
func awCheck(t *testing.T, b *xBundle, orderID int, name, instance string, want step.Status, pending int, when string) *ent.Step {
	t.Helper()
	s := awStep(t, b, orderID, name, instance)
	if s.Status != want || s.Pending != pending {
		t.Errorf("%s: %s %s is %s with %d open; want %s with %d", when, name, instance, s.Status, s.Pending, want, pending)
	}
	return s
}

// awDependsOn lists the names and instance keys of a step's prerequisites.
func awDependsOn(t *testing.T, b *xBundle, s *ent.Step) string {
	t.Helper()
	pre, err := b.client.Step.QueryDependsOn(s).All(b.ctx)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, p := range pre {
		out = append(out, p.Name+"|"+p.InstanceKey)
	}
	slices.Sort(out)
	return strings.Join(out, " ")
}

func awComplete(t *testing.T, b *xBundle, s *ent.Step) {
	t.Helper()
	if err := b.engine.CompleteTask(b.ctx, s.ID, nil, ""); err != nil {
		t.Fatalf("complete %s %s: %v", s.Name, s.InstanceKey, err)
	}
}

func awEnrich(t *testing.T, b *xBundle, orderID int, line string, attrs map[string]any) {
	t.Helper()
	if err := b.engine.EnrichOrder(b.ctx, orderID, nil, map[string]map[string]any{line: attrs}); err != nil {
		t.Fatalf("enrich %s: %v", line, err)
	}
}

// A PLAN milestone and a BUNDLE milestone after Register stay PENDING while
// a line that could still make a Register instance is AWAITING_DATA (the
// bundle's only for a line of its bundle), take the instance when the line
// is decomposed, and complete with it; data that leaves the line waiting
// changes nothing; a line decomposed without a Register instance releases
// its wait; a waiting line with no rule to T-DEV never holds them.
func TestAwaitingLineHoldsPlanAndBundleSteps(t *testing.T) {
	t.Parallel()
	enginetest.EachBackend(t, func(t *testing.T, url string) {
		b := sfSetup(t, url, awCatalog)
		rec := b.submit(t, engine.OrderInput{ExternalID: "aw-1", AccountID: "acct-aw-1", Lines: []engine.LineInput{
			{ID: "B1", ProductCode: "BOX", Quantity: 1},
			{ID: "R2", ProductCode: "ROUTER", Quantity: 1},
			{ID: "C1", ProductCode: "CAM", Quantity: 1},
		}})
		id := rec.ID
		b.idle(t)
		// Done: Quick, and the routers B1/ROUTER and R2; Check: Config and
		// its bundle's router.
		awCheck(t, b, id, "Done", "PLAN", step.StatusPENDING, 3, "at submit")
		awCheck(t, b, id, "Check", "BUNDLE:B1", step.StatusPENDING, 2, "at submit")
		awComplete(t, b, awStep(t, b, id, "Quick", "PLAN"))
		awComplete(t, b, awStep(t, b, id, "Config", "ITEM:modem:B1/MODEM"))
		b.idle(t)
		awCheck(t, b, id, "Done", "PLAN", step.StatusPENDING, 2, "Quick and Config done, routers waiting")
		awCheck(t, b, id, "Check", "BUNDLE:B1", step.StatusPENDING, 1, "Quick and Config done, routers waiting")

		// The site alone leaves the line waiting.
		awEnrich(t, b, id, "B1/ROUTER", map[string]any{"site": "s1"})
		b.idle(t)
		awCheck(t, b, id, "Done", "PLAN", step.StatusPENDING, 2, "B1/ROUTER still without its serial")
		awCheck(t, b, id, "Check", "BUNDLE:B1", step.StatusPENDING, 1, "B1/ROUTER still without its serial")
		if n := b.client.Step.Query().Where(step.OrderID(id), step.Name("Register")).CountX(b.ctx); n != 0 {
			t.Fatalf("%d Register steps before any router is decomposed", n)
		}

		// The serial decomposes B1/ROUTER: its Register replaces the wait.
		awEnrich(t, b, id, "B1/ROUTER", map[string]any{"serial": "SN-1"})
		b.idle(t)
		reg := awCheck(t, b, id, "Register", "ITEM:router:B1/ROUTER", step.StatusWAITING, 0, "B1/ROUTER decomposed")
		done := awCheck(t, b, id, "Done", "PLAN", step.StatusPENDING, 2, "B1/ROUTER decomposed, R2 waiting")
		check := awCheck(t, b, id, "Check", "BUNDLE:B1", step.StatusPENDING, 1, "B1/ROUTER decomposed")
		if got, want := awDependsOn(t, b, done), "Quick|PLAN Register|ITEM:router:B1/ROUTER"; got != want {
			t.Errorf("Done depends on %s; want %s", got, want)
		}
		if got, want := awDependsOn(t, b, check), "Config|ITEM:modem:B1/MODEM Register|ITEM:router:B1/ROUTER"; got != want {
			t.Errorf("Check depends on %s; want %s", got, want)
		}

		// R2 decomposes without a T-DEV item: Done stops waiting for it.
		awEnrich(t, b, id, "R2", map[string]any{"serial": "NONE", "site": "s2"})
		b.idle(t)
		awCheck(t, b, id, "Done", "PLAN", step.StatusPENDING, 1, "R2 decomposed without a Register")

		awComplete(t, b, reg)
		b.idle(t)
		awCheck(t, b, id, "Check", "BUNDLE:B1", step.StatusCOMPLETED, 0, "Register done")
		awCheck(t, b, id, "Done", "PLAN", step.StatusCOMPLETED, 0, "Register done, C1 still waiting")
		b.checkOrder(t, id, order.StatusIN_PROGRESS)

		awEnrich(t, b, id, "C1", map[string]any{"serial": "CAM-1"})
		b.idle(t)
		awComplete(t, b, awStep(t, b, id, "Mount", "ITEM:cam:C1"))
		b.idle(t)
		b.checkOrder(t, id, order.StatusCOMPLETED)
	})
}

// The enrichment that releases a step's last wait readies it in its own
// transaction: Done, its Quick done, completes when R1 is decomposed
// without a Register, and the order with it.
func TestAwaitingLineReleasedByEnrichment(t *testing.T) {
	t.Parallel()
	enginetest.EachBackend(t, func(t *testing.T, url string) {
		b := sfSetup(t, url, awCatalog)
		rec := b.submit(t, engine.OrderInput{ExternalID: "aw-2", AccountID: "acct-aw-2", Lines: []engine.LineInput{
			{ID: "R1", ProductCode: "ROUTER", Quantity: 1},
		}})
		id := rec.ID
		awComplete(t, b, awStep(t, b, id, "Quick", "PLAN"))
		b.idle(t)
		awCheck(t, b, id, "Done", "PLAN", step.StatusPENDING, 1, "Quick done, R1 waiting")
		b.checkOrder(t, id, order.StatusIN_PROGRESS)

		before := b.eventCount(t)
		awEnrich(t, b, id, "R1", map[string]any{"serial": "NONE", "site": "s"})
		// No runner pass: the enrichment's own transaction moved Done.
		done := awCheck(t, b, id, "Done", "PLAN", step.StatusCOMPLETED, 0, "R1 decomposed without a Register")
		if got := b.trail(t, done.ID); got != "PENDING>COMPLETED" {
			t.Errorf("Done went %s; want PENDING>COMPLETED (one event: it became READY and completed in one transaction)", got)
		}
		b.checkOrder(t, id, order.StatusCOMPLETED)
		if b.eventCount(t) == before {
			t.Errorf("the enrichment emitted no events")
		}
		if n := b.client.Step.Query().Where(step.OrderID(id), step.Name("Register")).CountX(b.ctx); n != 0 {
			t.Errorf("%d Register steps for a router with serial NONE", n)
		}
	})
}
