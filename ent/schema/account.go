package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
)

// Account is a customer. Account-scoped fulfillment lines and steps exist
// once per account, shared by all of its orders.
type Account struct{ ent.Schema }

// Fields of the Account.
func (Account) Fields() []ent.Field {
	return []ent.Field{
		field.String("external_id").NotEmpty().Unique().Immutable().
			Annotations(entgql.MapsTo("externalId")).
			Comment("the accountId clients submit orders with"),
		jsonMap("attributes", false),
		field.Time("created_at").Immutable(),
	}
}

// Edges of the Account.
func (Account) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("orders", Order.Type),
		edge.To("assets", Asset.Type),
	}
}

// Annotations of the Account.
func (Account) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.RelayConnection(), entgql.QueryField()}
}
