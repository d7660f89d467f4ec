package plan

import (
	"slices"

	"github.com/batonhq/baton/engine"
	"github.com/batonhq/baton/engine/catalog"
)

// Waits says, for the PENDING steps of g (by PlannedStep.Key), which
// AWAITING_DATA lines among lines each step waits for: only steps that wait
// appear, each with its line ids sorted.
//
// A step waits for a line when it depends (a dependency of one of g's
// scenarios) on an ITEM or BUNDLE definition whose instances the line could
// still produce once its data arrives — one of the line's decomposition
// rules makes the definition's product — and the dependency takes every
// instance of the definition: PLAN scope, or BUNDLE scope when the line is
// in the step's bundle (a line's bundle is its nearest bundle line, or the
// line itself). ITEM dependencies pair a step with its own item's
// instances, which a waiting line never adds. A line with no rule to the
// product never makes a step wait.
//
// Called with the lines before and after a change (enrichment, amendment)
// on the same graph, the difference is the change in the steps' waits.
func Waits(cat *catalog.Catalog, g *PlanGraph, lines []*engine.DecomposedLine) map[string][]string {
	out := map[string][]string{}
	var awaiting []*engine.DecomposedLine
	for _, l := range lines {
		if l.Status == engine.LineAwaitingData {
			awaiting = append(awaiting, l)
		}
	}
	if len(awaiting) == 0 || len(g.Steps) == 0 {
		return out
	}
	selected := map[string]bool{}
	for _, name := range g.Scenarios {
		selected[name] = true
	}
	byDef := map[*catalog.StepDef][]*PlannedStep{}
	for _, s := range g.Steps {
		if s.Status == engine.StepPending {
			byDef[s.Def] = append(byDef[s.Def], s)
		}
	}
	type pair struct{ step, line string }
	seen := map[pair]bool{}
	for _, sc := range cat.Scenarios {
		if !selected[sc.Name] {
			continue
		}
		for _, dep := range sc.Dependencies {
			if dep.Scope != engine.ScopePlan && dep.Scope != engine.ScopeBundle {
				continue
			}
			steps := byDef[dep.Step]
			if len(steps) == 0 || !selected[dep.Step.Scenario.Name] {
				continue
			}
			for _, pre := range dep.After {
				if !selected[pre.Scenario.Name] || (pre.Scope != engine.ScopeItem && pre.Scope != engine.ScopeBundle) {
					continue
				}
				for _, l := range awaiting {
					bundle := l.Bundle
					if bundle == "" {
						bundle = l.ID
					}
					if !couldProduce(cat, l, pre, dep.Scope == engine.ScopeBundle) {
						continue
					}
					for _, s := range steps {
						if dep.Scope == engine.ScopeBundle && s.BundleKey != bundle {
							continue
						}
						if p := (pair{s.Key, l.ID}); !seen[p] {
							seen[p] = true
							out[s.Key] = append(out[s.Key], l.ID)
						}
					}
				}
			}
		}
	}
	for _, ids := range out {
		slices.Sort(ids)
	}
	return out
}

// couldProduce reports whether one of a line's decomposition rules makes
// items that pre has instances for. inBundle: only items that belong to
// the line's bundle count (an ACCOUNT rule's items belong to none).
func couldProduce(cat *catalog.Catalog, l *engine.DecomposedLine, pre *catalog.StepDef, inBundle bool) bool {
	for _, r := range cat.RulesByFrom[l.ProductCode] {
		if inBundle && r.Scope == engine.DecomposeAccount {
			continue
		}
		if r.To == pre.Product || (pre.Product == "" && pre.Scope == engine.ScopeItem) {
			return true
		}
	}
	return false
}
