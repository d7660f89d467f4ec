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

// Plan is the fulfillment plan of one order (or of one generic
// orchestration): swimlanes of steps with dependencies.
type Plan struct{ ent.Schema }

// Fields of the Plan.
func (Plan) Fields() []ent.Field {
	return []ent.Field{
		field.Int("order_id").Optional().Nillable().Unique().Immutable(),
		field.Enum("usage").Values(engine.UsageValues()...).Immutable(),
		field.String("type").Immutable().
			Comment("orchestration type: \"order\" for sales orders, the startOrchestration type otherwise"),
		field.String("subject_id").Optional().Nillable().Immutable(),
		jsonMap("context", true),
		field.String("context_hash").Optional().Immutable().Sensitive().
			Annotations(entgql.Skip()),
		field.Enum("status").Values(engine.PlanStatusValues()...).
			Annotations(entgql.OrderField("STATUS")),
		field.Int("catalog_version_id").Immutable(),
		field.Int("open_steps").Annotations(entgql.Skip()).
			Comment("steps neither COMPLETED, SKIPPED nor CANCELLED"),
		field.Int("awaiting_lines").Default(0).Annotations(entgql.Skip()).
			Comment("order lines still AWAITING_DATA"),
		jsonMap("signals", false, entgql.Skip()),
		field.Time("requested_completion").Optional().Nillable(),
		field.String("group_key").Optional().Nillable().Immutable().
			Comment("the scenario's planKey: steps of later plans with the same key may wait for this plan's (CROSS_PLAN dependencies)"),
		field.Time("created_at").Immutable().Annotations(entgql.OrderField("CREATED_AT")),
		field.Time("started_at").Optional().Nillable(),
		field.Time("completed_at").Optional().Nillable(),
		field.String("trace_parent").Optional().Immutable().Annotations(entgql.Skip()).
			Comment("W3C traceparent of the operation that created the plan (empty when it was not traced): callouts continue its trace"),
	}
}

// Edges of the Plan.
func (Plan) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("order", Order.Type).Ref("plan").Field("order_id").Unique().Immutable(),
		edge.To("catalog_version", CatalogVersion.Type).Field("catalog_version_id").
			Unique().Required().Immutable(),
		edge.To("groups", StepGroup.Type),
		edge.To("steps", Step.Type),
		edge.To("items", FulfillmentLine.Type),
	}
}

// Indexes of the Plan.
func (Plan) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("status"),
		index.Fields("group_key").Annotations(entsql.IndexWhere("group_key IS NOT NULL")),
		// startOrchestration is idempotent on (type, subject).
		index.Fields("type", "subject_id").Unique().
			Annotations(entsql.IndexWhere("usage = 'GENERIC'")),
	}
}

// Annotations of the Plan.
func (Plan) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.RelayConnection(), entgql.QueryField()}
}
