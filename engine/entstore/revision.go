package entstore

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/batonhq/baton/engine"
)

// LockPlanSteps implements engine.Tx.
func (t *txn) LockPlanSteps(ctx context.Context, planID int) ([]*engine.StepRecord, error) {
	rows, err := t.query(ctx, `SELECT `+stepColumns+` FROM steps s JOIN plans p ON p.id = s.plan_id
		WHERE s.plan_id = $1 ORDER BY s.id{forupdate s}`, planID)
	if err != nil {
		return nil, fmt.Errorf("lock plan steps: %w", err)
	}
	return scanSteps(rows)
}

// PlanDependencies implements engine.Tx.
func (t *txn) PlanDependencies(ctx context.Context, planID int) ([][2]int, error) {
	rows, err := t.query(ctx, `SELECT d.step_id, d.prerequisite_id FROM step_dependencies d
		JOIN steps s ON s.id = d.step_id JOIN steps q ON q.id = d.prerequisite_id
		WHERE s.plan_id = $1 AND q.plan_id = $1 ORDER BY d.step_id, d.prerequisite_id`, planID)
	if err != nil {
		return nil, fmt.Errorf("plan dependencies: %w", err)
	}
	defer rows.Close()
	var out [][2]int
	for rows.Next() {
		var p [2]int
		if err := rows.Scan(&p[0], &p[1]); err != nil {
			return nil, fmt.Errorf("scan dependency: %w", err)
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

const revisionColumns = `id, order_id, number, kind, status, actor, reason, input, diff, requested_at, applied_at`

func scanRevision(row interface{ Scan(...any) error }) (*engine.Revision, error) {
	var r engine.Revision
	var kind, status string
	var input, diff []byte
	var req, applied timeScan
	if err := row.Scan(&r.ID, &r.OrderID, &r.Number, &kind, &status, strScan{&r.Actor}, strScan{&r.Reason}, &input, &diff, &req, &applied); err != nil {
		return nil, err
	}
	r.Kind, r.Status, r.RequestedAt, r.AppliedAt = engine.RevisionKind(kind), engine.RevisionStatus(status), req.t, applied.ptr()
	if len(input) > 0 && string(input) != "null" {
		r.Input = &engine.AmendInput{}
		if err := json.Unmarshal(input, r.Input); err != nil {
			return nil, fmt.Errorf("decode revision %d input: %w", r.ID, err)
		}
	}
	r.Diff = &engine.Diff{}
	if len(diff) > 0 && string(diff) != "null" {
		if err := json.Unmarshal(diff, r.Diff); err != nil {
			return nil, fmt.Errorf("decode revision %d diff: %w", r.ID, err)
		}
	}
	return &r, nil
}

// asJSONMap turns a value into the map a JSON column stores.
func asJSONMap(v any) (map[string]any, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	return m, nil
}

// InsertRevision implements engine.Tx.
func (t *txn) InsertRevision(ctx context.Context, r *engine.Revision) error {
	var input map[string]any
	if r.Input != nil {
		var err error
		if input, err = asJSONMap(r.Input); err != nil {
			return fmt.Errorf("encode revision input: %w", err)
		}
	}
	diff, err := asJSONMap(r.Diff)
	if err != nil {
		return fmt.Errorf("encode revision diff: %w", err)
	}
	ids, err := t.insertReturningIDs(ctx, "order_revisions", []string{"order_id", "number", "kind", "status", "actor", "reason",
		"input", "diff", "requested_at", "applied_at"},
		[][]any{{r.OrderID, r.Number, string(r.Kind), string(r.Status), nullStr(r.Actor), nullStr(r.Reason), jsonValue(input),
			jsonValue(diff), r.RequestedAt, r.AppliedAt}})
	if err != nil {
		return fmt.Errorf("insert revision: %w", err)
	}
	r.ID = int(ids[0])
	if _, err := t.exec(ctx, `UPDATE orders SET revision = $1, updated_at = $2 WHERE id = $3`, r.Number, t.now, r.OrderID); err != nil {
		return fmt.Errorf("set order revision: %w", err)
	}
	return nil
}

// SaveRevision implements engine.Tx.
func (t *txn) SaveRevision(ctx context.Context, r *engine.Revision) error {
	diff, err := asJSONMap(r.Diff)
	if err != nil {
		return fmt.Errorf("encode revision diff: %w", err)
	}
	if _, err := t.exec(ctx, `UPDATE order_revisions SET status = $1, diff = {json $2}, applied_at = $3 WHERE id = $4`,
		string(r.Status), jsonValue(diff), r.AppliedAt, r.ID); err != nil {
		return fmt.Errorf("save revision: %w", err)
	}
	return nil
}

// PendingRevision implements engine.Tx.
func (t *txn) PendingRevision(ctx context.Context, orderID int) (*engine.Revision, error) {
	rows, err := t.query(ctx, `SELECT `+revisionColumns+` FROM order_revisions WHERE order_id = $1 AND status = 'FREEZING'
		ORDER BY number DESC LIMIT 1`, orderID)
	if err != nil {
		return nil, fmt.Errorf("pending revision: %w", err)
	}
	defer rows.Close()
	if !rows.Next() {
		return nil, rows.Err()
	}
	r, err := scanRevision(rows)
	if err != nil {
		return nil, fmt.Errorf("scan revision: %w", err)
	}
	return r, nil
}

// ReviseLines implements engine.Tx.
func (t *txn) ReviseLines(ctx context.Context, orderID, rev int, lines []*engine.DecomposedLine, removed []string) (map[string]int, error) {
	ids := map[string]int{}
	rows, err := t.query(ctx, `SELECT id, line_id FROM order_lines WHERE order_id = $1`, orderID)
	if err != nil {
		return nil, fmt.Errorf("read line ids: %w", err)
	}
	for rows.Next() {
		var id int
		var lid string
		if err := rows.Scan(&id, &lid); err != nil {
			rows.Close()
			return nil, fmt.Errorf("scan line id: %w", err)
		}
		ids[lid] = id
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	var fresh []*engine.DecomposedLine
	for _, l := range lines {
		if _, ok := ids[l.ID]; !ok {
			fresh = append(fresh, l)
		}
	}
	if len(fresh) > 0 {
		alloc, err := t.allocIDs(ctx, map[string]int{"order_lines": len(fresh)})
		if err != nil {
			return nil, err
		}
		for i, l := range fresh {
			ids[l.ID] = alloc["order_lines"][i]
		}
		insert := make([][]any, len(fresh))
		for i, l := range fresh {
			insert[i] = []any{ids[l.ID], orderID, l.ID, l.ProductCode, l.Quantity, jsonValue(l.Attributes), parentRef(ids, l),
				nullStr(l.ParentID), string(l.Action), nullInt(l.AssetID), string(l.Status), jsonStrings(l.Missing), l.Position,
				l.Generated, rev}
		}
		if err := t.bulkInsert(ctx, "order_lines", []string{"id", "order_id", "line_id", "product_code", "quantity", "attributes",
			"parent_ref", "parent_line_id", "action", "asset_id", "status", "missing", "position", "generated", "revision"}, insert); err != nil {
			return nil, fmt.Errorf("insert lines: %w", err)
		}
	}
	isFresh := map[string]bool{}
	for _, l := range fresh {
		isFresh[l.ID] = true
	}
	for _, l := range lines {
		if isFresh[l.ID] {
			continue
		}
		revised := 0
		if l.Revised {
			revised = rev
		}
		if _, err := t.exec(ctx, `UPDATE order_lines SET product_code = $1, quantity = $2, attributes = {json $3}, parent_ref = $4,
			parent_line_id = $5, action = $6, asset_id = $7, status = $8, missing = $9, position = $10, generated = $11,
			revision = CASE WHEN $12 > 0 THEN $12 ELSE revision END WHERE id = $13`,
			l.ProductCode, l.Quantity, jsonValue(l.Attributes), parentRef(ids, l), nullStr(l.ParentID), string(l.Action),
			nullInt(l.AssetID), string(l.Status), jsonStrings(l.Missing), l.Position, l.Generated, revised, ids[l.ID]); err != nil {
			return nil, fmt.Errorf("revise line %s: %w", l.ID, err)
		}
	}
	for _, id := range removed {
		if _, err := t.exec(ctx, `UPDATE order_lines SET status = 'REMOVED', missing = NULL, revision = $1 WHERE id = $2`, rev, ids[id]); err != nil {
			return nil, fmt.Errorf("remove line %s: %w", id, err)
		}
	}
	return ids, nil
}

func parentRef(ids map[string]int, l *engine.DecomposedLine) any {
	if l.ParentID == "" {
		return nil
	}
	return ids[l.ParentID]
}

// RemoveItems implements engine.Tx.
func (t *txn) RemoveItems(ctx context.Context, ids []int, rev int) error {
	if len(ids) == 0 {
		return nil
	}
	if _, err := t.exec(ctx, `UPDATE fulfillment_lines SET removed_in = $1 WHERE id {ids $2}`, rev, t.s.d.ids(sortedIDs(ids))); err != nil {
		return fmt.Errorf("remove items: %w", err)
	}
	return nil
}

// SetPlanStatus implements engine.Tx.
func (t *txn) SetPlanStatus(ctx context.Context, planID int, plan engine.PlanStatus, order engine.OrderStatus) error {
	var done any
	if plan == engine.PlanCancelled {
		done = t.now
	}
	if _, err := t.exec(ctx, `UPDATE plans SET status = $1, completed_at = COALESCE($2, completed_at) WHERE id = $3`,
		string(plan), done, planID); err != nil {
		return fmt.Errorf("set plan status: %w", err)
	}
	if order == "" {
		return nil
	}
	if order != engine.OrderCancelled {
		done = nil
	}
	if _, err := t.exec(ctx, `UPDATE orders SET status = $1, completed_at = COALESCE($2, completed_at), updated_at = $3
		WHERE id = (SELECT order_id FROM plans WHERE id = $4)`, string(order), done, t.now, planID); err != nil {
		return fmt.Errorf("set order status: %w", err)
	}
	return nil
}

// CrossPlanSteps implements engine.Tx.
func (t *txn) CrossPlanSteps(ctx context.Context, key string, names []string) (map[string][]*engine.ExistingStep, error) {
	out := map[string][]*engine.ExistingStep{}
	if key == "" || len(names) == 0 {
		return out, nil
	}
	rows, err := t.query(ctx, `SELECT s.id, s.name, s.status FROM steps s JOIN plans p ON p.id = s.plan_id
		WHERE p.group_key = $1 AND s.name {strs $2} AND s.status NOT IN ('COMPLETED', 'SKIPPED', 'CANCELLED') ORDER BY s.id`,
		key, t.s.d.strs(names))
	if err != nil {
		return nil, fmt.Errorf("cross-plan steps: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var s engine.ExistingStep
		var st string
		if err := rows.Scan(&s.ID, &s.Name, &st); err != nil {
			return nil, fmt.Errorf("scan cross-plan step: %w", err)
		}
		s.Status = engine.StepStatus(st)
		out[s.Name] = append(out[s.Name], &s)
	}
	return out, rows.Err()
}

// FreezePlan implements engine.Tx.
func (t *txn) FreezePlan(ctx context.Context, planID int, frozen bool) error {
	q := `UPDATE steps SET frozen = $1 WHERE plan_id = $2 AND frozen`
	if frozen {
		q = `UPDATE steps SET frozen = $1 WHERE plan_id = $2 AND status NOT IN ('COMPLETED', 'SKIPPED', 'CANCELLED')`
	}
	if _, err := t.exec(ctx, q, frozen, planID); err != nil {
		return fmt.Errorf("freeze plan: %w", err)
	}
	return nil
}

// Revisions implements engine.Store.
func (s *Store) Revisions(ctx context.Context, orderIDs []int) (map[int][]*engine.Revision, error) {
	out := map[int][]*engine.Revision{}
	if len(orderIDs) == 0 {
		return out, nil
	}
	rows, err := s.query(ctx, `SELECT `+revisionColumns+` FROM order_revisions WHERE order_id {ids $1} ORDER BY order_id, number`,
		s.d.ids(sortedIDs(orderIDs)))
	if err != nil {
		return nil, fmt.Errorf("read revisions: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		r, err := scanRevision(rows)
		if err != nil {
			return nil, fmt.Errorf("scan revision: %w", err)
		}
		out[r.OrderID] = append(out[r.OrderID], r)
	}
	return out, rows.Err()
}
