package plan

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/batonhq/baton/engine"
	"github.com/batonhq/baton/engine/catalog"
)

// Decomposition is what enrichment and decomposition make of an order.
type Decomposition struct {
	// Attributes are the order's attributes after enrichment.
	Attributes map[string]any
	// Lines are the order's lines, bundles expanded, in position order.
	Lines []*engine.DecomposedLine
	// Items are the fulfillment lines: new ones, and reused account items
	// (Existing set).
	Items []*engine.Item
}

// ValidateOrder checks a submitted order against the catalog before
// anything is written. Errors: BAD_USER_INPUT listing every problem, each
// naming its line.
func ValidateOrder(cat *catalog.Catalog, in *engine.OrderInput) error {
	var ps []engine.Problem
	add := func(path, format string, args ...any) {
		ps = append(ps, engine.Problem{Path: path, Message: fmt.Sprintf(format, args...)})
	}
	if strings.TrimSpace(in.ExternalID) == "" {
		add("externalId", "externalId must not be empty")
	}
	if strings.TrimSpace(in.AccountID) == "" {
		add("accountId", "accountId must not be empty")
	}
	if len(in.Lines) == 0 {
		add("lines", "an order needs at least one line")
	}
	ids := map[string]int{}
	for i, l := range in.Lines {
		path := fmt.Sprintf("lines[%d]", i)
		switch prev, dup := ids[l.ID]; {
		case strings.TrimSpace(l.ID) == "":
			add(path+".id", "line id must not be empty")
		case dup:
			add(path+".id", "duplicate line id %q (also lines[%d])", l.ID, prev)
		default:
			ids[l.ID] = i
		}
		p, ok := cat.Products[l.ProductCode]
		switch {
		case !ok:
			add(path+".productCode", "line %q: unknown product %q", l.ID, l.ProductCode)
		case p.Technical:
			add(path+".productCode", "line %q: %q is a TECHNICAL product; order commercial products, decomposition creates technical ones", l.ID, l.ProductCode)
		}
		if l.Quantity < 1 {
			add(path+".quantity", "line %q: quantity must be 1 or more, got %d", l.ID, l.Quantity)
		}
		if l.Action != "" && !slices.Contains(engine.LineActions, l.Action) {
			add(path+".action", "line %q: unknown action %q", l.ID, l.Action)
		}
		if l.Action != "" && l.Action != engine.ActionAdd && l.AssetID == 0 {
			add(path+".assetId", "line %q: a %s line needs the assetId it changes", l.ID, l.Action)
		}
	}
	for i, l := range in.Lines {
		if l.ParentID == "" {
			continue
		}
		path := fmt.Sprintf("lines[%d].parentId", i)
		if _, ok := ids[l.ParentID]; !ok {
			add(path, "line %q: unknown parentId %q", l.ID, l.ParentID)
			continue
		}
		// Walk up: a parent chain that comes back is a cycle.
		seen := map[string]bool{l.ID: true}
		for p := l.ParentID; p != ""; {
			if seen[p] {
				add(path, "line %q: parent chain loops back through %q", l.ID, p)
				break
			}
			seen[p] = true
			j, ok := ids[p]
			if !ok {
				break
			}
			p = in.Lines[j].ParentID
		}
	}
	if len(ps) > 0 {
		return &engine.Error{Code: engine.CodeBadUserInput, Message: "invalid order", Problems: ps}
	}
	return nil
}

// Decompose enriches an order and breaks its commercial lines into
// fulfillment lines. It is a pure function of the catalog, the order (which
// ValidateOrder accepted) and what the account already has.
//
// Each expression runs within the budget of the catalog's limits; one
// that fails or exceeds it is BAD_USER_INPUT naming the rule and the line.
func Decompose(cat *catalog.Catalog, in *engine.OrderInput, acct *engine.AccountState, now time.Time) (*Decomposition, error) {
	return DecomposeUntil(cat, in, acct, now, nil)
}

// DecomposeUntil is Decompose whose evaluations stop when done is closed (the
// request that wants the decomposition is gone).
func DecomposeUntil(cat *catalog.Catalog, in *engine.OrderInput, acct *engine.AccountState, now time.Time, done <-chan struct{}) (*Decomposition, error) {
	d := &Decomposition{Attributes: cloneMap(in.Attributes)}
	lines, err := expandLines(cat, in.Lines)
	if err != nil {
		return nil, err
	}
	d.Lines = lines
	ctx := newEvalContext(cat, in, d, acct, now)
	ctx.helpers.Done = done
	if err := enrich(cat, ctx, d); err != nil {
		return nil, err
	}
	items, err := decomposeLines(cat, ctx, d.Lines, acct, nil)
	if err != nil {
		return nil, err
	}
	d.Items = items
	return d, nil
}

// Redecompose completes the decomposition of lines that were AWAITING_DATA
// once attributes arrive (enrichOrder): it returns the new items of the
// lines that are now complete. Lines keep their identity; done lists the
// keys of items that already exist.
func Redecompose(cat *catalog.Catalog, in *engine.OrderInput, d *Decomposition, acct *engine.AccountState, done map[string]bool, now time.Time) ([]*engine.Item, error) {
	ctx := newEvalContext(cat, in, d, acct, now)
	var waiting []*engine.DecomposedLine
	for _, l := range d.Lines {
		if l.Status == engine.LineAwaitingData {
			l.Status, l.Missing = engine.LineDecomposed, nil
			waiting = append(waiting, l)
		}
	}
	items, err := decomposeLines(cat, ctx, waiting, acct, done)
	if err != nil {
		return nil, err
	}
	return items, nil
}

// expandLines orders lines (each bundle before its components) and adds
// the catalog components of bundle lines submitted without children.
// Errors: BAD_USER_INPUT when the order expands to more than OrderLines
// lines (each bundle of the catalog is within it, but an order may hold
// many).
func expandLines(cat *catalog.Catalog, lines []engine.LineInput) ([]*engine.DecomposedLine, error) {
	limit := cat.Limits.WithDefaults().OrderLines
	children := map[string][]engine.LineInput{}
	var roots []engine.LineInput
	for _, l := range lines {
		if l.Action == "" {
			l.Action = engine.ActionAdd
		}
		l.Attributes = cloneMap(l.Attributes)
		if l.ParentID == "" {
			roots = append(roots, l)
		} else {
			children[l.ParentID] = append(children[l.ParentID], l)
		}
	}
	var out []*engine.DecomposedLine
	var walk func(l engine.LineInput, generated bool, bundle string)
	walk = func(l engine.LineInput, generated bool, bundle string) {
		if len(out) > limit {
			return
		}
		p := cat.Products[l.ProductCode]
		if p != nil && p.Bundle() {
			bundle = l.ID
		}
		out = append(out, &engine.DecomposedLine{LineInput: l, Position: len(out), Generated: generated,
			Status: engine.LineDecomposed, Bundle: bundle})
		kids := children[l.ID]
		if len(kids) == 0 && p != nil && p.Bundle() {
			for _, c := range p.Components {
				kids = append(kids, engine.LineInput{
					ID: l.ID + "/" + c.Product, ProductCode: c.Product, Quantity: l.Quantity * c.Quantity,
					ParentID: l.ID, Action: l.Action, Attributes: map[string]any{},
				})
			}
			for _, k := range kids {
				walk(k, true, bundle)
			}
			return
		}
		for _, k := range kids {
			walk(k, generated, bundle)
		}
	}
	for _, r := range roots {
		walk(r, false, "")
	}
	if len(out) > limit {
		return nil, engine.Errorf(engine.CodeBadUserInput, "the order expands to more than %d lines with its bundles' components (OrderLines)", limit)
	}
	return out, nil
}

// evalContext holds the views expressions see while decomposing one order.
type evalContext struct {
	order   *engine.OrderView
	account *engine.AccountView
	helpers catalog.Helpers
	lines   map[string]*engine.LineView
}

func newEvalContext(cat *catalog.Catalog, in *engine.OrderInput, d *Decomposition, acct *engine.AccountState, now time.Time) *evalContext {
	ctx := &evalContext{lines: map[string]*engine.LineView{}}
	ctx.order = &engine.OrderView{ExternalID: in.ExternalID, AccountID: in.AccountID, Attributes: d.Attributes,
		RequestedCompletion: in.RequestedCompletion}
	for _, l := range d.Lines {
		if l.Attributes == nil {
			l.Attributes = map[string]any{}
		}
		lv := LineViewOf(l)
		ctx.order.Lines = append(ctx.order.Lines, lv)
		ctx.lines[l.ID] = lv
	}
	ctx.account = &engine.AccountView{ID: in.AccountID, Attributes: map[string]any{}}
	if acct != nil && acct.Attributes != nil {
		ctx.account.Attributes = acct.Attributes
	}
	ctx.helpers = catalog.OrderHelpers(ctx.order, nil, now)
	return ctx
}

func LineViewOf(l *engine.DecomposedLine) *engine.LineView {
	return &engine.LineView{ID: l.ID, ProductCode: l.ProductCode, Quantity: l.Quantity, Attributes: l.Attributes,
		ParentID: l.ParentID, Action: string(l.Action), AssetID: l.AssetID}
}

func enrich(cat *catalog.Catalog, ctx *evalContext, d *Decomposition) error {
	for _, r := range cat.Enrichments {
		if !r.Lines {
			env := &catalog.OrderEnv{Helpers: ctx.helpers, Order: ctx.order, Account: ctx.account}
			ok, err := r.When.Bool(env)
			if err != nil {
				return ruleError("enrichment", r.Name, "", err)
			}
			if !ok {
				continue
			}
			for _, a := range r.Set {
				v, err := a.Expr.Eval(env)
				if err != nil {
					return ruleError("enrichment", r.Name, "", err)
				}
				d.Attributes[a.Name] = v
			}
			continue
		}
		for _, l := range d.Lines {
			if r.Product != "" && l.ProductCode != r.Product {
				continue
			}
			env := &catalog.LineEnv{Helpers: ctx.helpers, Order: ctx.order, Account: ctx.account,
				Line: ctx.lines[l.ID], Bundle: ctx.lines[l.Bundle]}
			ok, err := r.When.Bool(env)
			if err != nil {
				return ruleError("enrichment", r.Name, l.ID, err)
			}
			if !ok {
				continue
			}
			for _, a := range r.Set {
				v, err := a.Expr.Eval(env)
				if err != nil {
					return ruleError("enrichment", r.Name, l.ID, err)
				}
				l.Attributes[a.Name] = v
			}
		}
	}
	return nil
}

// ruleError reports an expression that failed on this order's data: the
// catalog compiled, but the order does not fit it.
func ruleError(kind, rule, line string, err error) error {
	if line != "" {
		return engine.Errorf(engine.CodeBadUserInput, "%s rule %q failed on line %q: %v", kind, rule, line, err)
	}
	return engine.Errorf(engine.CodeBadUserInput, "%s rule %q failed: %v", kind, rule, err)
}

// missingAttributes lists the required attributes a line lacks: plain names
// are line attributes, order.x order attributes.
func missingAttributes(req []string, l *engine.DecomposedLine, orderAttrs map[string]any) []string {
	var out []string
	for _, r := range req {
		if name, ok := strings.CutPrefix(r, "order."); ok {
			if orderAttrs[name] == nil {
				out = append(out, r)
			}
			continue
		}
		if l.Attributes[r] == nil {
			out = append(out, r)
		}
	}
	return out
}

func decomposeLines(cat *catalog.Catalog, ctx *evalContext, lines []*engine.DecomposedLine, acct *engine.AccountState, done map[string]bool) ([]*engine.Item, error) {
	var items []*engine.Item
	byKey := map[string]*engine.Item{}
	// A line waits as a whole when any of its rules misses data.
	for _, l := range lines {
		var missing []string
		for _, r := range cat.RulesByFrom[l.ProductCode] {
			for _, m := range missingAttributes(r.Requires, l, ctx.order.Attributes) {
				if !slices.Contains(missing, m) {
					missing = append(missing, m)
				}
			}
		}
		if len(missing) > 0 {
			l.Status, l.Missing = engine.LineAwaitingData, missing
		}
	}
	for _, l := range lines {
		if l.Status == engine.LineAwaitingData {
			continue
		}
		for _, r := range cat.RulesByFrom[l.ProductCode] {
			env := &catalog.LineEnv{Helpers: ctx.helpers, Order: ctx.order, Account: ctx.account,
				Line: ctx.lines[l.ID], Bundle: ctx.lines[l.Bundle]}
			ok, err := r.When.Bool(env)
			if err != nil {
				return nil, ruleError("decomposition", r.Name, l.ID, err)
			}
			if !ok {
				continue
			}
			bundleKey := l.Bundle
			if bundleKey == "" {
				bundleKey = l.ID
			}
			var key string
			switch r.Scope {
			case engine.DecomposeLine:
				key = r.Name + ":" + l.ID
			case engine.DecomposeBundle:
				key = r.Name + ":" + bundleKey
			case engine.DecomposeAccount:
				key = r.Name + ":account"
			}
			if it := byKey[key]; it != nil {
				it.Sources = append(it.Sources, l.ID)
				continue
			}
			if done[key] {
				continue
			}
			if r.Scope == engine.DecomposeAccount && acct != nil {
				if ex := acct.Items[r.Name]; ex != nil {
					it := &engine.Item{Key: ex.Key, ProductCode: ex.ProductCode, Rule: r.Name, Scope: engine.DecomposeAccount,
						Quantity: ex.Quantity, Attributes: ex.Attributes, Existing: ex, ID: ex.ID}
					byKey[key] = it
					items = append(items, it)
					continue
				}
			}
			def := 1
			if r.Scope == engine.DecomposeLine {
				def = l.Quantity
			}
			q, err := r.Quantity.Int(env, def)
			if err != nil {
				return nil, ruleError("decomposition", r.Name, l.ID, err)
			}
			if q < 1 {
				return nil, engine.Errorf(engine.CodeBadUserInput, "decomposition rule %q gives line %q quantity %d; it must be 1 or more", r.Name, l.ID, q)
			}
			attrs := map[string]any{}
			for _, a := range r.Attributes {
				v, err := a.Expr.Eval(env)
				if err != nil {
					return nil, ruleError("decomposition", r.Name, l.ID, err)
				}
				attrs[a.Name] = v
			}
			it := &engine.Item{Key: key, ProductCode: r.To, Rule: r.Name, Scope: r.Scope, Quantity: q,
				Attributes: attrs, Sources: []string{l.ID}, BundleKey: bundleKey}
			if r.Scope == engine.DecomposeAccount {
				it.BundleKey = ""
			}
			byKey[key] = it
			items = append(items, it)
		}
	}
	return items, nil
}

func cloneMap(m map[string]any) map[string]any {
	if m == nil {
		return map[string]any{}
	}
	return maps.Clone(m)
}
