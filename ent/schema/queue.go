package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/field"
)

// Queue is what the API changed about a work queue, beside the catalog's
// definition: its members (when set, they replace the catalog's), who is
// unavailable (out of office), and the round-robin position. A row exists
// for every queue a task was assigned in: assignment locks it, so that
// two replicas assigning in one queue take turns.
type Queue struct{ ent.Schema }

// Fields of the Queue.
func (Queue) Fields() []ent.Field {
	return []ent.Field{
		field.String("name").NotEmpty().Unique().Immutable(),
		field.Strings("members").Optional().Comment("null: the catalog's members"),
		field.Strings("unavailable").Optional(),
		field.Int("cursor").Default(0).Comment("round robin: how many tasks it has assigned"),
		field.Time("updated_at"),
		field.String("updated_by").Optional(),
	}
}

// Annotations of the Queue.
func (Queue) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.Skip()}
}
