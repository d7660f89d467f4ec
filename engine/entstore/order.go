package entstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"sort"

	"github.com/batonhq/baton/engine"
)

const planColumns = `id, order_id, usage, type, subject_id, context_hash, status, catalog_version_id, open_steps, awaiting_lines, created_at`

func scanPlan(row interface{ Scan(...any) error }) (*engine.PlanRecord, error) {
	var p engine.PlanRecord
	var usage, status string
	var created timeScan
	if err := row.Scan(&p.ID, intScan{&p.OrderID}, &usage, &p.Type, strScan{&p.SubjectID}, strScan{&p.ContextHash},
		&status, &p.CatalogID, &p.OpenSteps, &p.AwaitingLines, &created); err != nil {
		return nil, err
	}
	p.Usage, p.Status, p.CreatedAt = engine.Usage(usage), engine.PlanStatus(status), created.t
	return &p, nil
}

// PlanBySubject implements engine.Tx.
func (t *txn) PlanBySubject(ctx context.Context, typ, subjectID string) (*engine.PlanRecord, error) {
	row := t.tx.QueryRowContext(ctx, t.s.d.sql(`SELECT `+planColumns+` FROM plans WHERE usage = 'GENERIC' AND type = $1 AND subject_id = $2`), typ, subjectID)
	p, err := scanPlan(row)
	if err == sql.ErrNoRows {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("plan by subject: %w", err)
	}
	return p, nil
}

// LoadOrder implements engine.Tx.
func (t *txn) LoadOrder(ctx context.Context, orderID int) (*engine.StoredOrder, error) {
	row := t.tx.QueryRowContext(ctx, t.s.d.sql(`SELECT `+planColumns+` FROM plans WHERE order_id = $1{forupdate}`), orderID)
	p, err := scanPlan(row)
	if err == sql.ErrNoRows {
		return nil, engine.Errorf(engine.CodeNotFound, "order %d not found", orderID)
	}
	if err != nil {
		return nil, fmt.Errorf("load plan of order %d: %w", orderID, err)
	}
	o := &engine.StoredOrder{Plan: p, LineIDs: map[string]int{}, Steps: map[string]*engine.ExistingStep{}, Groups: map[string]int{}}
	var status string
	var rc timeScan
	err = t.tx.QueryRowContext(ctx, t.s.d.sql(`SELECT id, external_id, account_id, account_ref, input_hash, status,
		catalog_version_id, attributes, requested_completion, revision FROM orders WHERE id = $1`), orderID).
		Scan(&o.ID, &o.ExternalID, &o.AccountID, &o.AccountRef, &o.InputHash, &status, &o.CatalogID, jsonScan{&o.Attributes}, &rc, &o.Revision)
	if err != nil {
		return nil, fmt.Errorf("load order %d: %w", orderID, err)
	}
	o.Status, o.PlanID, o.RequestedCompletion = engine.OrderStatus(status), p.ID, rc.ptr()
	if o.Attributes == nil {
		o.Attributes = map[string]any{}
	}
	rows, err := t.query(ctx, `SELECT id, line_id, product_code, quantity, attributes, parent_line_id, action, asset_id, status,
		missing, position, generated FROM order_lines WHERE order_id = $1 ORDER BY position`, orderID)
	if err != nil {
		return nil, fmt.Errorf("load lines: %w", err)
	}
	for rows.Next() {
		var l engine.DecomposedLine
		var id int
		var action, lstatus string
		var missing []byte
		if err := rows.Scan(&id, &l.ID, &l.ProductCode, &l.Quantity, jsonScan{&l.Attributes}, strScan{&l.ParentID}, &action,
			intScan{&l.AssetID}, &lstatus, &missing, &l.Position, &l.Generated); err != nil {
			rows.Close()
			return nil, fmt.Errorf("scan line: %w", err)
		}
		l.Action, l.Status = engine.LineAction(action), engine.LineStatus(lstatus)
		if len(missing) > 0 {
			if err := json.Unmarshal(missing, &l.Missing); err != nil {
				rows.Close()
				return nil, fmt.Errorf("decode missing: %w", err)
			}
		}
		if l.Attributes == nil {
			l.Attributes = map[string]any{}
		}
		o.LineIDs[l.ID] = id
		if l.Status == engine.LineRemoved {
			o.RemovedLines = append(o.RemovedLines, &l)
			continue
		}
		o.Lines = append(o.Lines, &l)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	// Bundles: the nearest bundle line at or above each line is recomputed
	// by the engine from the catalog; here only the tree is needed.
	rows, err = t.query(ctx, `SELECT id, order_id, key, product_code, rule, scope, quantity, attributes, bundle_key, removed_in FROM fulfillment_lines
		WHERE order_id = $1 OR (account_ref = $2 AND scope = 'ACCOUNT') ORDER BY id`, orderID, o.AccountRef)
	if err != nil {
		return nil, fmt.Errorf("load items: %w", err)
	}
	for rows.Next() {
		var it engine.Item
		var scope string
		var itemOrder, removedIn int
		if err := rows.Scan(&it.ID, intScan{&itemOrder}, &it.Key, &it.ProductCode, &it.Rule, &scope, &it.Quantity, jsonScan{&it.Attributes},
			strScan{&it.BundleKey}, intScan{&removedIn}); err != nil {
			rows.Close()
			return nil, fmt.Errorf("scan item: %w", err)
		}
		it.Scope = engine.DecompositionScope(scope)
		if itemOrder != orderID {
			// An account item of an earlier order: reused, planned there.
			it.Existing = &engine.ExistingItem{ID: it.ID, Key: it.Key, Rule: it.Rule, ProductCode: it.ProductCode,
				Quantity: it.Quantity, Attributes: it.Attributes}
		}
		if removedIn != 0 {
			o.RemovedItems = append(o.RemovedItems, &it)
			continue
		}
		o.Items = append(o.Items, &it)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if err := t.loadItemSources(ctx, orderID, o); err != nil {
		return nil, err
	}
	rows, err = t.query(ctx, `SELECT id, scenario, name FROM step_groups WHERE plan_id = $1`, p.ID)
	if err != nil {
		return nil, fmt.Errorf("load groups: %w", err)
	}
	for rows.Next() {
		var id int
		var scenario, name string
		if err := rows.Scan(&id, &scenario, &name); err != nil {
			rows.Close()
			return nil, fmt.Errorf("scan group: %w", err)
		}
		o.Groups[scenario+"|"+name] = id
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rows, err = t.query(ctx, `SELECT id, name, instance_key, status FROM steps WHERE plan_id = $1`, p.ID)
	if err != nil {
		return nil, fmt.Errorf("load steps: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var s engine.ExistingStep
		var key, st string
		if err := rows.Scan(&s.ID, &s.Name, &key, &st); err != nil {
			return nil, fmt.Errorf("scan step: %w", err)
		}
		s.Status = engine.StepStatus(st)
		o.Steps[s.Name+"|"+key] = &s
	}
	return o, rows.Err()
}

// loadItemSources reads which lines each of the order's items came from.
func (t *txn) loadItemSources(ctx context.Context, orderID int, o *engine.StoredOrder) error {
	byID := map[int]*engine.Item{}
	for _, list := range [][]*engine.Item{o.Items, o.RemovedItems} {
		for _, it := range list {
			byID[it.ID] = it
		}
	}
	rows, err := t.query(ctx, `SELECT s.fulfillment_line_id, l.line_id FROM fulfillment_line_sources s
		JOIN order_lines l ON l.id = s.order_line_id WHERE l.order_id = $1 ORDER BY s.fulfillment_line_id, l.position`, orderID)
	if err != nil {
		return fmt.Errorf("load item sources: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id int
		var line string
		if err := rows.Scan(&id, &line); err != nil {
			return fmt.Errorf("scan item source: %w", err)
		}
		if it := byID[id]; it != nil {
			it.Sources = append(it.Sources, line)
		}
	}
	return rows.Err()
}

// UpdateOrderAttributes implements engine.Tx.
func (t *txn) UpdateOrderAttributes(ctx context.Context, orderID int, attrs map[string]any) error {
	if _, err := t.exec(ctx, `UPDATE orders SET attributes = {json $1}, updated_at = $2 WHERE id = $3`, jsonValue(attrs), t.now, orderID); err != nil {
		return fmt.Errorf("update order attributes: %w", err)
	}
	return nil
}

// UpdateLines implements engine.Tx.
func (t *txn) UpdateLines(ctx context.Context, orderID int, lines []*engine.DecomposedLine) error {
	for _, l := range lines {
		if _, err := t.exec(ctx, `UPDATE order_lines SET attributes = {json $1}, status = $2, missing = $3 WHERE order_id = $4 AND line_id = $5`,
			jsonValue(l.Attributes), string(l.Status), jsonStrings(l.Missing), orderID, l.ID); err != nil {
			return fmt.Errorf("update line %s: %w", l.ID, err)
		}
	}
	return nil
}

// AddPending implements engine.Tx.
func (t *txn) AddPending(ctx context.Context, delta map[int]int) error {
	ids := make([]int, 0, len(delta))
	for id := range delta {
		ids = append(ids, id)
	}
	sort.Ints(ids)
	for _, id := range ids {
		if _, err := t.exec(ctx, `UPDATE steps SET pending = pending + $1, updated_at = $2 WHERE id = $3`, delta[id], t.now, id); err != nil {
			return fmt.Errorf("add pending: %w", err)
		}
	}
	return nil
}

// AdjustPlan implements engine.Tx.
func (t *txn) AdjustPlan(ctx context.Context, d engine.PlanDelta) error {
	if _, err := t.exec(ctx, `UPDATE plans SET open_steps = open_steps + $1, awaiting_lines = awaiting_lines + $2 WHERE id = $3`,
		d.OpenSteps, d.AwaitingLines, d.PlanID); err != nil {
		return fmt.Errorf("adjust plan: %w", err)
	}
	return nil
}
