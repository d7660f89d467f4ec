// Package graph is Baton's GraphQL layer: the schema (*.graphqls), gqlgen's
// generated executor (generated/) and thin resolvers that translate GraphQL
// to engine calls. Writes always go through the engine; reads use ent's
// generated queries (Relay pagination, filters, Node).
package graph

import (
	"context"
	"log/slog"

	"github.com/batonhq/baton/engine"
	"github.com/batonhq/baton/engine/orchestrator"
	"github.com/batonhq/baton/ent"
	"github.com/batonhq/baton/ent/order"
	"github.com/batonhq/baton/ent/plan"
	"github.com/batonhq/baton/ent/step"
	"github.com/batonhq/baton/ent/system"
	"github.com/batonhq/baton/graph/model"
)

// Resolver is the root resolver; one per server.
type Resolver struct {
	Client *ent.Client
	Engine *orchestrator.Engine
	Hub    *orchestrator.Hub
	Logger *slog.Logger
	// Limits are the request limits in force (defaults filled in).
	Limits Limits
}

func (r *Resolver) log() *slog.Logger {
	if r.Logger == nil {
		return slog.Default()
	}
	return r.Logger
}

// orderByID reads an order with the fields the request selects, eagerly:
// a constant number of queries whatever the plan's size.
func (r *Resolver) orderByID(ctx context.Context, id int) (*ent.Order, error) {
	q, err := r.Client.Order.Query().Where(order.ID(id)).CollectFields(ctx)
	if err != nil {
		return nil, err
	}
	return q.Only(ctx)
}

func (r *Resolver) planByID(ctx context.Context, id int) (*ent.Plan, error) {
	q, err := r.Client.Plan.Query().Where(plan.ID(id)).CollectFields(ctx)
	if err != nil {
		return nil, err
	}
	return q.Only(ctx)
}

func (r *Resolver) stepByID(ctx context.Context, id int) (*ent.Step, error) {
	q, err := r.Client.Step.Query().Where(step.ID(id)).CollectFields(ctx)
	if err != nil {
		return nil, err
	}
	return q.Only(ctx)
}

func (r *Resolver) stepsByID(ctx context.Context, ids []int) ([]*ent.Step, error) {
	if len(ids) == 0 {
		return []*ent.Step{}, nil
	}
	q, err := r.Client.Step.Query().Where(step.IDIn(ids...)).Order(ent.Asc(step.FieldID)).CollectFields(ctx)
	if err != nil {
		return nil, err
	}
	return q.All(ctx)
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func (r *Resolver) systemByName(ctx context.Context, name string) (*ent.System, error) {
	return r.Client.System.Query().Where(system.Name(name)).Only(ctx)
}

// revisionPayload is what amendOrder and cancelOrder return: the order as
// it is now and the revision recorded.
func (r *Resolver) revisionPayload(ctx context.Context, orderID int, rec *engine.Revision) (*model.RevisionPayload, error) {
	o, err := r.orderByID(ctx, orderID)
	if err != nil {
		return nil, err
	}
	rev, err := r.Client.OrderRevision.Get(ctx, rec.ID)
	if err != nil {
		return nil, err
	}
	return &model.RevisionPayload{Order: o, Revision: rev}, nil
}

// queueNamed is the queue as Queues shows it after a change.
func (r *Resolver) queueNamed(ctx context.Context, name string) (*orchestrator.Queue, error) {
	qs, err := r.Engine.Queues(ctx)
	if err != nil {
		return nil, err
	}
	for _, q := range qs {
		if q.Name == name {
			return q, nil
		}
	}
	return nil, engine.Errorf(engine.CodeNotFound, "queue %q not found", name)
}

// taskForm is a manual task's rendered form (nil for other steps).
func (r *Resolver) taskForm(ctx context.Context, s *ent.Step) (*orchestrator.TaskForm, error) {
	if s.Type != step.TypeMANUAL_TASK {
		return nil, nil
	}
	p, err := r.Client.Plan.Get(ctx, s.PlanID)
	if err != nil {
		return nil, err
	}
	forms, err := r.Engine.TaskForms(ctx, []orchestrator.TaskRef{{ID: s.ID, Name: s.Name, CatalogID: p.CatalogVersionID, Attempts: s.AttemptCount}})
	if err != nil {
		return nil, err
	}
	return forms[s.ID], nil
}
