package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"

	"github.com/batonhq/baton/engine"
)

// OrderLine is one commercial line of an order. Bundles are trees: a
// component line points at its bundle line through parent.
type OrderLine struct{ ent.Schema }

// Fields of the OrderLine.
func (OrderLine) Fields() []ent.Field {
	return []ent.Field{
		field.Int("order_id").Immutable(),
		field.String("line_id").NotEmpty().Immutable().
			Annotations(entgql.MapsTo("lineId")).
			Comment("the client's line id, unique within the order"),
		field.String("product_code").NotEmpty().Immutable(),
		field.Int("quantity").Positive(),
		jsonMap("attributes", false),
		field.Int("parent_ref").Optional().Nillable().
			Annotations(entgql.Skip()),
		field.String("parent_line_id").Optional().Nillable().
			Annotations(entgql.MapsTo("parentLineId")).
			Comment("line_id of the parent line; empty for a root line"),
		field.Enum("action").Values(engine.LineActionValues()...).Immutable(),
		field.Int("asset_id").Optional().Nillable().Immutable(),
		field.Enum("status").Values(engine.LineStatusValues()...),
		field.Strings("missing").Optional().
			Comment("attributes a decomposition rule waits for (AWAITING_DATA)"),
		field.Int("position").Immutable().Comment("position in the submitted order, components after their bundle"),
		field.Int("revision").Default(0).
			Comment("the order revision that last added or changed the line (REMOVED: that removed it)"),
		field.Bool("generated").Default(false).Immutable().
			Comment("added from the catalog's bundle components, not submitted"),
	}
}

// Edges of the OrderLine.
func (OrderLine) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("order", Order.Type).Ref("lines").Field("order_id").Unique().Required().Immutable(),
		edge.To("children", OrderLine.Type).
			From("parent").Field("parent_ref").Unique(),
		edge.From("fulfillment_lines", FulfillmentLine.Type).Ref("sources"),
	}
}

// Indexes of the OrderLine.
func (OrderLine) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("order_id", "line_id").Unique(),
	}
}
