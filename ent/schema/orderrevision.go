package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
)

// OrderRevision is one change of an order after submission: an amendment
// (amendOrder) or its cancellation (cancelOrder). It is written in the
// transaction that accepts it; a revision that has to wait for running
// steps to settle is FREEZING until the transaction that applies it.
type OrderRevision struct{ ent.Schema }

// Fields of the OrderRevision.
func (OrderRevision) Fields() []ent.Field {
	return []ent.Field{
		field.Int("order_id").Immutable(),
		field.Int("number").Immutable().Comment("1 for the first change after submission"),
		field.Enum("kind").Values("AMEND", "CANCEL").Immutable(),
		field.Enum("status").Values("FREEZING", "APPLIED"),
		field.String("actor").Optional().Immutable(),
		field.Text("reason").Optional().Immutable(),
		jsonMap("input", true, entgql.Skip()),
		jsonMap("diff", false),
		field.Time("requested_at").Immutable(),
		field.Time("applied_at").Optional().Nillable(),
	}
}

// Edges of the OrderRevision.
func (OrderRevision) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("order", Order.Type).Ref("revisions").Field("order_id").Unique().Required().Immutable(),
	}
}

// Indexes of the OrderRevision.
func (OrderRevision) Indexes() []ent.Index {
	return []ent.Index{index.Fields("order_id", "number").Unique()}
}

// Annotations of the OrderRevision.
func (OrderRevision) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.Skip()}
}
