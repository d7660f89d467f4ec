package orchestrator

import (
	"context"
	"github.com/batonhq/baton/engine"
	"github.com/batonhq/baton/engine/catalog"
	"github.com/batonhq/baton/engine/plan"
	"maps"
	"slices"
	"sort"
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
		tx := st.tx
		o, err := tx.LoadOrder(ctx, orderID)
		if err != nil {
			return err
		}
		if o.Status == engine.OrderCompleted || o.Status == engine.OrderCancelled {
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
		maps.Copy(o.Attributes, attrs)
		for _, id := range ids {
			maps.Copy(byID[id].Attributes, lineAttrs[id])
		}
		assignBundles(cat, o.Lines)
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
		if err := tx.UpdateOrderAttributes(ctx, orderID, o.Attributes); err != nil {
			return err
		}
		if err := tx.UpdateLines(ctx, orderID, o.Lines); err != nil {
			return err
		}
		if len(newItems) == 0 && awaitingBefore == awaitingAfter {
			return nil
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
		return st.readyNew(o.Plan.ID, steps)
	})
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
