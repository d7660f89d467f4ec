package graph

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/extension"
	"github.com/99designs/gqlgen/graphql/handler/lru"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
	"go.opentelemetry.io/otel/trace"

	"github.com/batonhq/baton/engine"
	"github.com/batonhq/baton/engine/orchestrator"
	"github.com/batonhq/baton/engine/tracing"
	"github.com/batonhq/baton/ent"
	"github.com/batonhq/baton/graph/generated"
	"github.com/batonhq/baton/graph/wsgorilla"
)

// Config configures the GraphQL handler. Client and Engine are required.
type Config struct {
	Client *ent.Client
	Engine *orchestrator.Engine
	Logger *slog.Logger
	// Limits bound what one request may do (zero fields: DefaultLimits).
	Limits Limits
	// Hub serves subscriptions; nil disables the websocket transport.
	Hub *orchestrator.Hub
	// AllowedOrigins are websocket origins allowed besides same-origin and
	// localhost ("*" allows any).
	AllowedOrigins []string
	// KeepAlive is the websocket ping interval (default 15s).
	KeepAlive time.Duration
	// Unshared runs every websocket subscription alone, as gqlgen does,
	// instead of in shared groups (see sharing); for comparisons.
	Unshared bool
	// Authenticate names the caller of a request, or refuses it with an
	// UNAUTHENTICATED error; nil lets everyone in with every permission
	// (a development server), named by the X-Baton-User header (or
	// "anonymous").
	Authenticate Authenticator
	// DisableIntrospection refuses __schema and __type queries.
	DisableIntrospection bool
	// CORSOrigins are the browser origins allowed to call the API (none:
	// same origin only; "*": any, without credentials).
	CORSOrigins []string
	// RateLimit is how many requests per second one principal may send
	// (RateBurst above it at once); 0 is no limit.
	RateLimit float64
	RateBurst int
	// TracerProvider makes a span per query and mutation (nil: tracing
	// off).
	TracerProvider trace.TracerProvider
}

// NewHandler returns the /graphql handler: POST and GET queries and
// mutations, the given extra transports (websocket subscriptions),
// introspection, a query cache, complexity and depth limits, and errors
// with extensions.code.
func NewHandler(cfg Config) http.Handler {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	cfg.Limits = cfg.Limits.withDefaults()
	if cfg.KeepAlive <= 0 {
		cfg.KeepAlive = 15 * time.Second
	}
	gc := generated.Config{Resolvers: &Resolver{Client: cfg.Client, Engine: cfg.Engine, Hub: cfg.Hub, Logger: cfg.Logger, Limits: cfg.Limits}}
	connectionCosts(&gc.Complexity)
	srv := handler.New(generated.NewExecutableSchema(gc))
	if cfg.Hub != nil {
		srv.AddTransport(websocketTransport(cfg))
	}
	srv.AddTransport(transport.Options{})
	srv.AddTransport(transport.GET{})
	srv.AddTransport(postTransport{})
	cache := lru.New[*ast.QueryDocument](1000)
	srv.SetQueryCache(cache)
	srv.SetParserTokenLimit(cfg.Limits.Tokens)
	if !cfg.DisableIntrospection {
		srv.Use(extension.Introspection{})
	}
	// The persisted query is looked up first, so that documentBounds sees
	// the query it stands for.
	srv.Use(extension.AutomaticPersistedQuery{Cache: lru.New[string](100)})
	srv.Use(documentBounds{limits: cfg.Limits, cache: cache})
	srv.Use(depthLimit{max: cfg.Limits.Depth})
	srv.Use(&complexityLimit{max: cfg.Limits.Complexity, listSize: cfg.Limits.ListSize})
	srv.SetErrorPresenter(ErrorPresenter(cfg.Logger))
	var clock engine.Clock = engine.SystemClock{}
	if cfg.Engine != nil {
		clock = cfg.Engine.Clock()
	}
	if tracer := tracing.Tracer(cfg.TracerProvider); tracer != nil {
		srv.AroundOperations(tracedOperations(tracer))
	}
	if cfg.Hub != nil && !cfg.Unshared {
		srv.AroundOperations(newSharing(cfg.Logger, clock).middleware)
	}
	srv.AroundOperations(cancelledOperation(cfg.Limits.RequestTimeout))
	srv.AroundFields(fieldMiddleware(auditMutations(cfg.Engine, cfg.Logger)))
	srv.SetRecoverFunc(func(ctx context.Context, p any) error {
		cfg.Logger.Error("panic in resolver", "panic", p, "stack", string(debug.Stack()))
		return &resolverError{fmt.Errorf("panic: %v", p)}
	})
	var h http.Handler = graphqlHTTPSpec(Loaders(cfg.Client, cfg.Engine, withLanes(srv)))
	if cfg.RateLimit > 0 {
		h = newRateLimiter(cfg.RateLimit, cfg.RateBurst).middleware(h)
	}
	return withCORS(cfg.CORSOrigins, withDeadline(cfg.Limits.RequestTimeout,
		limitBody(cfg.Limits.MaxBodyBytes, cfg.Limits.BodyTimeout, withPrincipal(cfg, h))))
}

// withLanes lets websocket connections take shared subscriptions' results
// straight to the wire (wsgorilla.Lane).
func withLanes(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if isWebsocket(r) {
			r = wsgorilla.WithLanes(r)
		}
		next.ServeHTTP(w, r)
	})
}

// isWebsocket reports whether r asks to become a websocket, whose
// lifetime is the subscription's, not one request's.
func isWebsocket(r *http.Request) bool {
	return strings.EqualFold(r.Header.Get("Upgrade"), "websocket")
}

// withDeadline gives every request but a websocket upgrade a deadline.
// The request's context also ends when the client goes away (net/http
// cancels it); fieldMiddleware makes either end stop the work.
func withDeadline(timeout time.Duration, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if isWebsocket(r) {
			next.ServeHTTP(w, r)
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), timeout)
		defer cancel()
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// fieldMiddleware is every field's middleware, in one layer (each layer
// costs every field of a response a closure and a call, and a
// 50,000-step plan has 350,000 fields):
//
//   - it stops resolving once the request's context has ended. Database
//     reads stop by themselves, but gqlgen resolves and marshals what is
//     in memory (introspection, loaded lists) without looking at the
//     context; this check makes every field of the rest of the response
//     fail at once instead;
//   - it runs mutations through their audit;
//   - it marks resolvers' errors (resolverError).
func fieldMiddleware(audit graphql.FieldMiddleware) graphql.FieldMiddleware {
	return func(ctx context.Context, next graphql.Resolver) (any, error) {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		res, err := audit(ctx, next) // passes every field but a mutation's straight on
		if err != nil {
			err = &resolverError{err}
		}
		return res, err
	}
}

// cancelledOperation answers a query or mutation whose context ended
// while it ran with one CANCELLED error, instead of an error per field
// left unresolved — or, when it ended before execution began, instead of
// no answer at all (gqlgen then answers null). A query's partial data
// goes too: it is mostly nulls, and the client asked for all of it or
// left. A mutation keeps its data, for what it did may have committed.
// Subscriptions are left alone: their stream ends when their context
// does.
func cancelledOperation(timeout time.Duration) graphql.OperationMiddleware {
	return func(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
		oc := graphql.GetOperationContext(ctx)
		if oc != nil && oc.Operation != nil && oc.Operation.Operation == ast.Subscription {
			return streamsSettled(ctx, next)
		}
		responses := next(ctx)
		if oc == nil || oc.Operation == nil {
			return responses
		}
		return func(ctx context.Context) *graphql.Response {
			resp := responses(ctx)
			err := ctx.Err()
			if err == nil {
				return resp
			}
			msg := "request cancelled: the client went away"
			if errors.Is(err, context.DeadlineExceeded) {
				msg = fmt.Sprintf("request cancelled: it took longer than its deadline of %s", timeout)
			}
			one := &gqlerror.Error{Message: msg, Extensions: map[string]any{"code": codeCancelled}}
			if resp == nil || oc.Operation.Operation == ast.Query {
				return &graphql.Response{Errors: gqlerror.List{one}}
			}
			kept := gqlerror.List{one}
			for _, e := range resp.Errors {
				if code, _ := e.Extensions["code"].(string); code != codeCancelled {
					kept = append(kept, e)
				}
			}
			resp.Errors = kept
			return resp
		}
	}
}

// limitBody refuses request bodies over max bytes with 413 and
// extensions.code REQUEST_TOO_LARGE, before anything runs: at once when
// Content-Length says so, and otherwise once reading it passes the limit.
// A body must arrive within timeout, or the request is answered 408
// REQUEST_TIMEOUT and its connection closed: a client that sends a byte
// now and then holds nothing open for long. The body is read whole here,
// under a read deadline that is lifted once it is in (it bounds the body,
// not the connection's later reads), so gqlgen's transports never wait on
// the client. Websocket upgrades are left alone.
func limitBody(max int64, timeout time.Duration, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tooLarge := func(size string) {
			writeHTTPError(w, http.StatusRequestEntityTooLarge, codeRequestTooLarge,
				fmt.Sprintf("request body of %s bytes is over the limit of %d", size, max))
		}
		if r.ContentLength > max {
			tooLarge(strconv.FormatInt(r.ContentLength, 10))
			return
		}
		if r.Body != nil && r.Body != http.NoBody && !isWebsocket(r) {
			rc := http.NewResponseController(w)
			// A writer without deadlines (a test recorder) reads without one.
			deadline := rc.SetReadDeadline(time.Now().Add(timeout)) == nil
			b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, max))
			if deadline {
				rc.SetReadDeadline(time.Time{})
			}
			var tooBig *http.MaxBytesError
			switch {
			case errors.As(err, &tooBig):
				tooLarge("more than " + strconv.FormatInt(max, 10))
				return
			case errors.Is(err, os.ErrDeadlineExceeded):
				w.Header().Set("Connection", "close")
				writeHTTPError(w, http.StatusRequestTimeout, codeRequestTimeout,
					fmt.Sprintf("the request body did not arrive within %s", timeout))
				return
			case err != nil:
				writeHTTPError(w, http.StatusBadRequest, codeBadRequest, "could not read the request body: "+err.Error())
				return
			}
			r.Body, r.ContentLength = io.NopCloser(bytes.NewReader(b)), int64(len(b))
		}
		next.ServeHTTP(w, r)
	})
}

// writeHTTPError answers a request refused before GraphQL saw it, in
// GraphQL's error shape.
func writeHTTPError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{"errors": []map[string]any{{
		"message": msg, "extensions": map[string]any{"code": code}}}})
}

// depthLimit refuses operations nested deeper than max (introspection
// fields, which nest by design, are not counted).
type depthLimit struct{ max int }

var _ interface {
	graphql.HandlerExtension
	graphql.OperationContextMutator
} = depthLimit{}

func (depthLimit) ExtensionName() string                   { return "DepthLimit" }
func (depthLimit) Validate(graphql.ExecutableSchema) error { return nil }
func (d depthLimit) MutateOperationContext(ctx context.Context, rc *graphql.OperationContext) *gqlerror.Error {
	if rc.Operation == nil {
		return nil
	}
	if depth := (depthWalker{memo: map[string]int{}}).selections(rc.Operation.SelectionSet); depth > d.max {
		return refusal(codeDepth, "operation is nested %d levels deep; the limit is %d", depth, d.max)
	}
	return nil
}

// depthWalker measures selection depth; memo holds each fragment's own
// depth, so that a fragment spread many times is walked once (without it,
// fragments that spread the next one twice take exponential time).
type depthWalker struct{ memo map[string]int }

func (w depthWalker) selections(set ast.SelectionSet) int {
	deepest := 0
	for _, sel := range set {
		var d int
		switch s := sel.(type) {
		case *ast.Field:
			if strings.HasPrefix(s.Name, "__") {
				continue
			}
			d = 1 + w.selections(s.SelectionSet)
		case *ast.InlineFragment:
			d = w.selections(s.SelectionSet)
		case *ast.FragmentSpread:
			var ok bool
			if d, ok = w.memo[s.Name]; !ok && s.Definition != nil {
				w.memo[s.Name] = 0 // validation refused cycles; stay finite anyway
				d = w.selections(s.Definition.SelectionSet)
				w.memo[s.Name] = d
			}
		}
		deepest = max(deepest, d)
	}
	return deepest
}

// streamsKey holds, in a subscription's context, the wait group of the
// goroutines feeding its streams.
type streamsKey struct{}

// streamsSettled makes a subscription's end wait for the goroutines that
// feed it. gqlgen reads the errors a stream added (AddSubscriptionError)
// as soon as the stream ends, and a stream also ends when its context
// does, possibly while its goroutine is still adding one: waiting here
// orders the two.
func streamsSettled(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
	var feeding sync.WaitGroup
	responses := next(context.WithValue(ctx, streamsKey{}, &feeding))
	return func(ctx context.Context) *graphql.Response {
		resp := responses(ctx)
		if resp == nil {
			feeding.Wait()
		}
		return resp
	}
}

// feeding counts a goroutine that feeds a subscription's stream; the
// caller calls the returned func when that goroutine is done.
func feeding(ctx context.Context) (done func()) {
	wg, ok := ctx.Value(streamsKey{}).(*sync.WaitGroup)
	if !ok {
		return func() {}
	}
	wg.Add(1)
	return wg.Done
}
