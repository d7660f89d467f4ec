package schema

import (
	"entgo.io/ent"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
)

// Attempt is one run of a step: every callout request and every action
// invocation, successful or not, is kept.
type Attempt struct{ ent.Schema }

// Fields of the Attempt.
func (Attempt) Fields() []ent.Field {
	return []ent.Field{
		field.Int("step_id").Immutable(),
		field.Int("number").Immutable().Comment("1 for the first attempt"),
		field.Enum("outcome").Values("SUCCEEDED", "WAITING", "FAILED", "LOST").Immutable().
			Comment("LOST: the worker's lease expired before it reported"),
		field.Time("started_at").Immutable(),
		field.Time("finished_at").Immutable(),
		field.Int("http_status").Optional().Nillable().Immutable(),
		field.Text("error").Optional().Nillable().Immutable(),
		field.String("worker").Optional().Nillable().Immutable(),
	}
}

// Edges of the Attempt.
func (Attempt) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("step", Step.Type).Ref("attempts").Field("step_id").Unique().Required().Immutable(),
	}
}

// Indexes of the Attempt.
func (Attempt) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("step_id", "number"),
		// Analytics: callout error rates by time. Attempts are written
		// once, in time order: entries go to the index's right edge.
		index.Fields("finished_at"),
	}
}
