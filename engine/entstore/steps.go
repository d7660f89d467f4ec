package entstore

import (
	"context"
	"database/sql"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/batonhq/baton/engine"
)

// stepColumns is what the engine reads of a step; the plan's catalog
// version comes along (steps are read joined to their plan as p).
const stepColumns = `s.id, s.plan_id, s.group_id, s.order_id, s.fulfillment_line_id, s.account_ref, p.catalog_version_id,
	s.name, s.scenario, s.type, s.scope, s.instance_key, s.bundle_key, s.status, s.jeopardy, s.queue, s.assignee, s.system,
	s.pending, s.attempt_count, s.attempt_base, s.output, s.error, s.note, s.ready_at, s.started_at, s.completed_at, s.due_at,
	s.jeopardy_at, s.wake_at, s.lease_owner, s.lease_until, s.updated_at, s.frozen, s.compensates`

func scanSteps(rows *sql.Rows) ([]*engine.StepRecord, error) {
	return scanStepsAnd(rows, nil)
}

// scanStepsAnd scans stepColumns and then the columns extra points at.
func scanStepsAnd(rows *sql.Rows, extra func(r *engine.StepRecord) []any) ([]*engine.StepRecord, error) {
	defer rows.Close()
	var out []*engine.StepRecord
	for rows.Next() {
		var r engine.StepRecord
		var typ, scope, status, jeopardy string
		var ready, started, completed, due, jat, wake, lease, updated timeScan
		dest := []any{&r.ID, &r.PlanID, &r.GroupID, intScan{&r.OrderID}, intScan{&r.ItemID}, intScan{&r.AccountRef}, &r.CatalogID,
			&r.Name, &r.Scenario, &typ, &scope, &r.InstanceKey, strScan{&r.BundleKey}, &status, &jeopardy, strScan{&r.Queue},
			strScan{&r.Assignee}, strScan{&r.System}, &r.Pending, &r.Attempts, &r.AttemptBase, jsonScan{&r.Output}, strScan{&r.Error}, strScan{&r.Note},
			&ready, &started, &completed, &due, &jat, &wake, strScan{&r.LeaseOwner}, &lease, &updated, &r.Frozen, intScan{&r.Compensates}}
		if extra != nil {
			dest = append(dest, extra(&r)...)
		}
		if err := rows.Scan(dest...); err != nil {
			return nil, fmt.Errorf("scan step: %w", err)
		}
		r.Type, r.Scope, r.Status, r.Jeopardy = engine.StepType(typ), engine.Scope(scope), engine.StepStatus(status), engine.Jeopardy(jeopardy)
		r.ReadyAt, r.StartedAt, r.CompletedAt, r.DueAt = ready.ptr(), started.ptr(), completed.ptr(), due.ptr()
		r.JeopardyAt, r.WakeAt, r.LeaseUntil, r.UpdatedAt = jat.ptr(), wake.ptr(), lease.ptr(), updated.t
		out = append(out, &r)
	}
	return out, rows.Err()
}

func sortedIDs(ids []int) []int {
	out := append([]int(nil), ids...)
	sort.Ints(out)
	// dedupe
	w := 0
	for i, id := range out {
		if i == 0 || id != out[i-1] {
			out[w] = id
			w++
		}
	}
	return out[:w]
}

// LockSteps implements engine.Tx.
func (t *txn) LockSteps(ctx context.Context, ids []int) ([]*engine.StepRecord, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	rows, err := t.query(ctx, `SELECT `+stepColumns+` FROM steps s JOIN plans p ON p.id = s.plan_id
		WHERE s.id {ids $1} ORDER BY s.id{forupdate s}`, t.s.d.ids(sortedIDs(ids)))
	if err != nil {
		return nil, fmt.Errorf("lock steps: %w", err)
	}
	return scanSteps(rows)
}

// stepSaveColumns are the columns SaveSteps writes.
var stepSaveColumns = []string{"status", "jeopardy", "queue", "assignee", "attempt_count", "attempt_base", "output", "error", "note",
	"ready_at", "started_at", "completed_at", "due_at", "jeopardy_at", "wake_at", "lease_owner", "lease_until", "updated_at"}

func stepSaveRow(r *engine.StepRecord) []any {
	return []any{string(r.Status), string(r.Jeopardy), nullStr(r.Queue), nullStr(r.Assignee), r.Attempts, r.AttemptBase, jsonValue(r.Output),
		nullStr(r.Error), nullStr(r.Note), r.ReadyAt, r.StartedAt, r.CompletedAt, r.DueAt, r.JeopardyAt, r.WakeAt,
		nullStr(r.LeaseOwner), r.LeaseUntil, r.UpdatedAt}
}

// SaveSteps implements engine.Tx: one UPDATE of all the steps.
func (t *txn) SaveSteps(ctx context.Context, steps []*engine.StepRecord) error {
	if len(steps) == 0 {
		return nil
	}
	sort.Slice(steps, func(i, j int) bool { return steps[i].ID < steps[j].ID })
	if !t.s.d.postgres {
		return t.sqliteSaveSteps(ctx, steps)
	}
	// One UPDATE joined to the unnested arrays of the new values.
	rows := make([][]any, len(steps))
	for i, r := range steps {
		rows[i] = append([]any{int64(r.ID), int64(r.Released)}, stepSaveRow(r)...)
	}
	// The counted-off prerequisites travel typed as pending, named released.
	cols := append([]string{"id", "pending"}, stepSaveColumns...)
	alias := append([]string{"id", "released"}, stepSaveColumns...)
	u, args, err := t.s.unnest("steps", cols, rows, 1)
	if err != nil {
		return fmt.Errorf("save steps: %w", err)
	}
	set := make([]string, len(stepSaveColumns))
	for i, c := range stepSaveColumns {
		set[i] = c + " = v." + c
	}
	q := "UPDATE steps SET pending = steps.pending - v.released, " + strings.Join(set, ", ") + " FROM " + u + " AS v(" + strings.Join(alias, ", ") + ") WHERE steps.id = v.id"
	res, err := t.tx.ExecContext(ctx, q, args...)
	if err != nil {
		return fmt.Errorf("save steps: %w", err)
	}
	if n, err := res.RowsAffected(); err == nil && int(n) != len(steps) {
		return fmt.Errorf("save steps: %d of %d rows updated", n, len(steps))
	}
	return nil
}

// sqliteSaveSteps updates steps one prepared statement execution each: on
// SQLite that is cheap (in-process, by primary key), where a VALUES list
// joined to steps is planned as a scan.
func (t *txn) sqliteSaveSteps(ctx context.Context, steps []*engine.StepRecord) error {
	if len(steps) == 1 {
		_, err := t.tx.ExecContext(ctx, sqliteSaveStep, sqliteSaveArgs(steps[0])...)
		return err
	}
	stmt, done, err := t.tx.prepare(ctx, sqliteSaveStep)
	if err != nil {
		return fmt.Errorf("save steps: %w", err)
	}
	defer done()
	ctx = context.WithoutCancel(ctx) // see cachedTx
	for _, r := range steps {
		if _, err := stmt.ExecContext(ctx, sqliteSaveArgs(r)...); err != nil {
			return fmt.Errorf("save step %d: %w", r.ID, err)
		}
	}
	return nil
}

// sqliteSaveStep is UPDATE steps SET pending = pending - ?, <every saved
// column> WHERE id = ?.
var sqliteSaveStep = func() string {
	var b strings.Builder
	b.WriteString("UPDATE steps SET pending = pending - ?")
	for _, c := range stepSaveColumns {
		fmt.Fprintf(&b, ", %s = ?", c)
	}
	b.WriteString(" WHERE id = ?")
	return b.String()
}()

func sqliteSaveArgs(r *engine.StepRecord) []any {
	return append(append([]any{int64(r.Released)}, stepSaveRow(r)...), int64(r.ID))
}

// ReleaseDependents implements engine.Tx: it reads and locks, and
// SaveSteps writes the new counts with the rest of each dependent's
// change (a dependent made READY is one row version, not two).
func (t *txn) ReleaseDependents(ctx context.Context, done []int) ([]*engine.StepRecord, error) {
	if len(done) == 0 {
		return nil, nil
	}
	// Lock the dependents in id order (so that two transactions releasing
	// overlapping dependents queue instead of deadlocking). Every join is
	// driven by the (small) set of dependents and probes a primary key,
	// so it stays linear for a 50,000-step plan.
	rows, err := t.query(ctx, `WITH c AS (
			SELECT step_id, count(*) AS n FROM step_dependencies WHERE prerequisite_id {ids $1} GROUP BY step_id)
		SELECT `+stepColumns+`, c.n FROM c JOIN steps s ON s.id = c.step_id JOIN plans p ON p.id = s.plan_id
		ORDER BY s.id{forupdate s}`, t.s.d.ids(sortedIDs(done)))
	if err != nil {
		return nil, fmt.Errorf("release dependents: %w", err)
	}
	deps, err := scanStepsAnd(rows, func(r *engine.StepRecord) []any { return []any{&r.Released} })
	if err != nil {
		return nil, fmt.Errorf("release dependents: %w", err)
	}
	for _, r := range deps {
		r.Pending -= r.Released
	}
	return deps, nil
}

// ClaimReady implements engine.Tx.
func (t *txn) ClaimReady(ctx context.Context, types []engine.StepType, limit int) ([]*engine.StepRecord, error) {
	ts := make([]string, len(types))
	for i, ty := range types {
		ts[i] = string(ty)
	}
	rows, err := t.query(ctx, `SELECT `+stepColumns+` FROM steps s JOIN plans p ON p.id = s.plan_id
		WHERE s.status = 'READY' AND NOT s.frozen AND s.type {strs $1} ORDER BY s.ready_at, s.id LIMIT $2{skiplocked s}`, t.s.d.strs(ts), limit)
	if err != nil {
		return nil, fmt.Errorf("claim ready: %w", err)
	}
	return scanSteps(rows)
}

// DueSteps implements engine.Tx.
func (t *txn) DueSteps(ctx context.Context, now time.Time, limit int) ([]*engine.StepRecord, error) {
	return t.timerDue(ctx, "wake_at", "", now, limit)
}

// ExpiredLeases implements engine.Tx.
func (t *txn) ExpiredLeases(ctx context.Context, now time.Time, limit int) ([]*engine.StepRecord, error) {
	return t.timerDue(ctx, "lease_until", " AND s.status = 'RUNNING'", now, limit)
}

// JeopardyDue implements engine.Tx.
func (t *txn) JeopardyDue(ctx context.Context, now time.Time, limit int) ([]*engine.StepRecord, error) {
	return t.timerDue(ctx, "jeopardy_at", "", now, limit)
}

// timerDue returns up to limit steps whose timer column is due at now
// (and that meet and), earliest first, locked and skipping those others
// hold. Each timer column has an index that this order follows.
func (t *txn) timerDue(ctx context.Context, column, and string, now time.Time, limit int) ([]*engine.StepRecord, error) {
	rows, err := t.query(ctx, `SELECT `+stepColumns+` FROM steps s JOIN plans p ON p.id = s.plan_id
		WHERE s.`+column+` IS NOT NULL AND s.`+column+` <= $1`+and+` ORDER BY s.`+column+`, s.id LIMIT $2{skiplocked s}`, now, limit)
	if err != nil {
		return nil, fmt.Errorf("steps due by %s: %w", column, err)
	}
	return scanSteps(rows)
}

const contextQuery = `SELECT s.id, o.id, o.external_id, o.account_id, o.attributes, o.requested_completion,
	fl.id, fl.key, fl.product_code, fl.quantity, fl.attributes, fl.rule, fl.bundle_key,
	p.type, p.subject_id, p.context, a.attributes, p.trace_parent,
	bl.line_id, bl.product_code, bl.quantity, bl.attributes, bl.action
	FROM steps s JOIN plans p ON p.id = s.plan_id
	LEFT JOIN orders o ON o.id = p.order_id
	LEFT JOIN fulfillment_lines fl ON fl.id = s.fulfillment_line_id
	LEFT JOIN accounts a ON a.id = o.account_ref
	LEFT JOIN order_lines bl ON bl.order_id = p.order_id AND bl.line_id = s.bundle_key
	WHERE s.id {ids $1}`

func stepContexts(ctx context.Context, db querier, d *sqlDialect, ids []int) (map[int]*engine.ExecContext, error) {
	out := map[int]*engine.ExecContext{}
	if len(ids) == 0 {
		return out, nil
	}
	rows, err := db.QueryContext(ctx, d.sql(contextQuery), d.ids(sortedIDs(ids)))
	if err != nil {
		return nil, fmt.Errorf("step contexts: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id, orderID, itemID, itemQty, bundleQty int
		var extID, acctID, itemKey, itemProduct, itemRule, itemBundle, typ, subject, bundleLine, bundleProduct, bundleAction, traceParent string
		var orderAttrs, itemAttrs, planCtx, acctAttrs, bundleAttrs map[string]any
		var rc timeScan
		if err := rows.Scan(&id, intScan{&orderID}, strScan{&extID}, strScan{&acctID}, jsonScan{&orderAttrs}, &rc,
			intScan{&itemID}, strScan{&itemKey}, strScan{&itemProduct}, intScan{&itemQty}, jsonScan{&itemAttrs}, strScan{&itemRule},
			strScan{&itemBundle}, &typ, strScan{&subject}, jsonScan{&planCtx}, jsonScan{&acctAttrs}, strScan{&traceParent},
			strScan{&bundleLine}, strScan{&bundleProduct}, intScan{&bundleQty}, jsonScan{&bundleAttrs}, strScan{&bundleAction}); err != nil {
			return nil, fmt.Errorf("scan step context: %w", err)
		}
		ec := &engine.ExecContext{
			Order:   &engine.OrderView{ID: orderID, ExternalID: extID, AccountID: acctID, Attributes: orEmpty(orderAttrs), RequestedCompletion: rc.ptr()},
			Account: &engine.AccountView{ID: acctID, Attributes: orEmpty(acctAttrs)},
			Item: &engine.ItemView{ID: itemID, Key: itemKey, ProductCode: itemProduct, Quantity: itemQty, Attributes: orEmpty(itemAttrs),
				Rule: itemRule, BundleKey: itemBundle},
			Bundle:  &engine.LineView{ID: bundleLine, ProductCode: bundleProduct, Quantity: bundleQty, Attributes: orEmpty(bundleAttrs), Action: bundleAction},
			Context: orEmpty(planCtx), Type: typ, SubjectID: subject, TraceParent: traceParent,
		}
		out[id] = ec
	}
	return out, rows.Err()
}

func orEmpty(m map[string]any) map[string]any {
	if m == nil {
		return map[string]any{}
	}
	return m
}

// StepContexts implements engine.Tx.
func (t *txn) StepContexts(ctx context.Context, ids []int) (map[int]*engine.ExecContext, error) {
	return stepContexts(ctx, t, t.s.d, ids)
}

// StepContexts implements engine.Store.
func (s *Store) StepContexts(ctx context.Context, ids []int) (map[int]*engine.ExecContext, error) {
	return stepContexts(ctx, s.reads, s.d, ids)
}

// MergeAttributes implements engine.Tx: one statement per table.
func (t *txn) MergeAttributes(ctx context.Context, orders, items map[int]map[string]any) error {
	for _, m := range []struct {
		table string
		attrs map[int]map[string]any
	}{{"orders", orders}, {"fulfillment_lines", items}} {
		if len(m.attrs) == 0 {
			continue
		}
		ids := sortedKeys(m.attrs)
		rows := make([][]any, len(ids))
		for i, id := range ids {
			rows[i] = []any{int64(id), jsonValue(m.attrs[id])}
		}
		q, args, err := t.valuesCTE(m.table, []string{"id", "attributes"}, rows)
		if err != nil {
			return fmt.Errorf("merge %s attributes: %w", m.table, err)
		}
		set := "attributes = {merge " + m.table + ".attributes v.attributes}"
		if m.table == "orders" {
			q = shiftPlaceholders(q, 1)
			set += ", updated_at = $1"
			args = append([]any{t.now}, args...)
		}
		stmt := q + " UPDATE " + m.table + " SET " + set + " FROM v WHERE " + m.table + ".id = v.id"
		if _, err := t.tx.ExecContext(ctx, t.s.d.sql(stmt), args...); err != nil {
			return fmt.Errorf("merge %s attributes: %w", m.table, err)
		}
	}
	return nil
}

// shiftPlaceholders renumbers $N to $N+by.
func shiftPlaceholders(q string, by int) string {
	return placeholderRe.ReplaceAllStringFunc(q, func(m string) string {
		n, _ := strconv.Atoi(m[1:])
		return "$" + strconv.Itoa(n+by)
	})
}

func sortedKeys[V any](m map[int]V) []int {
	out := make([]int, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Ints(out)
	return out
}

// InsertAttempts implements engine.Tx.
func (t *txn) InsertAttempts(ctx context.Context, attempts []*engine.Attempt) error {
	rows := make([][]any, len(attempts))
	for i, a := range attempts {
		rows[i] = []any{a.StepID, a.Number, a.Outcome, a.StartedAt, a.FinishedAt, nullInt(a.HTTPStatus), nullStr(a.Error), nullStr(a.Worker)}
	}
	if len(rows) == 0 {
		return nil
	}
	_, err := t.insertReturningIDs(ctx, "attempts", []string{"step_id", "number", "outcome", "started_at", "finished_at",
		"http_status", "error", "worker"}, rows)
	if err != nil {
		return fmt.Errorf("insert attempts: %w", err)
	}
	return nil
}

// StartPlans implements engine.Tx.
func (t *txn) StartPlans(ctx context.Context, planIDs []int) ([]*engine.PlanRecord, error) {
	if len(planIDs) == 0 {
		return nil, nil
	}
	q := `UPDATE plans SET status = 'IN_PROGRESS', started_at = $2 WHERE id {ids $1} AND status = 'PENDING' RETURNING ` + planColumns
	if t.s.d.postgres {
		// The plans' orders start in the same statement.
		q = `WITH p AS (` + q + `), o AS (UPDATE orders SET status = 'IN_PROGRESS', updated_at = $2
			WHERE id IN (SELECT order_id FROM p) AND status = 'SUBMITTED') SELECT * FROM p`
	}
	rows, err := t.query(ctx, q, t.s.d.ids(sortedIDs(planIDs)), t.now)
	if err != nil {
		return nil, fmt.Errorf("start plans: %w", err)
	}
	var out []*engine.PlanRecord
	for rows.Next() {
		p, err := scanPlan(rows)
		if err != nil {
			rows.Close()
			return nil, fmt.Errorf("scan plan: %w", err)
		}
		out = append(out, p)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if t.s.d.postgres {
		return out, nil // the orders started with the plans
	}
	var orders []int
	for _, p := range out {
		if p.OrderID != 0 {
			orders = append(orders, p.OrderID)
		}
	}
	if len(orders) > 0 {
		if _, err := t.exec(ctx, `UPDATE orders SET status = 'IN_PROGRESS', updated_at = $2 WHERE id {ids $1} AND status = 'SUBMITTED'`,
			t.s.d.ids(sortedIDs(orders)), t.now); err != nil {
			return nil, fmt.Errorf("start orders: %w", err)
		}
	}
	return out, nil
}

// AdjustOpenSteps implements engine.Tx, in one statement for all plans.
func (t *txn) AdjustOpenSteps(ctx context.Context, delta map[int]int) ([]*engine.PlanRecord, error) {
	if len(delta) == 0 {
		return nil, nil
	}
	ids := sortedKeys(delta)
	rows := make([][]any, len(ids))
	for i, id := range ids {
		rows[i] = []any{int64(id), int64(delta[id])}
	}
	q, args, err := t.valuesCTE("plans", []string{"id", "open_steps"}, rows)
	if err != nil {
		return nil, fmt.Errorf("adjust open steps: %w", err)
	}
	r, err := t.tx.QueryContext(ctx, t.s.d.sql(q+` UPDATE plans SET open_steps = plans.open_steps + v.open_steps FROM v WHERE plans.id = v.id
		RETURNING plans.id, plans.order_id, plans.usage, plans.type, plans.subject_id, plans.context_hash, plans.status,
		plans.catalog_version_id, plans.open_steps, plans.awaiting_lines, plans.created_at`), args...)
	if err != nil {
		return nil, fmt.Errorf("adjust open steps: %w", err)
	}
	defer r.Close()
	var finished []*engine.PlanRecord
	for r.Next() {
		p, err := scanPlan(r)
		if err != nil {
			return nil, fmt.Errorf("scan plan: %w", err)
		}
		if p.OpenSteps <= 0 && p.AwaitingLines <= 0 && p.Status != engine.PlanCompleted && p.Status != engine.PlanCancelled {
			finished = append(finished, p)
		}
	}
	sort.Slice(finished, func(i, j int) bool { return finished[i].ID < finished[j].ID })
	return finished, r.Err()
}

// valuesCTE renders `WITH v(cols) AS (VALUES (...), ...)` (PostgreSQL:
// `WITH v AS (SELECT * FROM unnest(...) AS v(cols))`, typed as table's
// columns of those names).
func (t *txn) valuesCTE(table string, cols []string, rows [][]any) (string, []any, error) {
	if t.s.d.postgres {
		// Arrays, unnested: one statement text for any number of rows.
		u, args, err := t.s.unnest(table, cols, rows, 1)
		if err != nil {
			return "", nil, err
		}
		return "WITH v AS (SELECT * FROM " + u + " AS v(" + strings.Join(cols, ", ") + "))", args, nil
	}
	var b strings.Builder
	args := make([]any, 0, len(rows)*len(cols))
	fmt.Fprintf(&b, "WITH v(%s) AS (VALUES ", strings.Join(cols, ", "))
	n := 1
	for i, row := range rows {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteByte('(')
		for j, v := range row {
			if j > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "$%d", n)
			n++
			args = append(args, v)
		}
		b.WriteByte(')')
	}
	b.WriteString(")")
	return b.String(), args, nil
}

// CompletePlan implements engine.Tx.
func (t *txn) CompletePlan(ctx context.Context, p *engine.PlanRecord) error {
	if t.s.d.postgres && p.OrderID != 0 {
		// One round trip for both.
		if _, err := t.tx.ExecContext(ctx, `WITH p AS (UPDATE plans SET status = 'COMPLETED', completed_at = $2,
			started_at = COALESCE(started_at, $2) WHERE id = $1)
			UPDATE orders SET status = 'COMPLETED', completed_at = $2, updated_at = $2 WHERE id = $3`, p.ID, t.now, p.OrderID); err != nil {
			return fmt.Errorf("complete plan %d and order %d: %w", p.ID, p.OrderID, err)
		}
		return nil
	}
	if _, err := t.exec(ctx, `UPDATE plans SET status = 'COMPLETED', completed_at = $2,
		started_at = COALESCE(started_at, $2) WHERE id = $1`, p.ID, t.now); err != nil {
		return fmt.Errorf("complete plan %d: %w", p.ID, err)
	}
	if p.OrderID == 0 {
		return nil
	}
	if _, err := t.exec(ctx, `UPDATE orders SET status = 'COMPLETED', completed_at = $2, updated_at = $2 WHERE id = $1`, p.OrderID, t.now); err != nil {
		return fmt.Errorf("complete order %d: %w", p.OrderID, err)
	}
	return nil
}

// WaitingPauses implements engine.Tx.
func (t *txn) WaitingPauses(ctx context.Context, orderID int) (int, []*engine.StepRecord, error) {
	var planID int
	err := t.tx.QueryRowContext(ctx, t.s.d.sql(`SELECT id FROM plans WHERE order_id = $1{forupdate}`), orderID).Scan(&planID)
	if err == sql.ErrNoRows {
		return 0, nil, engine.Errorf(engine.CodeNotFound, "order %d not found", orderID)
	}
	if err != nil {
		return 0, nil, fmt.Errorf("plan of order %d: %w", orderID, err)
	}
	rows, err := t.query(ctx, `SELECT `+stepColumns+` FROM steps s JOIN plans p ON p.id = s.plan_id
		WHERE s.plan_id = $1 AND s.type = 'PAUSE' AND s.status = 'WAITING' ORDER BY s.id{forupdate s}`, planID)
	if err != nil {
		return 0, nil, fmt.Errorf("waiting pauses: %w", err)
	}
	steps, err := scanSteps(rows)
	return planID, steps, err
}

// LockPlanSignals implements engine.Tx.
func (t *txn) LockPlanSignals(ctx context.Context, planID int) (map[string]any, error) {
	var signals map[string]any
	err := t.tx.QueryRowContext(ctx, t.s.d.sql(`SELECT signals FROM plans WHERE id = $1{forupdate}`), planID).Scan(jsonScan{&signals})
	if err != nil {
		return nil, fmt.Errorf("plan %d signals: %w", planID, err)
	}
	return orEmpty(signals), nil
}

// RecordSignal implements engine.Tx.
func (t *txn) RecordSignal(ctx context.Context, planID int, event string, payload map[string]any) error {
	if payload == nil {
		payload = map[string]any{}
	}
	if _, err := t.exec(ctx, `UPDATE plans SET signals = {merge signals $1} WHERE id = $2`,
		jsonValue(map[string]any{event: payload}), planID); err != nil {
		return fmt.Errorf("record signal: %w", err)
	}
	return nil
}

// NextDue implements engine.Store.
func (s *Store) NextDue(ctx context.Context) (time.Time, bool, error) {
	var at timeScan
	err := s.reads.QueryRowContext(ctx, s.d.sql(`SELECT MIN(t) FROM (
		SELECT MIN(wake_at) AS t FROM steps WHERE wake_at IS NOT NULL
		UNION ALL SELECT MIN(lease_until) FROM steps WHERE lease_until IS NOT NULL
		UNION ALL SELECT MIN(jeopardy_at) FROM steps WHERE jeopardy_at IS NOT NULL) x`)).Scan(&at)
	if err != nil {
		return time.Time{}, false, fmt.Errorf("next due: %w", err)
	}
	return at.t, at.valid, nil
}

// PlanTimelines implements engine.Store: four queries for any number of
// plans.
func (s *Store) PlanTimelines(ctx context.Context, planIDs []int) ([]*engine.PlanTimeline, error) {
	if len(planIDs) == 0 {
		return nil, nil
	}
	ids := s.d.ids(sortedIDs(planIDs))
	rows, err := s.query(ctx, `SELECT id, status, requested_completion, completed_at FROM plans WHERE id {ids $1} ORDER BY id`, ids)
	if err != nil {
		return nil, fmt.Errorf("plan timelines: %w", err)
	}
	byPlan := map[int]*engine.PlanTimeline{}
	var out []*engine.PlanTimeline
	for rows.Next() {
		var tl engine.PlanTimeline
		var status string
		var due, done timeScan
		if err := rows.Scan(&tl.PlanID, &status, &due, &done); err != nil {
			rows.Close()
			return nil, fmt.Errorf("scan plan: %w", err)
		}
		tl.Status, tl.RequestedCompletion, tl.CompletedAt = engine.PlanStatus(status), due.ptr(), done.ptr()
		byPlan[tl.PlanID] = &tl
		out = append(out, &tl)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rows, err = s.query(ctx, `SELECT id, plan_id, name, scenario, position FROM step_groups WHERE plan_id {ids $1} ORDER BY plan_id, position, id`, ids)
	if err != nil {
		return nil, fmt.Errorf("timeline groups: %w", err)
	}
	for rows.Next() {
		var g engine.TimelineGroup
		var planID int
		if err := rows.Scan(&g.ID, &planID, &g.Name, &g.Scenario, &g.Position); err != nil {
			rows.Close()
			return nil, fmt.Errorf("scan timeline group: %w", err)
		}
		if tl := byPlan[planID]; tl != nil {
			tl.Groups = append(tl.Groups, g)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rows, err = s.query(ctx, `SELECT s.id, s.plan_id, s.name, s.scenario, s.type, s.status, s.jeopardy, s.group_id, p.catalog_version_id,
		s.ready_at, s.completed_at, s.wake_at
		FROM steps s JOIN plans p ON p.id = s.plan_id WHERE s.plan_id {ids $1} ORDER BY s.id`, ids)
	if err != nil {
		return nil, fmt.Errorf("timeline steps: %w", err)
	}
	steps := map[int]*engine.TimelineStep{}
	for rows.Next() {
		var st engine.TimelineStep
		var planID int
		var typ, status, jeopardy string
		var ready, done, wake timeScan
		if err := rows.Scan(&st.ID, &planID, &st.Name, &st.Scenario, &typ, &status, &jeopardy, &st.GroupID, &st.CatalogID,
			&ready, &done, &wake); err != nil {
			rows.Close()
			return nil, fmt.Errorf("scan timeline step: %w", err)
		}
		st.Type, st.Status, st.Jeopardy = engine.StepType(typ), engine.StepStatus(status), engine.Jeopardy(jeopardy)
		st.ReadyAt, st.CompletedAt = ready.ptr(), done.ptr()
		if st.Status == engine.StepScheduled {
			st.NotBefore = wake.ptr()
		}
		steps[st.ID] = &st
		if tl := byPlan[planID]; tl != nil {
			tl.Steps = append(tl.Steps, &st)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	// Prerequisites, with the name and state of those in other plans.
	rows, err = s.query(ctx, `SELECT d.step_id, d.prerequisite_id, q.plan_id, q.name, q.status FROM step_dependencies d
		JOIN steps s ON s.id = d.step_id JOIN steps q ON q.id = d.prerequisite_id
		WHERE s.plan_id {ids $1} ORDER BY d.step_id, d.prerequisite_id`, ids)
	if err != nil {
		return nil, fmt.Errorf("timeline dependencies: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var sid, pid, pplan int
		var pname, pstatus string
		if err := rows.Scan(&sid, &pid, &pplan, &pname, &pstatus); err != nil {
			return nil, fmt.Errorf("scan dependency: %w", err)
		}
		st := steps[sid]
		switch {
		case st == nil:
		case steps[pid] != nil:
			st.Prereqs = append(st.Prereqs, pid)
		default:
			st.External = append(st.External, engine.ExternalPrereq{ID: pid, Name: pname, Done: engine.StepStatus(pstatus).Done()})
		}
	}
	return out, rows.Err()
}

// openPlanStatuses are the plan statuses that may have open steps: the
// count of open steps reads only those plans' steps (plans.status and
// steps (plan_id, status) are indexed), never the finished history.
const openPlanStatuses = `'PENDING', 'IN_PROGRESS', 'ON_HOLD', 'FREEZING', 'FROZEN', 'CANCELLING'`

// StepCounts counts the open steps (not COMPLETED, SKIPPED or CANCELLED)
// by status and jeopardy, for the metrics (metrics.StateSource).
func (s *Store) StepCounts(ctx context.Context) ([]engine.StepCount, error) {
	rows, err := s.query(ctx, `SELECT s.status, s.jeopardy, COUNT(*) FROM plans p JOIN steps s ON s.plan_id = p.id
		WHERE p.status IN (`+openPlanStatuses+`) AND s.status NOT IN ('COMPLETED', 'SKIPPED', 'CANCELLED')
		GROUP BY s.status, s.jeopardy`)
	if err != nil {
		return nil, fmt.Errorf("count open steps: %w", err)
	}
	defer rows.Close()
	var out []engine.StepCount
	for rows.Next() {
		var status, jeopardy string
		var n int
		if err := rows.Scan(&status, &jeopardy, &n); err != nil {
			return nil, fmt.Errorf("count open steps: %w", err)
		}
		out = append(out, engine.StepCount{Status: engine.StepStatus(status), Jeopardy: engine.Jeopardy(jeopardy), N: n})
	}
	return out, rows.Err()
}

// StepDurations implements engine.Store: one query per definition, each
// reading at most limit rows of the index on COMPLETED steps by
// (scenario, name, completed_at). A step other than a manual task that a
// person finished (a note: marked complete) or retried (attempt_base) is
// left out: its time includes the fallout's wait for a person. (No tie-break on id: it would make
// PostgreSQL sort every row sharing the boundary's completed_at; which of
// equal-time samples make the window does not matter.)
func (s *Store) StepDurations(ctx context.Context, defs []engine.StepDefKey, limit int) (map[engine.StepDefKey][]engine.DurationSample, error) {
	out := make(map[engine.StepDefKey][]engine.DurationSample, len(defs))
	if limit <= 0 {
		return out, nil
	}
	for _, k := range defs {
		if _, ok := out[k]; ok {
			continue
		}
		rows, err := s.query(ctx, `SELECT ready_at, completed_at FROM steps
			WHERE status = 'COMPLETED' AND scenario = $1 AND name = $2 AND completed_at IS NOT NULL
				AND (type = 'MANUAL_TASK' OR (attempt_base = 0 AND note IS NULL))
			ORDER BY completed_at DESC LIMIT $3`, k.Scenario, k.Name, limit)
		if err != nil {
			return nil, fmt.Errorf("durations of %s/%s: %w", k.Scenario, k.Name, err)
		}
		samples := []engine.DurationSample{}
		for rows.Next() {
			var ready, done timeScan
			if err := rows.Scan(&ready, &done); err != nil {
				rows.Close()
				return nil, fmt.Errorf("scan duration: %w", err)
			}
			if ready.valid && done.valid && !done.t.Before(ready.t) {
				samples = append(samples, engine.DurationSample{ReadyAt: ready.t, CompletedAt: done.t})
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
		out[k] = samples
	}
	return out, nil
}
