package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
)

// Asset is a product the customer holds: created when an order completes,
// changed by later CHANGE / DISCONNECT / SUSPEND / RESUME orders.
type Asset struct{ ent.Schema }

// Fields of the Asset.
func (Asset) Fields() []ent.Field {
	return []ent.Field{
		field.Int("account_ref").Immutable().Annotations(entgql.Skip()),
		field.String("account_id").Immutable().Annotations(entgql.MapsTo("accountId")),
		field.String("product_code").Immutable(),
		field.Int("quantity"),
		field.Enum("status").Values("ACTIVE", "SUSPENDED", "DISCONNECTED"),
		jsonMap("attributes", false),
		field.Int("order_id").Immutable().Comment("the order that created it"),
		field.Int("order_line_id").Immutable(),
		field.Int("last_order_id").Comment("the last order that changed it"),
		field.Time("created_at").Immutable(),
		field.Time("updated_at"),
	}
}

// Edges of the Asset.
func (Asset) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("customer", Account.Type).Ref("assets").Field("account_ref").Unique().Required().Immutable(),
		edge.To("history", AssetEvent.Type).Annotations(entgql.Skip()),
	}
}

// Indexes of the Asset.
func (Asset) Indexes() []ent.Index {
	return []ent.Index{index.Fields("account_ref", "product_code"), index.Fields("order_line_id").Unique()}
}

// Annotations of the Asset.
func (Asset) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.RelayConnection(), entgql.QueryField()}
}
