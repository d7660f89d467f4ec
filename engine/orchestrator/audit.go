package orchestrator

import (
	"context"
	"errors"

	"github.com/batonhq/baton/engine"
	"github.com/batonhq/baton/engine/access"
)

// auditingStore is the engine's view of its store: a transaction run for
// a use case whose context carries an audit intent (the API layer's)
// appends the ALLOWED record of that action in the same transaction, so
// the record exists exactly when the effect does; and events emitted in
// it that name no actor are named after the context's principal.
type auditingStore struct{ engine.Store }

func (s auditingStore) Write(ctx context.Context, fn func(tx engine.Tx) error) ([]*engine.Event, error) {
	intent := engine.AuditIntentFrom(ctx)
	p := access.From(ctx)
	if p.Method == access.MethodSystem && intent == nil {
		return s.Store.Write(ctx, fn)
	}
	record := intent != nil && !intent.Recorded()
	events, err := s.Store.Write(ctx, func(tx engine.Tx) error {
		atx := actorTx{Tx: tx, actor: ActorFrom(ctx), order: new(int)}
		if err := fn(atx); err != nil {
			return err
		}
		if !record {
			return nil
		}
		r := auditRecord(p, intent, engine.AuditAllowed, "")
		if r.OrderID == 0 && *atx.order > 0 {
			r.OrderID = *atx.order // the order the action created (submitOrder)
		}
		return tx.InsertAudit(ctx, r)
	})
	if err == nil && record {
		intent.MarkRecorded()
	}
	return events, err
}

// actorTx names the actor on the events of a principal's transaction,
// and notes the one order they are about (-1 when several).
type actorTx struct {
	engine.Tx
	actor string
	order *int
}

func (t actorTx) Emit(events ...*engine.Event) {
	for _, e := range events {
		if e.Actor == "" {
			e.Actor = t.actor
		}
		switch {
		case e.OrderID == 0 || *t.order == e.OrderID || *t.order < 0:
		case *t.order == 0:
			*t.order = e.OrderID
		default:
			*t.order = -1
		}
	}
	t.Tx.Emit(events...)
}

func auditRecord(p *access.Principal, a *engine.AuditIntent, outcome engine.AuditOutcome, code engine.Code) *engine.AuditRecord {
	return &engine.AuditRecord{Actor: p.Name, Method: string(p.Method), Roles: p.Roles, Action: a.Action, OrderID: a.OrderID,
		Target: a.Target, InputDigest: a.InputDigest, Outcome: outcome, Code: code, RequestID: a.RequestID, ClientAddr: a.ClientAddr}
}

// RecordAudit appends the record of an action whose use case recorded
// none in its own transaction: a denial, a failure (err's code says
// which), or an allowed action that wrote nothing (an idempotent repeat, a
// preview). It does nothing when the intent was recorded already.
// Errors: INTERNAL when the record could not be written.
func (e *Engine) RecordAudit(ctx context.Context, intent *engine.AuditIntent, err error) error {
	if intent == nil || intent.Recorded() {
		return nil
	}
	outcome, code := engine.AuditAllowed, engine.Code("")
	if err != nil {
		code = engine.CodeInternal
		var ee *engine.Error
		if errors.As(err, &ee) {
			code = ee.Code
		}
		outcome = engine.AuditFailed
		if code == engine.CodeForbidden || code == engine.CodeUnauthenticated {
			outcome = engine.AuditDenied
		}
	}
	rec := auditRecord(access.From(ctx), intent, outcome, code)
	// Its own transaction, which nothing the action did can roll back; the
	// caller's cancellation (a client gone) must not lose it either.
	ctx = context.WithoutCancel(ctx)
	_, werr := e.store.Store.Write(ctx, func(tx engine.Tx) error { return tx.InsertAudit(ctx, rec) })
	if werr == nil {
		intent.MarkRecorded()
	}
	return werr
}

// AuditRecords reads the audit log, newest first. Errors: FORBIDDEN
// without audit:read.
func (e *Engine) AuditRecords(ctx context.Context, q engine.AuditQuery) ([]*engine.AuditRecord, error) {
	if err := access.Require(ctx, access.AuditRead); err != nil {
		return nil, err
	}
	return e.store.AuditRecords(ctx, q)
}
