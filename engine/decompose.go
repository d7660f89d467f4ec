package engine

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// OrderInput is a commercial order as submitted.
type OrderInput struct {
	ExternalID          string
	AccountID           string
	Attributes          map[string]any
	Lines               []LineInput
	RequestedCompletion *time.Time
}

// LineInput is one submitted order line.
type LineInput struct {
	ID          string
	ProductCode string
	Quantity    int
	Attributes  map[string]any
	ParentID    string
	Action      LineAction
	AssetID     int
}

// AccountState is what already exists for an account when an order is
// decomposed and planned: its account items (by rule) and its
// account-scoped steps (by step name), which are reused, never recreated.
type AccountState struct {
	ID         string
	Attributes map[string]any
	Items      map[string]*ExistingItem
	Steps      map[string]*ExistingStep
}

// ExistingItem is a stored account item.
type ExistingItem struct {
	ID          int
	Key         string
	Rule        string
	ProductCode string
	Quantity    int
	Attributes  map[string]any
}

// ExistingStep is a stored step that a new plan may depend on.
type ExistingStep struct {
	ID     int
	Name   string
	Status StepStatus
}

// Decomposition is what enrichment and decomposition make of an order.
type Decomposition struct {
	// Attributes are the order's attributes after enrichment.
	Attributes map[string]any
	// Lines are the order's lines, bundles expanded, in position order.
	Lines []*DecomposedLine
	// Items are the fulfillment lines: new ones, and reused account items
	// (Existing set).
	Items []*Item
}

// DecomposedLine is an order line after enrichment and bundle expansion.
type DecomposedLine struct {
	LineInput
	Position  int
	Generated bool
	Status    LineStatus
	// Missing lists what a decomposition rule waits for (AWAITING_DATA).
	Missing []string
	// Bundle is the id of the nearest bundle line at or above this line,
	// or "" when the line is in no bundle.
	Bundle string
}

// Item is a fulfillment line: one instance of a technical product.
type Item struct {
	Key         string
	ProductCode string
	Rule        string
	Scope       DecompositionScope
	Quantity    int
	Attributes  map[string]any
	Sources     []string // ids of the source lines
	BundleKey   string   // the bundle line id, or the source line id when in no bundle
	Existing    *ExistingItem
	// ID is the stored id, once written (or of the existing item).
	ID int
}

// ValidateOrder checks a submitted order against the catalog before
// anything is written. Errors: BAD_USER_INPUT listing every problem, each
// naming its line.
func ValidateOrder(cat *Catalog, in *OrderInput) error {
	var ps []Problem
	add := func(path, format string, args ...any) {
		ps = append(ps, Problem{Path: path, Message: fmt.Sprintf(format, args...)})
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
		if l.Action != "" && !slices.Contains(LineActions, l.Action) {
			add(path+".action", "line %q: unknown action %q", l.ID, l.Action)
		}
		if l.Action != "" && l.Action != ActionAdd && l.AssetID == 0 {
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
		return &Error{Code: CodeBadUserInput, Message: "invalid order", Problems: ps}
	}
	return nil
}

// Decompose enriches an order and breaks its commercial lines into
// fulfillment lines. It is a pure function of the catalog, the order (which
// ValidateOrder accepted) and what the account already has.
//
// Each expression runs within the budget of the catalog's limits; one
// that fails or exceeds it is BAD_USER_INPUT naming the rule and the line.
func Decompose(cat *Catalog, in *OrderInput, acct *AccountState, now time.Time) (*Decomposition, error) {
	return decompose(cat, in, acct, now, nil)
}

// decompose is Decompose whose evaluations stop when done is closed (the
// request that wants the decomposition is gone).
func decompose(cat *Catalog, in *OrderInput, acct *AccountState, now time.Time, done <-chan struct{}) (*Decomposition, error) {
	d := &Decomposition{Attributes: cloneMap(in.Attributes)}
	lines, err := expandLines(cat, in.Lines)
	if err != nil {
		return nil, err
	}
	d.Lines = lines
	ctx := newEvalContext(cat, in, d, acct, now)
	ctx.helpers.done = done
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
func Redecompose(cat *Catalog, in *OrderInput, d *Decomposition, acct *AccountState, done map[string]bool, now time.Time) ([]*Item, error) {
	ctx := newEvalContext(cat, in, d, acct, now)
	var waiting []*DecomposedLine
	for _, l := range d.Lines {
		if l.Status == LineAwaitingData {
			l.Status, l.Missing = LineDecomposed, nil
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
func expandLines(cat *Catalog, lines []LineInput) ([]*DecomposedLine, error) {
	limit := cat.limits.withDefaults().OrderLines
	children := map[string][]LineInput{}
	var roots []LineInput
	for _, l := range lines {
		if l.Action == "" {
			l.Action = ActionAdd
		}
		l.Attributes = cloneMap(l.Attributes)
		if l.ParentID == "" {
			roots = append(roots, l)
		} else {
			children[l.ParentID] = append(children[l.ParentID], l)
		}
	}
	var out []*DecomposedLine
	var walk func(l LineInput, generated bool, bundle string)
	walk = func(l LineInput, generated bool, bundle string) {
		if len(out) > limit {
			return
		}
		p := cat.Products[l.ProductCode]
		if p != nil && p.Bundle() {
			bundle = l.ID
		}
		out = append(out, &DecomposedLine{LineInput: l, Position: len(out), Generated: generated,
			Status: LineDecomposed, Bundle: bundle})
		kids := children[l.ID]
		if len(kids) == 0 && p != nil && p.Bundle() {
			for _, c := range p.Components {
				kids = append(kids, LineInput{
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
		return nil, Errorf(CodeBadUserInput, "the order expands to more than %d lines with its bundles' components (OrderLines)", limit)
	}
	return out, nil
}

// evalContext holds the views expressions see while decomposing one order.
type evalContext struct {
	order   *OrderView
	account *AccountView
	helpers Helpers
	lines   map[string]*LineView
}

func newEvalContext(cat *Catalog, in *OrderInput, d *Decomposition, acct *AccountState, now time.Time) *evalContext {
	ctx := &evalContext{lines: map[string]*LineView{}}
	ctx.order = &OrderView{ExternalID: in.ExternalID, AccountID: in.AccountID, Attributes: d.Attributes,
		RequestedCompletion: in.RequestedCompletion}
	for _, l := range d.Lines {
		if l.Attributes == nil {
			l.Attributes = map[string]any{}
		}
		lv := lineView(l)
		ctx.order.Lines = append(ctx.order.Lines, lv)
		ctx.lines[l.ID] = lv
	}
	ctx.account = &AccountView{ID: in.AccountID, Attributes: map[string]any{}}
	if acct != nil && acct.Attributes != nil {
		ctx.account.Attributes = acct.Attributes
	}
	ctx.helpers = orderHelpers(ctx.order, nil, now)
	return ctx
}

func lineView(l *DecomposedLine) *LineView {
	return &LineView{ID: l.ID, ProductCode: l.ProductCode, Quantity: l.Quantity, Attributes: l.Attributes,
		ParentID: l.ParentID, Action: string(l.Action), AssetID: l.AssetID}
}

// orderHelpers binds the helper functions to an order's lines and items.
func orderHelpers(o *OrderView, items []*Item, now time.Time) Helpers {
	return Helpers{
		HasProduct: func(code string) bool {
			for _, l := range o.Lines {
				if l.ProductCode == code {
					return true
				}
			}
			for _, it := range items {
				if it.ProductCode == code {
					return true
				}
			}
			return false
		},
		CountProduct: func(code string) int {
			n := 0
			for _, l := range o.Lines {
				if l.ProductCode == code {
					n += l.Quantity
				}
			}
			for _, it := range items {
				if it.ProductCode == code {
					n += it.Quantity
				}
			}
			return n
		},
		Now: now,
	}
}

func enrich(cat *Catalog, ctx *evalContext, d *Decomposition) error {
	for _, r := range cat.Enrichments {
		if !r.Lines {
			env := &OrderEnv{Helpers: ctx.helpers, Order: ctx.order, Account: ctx.account}
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
			env := &LineEnv{Helpers: ctx.helpers, Order: ctx.order, Account: ctx.account,
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
		return Errorf(CodeBadUserInput, "%s rule %q failed on line %q: %v", kind, rule, line, err)
	}
	return Errorf(CodeBadUserInput, "%s rule %q failed: %v", kind, rule, err)
}

// missingAttributes lists the required attributes a line lacks: plain names
// are line attributes, order.x order attributes.
func missingAttributes(req []string, l *DecomposedLine, orderAttrs map[string]any) []string {
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

func decomposeLines(cat *Catalog, ctx *evalContext, lines []*DecomposedLine, acct *AccountState, done map[string]bool) ([]*Item, error) {
	var items []*Item
	byKey := map[string]*Item{}
	// A line waits as a whole when any of its rules misses data.
	for _, l := range lines {
		var missing []string
		for _, r := range cat.rulesByFrom[l.ProductCode] {
			for _, m := range missingAttributes(r.Requires, l, ctx.order.Attributes) {
				if !slices.Contains(missing, m) {
					missing = append(missing, m)
				}
			}
		}
		if len(missing) > 0 {
			l.Status, l.Missing = LineAwaitingData, missing
		}
	}
	for _, l := range lines {
		if l.Status == LineAwaitingData {
			continue
		}
		for _, r := range cat.rulesByFrom[l.ProductCode] {
			env := &LineEnv{Helpers: ctx.helpers, Order: ctx.order, Account: ctx.account,
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
			case DecomposeLine:
				key = r.Name + ":" + l.ID
			case DecomposeBundle:
				key = r.Name + ":" + bundleKey
			case DecomposeAccount:
				key = r.Name + ":account"
			}
			if it := byKey[key]; it != nil {
				it.Sources = append(it.Sources, l.ID)
				continue
			}
			if done[key] {
				continue
			}
			if r.Scope == DecomposeAccount && acct != nil {
				if ex := acct.Items[r.Name]; ex != nil {
					it := &Item{Key: ex.Key, ProductCode: ex.ProductCode, Rule: r.Name, Scope: DecomposeAccount,
						Quantity: ex.Quantity, Attributes: ex.Attributes, Existing: ex, ID: ex.ID}
					byKey[key] = it
					items = append(items, it)
					continue
				}
			}
			def := 1
			if r.Scope == DecomposeLine {
				def = l.Quantity
			}
			q, err := r.Quantity.Int(env, def)
			if err != nil {
				return nil, ruleError("decomposition", r.Name, l.ID, err)
			}
			if q < 1 {
				return nil, Errorf(CodeBadUserInput, "decomposition rule %q gives line %q quantity %d; it must be 1 or more", r.Name, l.ID, q)
			}
			attrs := map[string]any{}
			for _, a := range r.Attributes {
				v, err := a.Expr.Eval(env)
				if err != nil {
					return nil, ruleError("decomposition", r.Name, l.ID, err)
				}
				attrs[a.Name] = v
			}
			it := &Item{Key: key, ProductCode: r.To, Rule: r.Name, Scope: r.Scope, Quantity: q,
				Attributes: attrs, Sources: []string{l.ID}, BundleKey: bundleKey}
			if r.Scope == DecomposeAccount {
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
