package schema

import (
	"entgo.io/ent"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
)

// StepGroup is a swimlane of a plan: the steps of one catalog group.
type StepGroup struct{ ent.Schema }

// Fields of the StepGroup.
func (StepGroup) Fields() []ent.Field {
	return []ent.Field{
		field.Int("plan_id").Immutable(),
		field.String("name").Immutable(),
		field.String("scenario").Immutable(),
		field.Int("position").Immutable(),
	}
}

// Edges of the StepGroup.
func (StepGroup) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("plan", Plan.Type).Ref("groups").Field("plan_id").Unique().Required().Immutable(),
		edge.To("steps", Step.Type),
	}
}

// Indexes of the StepGroup.
func (StepGroup) Indexes() []ent.Index {
	return []ent.Index{index.Fields("plan_id", "position")}
}
