package entstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/lib/pq"

	"github.com/batonhq/baton/engine"
)

// txn implements engine.Tx.
type txn struct {
	s      *Store
	tx     cachedTx
	now    time.Time
	events []*engine.Event

	deferInserts bool // PostgreSQL: queue bulk inserts for flushInserts
	pending      []pendingInsert
	audits       [][]any // audit records, written by flushAudits
	// createdAccounts: accounts this transaction inserted (EnsureAccount),
	// which hold nothing yet and are locked by the insert.
	createdAccounts map[int]bool

	// SQLite id blocks (idblocks.go): reserved by this write, and by the
	// writes of its group that committed their savepoints.
	own, group idPool
}

var _ engine.Tx = (*txn)(nil)

func (t *txn) Now() time.Time { return t.now }

func (t *txn) Emit(events ...*engine.Event) {
	for _, e := range events {
		e.At = engine.EventTime(e.At)
	}
	t.events = append(t.events, events...)
}

func (t *txn) exec(ctx context.Context, q string, args ...any) (sql.Result, error) {
	return t.tx.ExecContext(ctx, t.s.d.sql(q), args...)
}

func (t *txn) query(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	return t.tx.QueryContext(ctx, t.s.d.sql(q), args...)
}

// QueryContext lets helpers shared with the read path run in the
// transaction; q is already rendered for the dialect.
func (t *txn) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	return t.tx.QueryContext(ctx, q, args...)
}

// eventData is an event's data column: the step snapshot, or the system.
type eventData struct {
	Step   *engine.EventStep `json:"step,omitempty"`
	System string            `json:"system,omitempty"`
}

const eventColumns = `id, kind, order_id, plan_id, step_id, "from", "to", at, actor, note, data, account_id`

// flushEvents writes the transaction's events last, so that event ids
// follow commit order: on PostgreSQL every writer takes the same advisory
// lock just before inserting its events and holds it until its commit, so
// no transaction can commit a smaller id after a larger one is visible. A
// subscriber that has seen id N can therefore resume after N without ever
// missing a late commit. SQLite has one writer, which orders them already.
func (t *txn) flushEvents(ctx context.Context) error {
	if len(t.events) == 0 {
		return nil
	}
	cols := []string{"kind", "order_id", "plan_id", "step_id", `"from"`, `"to"`, "at", "actor", "note", "data", "account_id"}
	rows := make([][]any, len(t.events))
	orders := make([]int, 0, 4)
	for _, e := range t.events {
		if e.OrderID != 0 && e.Account == "" && (len(orders) == 0 || orders[len(orders)-1] != e.OrderID) {
			orders = append(orders, e.OrderID)
		}
	}
	accounts, err := t.s.orderAccounts(ctx, t, orders)
	if err != nil {
		return err
	}
	for i, e := range t.events {
		if e.Account == "" {
			e.Account = accounts[e.OrderID]
		}
		var data any
		if e.Step != nil || e.System != "" {
			b, err := json.Marshal(eventData{Step: e.Step, System: e.System})
			if err != nil {
				return refused(fmt.Errorf("encode event: %w", err))
			}
			data = string(b)
		}
		if e.At.IsZero() {
			e.At = t.now
		}
		rows[i] = []any{string(e.Kind), nullInt(e.OrderID), nullInt(e.PlanID), nullInt(e.StepID),
			nullStr(e.From), e.To, e.At, nullStr(e.Actor), nullStr(e.Note), data, nullStr(e.Account)}
	}
	var ids []int64
	if t.s.d.postgres {
		ids, err = t.insertEventsLocked(ctx, cols, rows)
	} else {
		ids, err = t.insertReturningIDs(ctx, "events", cols, rows)
	}
	if err != nil {
		return fmt.Errorf("insert events: %w", err)
	}
	for i, e := range t.events {
		e.ID = ids[i]
	}
	return nil
}

// insertEventsLocked takes the events lock and inserts the events in one
// statement (one round trip less while holding the lock): the lock
// function runs once, before any row takes its id from the sequence.
func (t *txn) insertEventsLocked(ctx context.Context, cols []string, rows [][]any) ([]int64, error) {
	sel, args, err := t.s.unnestSelect("events", cols, rows, 2)
	if err != nil {
		return nil, err
	}
	q := fmt.Sprintf("INSERT INTO events (%s) SELECT v.* FROM (SELECT pg_advisory_xact_lock($1)) l, (%s) AS v RETURNING id",
		strings.Join(cols, ", "), sel)
	return t.returningIDs(ctx, q, append([]any{int64(lockEvents)}, args...), len(rows))
}

// returningIDs runs an INSERT ... RETURNING id and reads the ids (in row
// order: PostgreSQL inserts, and returns, the rows of INSERT ... SELECT in
// the order the SELECT produces them, as ent relies on too).
func (t *txn) returningIDs(ctx context.Context, q string, args []any, n int) ([]int64, error) {
	ids := make([]int64, 0, n)
	r, err := t.tx.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	for r.Next() {
		var id int64
		if err := r.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	if err := r.Err(); err != nil {
		return nil, err
	}
	if len(ids) != n {
		return nil, fmt.Errorf("%d ids for %d rows", len(ids), n)
	}
	return ids, nil
}

// insertReturningIDs inserts rows that take their ids from the table's
// sequence and returns the ids in row order.
func (t *txn) insertReturningIDs(ctx context.Context, table string, cols []string, rows [][]any) ([]int64, error) {
	if len(rows) == 0 {
		return nil, nil
	}
	if t.s.d.postgres {
		sel, args, err := t.s.unnestSelect(table, cols, rows, 1)
		if err != nil {
			return nil, err
		}
		return t.returningIDs(ctx, fmt.Sprintf("INSERT INTO %s (%s) %s RETURNING id", table, strings.Join(cols, ", "), sel), args, len(rows))
	}
	ids, err := t.sqliteInsert(ctx, table, cols, len(rows), rowsOf(rows))
	if err != nil {
		return nil, err
	}
	if len(ids) != len(rows) {
		return nil, fmt.Errorf("insert %s: %d ids for %d rows", table, len(ids), len(rows))
	}
	return ids, nil
}

// sqliteChunk is how many rows one SQLite insert statement carries: the
// statement is prepared once per call and executed per chunk (parsing a
// statement of thousands of values costs more than executing it).
func sqliteChunk(cols int) int { return max(1, min(64, 30000/cols)) }

// sqliteInsert inserts rows in prepared chunks and returns, per row, the
// id SQLite assigned (consecutive within a statement on the one writer).
func (t *txn) sqliteInsert(ctx context.Context, table string, cols []string, n int, row func(i int) []any) ([]int64, error) {
	per := sqliteChunk(len(cols))
	ids := make([]int64, 0, n)
	var stmt *sql.Stmt
	done := func() error { return nil }
	defer func() { done() }()
	args := make([]any, 0, per*len(cols))
	for start := 0; start < n; start += per {
		chunk := min(n, start+per) - start
		args = args[:0]
		for i := range chunk {
			args = append(args, row(start+i)...)
		}
		var res sql.Result
		var err error
		if chunk == per {
			if stmt == nil {
				if stmt, done, err = t.tx.prepare(ctx, t.s.d.sql(valuesSQL(table, cols, chunk))); err != nil {
					return nil, err
				}
			}
			res, err = stmt.ExecContext(context.WithoutCancel(ctx), args...) // see cachedTx
		} else {
			res, err = t.tx.ExecContext(ctx, t.s.d.sql(valuesSQL(table, cols, chunk)), args...)
		}
		if err != nil {
			return nil, err
		}
		last, err := res.LastInsertId()
		if err != nil {
			return nil, err
		}
		for i := range chunk {
			ids = append(ids, last-int64(chunk-1-i))
		}
	}
	return ids, nil
}

// valuesSQL renders INSERT INTO table (cols) VALUES (...), (...) for n
// rows, with numbered placeholders.
func valuesSQL(table string, cols []string, n int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "INSERT INTO %s (%s) VALUES ", table, strings.Join(cols, ", "))
	p := 1
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteByte('(')
		for j := range cols {
			if j > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "$%d", p)
			p++
		}
		b.WriteByte(')')
	}
	return b.String()
}

// pendingInsert is a bulk insert deferred to flushInserts.
type pendingInsert struct {
	table string
	cols  []string
	rows  [][]any
}

// bulkInsert inserts rows with explicit ids (bulkInsertEach).
func (t *txn) bulkInsert(ctx context.Context, table string, cols []string, rows [][]any) error {
	return t.bulkInsertEach(ctx, table, cols, len(rows), rowsOf(rows))
}

// bulkInsertEach inserts the n rows row(i) makes, with explicit ids. Where
// the rows go one by one they are made as they are written: by VALUES
// batches on SQLite, and on PostgreSQL by COPY for a large insert while
// inserts are deferred (copyRows), so a 10,000-line order's step, line and
// fulfillment line rows (about 70 MB as []any) are never all in memory at
// once. Other deferred inserts (PostgreSQL, in InsertOrder and
// InsertPlan) are queued for flushInserts; the rest is one statement
// unnesting an array per column.
func (t *txn) bulkInsertEach(ctx context.Context, table string, cols []string, n int, row func(i int) []any) error {
	switch {
	case n == 0:
		return nil
	case !t.s.d.postgres:
		if _, err := t.sqliteInsert(ctx, table, cols, n, row); err != nil {
			return fmt.Errorf("insert %s: %w", table, err)
		}
		return nil
	case t.deferInserts && n >= copyRows && !t.s.foreignKeys:
		return t.copyInsert(ctx, table, cols, n, row)
	}
	rows := make([][]any, n)
	for i := range rows {
		rows[i] = row(i)
	}
	if t.deferInserts {
		t.pending = append(t.pending, pendingInsert{table, cols, rows})
		return nil
	}
	sel, args, err := t.s.unnestSelect(table, cols, rows, 1)
	if err != nil {
		return err
	}
	if _, err := t.tx.ExecContext(ctx, fmt.Sprintf("INSERT INTO %s (%s) %s", table, strings.Join(cols, ", "), sel), args...); err != nil {
		return fmt.Errorf("insert %s: %w", table, err)
	}
	return nil
}

// rowsOf is rows as bulkInsertEach's row function.
func rowsOf(rows [][]any) func(int) []any { return func(i int) []any { return rows[i] } }

// flushInserts runs the queued inserts (PostgreSQL) as one statement: an
// INSERT per table, chained as data-modifying CTEs, each unnesting one
// array per column.
func (t *txn) flushInserts(ctx context.Context) error {
	pending := t.pending
	t.pending, t.deferInserts = nil, false
	if len(pending) == 0 {
		return nil
	}
	var b strings.Builder
	var args []any
	for i, p := range pending {
		sel, a, err := t.s.unnestSelect(p.table, p.cols, p.rows, len(args)+1)
		if err != nil {
			return err
		}
		ins := fmt.Sprintf("INSERT INTO %s (%s) %s", p.table, strings.Join(p.cols, ", "), sel)
		switch {
		case len(pending) == 1:
			b.WriteString(ins)
		case i == 0:
			fmt.Fprintf(&b, "WITH i0 AS (%s)", ins)
		case i < len(pending)-1:
			fmt.Fprintf(&b, ", i%d AS (%s)", i, ins)
		default:
			b.WriteString(" ")
			b.WriteString(ins)
		}
		args = append(args, a...)
	}
	if _, err := t.tx.ExecContext(ctx, b.String(), args...); err != nil {
		return fmt.Errorf("insert: %w", err)
	}
	return nil
}

// copyRows is the size from which a deferred insert goes by COPY at once
// instead of waiting in the queue: a large plan's steps and dependencies.
// As array arguments they are one text literal per column that the server
// parses element by element and lib/pq copies whole; COPY streams the
// rows. The copies run before the queued rows, which is only right without
// foreign keys: a database created with them (Store.foreignKeys) keeps the
// one statement.
const copyRows = 2000

// copyInsert writes the n rows row(i) makes with COPY (PostgreSQL).
func (t *txn) copyInsert(ctx context.Context, table string, columns []string, n int, row func(i int) []any) error {
	cols := make([]string, len(columns))
	for i, c := range columns {
		cols[i] = strings.Trim(c, `"`) // CopyIn quotes them
	}
	ctx = context.WithoutCancel(ctx) // see cachedTx
	stmt, err := t.tx.Tx.PrepareContext(ctx, pq.CopyIn(table, cols...))
	if err != nil {
		return fmt.Errorf("copy into %s: %w", table, err)
	}
	defer stmt.Close()
	for i := range n {
		if _, err := stmt.ExecContext(ctx, row(i)...); err != nil {
			return fmt.Errorf("copy into %s: %w", table, err)
		}
	}
	if _, err := stmt.ExecContext(ctx); err != nil {
		return fmt.Errorf("copy into %s: %w", table, err)
	}
	return nil
}

// allocIDs reserves ids from the tables' sequences (in one round trip on
// PostgreSQL), so that a whole plan can be written with its dependencies
// without reading ids back row by row.
func (t *txn) allocIDs(ctx context.Context, counts map[string]int) (map[string][]int, error) {
	out := map[string][]int{}
	tables := make([]string, 0, len(counts))
	for table, n := range counts {
		if n > 0 {
			tables = append(tables, table)
		}
	}
	sort.Strings(tables)
	if len(tables) == 0 {
		return out, nil
	}
	if t.s.d.postgres {
		var parts []string
		var args []any
		for i, table := range tables {
			parts = append(parts, fmt.Sprintf("SELECT %d AS t, nextval(pg_get_serial_sequence('%s', 'id')) AS id FROM generate_series(1, $%d)", i, table, i+1))
			args = append(args, counts[table])
		}
		rows, err := t.tx.QueryContext(ctx, strings.Join(parts, " UNION ALL "), args...)
		if err != nil {
			return nil, fmt.Errorf("allocate ids: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var ti, id int
			if err := rows.Scan(&ti, &id); err != nil {
				return nil, fmt.Errorf("allocate ids: %w", err)
			}
			out[tables[ti]] = append(out[tables[ti]], id)
		}
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("allocate ids: %w", err)
		}
		for _, table := range tables {
			sort.Ints(out[table])
		}
		return out, nil
	}
	for _, table := range tables {
		ids, err := t.sqliteAllocIDs(ctx, table, counts[table])
		if err != nil {
			return nil, err
		}
		out[table] = ids
	}
	return out, nil
}

// InsertCatalog implements engine.Tx.
func (t *txn) InsertCatalog(ctx context.Context, text, checksum string) (*engine.CatalogRecord, error) {
	if t.s.d.postgres {
		// Versions are numbered max+1: imports take turns.
		if _, err := t.tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock($1)", int64(lockCatalog)); err != nil {
			return nil, fmt.Errorf("lock catalog: %w", err)
		}
	}
	var version int
	if err := t.tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) + 1 FROM catalog_versions`).Scan(&version); err != nil {
		return nil, fmt.Errorf("next catalog version: %w", err)
	}
	ids, err := t.insertReturningIDs(ctx, "catalog_versions", []string{"version", "document", "checksum", "created_at"},
		[][]any{{version, text, checksum, t.now}})
	if err != nil {
		return nil, fmt.Errorf("insert catalog: %w", err)
	}
	return &engine.CatalogRecord{ID: int(ids[0]), Version: version, Document: text, Checksum: checksum, CreatedAt: t.now}, nil
}

// OrderByExternalID implements engine.Tx.
func (t *txn) OrderByExternalID(ctx context.Context, externalID string) (*engine.OrderRecord, error) {
	return orderByExternalID(ctx, t, t.s.d, externalID)
}

// EnsureAccount implements engine.Tx.
func (t *txn) EnsureAccount(ctx context.Context, accountID string) (int, error) {
	var ref int
	if t.s.d.postgres {
		// One round trip: create the account or read the one a
		// concurrent order created.
		created := false
		err := t.tx.QueryRowContext(ctx, `WITH ins AS (INSERT INTO accounts (external_id, created_at) VALUES ($1, $2)
			ON CONFLICT (external_id) DO NOTHING RETURNING id)
			SELECT id, true FROM ins UNION ALL SELECT id, false FROM accounts WHERE external_id = $1 LIMIT 1`, accountID, t.now).Scan(&ref, &created)
		if created {
			t.accountCreated(ref)
		}
		if err == sql.ErrNoRows {
			// The account was being created by a concurrent order: the
			// insert waited for it to commit, but this statement's
			// snapshot predates that commit. The next statement sees it.
			err = t.tx.QueryRowContext(ctx, `SELECT id FROM accounts WHERE external_id = $1`, accountID).Scan(&ref)
		}
		if err != nil {
			return 0, fmt.Errorf("account %q: %w", accountID, err)
		}
		return ref, nil
	}
	err := t.tx.QueryRowContext(ctx, t.s.d.sql(`SELECT id FROM accounts WHERE external_id = $1`), accountID).Scan(&ref)
	if err == nil {
		return ref, nil
	}
	if err != sql.ErrNoRows {
		return 0, fmt.Errorf("account %q: %w", accountID, err)
	}
	// The one writer found none, so the insert creates it (RETURNING
	// its id); ON CONFLICT stays for a database another process writes.
	err = t.tx.QueryRowContext(ctx, t.s.d.sql(`INSERT INTO accounts (external_id, created_at) VALUES ($1, $2)
		ON CONFLICT (external_id) DO NOTHING RETURNING id`), accountID, t.now).Scan(&ref)
	if err == nil {
		t.accountCreated(ref)
	}
	if err == sql.ErrNoRows {
		err = t.tx.QueryRowContext(ctx, t.s.d.sql(`SELECT id FROM accounts WHERE external_id = $1`), accountID).Scan(&ref)
	}
	if err != nil {
		return 0, fmt.Errorf("create account %q: %w", accountID, err)
	}
	return ref, nil
}

// accountCreated notes an account this transaction inserted.
func (t *txn) accountCreated(ref int) {
	if t.createdAccounts == nil {
		t.createdAccounts = map[int]bool{}
	}
	t.createdAccounts[ref] = true
}

// LockAccount implements engine.Tx.
func (t *txn) LockAccount(ctx context.Context, ref int, accountID string) (*engine.AccountState, error) {
	if t.createdAccounts[ref] {
		// Inserted by this transaction: locked by the insert, and nothing
		// can refer to it before it commits.
		return &engine.AccountState{ID: accountID, Items: map[string]*engine.ExistingItem{}, Steps: map[string]*engine.ExistingStep{}}, nil
	}
	if t.s.d.postgres {
		// Its own statement: what follows must start after the lock is
		// held, to see what the order that held it before committed.
		if _, err := t.exec(ctx, `SELECT id FROM accounts WHERE id = $1 FOR UPDATE`, ref); err != nil {
			return nil, fmt.Errorf("lock account: %w", err)
		}
	} // SQLite has one writer: nothing to lock
	st, err := accountState(ctx, t, t.s.d, "a.id = $1", "$1", accountID, ref)
	if err == nil && st == nil {
		err = fmt.Errorf("account %d (%q) not found", ref, accountID)
	}
	return st, err
}

// InsertOrder implements engine.Tx.
func (t *txn) InsertOrder(ctx context.Context, o *engine.NewOrder) ([]*engine.StepRecord, error) {
	var newItems []*engine.Item
	for _, it := range o.Items {
		if it.Existing == nil {
			newItems = append(newItems, it)
		}
	}
	p := o.Plan
	counts := map[string]int{"orders": 1, "order_lines": len(o.Lines), "fulfillment_lines": len(newItems)}
	planCounts(p, counts)
	ids, err := t.allocIDs(ctx, counts)
	if err != nil {
		return nil, err
	}
	o.ID = ids["orders"][0]
	status := engine.OrderSubmitted
	if o.Approval != "" {
		status = engine.OrderAwaitingApproval
	}
	t.deferInserts = t.s.d.postgres
	if err := t.bulkInsert(ctx, "orders", []string{"id", "external_id", "account_id", "account_ref", "status", "attributes",
		"input_hash", "requested_completion", "catalog_version_id", "created_at", "updated_at", "submitted_by", "approval_rule"},
		[][]any{{o.ID, o.ExternalID, o.AccountID, o.AccountRef, string(status), jsonValue(o.Attributes), o.InputHash,
			o.RequestedCompletion, o.CatalogID, t.now, t.now, nullStr(o.SubmittedBy), nullStr(o.Approval)}}); err != nil {
		return nil, fmt.Errorf("insert order: %w", err)
	}
	o.LineIDs = map[string]int{}
	for i, l := range o.Lines {
		o.LineIDs[l.ID] = ids["order_lines"][i]
	}
	if err := t.bulkInsertEach(ctx, "order_lines", []string{"id", "order_id", "line_id", "product_code", "quantity", "attributes",
		"parent_ref", "parent_line_id", "action", "asset_id", "status", "missing", "position", "generated"}, len(o.Lines), func(i int) []any {
		l := o.Lines[i]
		var parent any
		if l.ParentID != "" {
			parent = o.LineIDs[l.ParentID]
		}
		return []any{o.LineIDs[l.ID], o.ID, l.ID, l.ProductCode, l.Quantity, jsonValue(l.Attributes), parent,
			nullStr(l.ParentID), string(l.Action), nullInt(l.AssetID), string(l.Status), jsonStrings(l.Missing), l.Position, l.Generated}
	}); err != nil {
		return nil, err
	}
	for i, it := range newItems {
		it.ID = ids["fulfillment_lines"][i]
	}
	if err := t.insertItems(ctx, o.ID, 0, o.AccountRef, newItems, o.LineIDs); err != nil {
		return nil, err
	}
	p.OrderID = o.ID
	recs, err := t.insertPlan(ctx, p, ids)
	if err != nil {
		return nil, err
	}
	if err := t.flushInserts(ctx); err != nil {
		return nil, err
	}
	return recs, nil
}

func (t *txn) insertItems(ctx context.Context, orderID, planID, accountRef int, items []*engine.Item, lineIDs map[string]int) error {
	var sources [][]any
	for _, it := range items {
		for _, src := range it.Sources {
			if id, ok := lineIDs[src]; ok {
				sources = append(sources, []any{it.ID, id})
			}
		}
	}
	if err := t.bulkInsertEach(ctx, "fulfillment_lines", []string{"id", "order_id", "plan_id", "account_ref", "key", "product_code",
		"rule", "scope", "quantity", "attributes", "bundle_key", "created_at"}, len(items), func(i int) []any {
		it := items[i]
		var acct any
		if it.Scope == engine.DecomposeAccount {
			acct = accountRef
		}
		return []any{it.ID, nullInt(orderID), nullInt(planID), acct, it.Key, it.ProductCode, it.Rule,
			string(it.Scope), it.Quantity, jsonValue(it.Attributes), nullStr(it.BundleKey), t.now}
	}); err != nil {
		return err
	}
	return t.bulkInsert(ctx, "fulfillment_line_sources", []string{"fulfillment_line_id", "order_line_id"}, sources)
}

func planCounts(p *engine.NewPlan, counts map[string]int) {
	if !p.Extend {
		counts["plans"] = 1
	}
	for _, g := range p.Graph.Groups {
		if _, ok := p.Groups[g.Scenario+"|"+g.Name]; !ok {
			counts["step_groups"]++
		}
	}
	counts["steps"] = len(p.Graph.Steps)
	n := 0
	for _, it := range p.Items {
		if it.Existing == nil && it.ID == 0 {
			n++
		}
	}
	counts["fulfillment_lines"] += n
}

// InsertPlan implements engine.Tx.
func (t *txn) InsertPlan(ctx context.Context, p *engine.NewPlan) ([]*engine.StepRecord, error) {
	counts := map[string]int{}
	planCounts(p, counts)
	ids, err := t.allocIDs(ctx, counts)
	if err != nil {
		return nil, err
	}
	t.deferInserts = t.s.d.postgres
	recs, err := t.insertPlan(ctx, p, ids)
	if err == nil {
		err = t.flushInserts(ctx)
	}
	t.pending, t.deferInserts = nil, false
	if err != nil && uniqueViolation(err) && p.Usage == engine.UsageGeneric {
		// The one unique key a plan can meet: (type, subject) of GENERIC
		// plans. On PostgreSQL the insert runs in flushInserts, on SQLite
		// in insertPlan; both end here.
		return nil, engine.Errorf(engine.CodeConflict, "an orchestration of type %q for subject %q was started concurrently", p.Type, p.SubjectID)
	}
	return recs, err
}

// insertPlan writes a plan with ids already allocated.
func (t *txn) insertPlan(ctx context.Context, p *engine.NewPlan, ids map[string][]int) ([]*engine.StepRecord, error) {
	g := p.Graph
	newSteps := g.Steps
	if !p.Extend {
		p.ID = ids["plans"][0]
		open := 0
		for _, s := range newSteps {
			if !s.Status.Done() {
				open++
			}
		}
		if err := t.bulkInsert(ctx, "plans", []string{"id", "order_id", "usage", "type", "subject_id", "context", "context_hash",
			"status", "catalog_version_id", "open_steps", "awaiting_lines", "requested_completion", "created_at", "group_key", "trace_parent"},
			[][]any{{p.ID, nullInt(p.OrderID), string(p.Usage), p.Type, nullStr(p.SubjectID), jsonValue(p.Context), nullStr(p.ContextHash),
				string(engine.PlanPending), p.CatalogID, open, p.AwaitingLines, p.RequestedCompletion, t.now, nullStr(p.GroupKey), nullStr(p.TraceParent)}}); err != nil {
			return nil, fmt.Errorf("insert plan: %w", err)
		}
	}
	// Items that come with the plan (generic items; items of lines
	// decomposed late).
	var planItems []*engine.Item
	fl := ids["fulfillment_lines"]
	for _, it := range p.Items {
		if it.Existing == nil && it.ID == 0 {
			it.ID = fl[len(fl)-1-len(planItems)]
			planItems = append(planItems, it)
		}
	}
	if len(planItems) > 0 {
		planID := 0
		if p.Usage == engine.UsageGeneric {
			planID = p.ID
		}
		if err := t.insertItems(ctx, p.OrderID, planID, p.AccountRef, planItems, p.LineIDs); err != nil {
			return nil, err
		}
	}
	groupIDs := map[*engine.PlannedGroup]int{}
	var groupRows [][]any
	next := 0
	for _, grp := range g.Groups {
		if id, ok := p.Groups[grp.Scenario+"|"+grp.Name]; ok {
			groupIDs[grp] = id // extending a plan: the swimlane exists
			continue
		}
		id := ids["step_groups"][next]
		next++
		groupIDs[grp] = id
		groupRows = append(groupRows, []any{id, p.ID, grp.Name, grp.Scenario, grp.Position})
	}
	if err := t.bulkInsert(ctx, "step_groups", []string{"id", "plan_id", "name", "scenario", "position"}, groupRows); err != nil {
		return nil, err
	}
	recs := make([]*engine.StepRecord, len(newSteps))
	stepIDs := make(map[*engine.NewStep]int, len(newSteps))
	for i, ps := range newSteps {
		rec := p.StepRecord(ps, ids["steps"][i], groupIDs[ps.Group], t.now)
		rec.Frozen = p.Frozen
		recs[i] = rec
		stepIDs[ps] = rec.ID
	}
	if err := t.bulkInsertEach(ctx, "steps", stepInsertColumns, len(recs), func(i int) []any {
		return stepInsertRow(recs[i], newSteps[i].PointOfNoReturn)
	}); err != nil {
		return nil, err
	}
	if err := t.bulkInsertEach(ctx, "step_dependencies", []string{"step_id", "prerequisite_id"}, len(g.Deps), func(i int) []any {
		// Planning only emits dependencies with at least one new side: an
		// existing step that takes a new prerequisite gets the row too.
		d := g.Deps[i]
		sid, pid := stepIDs[d.Step], stepIDs[d.Prereq]
		if sid == 0 {
			sid = d.StepID
		}
		if pid == 0 {
			pid = d.PrereqID
		}
		return []any{sid, pid}
	}); err != nil {
		return nil, err
	}
	return recs, nil
}

var stepInsertColumns = []string{"id", "plan_id", "group_id", "order_id", "fulfillment_line_id", "account_ref", "name", "scenario",
	"type", "scope", "instance_key", "bundle_key", "status", "jeopardy", "queue", "assignee", "system", "point_of_no_return",
	"pending", "attempt_count", "ready_at", "completed_at", "created_at", "updated_at", "compensates", "frozen"}

func stepInsertRow(r *engine.StepRecord, pnr bool) []any {
	return []any{r.ID, r.PlanID, r.GroupID, nullInt(r.OrderID), nullInt(r.ItemID), nullInt(r.AccountRef), r.Name, r.Scenario,
		string(r.Type), string(r.Scope), r.InstanceKey, nullStr(r.BundleKey), string(r.Status), string(r.Jeopardy),
		nullStr(r.Queue), nullStr(r.Assignee), nullStr(r.System), pnr, r.Pending, r.Attempts, r.ReadyAt, r.CompletedAt,
		r.UpdatedAt, r.UpdatedAt, nullInt(r.Compensates), r.Frozen}
}

// timeScan reads a nullable time column; SQLite hands back text for some
// expressions.
type timeScan struct {
	t     time.Time
	valid bool
}

func (s *timeScan) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		s.valid = false
		return nil
	case time.Time:
		s.t, s.valid = v.UTC(), true
		return nil
	case string:
		return s.parse(v)
	case []byte:
		return s.parse(string(v))
	}
	return fmt.Errorf("scan time: unexpected %T", src)
}

var timeLayouts = []string{"2006-01-02 15:04:05.999999999-07:00", time.RFC3339Nano, "2006-01-02 15:04:05.999999999 -0700 MST", "2006-01-02 15:04:05"}

func (s *timeScan) parse(v string) error {
	for _, layout := range timeLayouts {
		if t, err := time.Parse(layout, v); err == nil {
			s.t, s.valid = t.UTC(), true
			return nil
		}
	}
	return fmt.Errorf("scan time: cannot parse %q", v)
}

func (s *timeScan) ptr() *time.Time {
	if !s.valid {
		return nil
	}
	t := s.t
	return &t
}

func scanEvents(rows *sql.Rows) ([]*engine.Event, error) {
	defer rows.Close()
	var out []*engine.Event
	for rows.Next() {
		var e engine.Event
		var kind string
		var at timeScan
		var data []byte
		if err := rows.Scan(&e.ID, &kind, intScan{&e.OrderID}, intScan{&e.PlanID}, intScan{&e.StepID}, strScan{&e.From},
			&e.To, &at, strScan{&e.Actor}, strScan{&e.Note}, &data, strScan{&e.Account}); err != nil {
			return nil, fmt.Errorf("scan event: %w", err)
		}
		e.Kind, e.At = engine.EventKind(kind), engine.EventTime(at.t)
		if len(data) > 0 {
			var d eventData
			if err := json.Unmarshal(data, &d); err != nil {
				return nil, fmt.Errorf("decode event %d: %w", e.ID, err)
			}
			e.Step, e.System = d.Step, d.System
		}
		out = append(out, &e)
	}
	return out, rows.Err()
}
