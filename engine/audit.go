package engine

import (
	"context"
	"sync/atomic"
	"time"
)

// AuditOutcome is how a recorded action ended.
type AuditOutcome string

// Audit outcomes.
const (
	// AuditAllowed: the action was allowed and did what it does (its record
	// is in the transaction of its effect).
	AuditAllowed AuditOutcome = "ALLOWED"
	// AuditDenied: refused for want of authentication or permission.
	AuditDenied AuditOutcome = "DENIED"
	// AuditFailed: allowed, but it failed (bad input, wrong state, …);
	// nothing changed.
	AuditFailed AuditOutcome = "FAILED"
)

// AuditRecord is one entry of the append-only audit log.
type AuditRecord struct {
	ID          int
	At          time.Time
	Actor       string
	Method      string // how the actor authenticated (access.Method)
	Roles       []string
	Action      string // the GraphQL field, e.g. importCatalog; "authenticate" for a failed authentication
	OrderID     int    // 0 when the action is on no order
	Target      string // the ids acted on, e.g. "stepId=12"
	InputDigest string // SHA-256 of the input, hex
	Outcome     AuditOutcome
	Code        Code // the error code when not ALLOWED
	RequestID   string
	ClientAddr  string
}

// AuditIntent is what the caller of a use case knows about the action
// (the API layer: the field, its input, the request). A use case that
// writes records it in its own transaction; Recorded then reports true
// and the caller records nothing more. Safe for concurrent use.
type AuditIntent struct {
	Action      string
	OrderID     int
	Target      string
	InputDigest string
	RequestID   string
	ClientAddr  string

	recorded atomic.Bool
}

// MarkRecorded notes that the intent's record was committed.
func (a *AuditIntent) MarkRecorded() { a.recorded.Store(true) }

// Recorded reports whether the intent's record was committed.
func (a *AuditIntent) Recorded() bool { return a.recorded.Load() }

type auditKey struct{}

// WithAuditIntent returns ctx carrying the intent of the action under way.
func WithAuditIntent(ctx context.Context, a *AuditIntent) context.Context {
	return context.WithValue(ctx, auditKey{}, a)
}

// AuditIntentFrom returns the context's intent, or nil.
func AuditIntentFrom(ctx context.Context) *AuditIntent {
	a, _ := ctx.Value(auditKey{}).(*AuditIntent)
	return a
}

// AuditQuery selects audit records (zero fields: no condition), newest
// first, after the cursor After (an id; 0: from the newest).
type AuditQuery struct {
	Actor, Action string
	OrderID       int
	Outcome       AuditOutcome
	From, To      time.Time
	Before        int
	Limit         int
}
