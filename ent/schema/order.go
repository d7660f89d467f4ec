package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/dialect/entsql"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"

	"github.com/batonhq/baton/engine"
)

// Order is a commercial order as submitted, with its decomposition
// (fulfillment lines) and its plan.
type Order struct{ ent.Schema }

// Fields of the Order.
func (Order) Fields() []ent.Field {
	return []ent.Field{
		field.String("external_id").NotEmpty().Unique().Immutable().
			Annotations(entgql.MapsTo("externalId")).
			Comment("the client's id; submitOrder is idempotent on it"),
		field.String("account_id").NotEmpty().Immutable().
			Annotations(entgql.MapsTo("accountId")).
			Comment("the client's account id"),
		field.Int("account_ref").Immutable().
			Annotations(entgql.Skip()),
		field.Enum("status").Values(engine.OrderStatusValues()...).
			Annotations(entgql.OrderField("STATUS")),
		jsonMap("attributes", false),
		field.String("input_hash").Immutable().Sensitive().
			Annotations(entgql.Skip()).
			Comment("hash of the submitted input, to tell a resubmission from a conflict"),
		field.Time("requested_completion").Optional().Nillable().
			Comment("the due date the customer was promised"),
		field.Int("catalog_version_id").Immutable(),
		field.Time("created_at").Immutable().
			Annotations(entgql.OrderField("CREATED_AT")),
		field.Time("updated_at"),
		field.Time("completed_at").Optional().Nillable(),
		field.String("submitted_by").Optional().Immutable().
			Comment("the principal that submitted it (four-eyes approval compares with it)"),
		field.String("approval_rule").Optional().
			Comment("the catalog approval rule that made it wait AWAITING_APPROVAL"),
		field.String("decided_by").Optional().
			Comment("who approved or rejected it"),
		field.Int("revision").Default(0).
			Comment("the number of the order's last revision (amendOrder, cancelOrder); 0 as submitted"),
	}
}

// Edges of the Order.
func (Order) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("customer", Account.Type).Ref("orders").Field("account_ref").
			Unique().Required().Immutable(),
		edge.To("catalog_version", CatalogVersion.Type).Field("catalog_version_id").
			Unique().Required().Immutable(),
		edge.To("lines", OrderLine.Type),
		edge.To("fulfillment_lines", FulfillmentLine.Type),
		edge.To("plan", Plan.Type).Unique(),
		edge.To("revisions", OrderRevision.Type).Annotations(entgql.Skip()),
	}
}

// Indexes of the Order.
func (Order) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("account_ref"),
		index.Fields("status", "created_at"),
		// Analytics: orders by completion time (one entry per order,
		// written when it finishes).
		index.Fields("completed_at").StorageKey("order_completed_at_done").
			Annotations(entsql.IndexWhere("completed_at IS NOT NULL")),
	}
}

// Annotations of the Order.
func (Order) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.RelayConnection(), entgql.QueryField()}
}
