// Package schema is Baton's storage schema. The engine's hot paths query
// these tables with hand-written SQL (engine/entstore), so column names are
// part of the contract: rename a field only together with that SQL.
package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/dialect"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/field"
)

// jsonMap is a JSON object column: jsonb on PostgreSQL (so attributes can be
// merged in SQL with ||), JSON text on SQLite.
// Such columns are always optional (NULL reads as an empty map).
func jsonMap(name string, immutable bool, ants ...schema.Annotation) ent.Field {
	f := field.JSON(name, map[string]any{}).
		SchemaType(map[string]string{dialect.Postgres: "jsonb"}).
		Annotations(append([]schema.Annotation{entgql.Type("JSON")}, ants...)...).
		Optional()
	if immutable {
		f = f.Immutable()
	}
	return f
}
