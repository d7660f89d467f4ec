package graph

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/batonhq/baton/engine"
)

// AuditExport serves the audit log as JSON lines, newest first: one
// object per record, streamed page by page so that a large log costs the
// server one page of memory. Query parameters filter as auditLog's where
// does: actor, action, orderId, outcome, from and to (RFC 3339). It
// authenticates like /graphql and needs audit:read (403 FORBIDDEN
// otherwise, in GraphQL's error shape).
func AuditExport(cfg Config) http.Handler {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return withPrincipal(cfg, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q, err := auditQuery(r)
		if err != nil {
			writeHTTPError(w, http.StatusBadRequest, codes[engine.CodeBadUserInput], err.Error())
			return
		}
		q.Limit = 1000
		page, err := cfg.Engine.AuditRecords(r.Context(), q)
		var ee *engine.Error
		if errors.As(err, &ee) && ee.Code == engine.CodeForbidden {
			writeHTTPError(w, http.StatusForbidden, codes[engine.CodeForbidden], ee.Message)
			return
		}
		if err != nil {
			cfg.Logger.Error("audit export", "err", err)
			writeHTTPError(w, http.StatusInternalServerError, codes[engine.CodeInternal], "the audit log could not be read")
			return
		}
		w.Header().Set("Content-Type", "application/x-ndjson")
		enc := json.NewEncoder(w)
		for len(page) > 0 {
			for _, rec := range page {
				if err := enc.Encode(auditLine(rec)); err != nil {
					return // the client went away
				}
			}
			if len(page) < q.Limit {
				return
			}
			q.Before = page[len(page)-1].ID
			if page, err = cfg.Engine.AuditRecords(r.Context(), q); err != nil {
				cfg.Logger.Error("audit export", "err", err)
				return
			}
		}
	}))
}

func auditQuery(r *http.Request) (engine.AuditQuery, error) {
	v := r.URL.Query()
	q := engine.AuditQuery{Actor: v.Get("actor"), Action: v.Get("action"), Outcome: engine.AuditOutcome(v.Get("outcome"))}
	if s := v.Get("orderId"); s != "" {
		id, err := strconv.Atoi(s)
		if err != nil {
			return q, errors.New("orderId: not an id")
		}
		q.OrderID = id
	}
	switch q.Outcome {
	case "", engine.AuditAllowed, engine.AuditDenied, engine.AuditFailed:
	default:
		return q, errors.New("outcome: ALLOWED, DENIED or FAILED")
	}
	for _, t := range []struct {
		name string
		out  *time.Time
	}{{"from", &q.From}, {"to", &q.To}} {
		if s := v.Get(t.name); s != "" {
			at, err := time.Parse(time.RFC3339, s)
			if err != nil {
				return q, errors.New(t.name + ": an RFC 3339 time, e.g. 2026-12-01T00:00:00Z")
			}
			*t.out = at
		}
	}
	return q, nil
}

// auditLine is a record as the export writes it (the field names of
// auditLog's AuditRecord).
func auditLine(r *engine.AuditRecord) map[string]any {
	m := map[string]any{"id": r.ID, "at": r.At, "actor": r.Actor, "method": r.Method, "roles": nonNilStrings(r.Roles),
		"action": r.Action, "outcome": r.Outcome}
	for k, v := range map[string]string{"target": r.Target, "inputDigest": r.InputDigest, "code": string(r.Code),
		"requestId": r.RequestID, "clientAddr": r.ClientAddr} {
		if v != "" {
			m[k] = v
		}
	}
	if r.OrderID != 0 {
		m["orderId"] = r.OrderID
	}
	return m
}
