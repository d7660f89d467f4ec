package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/dialect/entsql"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
)

// Event is one change, written in the transaction of the change it
// describes. Its id is the subscription cursor: ids are assigned in commit
// order, so "every event after cursor c" never skips a late commit.
type Event struct{ ent.Schema }

// Fields of the Event.
func (Event) Fields() []ent.Field {
	return []ent.Field{
		field.Enum("kind").Values("STEP_STATUS", "JEOPARDY", "ORDER_STATUS", "PLAN_STATUS", "STEP_ASSIGNED", "SYSTEM_STATUS",
			"ORDER_AMENDED", "COMPENSATION_STARTED", "CIRCUIT_STATE", "TASK_ESCALATED").Immutable(),
		field.Int("order_id").Optional().Nillable().Immutable(),
		field.String("account_id").Optional().Immutable().Comment("the order's account: subscriptions of account-limited principals filter on it"),
		field.Int("plan_id").Optional().Nillable().Immutable(),
		field.Int("step_id").Optional().Nillable().Immutable(),
		field.String("from").Optional().Immutable(),
		field.String("to").Immutable(),
		field.Time("at").Immutable(),
		field.String("actor").Optional().Immutable().Comment("who did it, for operator actions"),
		field.Text("note").Optional().Immutable(),
		jsonMap("data", true),
	}
}

// Indexes of the Event.
func (Event) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("order_id"),
		index.Fields("plan_id"),
		// Not step_id: nothing reads events by step, and every event
		// would pay the index entry (37 per order).
		// Analytics: which orders had a step fall out. Partial: only
		// FALLOUT events (rare) get an entry.
		index.Fields("order_id").StorageKey("event_order_id_fallout").
			Annotations(entsql.IndexWhere(`"to" = 'FALLOUT'`)),
	}
}

// Annotations of the Event.
func (Event) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.Skip()}
}
