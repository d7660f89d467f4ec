package orchestrator_test

import (
	"errors"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/batonhq/baton/engine"
	"github.com/batonhq/baton/engine/enginetest"
	"github.com/batonhq/baton/ent"
	"github.com/batonhq/baton/ent/order"
	"github.com/batonhq/baton/ent/orderrevision"
	"github.com/batonhq/baton/ent/plan"
	"github.com/batonhq/baton/ent/step"
)

// amCatalog: a SERVER is shipped (a callout, undone by Unship) and
// installed by a person (undone by Uninstall, a callout) after its
// shipment; a LIC licence is granted by a callout past which it cannot
// change (pointOfNoReturn); Done follows every Install and Grant. A
// cancelled order notifies the ERP after its compensations.
const amCatalog = `version: 1
systems:
  erp: {url: "${SYS_URL}", timeout: 5s}
products:
  - {code: SERVER, type: COMMERCIAL}
  - {code: LIC, type: COMMERCIAL}
  - {code: T-SRV, type: TECHNICAL}
  - {code: T-LIC, type: TECHNICAL}
decomposition:
  - {name: srv, from: SERVER, to: T-SRV}
  - {name: lic, from: LIC, to: T-LIC}
scenarios:
  - name: main
    groups:
      - name: Work
        steps:
          - name: Ship
            type: CALLOUT
            scope: ITEM
            product: T-SRV
            callout: {system: erp, path: /ship}
            compensate: {name: Unship, type: CALLOUT, callout: {system: erp, path: /unship}}
          - name: Install
            type: MANUAL_TASK
            scope: ITEM
            product: T-SRV
            task: {queue: field}
            compensate: {name: Uninstall, type: CALLOUT, callout: {system: erp, path: /uninstall}}
          - {name: Grant, type: CALLOUT, scope: ITEM, product: T-LIC, callout: {system: erp, path: /grant}, pointOfNoReturn: true}
          - {name: Done, type: MILESTONE}
    dependencies:
      - {step: Install, after: [Ship], scope: ITEM}
      - {step: Done, after: [Install, Grant]}
    onCancel:
      - {name: NotifyCancel, type: CALLOUT, callout: {system: erp, path: /cancelled}}
`

func amLines(ids ...string) []engine.LineInput {
	var out []engine.LineInput
	for _, id := range ids {
		product, qty := "SERVER", 1
		if strings.HasPrefix(id, "L") {
			product = "LIC"
		}
		if i := strings.IndexByte(id, '*'); i > 0 {
			qty, _ = strconv.Atoi(id[i+1:])
			id = id[:i]
		}
		out = append(out, engine.LineInput{ID: id, ProductCode: product, Quantity: qty})
	}
	return out
}

func amSubmit(t *testing.T, b *xBundle, ext string, lines ...string) int {
	t.Helper()
	return b.submit(t, engine.OrderInput{ExternalID: ext, AccountID: "acct-" + ext, Lines: amLines(lines...)}).ID
}

func amStep(t *testing.T, b *xBundle, orderID int, name, instance string) *ent.Step {
	t.Helper()
	s, err := b.client.Step.Query().Where(step.OrderID(orderID), step.Name(name), step.InstanceKey(instance)).Only(b.ctx)
	if err != nil {
		t.Fatalf("step %s %s: %v", name, instance, err)
	}
	return s
}

// diffNames renders a diff as lists of name|instance per part.
func diffNames(d *engine.Diff) map[string][]string {
	out := map[string][]string{}
	for part, list := range map[string][]engine.DiffStep{"kept": d.Kept, "cancelled": d.Cancelled, "added": d.Added,
		"compensated": d.Compensated, "retained": d.Retained, "settling": d.Settling} {
		for _, s := range list {
			out[part] = append(out[part], s.Name+"|"+s.InstanceKey)
		}
		slices.Sort(out[part])
	}
	return out
}

func wantNames(t *testing.T, what string, got map[string][]string, want map[string][]string) {
	t.Helper()
	for _, part := range []string{"kept", "cancelled", "added", "compensated", "retained", "settling"} {
		if !slices.Equal(got[part], want[part]) {
			t.Errorf("%s %s: %v; want %v", what, part, got[part], want[part])
		}
	}
}

func codeOf(err error) engine.Code {
	var e *engine.Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

// Adding a line mid-flight wires its steps to what completed; removing a
// line whose shipment completed runs its compensation with its own
// idempotency key and cancels its unstarted work; the preview is the diff
// the amendment applies.
func TestAmendAddsAndRemovesLines(t *testing.T) {
	t.Parallel()
	enginetest.EachBackend(t, func(t *testing.T, url string) {
		b := sfSetup(t, url, amCatalog)
		id := amSubmit(t, b, "am-1", "S1", "S2")
		b.idle(t)
		ship2 := amStep(t, b, id, "Ship", "ITEM:srv:S2")
		if ship2.Status != step.StatusCOMPLETED {
			t.Fatalf("Ship S2 is %s", ship2.Status)
		}
		in := engine.AmendInput{Lines: amLines("S1", "S3"), Reason: "customer swaps a server"}
		preview, err := b.engine.PreviewAmendment(b.ctx, id, in)
		if err != nil {
			t.Fatal(err)
		}
		want := map[string][]string{
			"kept":        {"Done|PLAN", "Install|ITEM:srv:S1", "Ship|ITEM:srv:S1"},
			"cancelled":   {"Install|ITEM:srv:S2"},
			"added":       {"Install|ITEM:srv:S3", "Ship|ITEM:srv:S3"},
			"compensated": {"Ship|ITEM:srv:S2"},
		}
		wantNames(t, "preview", diffNames(preview), want)
		if n := b.eventCount(t); n == 0 {
			t.Fatal("no events")
		}
		before := b.eventCount(t)
		if _, err := b.engine.PreviewAmendment(b.ctx, id, in); err != nil || b.eventCount(t) != before {
			t.Fatalf("a preview wrote events (%v)", err)
		}
		rev, err := b.engine.AmendOrder(b.ctx, id, in, ptr(0))
		if err != nil {
			t.Fatalf("amend: %v", err)
		}
		if rev.Number != 1 || rev.Status != engine.RevisionApplied {
			t.Fatalf("revision %d %s; want 1 APPLIED", rev.Number, rev.Status)
		}
		if !reflect.DeepEqual(rev.Diff, preview) {
			t.Errorf("applied diff differs from the preview:\n%+v\n%+v", rev.Diff, preview)
		}
		b.idle(t)
		unship := b.xs.requests("/unship")
		if len(unship) != 1 {
			t.Fatalf("%d unship requests; want 1", len(unship))
		}
		comp := amStep(t, b, id, "Unship", "UNDO:"+strconv.Itoa(ship2.ID))
		if unship[0].Key != strconv.Itoa(comp.ID) || comp.Status != step.StatusCOMPLETED || comp.Compensates == nil || *comp.Compensates != ship2.ID {
			t.Errorf("unship key %q (compensation %d %s); want the compensation's own id", unship[0].Key, comp.ID, comp.Status)
		}
		if s := amStep(t, b, id, "Install", "ITEM:srv:S2"); s.Status != step.StatusCANCELLED {
			t.Errorf("Install S2 is %s; want CANCELLED", s.Status)
		}
		if err := b.engine.CompleteTask(b.ctx, amStep(t, b, id, "Install", "ITEM:srv:S2").ID, nil, ""); codeOf(err) != engine.CodeInvalidState {
			t.Errorf("completing a cancelled task: %v; want INVALID_STATE", err)
		}
		// S3 shipped; Done waits for the two installs.
		if s := amStep(t, b, id, "Ship", "ITEM:srv:S3"); s.Status != step.StatusCOMPLETED {
			t.Errorf("Ship S3 is %s", s.Status)
		}
		done := amStep(t, b, id, "Done", "PLAN")
		if done.Status != step.StatusPENDING || done.Pending != 2 {
			t.Errorf("Done is %s with %d open; want PENDING with 2", done.Status, done.Pending)
		}
		for _, l := range []string{"S1", "S3"} {
			if err := b.engine.CompleteTask(b.ctx, amStep(t, b, id, "Install", "ITEM:srv:"+l).ID, nil, ""); err != nil {
				t.Fatal(err)
			}
		}
		b.waitOrder(t, id, order.StatusCOMPLETED)
		o := b.client.Order.GetX(b.ctx, id)
		if o.Revision != 1 {
			t.Errorf("order revision %d; want 1", o.Revision)
		}
		lines := b.client.Order.QueryLines(o).AllX(b.ctx)
		status := map[string]string{}
		for _, l := range lines {
			status[l.LineID] = string(l.Status)
		}
		if status["S2"] != "REMOVED" || status["S3"] != "DECOMPOSED" {
			t.Errorf("lines %v; want S2 REMOVED, S3 DECOMPOSED", status)
		}
		kinds := map[engine.EventKind]int{}
		evs, err := b.store.EventsFor(b.ctx, engine.EventQuery{OrderID: id, Limit: 10000})
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range evs {
			kinds[ev.Kind]++
		}
		if kinds[engine.EventOrderAmended] != 1 || kinds[engine.EventCompensationStarted] != 1 {
			t.Errorf("events %v; want one ORDER_AMENDED and one COMPENSATION_STARTED", kinds)
		}
	})
}

func ptr[T any](v T) *T { return &v }

// A changed quantity redoes the line's work: its completed shipment is
// compensated and shipped again under a new instance.
func TestAmendChangesQuantity(t *testing.T) {
	t.Parallel()
	enginetest.EachBackend(t, func(t *testing.T, url string) {
		b := sfSetup(t, url, amCatalog)
		id := amSubmit(t, b, "am-q", "S1")
		b.idle(t)
		rev, err := b.engine.AmendOrder(b.ctx, id, engine.AmendInput{Lines: amLines("S1*2")}, nil)
		if err != nil {
			t.Fatal(err)
		}
		wantNames(t, "diff", diffNames(rev.Diff), map[string][]string{
			"kept":        {"Done|PLAN"},
			"cancelled":   {"Install|ITEM:srv:S1"},
			"added":       {"Install|ITEM:srv:S1@r1", "Ship|ITEM:srv:S1@r1"},
			"compensated": {"Ship|ITEM:srv:S1"},
		})
		b.idle(t)
		if n := len(b.xs.requests("/ship")); n != 2 {
			t.Errorf("%d shipments; want 2", n)
		}
		if n := len(b.xs.requests("/unship")); n != 1 {
			t.Errorf("%d unshipments; want 1", n)
		}
		if q := b.client.Order.QueryLines(b.client.Order.GetX(b.ctx, id)).OnlyX(b.ctx).Quantity; q != 2 {
			t.Errorf("line quantity %d; want 2", q)
		}
	})
}

// The point of no return: a started Grant freezes its licence line; an
// amendment touching it is refused naming the line and the step, and
// changes nothing; the servers still change; the preview shows the
// refusal as data; cancelling is refused too.
func TestAmendPastPointOfNoReturn(t *testing.T) {
	t.Parallel()
	enginetest.EachBackend(t, func(t *testing.T, url string) {
		b := sfSetup(t, url, amCatalog)
		id := amSubmit(t, b, "am-p", "S1", "S2", "L1")
		b.idle(t)
		grant := amStep(t, b, id, "Grant", "ITEM:lic:L1")
		before := b.eventCount(t)
		_, err := b.engine.AmendOrder(b.ctx, id, engine.AmendInput{Lines: amLines("S1")}, nil)
		var e *engine.Error
		if !errors.As(err, &e) || e.Code != engine.CodePastPointOfNoReturn || len(e.Problems) != 1 ||
			!strings.Contains(e.Problems[0].Message, `line "L1"`) || !strings.Contains(e.Problems[0].Message, `"Grant"`) {
			t.Fatalf("removing L1: %v; want PAST_POINT_OF_NO_RETURN naming L1 and Grant", err)
		}
		if b.eventCount(t) != before || b.client.Order.GetX(b.ctx, id).Revision != 0 {
			t.Fatal("a refused amendment changed the order")
		}
		d, err := b.engine.PreviewCancellation(b.ctx, id)
		if err != nil || len(d.Refused) != 1 || d.Refused[0].LineID != "L1" || d.Refused[0].StepID != grant.ID {
			t.Fatalf("preview cancellation: %+v %v; want the refusal of L1 by Grant", d, err)
		}
		if _, err := b.engine.CancelOrder(b.ctx, id, "changed mind"); codeOf(err) != engine.CodePastPointOfNoReturn {
			t.Errorf("cancel: %v; want PAST_POINT_OF_NO_RETURN", err)
		}
		ch, err := b.engine.Changeable(b.ctx, id)
		if err != nil || ch.Cancellable {
			t.Fatalf("changeable: %+v %v", ch, err)
		}
		for _, l := range ch.Lines {
			if l.Changeable == (l.LineID == "L1") {
				t.Errorf("line %s changeable %v", l.LineID, l.Changeable)
			}
		}
		if _, err := b.engine.AmendOrder(b.ctx, id, engine.AmendInput{Lines: amLines("S1", "L1")}, ptr(0)); err != nil {
			t.Fatalf("removing S2 only: %v", err)
		}
		if _, err := b.engine.AmendOrder(b.ctx, id, engine.AmendInput{Lines: amLines("S1", "L1", "S4")}, ptr(0)); codeOf(err) != engine.CodeConflict {
			t.Errorf("a stale revision: %v; want CONFLICT", err)
		}
	})
}

// Amending while a callout the amendment takes away is in flight: the plan
// freezes, nothing else starts, the answer is kept, and the revision
// applies when the callout settles.
func TestAmendWhileCalloutInFlight(t *testing.T) {
	t.Parallel()
	enginetest.EachBackend(t, func(t *testing.T, url string) {
		b := sfSetup(t, url, amCatalog)
		b.xs.on("/ship", func(r *http.Request, n int) (int, string) {
			if n == 1 {
				b.xs.hang(r)
			}
			return 200, `{"ref":"SHIP-` + strconv.Itoa(n) + `"}`
		})
		id := amSubmit(t, b, "am-f", "S1")
		ship := b.awaitRunning(t, id, "Ship", "/ship")
		rev, err := b.engine.AmendOrder(b.ctx, id, engine.AmendInput{Lines: amLines("S2")}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if rev.Status != engine.RevisionFreezing {
			t.Fatalf("revision %s; want FREEZING", rev.Status)
		}
		if p := b.client.Plan.Query().Where(plan.OrderID(id)).OnlyX(b.ctx); p.Status != plan.StatusFREEZING {
			t.Errorf("plan %s; want FREEZING", p.Status)
		}
		if _, err := b.engine.AmendOrder(b.ctx, id, engine.AmendInput{Lines: amLines("S3")}, nil); codeOf(err) != engine.CodeConflict {
			t.Errorf("a second amendment while freezing: %v; want CONFLICT", err)
		}
		b.xs.unblock()
		for i := 0; b.client.Step.GetX(b.ctx, ship.ID).Status != step.StatusCOMPLETED; i++ {
			if i == 1500 {
				t.Fatal("the in-flight Ship did not complete within 15s of its answer")
			}
			time.Sleep(10 * time.Millisecond)
		}
		b.idle(t)
		if s := amStep(t, b, id, "Unship", "UNDO:"+strconv.Itoa(ship.ID)); s.Status != step.StatusCOMPLETED {
			t.Errorf("Unship is %s; want COMPLETED", s.Status)
		}
		got := b.client.Step.GetX(b.ctx, ship.ID)
		if got.Status != step.StatusCOMPLETED || got.Output["ref"] == nil {
			t.Errorf("the in-flight Ship is %s with output %v; want COMPLETED with its answer", got.Status, got.Output)
		}
		r := b.client.OrderRevision.Query().Where(orderrevision.OrderID(id)).OnlyX(b.ctx)
		if r.Status != orderrevision.StatusAPPLIED || r.AppliedAt == nil {
			t.Errorf("revision %s", r.Status)
		}
		if s := amStep(t, b, id, "Install", "ITEM:srv:S1"); s.Status != step.StatusCANCELLED {
			t.Errorf("Install S1 is %s; want CANCELLED", s.Status)
		}
		if s := amStep(t, b, id, "Ship", "ITEM:srv:S2"); s.Status != step.StatusCOMPLETED {
			t.Errorf("Ship S2 is %s; want COMPLETED", s.Status)
		}
		if p := b.client.Plan.Query().Where(plan.OrderID(id)).OnlyX(b.ctx); p.Status != plan.StatusIN_PROGRESS {
			t.Errorf("plan %s after the thaw; want IN_PROGRESS", p.Status)
		}
		if n := b.client.Step.Query().Where(step.PlanID(ship.PlanID), step.Frozen(true)).CountX(b.ctx); n != 0 {
			t.Errorf("%d steps still frozen", n)
		}
	})
}

// Cancelling: compensations run in reverse dependency order (Uninstall
// before Unship), then the scenario's onCancel step; the order is
// CANCELLING until they are done, then CANCELLED; cancelling again
// returns it as it is.
func TestCancelCompensatesInReverseOrder(t *testing.T) {
	t.Parallel()
	enginetest.EachBackend(t, func(t *testing.T, url string) {
		b := sfSetup(t, url, amCatalog)
		id := amSubmit(t, b, "am-c", "S1")
		b.idle(t)
		if err := b.engine.CompleteTask(b.ctx, amStep(t, b, id, "Install", "ITEM:srv:S1").ID, nil, ""); err != nil {
			t.Fatal(err)
		}
		b.idle(t)
		b.checkOrder(t, id, order.StatusCOMPLETED)
		if _, err := b.engine.CancelOrder(b.ctx, id, "late"); codeOf(err) != engine.CodeInvalidState {
			t.Fatalf("cancelling a completed order: %v; want INVALID_STATE", err)
		}

		id = amSubmit(t, b, "am-c2", "S1", "S2")
		b.idle(t)
		if err := b.engine.CompleteTask(b.ctx, amStep(t, b, id, "Install", "ITEM:srv:S1").ID, nil, ""); err != nil {
			t.Fatal(err)
		}
		b.idle(t)
		rev, err := b.engine.CancelOrder(b.ctx, id, "customer cancelled")
		if err != nil {
			t.Fatal(err)
		}
		wantNames(t, "cancel", diffNames(rev.Diff), map[string][]string{
			"cancelled":   {"Done|PLAN", "Install|ITEM:srv:S2"},
			"compensated": {"Install|ITEM:srv:S1", "Ship|ITEM:srv:S1", "Ship|ITEM:srv:S2"},
		})
		b.checkOrder(t, id, order.StatusCANCELLING)
		again, err := b.engine.CancelOrder(b.ctx, id, "again")
		if err != nil || again.Number != rev.Number {
			t.Fatalf("cancelling again: %v %v; want the same revision", again, err)
		}
		b.idle(t)
		b.checkOrder(t, id, order.StatusCANCELLED)
		var paths []string
		for _, r := range b.xs.requests("") {
			if r.Path != "/ship" {
				paths = append(paths, r.Path)
			}
		}
		// Unship S2 may go any time; Uninstall S1 before Unship S1; the
		// notification last.
		iu, last := slices.Index(paths, "/uninstall"), len(paths)-1
		if len(paths) != 4 || paths[last] != "/cancelled" || iu < 0 || iu > slices.Index(paths[iu:], "/unship")+iu {
			t.Errorf("requests after the cancellation: %v; want /uninstall before an /unship, /cancelled last", paths)
		}
		unS1 := amStep(t, b, id, "Unship", "UNDO:"+strconv.Itoa(amStep(t, b, id, "Ship", "ITEM:srv:S1").ID))
		unIn := amStep(t, b, id, "Uninstall", "UNDO:"+strconv.Itoa(amStep(t, b, id, "Install", "ITEM:srv:S1").ID))
		if unS1.StartedAt == nil || unIn.CompletedAt == nil || unS1.StartedAt.Before(*unIn.CompletedAt) {
			t.Errorf("Unship S1 started before Uninstall S1 completed")
		}
		if p := b.client.Plan.Query().Where(plan.OrderID(id)).OnlyX(b.ctx); p.Status != plan.StatusCANCELLED {
			t.Errorf("plan %s; want CANCELLED", p.Status)
		}
		if _, err := b.engine.AmendOrder(b.ctx, id, engine.AmendInput{Lines: amLines("S1")}, nil); codeOf(err) != engine.CodeInvalidState {
			t.Errorf("amending a cancelled order: %v; want INVALID_STATE", err)
		}
	})
}

// A cancellation with nothing to undo is CANCELLED at once; its waiting
// manual task leaves the queue.
func TestCancelWithNothingToUndo(t *testing.T) {
	t.Parallel()
	enginetest.EachBackend(t, func(t *testing.T, url string) {
		b := sfSetup(t, url, amCatalog)
		b.xs.always("/ship", 503, `{}`)
		id := amSubmit(t, b, "am-n", "S1")
		b.idle(t)
		if _, err := b.engine.CancelOrder(b.ctx, id, ""); err != nil {
			t.Fatal(err)
		}
		// The onCancel notification still runs.
		b.idle(t)
		b.checkOrder(t, id, order.StatusCANCELLED)
		if s := amStep(t, b, id, "Ship", "ITEM:srv:S1"); s.Status != step.StatusCANCELLED {
			t.Errorf("the failing Ship is %s; want CANCELLED", s.Status)
		}
	})
}

// Two amendments racing on the same revision: one wins, the other is a
// CONFLICT.
func TestAmendRace(t *testing.T) {
	t.Parallel()
	enginetest.EachBackend(t, func(t *testing.T, url string) {
		b := sfSetup(t, url, amCatalog)
		id := amSubmit(t, b, "am-r", "S1")
		b.idle(t)
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for i := range errs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, errs[i] = b.engine.AmendOrder(b.ctx, id, engine.AmendInput{Lines: amLines("S1", "S"+strconv.Itoa(i+5))}, ptr(0))
			}()
		}
		wg.Wait()
		ok, conflict := 0, 0
		for _, err := range errs {
			switch codeOf(err) {
			case "":
				if err == nil {
					ok++
				}
			case engine.CodeConflict:
				conflict++
			}
		}
		if ok != 1 || conflict != 1 {
			t.Fatalf("racing amendments: %v; want one success and one CONFLICT", errs)
		}
		if n := b.client.OrderRevision.Query().Where(orderrevision.OrderID(id)).CountX(b.ctx); n != 1 {
			t.Errorf("%d revisions; want 1", n)
		}
	})
}
