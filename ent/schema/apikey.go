package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
)

// APIKey is a key created with createApiKey. Only the SHA-256 of its
// secret is stored; the secret is shown once, when it is created. A
// revoked key stays (for the audit log) and authenticates no one.
type APIKey struct{ ent.Schema }

// Fields of the APIKey.
func (APIKey) Fields() []ent.Field {
	return []ent.Field{
		field.String("name").NotEmpty().Immutable(),
		field.String("hash").NotEmpty().Unique().Immutable().Sensitive(),
		field.Strings("roles").Immutable(),
		field.Strings("accounts").Optional().Immutable(),
		field.Strings("queues").Optional().Immutable(),
		field.String("created_by").Immutable(),
		field.Time("created_at").Immutable(),
		field.Time("revoked_at").Optional().Nillable(),
		field.String("revoked_by").Optional(),
	}
}

// Indexes of the APIKey.
func (APIKey) Indexes() []ent.Index {
	return []ent.Index{index.Fields("name")}
}

// Annotations of the APIKey.
func (APIKey) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.Skip()}
}
