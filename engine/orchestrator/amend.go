package orchestrator

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/batonhq/baton/engine"
	"github.com/batonhq/baton/engine/access"
	"github.com/batonhq/baton/engine/catalog"
	"github.com/batonhq/baton/engine/plan"
)

// The order lifecycle after submission: amendOrder gives an order a new
// set of lines, cancelOrder takes them all away. Either is a revision: the
// revised order is decomposed and planned again (pure functions, on the
// order's catalog version), the new plan diffed against the running one
// (plan.DiffPlan), and the diff applied in one transaction with its
// events. A revision that would take away a step that is running (a
// callout in flight, or answered 202) freezes the plan until those steps
// settle; it applies in the transaction where the last of them does. The
// point of no return refuses what it has frozen (plan.FrozenParts).

// AmendOrder revises an order's lines (and attributes). expectedRevision,
// when not nil, must be the order's revision number (optimistic
// concurrency). Errors: NOT_FOUND; INVALID_STATE (the order is completed,
// cancelled or cancelling); CONFLICT (a stale expectedRevision, or another
// revision still freezing); BAD_USER_INPUT (the revised order, as
// submitOrder checks it, and unknown or unfit assets);
// PAST_POINT_OF_NO_RETURN naming each refused line and the step that froze
// it. Nothing changes on error.
func (e *Engine) AmendOrder(ctx context.Context, orderID int, in engine.AmendInput, expectedRevision *int) (*engine.Revision, error) {
	if err := e.allowOrder(ctx, access.OrderAmend, orderID); err != nil {
		return nil, err
	}
	if err := newInputCheck(e.limits).actor(ctx).text("reason", in.Reason).err(); err != nil {
		return nil, err
	}
	var rec *engine.Revision
	err := e.write(ctx, func(st *txState) error {
		var err error
		rec, err = st.requestRevision(orderID, engine.RevisionAmend, &in, in.Reason, expectedRevision)
		return err
	})
	return rec, err
}

// CancelOrder cancels an order: steps not started are cancelled (manual
// tasks leave their queues), running ones settle, completed ones are
// compensated; the order is CANCELLING until that is done, then
// CANCELLED (at once when nothing runs and nothing is to undo). It is
// idempotent: an order cancelled or cancelling is returned as it is, and
// so is its last revision. Errors: NOT_FOUND; INVALID_STATE (completed);
// CONFLICT (an amendment is freezing); PAST_POINT_OF_NO_RETURN.
func (e *Engine) CancelOrder(ctx context.Context, orderID int, reason string) (*engine.Revision, error) {
	if err := e.allowOrder(ctx, access.OrderCancel, orderID); err != nil {
		return nil, err
	}
	if err := newInputCheck(e.limits).actor(ctx).text("reason", reason).err(); err != nil {
		return nil, err
	}
	var rec *engine.Revision
	err := e.write(ctx, func(st *txState) error {
		var err error
		rec, err = st.requestRevision(orderID, engine.RevisionCancel, nil, reason, nil)
		return err
	})
	if err != nil || rec != nil {
		return rec, err
	}
	// Cancelled or cancelling already: its last revision, read after the
	// transaction (which must not wait for a second connection).
	revs, err := e.store.Revisions(ctx, []int{orderID})
	if err != nil {
		return nil, err
	}
	if list := revs[orderID]; len(list) > 0 {
		return list[len(list)-1], nil
	}
	return nil, engine.Errorf(engine.CodeInvalidState, "order %d is cancelled", orderID)
}

// errPreview ends a preview's transaction without writing.
var errPreview = errors.New("preview: roll back")

// PreviewAmendment returns the diff AmendOrder would apply now, writing
// nothing; what the point of no return refuses is in the diff (Refused),
// not an error. Errors: as AmendOrder, except PAST_POINT_OF_NO_RETURN.
func (e *Engine) PreviewAmendment(ctx context.Context, orderID int, in engine.AmendInput) (*engine.Diff, error) {
	return e.preview(ctx, orderID, engine.RevisionAmend, &in)
}

// PreviewCancellation returns the diff CancelOrder would apply now.
func (e *Engine) PreviewCancellation(ctx context.Context, orderID int) (*engine.Diff, error) {
	return e.preview(ctx, orderID, engine.RevisionCancel, nil)
}

func (e *Engine) preview(ctx context.Context, orderID int, kind engine.RevisionKind, in *engine.AmendInput) (*engine.Diff, error) {
	perm := access.OrderAmend
	if kind == engine.RevisionCancel {
		perm = access.OrderCancel
	}
	if err := e.allowOrder(ctx, perm, orderID); err != nil {
		return nil, err
	}
	var diff *engine.Diff
	err := e.rolledBack(ctx, func(tx engine.Tx) error {
		st := e.newTxState(ctx, tx, 0)
		o, err := st.loadChangeable(orderID, kind, nil)
		if err != nil {
			return err
		}
		if o == nil { // cancelled already: cancelling again changes nothing
			diff = &engine.Diff{}
			return nil
		}
		rv, err := st.computeRevision(o, kind, in, o.Revision+1)
		if err != nil {
			return err
		}
		diff = rv.change.Diff
		return nil
	})
	return diff, err
}

// rolledBack runs fn in a transaction that is rolled back: what a preview
// computes is what the same transaction would apply, from the same locked
// reads, and nothing is written.
func (e *Engine) rolledBack(ctx context.Context, fn func(tx engine.Tx) error) error {
	_, err := e.store.Write(ctx, func(tx engine.Tx) error {
		if err := fn(tx); err != nil {
			return err
		}
		return errPreview
	})
	if errors.Is(err, errPreview) {
		return nil
	}
	return err
}

// Changeability says which lines of an order can still change.
type Changeability struct {
	// Cancellable: cancelOrder would be accepted.
	Cancellable bool
	// Reason says why not, when it is not.
	Reason string
	Lines  []LineChangeability
}

// LineChangeability is one line's standing.
type LineChangeability struct {
	LineID     string
	Changeable bool
	FrozenBy   *engine.Refusal
}

// Changeable reports which of an order's lines an amendment may still
// touch and whether it can be cancelled, as the point of no return and
// its status say now. Errors: NOT_FOUND.
func (e *Engine) Changeable(ctx context.Context, orderID int) (*Changeability, error) {
	if err := e.allowOrder(ctx, access.OrderRead, orderID); err != nil {
		return nil, err
	}
	var out *Changeability
	err := e.rolledBack(ctx, func(tx engine.Tx) error {
		o, err := tx.LoadOrder(ctx, orderID)
		if err != nil {
			return err
		}
		out = &Changeability{Cancellable: true}
		state := stateRefusal(o)
		if state != "" {
			out.Cancellable, out.Reason = false, state
		}
		cat, err := e.catalogInTx(ctx, tx, o.CatalogID)
		if err != nil {
			return err
		}
		steps, err := tx.LockPlanSteps(ctx, o.Plan.ID)
		if err != nil {
			return err
		}
		assignBundles(cat, o.Lines)
		frozen := plan.FrozenParts(cat, steps, itemsByID(o.Items), o.Lines)
		for _, l := range o.Lines {
			lc := LineChangeability{LineID: l.ID, Changeable: state == ""}
			if r, ok := frozen.Lines[l.ID]; ok {
				lc.Changeable, lc.FrozenBy = false, &r
				if out.Cancellable {
					out.Cancellable, out.Reason = false, r.Message
				}
			}
			out.Lines = append(out.Lines, lc)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// stateRefusal says why an order's status takes no revision ("" when it
// takes one).
func stateRefusal(o *engine.StoredOrder) string {
	switch o.Status {
	case engine.OrderCompleted, engine.OrderCancelled, engine.OrderCancelling, engine.OrderRejected:
		return fmt.Sprintf("order %d is %s", o.ID, o.Status)
	}
	return ""
}

// loadChangeable loads and locks an order that is to be revised, checking
// its state before any input: nil (no error) for a cancellation of an
// order already cancelled or cancelling.
func (s *txState) loadChangeable(orderID int, kind engine.RevisionKind, expected *int) (*engine.StoredOrder, error) {
	o, err := s.tx.LoadOrder(s.ctx, orderID)
	if err != nil {
		return nil, err
	}
	if kind == engine.RevisionCancel && (o.Status == engine.OrderCancelled || o.Status == engine.OrderCancelling) {
		return nil, nil
	}
	if kind == engine.RevisionAmend && o.Status == engine.OrderAwaitingApproval {
		return nil, engine.Errorf(engine.CodeInvalidState,
			"order %d is AWAITING_APPROVAL: it can be amended once approved (or cancelled, or rejected and submitted again)", o.ID)
	}
	if reason := stateRefusal(o); reason != "" {
		return nil, engine.Errorf(engine.CodeInvalidState, "%s; it can no longer be %s", reason,
			map[engine.RevisionKind]string{engine.RevisionAmend: "amended", engine.RevisionCancel: "cancelled"}[kind])
	}
	if expected != nil && *expected != o.Revision {
		return nil, engine.Errorf(engine.CodeConflict, "order %d is at revision %d, not %d: read it again and amend that", orderID, o.Revision, *expected)
	}
	pending, err := s.tx.PendingRevision(s.ctx, orderID)
	if err != nil {
		return nil, err
	}
	if pending != nil {
		return nil, engine.Errorf(engine.CodeConflict, "revision %d of order %d is still freezing (waiting for %d running steps); try again when it has applied",
			pending.Number, orderID, len(pending.Diff.Settling))
	}
	return o, nil
}

// revised is a revision worked out against the order as it is.
type revised struct {
	o        *engine.StoredOrder
	cat      *catalog.Catalog
	kind     engine.RevisionKind
	rev      int
	in       *engine.AmendInput
	steps    []*engine.StepRecord
	deps     [][2]int
	decomp   *plan.Decomposition // AMEND
	graph    *plan.PlanGraph     // AMEND
	items    []*engine.Item
	gone     []*engine.Item
	delta    plan.LineDelta
	attrsNew bool
	change   *plan.Change
}

// computeRevision works out what revision rev of kind does to o, writing
// nothing. Errors: BAD_USER_INPUT for revised input the order's catalog
// refuses.
func (s *txState) computeRevision(o *engine.StoredOrder, kind engine.RevisionKind, in *engine.AmendInput, rev int) (*revised, error) {
	ctx, tx := s.ctx, s.tx
	cat, err := s.e.catalogInTx(ctx, tx, o.CatalogID)
	if err != nil {
		return nil, err
	}
	rv := &revised{o: o, cat: cat, kind: kind, rev: rev, in: in}
	if rv.steps, err = tx.LockPlanSteps(ctx, o.Plan.ID); err != nil {
		return nil, err
	}
	if rv.deps, err = tx.PlanDependencies(ctx, o.Plan.ID); err != nil {
		return nil, err
	}
	assignBundles(cat, o.Lines)
	frozen := plan.FrozenParts(cat, rv.steps, itemsByID(o.Items), o.Lines)
	var next []*engine.DecomposedLine
	if kind == engine.RevisionCancel {
		for _, l := range o.Lines {
			rv.delta.Removed = append(rv.delta.Removed, l.ID)
		}
	} else {
		oi := s.revisedInput(o, in)
		normalize(oi)
		if err := checkOrderInput(oi, s.e.limits); err != nil {
			return nil, err
		}
		if err := plan.ValidateOrder(cat, oi); err != nil {
			return nil, err
		}
		if err := s.e.checkAssets(ctx, tx, oi); err != nil {
			return nil, err
		}
		acct, err := tx.LockAccount(ctx, o.AccountRef, o.AccountID)
		if err != nil {
			return nil, err
		}
		d, err := plan.DecomposeUntil(cat, oi, acct, tx.Now(), ctx.Done())
		if err != nil {
			return nil, err
		}
		rv.decomp, next = d, d.Lines
		assignBundles(cat, next)
		rv.delta = plan.DiffLines(o.Lines, next)
		rv.attrsNew = in.Attributes != nil && !plan.SameJSON(o.Attributes, d.Attributes)
		rv.items, rv.gone = plan.MatchItems(o.Items, o.RemovedItems, d.Items, rv.delta, rev)
		_, cross, err := s.e.crossPlan(ctx, tx, cat, oi, d, acct)
		if err != nil {
			return nil, err
		}
		own := map[int]bool{}
		for _, st := range o.Steps {
			own[st.ID] = true
		}
		for name, list := range cross {
			cross[name] = slices.DeleteFunc(list, func(st *engine.ExistingStep) bool { return own[st.ID] })
		}
		order := &engine.OrderView{ID: o.ID, ExternalID: o.ExternalID, AccountID: o.AccountID, Attributes: d.Attributes,
			RequestedCompletion: o.RequestedCompletion}
		for _, l := range next {
			order.Lines = append(order.Lines, plan.LineViewOf(l))
		}
		rv.graph, err = plan.BuildPlan(cat, &plan.PlanInput{
			Usage: engine.UsageSales, Order: order, Account: &engine.AccountView{ID: o.AccountID, Attributes: orEmpty(acct.Attributes)},
			Lines: next, Items: rv.items, AccountSteps: acct.Steps, Existing: o.Steps, CrossSteps: cross, Now: tx.Now(), Done: ctx.Done(),
		})
		if err != nil {
			return nil, err
		}
		if len(rv.graph.Scenarios) == 0 {
			return nil, engine.Errorf(engine.CodeBadUserInput, "no fulfillment scenario of catalog version %d matches the amended order", cat.Version)
		}
	}
	rv.change = plan.DiffPlan(&plan.DiffInput{Cat: cat, Steps: rv.steps, Graph: rv.graph, Lines: rv.delta,
		AttributesChanged: rv.attrsNew, Refused: frozen.Refusals(rv.delta, next, rv.attrsNew)})
	return rv, nil
}

// revisedInput is the order as the amendment has it: the lines given,
// each line's attributes merged over those it has (a key given null is
// removed), and the attributes given or, when none are, the order's.
func (s *txState) revisedInput(o *engine.StoredOrder, in *engine.AmendInput) *engine.OrderInput {
	oi := &engine.OrderInput{ExternalID: o.ExternalID, AccountID: o.AccountID, Attributes: in.Attributes,
		RequestedCompletion: o.RequestedCompletion}
	if oi.Attributes == nil {
		oi.Attributes = maps.Clone(o.Attributes)
	}
	byID := map[string]*engine.DecomposedLine{}
	for _, l := range o.Lines {
		byID[l.ID] = l
	}
	for _, l := range in.Lines {
		attrs := map[string]any{}
		if old := byID[l.ID]; old != nil && old.ProductCode == l.ProductCode {
			maps.Copy(attrs, old.Attributes)
		}
		for k, v := range l.Attributes {
			if v == nil {
				delete(attrs, k)
			} else {
				attrs[k] = v
			}
		}
		l.Attributes = attrs
		oi.Lines = append(oi.Lines, l)
	}
	return oi
}

func itemsByID(items []*engine.Item) map[int]*engine.Item {
	m := make(map[int]*engine.Item, len(items))
	for _, it := range items {
		m[it.ID] = it
	}
	return m
}

// requestRevision records a revision of an order and applies it, or
// freezes the plan when running steps must settle first. It returns nil
// (and no error) for a cancellation of an order cancelled already.
func (s *txState) requestRevision(orderID int, kind engine.RevisionKind, in *engine.AmendInput, reason string, expected *int) (*engine.Revision, error) {
	o, err := s.loadChangeable(orderID, kind, expected)
	if err != nil {
		return nil, err
	}
	if o == nil {
		return nil, nil // cancelled already: CancelOrder answers with its last revision
	}
	rv, err := s.computeRevision(o, kind, in, o.Revision+1)
	if err != nil {
		return nil, err
	}
	if len(rv.change.Diff.Refused) > 0 {
		return nil, engine.RefusalError(rv.change.Diff.Refused)
	}
	rec := &engine.Revision{OrderID: o.ID, Number: rv.rev, Kind: kind, Status: engine.RevisionFreezing, Actor: ActorFrom(s.ctx),
		Reason: reason, Input: in, Diff: rv.change.Diff, RequestedAt: s.now}
	if len(rv.change.Settle) > 0 {
		if err := s.tx.InsertRevision(s.ctx, rec); err != nil {
			return nil, err
		}
		if err := s.tx.FreezePlan(s.ctx, o.Plan.ID, true); err != nil {
			return nil, err
		}
		if err := s.planStatus(o, engine.PlanFreezing, ""); err != nil {
			return nil, err
		}
		s.tx.Emit(&engine.Event{Kind: engine.EventOrderAmended, OrderID: o.ID, PlanID: o.Plan.ID, To: string(engine.RevisionFreezing), At: s.now,
			Actor: rec.Actor, Note: revisionNote(rec, fmt.Sprintf("waits for %d running steps", len(rv.change.Settle)))})
		return rec, nil
	}
	rec.Status, rec.AppliedAt = engine.RevisionApplied, &s.now
	if err := s.tx.InsertRevision(s.ctx, rec); err != nil {
		return nil, err
	}
	return rec, s.applyRevision(rv, rec, false)
}

func revisionNote(rec *engine.Revision, what string) string {
	parts := []string{fmt.Sprintf("revision %d (%s)", rec.Number, strings.ToLower(string(rec.Kind)))}
	if what != "" {
		parts = append(parts, what)
	}
	if rec.Reason != "" {
		parts = append(parts, rec.Reason)
	}
	return strings.Join(parts, ": ")
}

// planStatus moves an order's plan (and, when order is not "", the order)
// with their events.
func (s *txState) planStatus(o *engine.StoredOrder, to engine.PlanStatus, order engine.OrderStatus) error {
	if err := s.tx.SetPlanStatus(s.ctx, o.Plan.ID, to, order); err != nil {
		return err
	}
	s.tx.Emit(&engine.Event{Kind: engine.EventPlanStatus, OrderID: o.ID, PlanID: o.Plan.ID, From: string(o.Plan.Status), To: string(to), At: s.now})
	o.Plan.Status = to
	if order != "" && order != o.Status {
		s.tx.Emit(&engine.Event{Kind: engine.EventOrderStatus, OrderID: o.ID, PlanID: o.Plan.ID, From: string(o.Status), To: string(order), At: s.now})
		o.Status = order
	}
	return nil
}

// applyRevision writes a revision worked out by computeRevision: lines,
// items, cancelled and new steps, compensations, counts, statuses and the
// revision's record. thawing: the plan was FREEZING for it.
func (s *txState) applyRevision(rv *revised, rec *engine.Revision, thawing bool) error {
	ctx, tx, o := s.ctx, s.tx, rv.o
	planID := o.Plan.ID
	actor, note := rec.Actor, revisionNote(rec, "")
	lineIDs := o.LineIDs
	awaitingBefore := countAwaiting(o.Lines)
	awaitingAfter := 0
	if rv.kind == engine.RevisionAmend {
		for _, l := range rv.decomp.Lines {
			l.Revised = slices.Contains(rv.delta.Added, l.ID) || slices.Contains(rv.delta.Changed, l.ID)
		}
		var err error
		if lineIDs, err = tx.ReviseLines(ctx, o.ID, rv.rev, rv.decomp.Lines, rv.delta.Removed); err != nil {
			return err
		}
		if err := tx.UpdateOrderAttributes(ctx, o.ID, rv.decomp.Attributes); err != nil {
			return err
		}
		gone := make([]int, len(rv.gone))
		for i, it := range rv.gone {
			gone[i] = it.ID
		}
		if err := tx.RemoveItems(ctx, gone, rv.rev); err != nil {
			return err
		}
		awaitingAfter = countAwaiting(rv.decomp.Lines)
	}
	// Frozen steps thaw: the revision decides what becomes of them.
	if thawing {
		if err := tx.FreezePlan(ctx, planID, false); err != nil {
			return err
		}
		for _, r := range rv.steps {
			r.Frozen = false
		}
	}
	for _, r := range rv.change.Cancel {
		if err := s.move(r, engine.StepCancelled, actor, note); err != nil {
			return err
		}
		// A cancelled prerequisite no longer holds its dependents back.
		s.finished = append(s.finished, r.ID)
	}
	// The revised plan's new steps, the compensations and the scenarios'
	// revision steps, in one insert.
	rows := &engine.PlanRows{}
	var scenarios []string
	if rv.graph != nil {
		rows = rv.graph.Rows()
		scenarios = rv.graph.Scenarios
	} else {
		for _, r := range rv.steps {
			if !slices.Contains(scenarios, r.Scenario) && r.Scope != engine.ScopeAccount {
				scenarios = append(scenarios, r.Scenario)
			}
		}
	}
	if rv.kind == engine.RevisionCancel || !rv.change.Diff.Empty() || !rv.delta.Empty() || rv.attrsNew {
		extra := plan.RevisionRows(rv.cat, rv.change.Compensate, rv.deps, rv.kind, scenarios, rv.rev, len(o.Groups)+len(rows.Groups))
		rows.Groups = append(rows.Groups, extra.Groups...)
		rows.Steps = append(rows.Steps, extra.Steps...)
		rows.Deps = append(rows.Deps, extra.Deps...)
	}
	var created []*engine.StepRecord
	if len(rows.Steps) > 0 || len(rows.Deps) > 0 {
		var newItems []*engine.Item
		for _, it := range rv.items {
			if it.ID == 0 && it.Existing == nil {
				newItems = append(newItems, it)
			}
		}
		np := &engine.NewPlan{ID: planID, OrderID: o.ID, AccountRef: o.AccountRef, AccountID: o.AccountID, Usage: engine.UsageSales,
			CatalogID: o.CatalogID, Graph: rows, Extend: true, Status: o.Plan.Status, Groups: o.Groups, Items: newItems, LineIDs: lineIDs}
		var err error
		if created, err = tx.InsertPlan(ctx, np); err != nil {
			return err
		}
	}
	pending := map[int]int{}
	if rv.graph != nil {
		for _, dep := range rv.graph.Deps {
			if !dep.Step.New() && !dep.Prereq.Status.Done() {
				pending[dep.Step.Existing.ID]++
			}
		}
		// Waits for lines awaiting data: those the revision removes or
		// decomposes release their steps, those it adds hold them.
		before, after := plan.Waits(rv.cat, rv.graph, o.Lines), plan.Waits(rv.cat, rv.graph, rv.decomp.Lines)
		for _, ps := range rv.graph.Steps {
			if ps.Existing != nil && ps.Existing.Status == engine.StepPending && o.Steps[ps.Key] == ps.Existing {
				if n := len(after[ps.Key]) - len(before[ps.Key]); n != 0 {
					pending[ps.Existing.ID] += n
				}
			}
		}
	}
	for id, n := range pending {
		if n == 0 {
			delete(pending, id)
		}
	}
	if err := tx.AddPending(ctx, pending); err != nil {
		return err
	}
	// Steps whose count went down may have nothing left to wait for.
	var lower []int
	for id, n := range pending {
		if n < 0 {
			lower = append(lower, id)
		}
	}
	if err := s.readyIfFree(lower); err != nil {
		return err
	}
	open := 0
	for _, r := range created {
		if !r.Status.Done() {
			open++
		}
		if r.Compensates != 0 {
			tx.Emit(&engine.Event{Kind: engine.EventCompensationStarted, OrderID: o.ID, PlanID: planID, StepID: r.ID, To: string(r.Status),
				At: s.now, Actor: actor, Note: note + ": undoes step " + strconv.Itoa(r.Compensates), Step: r.Snapshot()})
		}
	}
	if err := tx.AdjustPlan(ctx, engine.PlanDelta{PlanID: planID, OpenSteps: open, AwaitingLines: awaitingAfter - awaitingBefore}); err != nil {
		return err
	}
	s.openDelta[planID] += 0 // roll the plan up at the end (it may be finished now)
	switch {
	case rv.kind == engine.RevisionCancel:
		if thawing {
			s.tx.Emit(&engine.Event{Kind: engine.EventPlanStatus, OrderID: o.ID, PlanID: planID, From: string(engine.PlanFreezing), To: string(engine.PlanFrozen), At: s.now})
			o.Plan.Status = engine.PlanFrozen
		}
		if err := s.planStatus(o, engine.PlanCancelling, engine.OrderCancelling); err != nil {
			return err
		}
	case thawing:
		s.tx.Emit(&engine.Event{Kind: engine.EventPlanStatus, OrderID: o.ID, PlanID: planID, From: string(engine.PlanFreezing), To: string(engine.PlanFrozen), At: s.now})
		o.Plan.Status = engine.PlanFrozen
		if err := s.planStatus(o, engine.PlanInProgress, ""); err != nil {
			return err
		}
	}
	tx.Emit(&engine.Event{Kind: engine.EventOrderAmended, OrderID: o.ID, PlanID: planID, From: map[bool]string{true: string(engine.RevisionFreezing)}[thawing],
		To: string(engine.RevisionApplied), At: s.now, Actor: actor,
		Note: revisionNote(rec, fmt.Sprintf("%d kept, %d cancelled, %d added, %d compensated", len(rv.change.Diff.Kept),
			len(rv.change.Diff.Cancelled), len(rv.change.Diff.Added), len(rv.change.Diff.Compensated)))})
	if thawing {
		// Steps that became READY while the plan was frozen start now.
		for _, r := range rv.steps {
			if r.Status != engine.StepReady {
				continue
			}
			def, err := s.def(r)
			if err != nil {
				return err
			}
			if err := s.activate(r, def); err != nil {
				return err
			}
		}
	}
	if err := s.readyNew(planID, created); err != nil {
		return err
	}
	if rv.kind == engine.RevisionAmend {
		// A changed date moves the steps scheduled by it.
		return s.reschedule(rv.steps)
	}
	return nil
}

// thawRevisions applies the revisions whose plans were FREEZING for steps
// this transaction settled, once none of the steps they wait for runs.
func (s *txState) thawRevisions() (bool, error) {
	if len(s.thaw) == 0 {
		return false, nil
	}
	orders := slices.Sorted(maps.Keys(s.thaw))
	s.thaw = nil
	applied := false
	for _, orderID := range orders {
		o, err := s.tx.LoadOrder(s.ctx, orderID)
		if err != nil {
			return applied, err
		}
		rec, err := s.tx.PendingRevision(s.ctx, orderID)
		if err != nil || rec == nil {
			return applied, err
		}
		rv, err := s.computeRevision(o, rec.Kind, rec.Input, rec.Number)
		if err != nil {
			return applied, fmt.Errorf("thaw revision %d of order %d: %w", rec.Number, orderID, err)
		}
		if len(rv.change.Settle) > 0 {
			continue // still waiting for some
		}
		// Nothing started while the plan was frozen, so the point of no
		// return refuses no more than it did when the revision was
		// accepted.
		rv.change.Diff.Refused = nil
		rec.Status, rec.AppliedAt, rec.Diff = engine.RevisionApplied, &s.now, rv.change.Diff
		if err := s.tx.SaveRevision(s.ctx, rec); err != nil {
			return applied, err
		}
		if err := s.applyRevision(rv, rec, true); err != nil {
			return applied, fmt.Errorf("thaw revision %d of order %d: %w", rec.Number, orderID, err)
		}
		applied = true
	}
	return applied, nil
}
