// Package model holds the GraphQL types gqlgen generates (models_gen.go)
// and the few written by hand that the schema binds (event.go).
package model

import (
	"time"

	"github.com/batonhq/baton/ent/step"
)

// Event is a change on the live feed (bound in gqlgen.yml, so that ent's
// Event table type is not used for it).
type Event struct {
	Cursor  string     `json:"cursor"`
	Kind    EventKind  `json:"kind"`
	At      time.Time  `json:"at"`
	OrderID *int       `json:"orderId,omitempty"`
	PlanID  *int       `json:"planId,omitempty"`
	Step    *EventStep `json:"step,omitempty"`
	From    *string    `json:"from,omitempty"`
	To      string     `json:"to"`
	Actor   *string    `json:"actor,omitempty"`
	Note    *string    `json:"note,omitempty"`
	System  *string    `json:"system,omitempty"`
}

// EventStep is the step an event is about, as of the event.
type EventStep struct {
	ID       int           `json:"id"`
	Name     string        `json:"name"`
	Type     step.Type     `json:"type"`
	Status   step.Status   `json:"status"`
	Jeopardy step.Jeopardy `json:"jeopardy"`
	Queue    *string       `json:"queue,omitempty"`
	System   *string       `json:"system,omitempty"`
	Assignee *string       `json:"assignee,omitempty"`
}
