package entstore

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/batonhq/baton/engine"
)

const assetColumns = `id, account_id, product_code, quantity, status, attributes, order_id, order_line_id, last_order_id, created_at, updated_at`

func scanAssets(rows *sql.Rows) ([]*engine.Asset, error) {
	defer rows.Close()
	var out []*engine.Asset
	for rows.Next() {
		var a engine.Asset
		var status string
		var created, updated timeScan
		if err := rows.Scan(&a.ID, &a.AccountID, &a.Product, &a.Quantity, &status, jsonScan{&a.Attributes}, intScan{&a.OrderID},
			intScan{&a.OrderLineID}, intScan{&a.LastOrderID}, &created, &updated); err != nil {
			return nil, fmt.Errorf("scan asset: %w", err)
		}
		a.Status, a.CreatedAt, a.UpdatedAt = engine.AssetStatus(status), created.t, updated.t
		out = append(out, &a)
	}
	return out, rows.Err()
}

func assetsByID(ctx context.Context, db querier, d *sqlDialect, ids []int) (map[int]*engine.Asset, error) {
	out := map[int]*engine.Asset{}
	if len(ids) == 0 {
		return out, nil
	}
	rows, err := db.QueryContext(ctx, d.sql(`SELECT `+assetColumns+` FROM assets WHERE id {ids $1}`), d.ids(sortedIDs(ids)))
	if err != nil {
		return nil, fmt.Errorf("read assets: %w", err)
	}
	list, err := scanAssets(rows)
	if err != nil {
		return nil, err
	}
	for _, a := range list {
		out[a.ID] = a
	}
	return out, nil
}

// AssetsByID implements engine.Store.
func (s *Store) AssetsByID(ctx context.Context, ids []int) (map[int]*engine.Asset, error) {
	return assetsByID(ctx, s.reads, s.d, ids)
}

// AssetsByID implements engine.Tx.
func (t *txn) AssetsByID(ctx context.Context, ids []int) (map[int]*engine.Asset, error) {
	return assetsByID(ctx, t, t.s.d, ids)
}

// AssetHistory implements engine.Store.
func (s *Store) AssetHistory(ctx context.Context, assetIDs []int) (map[int][]*engine.AssetEvent, error) {
	out := map[int][]*engine.AssetEvent{}
	if len(assetIDs) == 0 {
		return out, nil
	}
	rows, err := s.query(ctx, `SELECT asset_id, order_id, order_line_id, action, from_status, to_status, quantity, attributes, at
		FROM asset_events WHERE asset_id {ids $1} ORDER BY asset_id, id`, s.d.ids(sortedIDs(assetIDs)))
	if err != nil {
		return nil, fmt.Errorf("read asset history: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var e engine.AssetEvent
		var action, from, to string
		var at timeScan
		if err := rows.Scan(&e.AssetID, &e.OrderID, &e.OrderLineID, &action, strScan{&from}, &to, &e.Quantity, jsonScan{&e.Attributes}, &at); err != nil {
			return nil, fmt.Errorf("scan asset event: %w", err)
		}
		e.Action, e.FromStatus, e.ToStatus, e.At = engine.LineAction(action), engine.AssetStatus(from), engine.AssetStatus(to), at.t
		out[e.AssetID] = append(out[e.AssetID], &e)
	}
	return out, rows.Err()
}

// assetHistory writes the history rows of an order's asset changes:
// before are the changed assets as they were, after as they are now.
func (t *txn) assetHistory(ctx context.Context, oa *engine.OrderAssets, actions map[int]engine.LineAction, before, after map[int]*engine.Asset, created map[int]int) error {
	var rows [][]any
	for _, c := range oa.Changes {
		id := c.AssetID
		if id == 0 {
			id = created[c.LineID]
		}
		a := after[id]
		if a == nil {
			continue
		}
		from := ""
		if b := before[id]; b != nil {
			from = string(b.Status)
		}
		rows = append(rows, []any{id, oa.OrderID, c.LineID, string(actions[c.LineID]), nullStr(from), string(a.Status), a.Quantity,
			jsonValue(a.Attributes), t.now})
	}
	return t.bulkInsert(ctx, "asset_events", []string{"asset_id", "order_id", "order_line_id", "action", "from_status", "to_status",
		"quantity", "attributes", "at"}, rows)
}

// OrderAssetLines implements engine.Tx.
func (t *txn) OrderAssetLines(ctx context.Context, orderID int) (*engine.OrderAssets, []engine.AssetLine, error) {
	// The order and its lines in one statement: a row per line, or one
	// without a line for an order that has none.
	rows, err := t.query(ctx, `SELECT o.account_ref, o.account_id, l.id, l.product_code, l.quantity, l.attributes, l.action, l.asset_id
		FROM orders o LEFT JOIN order_lines l ON l.order_id = o.id WHERE o.id = $1 ORDER BY l.position`, orderID)
	if err != nil {
		return nil, nil, fmt.Errorf("read order %d and its lines: %w", orderID, err)
	}
	defer rows.Close()
	var oa *engine.OrderAssets
	var lines []engine.AssetLine
	for rows.Next() {
		var ref int
		var account string
		var lineID sql.NullInt64
		var product, action sql.NullString
		var quantity sql.NullInt64
		var l engine.AssetLine
		if err := rows.Scan(&ref, &account, &lineID, &product, &quantity, jsonScan{&l.Attributes}, &action, intScan{&l.AssetID}); err != nil {
			return nil, nil, fmt.Errorf("scan line: %w", err)
		}
		if oa == nil {
			oa = &engine.OrderAssets{OrderID: orderID, AccountRef: ref, AccountID: account}
		}
		if !lineID.Valid {
			continue
		}
		l.LineID, l.Product, l.Quantity, l.Action = int(lineID.Int64), product.String, int(quantity.Int64), engine.LineAction(action.String)
		lines = append(lines, l)
	}
	if err := rows.Err(); err != nil {
		return nil, nil, err
	}
	if oa == nil {
		return nil, nil, engine.Errorf(engine.CodeNotFound, "order %d not found", orderID)
	}
	return oa, lines, nil
}

// ApplyAssetChanges implements engine.Tx.
func (t *txn) ApplyAssetChanges(ctx context.Context, oa *engine.OrderAssets) error {
	var add [][]any
	var ids, newLines []int
	actions := map[int]engine.LineAction{}
	for _, c := range oa.Changes {
		actions[c.LineID] = c.Action
		if c.AssetID != 0 {
			ids = append(ids, c.AssetID)
		} else {
			newLines = append(newLines, c.LineID)
		}
	}
	if len(ids) == 0 && t.s.d.postgres {
		return t.createAssets(ctx, oa)
	}
	before, err := t.AssetsByID(ctx, ids)
	if err != nil {
		return err
	}
	for _, c := range oa.Changes {
		var err error
		switch {
		case c.AssetID == 0:
			add = append(add, assetInsertRow(oa, c, t.now))
		case c.Quantity != nil:
			_, err = t.exec(ctx, `UPDATE assets SET quantity = $1, attributes = {merge attributes $2}, last_order_id = $3, updated_at = $4 WHERE id = $5`,
				*c.Quantity, jsonValue(orEmpty(c.Attributes)), oa.OrderID, t.now, c.AssetID)
		}
		if err == nil && c.AssetID != 0 && c.Status != "" {
			_, err = t.exec(ctx, `UPDATE assets SET status = $1, last_order_id = $2, updated_at = $3 WHERE id = $4`, string(c.Status), oa.OrderID, t.now, c.AssetID)
		}
		if err != nil {
			return fmt.Errorf("change asset %d: %w", c.AssetID, err)
		}
	}
	// The changed assets are read back (their attributes merge in SQL);
	// the created ones are what was inserted.
	after, err := t.AssetsByID(ctx, ids)
	if err != nil {
		return err
	}
	created := map[int]int{}
	if len(add) > 0 {
		newIDs, err := t.insertReturningIDs(ctx, "assets", assetInsertColumns, add)
		if err != nil {
			return fmt.Errorf("insert assets: %w", err)
		}
		for i, id := range newIDs {
			created[newLines[i]] = int(id)
		}
		for _, c := range oa.Changes {
			if id, ok := created[c.LineID]; ok && c.AssetID == 0 {
				after[id] = &engine.Asset{ID: id, AccountID: oa.AccountID, Product: c.Product, Quantity: *c.Quantity,
					Status: c.Status, Attributes: c.Attributes, OrderID: oa.OrderID, OrderLineID: c.LineID, LastOrderID: oa.OrderID,
					CreatedAt: t.now, UpdatedAt: t.now}
			}
		}
	}
	return t.assetHistory(ctx, oa, actions, before, after, created)
}

// createAssets is ApplyAssetChanges on PostgreSQL when every change
// creates an asset (an order of new products): the assets and their
// history in one statement, the events made from the rows inserted.
func (t *txn) createAssets(ctx context.Context, oa *engine.OrderAssets) error {
	if len(oa.Changes) == 0 {
		return nil
	}
	add := make([][]any, len(oa.Changes))
	for i, c := range oa.Changes {
		add[i] = assetInsertRow(oa, c, t.now)
	}
	sel, args, err := t.s.unnestSelect("assets", assetInsertColumns, add, 1)
	if err != nil {
		return err
	}
	// The events in the order of the changes, as the general path writes
	// them.
	lines := make([]any, 0, len(oa.Changes))
	acts := make([]any, 0, len(oa.Changes))
	for _, c := range oa.Changes {
		lines, acts = append(lines, c.LineID), append(acts, string(c.Action))
	}
	lineArr, err := pgArray(lines)
	if err != nil {
		return err
	}
	actArr, err := pgArray(acts)
	if err != nil {
		return err
	}
	n := len(args)
	args = append(args, lineArr, actArr, t.now)
	q := fmt.Sprintf(`WITH a AS (INSERT INTO assets (%s) %s RETURNING id, order_id, order_line_id, status, quantity, attributes)
		INSERT INTO asset_events (asset_id, order_id, order_line_id, action, from_status, to_status, quantity, attributes, at)
		SELECT a.id, a.order_id, a.order_line_id, x.action, NULL, a.status, a.quantity, a.attributes, $%d::timestamptz
		FROM a JOIN unnest($%d::bigint[], $%d::text[]) WITH ORDINALITY AS x(line, action, n) ON x.line = a.order_line_id
		ORDER BY x.n`,
		strings.Join(assetInsertColumns, ", "), sel, n+3, n+1, n+2)
	if _, err := t.tx.ExecContext(ctx, q, args...); err != nil {
		return fmt.Errorf("insert assets: %w", err)
	}
	return nil
}

// assetInsertRow is the assets row (assetInsertColumns) a change that
// creates an asset inserts.
func assetInsertRow(oa *engine.OrderAssets, c engine.AssetChange, now time.Time) []any {
	return []any{oa.AccountRef, oa.AccountID, c.Product, *c.Quantity, string(c.Status), jsonValue(c.Attributes),
		oa.OrderID, c.LineID, oa.OrderID, now, now}
}

var assetInsertColumns = []string{"account_ref", "account_id", "product_code", "quantity", "status",
	"attributes", "order_id", "order_line_id", "last_order_id", "created_at", "updated_at"}

// Assets implements engine.Store: by the account's ref, which the
// (account_ref, product_code) index serves.
func (s *Store) Assets(ctx context.Context, q engine.AssetQuery) ([]*engine.Asset, error) {
	if err := q.Validate(); err != nil {
		return nil, err
	}
	sqlq := `SELECT ` + assetColumns + ` FROM assets WHERE account_ref = (SELECT id FROM accounts WHERE external_id = $1)`
	args := []any{q.AccountID}
	if q.Product != "" {
		args = append(args, q.Product)
		sqlq += fmt.Sprintf(" AND product_code = $%d", len(args))
	}
	if q.IDs != nil {
		args = append(args, s.d.ids(sortedIDs(q.IDs)))
		sqlq += fmt.Sprintf(" AND id {ids $%d}", len(args))
	}
	if q.Status != nil {
		st := make([]string, len(q.Status))
		for i, x := range q.Status {
			st[i] = string(x)
		}
		args = append(args, s.d.strs(st))
		sqlq += fmt.Sprintf(" AND status {strs $%d}", len(args))
	}
	sqlq += " ORDER BY id"
	if q.Limit > 0 {
		args = append(args, q.Limit)
		sqlq += fmt.Sprintf(" LIMIT $%d", len(args))
	}
	rows, err := s.query(ctx, sqlq, args...)
	if err != nil {
		return nil, fmt.Errorf("read assets: %w", err)
	}
	return scanAssets(rows)
}
