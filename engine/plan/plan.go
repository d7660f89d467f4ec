package plan

import (
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/batonhq/baton/engine"
	"github.com/batonhq/baton/engine/catalog"
)

// PlanInput is everything planning looks at. Planning never touches the
// database: the caller loads what exists (account steps, the plan's own
// steps when re-planning) and passes it in.
type PlanInput struct {
	Usage   engine.Usage
	Order   *engine.OrderView // SALES plans
	Account *engine.AccountView
	Lines   []*engine.DecomposedLine // SALES plans: the order's lines (for `bundle`)
	Items   []*engine.Item           // fulfillment lines, new and reused
	// GENERIC plans.
	Type      string
	SubjectID string
	Context   map[string]any
	// AccountSteps are the account-scoped steps the account already has, by
	// step name: reused, never created again.
	AccountSteps map[string]*engine.ExistingStep
	// Existing are the plan's own steps by key (name|instance), when a plan
	// is extended after enrichOrder.
	Existing map[string]*engine.ExistingStep
	// CrossSteps are the unfinished steps of earlier plans with this
	// plan's key (PlanKey), by step name: what CROSS_PLAN dependencies wait
	// for.
	CrossSteps map[string][]*engine.ExistingStep
	Now        time.Time
	// Done stops the plan's evaluations when it is closed (the request
	// that wants the plan is gone); nil: never.
	Done <-chan struct{}
}

// PlanGraph is a plan as planning makes it: groups, step instances and the
// dependencies between them, before anything is stored.
type PlanGraph struct {
	Scenarios []string
	Groups    []*engine.PlannedGroup
	Steps     []*PlannedStep
	Deps      []*PlannedDep
	// Items are the items of a GENERIC plan (from its scenarios' `items`).
	Items []*engine.Item
}

// PlannedStep is one step instance.
type PlannedStep struct {
	Key         string // Name|InstanceKey: the step's identity in its plan
	Def         *catalog.StepDef
	Group       *engine.PlannedGroup
	InstanceKey string
	BundleKey   string
	Item        *engine.Item
	Status      engine.StepStatus // PENDING, READY or SKIPPED
	Pending     int               // prerequisites not yet done
	// WaitingFor are the AWAITING_DATA lines (ids, sorted) that could
	// still add instances of the step's prerequisites (Waits); each adds
	// one to a new step's Pending.
	WaitingFor []string
	// Existing is set when the instance already exists (an account step
	// of an earlier order, or a step of the plan being extended); such
	// steps are not created again.
	Existing *engine.ExistingStep
}

// PlannedDep says Step waits for Prereq.
type PlannedDep struct {
	Step   *PlannedStep
	Prereq *PlannedStep
	Scope  engine.Scope
}

// New reports whether the step is to be created.
func (s *PlannedStep) New() bool { return s.Existing == nil }

// BuildPlan selects the scenarios that match and builds their steps and
// dependencies into one plan: a pure function of the catalog and the input.
// Errors: BAD_USER_INPUT when an expression fails on the input's data
// (exceeding its budget included), or when a GENERIC orchestration matches
// no scenario.
func BuildPlan(cat *catalog.Catalog, in *PlanInput) (*PlanGraph, error) {
	b := &planBuilder{cat: cat, in: in, g: &PlanGraph{}, byDef: map[*catalog.StepDef][]*PlannedStep{}}
	if in.Usage == "" {
		in.Usage = engine.UsageSales
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

// Scenarios returns the names of the scenarios that match the input, as
// BuildPlan selects them (for a caller that needs to know what an earlier
// plan of the same order was built with). Errors: as BuildPlan's.
func Scenarios(cat *catalog.Catalog, in *PlanInput) ([]string, error) {
	b := &planBuilder{cat: cat, in: in, g: &PlanGraph{}}
	if in.Usage == "" {
		in.Usage = engine.UsageSales
	}
	if err := b.selectScenarios(); err != nil {
		return nil, err
	}
	var out []string
	for _, sc := range b.scenarios {
		out = append(out, sc.Name)
	}
	return out, nil
}

// withDone binds the helpers of a plan's evaluations to its cancellation.
func (b *planBuilder) withDone(h catalog.Helpers) catalog.Helpers {
	h.Done = b.in.Done
	return h
}

type planBuilder struct {
	cat       *catalog.Catalog
	in        *PlanInput
	g         *PlanGraph
	scenarios []*catalog.ScenarioDef
	items     []*engine.Item
	byDef     map[*catalog.StepDef][]*PlannedStep
	helpers   catalog.Helpers
}

func (b *planBuilder) selectScenarios() error {
	in := b.in
	if in.Usage == engine.UsageSales {
		b.items = in.Items
		b.helpers = b.withDone(catalog.OrderHelpers(in.Order, in.Items, in.Now))
		env := &catalog.OrderEnv{Helpers: b.helpers, Order: in.Order, Account: in.Account}
		for _, sc := range b.cat.Scenarios {
			if sc.Usage != engine.UsageSales {
				continue
			}
			ok, err := sc.When.Bool(env)
			if err != nil {
				return engine.Errorf(engine.CodeBadUserInput, "scenario %q condition failed: %v", sc.Name, err)
			}
			if ok {
				b.scenarios = append(b.scenarios, sc)
			}
		}
		return nil
	}
	b.helpers = b.withDone(catalog.OrderHelpers(&engine.OrderView{}, nil, in.Now))
	env := &catalog.GenericEnv{Helpers: b.helpers, Type: in.Type, SubjectID: in.SubjectID, Context: in.Context}
	seen := map[string]bool{}
	for _, sc := range b.cat.Scenarios {
		if sc.Usage != engine.UsageGeneric || (sc.Type != "" && sc.Type != in.Type) {
			continue
		}
		ok, err := sc.When.Bool(env)
		if err != nil {
			return engine.Errorf(engine.CodeBadUserInput, "scenario %q condition failed: %v", sc.Name, err)
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
			return engine.Errorf(engine.CodeBadUserInput, "scenario %q items failed: %v", sc.Name, err)
		}
		list, ok := v.([]any)
		if !ok && v != nil {
			return engine.Errorf(engine.CodeBadUserInput, "scenario %q items: got %T, want a list", sc.Name, v)
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
		return engine.Errorf(engine.CodeBadUserInput, "no GENERIC scenario matches orchestration type %q and this context", in.Type)
	}
	b.g.Items = b.items
	return nil
}

// genericItem makes an item of one element of a GENERIC scenario's items:
// its key is the element's "id" (or its position), its product the
// element's "product".
func genericItem(scenario string, i int, el any) *engine.Item {
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
	return &engine.Item{Key: key, ProductCode: product, Rule: scenario, Scope: engine.DecomposeContext, Quantity: q,
		Attributes: attrs, BundleKey: key}
}

func (b *planBuilder) instantiate() error {
	in := b.in
	lines := map[string]*engine.LineView{}
	for _, l := range in.Lines {
		lines[l.ID] = LineViewOf(l)
	}
	for _, sc := range b.scenarios {
		b.g.Scenarios = append(b.g.Scenarios, sc.Name)
		for _, gd := range sc.Groups {
			grp := &engine.PlannedGroup{Name: gd.Name, Scenario: sc.Name, Position: len(b.g.Groups)}
			b.g.Groups = append(b.g.Groups, grp)
			for _, def := range gd.Steps {
				for _, inst := range b.instances(def) {
					ps := &PlannedStep{Def: def, Group: grp, InstanceKey: inst.key, BundleKey: inst.bundle, Item: inst.item}
					ps.Key = def.Name + "|" + inst.key
					if def.Scope == engine.ScopeAccount {
						ps.Existing = in.AccountSteps[def.Name]
					}
					if ex := in.Existing[ps.Key]; ex != nil {
						ps.Existing = ex
					}
					if ps.New() {
						env := b.stepEnv(ps, lines)
						ok, err := def.When.Bool(env)
						if err != nil {
							return engine.Errorf(engine.CodeBadUserInput, "step %q condition failed: %v", def.Name, err)
						}
						ps.Status = engine.StepPending
						if !ok {
							ps.Status = engine.StepSkipped
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
func (b *planBuilder) stepEnv(ps *PlannedStep, lines map[string]*engine.LineView) *catalog.StepEnv {
	in := b.in
	env := &catalog.StepEnv{Helpers: b.helpers, Order: in.Order, Account: in.Account, Context: in.Context,
		Type: in.Type, SubjectID: in.SubjectID, Step: &catalog.StepView{Name: ps.Def.Name}}
	if env.Order == nil {
		env.Order = &engine.OrderView{Attributes: map[string]any{}}
	}
	if env.Account == nil {
		env.Account = &engine.AccountView{Attributes: map[string]any{}}
	}
	if env.Context == nil {
		env.Context = map[string]any{}
	}
	if ps.Item != nil {
		env.Item = itemView(ps.Item)
	} else {
		env.Item = &engine.ItemView{Attributes: map[string]any{}}
	}
	env.Bundle = lines[ps.BundleKey]
	if env.Bundle == nil {
		env.Bundle = &engine.LineView{Attributes: map[string]any{}}
	}
	return env
}

func itemView(it *engine.Item) *engine.ItemView {
	attrs := it.Attributes
	if attrs == nil {
		attrs = map[string]any{}
	}
	return &engine.ItemView{ID: it.ID, Key: it.Key, ProductCode: it.ProductCode, Quantity: it.Quantity,
		Attributes: attrs, Rule: it.Rule, BundleKey: it.BundleKey}
}

type instance struct {
	key    string
	bundle string
	item   *engine.Item
}

// instances lists the instances a definition gets in this plan.
func (b *planBuilder) instances(def *catalog.StepDef) []instance {
	switch def.Scope {
	case engine.ScopePlan:
		return []instance{{key: "PLAN"}}
	case engine.ScopeAccount:
		id := ""
		if b.in.Account != nil {
			id = b.in.Account.ID
		}
		return []instance{{key: "ACCOUNT:" + id}}
	case engine.ScopeItem:
		var out []instance
		for _, it := range b.items {
			if it.Existing != nil || (def.Product != "" && it.ProductCode != def.Product) {
				continue
			}
			out = append(out, instance{key: "ITEM:" + it.Key, bundle: it.BundleKey, item: it})
		}
		return out
	case engine.ScopeBundle:
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
	selected := map[*catalog.ScenarioDef]bool{}
	for _, sc := range b.scenarios {
		selected[sc] = true
	}
	type pair struct{ a, b *PlannedStep }
	seen := map[pair]bool{}
	// Instances of a definition by item and by bundle, so that ITEM and
	// BUNDLE dependencies pair in linear time on large orders.
	type index struct{ byItem, byBundle map[string][]*PlannedStep }
	indexes := map[*catalog.StepDef]*index{}
	indexOf := func(def *catalog.StepDef) *index {
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
			if dep.Scope == engine.ScopeCrossPlan {
				b.linkCrossPlan(dep)
				continue
			}
			for _, pre := range dep.After {
				if !selected[pre.Scenario] {
					continue
				}
				for _, s := range b.byDef[dep.Step] {
					candidates := b.byDef[pre]
					switch dep.Scope {
					case engine.ScopeItem:
						candidates = nil
						if s.Item != nil {
							candidates = indexOf(pre).byItem[s.Item.Key]
						}
					case engine.ScopeBundle:
						candidates = indexOf(pre).byBundle[s.BundleKey]
					}
					for _, p := range candidates {
						if !pairs(dep.Scope, s, p) || seen[pair{s, p}] {
							continue
						}
						// Between two existing steps the dependency is
						// stored already. An existing step takes a new
						// prerequisite only while it has not started.
						if !s.New() && (!p.New() || s.Status != engine.StepPending) {
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
	// A step also waits for the lines that could still add instances of
	// its prerequisites. An existing step's stored count has what it
	// waited for already; its caller applies the changes.
	waits := Waits(b.cat, b.g, b.in.Lines)
	for _, s := range b.g.Steps {
		s.WaitingFor = waits[s.Key]
		if s.New() {
			s.Pending += len(s.WaitingFor)
		}
	}
	for _, s := range b.g.Steps {
		if s.New() && s.Status == engine.StepPending && s.Pending == 0 {
			s.Status = engine.StepReady
		}
	}
}

// linkCrossPlan makes the new instances of a CROSS_PLAN dependency's step
// wait for every unfinished instance of its prerequisites in earlier plans
// with the same key. Only new steps take them: dependencies between plans
// point from later plans to earlier ones, so they never form a cycle.
func (b *planBuilder) linkCrossPlan(dep *catalog.DependencyDef) {
	for _, pre := range dep.After {
		for _, ex := range b.in.CrossSteps[pre.Name] {
			p := &PlannedStep{Key: ex.Name + "|" + strconv.Itoa(ex.ID), Def: pre, Status: ex.Status, Existing: ex}
			for _, s := range b.byDef[dep.Step] {
				if s.New() {
					b.g.Deps = append(b.g.Deps, &PlannedDep{Step: s, Prereq: p, Scope: engine.ScopeCrossPlan})
				}
			}
		}
	}
}

// PlanKey evaluates the planKey of the SALES scenarios that match the
// order: the first that gives a value is the plan's key ("" when none
// does). Errors: BAD_USER_INPUT when an expression fails on the order.
func PlanKey(cat *catalog.Catalog, in *PlanInput) (string, error) {
	keyed := false
	for _, sc := range cat.Scenarios {
		keyed = keyed || sc.PlanKey.Present()
	}
	if !keyed {
		return "", nil // the usual case: no scenario to select again
	}
	b := &planBuilder{cat: cat, in: in, g: &PlanGraph{}, byDef: map[*catalog.StepDef][]*PlannedStep{}}
	if in.Usage == "" {
		in.Usage = engine.UsageSales
	}
	if in.Usage != engine.UsageSales {
		return "", nil
	}
	if err := b.selectScenarios(); err != nil {
		return "", err
	}
	env := &catalog.OrderEnv{Helpers: b.helpers, Order: in.Order, Account: in.Account}
	for _, sc := range b.scenarios {
		if !sc.PlanKey.Present() {
			continue
		}
		v, err := sc.PlanKey.Eval(env)
		if err != nil {
			return "", engine.Errorf(engine.CodeBadUserInput, "scenario %q planKey failed: %v", sc.Name, err)
		}
		if v != nil && fmt.Sprint(v) != "" {
			return fmt.Sprint(v), nil
		}
	}
	return "", nil
}

// CrossPlanSteps lists the names of the steps a plan's CROSS_PLAN
// dependencies may wait for (nil when the catalog has none).
func CrossPlanSteps(cat *catalog.Catalog) []string {
	var out []string
	for _, sc := range cat.Scenarios {
		for _, d := range sc.Dependencies {
			if d.Scope != engine.ScopeCrossPlan {
				continue
			}
			for _, a := range d.After {
				if !slices.Contains(out, a.Name) {
					out = append(out, a.Name)
				}
			}
		}
	}
	return out
}

// pairs reports whether instance s depends on instance p under the scope.
func pairs(scope engine.Scope, s, p *PlannedStep) bool {
	switch scope {
	case engine.ScopeItem:
		return s.Item != nil && p.Item != nil && s.Item.Key == p.Item.Key
	case engine.ScopeBundle:
		return s.BundleKey != "" && s.BundleKey == p.BundleKey
	}
	return true
}

// NewSteps returns the steps to create, in plan order.
func (g *PlanGraph) NewSteps() []*PlannedStep {
	return slices.DeleteFunc(slices.Clone(g.Steps), func(s *PlannedStep) bool { return !s.New() })
}

// Rows is the plan as the store writes it: the new steps in plan order with
// their definitions materialised, and the dependencies with at least one new
// side (an existing side by id).
func (g *PlanGraph) Rows() *engine.PlanRows {
	r := &engine.PlanRows{Groups: g.Groups}
	byStep := map[*PlannedStep]*engine.NewStep{}
	for _, ps := range g.NewSteps() {
		def := ps.Def
		s := &engine.NewStep{Name: def.Name, Scenario: def.Scenario.Name, Type: def.Type, Scope: def.Scope,
			InstanceKey: ps.InstanceKey, BundleKey: ps.BundleKey, Group: ps.Group, Item: ps.Item,
			Status: ps.Status, Pending: ps.Pending, PointOfNoReturn: def.PointOfNoReturn}
		if def.Task != nil {
			s.Queue, s.Assignee = def.Task.Queue, def.Task.Assignee
		}
		if def.Callout != nil && def.Callout.System != nil {
			s.System = def.Callout.System.Name
		}
		byStep[ps] = s
		r.Steps = append(r.Steps, s)
	}
	for _, d := range g.Deps {
		nd := &engine.NewDep{Step: byStep[d.Step], Prereq: byStep[d.Prereq]}
		if nd.Step == nil {
			nd.StepID = d.Step.Existing.ID
		}
		if nd.Prereq == nil {
			nd.PrereqID = d.Prereq.Existing.ID
		}
		r.Deps = append(r.Deps, nd)
	}
	return r
}
