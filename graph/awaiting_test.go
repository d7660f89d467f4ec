package graph_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/batonhq/baton/engine/enginetest"
)

// awaitingCatalog: a BOX bundles a ROUTER and a MODEM; a ROUTER line
// waits for its serial (staggered decomposition) and makes T-DEV; a CAM
// line waits for its serial too but makes T-CAM, which nothing depends
// on. The PLAN milestone Done follows every Register (T-DEV) and Quick;
// the BUNDLE milestone Check follows the Register and Config of its bundle.
const awaitingCatalog = `version: 1
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
  - {name: router, from: ROUTER, to: T-DEV, scope: LINE, requires: [serial]}
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

type awaitingStep struct {
	ID          string
	Name        string
	InstanceKey string
	Status      string
	DependsOn   []struct{ Name string }
}

type awaitingOrder struct {
	Status string
	Plan   struct{ Steps []awaitingStep }
}

const awaitingFields = `status plan { steps { id name instanceKey status dependsOn { name } } }`

func (e *env) awaitingOrder(id string) awaitingOrder {
	e.t.Helper()
	var out struct{ Order awaitingOrder }
	e.do(`query($id: ID!) { order(id: $id) { `+awaitingFields+` } }`, map[string]any{"id": id}, &out)
	return out.Order
}

// step finds a step of the order by name and instance key (nil: none).
func (o awaitingOrder) step(name, instance string) *awaitingStep {
	for i, s := range o.Plan.Steps {
		if s.Name == name && s.InstanceKey == instance {
			return &o.Plan.Steps[i]
		}
	}
	return nil
}

func (o awaitingOrder) statusOf(t *testing.T, name, instance string) string {
	t.Helper()
	s := o.step(name, instance)
	if s == nil {
		t.Fatalf("no step %s %s among %d", name, instance, len(o.Plan.Steps))
	}
	return s.Status
}

// TestAwaitingLineHoldsMilestones: through the API, a PLAN milestone and a
// BUNDLE milestone after Register stay PENDING while the bundle's ROUTER
// waits for its serial, though every prerequisite the plan has is done;
// enrichOrder adds the Register they then depend on, and they complete
// with it. The CAM line, waiting too, holds neither.
func TestAwaitingLineHoldsMilestones(t *testing.T) {
	t.Parallel()
	enginetest.EachBackend(t, func(t *testing.T, url string) {
		e := newEnv(t, url, envOptions{catalog: awaitingCatalog})
		id := e.submit(map[string]any{
			"externalId": "await-1", "accountId": "acme",
			"lines": []any{
				map[string]any{"id": "B1", "productCode": "BOX"},
				map[string]any{"id": "C1", "productCode": "CAM"},
			},
		})
		complete := func(s *awaitingStep) {
			t.Helper()
			e.do(`mutation($id: ID!) { completeTask(stepId: $id) { id } }`, map[string]any{"id": s.ID}, nil)
		}
		o := e.awaitingOrder(id)
		complete(o.step("Quick", "PLAN"))
		complete(o.step("Config", "ITEM:modem:B1/MODEM"))
		o = e.awaitingOrder(id)
		if got := o.statusOf(t, "Done", "PLAN"); got != "PENDING" {
			t.Errorf("Done is %s with B1/ROUTER awaiting data; want PENDING", got)
		}
		if got := o.statusOf(t, "Check", "BUNDLE:B1"); got != "PENDING" {
			t.Errorf("Check is %s with B1/ROUTER awaiting data; want PENDING", got)
		}

		var enriched struct{ EnrichOrder awaitingOrder }
		e.do(`mutation($id: ID!, $la: [LineAttributesInput!]) { enrichOrder(orderId: $id, lineAttributes: $la) { `+awaitingFields+` } }`,
			map[string]any{"id": id, "la": []any{map[string]any{"lineId": "B1/ROUTER", "attributes": map[string]any{"serial": "SN-1"}}}}, &enriched)
		o = enriched.EnrichOrder
		reg := o.step("Register", "ITEM:router:B1/ROUTER")
		if reg == nil || reg.Status != "WAITING" {
			t.Fatalf("Register after the serial: %+v; want WAITING", reg)
		}
		for _, k := range [][2]string{{"Done", "PLAN"}, {"Check", "BUNDLE:B1"}} {
			s := o.step(k[0], k[1])
			if s == nil || s.Status != "PENDING" {
				t.Fatalf("%s after the serial: %+v; want PENDING", k[0], s)
			}
			var names []string
			for _, d := range s.DependsOn {
				names = append(names, d.Name)
			}
			slices.Sort(names)
			if !slices.Contains(names, "Register") {
				t.Errorf("%s depends on %s; want Register among them", k[0], strings.Join(names, ", "))
			}
		}

		complete(reg)
		o = e.awaitingOrder(id)
		for _, k := range [][2]string{{"Done", "PLAN"}, {"Check", "BUNDLE:B1"}} {
			if got := o.statusOf(t, k[0], k[1]); got != "COMPLETED" {
				t.Errorf("%s is %s after Register; want COMPLETED (C1, waiting, makes no Register)", k[0], got)
			}
		}
		if o.Status != "IN_PROGRESS" {
			t.Errorf("order is %s with C1 awaiting data; want IN_PROGRESS", o.Status)
		}
	})
}
