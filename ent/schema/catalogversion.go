package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/field"
)

// CatalogVersion is one imported catalog document. Versions are immutable;
// the newest is current; every plan keeps the version it was generated from.
type CatalogVersion struct{ ent.Schema }

// Fields of the CatalogVersion.
func (CatalogVersion) Fields() []ent.Field {
	return []ent.Field{
		field.Int("version").Positive().Unique().Immutable().
			Annotations(entgql.OrderField("VERSION")),
		field.Text("document").Immutable().Comment("the document as imported"),
		field.String("checksum").Immutable().Comment("sha256 of the document"),
		field.Time("created_at").Immutable().
			Annotations(entgql.OrderField("CREATED_AT")),
	}
}

// Annotations of the CatalogVersion.
func (CatalogVersion) Annotations() []schema.Annotation {
	return []schema.Annotation{
		entgql.RelayConnection(),
		entgql.QueryField("catalogVersions"),
	}
}
