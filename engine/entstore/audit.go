package entstore

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/batonhq/baton/engine"
)

var auditColumns = []string{"at", "actor", "method", "roles", "action", "order_id", "target", "input_digest",
	"outcome", "code", "request_id", "client_addr"}

// InsertAudit implements engine.Tx.
func (t *txn) InsertAudit(ctx context.Context, r *engine.AuditRecord) error {
	if r.At.IsZero() {
		r.At = t.now
	}
	roles := r.Roles
	if roles == nil {
		roles = []string{}
	}
	// Written with the transaction's events, in one statement for all
	// the writes of a group that keep theirs (flushAudits).
	t.audits = append(t.audits, []any{r.At, r.Actor, r.Method, jsonStrings(roles), r.Action, nullInt(r.OrderID), nullStr(r.Target),
		nullStr(r.InputDigest), string(r.Outcome), nullStr(string(r.Code)), nullStr(r.RequestID), nullStr(r.ClientAddr)})
	return nil
}

// flushAudits writes the audit records the transaction's writes kept.
func (t *txn) flushAudits(ctx context.Context) error {
	if len(t.audits) == 0 {
		return nil
	}
	if err := t.bulkInsert(ctx, "audit_records", auditColumns, t.audits); err != nil {
		return fmt.Errorf("insert audit records: %w", err)
	}
	return nil
}

// AuditRecords implements engine.Store.
func (s *Store) AuditRecords(ctx context.Context, q engine.AuditQuery) ([]*engine.AuditRecord, error) {
	var where []string
	var args []any
	arg := func(cond string, v any) {
		args = append(args, v)
		where = append(where, fmt.Sprintf(cond, len(args)))
	}
	if q.Actor != "" {
		arg("actor = $%d", q.Actor)
	}
	if q.Action != "" {
		arg("action = $%d", q.Action)
	}
	if q.OrderID != 0 {
		arg("order_id = $%d", q.OrderID)
	}
	if q.Outcome != "" {
		arg("outcome = $%d", string(q.Outcome))
	}
	if !q.From.IsZero() {
		arg("at >= $%d", q.From)
	}
	if !q.To.IsZero() {
		arg("at < $%d", q.To)
	}
	if q.Before > 0 {
		arg("id < $%d", q.Before)
	}
	sqlq := `SELECT id, ` + strings.Join(auditColumns, ", ") + ` FROM audit_records`
	if len(where) > 0 {
		sqlq += " WHERE " + strings.Join(where, " AND ")
	}
	limit := q.Limit
	if limit <= 0 || limit > 10_000 {
		limit = 10_000
	}
	args = append(args, limit)
	sqlq += fmt.Sprintf(" ORDER BY id DESC LIMIT $%d", len(args))
	rows, err := s.query(ctx, sqlq, args...)
	if err != nil {
		return nil, fmt.Errorf("audit records: %w", err)
	}
	defer rows.Close()
	var out []*engine.AuditRecord
	for rows.Next() {
		var r engine.AuditRecord
		var at timeScan
		var roles []byte
		var outcome, code string
		if err := rows.Scan(&r.ID, &at, &r.Actor, &r.Method, &roles, &r.Action, intScan{&r.OrderID}, strScan{&r.Target},
			strScan{&r.InputDigest}, &outcome, strScan{&code}, strScan{&r.RequestID}, strScan{&r.ClientAddr}); err != nil {
			return nil, fmt.Errorf("scan audit record: %w", err)
		}
		r.At, r.Outcome, r.Code = at.t, engine.AuditOutcome(outcome), engine.Code(code)
		if len(roles) > 0 {
			if err := json.Unmarshal(roles, &r.Roles); err != nil {
				return nil, fmt.Errorf("decode audit record %d roles: %w", r.ID, err)
			}
		}
		out = append(out, &r)
	}
	return out, rows.Err()
}
