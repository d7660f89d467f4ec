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

// Step is one instance of a catalog step definition in a plan. The steps
// table is also the engine's work queue and its timer wheel: workers claim
// READY rows, and the due-time columns (wake_at, jeopardy_at, lease_until)
// are indexed so that sweeps cost what is due, not what exists.
type Step struct{ ent.Schema }

// Fields of the Step.
func (Step) Fields() []ent.Field {
	return []ent.Field{
		field.Int("plan_id").Immutable(),
		field.Int("group_id").Immutable(),
		field.Int("order_id").Optional().Nillable().Immutable().
			Comment("the plan's order, kept on the step for filters"),
		field.Int("fulfillment_line_id").Optional().Nillable().Immutable(),
		field.Int("account_ref").Optional().Nillable().Immutable().
			Annotations(entgql.Skip()),
		field.String("name").Immutable().Annotations(entgql.OrderField("NAME")),
		field.String("scenario").Immutable(),
		field.Enum("type").Values(engine.StepTypeValues()...).Immutable(),
		field.Enum("scope").Values(engine.ScopeValues()...).Immutable(),
		field.String("instance_key").Immutable().
			Comment("which instance of the definition: PLAN, BUNDLE:<line>, ITEM:<fulfillment line>, ACCOUNT:<account>"),
		field.String("bundle_key").Optional().Nillable().Immutable(),
		field.Enum("status").Values(engine.StepStatusValues()...).
			Annotations(entgql.OrderField("STATUS")),
		field.Enum("jeopardy").Values(engine.JeopardyValues()...).Default(string(engine.OnTrack)),
		field.String("queue").Optional().Nillable().Comment("manual task queue"),
		field.String("assignee").Optional().Nillable(),
		field.String("system").Optional().Nillable().Immutable().Comment("callout target system"),
		field.Bool("point_of_no_return").Default(false).Immutable(),
		field.Int("pending").Annotations(entgql.Skip()).
			Comment("prerequisites neither COMPLETED nor SKIPPED"),
		field.Int("attempt_count").Default(0),
		field.Int("attempt_base").Default(0).Annotations(entgql.Skip()).
			Comment("attempt_count when an operator last retried the step: the retry policy counts from here"),
		jsonMap("output", false),
		field.Text("error").Optional().Nillable(),
		field.Text("note").Optional().Nillable().Comment("the last operator note"),
		field.Time("ready_at").Optional().Nillable().Annotations(entgql.OrderField("READY_AT")),
		field.Time("started_at").Optional().Nillable(),
		field.Time("completed_at").Optional().Nillable(),
		field.Time("due_at").Optional().Nillable().
			Annotations(entgql.OrderField("DUE_AT")).
			Comment("SLA deadline: ready_at + estimatedDuration"),
		field.Time("jeopardy_at").Optional().Nillable().Annotations(entgql.Skip()).
			Comment("when jeopardy next worsens; NULL when it never will"),
		field.Time("wake_at").Optional().Nillable().
			Annotations(entgql.MapsTo("nextAttemptAt")).
			Comment("timer: retry backoff, pause duration"),
		field.String("lease_owner").Optional().Annotations(entgql.Skip()),
		field.Time("lease_until").Optional().Nillable().Annotations(entgql.Skip()),
		field.Bool("frozen").Default(false).Annotations(entgql.Skip()).
			Comment("the plan is FREEZING for a revision: the step does not start until it applies"),
		field.Int("compensates").Optional().Nillable().Immutable().
			Comment("the completed step whose effect this compensation step undoes"),
		field.Time("created_at").Immutable(),
		field.Time("updated_at"),
	}
}

// Edges of the Step.
func (Step) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("plan", Plan.Type).Ref("steps").Field("plan_id").Unique().Required().Immutable(),
		edge.From("group", StepGroup.Type).Ref("steps").Field("group_id").Unique().Required().Immutable(),
		edge.To("order", Order.Type).Field("order_id").Unique().Immutable(),
		edge.From("fulfillment_line", FulfillmentLine.Type).Ref("steps").
			Field("fulfillment_line_id").Unique().Immutable(),
		// depends_on: the steps this one waits for. Table step_dependencies
		// (step_id, prerequisite_id); the engine adds an index on
		// prerequisite_id at migration (ent can't declare indexes on a join
		// table), to find the dependents of a finished step.
		edge.To("depends_on", Step.Type).
			StorageKey(edge.Table("step_dependencies"), edge.Columns("step_id", "prerequisite_id")),
		edge.From("dependents", Step.Type).Ref("depends_on"),
		edge.To("attempts", Attempt.Type),
	}
}

// Indexes of the Step.
func (Step) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("plan_id", "status"),
		index.Fields("plan_id", "name", "instance_key").Unique(),
		index.Fields("order_id", "status"),
		// Partial indexes, each holding only the rows its query wants: a
		// step changes status three or four times, and every change that
		// is not a HOT update adds an entry to every index whose
		// predicate the new row meets.
		index.Fields("ready_at").StorageKey("step_ready_at_ready").
			Annotations(entsql.IndexWhere("status = 'READY'")), // claims
		index.Fields("queue", "status").StorageKey("step_queue_status_tasks").
			Annotations(entsql.IndexWhere("queue IS NOT NULL")), // task lists
		// Integration holds. Not on updated_at, which every save of a
		// step changes: an indexed column changing rules out a HOT update
		// (in place, no index entries) on PostgreSQL, and the updates
		// that count a step's prerequisites off change nothing else that
		// is indexed.
		index.Fields("system").StorageKey("step_system_held").
			Annotations(entsql.IndexWhere("status = 'ON_HOLD'")),
		index.Fields("fulfillment_line_id").StorageKey("step_fulfillment_line_id_items").
			Annotations(entsql.IndexWhere("fulfillment_line_id IS NOT NULL")),
		index.Fields("wake_at").Annotations(entsql.IndexWhere("wake_at IS NOT NULL")),
		index.Fields("jeopardy_at").Annotations(entsql.IndexWhere("jeopardy_at IS NOT NULL")),
		index.Fields("lease_until").Annotations(entsql.IndexWhere("lease_until IS NOT NULL")),
		index.Fields("due_at").Annotations(entsql.IndexWhere("due_at IS NOT NULL")),
		// A definition's history for predictive jeopardy: its last K
		// completions. A step enters it as it completes, an update that
		// changes the indexed status anyway (so no HOT update is lost).
		index.Fields("scenario", "name", "completed_at").StorageKey("step_history_completed").
			Annotations(entsql.IndexWhere("status = 'COMPLETED'")),
		// Analytics (engine/orchestrator/analytics.go): finished steps by
		// finishing time. completed_at is written once, in the update
		// that moves the step to its final status, which changes status
		// (indexed) anyway: one entry per step, no HOT update lost.
		index.Fields("completed_at").StorageKey("step_completed_at_done").
			Annotations(entsql.IndexWhere("completed_at IS NOT NULL")),
		// An account-scoped step exists once per account.
		index.Fields("account_ref", "name").Unique().
			Annotations(entsql.IndexWhere("scope = 'ACCOUNT'")),
	}
}

// Annotations of the Step.
func (Step) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.RelayConnection(), entgql.QueryField()}
}
