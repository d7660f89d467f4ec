package orchestrator

import (
	"context"
	"errors"
	"github.com/batonhq/baton/engine"
	"github.com/batonhq/baton/engine/access"
	"github.com/batonhq/baton/engine/catalog"
	"github.com/batonhq/baton/engine/plan"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"
)

// EnrichOrder merges attributes into an order and its lines (staggered
// decomposition: data that arrives after submission), completes the
// decomposition of lines that were AWAITING_DATA and adds their steps to the
// plan, in one transaction. Steps that have not started take the new steps
// as prerequisites where the catalog says so; steps that have started keep
// going. Errors: NOT_FOUND (order), BAD_USER_INPUT (unknown line id, or
// the new data breaks a rule, or an id, key or value past the input
// limits), INVALID_STATE (the order is finished).
func (e *Engine) EnrichOrder(ctx context.Context, orderID int, attrs map[string]any, lineAttrs map[string]map[string]any) error {
	if err := e.allowOrder(ctx, access.OrderEnrich, orderID); err != nil {
		return err
	}
	c := newInputCheck(e.limits).value("attributes", attrs)
	for _, id := range slices.Sorted(maps.Keys(lineAttrs)) {
		p := keyPath("lineAttributes", id)
		c.name(p, id).value(p, lineAttrs[id])
	}
	if err := c.err(); err != nil {
		return err
	}
	attrs = engine.NormalizeMap(attrs)
	for k, v := range lineAttrs {
		lineAttrs[k] = engine.NormalizeMap(v)
	}
	return e.write(ctx, func(st *txState) error {
		return st.enrich(orderID, attrs, lineAttrs)
	})
}

// enrich is EnrichOrder in st's transaction. Everything that can refuse
// the new data (the rules, the plan's conditions) runs before anything is
// written, so that a refusal leaves the transaction as it was.
func (st *txState) enrich(orderID int, attrs map[string]any, lineAttrs map[string]map[string]any) error {
	o, err := st.tx.LoadOrder(st.ctx, orderID)
	if err != nil {
		return err
	}
	if err := st.enrichLoaded(o, attrs, lineAttrs); err != nil {
		return err
	}
	// New data may move the steps scheduled by it.
	cat, err := st.e.catalogInTx(st.ctx, st.tx, o.CatalogID)
	if err != nil || !cat.HasStartAt() {
		return err
	}
	steps, err := st.tx.LockPlanSteps(st.ctx, o.Plan.ID)
	if err != nil {
		return err
	}
	return st.reschedule(steps)
}

// enrichLoaded is enrich of an order loaded (and its plan locked) in st's
// transaction.
func (st *txState) enrichLoaded(o *engine.StoredOrder, attrs map[string]any, lineAttrs map[string]map[string]any) error {
	ctx, e, tx := st.ctx, st.e, st.tx
	orderID := o.ID
	if o.Status == engine.OrderCompleted || o.Status == engine.OrderCancelled || o.Status == engine.OrderCancelling {
		return engine.Errorf(engine.CodeInvalidState, "order %d is %s; it takes no more data", orderID, o.Status)
	}
	cat, err := e.catalogInTx(ctx, tx, o.CatalogID)
	if err != nil {
		return err
	}
	byID := map[string]*engine.DecomposedLine{}
	for _, l := range o.Lines {
		byID[l.ID] = l
	}
	var problems []engine.Problem
	ids := slices.Sorted(maps.Keys(lineAttrs))
	for _, id := range ids {
		if byID[id] == nil {
			problems = append(problems, engine.Problem{Path: "lineAttributes", Message: "unknown line id " + quote(id)})
		}
	}
	if len(problems) > 0 {
		return &engine.Error{Code: engine.CodeBadUserInput, Message: "invalid enrichment", Problems: problems}
	}
	assignBundles(cat, o.Lines)
	// The order as the plan was last built on: what its steps wait for
	// (plan.Waits) is counted on it.
	prevAttrs := maps.Clone(o.Attributes)
	prevLines := snapshotLines(o.Lines)
	maps.Copy(o.Attributes, attrs)
	for _, id := range ids {
		maps.Copy(byID[id].Attributes, lineAttrs[id])
	}
	in := &engine.OrderInput{ExternalID: o.ExternalID, AccountID: o.AccountID, Attributes: o.Attributes,
		RequestedCompletion: o.RequestedCompletion}
	d := &plan.Decomposition{Attributes: o.Attributes, Lines: o.Lines, Items: o.Items}
	acct, err := tx.LockAccount(ctx, o.AccountRef, o.AccountID)
	if err != nil {
		return err
	}
	done := map[string]bool{}
	for _, it := range o.Items {
		done[it.Key] = true
	}
	awaitingBefore := countAwaiting(o.Lines)
	newItems, err := plan.Redecompose(cat, in, d, acct, done, tx.Now())
	if err != nil {
		return err
	}
	awaitingAfter := countAwaiting(o.Lines)
	if len(newItems) == 0 && awaitingBefore == awaitingAfter {
		if err := tx.UpdateOrderAttributes(ctx, orderID, o.Attributes); err != nil {
			return err
		}
		return tx.UpdateLines(ctx, orderID, o.Lines)
	}
	var items []*engine.Item
	items = append(items, o.Items...)
	items = append(items, newItems...)
	order := &engine.OrderView{ID: o.ID, ExternalID: o.ExternalID, AccountID: o.AccountID, Attributes: o.Attributes,
		RequestedCompletion: o.RequestedCompletion}
	for _, l := range o.Lines {
		order.Lines = append(order.Lines, plan.LineViewOf(l))
	}
	pg, err := plan.BuildPlan(cat, &plan.PlanInput{
		Usage: engine.UsageSales, Order: order, Account: &engine.AccountView{ID: o.AccountID, Attributes: orEmpty(acct.Attributes)},
		Lines: o.Lines, Items: items, AccountSteps: acct.Steps, Existing: o.Steps, Now: tx.Now(),
	})
	if err != nil {
		return err
	}
	waits, err := waitDeltas(cat, pg, o, prevAttrs, prevLines, &engine.AccountView{ID: o.AccountID, Attributes: orEmpty(acct.Attributes)}, tx.Now())
	if err != nil {
		return err
	}
	if err := tx.UpdateOrderAttributes(ctx, orderID, o.Attributes); err != nil {
		return err
	}
	if err := tx.UpdateLines(ctx, orderID, o.Lines); err != nil {
		return err
	}
	np := &engine.NewPlan{ID: o.Plan.ID, OrderID: o.ID, AccountRef: o.AccountRef, AccountID: o.AccountID, Usage: engine.UsageSales,
		CatalogID: o.CatalogID, Graph: pg.Rows(), Extend: true, Status: o.Plan.Status, Groups: o.Groups, Items: newItems, LineIDs: o.LineIDs}
	steps, err := tx.InsertPlan(ctx, np)
	if err != nil {
		return err
	}
	// Existing steps that took new prerequisites wait for them too.
	pending := map[int]int{}
	for _, dep := range pg.Deps {
		if !dep.Step.New() && !dep.Prereq.Status.Done() {
			pending[dep.Step.Existing.ID]++
		}
	}
	// Existing steps that waited for lines that are now decomposed stop
	// waiting for them (their new prerequisite instances, if any, are
	// linked above).
	var lower []int
	for id, d := range waits {
		pending[id] += d
	}
	for id, d := range pending {
		if d < 0 {
			lower = append(lower, id)
		}
	}
	slices.Sort(lower)
	if err := tx.AddPending(ctx, pending); err != nil {
		return err
	}
	open := 0
	for _, s := range steps {
		if !s.Status.Done() {
			open++
		}
	}
	if err := tx.AdjustPlan(ctx, engine.PlanDelta{PlanID: o.Plan.ID, OpenSteps: open, AwaitingLines: awaitingAfter - awaitingBefore}); err != nil {
		return err
	}
	e.emitCreated(tx, o.ID, np, steps)
	if err := st.readyNew(o.Plan.ID, steps); err != nil {
		return err
	}
	// Steps whose count went down may have nothing left to wait for.
	return st.readyIfFree(lower)
}

// readyIfFree makes READY the PENDING steps among ids that wait for
// nothing any more (their counts went down by other means than a
// prerequisite finishing: a wait released, a prerequisite taken away).
func (s *txState) readyIfFree(ids []int) error {
	if len(ids) == 0 {
		return nil
	}
	recs, err := s.tx.LockSteps(s.ctx, ids)
	if err != nil {
		return err
	}
	for _, r := range recs {
		r.Pending -= s.released[r.ID] // counted off in memory, not yet written
		if prev := s.dirty[r.ID]; prev != nil {
			prev.Pending, r = r.Pending, prev // keep the in-memory state; take the new count
		}
		if r.Pending <= 0 && r.Status == engine.StepPending {
			if err := s.makeReady(r, firstReady, "", ""); err != nil {
				return err
			}
		}
	}
	return nil
}

// continueAwaiting goes on with the decomposition of lines AWAITING_DATA
// whose data arrived by another path than enrichOrder: a callout's `set`
// or an auto task's output gave the order attributes a rule requires
// (`requires: [order.x]`). Only orders of catalogs with such rules are
// looked at; a rule the new data breaks leaves the line waiting (a
// warning), it does not fail the transaction of the step that set it.
func (s *txState) continueAwaiting() (bool, error) {
	if len(s.attrsSet) == 0 {
		return false, nil
	}
	orders := s.attrsSet
	s.attrsSet = nil
	moved := false
	for _, orderID := range slices.Sorted(maps.Keys(orders)) {
		cat, err := s.e.catalogInTx(s.ctx, s.tx, orders[orderID])
		if err != nil {
			return moved, err
		}
		if !requiresOrderAttributes(cat) {
			continue
		}
		o, err := s.tx.LoadOrder(s.ctx, orderID)
		if err != nil {
			return moved, err
		}
		if o.Plan.AwaitingLines <= 0 || o.Status == engine.OrderCancelling {
			continue
		}
		if err := s.enrichLoaded(o, nil, nil); err != nil {
			if ee := (*engine.Error)(nil); errors.As(err, &ee) && ee.Code == engine.CodeBadUserInput {
				s.e.log.Warn("lines awaiting data stay waiting: the data a step set breaks a rule", "order", orderID, "error", err)
				continue
			}
			return moved, err
		}
		moved = true
	}
	return moved, nil
}

// requiresOrderAttributes reports whether a decomposition rule of the
// catalog waits for order attributes (which steps can set).
func requiresOrderAttributes(cat *catalog.Catalog) bool {
	for _, rules := range cat.RulesByFrom {
		for _, r := range rules {
			for _, req := range r.Requires {
				if strings.HasPrefix(req, "order.") {
					return true
				}
			}
		}
	}
	return false
}

// waitDeltas is how the waits of the plan's own existing PENDING steps
// change (by step id): what they wait for now (pg's WaitingFor) less what
// they were counted with, on the order as the plan was last built (its
// attributes and lines then, hence its scenarios then).
func waitDeltas(cat *catalog.Catalog, pg *plan.PlanGraph, o *engine.StoredOrder, prevAttrs map[string]any, prevLines []*engine.DecomposedLine, acct *engine.AccountView, now time.Time) (map[int]int, error) {
	prevOrder := &engine.OrderView{ID: o.ID, ExternalID: o.ExternalID, AccountID: o.AccountID, Attributes: prevAttrs,
		RequestedCompletion: o.RequestedCompletion}
	for _, l := range prevLines {
		prevOrder.Lines = append(prevOrder.Lines, plan.LineViewOf(l))
	}
	scenarios, err := plan.Scenarios(cat, &plan.PlanInput{Usage: engine.UsageSales, Order: prevOrder, Account: acct,
		Lines: prevLines, Items: o.Items, Now: now})
	if err != nil {
		return nil, err
	}
	counted := plan.Waits(cat, &plan.PlanGraph{Scenarios: scenarios, Steps: pg.Steps}, prevLines)
	out := map[int]int{}
	for _, s := range pg.Steps {
		if s.New() || s.Status != engine.StepPending || o.Steps[s.Key] != s.Existing {
			continue
		}
		if d := len(s.WaitingFor) - len(counted[s.Key]); d != 0 {
			out[s.Existing.ID] = d
		}
	}
	return out, nil
}

// snapshotLines copies lines with their status and attributes, before
// enrichment changes them.
func snapshotLines(lines []*engine.DecomposedLine) []*engine.DecomposedLine {
	out := make([]*engine.DecomposedLine, len(lines))
	for i, l := range lines {
		c := *l
		c.Attributes = maps.Clone(l.Attributes)
		c.Missing = slices.Clone(l.Missing)
		out[i] = &c
	}
	return out
}

func countAwaiting(lines []*engine.DecomposedLine) int {
	n := 0
	for _, l := range lines {
		if l.Status == engine.LineAwaitingData {
			n++
		}
	}
	return n
}

// assignBundles sets each line's Bundle: the nearest line at or above it
// whose product is a bundle.
func assignBundles(cat *catalog.Catalog, lines []*engine.DecomposedLine) {
	byID := map[string]*engine.DecomposedLine{}
	for _, l := range lines {
		byID[l.ID] = l
	}
	for _, l := range lines {
		l.Bundle = ""
		for cur := l; cur != nil; cur = byID[cur.ParentID] {
			if p := cat.Products[cur.ProductCode]; p != nil && p.Bundle() {
				l.Bundle = cur.ID
				break
			}
			if cur.ParentID == "" {
				break
			}
		}
	}
	sort.SliceStable(lines, func(i, j int) bool { return lines[i].Position < lines[j].Position })
}

func orEmpty(m map[string]any) map[string]any {
	if m == nil {
		return map[string]any{}
	}
	return m
}

func quote(s string) string { return `"` + s + `"` }
