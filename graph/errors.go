package graph

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"unicode/utf8"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/batonhq/baton/engine"
	"github.com/batonhq/baton/ent"
)

// codes maps engine error codes to GraphQL extensions.code, in one table.
// They are the same names (engine.CodeInternal too: INTERNAL_SERVER_ERROR,
// the name GraphQL servers use); the table is where they would diverge.
var codes = map[engine.Code]string{
	engine.CodeBadUserInput:        "BAD_USER_INPUT",
	engine.CodeNotFound:            "NOT_FOUND",
	engine.CodeConflict:            "CONFLICT",
	engine.CodeInvalidCatalog:      "INVALID_CATALOG",
	engine.CodeUnauthenticated:     "UNAUTHENTICATED",
	engine.CodeForbidden:           "FORBIDDEN",
	engine.CodePastPointOfNoReturn: "PAST_POINT_OF_NO_RETURN",
	engine.CodeInvalidState:        "INVALID_STATE",
	engine.CodeSlowSubscriber:      "SLOW_SUBSCRIBER",
	engine.CodeUnavailable:         "UNAVAILABLE",
	engine.CodeInternal:            "INTERNAL_SERVER_ERROR",
}

// The codes the transport sends for requests it refuses or cuts short
// itself, with no engine error behind them. With the table above (and
// wsgorilla.OperationLimitCode) these are every extensions.code the server
// sends; TestEveryCodeInTheTable keeps it so.
const (
	// codeCancelled: the request's deadline passed or its client left.
	codeCancelled = "CANCELLED"
	// codeRequestTooLarge: the body is over Limits.MaxBodyBytes (413).
	codeRequestTooLarge = "REQUEST_TOO_LARGE"
	// codeRequestTimeout: the body did not arrive within
	// Limits.BodyTimeout (408).
	codeRequestTimeout = "REQUEST_TIMEOUT"
	// codeBadRequest: the body could not be read (400).
	codeBadRequest = "BAD_REQUEST"
	// codeRateLimited: over the principal's request rate (429).
	codeRateLimited = "RATE_LIMITED"
	// The codes of queries refused before anything runs. They are
	// request errors, like gqlgen's parse and validation errors: HTTP 200
	// with application/json (the GraphQL-over-HTTP spec; 400 with
	// application/graphql-response+json, and no data), an error message
	// on a websocket.
	codeQueryTooLarge = "QUERY_TOO_LARGE"
	codeComplexity    = "COMPLEXITY_LIMIT_EXCEEDED"
	codeDepth         = "DEPTH_LIMIT_EXCEEDED"
)

// ErrorPresenter turns engine errors into GraphQL errors with
// extensions.code (and extensions.problems for validation errors). Errors
// without a code are logged and shown as "internal error".
func ErrorPresenter(log *slog.Logger) graphql.ErrorPresenterFunc {
	return func(ctx context.Context, err error) *gqlerror.Error {
		pres := graphql.DefaultErrorPresenter(ctx, err)
		var e *engine.Error
		var gqlErr *gqlerror.Error
		var re *resolverError
		switch {
		case errors.As(err, &e):
			pres.Message = e.Message
			if pres.Extensions == nil {
				pres.Extensions = map[string]any{}
			}
			pres.Extensions["code"] = codes[e.Code]
			if len(e.Problems) > 0 {
				ps := make([]map[string]string, len(e.Problems))
				for i, p := range e.Problems {
					ps[i] = map[string]string{"path": p.Path, "message": p.Message}
				}
				pres.Extensions["problems"] = ps
				if len(e.Problems) == 1 {
					pres.Message = e.Message + ": " + e.Problems[0].String()
				}
			}
		case ent.IsNotFound(err):
			pres.Message = "not found"
			pres.Extensions = map[string]any{"code": codes[engine.CodeNotFound]}
		case ent.IsValidationError(err):
			pres.Extensions = map[string]any{"code": codes[engine.CodeBadUserInput]}
		case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
			pres.Message = "request cancelled"
			pres.Extensions = map[string]any{"code": codeCancelled}
		case !errors.As(err, &re) && errors.As(err, &gqlErr):
			// gqlgen's own errors: parse and validation errors carry their
			// codes; an argument it could not read (an ID that is not a
			// number, say) is the client's mistake. (Errors of resolvers
			// are marked, below, and never land here.)
			if pres.Extensions == nil || pres.Extensions["code"] == nil {
				if pres.Extensions == nil {
					pres.Extensions = map[string]any{}
				}
				pres.Extensions["code"] = codes[engine.CodeBadUserInput]
			}
		default:
			log.Error("internal error", "path", pres.Path.String(), "err", logText(err.Error()))
			pres.Message = "internal error"
			pres.Extensions = map[string]any{"code": codes[engine.CodeInternal]}
		}
		return pres
	}
}

// maxLoggedError caps what the log keeps of an internal error's text. A
// database error quotes the statement's arguments (PostgreSQL: the whole
// offending value), and one request must not write megabytes to the log,
// nor a client's data in full.
const maxLoggedError = 512

// logText is s cut to maxLoggedError bytes (at a character boundary), with
// the size of what was cut.
func logText(s string) string {
	if len(s) <= maxLoggedError {
		return s
	}
	cut := maxLoggedError
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "… (" + strconv.Itoa(len(s)-cut) + " more bytes)"
}

// resolverError marks an error a resolver returned (or a panic in one):
// gqlgen wraps every error in a *gqlerror.Error with its path, so without
// the mark a failed database query would look like gqlgen's own error
// about the request.
type resolverError struct{ err error }

func (e *resolverError) Error() string { return e.err.Error() }
func (e *resolverError) Unwrap() error { return e.err }

// perStepError reports, beside the data, why one step of a bulk request
// was left as it was (path <field>.<index>, extensions.stepId).
func perStepError(ctx context.Context, index, stepID int, err error) {
	pres := ErrorPresenter(slog.Default())(ctx, err)
	pres.Path = append(graphql.GetPath(ctx), ast.PathIndex(index))
	if pres.Extensions == nil {
		pres.Extensions = map[string]any{}
	}
	pres.Extensions["stepId"] = strconv.Itoa(stepID)
	graphql.AddError(ctx, pres)
}
