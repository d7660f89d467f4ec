package generated

// Written by hand: graph/codegen rewrites the marshalling of lists of the
// objects it resolves in line to call this.

import (
	"context"

	"github.com/99designs/gqlgen/graphql"
)

// marshalSerially is graphql.MarshalSliceConcurrently on the calling
// goroutine: each element gets its own field context (its index in the
// path), and a panic in one makes the list null with an error, as there.
func marshalSerially(ctx context.Context, length int, omitPanicHandler bool, marshalElement func(ctx context.Context, i int) graphql.Marshaler) graphql.Array {
	ret := make(graphql.Array, length)
	for i := range length {
		childCtx := graphql.WithFieldContext(ctx, &graphql.FieldContext{Index: &i})
		if omitPanicHandler {
			ret[i] = marshalElement(childCtx, i)
			continue
		}
		if !marshalRecovering(childCtx, ret, i, marshalElement) {
			return nil
		}
	}
	return ret
}

func marshalRecovering(ctx context.Context, ret graphql.Array, i int, marshalElement func(ctx context.Context, i int) graphql.Marshaler) (ok bool) {
	defer func() {
		if r := recover(); r != nil {
			graphql.AddError(ctx, graphql.Recover(ctx, r))
			ok = false
		}
	}()
	ret[i] = marshalElement(ctx, i)
	return true
}
