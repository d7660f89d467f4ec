package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/field"
)

// System is the live state of an external system that callouts call:
// taken OFFLINE by an operator (integration hold), or its circuit opened
// by consecutive failures. Rows are created on first use.
type System struct{ ent.Schema }

// Fields of the System.
func (System) Fields() []ent.Field {
	return []ent.Field{
		field.String("name").NotEmpty().Unique().Immutable(),
		field.Enum("status").Values("ONLINE", "OFFLINE").Default("ONLINE"),
		field.Int("consecutive_failures").Default(0),
		field.Time("circuit_open_until").Optional().Nillable().
			Comment("while in the future, callouts to the system are held"),
		field.Time("release_at").Optional().Nillable().Annotations(entgql.Skip()).
			Comment("held callouts are released at the system's rate from this time on"),
		field.Int("trial_step_id").Optional().Nillable().Annotations(entgql.Skip()).
			Comment("HALF_OPEN: the one callout let through to try the system"),
		field.Time("trial_until").Optional().Nillable().Annotations(entgql.Skip()).
			Comment("HALF_OPEN: when the trial call's turn runs out (its lease) and another may try"),
		field.Int("open_count").Default(0).Annotations(entgql.Skip()).
			Comment("times the circuit opened in a row without a success in between"),
		field.String("changed_by").Optional().Nillable(),
		field.Time("updated_at"),
	}
}

// Annotations of the System.
func (System) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.RelayConnection(), entgql.QueryField()}
}
