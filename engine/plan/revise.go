package plan

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strconv"

	"github.com/batonhq/baton/engine"
	"github.com/batonhq/baton/engine/catalog"
)

// A revision of an order (amendOrder, cancelOrder) is planned by pure
// functions, like the order itself: the revised order is decomposed and
// planned again against the order's catalog version, and the new plan is
// diffed against the running one step by step. The caller loads what
// exists and writes what the diff says.

// LineDelta is how a revision changes an order's lines, by line id.
type LineDelta struct {
	Added, Changed, Removed []string
}

// Touched reports whether the revision adds, changes or removes the line.
func (d LineDelta) Touched(id string) bool {
	return slices.Contains(d.Added, id) || slices.Contains(d.Changed, id) || slices.Contains(d.Removed, id)
}

// Empty reports whether no line changes.
func (d LineDelta) Empty() bool { return len(d.Added)+len(d.Changed)+len(d.Removed) == 0 }

// DiffLines compares an order's lines (bundles expanded) with the revised
// ones: a line is changed when its product, quantity, parent, action,
// asset or attributes differ.
func DiffLines(old, next []*engine.DecomposedLine) LineDelta {
	var d LineDelta
	byID := map[string]*engine.DecomposedLine{}
	for _, l := range old {
		byID[l.ID] = l
	}
	seen := map[string]bool{}
	for _, n := range next {
		seen[n.ID] = true
		o := byID[n.ID]
		switch {
		case o == nil:
			d.Added = append(d.Added, n.ID)
		case lineChanged(o, n):
			d.Changed = append(d.Changed, n.ID)
		}
	}
	for _, o := range old {
		if !seen[o.ID] {
			d.Removed = append(d.Removed, o.ID)
		}
	}
	return d
}

func lineChanged(a, b *engine.DecomposedLine) bool {
	return a.ProductCode != b.ProductCode || a.Quantity != b.Quantity || a.ParentID != b.ParentID ||
		a.Action != b.Action || a.AssetID != b.AssetID || !SameJSON(a.Attributes, b.Attributes)
}

// SameJSON compares two JSON objects as JSON (1 and 1.0 are the same
// number; a missing map and an empty one the same object).
func SameJSON(a, b map[string]any) bool {
	if len(a) == 0 && len(b) == 0 {
		return true
	}
	x, err1 := json.Marshal(a)
	y, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && string(x) == string(y)
}

var revisionSuffix = regexp.MustCompile(`@r[0-9]+$`)

// baseKey is an item's key without the revision that re-created it.
func baseKey(k string) string { return revisionSuffix.ReplaceAllString(k, "") }

// MatchItems matches the fulfillment lines of a revised order's
// decomposition (fresh) with those the order has (stored; removed are
// those earlier revisions took away). A stored item is kept when the
// revised order makes it again from the same source lines and the
// revision touches none of them; otherwise the fresh item is new, its key
// marked with the revision when the key was used before (the steps of the
// old item keep theirs). It returns the revised order's items and the
// stored ones that no longer apply. Account items are shared by the
// account's orders: they are never removed.
func MatchItems(stored, removed, fresh []*engine.Item, lines LineDelta, rev int) (items, gone []*engine.Item) {
	used := map[string]bool{}
	byKey := map[string]*engine.Item{}
	byBase := map[string]*engine.Item{}
	for _, it := range stored {
		used[it.Key] = true
		byKey[it.Key] = it
		if it.Scope != engine.DecomposeAccount {
			byBase[baseKey(it.Key)] = it
		}
	}
	for _, it := range removed {
		used[it.Key] = true
	}
	kept := map[*engine.Item]bool{}
	for _, f := range fresh {
		if f.Scope == engine.DecomposeAccount {
			if s := byKey[f.Key]; s != nil {
				f = s // this order created it: plan it as its own
			}
			items = append(items, f)
			kept[f] = true
			continue
		}
		if s := byBase[baseKey(f.Key)]; s != nil && !kept[s] && sameSources(s.Sources, f.Sources) && !anyTouched(lines, f.Sources) {
			kept[s] = true
			items = append(items, s)
			continue
		}
		if used[f.Key] {
			f.Key = baseKey(f.Key) + "@r" + strconv.Itoa(rev)
		}
		used[f.Key] = true
		items = append(items, f)
	}
	for _, s := range stored {
		if !kept[s] && s.Scope != engine.DecomposeAccount {
			gone = append(gone, s)
		}
	}
	return items, gone
}

func sameSources(a, b []string) bool {
	x, y := slices.Clone(a), slices.Clone(b)
	slices.Sort(x)
	slices.Sort(y)
	return slices.Equal(x, y)
}

func anyTouched(d LineDelta, ids []string) bool {
	for _, id := range ids {
		if d.Touched(id) {
			return true
		}
	}
	return false
}

// Frozen is what the point of no return has frozen in an order.
type Frozen struct {
	// Lines: each frozen line with the step that froze it (the first by
	// step id when several did).
	Lines map[string]engine.Refusal
	// Bundles: frozen bundles (by bundle key): a line added to one is
	// refused too.
	Bundles map[string]engine.Refusal
	// Order: a PLAN step froze the whole order (nil: it did not).
	Order *engine.Refusal
}

// Started reports whether a step has started in the sense of the point of
// no return: it ran (or is running), or waits for an answer or a person.
func Started(r *engine.StepRecord) bool {
	switch r.Status {
	case engine.StepRunning, engine.StepWaiting, engine.StepCompleted, engine.StepFailed, engine.StepFallout:
		return true
	}
	return r.Attempts > 0
}

// FrozenParts works out what the started pointOfNoReturn steps of a plan
// freeze: an ITEM step its line and its bundle (DRO propagates the point
// of no return within the bundle), a BUNDLE step its bundle, a PLAN step
// the whole order. lines are the order's lines with their bundles
// assigned; items its fulfillment lines by id.
func FrozenParts(cat *catalog.Catalog, steps []*engine.StepRecord, items map[int]*engine.Item, lines []*engine.DecomposedLine) *Frozen {
	f := &Frozen{Lines: map[string]engine.Refusal{}, Bundles: map[string]engine.Refusal{}}
	sorted := slices.Clone(steps)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].ID < sorted[j].ID })
	freeze := func(line string, r *engine.StepRecord, scope string) {
		if _, ok := f.Lines[line]; ok {
			return
		}
		f.Lines[line] = refusal(line, r, scope)
	}
	for _, r := range sorted {
		def := cat.Step(r.Name)
		if def == nil || !def.PointOfNoReturn || !Started(r) {
			continue
		}
		switch r.Scope {
		case engine.ScopePlan:
			if f.Order == nil {
				o := refusal("", r, "ORDER")
				f.Order = &o
			}
			for _, l := range lines {
				freeze(l.ID, r, "ORDER")
			}
		case engine.ScopeItem, engine.ScopeBundle:
			scope := "BUNDLE"
			if it := items[r.ItemID]; it != nil && r.Scope == engine.ScopeItem {
				for _, src := range it.Sources {
					freeze(src, r, "LINE")
				}
			}
			if r.BundleKey == "" {
				continue
			}
			if _, ok := f.Bundles[r.BundleKey]; !ok {
				f.Bundles[r.BundleKey] = refusal(r.BundleKey, r, scope)
			}
			for _, l := range lines {
				if l.Bundle == r.BundleKey || l.ID == r.BundleKey {
					freeze(l.ID, r, scope)
				}
			}
		}
	}
	return f
}

func refusal(line string, r *engine.StepRecord, scope string) engine.Refusal {
	return engine.Refusal{LineID: line, StepID: r.ID, StepName: r.Name, Scope: scope, Message: freezeMessage(line, r.Name, r.ID, scope)}
}

// freezeMessage says which step froze a line ("" line: the order).
func freezeMessage(line, step string, id int, scope string) string {
	what := map[string]string{"LINE": "its line", "BUNDLE": "its bundle", "ORDER": "the whole order"}[scope]
	msg := fmt.Sprintf("step %q (%d) is past its point of no return, which freezes %s", step, id, what)
	if line != "" {
		msg = fmt.Sprintf("line %q: %s", line, msg)
	}
	return msg
}

// Refusals lists what a revision may not do: touch a frozen line, add a
// line to a frozen bundle, or change anything of an order a PLAN step
// froze. next are the revised order's lines (bundles assigned).
func (f *Frozen) Refusals(d LineDelta, next []*engine.DecomposedLine, attributesChanged bool) []engine.Refusal {
	var out []engine.Refusal
	seen := map[string]bool{}
	add := func(line string, r engine.Refusal) {
		if seen[line] {
			return
		}
		seen[line] = true
		r.LineID, r.Message = line, freezeMessage(line, r.StepName, r.StepID, r.Scope)
		out = append(out, r)
	}
	for _, id := range append(slices.Clone(d.Changed), d.Removed...) {
		if r, ok := f.Lines[id]; ok {
			add(id, r)
		}
	}
	for _, l := range next {
		if !slices.Contains(d.Added, l.ID) && !slices.Contains(d.Changed, l.ID) {
			continue // an added line, or a changed one that may have moved into a frozen bundle
		}
		if f.Order != nil {
			add(l.ID, *f.Order)
		} else if r, ok := f.Bundles[l.Bundle]; ok && l.Bundle != "" {
			add(l.ID, r)
		}
	}
	if f.Order != nil && attributesChanged && len(out) == 0 {
		r := *f.Order
		r.Message = "the order's attributes: " + freezeMessage("", r.StepName, r.StepID, r.Scope)
		out = append(out, r)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].LineID < out[j].LineID })
	return out
}

// Change is a revision worked out: its diff, and the steps it acts on.
type Change struct {
	Diff *engine.Diff
	// Cancel: steps to cancel; Compensate: completed steps to undo;
	// Settle: running steps the revision waits for (it applies only when
	// there are none).
	Cancel, Compensate, Settle []*engine.StepRecord
}

// DiffInput is what diffing a revision looks at.
type DiffInput struct {
	Cat *catalog.Catalog
	// Steps are the plan's steps now.
	Steps []*engine.StepRecord
	// Graph is the revised order planned with the plan's steps as
	// Existing; nil when nothing applies any more (cancellation).
	Graph             *PlanGraph
	Lines             LineDelta
	AttributesChanged bool
	Refused           []engine.Refusal
}

// DiffPlan diffs the revised plan against the running one. Steps of the
// account (shared by the account's orders) and steps earlier revisions
// created (compensations, onAmend and onCancel steps) are kept.
func DiffPlan(in *DiffInput) *Change {
	ch := &Change{Diff: &engine.Diff{Refused: in.Refused, LinesAdded: in.Lines.Added, LinesChanged: in.Lines.Changed,
		LinesRemoved: in.Lines.Removed, AttributesChanged: in.AttributesChanged}}
	d := ch.Diff
	alive := map[int]bool{}
	if in.Graph != nil {
		for _, ps := range in.Graph.Steps {
			if ps.Existing != nil {
				alive[ps.Existing.ID] = true
			}
		}
	}
	steps := slices.Clone(in.Steps)
	sort.Slice(steps, func(i, j int) bool { return steps[i].ID < steps[j].ID })
	// Steps an earlier revision compensated already.
	undone := map[int]bool{}
	for _, r := range steps {
		if r.Compensates != 0 {
			undone[r.Compensates] = true
		}
	}
	for _, r := range steps {
		ds := engine.DiffStep{ID: r.ID, Name: r.Name, InstanceKey: r.InstanceKey, Status: r.Status}
		def := in.Cat.Step(r.Name)
		if alive[r.ID] || r.Scope == engine.ScopeAccount || (def != nil && def.Role != "") || def == nil {
			d.Kept = append(d.Kept, ds)
			continue
		}
		switch {
		case r.Status == engine.StepCancelled || r.Status == engine.StepSkipped || undone[r.ID]:
			// finished without effect: nothing to do
		case r.Status == engine.StepCompleted && def.Compensation != nil:
			ds.Compensation = def.Compensation.Name
			d.Compensated = append(d.Compensated, ds)
			ch.Compensate = append(ch.Compensate, r)
		case r.Status == engine.StepCompleted:
			d.Retained = append(d.Retained, ds)
		case r.Status == engine.StepRunning || (r.Status == engine.StepWaiting && r.Type == engine.Callout):
			if def.Compensation != nil {
				ds.Compensation = def.Compensation.Name
			}
			d.Settling = append(d.Settling, ds)
			ch.Settle = append(ch.Settle, r)
		default:
			d.Cancelled = append(d.Cancelled, ds)
			ch.Cancel = append(ch.Cancel, r)
		}
	}
	if in.Graph != nil {
		for _, ps := range in.Graph.NewSteps() {
			d.Added = append(d.Added, engine.DiffStep{Name: ps.Def.Name, InstanceKey: ps.InstanceKey, Status: ps.Status})
		}
	}
	return ch
}

// RevisionRows are the steps a revision adds besides the revised plan's
// own: the compensations of completed steps, in reverse dependency order,
// and the scenarios' onAmend / onCancel steps after them.
//
// deps are the plan's dependencies (step, prerequisite); scenarios the
// scenarios whose onAmend or onCancel steps run (kind says which); rev the
// revision's number, which names the instances.
func RevisionRows(cat *catalog.Catalog, compensate []*engine.StepRecord, deps [][2]int, kind engine.RevisionKind, scenarios []string, rev int, position int) *engine.PlanRows {
	rows := &engine.PlanRows{}
	groups := map[string]*engine.PlannedGroup{}
	group := func(scenario, name string) *engine.PlannedGroup {
		key := scenario + "|" + name
		if g := groups[key]; g != nil {
			return g
		}
		g := &engine.PlannedGroup{Name: name, Scenario: scenario, Position: position + len(groups)}
		groups[key] = g
		rows.Groups = append(rows.Groups, g)
		return g
	}
	// What each step waits for, directly or through others.
	after := map[int][]int{}
	for _, d := range deps {
		after[d[0]] = append(after[d[0]], d[1])
	}
	reaches := func(from, to int) bool { // from waits (transitively) for to
		seen := map[int]bool{}
		stack := []int{from}
		for len(stack) > 0 {
			n := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			for _, p := range after[n] {
				if p == to {
					return true
				}
				if !seen[p] {
					seen[p] = true
					stack = append(stack, p)
				}
			}
		}
		return false
	}
	byStep := map[int]*engine.NewStep{}
	var comps []*engine.NewStep
	for _, r := range compensate {
		cd := cat.Step(r.Name).Compensation
		s := newStepOf(cd, group(r.Scenario, "Compensation (revision "+strconv.Itoa(rev)+")"), "UNDO:"+strconv.Itoa(r.ID))
		s.BundleKey, s.Compensates = r.BundleKey, r.ID
		if r.ItemID != 0 {
			s.Item = &engine.Item{ID: r.ItemID}
		}
		byStep[r.ID] = s
		comps = append(comps, s)
		rows.Steps = append(rows.Steps, s)
	}
	// Reverse order: when b waited for a, a's compensation waits for b's.
	for _, a := range compensate {
		for _, b := range compensate {
			if a != b && reaches(b.ID, a.ID) {
				rows.Deps = append(rows.Deps, &engine.NewDep{Step: byStep[a.ID], Prereq: byStep[b.ID]})
			}
		}
	}
	for _, name := range scenarios {
		sc := cat.Scenario(name)
		if sc == nil {
			continue
		}
		list, label, prefix := sc.OnAmend, "On amend", "AMEND:"
		if kind == engine.RevisionCancel {
			list, label, prefix = sc.OnCancel, "On cancel", "CANCEL:"
		}
		for _, def := range list {
			s := newStepOf(def, group(name, label+" (revision "+strconv.Itoa(rev)+")"), prefix+strconv.Itoa(rev))
			for _, c := range comps {
				rows.Deps = append(rows.Deps, &engine.NewDep{Step: s, Prereq: c})
			}
			rows.Steps = append(rows.Steps, s)
		}
	}
	for _, d := range rows.Deps {
		d.Step.Pending++
	}
	for _, s := range rows.Steps {
		if s.Pending == 0 {
			s.Status = engine.StepReady
		}
	}
	return rows
}

func newStepOf(def *catalog.StepDef, g *engine.PlannedGroup, instance string) *engine.NewStep {
	s := &engine.NewStep{Name: def.Name, Scenario: def.Scenario.Name, Type: def.Type, Scope: def.Scope, InstanceKey: instance,
		Group: g, Status: engine.StepPending}
	if def.Task != nil {
		s.Queue, s.Assignee = def.Task.Queue, def.Task.Assignee
	}
	if def.Callout != nil && def.Callout.System != nil {
		s.System = def.Callout.System.Name
	}
	return s
}
