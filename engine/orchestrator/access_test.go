package orchestrator_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/batonhq/baton/engine"
	"github.com/batonhq/baton/engine/access"
	"github.com/batonhq/baton/engine/enginetest"
	"github.com/batonhq/baton/ent/auditrecord"
	"github.com/batonhq/baton/ent/event"
	"github.com/batonhq/baton/ent/order"
	"github.com/batonhq/baton/ent/step"
)

// acCatalog: an item task in queue install, an order task in queue
// credit, and a four-eyes approval rule for orders marked big that only
// ORDER_APPROVERs decide.
const acCatalog = `version: 1
products:
  - {code: SRV, type: COMMERCIAL}
  - {code: T-SRV, type: TECHNICAL}
decomposition:
  - {name: srv, from: SRV, to: T-SRV}
approvals:
  - {name: big, when: 'order.attributes.big == true', role: ORDER_APPROVER}
scenarios:
  - name: main
    groups:
      - name: Work
        steps:
          - {name: Install, type: MANUAL_TASK, scope: ITEM, product: T-SRV, task: {queue: install}}
          - {name: Credit, type: MANUAL_TASK, task: {queue: credit}}
`

func acOrder(ext, account string, attrs map[string]any) engine.OrderInput {
	return engine.OrderInput{ExternalID: ext, AccountID: account, Attributes: attrs,
		Lines: []engine.LineInput{{ID: "L1", ProductCode: "SRV", Quantity: 1}}}
}

// as is ctx with the principal of roles (from the default policy), limited
// to accounts and queues when given.
func as(ctx context.Context, name string, roles, accounts, queues []string) context.Context {
	return access.With(ctx, access.DefaultPolicy().Principal(access.Principal{
		Name: name, Method: access.MethodToken, Roles: roles, Accounts: accounts, Queues: queues}))
}

func acStep(t *testing.T, b *xBundle, orderID int, name string) int {
	t.Helper()
	s, err := b.client.Step.Query().Where(step.OrderID(orderID), step.Name(name)).Only(b.ctx)
	if err != nil {
		t.Fatalf("step %s: %v", name, err)
	}
	return s.ID
}

// TestEachRoleInEngine walks every default role through a use case of
// every permission, called on the engine directly (no GraphQL): FORBIDDEN
// naming the permission exactly when the role's row of access.DefaultRoles
// (the README's table) lacks it. The same table drives
// graph.TestEachRoleOverHTTP: both paths give the same answer because the
// engine decides.
func TestEachRoleInEngine(t *testing.T) {
	enginetest.EachBackend(t, func(t *testing.T, url string) {
		b := setupExec(t, url, acCatalog, xOptions{})
		o := b.submit(t, acOrder("o-1", "ACME", nil)).ID
		install, credit := acStep(t, b, o, "Install"), acStep(t, b, o, "Credit")
		ops := []struct {
			perm access.Permission
			call func(ctx context.Context) error
		}{
			{access.CatalogRead, func(ctx context.Context) error { _, err := b.client.CatalogVersion.Query().Count(ctx); return err }},
			{access.CatalogImport, func(ctx context.Context) error { _, err := b.engine.ImportCatalog(ctx, acCatalog); return err }},
			{access.OrderRead, func(ctx context.Context) error { _, err := b.client.Order.Query().Count(ctx); return err }},
			{access.OrderSubmit, func(ctx context.Context) error {
				_, err := b.engine.PreviewOrder(ctx, acOrder("p", "ACME", nil))
				return err
			}},
			{access.OrderEnrich, func(ctx context.Context) error {
				return b.engine.EnrichOrder(ctx, o, map[string]any{"note": "x"}, nil)
			}},
			{access.OrderAmend, func(ctx context.Context) error {
				_, err := b.engine.PreviewAmendment(ctx, o, engine.AmendInput{Lines: acOrder("", "", nil).Lines})
				return err
			}},
			{access.OrderCancel, func(ctx context.Context) error { _, err := b.engine.PreviewCancellation(ctx, o); return err }},
			{access.OrderApprove, func(ctx context.Context) error { return b.engine.ApproveOrder(ctx, o, "") }},
			{access.OrderSignal, func(ctx context.Context) error { _, err := b.engine.Signal(ctx, o, "nothing-waits", nil); return err }},
			{access.OrchestrationStart, func(ctx context.Context) error {
				_, err := b.engine.StartOrchestration(ctx, "none", "s", map[string]any{})
				return err
			}},
			{access.TaskManage, func(ctx context.Context) error { return b.engine.AssignTask(ctx, install, "pat") }},
			{access.TaskWork, func(ctx context.Context) error { return b.engine.CompleteTask(ctx, install, nil, "") }},
			{access.CalloutRespond, func(ctx context.Context) error { return b.engine.RespondToCallout(ctx, install, true, nil, "") }},
			{access.FalloutRetry, func(ctx context.Context) error { _, err := b.engine.RetrySteps(ctx, []int{install}, ""); return err }},
			{access.FalloutResolve, func(ctx context.Context) error { return b.engine.SkipStep(ctx, credit, "by hand") }},
			{access.SystemManage, func(ctx context.Context) error {
				_, err := b.engine.SetSystemStatus(ctx, "none", engine.SystemOffline, "")
				return err
			}},
			{access.AuditRead, func(ctx context.Context) error {
				_, err := b.engine.AuditRecords(ctx, engine.AuditQuery{Limit: 1})
				return err
			}},
			{access.KeyManage, func(ctx context.Context) error {
				_, err := b.engine.CreateAPIKey(ctx, engine.APIKey{Name: "k", Roles: []string{"NO_SUCH_ROLE"}})
				return err
			}},
		}
		covered := map[access.Permission]bool{}
		for _, op := range ops {
			covered[op.perm] = true
		}
		for _, p := range access.Permissions {
			if !covered[p] {
				t.Errorf("no use case tests %s", p)
			}
		}
		for _, role := range access.DefaultRoles {
			// Members of both queues, so that task:work is the permission alone.
			ctx := as(b.ctx, "u-"+role.Name, []string{role.Name}, nil, []string{"install", "credit"})
			for _, op := range ops {
				err := op.call(ctx)
				forbidden := engine.IsCode(err, engine.CodeForbidden)
				want := slices.Contains(role.Permissions, op.perm)
				switch {
				case want && forbidden:
					t.Errorf("%s may %s, but: %v", role.Name, op.perm, err)
				case !want && !forbidden:
					t.Errorf("%s may not %s, but it answered %v", role.Name, op.perm, err)
				case !want && !strings.Contains(err.Error(), string(op.perm)):
					t.Errorf("%s: FORBIDDEN %q does not name %s", role.Name, err, op.perm)
				}
			}
		}
		// Of everything tried, only what some role may do happened: the
		// task completed by the first role with task:work, Credit skipped.
		if s := b.client.Step.GetX(b.ctx, credit); s.Status != step.StatusSKIPPED {
			t.Errorf("Credit is %s; want SKIPPED", s.Status)
		}
		if n := b.client.APIKey.Query().CountX(b.ctx); n != 0 {
			t.Errorf("%d API keys; want none (the one role that may create keys named a role that doesn't exist)", n)
		}
	})
}

// TestAccountScopingInEngine: a customer of ACME acts on ACME's orders
// only; another account's order is NOT_FOUND to every use case (exactly as
// one that does not exist), submitting for it FORBIDDEN, and reads through
// the store's client leave it out.
func TestAccountScopingInEngine(t *testing.T) {
	enginetest.EachBackend(t, func(t *testing.T, url string) {
		b := setupExec(t, url, acCatalog, xOptions{})
		mine := b.submit(t, acOrder("a-1", "ACME", nil)).ID
		theirs := b.submit(t, acOrder("g-1", "GLOBEX", nil)).ID
		customer := as(b.ctx, "wile", []string{access.Customer}, []string{"ACME"}, nil)
		agent := as(b.ctx, "ann", []string{access.OrderAgent, access.FalloutManager}, []string{"ACME"}, nil)
		theirStep := acStep(t, b, theirs, "Credit")

		if _, err := b.engine.SubmitOrder(customer, acOrder("g-2", "GLOBEX", nil)); !engine.IsCode(err, engine.CodeForbidden) {
			t.Errorf("a customer of ACME submitting for GLOBEX: %v; want FORBIDDEN", err)
		}
		if _, err := b.engine.SubmitOrder(customer, acOrder("a-2", "ACME", nil)); err != nil {
			t.Errorf("a customer of ACME submitting for ACME: %v", err)
		}
		for name, err := range map[string]error{
			"PreviewCancellation": func() error { _, err := b.engine.PreviewCancellation(customer, theirs); return err }(),
			"CancelOrder":         func() error { _, err := b.engine.CancelOrder(customer, theirs, "no"); return err }(),
			"EnrichOrder":         b.engine.EnrichOrder(agent, theirs, map[string]any{"x": 1}, nil),
			"SkipStep":            b.engine.SkipStep(agent, theirStep, "no"),
		} {
			if !engine.IsCode(err, engine.CodeNotFound) {
				t.Errorf("%s on GLOBEX's order as ACME: %v; want NOT_FOUND", name, err)
			}
		}
		if _, err := b.engine.PreviewCancellation(customer, mine); err != nil {
			t.Errorf("PreviewCancellation of its own order: %v", err)
		}
		if err := b.engine.SkipStep(agent, acStep(t, b, mine, "Credit"), "by hand"); err != nil {
			t.Errorf("SkipStep on ACME's order: %v", err)
		}
		if s := b.client.Step.GetX(b.ctx, theirStep); s.Status == step.StatusSKIPPED {
			t.Error("GLOBEX's step was skipped by ACME's agent")
		}
		if o := b.client.Order.GetX(b.ctx, theirs); o.Status != order.StatusIN_PROGRESS && o.Status != order.StatusSUBMITTED {
			t.Errorf("GLOBEX's order is %s; want untouched", o.Status)
		}

		// Reads.
		ids := b.client.Order.Query().IDsX(customer)
		if len(ids) != 2 || slices.Contains(ids, theirs) {
			t.Errorf("the customer's orders: %v; want ACME's two", ids)
		}
		if n := b.client.Step.Query().Where(step.OrderID(theirs)).CountX(customer); n != 0 {
			t.Errorf("%d of GLOBEX's steps visible to ACME; want 0", n)
		}
		if _, err := b.client.Order.Get(customer, theirs); err == nil {
			t.Error("GLOBEX's order read by id as ACME")
		}
		evs := b.client.Event.Query().AllX(customer)
		if len(evs) == 0 {
			t.Error("the customer sees no events of its own orders")
		}
		for _, ev := range evs {
			if ev.OrderID != nil && *ev.OrderID == theirs {
				t.Errorf("event %d of GLOBEX's order visible to ACME", ev.ID)
			}
		}
		if n := b.client.Event.Query().Where(event.OrderID(theirs)).CountX(b.ctx); n == 0 {
			t.Error("GLOBEX's order has no events at all; the check above proves nothing")
		}
		if _, err := b.client.AuditRecord.Query().Count(customer); !engine.IsCode(err, engine.CodeForbidden) {
			t.Errorf("a customer reading the audit log: %v; want FORBIDDEN", err)
		}
	})
}

// TestApprovalInEngine: an order the rule matches waits AWAITING_APPROVAL
// with nothing started; its submitter may not approve it (four-eyes, the
// default), a principal without the rule's role may not either, another
// approver may; a rejected order ends REJECTED with every step CANCELLED
// and nothing run. Each decision is on the feed, naming who.
func TestApprovalInEngine(t *testing.T) {
	enginetest.EachBackend(t, func(t *testing.T, url string) {
		b := setupExec(t, url, acCatalog, xOptions{})
		submitter := as(b.ctx, "sam", []string{access.OrderAgent, access.OrderApprover}, nil, nil)
		other := as(b.ctx, "ada", []string{access.OrderApprover}, nil, nil)
		manager := as(b.ctx, "max", []string{access.FulfillmentManager}, nil, nil)
		big := map[string]any{"big": true}
		submit := func(ext string) int {
			t.Helper()
			rec, err := b.engine.SubmitOrder(submitter, acOrder(ext, "ACME", big))
			if err != nil {
				t.Fatalf("submit %s: %v", ext, err)
			}
			if o := b.client.Order.GetX(b.ctx, rec.ID); o.Status != order.StatusAWAITING_APPROVAL || o.SubmittedBy != "sam" {
				t.Fatalf("order %s is %s submitted by %q; want AWAITING_APPROVAL by sam", ext, o.Status, o.SubmittedBy)
			}
			return rec.ID
		}
		started := func(o int) int {
			// Steps of an order awaiting approval are READY at most, and
			// frozen: nothing runs them and nobody can complete them.
			return b.client.Step.Query().Where(step.OrderID(o), step.Or(step.Frozen(false), step.StatusNotIn(step.StatusPENDING, step.StatusREADY, step.StatusCANCELLED))).CountX(b.ctx)
		}

		yes := submit("big-1")
		if n := started(yes); n != 0 {
			t.Errorf("%d steps of an order awaiting approval started or unfrozen", n)
		}
		if err := b.engine.CompleteTask(b.ctx, acStep(t, b, yes, "Credit"), nil, ""); err == nil {
			t.Error("a task of an order awaiting approval completed")
		}
		if err := b.engine.ApproveOrder(submitter, yes, "mine"); !engine.IsCode(err, engine.CodeForbidden) || !strings.Contains(err.Error(), "four-eyes") {
			t.Errorf("the submitter approving its own order: %v; want FORBIDDEN (four-eyes)", err)
		}
		if err := b.engine.ApproveOrder(manager, yes, ""); !engine.IsCode(err, engine.CodeForbidden) || !strings.Contains(err.Error(), "ORDER_APPROVER") {
			t.Errorf("a FULFILLMENT_MANAGER approving under a rule that needs ORDER_APPROVER: %v; want FORBIDDEN naming the role", err)
		}
		if err := b.engine.ApproveOrder(other, yes, "fine"); err != nil {
			t.Fatalf("another approver: %v", err)
		}
		if err := b.engine.ApproveOrder(other, yes, "again"); !engine.IsCode(err, engine.CodeInvalidState) {
			t.Errorf("approving twice: %v; want INVALID_STATE", err)
		}
		o := b.client.Order.GetX(b.ctx, yes)
		if o.Status == order.StatusAWAITING_APPROVAL || o.DecidedBy != "ada" {
			t.Errorf("approved order is %s decided by %q; want started, decided by ada", o.Status, o.DecidedBy)
		}
		if n := started(yes); n == 0 {
			t.Error("the approved order's steps did not start")
		}

		no := submit("big-2")
		if err := b.engine.RejectOrder(submitter, no, "withdrawn"); err != nil {
			t.Fatalf("rejecting (four-eyes binds approval only): %v", err)
		}
		if o := b.client.Order.GetX(b.ctx, no); o.Status != order.StatusREJECTED {
			t.Errorf("rejected order is %s", o.Status)
		}
		if n := b.client.Step.Query().Where(step.OrderID(no), step.StatusNEQ(step.StatusCANCELLED)).CountX(b.ctx); n != 0 {
			t.Errorf("%d steps of a rejected order not CANCELLED", n)
		}
		var decisions []string
		for _, ev := range b.client.Event.Query().Where(event.KindEQ(event.KindORDER_STATUS), event.FromEQ(string(engine.OrderAwaitingApproval))).AllX(b.ctx) {
			decisions = append(decisions, fmt.Sprintf("%d→%s by %s", *ev.OrderID, ev.To, ev.Actor))
		}
		want := []string{fmt.Sprintf("%d→SUBMITTED by ada", yes), fmt.Sprintf("%d→REJECTED by sam", no)}
		if !slices.Equal(decisions, want) {
			t.Errorf("decisions on the feed: %v; want %v", decisions, want)
		}
	})
}

// TestAuditInTransaction: a use case called with an audit intent writes
// its ALLOWED record in the transaction of its effect, naming the
// principal as its events do; a use case that fails writes none (the
// caller records the failure with RecordAudit, in its own transaction).
func TestAuditInTransaction(t *testing.T) {
	enginetest.EachBackend(t, func(t *testing.T, url string) {
		b := setupExec(t, url, acCatalog, xOptions{})
		ctx := as(b.ctx, "ann", []string{access.OrderAgent}, []string{"ACME"}, nil)

		intent := &engine.AuditIntent{Action: "submitOrder", InputDigest: "d1", RequestID: "r1", ClientAddr: "10.0.0.1"}
		rec, err := b.engine.SubmitOrder(engine.WithAuditIntent(ctx, intent), acOrder("o-1", "ACME", nil))
		if err != nil {
			t.Fatal(err)
		}
		o := rec.ID
		if !intent.Recorded() {
			t.Error("the intent of a committed write is not marked recorded")
		}
		recs := b.client.AuditRecord.Query().Where(auditrecord.Action("submitOrder")).AllX(b.ctx)
		if len(recs) != 1 {
			t.Fatalf("%d audit records of submitOrder; want 1", len(recs))
		}
		r := recs[0]
		if r.Actor != "ann" || r.Outcome != auditrecord.OutcomeALLOWED || r.OrderID == nil || *r.OrderID != o ||
			r.RequestID != "r1" || r.ClientAddr != "10.0.0.1" || r.InputDigest != "d1" || !slices.Equal(r.Roles, []string{access.OrderAgent}) {
			t.Errorf("audit record %+v", r)
		}
		evs := b.client.Event.Query().Where(event.OrderID(o)).AllX(b.ctx)
		for _, ev := range evs {
			if ev.Actor != "ann" {
				t.Errorf("%s event of ann's submission names %q", ev.Kind, ev.Actor)
			}
		}
		if len(evs) == 0 {
			t.Error("the submission wrote no events")
		}

		failed := &engine.AuditIntent{Action: "enrichOrder", OrderID: o + 1000}
		err = b.engine.EnrichOrder(engine.WithAuditIntent(ctx, failed), o+1000, map[string]any{"note": "x"}, nil)
		if !engine.IsCode(err, engine.CodeNotFound) || failed.Recorded() {
			t.Errorf("enriching an order that doesn't exist: %v, recorded %v; want NOT_FOUND, unrecorded", err, failed.Recorded())
		}
		if err := b.engine.RecordAudit(ctx, failed, err); err != nil {
			t.Fatal(err)
		}
		got, err := b.engine.AuditRecords(as(b.ctx, "pat", []string{access.ProcessAdmin}, nil, nil), engine.AuditQuery{Actor: "ann", Limit: 10})
		if err != nil {
			t.Fatal(err)
		}
		var outcomes []string
		for _, r := range got {
			outcomes = append(outcomes, fmt.Sprintf("%s %s", r.Outcome, r.Code))
		}
		if !slices.Equal(outcomes, []string{"FAILED NOT_FOUND", "ALLOWED "}) {
			t.Errorf("ann's audit log, newest first: %v", outcomes)
		}
	})
}
