package entstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"

	"github.com/batonhq/baton/engine"
)

const queueColumns = `name, members, unavailable, cursor, updated_at, COALESCE(updated_by, '')`

func scanQueues(rows *sql.Rows) ([]*engine.QueueState, error) {
	defer rows.Close()
	var out []*engine.QueueState
	for rows.Next() {
		var q engine.QueueState
		var members, unavailable []byte
		var updated timeScan
		if err := rows.Scan(&q.Name, &members, &unavailable, &q.Cursor, &updated, &q.UpdatedBy); err != nil {
			return nil, fmt.Errorf("scan queue: %w", err)
		}
		q.UpdatedAt = updated.t
		if len(members) > 0 && string(members) != "null" {
			q.MembersSet = true
			if err := json.Unmarshal(members, &q.Members); err != nil {
				return nil, fmt.Errorf("decode queue %s: %w", q.Name, err)
			}
		}
		if len(unavailable) > 0 {
			if err := json.Unmarshal(unavailable, &q.Unavailable); err != nil {
				return nil, fmt.Errorf("decode queue %s: %w", q.Name, err)
			}
		}
		out = append(out, &q)
	}
	return out, rows.Err()
}

// LockQueue implements engine.Tx.
func (t *txn) LockQueue(ctx context.Context, name string) (*engine.QueueState, error) {
	if _, err := t.exec(ctx, `INSERT INTO queues (name, cursor, updated_at) VALUES ($1, 0, $2) ON CONFLICT (name) DO NOTHING`, name, t.now); err != nil {
		return nil, fmt.Errorf("create queue %s: %w", name, err)
	}
	rows, err := t.query(ctx, `SELECT `+queueColumns+` FROM queues WHERE name = $1{forupdate}`, name)
	if err != nil {
		return nil, fmt.Errorf("lock queue %s: %w", name, err)
	}
	qs, err := scanQueues(rows)
	if err != nil {
		return nil, err
	}
	if len(qs) != 1 {
		return nil, fmt.Errorf("lock queue %s: %d rows", name, len(qs))
	}
	return qs[0], nil
}

// ReadQueue implements engine.Tx.
func (t *txn) ReadQueue(ctx context.Context, name string) (*engine.QueueState, error) {
	rows, err := t.query(ctx, `SELECT `+queueColumns+` FROM queues WHERE name = $1`, name)
	if err != nil {
		return nil, fmt.Errorf("read queue %s: %w", name, err)
	}
	qs, err := scanQueues(rows)
	if err != nil || len(qs) == 0 {
		return nil, err
	}
	return qs[0], nil
}

// SaveQueue implements engine.Tx.
func (t *txn) SaveQueue(ctx context.Context, q *engine.QueueState) error {
	var members any
	if q.MembersSet {
		members = jsonStrings(nonNil(q.Members))
	}
	if _, err := t.exec(ctx, `UPDATE queues SET members = $1, unavailable = $2, cursor = $3, updated_at = $4, updated_by = $5 WHERE name = $6`,
		members, jsonStrings(nonNil(q.Unavailable)), q.Cursor, t.now, q.UpdatedBy, q.Name); err != nil {
		return fmt.Errorf("save queue %s: %w", q.Name, err)
	}
	return nil
}

// QueueLoads implements engine.Tx.
func (t *txn) QueueLoads(ctx context.Context, queue string) (map[string]int, error) {
	rows, err := t.query(ctx, `SELECT assignee, COUNT(*) FROM steps WHERE queue = $1 AND type = 'MANUAL_TASK'
		AND status IN ('READY', 'WAITING') AND assignee IS NOT NULL GROUP BY assignee`, queue)
	if err != nil {
		return nil, fmt.Errorf("queue %s loads: %w", queue, err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var who string
		var n int
		if err := rows.Scan(&who, &n); err != nil {
			return nil, fmt.Errorf("queue %s loads: %w", queue, err)
		}
		out[who] = n
	}
	return out, rows.Err()
}

// LockAssignedTasks implements engine.Tx.
func (t *txn) LockAssignedTasks(ctx context.Context, queue, member string) ([]*engine.StepRecord, error) {
	rows, err := t.query(ctx, `SELECT `+stepColumns+` FROM steps s JOIN plans p ON p.id = s.plan_id
		WHERE s.queue = $1 AND s.assignee = $2 AND s.type = 'MANUAL_TASK' AND s.status IN ('READY', 'WAITING') ORDER BY s.id{forupdate s}`, queue, member)
	if err != nil {
		return nil, fmt.Errorf("tasks of %s in %s: %w", member, queue, err)
	}
	return scanSteps(rows)
}

// Queues implements engine.Store.
func (s *Store) Queues(ctx context.Context) (map[string]*engine.QueueState, error) {
	rows, err := s.query(ctx, `SELECT `+queueColumns+` FROM queues`)
	if err != nil {
		return nil, fmt.Errorf("read queues: %w", err)
	}
	qs, err := scanQueues(rows)
	if err != nil {
		return nil, err
	}
	out := make(map[string]*engine.QueueState, len(qs))
	for _, q := range qs {
		out[q.Name] = q
	}
	return out, nil
}

// TaskCounts implements engine.Store.
func (s *Store) TaskCounts(ctx context.Context) (map[string]*engine.TaskCounts, error) {
	rows, err := s.query(ctx, `SELECT queue, COALESCE(assignee, ''), jeopardy, COUNT(*) FROM steps
		WHERE queue IS NOT NULL AND type = 'MANUAL_TASK' AND status IN ('READY', 'WAITING') GROUP BY queue, assignee, jeopardy`)
	if err != nil {
		return nil, fmt.Errorf("count tasks: %w", err)
	}
	defer rows.Close()
	out := map[string]*engine.TaskCounts{}
	for rows.Next() {
		var queue, who, jeopardy string
		var n int
		if err := rows.Scan(&queue, &who, &jeopardy, &n); err != nil {
			return nil, fmt.Errorf("count tasks: %w", err)
		}
		c := out[queue]
		if c == nil {
			c = &engine.TaskCounts{Load: map[string]int{}}
			out[queue] = c
		}
		c.Open += n
		if who == "" {
			c.Unassigned += n
		} else {
			c.Load[who] += n
		}
		switch engine.Jeopardy(jeopardy) {
		case engine.AtRisk:
			c.AtRisk += n
		case engine.Late:
			c.Late += n
		}
	}
	return out, rows.Err()
}
