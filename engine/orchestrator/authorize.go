package orchestrator

import (
	"context"
	"slices"

	"github.com/batonhq/baton/engine"
	"github.com/batonhq/baton/engine/access"
)

// WithActor returns a context whose principal is an open server's, named
// actor: every permission, every account. Go code embedding the engine
// and the tests use it; the GraphQL layer sets the request's principal
// with access.With.
func WithActor(ctx context.Context, actor string) context.Context {
	return access.With(ctx, access.Open(actor))
}

// ActorFrom returns the name of the context's principal, recorded on the
// events and audit records of what it does ("anonymous" for Baton's own
// work and an unnamed caller).
func ActorFrom(ctx context.Context) string {
	p := access.From(ctx)
	if p.Method == access.MethodSystem || p.Name == "" {
		return "anonymous"
	}
	return p.Name
}

// Every use case starts with one of the allow checks below: the
// permission first (no I/O, and the same answer whether the target exists
// or not), then the target's account, which for a principal limited to
// accounts makes another account's order or step NOT_FOUND, exactly as
// one that does not exist.

// allowAccount checks a use case that creates something for an account
// (submitOrder): FORBIDDEN outside the principal's accounts.
func allowAccount(ctx context.Context, perm access.Permission, account string) error {
	if err := access.Require(ctx, perm); err != nil {
		return err
	}
	if p := access.From(ctx); !p.SeesAccount(account) {
		return engine.Errorf(engine.CodeForbidden, "%s may not act for account %q", p.Name, account)
	}
	return nil
}

// allowOrder checks a use case on one order.
func (e *Engine) allowOrder(ctx context.Context, perm access.Permission, orderID int) error {
	if err := access.Require(ctx, perm); err != nil {
		return err
	}
	p := access.From(ctx)
	if !p.Scoped() {
		return nil
	}
	accounts, err := e.store.OrderAccounts(ctx, []int{orderID})
	if err != nil {
		return err
	}
	if a, ok := accounts[orderID]; !ok || !p.SeesAccount(a) {
		return engine.Errorf(engine.CodeNotFound, "order %d not found", orderID)
	}
	return nil
}

// visibleSteps returns which of the steps the principal may act on with
// perm: nil (all of them) when it is limited to no account and perm is not
// task work; otherwise the set, read once. Errors: FORBIDDEN without perm.
func (e *Engine) visibleSteps(ctx context.Context, perm access.Permission, ids []int) (map[int]bool, error) {
	p := access.From(ctx)
	if perm == access.TaskWork {
		if !p.Can(access.TaskWork) && !p.Can(access.TaskManage) {
			return nil, access.Require(ctx, access.TaskWork)
		}
	} else if err := access.Require(ctx, perm); err != nil {
		return nil, err
	}
	// Which queues a principal works is decided in the task's
	// transaction (requireWork), against its queue's definition.
	if !p.Scoped() {
		return nil, nil
	}
	owners, err := e.store.StepOwners(ctx, ids)
	if err != nil {
		return nil, err
	}
	out := make(map[int]bool, len(ids))
	for id, o := range owners {
		if !p.Scoped() || (o.OrderID != 0 && p.SeesAccount(o.Account)) {
			out[id] = true
		}
	}
	return out, nil
}

// allowStep checks a use case on one step.
func (e *Engine) allowStep(ctx context.Context, perm access.Permission, stepID int) error {
	visible, err := e.visibleSteps(ctx, perm, []int{stepID})
	if err != nil {
		return err
	}
	if visible != nil && !visible[stepID] {
		return engine.Errorf(engine.CodeNotFound, "step %d not found", stepID)
	}
	return nil
}

// allowSteps checks a use case on many steps, each on its own: the ids
// the principal may not see are returned, to be answered NOT_FOUND one by
// one like ids that do not exist.
func (e *Engine) allowSteps(ctx context.Context, perm access.Permission, ids []int) (hidden []int, err error) {
	visible, err := e.visibleSteps(ctx, perm, ids)
	if err != nil || visible == nil {
		return nil, err
	}
	for _, id := range ids {
		if !visible[id] && !slices.Contains(hidden, id) {
			hidden = append(hidden, id)
		}
	}
	return hidden, nil
}
