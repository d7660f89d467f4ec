package entstore

import (
	"context"
	"slices"
	"sync/atomic"

	"entgo.io/ent/dialect/sql"

	"github.com/batonhq/baton/engine"
	"github.com/batonhq/baton/engine/access"
	"github.com/batonhq/baton/ent"
	"github.com/batonhq/baton/ent/intercept"
)

// readScope says, per ent type, the permission its reads need and how its
// rows belong to an account: through their own account column, through
// the order they are of, through a step or asset they are of, or not at
// all (catalog data).
var readScope = map[string]struct {
	perm access.Permission
	// rows of the type a principal limited to accounts sees
	visible func(s *sql.Selector, accounts []any)
}{
	"Order":           {access.OrderRead, func(s *sql.Selector, a []any) { s.Where(sql.In(s.C("account_id"), a...)) }},
	"Account":         {access.OrderRead, func(s *sql.Selector, a []any) { s.Where(sql.In(s.C("external_id"), a...)) }},
	"Asset":           {access.OrderRead, func(s *sql.Selector, a []any) { s.Where(sql.In(s.C("account_id"), a...)) }},
	"Plan":            {access.OrderRead, ofOrder("order_id")},
	"Step":            {access.OrderRead, ofOrder("order_id")},
	"OrderLine":       {access.OrderRead, ofOrder("order_id")},
	"FulfillmentLine": {access.OrderRead, ofOrder("order_id")},
	"OrderRevision":   {access.OrderRead, ofOrder("order_id")},
	"AssetEvent":      {access.OrderRead, ofOrder("order_id")},
	"Event":           {access.OrderRead, func(s *sql.Selector, a []any) { s.Where(sql.In(s.C("account_id"), a...)) }},
	"StepGroup": {access.OrderRead, func(s *sql.Selector, a []any) {
		s.Where(sql.In(s.C("plan_id"), sql.Select("id").From(sql.Table("plans")).Where(sql.In("order_id", ordersOf(a)))))
	}},
	"Attempt": {access.OrderRead, func(s *sql.Selector, a []any) {
		s.Where(sql.In(s.C("step_id"), sql.Select("id").From(sql.Table("steps")).Where(sql.In("order_id", ordersOf(a)))))
	}},
	"CatalogVersion": {access.CatalogRead, nil},
	"Queue":          {access.TaskWork, nil},
	"System":         {access.CatalogRead, nil},
	"APIKey":         {access.KeyManage, nil},
	"AuditRecord":    {access.AuditRead, nil},
}

func ordersOf(accounts []any) *sql.Selector {
	return sql.Select("id").From(sql.Table("orders")).Where(sql.In("account_id", accounts...))
}

// TaskQueues says which queues a principal works (members) and which are
// declared (a declared queue is worked by its members only; any other
// queue by every principal with task:work).
type TaskQueues = func(ctx context.Context, p *access.Principal) (member, declared []string, err error)

// SetTaskQueues installs the engine's view of queue membership for the
// read scope of fulfillment agents (nil: the queues named in their
// credentials only).
func (s *Store) SetTaskQueues(fn TaskQueues) {
	if fn == nil {
		s.taskQueues.Store(nil)
		return
	}
	s.taskQueues.Store(&fn)
}

func anys(ss []string) []any {
	out := make([]any, 0, len(ss))
	for _, s := range slices.Sorted(slices.Values(ss)) {
		out = append(out, s)
	}
	return out
}

func ofOrder(col string) func(s *sql.Selector, a []any) {
	return func(s *sql.Selector, a []any) { s.Where(sql.In(s.C(col), ordersOf(a))) }
}

// ScopeReads makes every query of client answer for the context's
// principal (access.From): a type whose permission it lacks is FORBIDDEN
// naming the permission, and a principal limited to accounts sees only
// those accounts' rows — in lists, filters, counts, edges, eager loads and
// node(id) alike, since all of them run through ent's traversal
// interceptors. A fulfillment agent (task:work without task:manage) sees
// the manual tasks of its own queues only. Contexts without a principal
// (the engine's own work) and principals with every permission are not
// filtered. The engine's store does not read through ent, so only the API's
// reads are scoped.
func ScopeReads(client *ent.Client, taskQueues *atomic.Pointer[TaskQueues]) {
	client.Intercept(intercept.TraverseFunc(func(ctx context.Context, q intercept.Query) error {
		p := access.From(ctx)
		rule, ok := readScope[q.Type()]
		if !ok {
			return engine.Errorf(engine.CodeForbidden, "%s may not read %s", p.Name, q.Type())
		}
		if !p.Can(rule.perm) {
			return engine.Errorf(engine.CodeForbidden, "%s may not read this: it needs the %s permission", p.Name, rule.perm)
		}
		if p.Scoped() && rule.visible != nil {
			accounts := make([]any, len(p.Accounts))
			for i, a := range p.Accounts {
				accounts[i] = a
			}
			q.WhereP(func(s *sql.Selector) { rule.visible(s, accounts) })
		}
		if q.Type() == "Step" && p.Can(access.TaskWork) && !p.Can(access.TaskManage) {
			member, declared := p.Queues, []string(nil)
			if fn := taskQueues.Load(); fn != nil {
				var err error
				if member, declared, err = (*fn)(ctx, p); err != nil {
					return err
				}
			}
			q.WhereP(func(s *sql.Selector) {
				own := sql.Or(sql.NEQ(s.C("type"), string(engine.ManualTask)), sql.IsNull(s.C("queue")))
				if len(member) > 0 {
					own = sql.Or(own, sql.In(s.C("queue"), anys(member)...))
				}
				if len(declared) > 0 {
					own = sql.Or(own, sql.NotIn(s.C("queue"), anys(declared)...))
				} else if fn := taskQueues.Load(); fn != nil {
					own = sql.Or(own, sql.NotNull(s.C("queue"))) // no queue is declared: every agent works every queue
				}
				s.Where(own)
			})
		}
		return nil
	}))
}
