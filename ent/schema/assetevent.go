package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
)

// AssetEvent is one change of an asset: which order (and line) created,
// changed, suspended, resumed or disconnected it, when, and what it was
// before and after.
type AssetEvent struct{ ent.Schema }

// Fields of the AssetEvent.
func (AssetEvent) Fields() []ent.Field {
	return []ent.Field{
		field.Int("asset_id").Immutable(),
		field.Int("order_id").Immutable(),
		field.Int("order_line_id").Immutable(),
		field.Enum("action").Values("ADD", "CHANGE", "DISCONNECT", "SUSPEND", "RESUME").Immutable(),
		field.String("from_status").Optional().Immutable().Comment("empty for ADD"),
		field.String("to_status").Immutable(),
		field.Int("quantity").Immutable().Comment("the asset's quantity after the change"),
		jsonMap("attributes", true),
		field.Time("at").Immutable(),
	}
}

// Edges of the AssetEvent.
func (AssetEvent) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("asset", Asset.Type).Ref("history").Field("asset_id").Unique().Required().Immutable(),
	}
}

// Indexes of the AssetEvent.
func (AssetEvent) Indexes() []ent.Index {
	return []ent.Index{index.Fields("asset_id")}
}

// Annotations of the AssetEvent.
func (AssetEvent) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.Skip()}
}
