package entstore

import (
	"context"
	"fmt"

	"github.com/batonhq/baton/engine"
)

const systemColumns = `name, status, consecutive_failures, circuit_open_until, release_at, open_count, trial_step_id, trial_until, changed_by, updated_at`

func scanSystem(row interface{ Scan(...any) error }) (*engine.SystemState, error) {
	var s engine.SystemState
	var status string
	var open, release, trial, updated timeScan
	if err := row.Scan(&s.Name, &status, &s.Failures, &open, &release, &s.OpenCount, intScan{&s.TrialStepID}, &trial,
		strScan{&s.ChangedBy}, &updated); err != nil {
		return nil, err
	}
	s.Status, s.OpenUntil, s.ReleaseAt, s.TrialUntil, s.UpdatedAt = engine.SystemStatus(status), open.ptr(), release.ptr(), trial.ptr(), updated.t
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
	if _, err := t.exec(ctx, `INSERT INTO systems (name, status, consecutive_failures, open_count, updated_at) VALUES ($1, 'ONLINE', 0, 0, $2)
		ON CONFLICT (name) DO NOTHING`, name, t.now); err != nil {
		return nil, fmt.Errorf("create system %s: %w", name, err)
	}
	st, err := scanSystem(t.tx.QueryRowContext(ctx, t.s.d.sql(`SELECT `+systemColumns+` FROM systems WHERE name = $1{forupdate}`), name))
	if err != nil {
		return nil, fmt.Errorf("read system %s: %w", name, err)
	}
	return st, nil
}

// LockSystem implements engine.Tx.
func (t *txn) LockSystem(ctx context.Context, name string) (*engine.SystemState, error) {
	return t.ensureSystem(ctx, name)
}

// SaveSystem implements engine.Tx.
func (t *txn) SaveSystem(ctx context.Context, st *engine.SystemState) error {
	if _, err := t.exec(ctx, `UPDATE systems SET status = $1, consecutive_failures = $2, circuit_open_until = $3,
		release_at = $4, open_count = $5, trial_step_id = $6, trial_until = $7, changed_by = $8, updated_at = $9 WHERE name = $10`,
		string(st.Status), st.Failures, st.OpenUntil, st.ReleaseAt, st.OpenCount, nullInt(st.TrialStepID), st.TrialUntil,
		nullStr(st.ChangedBy), st.UpdatedAt, st.Name); err != nil {
		return fmt.Errorf("save system %s: %w", st.Name, err)
	}
	return nil
}

// ClearSystemFailures implements engine.Tx.
func (t *txn) ClearSystemFailures(ctx context.Context, name string) error {
	if _, err := t.exec(ctx, `UPDATE systems SET consecutive_failures = 0, updated_at = $1
		WHERE name = $2 AND consecutive_failures > 0`, t.now, name); err != nil {
		return fmt.Errorf("count failures of %s: %w", name, err)
	}
	return nil
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
