package engine

import (
	"fmt"
	"slices"
	"time"
)

// PlanInput is everything planning looks at. Planning never touches the
// database: the caller loads what exists (account steps, the plan's own
// steps when re-planning) and passes it in.
type PlanInput struct {
	Usage   Usage
	Order   *OrderView // SALES plans
	Account *AccountView
	Lines   []*DecomposedLine // SALES plans: the order's lines (for `bundle`)
	Items   []*Item           // fulfillment lines, new and reused
	// GENERIC plans.
	Type      string
	SubjectID string
	Context   map[string]any
	// AccountSteps are the account-scoped steps the account already has, by
	// step name: reused, never created again.
	AccountSteps map[string]*ExistingStep
	// Existing are the plan's own steps by key (name|instance), when a plan
	// is extended after enrichOrder.
	Existing map[string]*ExistingStep
	Now      time.Time
	// done stops the plan's evaluations when it is closed (the request
	// that wants the plan is gone); nil: never.
	done <-chan struct{}
}

// PlanGraph is a plan as planning makes it: groups, step instances and the
// dependencies between them, before anything is stored.
type PlanGraph struct {
	Scenarios []string
	Groups    []*PlannedGroup
	Steps     []*PlannedStep
	Deps      []*PlannedDep
	// Items are the items of a GENERIC plan (from its scenarios' `items`).
	Items []*Item
}

// PlannedGroup is a swimlane of the plan.
type PlannedGroup struct {
	Name     string
	Scenario string
	Position int
}

// PlannedStep is one step instance.
type PlannedStep struct {
	Key         string // Name|InstanceKey: the step's identity in its plan
	Def         *StepDef
	Group       *PlannedGroup
	InstanceKey string
	BundleKey   string
	Item        *Item
	Status      StepStatus // PENDING, READY or SKIPPED
	Pending     int        // prerequisites not yet done
	// Existing is set when the instance already exists (an account step
	// of an earlier order, or a step of the plan being extended); such
	// steps are not created again.
	Existing *ExistingStep
}

// PlannedDep says Step waits for Prereq.
type PlannedDep struct {
	Step   *PlannedStep
	Prereq *PlannedStep
	Scope  Scope
}

// New reports whether the step is to be created.
func (s *PlannedStep) New() bool { return s.Existing == nil }

// BuildPlan selects the scenarios that match and builds their steps and
// dependencies into one plan: a pure function of the catalog and the input.
// Errors: BAD_USER_INPUT when an expression fails on the input's data
// (exceeding its budget included), or when a GENERIC orchestration matches
// no scenario.
func BuildPlan(cat *Catalog, in *PlanInput) (*PlanGraph, error) {
	b := &planBuilder{cat: cat, in: in, g: &PlanGraph{}, byDef: map[*StepDef][]*PlannedStep{}}
	if in.Usage == "" {
		in.Usage = UsageSales
	}
	if err := b.selectScenarios(); err != nil {
		return nil, err
	}
	if err := b.instantiate(); err != nil {
		return nil, err
	}
	b.link()
	return b.g, nil
}

// withDone binds the helpers of a plan's evaluations to its cancellation.
func (b *planBuilder) withDone(h Helpers) Helpers {
	h.done = b.in.done
	return h
}

type planBuilder struct {
	cat       *Catalog
	in        *PlanInput
	g         *PlanGraph
	scenarios []*ScenarioDef
	items     []*Item
	byDef     map[*StepDef][]*PlannedStep
	helpers   Helpers
}

func (b *planBuilder) selectScenarios() error {
	in := b.in
	if in.Usage == UsageSales {
		b.items = in.Items
		b.helpers = b.withDone(orderHelpers(in.Order, in.Items, in.Now))
		env := &OrderEnv{Helpers: b.helpers, Order: in.Order, Account: in.Account}
		for _, sc := range b.cat.Scenarios {
			if sc.Usage != UsageSales {
				continue
			}
			ok, err := sc.When.Bool(env)
			if err != nil {
				return Errorf(CodeBadUserInput, "scenario %q condition failed: %v", sc.Name, err)
			}
			if ok {
				b.scenarios = append(b.scenarios, sc)
			}
		}
		return nil
	}
	b.helpers = b.withDone(orderHelpers(&OrderView{}, nil, in.Now))
	env := &GenericEnv{Helpers: b.helpers, Type: in.Type, SubjectID: in.SubjectID, Context: in.Context}
	seen := map[string]bool{}
	for _, sc := range b.cat.Scenarios {
		if sc.Usage != UsageGeneric || (sc.Type != "" && sc.Type != in.Type) {
			continue
		}
		ok, err := sc.When.Bool(env)
		if err != nil {
			return Errorf(CodeBadUserInput, "scenario %q condition failed: %v", sc.Name, err)
		}
		if !ok {
			continue
		}
		b.scenarios = append(b.scenarios, sc)
		if !sc.Items.Present() {
			continue
		}
		v, err := sc.Items.Eval(env)
		if err != nil {
			return Errorf(CodeBadUserInput, "scenario %q items failed: %v", sc.Name, err)
		}
		list, ok := v.([]any)
		if !ok && v != nil {
			return Errorf(CodeBadUserInput, "scenario %q items: got %T, want a list", sc.Name, v)
		}
		for i, el := range list {
			it := genericItem(sc.Name, i, el)
			if seen[it.Key] {
				continue
			}
			seen[it.Key] = true
			b.items = append(b.items, it)
		}
	}
	if len(b.scenarios) == 0 {
		return Errorf(CodeBadUserInput, "no GENERIC scenario matches orchestration type %q and this context", in.Type)
	}
	b.g.Items = b.items
	return nil
}

// genericItem makes an item of one element of a GENERIC scenario's items:
// its key is the element's "id" (or its position), its product the
// element's "product".
func genericItem(scenario string, i int, el any) *Item {
	attrs, _ := el.(map[string]any)
	if attrs == nil {
		attrs = map[string]any{"value": el}
	}
	key := fmt.Sprintf("%s:%d", scenario, i)
	if id, ok := attrs["id"]; ok && id != nil {
		key = fmt.Sprint(id)
	}
	product, _ := attrs["product"].(string)
	q := 1
	if n, ok := attrs["quantity"].(int); ok && n > 0 {
		q = n
	}
	return &Item{Key: key, ProductCode: product, Rule: scenario, Scope: DecomposeContext, Quantity: q,
		Attributes: attrs, BundleKey: key}
}

func (b *planBuilder) instantiate() error {
	in := b.in
	lines := map[string]*LineView{}
	for _, l := range in.Lines {
		lines[l.ID] = lineView(l)
	}
	for _, sc := range b.scenarios {
		b.g.Scenarios = append(b.g.Scenarios, sc.Name)
		for _, gd := range sc.Groups {
			grp := &PlannedGroup{Name: gd.Name, Scenario: sc.Name, Position: len(b.g.Groups)}
			b.g.Groups = append(b.g.Groups, grp)
			for _, def := range gd.Steps {
				for _, inst := range b.instances(def) {
					ps := &PlannedStep{Def: def, Group: grp, InstanceKey: inst.key, BundleKey: inst.bundle, Item: inst.item}
					ps.Key = def.Name + "|" + inst.key
					if def.Scope == ScopeAccount {
						ps.Existing = in.AccountSteps[def.Name]
					}
					if ex := in.Existing[ps.Key]; ex != nil {
						ps.Existing = ex
					}
					if ps.New() {
						env := b.stepEnv(ps, lines)
						ok, err := def.When.Bool(env)
						if err != nil {
							return Errorf(CodeBadUserInput, "step %q condition failed: %v", def.Name, err)
						}
						ps.Status = StepPending
						if !ok {
							ps.Status = StepSkipped
						}
					} else {
						ps.Status = ps.Existing.Status
					}
					b.g.Steps = append(b.g.Steps, ps)
					b.byDef[def] = append(b.byDef[def], ps)
				}
			}
		}
	}
	return nil
}

// StepEnvFor builds the environment of a step's expressions.
func (b *planBuilder) stepEnv(ps *PlannedStep, lines map[string]*LineView) *StepEnv {
	in := b.in
	env := &StepEnv{Helpers: b.helpers, Order: in.Order, Account: in.Account, Context: in.Context,
		Type: in.Type, SubjectID: in.SubjectID, Step: &StepView{Name: ps.Def.Name}}
	if env.Order == nil {
		env.Order = &OrderView{Attributes: map[string]any{}}
	}
	if env.Account == nil {
		env.Account = &AccountView{Attributes: map[string]any{}}
	}
	if env.Context == nil {
		env.Context = map[string]any{}
	}
	if ps.Item != nil {
		env.Item = itemView(ps.Item)
	} else {
		env.Item = &ItemView{Attributes: map[string]any{}}
	}
	env.Bundle = lines[ps.BundleKey]
	if env.Bundle == nil {
		env.Bundle = &LineView{Attributes: map[string]any{}}
	}
	return env
}

func itemView(it *Item) *ItemView {
	attrs := it.Attributes
	if attrs == nil {
		attrs = map[string]any{}
	}
	return &ItemView{ID: it.ID, Key: it.Key, ProductCode: it.ProductCode, Quantity: it.Quantity,
		Attributes: attrs, Rule: it.Rule, BundleKey: it.BundleKey}
}

type instance struct {
	key    string
	bundle string
	item   *Item
}

// instances lists the instances a definition gets in this plan.
func (b *planBuilder) instances(def *StepDef) []instance {
	switch def.Scope {
	case ScopePlan:
		return []instance{{key: "PLAN"}}
	case ScopeAccount:
		id := ""
		if b.in.Account != nil {
			id = b.in.Account.ID
		}
		return []instance{{key: "ACCOUNT:" + id}}
	case ScopeItem:
		var out []instance
		for _, it := range b.items {
			if it.Existing != nil || (def.Product != "" && it.ProductCode != def.Product) {
				continue
			}
			out = append(out, instance{key: "ITEM:" + it.Key, bundle: it.BundleKey, item: it})
		}
		return out
	case ScopeBundle:
		var out []instance
		seen := map[string]bool{}
		for _, it := range b.items {
			if it.Existing != nil || it.ProductCode != def.Product || seen[it.BundleKey] {
				continue
			}
			seen[it.BundleKey] = true
			out = append(out, instance{key: "BUNDLE:" + it.BundleKey, bundle: it.BundleKey})
		}
		return out
	}
	return nil
}

// link expands the catalog's dependencies into dependencies between
// instances and counts each new step's open prerequisites.
func (b *planBuilder) link() {
	selected := map[*ScenarioDef]bool{}
	for _, sc := range b.scenarios {
		selected[sc] = true
	}
	type pair struct{ a, b *PlannedStep }
	seen := map[pair]bool{}
	// Instances of a definition by item and by bundle, so that ITEM and
	// BUNDLE dependencies pair in linear time on large orders.
	type index struct{ byItem, byBundle map[string][]*PlannedStep }
	indexes := map[*StepDef]*index{}
	indexOf := func(def *StepDef) *index {
		if ix := indexes[def]; ix != nil {
			return ix
		}
		ix := &index{byItem: map[string][]*PlannedStep{}, byBundle: map[string][]*PlannedStep{}}
		for _, p := range b.byDef[def] {
			if p.Item != nil {
				ix.byItem[p.Item.Key] = append(ix.byItem[p.Item.Key], p)
			}
			if p.BundleKey != "" {
				ix.byBundle[p.BundleKey] = append(ix.byBundle[p.BundleKey], p)
			}
		}
		indexes[def] = ix
		return ix
	}
	for _, sc := range b.scenarios {
		for _, dep := range sc.Dependencies {
			if !selected[dep.Step.Scenario] {
				continue
			}
			for _, pre := range dep.After {
				if !selected[pre.Scenario] {
					continue
				}
				for _, s := range b.byDef[dep.Step] {
					candidates := b.byDef[pre]
					switch dep.Scope {
					case ScopeItem:
						candidates = nil
						if s.Item != nil {
							candidates = indexOf(pre).byItem[s.Item.Key]
						}
					case ScopeBundle:
						candidates = indexOf(pre).byBundle[s.BundleKey]
					}
					for _, p := range candidates {
						if !pairs(dep.Scope, s, p) || seen[pair{s, p}] {
							continue
						}
						// Between two existing steps the dependency is
						// stored already. An existing step takes a new
						// prerequisite only while it has not started.
						if !s.New() && (!p.New() || s.Status != StepPending) {
							continue
						}
						seen[pair{s, p}] = true
						b.g.Deps = append(b.g.Deps, &PlannedDep{Step: s, Prereq: p, Scope: dep.Scope})
					}
				}
			}
		}
	}
	for _, d := range b.g.Deps {
		if !d.Prereq.Status.Done() {
			d.Step.Pending++
		}
	}
	for _, s := range b.g.Steps {
		if s.New() && s.Status == StepPending && s.Pending == 0 {
			s.Status = StepReady
		}
	}
}

// pairs reports whether instance s depends on instance p under the scope.
func pairs(scope Scope, s, p *PlannedStep) bool {
	switch scope {
	case ScopeItem:
		return s.Item != nil && p.Item != nil && s.Item.Key == p.Item.Key
	case ScopeBundle:
		return s.BundleKey != "" && s.BundleKey == p.BundleKey
	}
	return true
}

// StepsByStatus counts the plan's new steps by status.
func (g *PlanGraph) StepsByStatus() map[StepStatus]int {
	out := map[StepStatus]int{}
	for _, s := range g.Steps {
		if s.New() {
			out[s.Status]++
		}
	}
	return out
}

// NewSteps returns the steps to create, in plan order.
func (g *PlanGraph) NewSteps() []*PlannedStep {
	return slices.DeleteFunc(slices.Clone(g.Steps), func(s *PlannedStep) bool { return !s.New() })
}
