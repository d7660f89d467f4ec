//go:build ignore

// entc generates the ent client and the GraphQL schema of the ent types
// (graph/ent.graphqls). `go generate ./...` runs it from the repository root,
// before gqlgen (see the directives in server.go).
package main

import (
	"log"
	"os"

	"entgo.io/contrib/entgql"
	"entgo.io/ent/entc"
	"entgo.io/ent/entc/gen"
)

func main() {
	// entgql appends to an existing schema file and then loses the scalars
	// it declared the first time: always start from nothing.
	if err := os.Remove("graph/ent.graphqls"); err != nil && !os.IsNotExist(err) {
		log.Fatalf("remove old ent.graphqls: %v", err)
	}
	ex, err := entgql.NewExtension(
		entgql.WithSchemaGenerator(),
		entgql.WithWhereInputs(true),
		entgql.WithNodeDescriptor(false),
		entgql.WithConfigPath("gqlgen.yml"),
		entgql.WithSchemaPath("graph/ent.graphqls"),
	)
	if err != nil {
		log.Fatalf("creating entgql extension: %v", err)
	}
	err = entc.Generate("./ent/schema", &gen.Config{
		Target:  "./ent",
		Package: "github.com/batonhq/baton/ent",
		Features: []gen.Feature{
			gen.FeatureGlobalID,
			gen.FeatureExecQuery,
			gen.FeatureLock,
			gen.FeatureModifier,
			gen.FeatureUpsert,
			gen.FeatureIntercept,
		},
	}, entc.Extensions(ex))
	if err != nil {
		log.Fatalf("running ent codegen: %v", err)
	}
}
