// Package access is who may do what: principals (the caller of a request,
// however it authenticated), the permissions each use case requires, the
// roles that grant them (the nine of an order's life plus SERVICE, with a
// role file to change them), and the accounts and queues a principal is
// limited to. It is pure: identity providers live in graph/identity, and
// the engine's use cases call Require.
package access

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/batonhq/baton/engine"
)

// Permission is one thing a use case needs; each engine entry point
// requires exactly one (README "Security" has the table).
type Permission string

// The permissions. Reads are grouped by what they show; writes are one
// per use case or family of use cases.
const (
	// CatalogRead: the catalog, its versions, systems and their state.
	CatalogRead Permission = "catalog:read"
	// CatalogImport: importCatalog.
	CatalogImport Permission = "catalog:import"
	// OrderRead: orders, their lines, plans, steps, assets, revisions,
	// events and subscriptions (within the principal's accounts).
	OrderRead Permission = "order:read"
	// OrderSubmit: submitOrder and previewOrder.
	OrderSubmit Permission = "order:submit"
	// OrderEnrich: enrichOrder.
	OrderEnrich Permission = "order:enrich"
	// OrderAmend: amendOrder and previewAmendment.
	OrderAmend Permission = "order:amend"
	// OrderCancel: cancelOrder and previewCancellation.
	OrderCancel Permission = "order:cancel"
	// OrderApprove: approveOrder and rejectOrder.
	OrderApprove Permission = "order:approve"
	// OrderSignal: signal (deliver an event to an order's pauses).
	OrderSignal Permission = "order:signal"
	// OrchestrationStart: startOrchestration (GENERIC plans).
	OrchestrationStart Permission = "orchestration:start"
	// TaskWork: complete manual tasks of the principal's queues.
	TaskWork Permission = "task:work"
	// TaskManage: assign manual tasks, and work those of any queue.
	TaskManage Permission = "task:manage"
	// CalloutRespond: respondToCallout (an external system's answer).
	CalloutRespond Permission = "callout:respond"
	// FalloutRetry: retrySteps and resumeStep.
	FalloutRetry Permission = "fallout:retry"
	// FalloutResolve: markStepComplete and skipStep.
	FalloutResolve Permission = "fallout:resolve"
	// SystemManage: setSystemStatus (integration holds).
	SystemManage Permission = "system:manage"
	// AuditRead: the audit log.
	AuditRead Permission = "audit:read"
	// KeyManage: createApiKey, revokeApiKey, apiKeys.
	KeyManage Permission = "key:manage"
)

// Permissions lists every permission, in the README's order.
var Permissions = []Permission{CatalogRead, CatalogImport, OrderRead, OrderSubmit, OrderEnrich, OrderAmend,
	OrderCancel, OrderApprove, OrderSignal, OrchestrationStart, TaskWork, TaskManage, CalloutRespond,
	FalloutRetry, FalloutResolve, SystemManage, AuditRead, KeyManage}

// Known reports whether p is a permission.
func Known(p Permission) bool { return slices.Contains(Permissions, p) }

// Method says how a principal authenticated.
type Method string

// Authentication methods.
const (
	// MethodOpen: no authentication is configured (development server);
	// the name is whatever the client claimed.
	MethodOpen Method = "OPEN"
	// MethodToken: a bootstrap key from BATON_API_TOKENS.
	MethodToken Method = "TOKEN"
	// MethodAPIKey: a key created with createApiKey.
	MethodAPIKey Method = "API_KEY"
	// MethodOIDC: an OpenID Connect bearer token.
	MethodOIDC Method = "OIDC"
	// MethodSystem: Baton itself (or Go code embedding the engine).
	MethodSystem Method = "SYSTEM"
	// MethodNone: not authenticated.
	MethodNone Method = "NONE"
)

// Principal is who calls. Its permissions are resolved from its roles by
// a Policy when it is made (Policy.Principal), so that a check is a map
// lookup.
type Principal struct {
	// Name is recorded on events and audit records: a key's name, a
	// token's subject.
	Name   string
	Method Method
	Roles  []string
	// Accounts limits what the principal sees and does to these
	// accounts' orders; empty is every account.
	Accounts []string
	// Queues are the work queues the principal is a member of (for
	// task:work).
	Queues []string
	// Expires is when the credential stops being valid (zero: never);
	// long-lived connections end then.
	Expires time.Time
	// KeyID is the API key's id (MethodAPIKey), checked again on
	// long-lived connections so that a revoked key ends them.
	KeyID int

	perms map[Permission]bool
	all   bool
}

// Open is the principal of a server without authentication: every
// permission, every account, named by the client (or "anonymous").
func Open(name string) *Principal {
	if name == "" {
		name = "anonymous"
	}
	return &Principal{Name: name, Method: MethodOpen, all: true}
}

// System is Baton acting on its own (timers, the runner) or Go code that
// embeds the engine and calls it without a principal.
var System = &Principal{Name: "system", Method: MethodSystem, all: true}

// Can reports whether the principal holds p.
func (p *Principal) Can(perm Permission) bool { return p.all || p.perms[perm] }

// Scoped reports whether the principal is limited to some accounts.
func (p *Principal) Scoped() bool { return len(p.Accounts) > 0 && !p.all }

// SeesAccount reports whether the principal may see an account's orders.
func (p *Principal) SeesAccount(account string) bool {
	return !p.Scoped() || slices.Contains(p.Accounts, account)
}

// WorksQueue reports whether the principal may work a manual task of the
// queue: with task:manage any queue, with task:work its own queues (an
// open server's principal: any).
func (p *Principal) WorksQueue(queue string) bool {
	if p.Can(TaskManage) || p.all {
		return true
	}
	return p.Can(TaskWork) && slices.Contains(p.Queues, queue)
}

// InQueue reports whether the principal is a member of the queue (an open
// server's principal is a member of every queue).
func (p *Principal) InQueue(queue string) bool {
	return p.all || slices.Contains(p.Queues, queue)
}

// HasRole reports whether the principal holds the role (an open server's
// principal holds every role).
func (p *Principal) HasRole(role string) bool {
	return p.all || slices.Contains(p.Roles, role)
}

// ScopeKey is the same string for principals that see the same things
// and may do the same things: their roles, accounts and queues (or that
// they hold everything, as an open server's principals do), not their
// names or credentials' expiry. Shared subscriptions group subscribers
// by it.
func (p *Principal) ScopeKey() string {
	if p.all {
		return "all"
	}
	return strings.Join(sortedCopy(p.Roles), "+") + "@" + strings.Join(sortedCopy(p.Accounts), "+") +
		"#" + strings.Join(sortedCopy(p.Queues), "+")
}

func sortedCopy(s []string) []string {
	c := slices.Clone(s)
	slices.Sort(c)
	return c
}

// Permitted lists the permissions the principal holds, in table order.
func (p *Principal) Permitted() []Permission {
	var out []Permission
	for _, perm := range Permissions {
		if p.Can(perm) {
			out = append(out, perm)
		}
	}
	return out
}

type principalKey struct{}

// With returns ctx carrying the principal.
func With(ctx context.Context, p *Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// From returns the context's principal; a context without one is System
// (Baton's own work, or Go code embedding the engine). The GraphQL layer
// always sets one.
func From(ctx context.Context) *Principal {
	if p, ok := ctx.Value(principalKey{}).(*Principal); ok && p != nil {
		return p
	}
	return System
}

// Require returns nil when the context's principal holds perm, else
// FORBIDDEN naming the permission.
func Require(ctx context.Context, perm Permission) error {
	p := From(ctx)
	if p.Can(perm) {
		return nil
	}
	return engine.Errorf(engine.CodeForbidden, "%s may not do this: it needs the %s permission", p.Name, perm)
}

// RequireAccount is Require for a use case on one account's order: an
// order outside the principal's accounts is NOT_FOUND, as if it did not
// exist, so that ids cannot be probed; what stands for "an order" is in
// what (e.g. "order 12").
func RequireAccount(ctx context.Context, perm Permission, account, what string) error {
	if !From(ctx).SeesAccount(account) {
		return engine.Errorf(engine.CodeNotFound, "%s not found", what)
	}
	return Require(ctx, perm)
}

// Nobody is the principal of a request that has not authenticated yet (a
// websocket before connection_init): no permission at all.
func Nobody() *Principal {
	return &Principal{Name: "unauthenticated", Method: MethodNone}
}
