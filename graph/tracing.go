package graph

import (
	"context"
	"strings"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"go.opentelemetry.io/otel/attribute"
	otelcodes "go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/batonhq/baton/engine/tracing"
)

// tracedOperations gives every query and mutation a server span named by
// its type and name ("mutation SubmitOrder"), continuing the trace of the
// request's traceparent header when it has one. The span carries the
// operation's type and name and, when it failed, its errors' codes —
// never the variables' values. Subscriptions, streams that last as long as
// their connection, are not traced.
func tracedOperations(tracer trace.Tracer) graphql.OperationMiddleware {
	return func(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
		oc := graphql.GetOperationContext(ctx)
		if oc == nil || oc.Operation == nil || oc.Operation.Operation == ast.Subscription {
			return next(ctx)
		}
		typ := string(oc.Operation.Operation)
		name := typ
		if oc.OperationName != "" {
			name += " " + oc.OperationName
		} else if oc.Operation.Name != "" {
			name += " " + oc.Operation.Name
		}
		ctx = tracing.FromHeader(ctx, oc.Headers)
		ctx, span := tracer.Start(ctx, name, trace.WithSpanKind(trace.SpanKindServer),
			trace.WithAttributes(attribute.String("graphql.operation.type", typ), attribute.String("graphql.operation.name", oc.Operation.Name)))
		responses := next(ctx)
		return func(ctx context.Context) *graphql.Response {
			resp := responses(ctx)
			if resp != nil && len(resp.Errors) > 0 {
				var errCodes []string
				for _, e := range resp.Errors {
					if c, ok := e.Extensions["code"].(string); ok {
						errCodes = append(errCodes, c)
					}
				}
				span.SetAttributes(attribute.StringSlice("graphql.error.codes", errCodes))
				// The codes, never the messages: a message may quote the
				// input (variables' values stay out of spans).
				span.SetStatus(otelcodes.Error, strings.Join(errCodes, ","))
			}
			span.End()
			return resp
		}
	}
}
