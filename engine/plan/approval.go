package plan

import (
	"github.com/batonhq/baton/engine"
	"github.com/batonhq/baton/engine/catalog"
)

// Approval returns the first of the catalog's approval rules whose
// condition holds for the decomposed order (in.Order, in.Account, as a
// SALES scenario condition sees them), or nil when none does. Errors:
// BAD_USER_INPUT when a condition fails to evaluate.
func Approval(cat *catalog.Catalog, in *PlanInput) (*catalog.ApprovalRule, error) {
	if len(cat.Approvals) == 0 {
		return nil, nil
	}
	b := &planBuilder{cat: cat, in: in, g: &PlanGraph{}}
	env := &catalog.OrderEnv{Helpers: b.withDone(catalog.OrderHelpers(in.Order, in.Items, in.Now)), Order: in.Order, Account: in.Account}
	for _, r := range cat.Approvals {
		ok, err := r.When.Bool(env)
		if err != nil {
			return nil, engine.Errorf(engine.CodeBadUserInput, "approval rule %q condition failed: %v", r.Name, err)
		}
		if ok {
			return r, nil
		}
	}
	return nil, nil
}
