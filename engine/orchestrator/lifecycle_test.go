package orchestrator_test

import (
	"net/http"
	"testing"

	"github.com/batonhq/baton/engine"
	"github.com/batonhq/baton/engine/enginetest"
	"github.com/batonhq/baton/ent/order"
	"github.com/batonhq/baton/ent/step"
)

// lcCatalog: a survey callout learns whether a visit is needed and the
// site (order attributes); the SERVER line's decomposition requires the
// site, so it waits AWAITING_DATA until the survey sets it; the Visit runs
// only when the survey did not rule it out — decided when it is ready.
const lcCatalog = `version: 1
systems:
  erp: {url: "${SYS_URL}", timeout: 5s}
products:
  - {code: SERVER, type: COMMERCIAL}
  - {code: T-SRV, type: TECHNICAL}
decomposition:
  - {name: srv, from: SERVER, to: T-SRV, requires: [order.siteId]}
scenarios:
  - name: main
    groups:
      - name: Work
        steps:
          - name: Survey
            type: CALLOUT
            callout: {system: erp, path: /survey, set: {order.siteId: 'response.body.site', order.needsVisit: 'response.body.visit'}}
          - {name: Visit, type: MANUAL_TASK, task: {queue: field}, when: 'order.attributes.needsVisit != false'}
          - {name: Install, type: MANUAL_TASK, scope: ITEM, product: T-SRV, task: {queue: field}}
          - {name: Done, type: MILESTONE}
    dependencies:
      - {step: Visit, after: [Survey]}
      - {step: Done, after: [Visit, Install]}
`

// A step's `when` is evaluated again when it becomes ready, over the
// attributes an earlier callout set; and a line AWAITING_DATA goes on as
// soon as a callout's `set` supplies what its rule requires.
func TestLifecycleRuntimeWhenAndContinuation(t *testing.T) {
	t.Parallel()
	enginetest.EachBackend(t, func(t *testing.T, url string) {
		b := sfSetup(t, url, lcCatalog)
		b.xs.on("/survey", func(r *http.Request, n int) (int, string) {
			if n == 1 {
				return 200, `{"site": "S-1", "visit": false}`
			}
			return 200, `{"site": "S-2", "visit": true}`
		})
		in := func(ext string) engine.OrderInput {
			return engine.OrderInput{ExternalID: ext, AccountID: "acct-" + ext, Lines: []engine.LineInput{{ID: "A", ProductCode: "SERVER", Quantity: 1}}}
		}
		id := b.submit(t, in("lc-1")).ID
		b.idle(t)
		visit := amStep(t, b, id, "Visit", "PLAN")
		if visit.Status != step.StatusSKIPPED {
			t.Errorf("Visit is %s after a survey that rules it out; want SKIPPED", visit.Status)
		}
		if note := str(visit.Note); note == "" {
			t.Logf("Visit note: %q", note)
		}
		line := b.client.Order.QueryLines(b.client.Order.GetX(b.ctx, id)).OnlyX(b.ctx)
		if line.Status != "DECOMPOSED" {
			t.Fatalf("line A is %s after the survey set the site; want DECOMPOSED", line.Status)
		}
		install := amStep(t, b, id, "Install", "ITEM:srv:A")
		if install.Status != step.StatusWAITING {
			t.Fatalf("Install is %s; want WAITING", install.Status)
		}
		if err := b.engine.CompleteTask(b.ctx, install.ID, nil, ""); err != nil {
			t.Fatal(err)
		}
		b.waitOrder(t, id, order.StatusCOMPLETED)

		id2 := b.submit(t, in("lc-2")).ID
		b.idle(t)
		if s := amStep(t, b, id2, "Visit", "PLAN"); s.Status != step.StatusWAITING {
			t.Errorf("Visit is %s after a survey that asks for it; want WAITING", s.Status)
		}
	})
}

// Removing a line that waits for data (an amendment) releases the PLAN
// milestone that waited for it.
func TestAmendRemovesAwaitingLine(t *testing.T) {
	t.Parallel()
	enginetest.EachBackend(t, func(t *testing.T, url string) {
		b := sfSetup(t, url, awCatalog)
		id := b.submit(t, engine.OrderInput{ExternalID: "aw-am", AccountID: "acct-aw-am", Lines: []engine.LineInput{
			{ID: "R1", ProductCode: "ROUTER", Quantity: 1}, {ID: "M1", ProductCode: "MODEM", Quantity: 1},
		}}).ID
		b.idle(t)
		awComplete(t, b, awStep(t, b, id, "Quick", "PLAN"))
		b.idle(t)
		awCheck(t, b, id, "Done", "PLAN", step.StatusPENDING, 1, "R1 waiting")
		d, err := b.engine.PreviewAmendment(b.ctx, id, engine.AmendInput{Lines: []engine.LineInput{{ID: "M1", ProductCode: "MODEM", Quantity: 1}}})
		if err != nil || len(d.LinesRemoved) != 1 || d.LinesRemoved[0] != "R1" {
			t.Fatalf("preview: %+v %v", d, err)
		}
		if _, err := b.engine.AmendOrder(b.ctx, id, engine.AmendInput{Lines: []engine.LineInput{{ID: "M1", ProductCode: "MODEM", Quantity: 1}}}, nil); err != nil {
			t.Fatal(err)
		}
		b.idle(t)
		awCheck(t, b, id, "Done", "PLAN", step.StatusCOMPLETED, 0, "R1 removed")
		awComplete(t, b, awStep(t, b, id, "Config", "ITEM:modem:M1"))
		b.waitOrder(t, id, order.StatusCOMPLETED)
	})
}
