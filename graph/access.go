package graph

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"slices"
	"strings"

	"github.com/99designs/gqlgen/graphql"

	"github.com/batonhq/baton/engine"
	"github.com/batonhq/baton/engine/access"
	"github.com/batonhq/baton/engine/orchestrator"
	"github.com/batonhq/baton/graph/identity"
	"github.com/batonhq/baton/graph/model"
)

// Authenticator turns an Authorization header (or a websocket's
// connection_init authorization) into the principal of the request.
// Errors: UNAUTHENTICATED.
type Authenticator func(ctx context.Context, authorization string) (*access.Principal, error)

// requestInfo is what the audit log records of a request.
type requestInfo struct{ id, addr string }

type requestKey struct{}

func requestFrom(ctx context.Context) requestInfo {
	ri, _ := ctx.Value(requestKey{}).(requestInfo)
	return ri
}

// requestID is the client's X-Request-Id when it sent a sane one, else a
// new one; it is echoed in the response.
func requestID(r *http.Request) string {
	if id := r.Header.Get("X-Request-Id"); id != "" && len(id) <= 128 && !strings.ContainsFunc(id, func(c rune) bool { return c < 0x21 || c > 0x7e }) {
		return id
	}
	var b [12]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// withPrincipal names the caller of every request. Without an
// authenticator the server is open (development): everyone may do
// everything, named by X-Baton-User. With one, a request without valid
// credentials is refused with 401 UNAUTHENTICATED (and an audit record);
// a websocket upgrade starts as Nobody and authenticates in
// connection_init.
func withPrincipal(cfg Config, next http.Handler) http.Handler {
	auth := cfg.Authenticate
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ri := requestInfo{id: requestID(r), addr: clientAddr(r)}
		w.Header().Set("X-Request-Id", ri.id)
		ctx := context.WithValue(r.Context(), requestKey{}, ri)
		switch {
		case auth == nil:
			ctx = access.With(ctx, access.Open(r.Header.Get("X-Baton-User")))
		case r.Method == http.MethodOptions || isWebsocket(r):
			ctx = access.With(ctx, access.Nobody())
		default:
			p, err := auth(ctx, r.Header.Get("Authorization"))
			if err != nil {
				auditAuthFailure(ctx, cfg, err)
				w.Header().Set("WWW-Authenticate", "Bearer")
				writeHTTPError(w, http.StatusUnauthorized, codes[engine.CodeUnauthenticated], err.Error())
				return
			}
			ctx = access.With(ctx, p)
		}
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// auditAuthFailure records a refused authentication.
func auditAuthFailure(ctx context.Context, cfg Config, err error) {
	if cfg.Engine == nil {
		return
	}
	ri := requestFrom(ctx)
	intent := &engine.AuditIntent{Action: "authenticate", RequestID: ri.id, ClientAddr: ri.addr}
	if werr := cfg.Engine.RecordAudit(access.With(ctx, access.Nobody()), intent, err); werr != nil {
		cfg.Logger.Error("audit record of a failed authentication not written", "err", werr)
	}
}

// auditMutations is the field middleware that gives every mutation an
// audit intent (the field, its target ids, a digest of its input, the
// request) and, when the use case recorded nothing in its own
// transaction (it was denied, it failed, or it wrote nothing), records
// the outcome in a transaction of its own.
func auditMutations(eng *orchestrator.Engine, log *slog.Logger) graphql.FieldMiddleware {
	return func(ctx context.Context, next graphql.Resolver) (any, error) {
		fc := graphql.GetFieldContext(ctx)
		if fc == nil || fc.Object != "Mutation" || eng == nil {
			return next(ctx)
		}
		ri := requestFrom(ctx)
		intent := &engine.AuditIntent{Action: fc.Field.Name, RequestID: ri.id, ClientAddr: ri.addr}
		intent.OrderID, intent.Target = auditTarget(fc.Args)
		if b, err := json.Marshal(fc.Args); err == nil {
			sum := sha256.Sum256(b)
			intent.InputDigest = hex.EncodeToString(sum[:])
		}
		res, err := next(engine.WithAuditIntent(ctx, intent))
		if werr := eng.RecordAudit(ctx, intent, err); werr != nil {
			// The action's own outcome stands; the missing record is an
			// operator's problem, loudly.
			log.Error("audit record not written", "action", intent.Action, "err", werr)
		}
		return res, err
	}
}

// auditTarget reads the ids a mutation acts on from its arguments: the
// order (orderId), and every argument named like an id or a system.
func auditTarget(args map[string]any) (orderID int, target string) {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(args)) {
		v := args[k]
		if k == "orderId" {
			if id, ok := v.(int); ok {
				orderID = id
			}
		}
		if !(strings.HasSuffix(k, "Id") || k == "ids" || k == "id" || k == "system") {
			continue
		}
		switch x := v.(type) {
		case nil:
			continue
		case *int:
			if x == nil {
				continue
			}
			v = *x
		case *string:
			if x == nil {
				continue
			}
			v = *x
		}
		s := fmt.Sprint(v)
		if len(s) > 256 {
			s = s[:256] + "…"
		}
		parts = append(parts, k+"="+s)
	}
	return orderID, strings.Join(parts, " ")
}

// TokenAuth is the Authenticator of BATON_API_TOKENS alone (the default
// roles; see identity.ParseTokens); an empty spec returns nil (no
// authentication).
func TokenAuth(spec string) (Authenticator, error) {
	tokens, err := identity.ParseTokens(spec, access.DefaultPolicy())
	if err != nil || tokens == nil {
		return nil, err
	}
	return (&identity.Authenticator{Tokens: tokens}).Authenticate, nil
}

func principalModel(p *access.Principal) *model.Principal {
	m := &model.Principal{Name: p.Name, Method: string(p.Method), Roles: nonNilStrings(p.Roles),
		Permissions: permissionNames(p.Permitted()), Accounts: nonNilStrings(p.Accounts), Queues: nonNilStrings(p.Queues)}
	if !p.Expires.IsZero() {
		m.ExpiresAt = &p.Expires
	}
	return m
}

func permissionNames(ps []access.Permission) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = string(p)
	}
	return out
}

func nonNilStrings(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
