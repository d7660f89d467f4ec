package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/dialect/entsql"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
)

// FulfillmentLine is one instance of a technical product, created by
// decomposition from its source order lines (or, for generic orchestration,
// from an item of the context).
type FulfillmentLine struct{ ent.Schema }

// Fields of the FulfillmentLine.
func (FulfillmentLine) Fields() []ent.Field {
	return []ent.Field{
		field.Int("order_id").Optional().Nillable().Immutable(),
		field.Int("plan_id").Optional().Nillable().Immutable().
			Comment("set for items of a generic orchestration"),
		field.Int("account_ref").Optional().Nillable().Immutable().
			Annotations(entgql.Skip()),
		field.String("key").NotEmpty().Immutable().
			Comment("stable identity within the order: rule and source"),
		field.String("product_code").NotEmpty().Immutable(),
		field.String("rule").Immutable().Comment("the decomposition rule that created it"),
		field.Enum("scope").Values("LINE", "BUNDLE", "ACCOUNT", "CONTEXT").Immutable(),
		field.Int("quantity").Immutable(),
		jsonMap("attributes", false),
		field.String("bundle_key").Optional().Nillable().Immutable().
			Comment("line_id of the bundle line it belongs to"),
		field.Time("created_at").Immutable(),
		field.Int("removed_in").Optional().Nillable().
			Comment("the order revision that removed it (its source lines were removed or changed)"),
	}
}

// Edges of the FulfillmentLine.
func (FulfillmentLine) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("order", Order.Type).Ref("fulfillment_lines").Field("order_id").Unique().Immutable(),
		edge.From("plan", Plan.Type).Ref("items").Field("plan_id").Unique().Immutable(),
		edge.To("sources", OrderLine.Type),
		edge.To("steps", Step.Type),
	}
}

// Indexes of the FulfillmentLine.
func (FulfillmentLine) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("order_id", "key"),
		index.Fields("plan_id"),
		// An account item exists once per account and rule.
		index.Fields("account_ref", "rule").Unique().
			Annotations(entsql.IndexWhere("scope = 'ACCOUNT'")),
	}
}

// Annotations of the FulfillmentLine.
func (FulfillmentLine) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.RelayConnection()}
}
