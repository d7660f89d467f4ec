package entstore

import (
	"context"
	"database/sql"
	"sync"
	"sync/atomic"
)

// Prepared statements. Every query text the store runs again is prepared
// once per connection and reused: PostgreSQL plans it once (not at each
// execution), SQLite parses it once. A text runs unprepared the first time
// it is seen (texts that vary with a row count may never come back, and
// must not fill the cache), and is prepared in the background when it
// comes back, outside any transaction (on SQLite the writer's one
// connection is busy inside it).

const (
	maxStatements = 512
	maxSeen       = 4096 // texts seen once, remembered until this many
)

type stmtCache struct {
	db      *sql.DB
	mu      sync.Mutex
	stmts   map[string]*sql.Stmt
	pending map[string]bool
	seen    map[string]bool
	closed  bool
}

func newStmtCache(db *sql.DB) *stmtCache {
	return &stmtCache{db: db, stmts: map[string]*sql.Stmt{}, pending: map[string]bool{}, seen: map[string]bool{}}
}

// get returns the prepared statement of q, or nil (and starts preparing
// it) when there is none yet.
func (c *stmtCache) get(q string) *sql.Stmt {
	c.mu.Lock()
	defer c.mu.Unlock()
	if st := c.stmts[q]; st != nil {
		return st
	}
	if c.closed || c.pending[q] || len(c.stmts)+len(c.pending) >= maxStatements {
		return nil
	}
	if !c.seen[q] {
		if len(c.seen) >= maxSeen {
			clear(c.seen)
		}
		c.seen[q] = true
		return nil
	}
	delete(c.seen, q)
	c.pending[q] = true
	go func() {
		st, err := c.db.PrepareContext(context.Background(), q)
		c.mu.Lock()
		defer c.mu.Unlock()
		delete(c.pending, q)
		if err != nil || c.closed {
			if st != nil {
				st.Close()
			}
			return
		}
		c.stmts[q] = st
	}()
	return nil
}

func (c *stmtCache) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	for _, st := range c.stmts {
		st.Close()
	}
	c.stmts = map[string]*sql.Stmt{}
}

// cachedTx runs a transaction's statements prepared. Statements do not
// end with the caller's context: a write of a group shares its transaction
// with others, and a cancelled statement breaks the connection (lib/pq) or
// rolls back the whole transaction (SQLite's interrupt), not just the
// write's savepoint. A write whose context ended before its turn is not
// run at all (runGroup).
type cachedTx struct {
	*sql.Tx
	c *stmtCache
}

func (t cachedTx) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	ctx = context.WithoutCancel(ctx)
	if st := t.c.get(q); st != nil {
		return t.Tx.StmtContext(ctx, st).ExecContext(ctx, args...)
	}
	return t.Tx.ExecContext(ctx, q, args...)
}

func (t cachedTx) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	ctx = context.WithoutCancel(ctx)
	if st := t.c.get(q); st != nil {
		return t.Tx.StmtContext(ctx, st).QueryContext(ctx, args...)
	}
	return t.Tx.QueryContext(ctx, q, args...)
}

func (t cachedTx) QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row {
	ctx = context.WithoutCancel(ctx)
	if st := t.c.get(q); st != nil {
		return t.Tx.StmtContext(ctx, st).QueryRowContext(ctx, args...)
	}
	return t.Tx.QueryRowContext(ctx, q, args...)
}

// prepare returns q prepared in the transaction, for a caller about to
// run it many times: the cached statement when there is one, else a new
// one, which the caller closes (close is a no-op for the cached one).
func (t cachedTx) prepare(ctx context.Context, q string) (st *sql.Stmt, close func() error, err error) {
	ctx = context.WithoutCancel(ctx)
	if c := t.c.get(q); c != nil {
		return t.Tx.StmtContext(ctx, c), func() error { return nil }, nil
	}
	st, err = t.Tx.PrepareContext(ctx, q)
	if err != nil {
		return nil, nil, err
	}
	return st, st.Close, nil
}

// cachedDB runs reads prepared. Once the store is closed its queries
// answer UNAVAILABLE (errStoreClosed), not database/sql's internal error.
type cachedDB struct {
	*sql.DB
	c      *stmtCache
	closed *atomic.Bool
}

func (d cachedDB) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	if d.closed != nil && d.closed.Load() {
		return nil, errStoreClosed
	}
	if st := d.c.get(q); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return d.DB.QueryContext(ctx, q, args...)
}

func (d cachedDB) QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row {
	if st := d.c.get(q); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return d.DB.QueryRowContext(ctx, q, args...)
}
