package entstore

import (
	"context"
	"fmt"
	"time"

	"github.com/batonhq/baton/engine"
)

const systemColumns = `name, status, consecutive_failures, circuit_open_until, release_at, changed_by, updated_at`

func scanSystem(row interface{ Scan(...any) error }) (*engine.SystemState, error) {
	var s engine.SystemState
	var status string
	var open, release, updated timeScan
	if err := row.Scan(&s.Name, &status, &s.Failures, &open, &release, strScan{&s.ChangedBy}, &updated); err != nil {
		return nil, err
	}
	s.Status, s.OpenUntil, s.ReleaseAt, s.UpdatedAt = engine.SystemStatus(status), open.ptr(), release.ptr(), updated.t
	return &s, nil
}

// SystemStates implements engine.Store.
func (s *Store) SystemStates(ctx context.Context) (map[string]*engine.SystemState, error) {
	return systemStates(ctx, s.reads, s.d)
}

// SystemStates implements engine.Tx.
func (t *txn) SystemStates(ctx context.Context) (map[string]*engine.SystemState, error) {
	return systemStates(ctx, t, t.s.d)
}

func systemStates(ctx context.Context, db querier, d *sqlDialect) (map[string]*engine.SystemState, error) {
	rows, err := db.QueryContext(ctx, d.sql(`SELECT `+systemColumns+` FROM systems`))
	if err != nil {
		return nil, fmt.Errorf("system states: %w", err)
	}
	defer rows.Close()
	out := map[string]*engine.SystemState{}
	for rows.Next() {
		st, err := scanSystem(rows)
		if err != nil {
			return nil, fmt.Errorf("scan system: %w", err)
		}
		out[st.Name] = st
	}
	return out, rows.Err()
}

// HeldCounts implements engine.Store.
func (s *Store) HeldCounts(ctx context.Context) (map[string]int, error) {
	rows, err := s.query(ctx, `SELECT system, count(*) FROM steps WHERE status = 'ON_HOLD' AND system IS NOT NULL GROUP BY system`)
	if err != nil {
		return nil, fmt.Errorf("held counts: %w", err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var name string
		var n int
		if err := rows.Scan(&name, &n); err != nil {
			return nil, err
		}
		out[name] = n
	}
	return out, rows.Err()
}

// ensureSystem creates the system's row if it has none, and locks it.
func (t *txn) ensureSystem(ctx context.Context, name string) (*engine.SystemState, error) {
	if _, err := t.exec(ctx, `INSERT INTO systems (name, status, consecutive_failures, updated_at) VALUES ($1, 'ONLINE', 0, $2)
		ON CONFLICT (name) DO NOTHING`, name, t.now); err != nil {
		return nil, fmt.Errorf("create system %s: %w", name, err)
	}
	st, err := scanSystem(t.tx.QueryRowContext(ctx, t.s.d.sql(`SELECT `+systemColumns+` FROM systems WHERE name = $1{forupdate}`), name))
	if err != nil {
		return nil, fmt.Errorf("read system %s: %w", name, err)
	}
	return st, nil
}

// SetSystemStatus implements engine.Tx.
func (t *txn) SetSystemStatus(ctx context.Context, name string, status engine.SystemStatus, actor string, interval time.Duration) (*engine.SystemState, *engine.SystemState, error) {
	cur, err := t.ensureSystem(ctx, name)
	if err != nil {
		return nil, nil, err
	}
	prev := *cur
	if status == engine.SystemOnline {
		release := t.now.Add(-interval) // one at once, then one per interval
		_, err = t.exec(ctx, `UPDATE systems SET status = 'ONLINE', consecutive_failures = 0, circuit_open_until = NULL,
			release_at = $1, changed_by = $2, updated_at = $3 WHERE name = $4`, release, nullStr(actor), t.now, name)
		cur.Status, cur.Failures, cur.OpenUntil, cur.ReleaseAt = status, 0, nil, &release
	} else {
		_, err = t.exec(ctx, `UPDATE systems SET status = $1, changed_by = $2, updated_at = $3 WHERE name = $4`,
			string(status), nullStr(actor), t.now, name)
		cur.Status = status
	}
	if err != nil {
		return nil, nil, fmt.Errorf("set system %s: %w", name, err)
	}
	cur.ChangedBy, cur.UpdatedAt = actor, t.now
	return &prev, cur, nil
}

// RecordSystemOutcome implements engine.Tx.
func (t *txn) RecordSystemOutcome(ctx context.Context, name string, failures int, ok bool, threshold int, coolDown, interval time.Duration) (*engine.SystemState, error) {
	if failures == 0 {
		// Only successes: reset the count, if there is one. A row that
		// needs no change is neither created nor locked, so that the
		// transactions of a healthy system do not queue on its row.
		if !ok {
			return nil, nil
		}
		if _, err := t.exec(ctx, `UPDATE systems SET consecutive_failures = 0, updated_at = $1
			WHERE name = $2 AND consecutive_failures > 0`, t.now, name); err != nil {
			return nil, fmt.Errorf("count failures of %s: %w", name, err)
		}
		return nil, nil
	}
	cur, err := t.ensureSystem(ctx, name)
	if err != nil {
		return nil, err
	}
	n := cur.Failures + failures
	if ok {
		n = failures
	}
	wasOpen := cur.CircuitOpen(t.now)
	if n >= threshold && threshold > 0 && !wasOpen {
		until := t.now.Add(coolDown)
		release := until.Add(-interval)
		if _, err := t.exec(ctx, `UPDATE systems SET consecutive_failures = 0, circuit_open_until = $1, release_at = $2, updated_at = $3
			WHERE name = $4`, until, release, t.now, name); err != nil {
			return nil, fmt.Errorf("open circuit of %s: %w", name, err)
		}
		cur.Failures, cur.OpenUntil, cur.ReleaseAt = n, &until, &release
		return cur, nil
	}
	if n == cur.Failures {
		return nil, nil
	}
	if _, err := t.exec(ctx, `UPDATE systems SET consecutive_failures = $1, updated_at = $2 WHERE name = $3`, n, t.now, name); err != nil {
		return nil, fmt.Errorf("count failures of %s: %w", name, err)
	}
	return nil, nil
}

// TakeRelease implements engine.Tx.
func (t *txn) TakeRelease(ctx context.Context, name string, now time.Time, interval, window time.Duration, most int) (int, bool, error) {
	cur, err := t.ensureSystem(ctx, name)
	if err != nil {
		return 0, false, err
	}
	if cur.Held(now) {
		return 0, false, nil
	}
	closed := false
	if cur.OpenUntil != nil {
		// The cool-down ran out: the circuit closes.
		if _, err := t.exec(ctx, `UPDATE systems SET circuit_open_until = NULL, updated_at = $1 WHERE name = $2`, now, name); err != nil {
			return 0, false, fmt.Errorf("close circuit of %s: %w", name, err)
		}
		closed = true
	}
	if interval <= 0 {
		return most, closed, nil
	}
	from := now.Add(-max(interval, window))
	if cur.ReleaseAt != nil && cur.ReleaseAt.After(from) {
		from = *cur.ReleaseAt
	}
	n := int(now.Sub(from) / interval)
	if n > most {
		n = most
	}
	if n <= 0 {
		return 0, closed, nil
	}
	next := from.Add(time.Duration(n) * interval)
	if _, err := t.exec(ctx, `UPDATE systems SET release_at = $1 WHERE name = $2`, next, name); err != nil {
		return 0, false, fmt.Errorf("release from %s: %w", name, err)
	}
	return n, closed, nil
}

// HeldSteps implements engine.Tx.
func (t *txn) HeldSteps(ctx context.Context, system string, limit int) ([]*engine.StepRecord, error) {
	rows, err := t.query(ctx, `SELECT `+stepColumns+` FROM steps s JOIN plans p ON p.id = s.plan_id
		WHERE s.system = $1 AND s.status = 'ON_HOLD' ORDER BY s.updated_at, s.id LIMIT $2{skiplocked s}`, system, limit)
	if err != nil {
		return nil, fmt.Errorf("held steps: %w", err)
	}
	return scanSteps(rows)
}
