package entstore

import (
	"context"
	"fmt"
	"sync"

	"github.com/batonhq/baton/engine"
)

// accountCache maps order ids to their accounts. An order's account never
// changes, so entries are never stale; the map is dropped whole when it
// grows past its bound.
type accountCache struct {
	mu sync.Mutex
	m  map[int]string
}

const accountCacheSize = 100_000

func (c *accountCache) get(id int) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	a, ok := c.m[id]
	return a, ok
}

func (c *accountCache) put(id int, account string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= accountCacheSize {
		c.m = make(map[int]string, 1024)
	}
	c.m[id] = account
}

// orderAccounts fills in the accounts of the given orders from the cache
// and, for the rest, one query on db.
func (s *Store) orderAccounts(ctx context.Context, db querier, ids []int) (map[int]string, error) {
	out := make(map[int]string, len(ids))
	var missing []int
	for _, id := range ids {
		if id == 0 {
			continue
		}
		if a, ok := s.accounts.get(id); ok {
			out[id] = a
		} else if _, seen := out[id]; !seen {
			missing = append(missing, id)
			out[id] = ""
		}
	}
	if len(missing) == 0 {
		return out, nil
	}
	rows, err := db.QueryContext(ctx, s.d.sql(`SELECT id, account_id FROM orders WHERE id {ids $1}`), s.d.ids(missing))
	if err != nil {
		return nil, fmt.Errorf("order accounts: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id int
		var a string
		if err := rows.Scan(&id, &a); err != nil {
			return nil, fmt.Errorf("order accounts: %w", err)
		}
		out[id] = a
		s.accounts.put(id, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("order accounts: %w", err)
	}
	for _, id := range missing {
		if out[id] == "" {
			delete(out, id)
		}
	}
	return out, nil
}

// OrderAccounts implements engine.Store.
func (s *Store) OrderAccounts(ctx context.Context, orderIDs []int) (map[int]string, error) {
	return s.orderAccounts(ctx, s.reads, orderIDs)
}

// StepOwners implements engine.Store.
func (s *Store) StepOwners(ctx context.Context, stepIDs []int) (map[int]engine.StepOwner, error) {
	rows, err := s.query(ctx, `SELECT s.id, s.order_id, COALESCE(o.account_id, ''), s.type, COALESCE(s.queue, '')
		FROM steps s LEFT JOIN orders o ON o.id = s.order_id WHERE s.id {ids $1}`, s.d.ids(stepIDs))
	if err != nil {
		return nil, fmt.Errorf("step owners: %w", err)
	}
	defer rows.Close()
	out := make(map[int]engine.StepOwner, len(stepIDs))
	for rows.Next() {
		var id int
		var o engine.StepOwner
		var typ string
		if err := rows.Scan(&id, intScan{&o.OrderID}, &o.Account, &typ, &o.Queue); err != nil {
			return nil, fmt.Errorf("step owners: %w", err)
		}
		o.Type = engine.StepType(typ)
		out[id] = o
	}
	return out, rows.Err()
}
