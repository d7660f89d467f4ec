package entstore

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
)

// Id blocks (SQLite). A plan is written with explicit ids, reserved from
// the tables' rows in sqlite_sequence. Reserving them order by order was
// an UPDATE of sqlite_sequence per table per order (six per order of the
// reference workload, a tenth of the writer's statements); instead a
// write reserves a block of ids at a time and later writes take from it.
//
// A reservation is an UPDATE in the write's transaction, so it can be
// undone: by the write's savepoint when the write fails in a group, or by
// the group's rollback. A block is therefore only handed to later writes
// once its reservation can no longer be undone before theirs is: a
// write's own reservations (txn.own) serve that write; once its savepoint
// is released they serve the rest of its group (txn.group); once the
// group commits they serve everyone (Store.idBlocks). Whatever a rolled
// back transaction reserved is dropped. Ids taken from a block by a write
// that rolls back are never used: they are gaps, as a sequence leaves.
//
// Another process writing the same database file reserves from the same
// rows, past this process's blocks, and AUTOINCREMENT inserts (which take
// max(seq, max id) + 1) land past them too. Ids so stay unique; what
// blocks give up is that ids of these tables follow commit order across
// processes, which PostgreSQL's sequences never promised either. On
// PostgreSQL allocIDs takes nextval in one round trip and needs none of
// this.

// idBlock is the size of a reservation: at least this many ids, or the
// whole need of the write when larger (a 50,000-step plan reserves its
// 50,000 at once).
const idBlock = 256

// idRange is a reserved run of ids, next through last.
type idRange struct{ next, last int }

// idPool holds, per table, the ids reserved and not yet handed out.
type idPool map[string]idRange

// take hands out up to n ids of table from the pool.
func (p idPool) take(table string, n int, into []int) []int {
	r, ok := p[table]
	if !ok {
		return into
	}
	for n > 0 && r.next <= r.last {
		into = append(into, r.next)
		r.next++
		n--
	}
	if r.next > r.last {
		delete(p, table)
	} else {
		p[table] = r
	}
	return into
}

// moveTo gives what is left in p to dst (p's tables are ones dst had run
// out of: a reservation is only made when every pool above is empty).
func (p idPool) moveTo(dst idPool) {
	for table, r := range p {
		if r.next <= r.last {
			dst[table] = r
		}
		delete(p, table)
	}
}

// committedIDs is the store's pool of blocks whose reservations committed.
type committedIDs struct {
	mu   sync.Mutex
	pool idPool
}

func (c *committedIDs) take(table string, n int, into []int) []int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.pool.take(table, n, into)
}

func (c *committedIDs) add(p idPool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.pool == nil {
		c.pool = idPool{}
	}
	p.moveTo(c.pool)
}

// sqliteAllocIDs hands out n ids of table: from the write's own
// reservations, its group's, the store's, and then from a new block.
func (t *txn) sqliteAllocIDs(ctx context.Context, table string, n int) ([]int, error) {
	if t.own == nil {
		t.own = idPool{}
	}
	ids := make([]int, 0, n)
	ids = t.own.take(table, n, ids)
	if len(ids) < n && t.group != nil {
		ids = t.group.take(table, n-len(ids), ids)
	}
	if len(ids) < n {
		ids = t.s.idBlocks.take(table, n-len(ids), ids)
	}
	need := n - len(ids)
	if need == 0 {
		return ids, nil
	}
	size := max(need, idBlock)
	var last int
	err := t.tx.QueryRowContext(ctx, `UPDATE sqlite_sequence SET seq = seq + ?1 WHERE name = ?2 RETURNING seq`, size, table).Scan(&last)
	if err == sql.ErrNoRows {
		// No row yet: the table's range starts at 0 (or the table is
		// empty and was never given a start).
		if _, err := t.tx.ExecContext(ctx, `INSERT INTO sqlite_sequence (name, seq) VALUES (?1, ?2)`, table, size); err != nil {
			return nil, fmt.Errorf("allocate ids: %w", err)
		}
		last = size
	} else if err != nil {
		return nil, fmt.Errorf("allocate ids: %w", err)
	}
	t.own[table] = idRange{next: last - size + 1, last: last}
	return t.own.take(table, need, ids), nil
}
