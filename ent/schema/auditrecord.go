package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
)

// AuditRecord is one mutation, allowed or denied, or one failed
// authentication. A use case writes its record in the transaction of its
// effect; a denial or a failure in one of its own. Append-only: nothing in
// Baton updates or deletes one.
type AuditRecord struct{ ent.Schema }

// Fields of the AuditRecord.
func (AuditRecord) Fields() []ent.Field {
	return []ent.Field{
		field.Time("at").Immutable().Annotations(entgql.OrderField("AT")),
		field.String("actor").Immutable(),
		field.String("method").Immutable().Comment("how the actor authenticated: OPEN, TOKEN, API_KEY, OIDC, SYSTEM"),
		field.Strings("roles").Optional().Immutable(),
		field.String("action").Immutable().Comment("the GraphQL field, e.g. importCatalog"),
		field.Int("order_id").Optional().Nillable().Immutable(),
		field.String("target").Optional().Immutable().Comment("the ids acted on, e.g. step:12"),
		field.String("input_digest").Optional().Immutable().Comment("SHA-256 of the canonical input"),
		field.Enum("outcome").Values("ALLOWED", "DENIED", "FAILED").Immutable(),
		field.String("code").Optional().Immutable().Comment("the error code, when not ALLOWED"),
		field.String("request_id").Optional().Immutable(),
		field.String("client_addr").Optional().Immutable(),
	}
}

// Indexes of the AuditRecord.
func (AuditRecord) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("at"),
		index.Fields("actor", "at"),
		index.Fields("order_id"),
	}
}

// Annotations of the AuditRecord.
func (AuditRecord) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.RelayConnection(), entgql.Skip(entgql.SkipWhereInput, entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput)}
}
