package graph

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"entgo.io/contrib/entgql"
	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/extension"
	"github.com/99designs/gqlgen/graphql/handler/lru"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/batonhq/baton/engine"
	"github.com/batonhq/baton/ent"
	"github.com/batonhq/baton/graph/generated"
)

// Config configures the GraphQL handler. Client and Engine are required.
type Config struct {
	Client *ent.Client
	Engine *engine.Engine
	Logger *slog.Logger
	// Limits bound what one request may do (zero fields: DefaultLimits).
	Limits Limits
	// Hub serves subscriptions; nil disables the websocket transport.
	Hub *engine.Hub
	// AllowedOrigins are websocket origins allowed besides same-origin and
	// localhost ("*" allows any).
	AllowedOrigins []string
	// KeepAlive is the websocket ping interval (default 15s).
	KeepAlive time.Duration
	// Authenticate names the caller of a request, or refuses it with an
	// UNAUTHENTICATED error; nil lets everyone in, named by the
	// X-Baton-User header (or "anonymous").
	Authenticate func(authorization string) (string, error)
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
	srv.AddTransport(transport.POST{})
	srv.SetQueryCache(lru.New[*ast.QueryDocument](1000))
	srv.Use(extension.Introspection{})
	srv.Use(extension.AutomaticPersistedQuery{Cache: lru.New[string](100)})
	srv.Use(extension.FixedComplexityLimit(cfg.Limits.Complexity))
	srv.Use(depthLimit{max: cfg.Limits.Depth})
	srv.SetErrorPresenter(ErrorPresenter(cfg.Logger))
	srv.AroundFields(markResolverErrors)
	srv.SetRecoverFunc(func(ctx context.Context, p any) error {
		cfg.Logger.Error("panic in resolver", "panic", p, "stack", string(debug.Stack()))
		return &resolverError{fmt.Errorf("panic: %v", p)}
	})
	return limitBody(cfg.Limits.MaxBodyBytes, withActor(cfg.Authenticate, Loaders(cfg.Client, cfg.Engine, srv)))
}

// limitBody refuses request bodies over max bytes with 413 and
// extensions.code REQUEST_TOO_LARGE, before anything runs: at once when
// Content-Length says so, and for a body of unknown length (chunked) once
// reading it passes the limit (it is read whole first).
func limitBody(max int64, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tooLarge := func(size string) {
			writeHTTPError(w, http.StatusRequestEntityTooLarge, "REQUEST_TOO_LARGE",
				fmt.Sprintf("request body of %s bytes is over the limit of %d", size, max))
		}
		if r.ContentLength > max {
			tooLarge(strconv.FormatInt(r.ContentLength, 10))
			return
		}
		if r.Body != nil && r.Body != http.NoBody {
			r.Body = http.MaxBytesReader(w, r.Body, max)
			if r.ContentLength < 0 {
				b, err := io.ReadAll(r.Body)
				var tooBig *http.MaxBytesError
				if errors.As(err, &tooBig) {
					tooLarge("more than " + strconv.FormatInt(max, 10))
					return
				}
				if err != nil {
					writeHTTPError(w, http.StatusBadRequest, "BAD_REQUEST", "could not read the request body: "+err.Error())
					return
				}
				r.Body, r.ContentLength = io.NopCloser(bytes.NewReader(b)), int64(len(b))
			}
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

// withActor names the caller (recorded on the events of what they do) and
// refuses requests that fail authentication. Websocket upgrades
// authenticate in connection_init instead.
func withActor(auth func(string) (string, error), next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		actor := r.Header.Get("X-Baton-User")
		upgrade := strings.EqualFold(r.Header.Get("Upgrade"), "websocket")
		if auth != nil && r.Method != http.MethodOptions && !upgrade {
			name, err := auth(r.Header.Get("Authorization"))
			if err != nil {
				w.Header().Set("WWW-Authenticate", "Bearer")
				writeHTTPError(w, http.StatusUnauthorized, "UNAUTHENTICATED", err.Error())
				return
			}
			actor = name
		}
		next.ServeHTTP(w, r.WithContext(engine.WithActor(r.Context(), actor)))
	})
}

// TokenAuth reads "name:token,name:token" into an Authenticate function
// that accepts `Bearer <token>` and names the caller; an empty spec
// returns nil (no authentication).
func TokenAuth(spec string) (func(string) (string, error), error) {
	if strings.TrimSpace(spec) == "" {
		return nil, nil
	}
	tokens := map[string]string{}
	for _, pair := range strings.Split(spec, ",") {
		name, token, ok := strings.Cut(strings.TrimSpace(pair), ":")
		if !ok || name == "" || len(token) < 16 {
			return nil, fmt.Errorf("BATON_API_TOKENS: want name:token pairs with tokens of 16 characters or more")
		}
		tokens[token] = name
	}
	return func(authorization string) (string, error) {
		token, ok := strings.CutPrefix(authorization, "Bearer ")
		if !ok {
			return "", engine.Errorf(engine.CodeUnauthenticated, "send Authorization: Bearer <token>")
		}
		for known, name := range tokens {
			if subtle.ConstantTimeCompare([]byte(known), []byte(token)) == 1 {
				return name, nil
			}
		}
		return "", engine.Errorf(engine.CodeUnauthenticated, "unknown token")
	}, nil
}

// connectionCosts makes a Relay connection cost its children times the
// page size asked for.
func connectionCosts(c *generated.ComplexityRoot) {
	page := func(child int, first, last *int) int {
		n := 50
		if first != nil {
			n = *first
		} else if last != nil {
			n = *last
		}
		return child * max(n, 1)
	}
	type cursor = *entgql.Cursor[int]
	c.Query.Orders = func(child int, _ cursor, first *int, _ cursor, last *int, _ *ent.OrderOrder, _ *ent.OrderWhereInput) int {
		return page(child, first, last)
	}
	c.Query.Steps = func(child int, _ cursor, first *int, _ cursor, last *int, _ *ent.StepOrder, _ *ent.StepWhereInput) int {
		return page(child, first, last)
	}
	c.Query.Plans = func(child int, _ cursor, first *int, _ cursor, last *int, _ *ent.PlanOrder, _ *ent.PlanWhereInput) int {
		return page(child, first, last)
	}
	c.Query.Accounts = func(child int, _ cursor, first *int, _ cursor, last *int, _ *ent.AccountWhereInput) int {
		return page(child, first, last)
	}
	c.Query.Assets = func(child int, _ cursor, first *int, _ cursor, last *int, _ *ent.AssetWhereInput) int {
		return page(child, first, last)
	}
	c.Query.Systems = func(child int, _ cursor, first *int, _ cursor, last *int, _ *ent.SystemWhereInput) int {
		return page(child, first, last)
	}
	c.Query.CatalogVersions = func(child int, _ cursor, first *int, _ cursor, last *int, _ *ent.CatalogVersionOrder, _ *ent.CatalogVersionWhereInput) int {
		return page(child, first, last)
	}
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
	if depth := selectionDepth(rc.Operation.SelectionSet, rc.Doc, 0); depth > d.max {
		err := gqlerror.Errorf("operation is nested %d levels deep; the limit is %d", depth, d.max)
		err.Extensions = map[string]any{"code": "DEPTH_LIMIT_EXCEEDED"}
		return err
	}
	return nil
}

func selectionDepth(set ast.SelectionSet, doc *ast.QueryDocument, seen int) int {
	if seen > 64 { // fragment cycles are rejected by validation; stay safe
		return seen
	}
	deepest := 0
	for _, sel := range set {
		var d int
		switch s := sel.(type) {
		case *ast.Field:
			if len(s.Name) > 1 && s.Name[:2] == "__" {
				continue
			}
			d = 1 + selectionDepth(s.SelectionSet, doc, seen+1)
		case *ast.InlineFragment:
			d = selectionDepth(s.SelectionSet, doc, seen+1)
		case *ast.FragmentSpread:
			if f := doc.Fragments.ForName(s.Name); f != nil {
				d = selectionDepth(f.SelectionSet, doc, seen+1)
			}
		}
		deepest = max(deepest, d)
	}
	return deepest
}
