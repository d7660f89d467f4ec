package graph

import (
	"context"
	"slices"

	"github.com/99designs/gqlgen/graphql/handler/transport"

	"github.com/batonhq/baton/engine"
	"github.com/batonhq/baton/engine/orchestrator"
	"github.com/batonhq/baton/ent/step"
	"github.com/batonhq/baton/graph/model"
)

// subscribe adapts a hub feed to a GraphQL subscription: events flow until
// the client leaves (ctx ends) or the feed ends, which a dropped subscriber
// learns from a subscription error with its code.
func (r *Resolver) subscribe(ctx context.Context, f orchestrator.EventFilter, after *string) (<-chan *model.Event, error) {
	var cursor *int64
	if after != nil {
		c, err := engine.ParseCursor(*after)
		if err != nil {
			return nil, err
		}
		cursor = &c
	}
	feed, err := r.Hub.Subscribe(ctx, f, cursor)
	if err != nil {
		return nil, err
	}
	ch := make(chan *model.Event, 1)
	done := feeding(ctx)
	sink := sinkOf(ctx) // a shared subscription's group
	go func() {
		defer done()
		defer close(ch)
		for e := range feed.C {
			m := eventModel(e)
			if sink != nil {
				sink.push(m.Cursor)
			}
			select {
			case ch <- m:
			case <-ctx.Done():
				return
			}
		}
		if err := feed.Err(); err != nil && ctx.Err() == nil {
			gerr := ErrorPresenter(r.log())(ctx, err)
			if sink != nil {
				sink.add(gerr)
			} else {
				transport.AddSubscriptionError(ctx, gerr)
			}
		}
	}()
	return ch, nil
}

func filter(orderID, planID *int, queue *string, kinds []model.EventKind) orchestrator.EventFilter {
	f := orchestrator.EventFilter{}
	if orderID != nil {
		f.OrderID = *orderID
	}
	if planID != nil {
		f.PlanID = *planID
	}
	if queue != nil {
		f.Queue = *queue
	}
	for _, k := range kinds {
		f.Kinds = append(f.Kinds, engine.EventKind(k))
	}
	return f
}

// stepKinds narrows stepStatusChanged to step events.
func stepKinds(asked []model.EventKind) []model.EventKind {
	step := []model.EventKind{model.EventKindStepStatus, model.EventKindJeopardy, model.EventKindStepAssigned}
	if len(asked) == 0 {
		return step
	}
	var out []model.EventKind
	for _, k := range asked {
		if slices.Contains(step, k) {
			out = append(out, k)
		}
	}
	if len(out) == 0 {
		// Nothing asked for is a step event: match nothing rather than all.
		return []model.EventKind{"NONE"}
	}
	return out
}

func eventModel(e *engine.Event) *model.Event {
	m := &model.Event{Cursor: e.Cursor(), Kind: model.EventKind(e.Kind), At: e.At, To: e.To,
		From: strPtr(e.From), Actor: strPtr(e.Actor), Note: strPtr(e.Note), System: strPtr(e.System)}
	if e.OrderID != 0 {
		m.OrderID = &e.OrderID
	}
	if e.PlanID != 0 {
		m.PlanID = &e.PlanID
	}
	if s := e.Step; s != nil {
		m.Step = &model.EventStep{ID: s.ID, Name: s.Name, Type: step.Type(s.Type), Status: step.Status(s.Status),
			Jeopardy: step.Jeopardy(s.Jeopardy), Queue: strPtr(s.Queue), System: strPtr(s.System), Assignee: strPtr(s.Assignee)}
	}
	return m
}
