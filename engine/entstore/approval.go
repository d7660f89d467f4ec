package entstore

import (
	"context"
	"fmt"

	"github.com/batonhq/baton/engine"
)

// LockOrderApproval implements engine.Tx.
func (t *txn) LockOrderApproval(ctx context.Context, orderID int) (*engine.OrderApproval, error) {
	rows, err := t.query(ctx, `SELECT o.id, p.id, o.account_id, o.status, COALESCE(o.submitted_by, ''), COALESCE(o.approval_rule, ''), o.catalog_version_id
		FROM orders o JOIN plans p ON p.order_id = o.id WHERE o.id = $1{forupdate o}`, orderID)
	if err != nil {
		return nil, fmt.Errorf("read order %d: %w", orderID, err)
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("read order %d: %w", orderID, err)
		}
		return nil, engine.Errorf(engine.CodeNotFound, "order %d not found", orderID)
	}
	var a engine.OrderApproval
	var status string
	if err := rows.Scan(&a.OrderID, &a.PlanID, &a.AccountID, &status, &a.SubmittedBy, &a.Rule, &a.CatalogID); err != nil {
		return nil, fmt.Errorf("read order %d: %w", orderID, err)
	}
	a.Status = engine.OrderStatus(status)
	return &a, rows.Err()
}

// DecideOrder implements engine.Tx.
func (t *txn) DecideOrder(ctx context.Context, orderID int, status engine.OrderStatus, by string) error {
	var done any
	if status == engine.OrderRejected {
		done = t.now
	}
	if _, err := t.exec(ctx, `UPDATE orders SET status = $1, decided_by = $2, updated_at = $3, completed_at = COALESCE($4, completed_at) WHERE id = $5`,
		string(status), by, t.now, done, orderID); err != nil {
		return fmt.Errorf("decide order %d: %w", orderID, err)
	}
	return nil
}
