package orchestrator

import (
	"context"
	"slices"
	"strings"

	"github.com/batonhq/baton/engine"
	"github.com/batonhq/baton/engine/access"
	"github.com/batonhq/baton/engine/catalog"
)

// ApproveOrder approves an order that waits AWAITING_APPROVAL: it becomes
// SUBMITTED and its plan starts, in one transaction. Errors: NOT_FOUND;
// FORBIDDEN without order:approve, without the rule's role or queue, or
// for the order's own submitter when the rule is four-eyes (the default);
// INVALID_STATE when the order does not wait for approval; BAD_USER_INPUT
// for a note past the input limits.
func (e *Engine) ApproveOrder(ctx context.Context, orderID int, note string) error {
	return e.decide(ctx, orderID, note, true)
}

// RejectOrder ends an order that waits AWAITING_APPROVAL: it is REJECTED,
// its plan CANCELLED and its steps, none of which ran, CANCELLED. Errors
// as ApproveOrder (four-eyes aside: a submitter may withdraw its order),
// and BAD_USER_INPUT without a reason.
func (e *Engine) RejectOrder(ctx context.Context, orderID int, reason string) error {
	if err := access.Require(ctx, access.OrderApprove); err != nil {
		return err
	}
	if strings.TrimSpace(reason) == "" {
		return engine.Errorf(engine.CodeBadUserInput, "say why the order is rejected: a reason is required")
	}
	return e.decide(ctx, orderID, reason, false)
}

func (e *Engine) decide(ctx context.Context, orderID int, note string, approve bool) error {
	if err := e.allowOrder(ctx, access.OrderApprove, orderID); err != nil {
		return err
	}
	if err := newInputCheck(e.limits).actor(ctx).text("note", note).err(); err != nil {
		return err
	}
	p, actor := access.From(ctx), ActorFrom(ctx)
	return e.write(ctx, func(st *txState) error {
		a, err := st.tx.LockOrderApproval(st.ctx, orderID)
		if err != nil {
			return err
		}
		if a.Status != engine.OrderAwaitingApproval {
			return engine.Errorf(engine.CodeInvalidState, "order %d is %s; only an order AWAITING_APPROVAL can be approved or rejected", orderID, a.Status)
		}
		cat, err := e.CatalogByID(st.ctx, a.CatalogID)
		if err != nil {
			return err
		}
		if err := mayDecide(p, actor, a, cat, approve); err != nil {
			return err
		}
		to := engine.OrderRejected
		if approve {
			to = engine.OrderSubmitted
		}
		if err := st.tx.DecideOrder(st.ctx, orderID, to, actor); err != nil {
			return err
		}
		st.tx.Emit(&engine.Event{Kind: engine.EventOrderStatus, OrderID: orderID, PlanID: a.PlanID,
			From: string(engine.OrderAwaitingApproval), To: string(to), At: st.now, Actor: actor, Note: note})
		if !approve {
			if err := st.tx.SetPlanStatus(st.ctx, a.PlanID, engine.PlanCancelled, ""); err != nil {
				return err
			}
			st.tx.Emit(&engine.Event{Kind: engine.EventPlanStatus, OrderID: orderID, PlanID: a.PlanID,
				From: string(engine.PlanPending), To: string(engine.PlanCancelled), At: st.now, Actor: actor, Note: note})
		} else if err := st.tx.FreezePlan(st.ctx, a.PlanID, false); err != nil {
			return err
		}
		steps, err := st.tx.LockPlanSteps(st.ctx, a.PlanID)
		if err != nil {
			return err
		}
		if approve {
			for _, r := range steps {
				r.Frozen = false
			}
			return st.readyNew(a.PlanID, steps)
		}
		for _, r := range steps {
			if !r.Status.Terminal() {
				if err := st.move(r, engine.StepCancelled, actor, note); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// mayDecide checks the approval rule's own conditions on the decider.
func mayDecide(p *access.Principal, actor string, a *engine.OrderApproval, cat *catalog.Catalog, approve bool) error {
	i := slices.IndexFunc(cat.Approvals, func(r *catalog.ApprovalRule) bool { return r.Name == a.Rule })
	if i < 0 {
		return nil // the rule's catalog version always has it; nothing more to check
	}
	r := cat.Approvals[i]
	if r.Role != "" && !p.HasRole(r.Role) {
		return engine.Errorf(engine.CodeForbidden, "%s may not decide order %d: approval rule %q needs the role %s", actor, a.OrderID, r.Name, r.Role)
	}
	if r.Queue != "" && !p.InQueue(r.Queue) {
		return engine.Errorf(engine.CodeForbidden, "%s may not decide order %d: approval rule %q needs a member of queue %q", actor, a.OrderID, r.Name, r.Queue)
	}
	if approve && r.FourEyes && a.SubmittedBy != "" && a.SubmittedBy == actor {
		return engine.Errorf(engine.CodeForbidden, "%s submitted order %d and may not approve it too: approval rule %q is four-eyes", actor, a.OrderID, r.Name)
	}
	return nil
}
