// Package entstore is Baton's storage adapter: the engine.Store over
// database/sql, for SQLite (the embedded default, modernc's pure-Go driver)
// and PostgreSQL (lib/pq). ent owns the schema and its migration and serves
// the GraphQL reads (Client); the engine's hot paths use the hand-written
// SQL in this package.
package entstore

import (
	"context"
	crand "crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"
	"github.com/lib/pq"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"go.opentelemetry.io/otel/trace"

	"github.com/batonhq/baton/engine"
	"github.com/batonhq/baton/engine/tracing"
	"github.com/batonhq/baton/ent"
	"github.com/batonhq/baton/ent/migrate"
)

// Options configure Open. The zero value works.
type Options struct {
	Clock  engine.Clock // default engine.SystemClock
	Logger *slog.Logger // default slog.Default()
	// MaxConns caps PostgreSQL connections (default 40: three quarters
	// for the engine, a quarter for GraphQL's queries). SQLite always has
	// one writer connection and up to MaxConns readers.
	MaxConns int
	// Driver wraps the ent driver used for reads (tests count queries).
	Driver func(dialect.Driver) dialect.Driver
	// Writers is how many transactions write at once on PostgreSQL
	// (default 4); concurrent writes share those transactions (group
	// commit). SQLite has one. Negative: no grouping, a transaction per
	// write.
	Writers int
	// TracerProvider makes a span per group-commit transaction (nil:
	// tracing off).
	TracerProvider trace.TracerProvider
}

// Store implements engine.Store.
type Store struct {
	db     *sql.DB // writes (SQLite: one connection; PostgreSQL: also the engine's reads)
	rdb    *sql.DB // reads (SQLite: a pool of read connections; PostgreSQL: GraphQL's)
	client *ent.Client
	d      *sqlDialect
	clock  engine.Clock
	log    *slog.Logger
	// taskQueues is the engine's view of queue membership (SetTaskQueues).
	taskQueues atomic.Pointer[TaskQueues]
	url        string
	sqlPath    string
	deployment string
	tracer     trace.Tracer // nil: tracing off

	wstmts *stmtCache // prepared statements of the write pool
	// colTypes maps "table.column" to its PostgreSQL type (unnest.go).
	colTypes map[string]string
	reads    cachedDB
	accounts accountCache // order id → account, for events and access checks
	idBlocks committedIDs // SQLite: ids reserved by committed writes (idblocks.go)
	// foreignKeys: a PostgreSQL database created with foreign keys (see
	// migrate), whose plans are written in one statement, never by COPY.
	foreignKeys bool

	queue         chan *writeReq
	writers       sync.WaitGroup
	writersDone   chan struct{} // closed when Close starts
	writersExited chan struct{} // closed when the last writer returned
	stopOnce      sync.Once
	closeOnce     sync.Once
	closeErr      error
	closed        atomic.Bool // set when Close begins
}

var _ engine.Store = (*Store)(nil)

// advisory lock keys (PostgreSQL).
const (
	lockMigrate = 0x62617430_00000001 // "bat0" + 1
	lockEvents  = 0x62617430_00000002
	lockCatalog = 0x62617430_00000003
)

// Open connects to the database named by rawURL (sqlite://PATH or
// postgres://...), migrates the schema (safely when several replicas start
// at once) and returns the store.
func Open(ctx context.Context, rawURL string, opts Options) (*Store, error) {
	if opts.Clock == nil {
		opts.Clock = engine.SystemClock{}
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.MaxConns <= 0 {
		opts.MaxConns = 40
	}
	s := &Store{clock: opts.Clock, log: opts.Logger, url: rawURL, tracer: tracing.Tracer(opts.TracerProvider)}
	var drvName string
	path, isSQLite := sqlitePath(rawURL)
	switch {
	case isSQLite:
		if path == "" {
			return nil, fmt.Errorf("sqlite URL %q has no path", rawURL)
		}
		s.sqlPath = path
		s.d = &sqlDialect{}
		drvName = dialect.SQLite
		// The writer's 64 MB page cache keeps a large order's transaction
		// from spilling pages before it commits. Readers (up to 8) keep
		// 8 MB each: what they miss the OS's file cache has, and eight
		// 64 MB caches would grow the server by up to half a gigabyte.
		pragmas := "_pragma=foreign_keys(1)&_pragma=journal_mode(WAL)&_pragma=busy_timeout(10000)" +
			"&_pragma=synchronous(FULL)&_pragma=temp_store(MEMORY)&_time_format=sqlite"
		w, err := sql.Open("sqlite", "file:"+path+"?"+pragmas+"&_pragma=cache_size(-65536)&_txlock=immediate")
		if err != nil {
			return nil, fmt.Errorf("open sqlite %s: %w", path, err)
		}
		w.SetMaxOpenConns(1) // the single-writer path: SQLite has one writer anyway
		w.SetMaxIdleConns(1)
		w.SetConnMaxLifetime(0)
		r, err := sql.Open("sqlite", "file:"+path+"?"+pragmas+"&_pragma=cache_size(-8192)&_pragma=query_only(1)")
		if err != nil {
			return nil, fmt.Errorf("open sqlite %s: %w", path, err)
		}
		r.SetMaxOpenConns(min(opts.MaxConns, 8))
		r.SetMaxIdleConns(min(opts.MaxConns, 8))
		s.db, s.rdb = w, r
	case isPostgres(rawURL):
		u, q, err := postgresURL(rawURL)
		if err != nil {
			return nil, err
		}
		// Two pools. The engine's own statements (every write, and the
		// engine's reads) are prepared once per connection and are all
		// lookups by key: plan each once, and never as a scan. A plan is
		// made when the statement is first prepared, which on a new or
		// fast-growing database is before autovacuum has analyzed the
		// tables; with the planner's small-table guesses a cached plan
		// would scan steps and dependencies (measured: 6M rows read per
		// 1,000 orders) until the next analyze. GraphQL's ad hoc queries
		// (filters, pages) get their own pool with the planner's defaults.
		wq := maps.Clone(q)
		for k, v := range map[string]string{
			"plan_cache_mode":  "force_generic_plan",
			"enable_seqscan":   "off",
			"enable_hashjoin":  "off",
			"enable_mergejoin": "off",
		} {
			if wq.Get(k) == "" {
				wq.Set(k, v)
			}
		}
		u.RawQuery = url.Values(wq).Encode()
		db, err := sql.Open("postgres", u.String())
		if err != nil {
			return nil, fmt.Errorf("open postgres: %w", err)
		}
		u.RawQuery = q.Encode()
		rdb, err := sql.Open("postgres", u.String())
		if err != nil {
			db.Close()
			return nil, fmt.Errorf("open postgres: %w", err)
		}
		// The engine's pool gets three quarters of the connections.
		reads := max(opts.MaxConns/4, 2)
		writes := max(opts.MaxConns-reads, 2)
		db.SetMaxOpenConns(writes)
		db.SetMaxIdleConns(writes)
		db.SetConnMaxIdleTime(5 * time.Minute)
		rdb.SetMaxOpenConns(reads)
		rdb.SetMaxIdleConns(reads)
		rdb.SetConnMaxIdleTime(5 * time.Minute)
		s.d = &sqlDialect{postgres: true}
		drvName = dialect.Postgres
		s.db, s.rdb = db, rdb
	default:
		return nil, fmt.Errorf("DATABASE_URL %q: use sqlite://PATH or postgres://...", rawURL)
	}
	if err := s.db.PingContext(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("connect to database: %w", err)
	}
	if err := s.migrate(ctx, drvName); err != nil {
		s.Close()
		return nil, err
	}
	if s.d.postgres {
		if err := s.loadColumnTypes(ctx); err != nil {
			s.Close()
			return nil, err
		}
	}
	s.wstmts = newStmtCache(s.db)
	if s.d.postgres {
		// The engine's reads share the engine's pool (see above).
		s.reads = cachedDB{s.db, s.wstmts, &s.closed}
	} else {
		s.reads = cachedDB{s.rdb, newStmtCache(s.rdb), &s.closed}
	}
	var drv dialect.Driver = entsql.OpenDB(drvName, s.rdb)
	if !s.d.postgres {
		drv = inListDriver{drv}
	}
	drv = closedDriver{drv, &s.closed}
	if opts.Driver != nil {
		drv = opts.Driver(drv)
	}
	s.client = ent.NewClient(ent.Driver(drv))
	ScopeReads(s.client, &s.taskQueues)
	switch {
	case opts.Writers < 0:
	case !s.d.postgres:
		s.startWriters(1)
	case opts.Writers == 0:
		s.startWriters(4)
	default:
		s.startWriters(opts.Writers)
	}
	return s, nil
}

// migrateMu serializes migrations within a process: ent's migration
// writes to the package-level table descriptions it reads.
var migrateMu sync.Mutex

// sqlitePath is the file of a sqlite:PATH or sqlite://PATH URL.
func sqlitePath(rawURL string) (path string, ok bool) {
	if !strings.HasPrefix(rawURL, "sqlite:") {
		return "", false
	}
	return strings.TrimPrefix(strings.TrimPrefix(rawURL, "sqlite:"), "//"), true
}

func isPostgres(rawURL string) bool {
	return strings.HasPrefix(rawURL, "postgres://") || strings.HasPrefix(rawURL, "postgresql://")
}

// postgresURL parses a PostgreSQL URL and returns it with its query and
// the defaults Baton adds: binary parameters (one round trip per
// parameterized statement instead of two) and no TLS on the loopback.
func postgresURL(rawURL string) (*url.URL, url.Values, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, nil, fmt.Errorf("parse DATABASE_URL: %w", err)
	}
	q := u.Query()
	if q.Get("binary_parameters") == "" {
		q.Set("binary_parameters", "yes")
	}
	if q.Get("sslmode") == "" && (u.Hostname() == "127.0.0.1" || u.Hostname() == "localhost") {
		q.Set("sslmode", "disable")
	}
	return u, q, nil
}

// migrate creates or updates the schema. On PostgreSQL an advisory lock
// makes replicas that start together migrate one after the other.
func (s *Store) migrate(ctx context.Context, drvName string) error {
	migrateMu.Lock()
	defer migrateMu.Unlock()
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	defer conn.Close()
	if s.d.postgres {
		if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_lock($1)", int64(lockMigrate)); err != nil {
			return fmt.Errorf("migrate: take lock: %w", err)
		}
		defer conn.ExecContext(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", int64(lockMigrate))
	}
	// The migration runs on its own client over the write pool; on SQLite
	// that pool is the one connection, which conn holds: release it first.
	if !s.d.postgres {
		conn.Close()
	}
	mc := ent.NewClient(ent.Driver(entsql.OpenDB(drvName, s.db)))
	// Foreign key constraints on SQLite, not on PostgreSQL. There, the
	// row-by-row reference checks cost 56% of storing a 10,000-line order
	// (7.0 of 12.5 s) and about a tenth of the database's CPU per order at
	// steady state. The engine writes a plan's rows in one statement with
	// ids it allocated in the same transaction, and nothing deletes them,
	// so the references hold by construction; CheckIntegrity checks them
	// after the fact (every engine and API test ends with it, on both
	// stores). A PostgreSQL database created with foreign keys keeps them.
	if err := mc.Schema.Create(ctx, migrate.WithForeignKeys(!s.d.postgres)); err != nil {
		return fmt.Errorf("migrate schema: %w", err)
	}
	if s.d.postgres {
		if err := s.db.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM pg_constraint
			WHERE contype = 'f' AND conrelid = 'steps'::regclass)`).Scan(&s.foreignKeys); err != nil {
			return fmt.Errorf("read foreign keys: %w", err)
		}
	}
	// Indexes ent cannot declare (on a join table), the removal of ones
	// it no longer declares, and the deployment's identity.
	for _, q := range []string{
		"CREATE INDEX IF NOT EXISTS step_dependencies_prerequisite_id ON step_dependencies (prerequisite_id)",
		"CREATE INDEX IF NOT EXISTS fulfillment_line_sources_order_line_id ON fulfillment_line_sources (order_line_id)",
		"CREATE TABLE IF NOT EXISTS baton_deployment (id TEXT PRIMARY KEY)",
		// Analytics rollups of finished days (analytics.go): a cache the
		// analytics query fills, not part of ent's model.
		"CREATE TABLE IF NOT EXISTS analytics_days (dimension TEXT NOT NULL, day TEXT NOT NULL, data TEXT NOT NULL, PRIMARY KEY (dimension, day))",
		// Full indexes that partial ones replaced (ent/schema/step.go).
		"DROP INDEX IF EXISTS step_status_ready_at",
		"DROP INDEX IF EXISTS step_queue_status",
		"DROP INDEX IF EXISTS step_system_status",
		"DROP INDEX IF EXISTS step_fulfillment_line_id",
		"DROP INDEX IF EXISTS step_system_on_hold",
		"DROP INDEX IF EXISTS event_step_id",
	} {
		if _, err := s.db.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("migrate: %s: %w", q, err)
		}
	}
	if s.d.postgres {
		// Room on each page for a step's next versions: an update that
		// changes no indexed column is then HOT (written in place on the
		// page, no index entries), which is what counting prerequisites
		// off is. Applies to pages written from now on.
		if _, err := s.db.ExecContext(ctx, "ALTER TABLE steps SET (fillfactor = 80)"); err != nil {
			return fmt.Errorf("migrate: steps fillfactor: %w", err)
		}
	}
	var b [8]byte
	crand.Read(b[:])
	if _, err := s.db.ExecContext(ctx, s.d.sql(`INSERT INTO baton_deployment (id) SELECT $1 WHERE NOT EXISTS (SELECT 1 FROM baton_deployment)`),
		hex.EncodeToString(b[:])); err != nil {
		return fmt.Errorf("migrate: deployment id: %w", err)
	}
	if err := s.db.QueryRowContext(ctx, `SELECT id FROM baton_deployment LIMIT 1`).Scan(&s.deployment); err != nil {
		return fmt.Errorf("migrate: deployment id: %w", err)
	}
	return nil
}

// DeploymentID names the database: every replica of one deployment reads
// the same id; another deployment (another database) has another.
func (s *Store) DeploymentID() string { return s.deployment }

// Client is the ent client for reads (GraphQL queries).
func (s *Store) Client() *ent.Client { return s.client }

// Postgres reports whether the store is on PostgreSQL.
func (s *Store) Postgres() bool { return s.d.postgres }

// DB is the write pool (for tests and diagnostics).
func (s *Store) DB() *sql.DB { return s.db }

// Close releases the database.
func (s *Store) Close() error {
	s.closed.Store(true)
	s.closeOnce.Do(func() { s.closeErr = s.close() })
	return s.closeErr
}

func (s *Store) close() error {
	s.stopWriters()
	if s.wstmts != nil {
		s.wstmts.close()
		s.reads.c.close() // the same cache on PostgreSQL: close is idempotent
	}
	var errs []error
	if s.client != nil {
		errs = append(errs, s.client.Close())
	}
	if s.db != nil {
		errs = append(errs, s.db.Close())
	}
	if s.rdb != nil && s.rdb != s.db {
		errs = append(errs, s.rdb.Close())
	}
	return errors.Join(errs...)
}

// Write implements engine.Store.
func (s *Store) Write(ctx context.Context, fn func(engine.Tx) error) ([]*engine.Event, error) {
	if s.queue != nil {
		r := &writeReq{ctx: ctx, fn: fn, done: make(chan struct{})}
		select {
		case s.queue <- r:
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-s.writersDone:
			return nil, errStoreClosed
		}
		select {
		case <-r.done:
		case <-s.writersExited:
			// No writer is left: r ran (and done is closed) or it never
			// will.
			select {
			case <-r.done:
			default:
				return nil, errStoreClosed
			}
		}
		if r.err != nil {
			return nil, markRefused(r.err)
		}
		return r.events, nil
	}
	for attempt := 1; ; attempt++ {
		events, err := s.write(ctx, fn)
		if err == nil || !retryable(err) || attempt == 8 || ctx.Err() != nil {
			return events, markRefused(err)
		}
		s.log.Debug("retrying transaction", "attempt", attempt, "err", err)
		// Back off a little, with jitter, so that two transactions that
		// deadlocked do not meet again at once.
		time.Sleep(time.Duration(rand.IntN(attempt*2000)+500) * time.Microsecond)
	}
}

func (s *Store) write(ctx context.Context, fn func(engine.Tx) error) ([]*engine.Event, error) {
	sqlTx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("begin: %w", err)
	}
	t := &txn{s: s, tx: cachedTx{sqlTx, s.wstmts}, now: s.clock.Now().UTC()}
	if err := fn(t); err != nil {
		sqlTx.Rollback()
		return nil, err
	}
	if err := t.flushAudits(ctx); err != nil {
		sqlTx.Rollback()
		return nil, err
	}
	if err := t.flushEvents(ctx); err != nil {
		sqlTx.Rollback()
		return nil, err
	}
	if err := sqlTx.Commit(); err != nil {
		return nil, fmt.Errorf("commit: %w", err)
	}
	s.idBlocks.add(t.own)
	return t.events, nil
}

// retryable reports a transaction that failed only because of another one:
// a serialization failure or deadlock (PostgreSQL), a busy database (SQLite).
func retryable(err error) bool {
	var pqErr *pq.Error
	if errors.As(err, &pqErr) {
		switch pqErr.Code {
		case "40001", "40P01": // serialization_failure, deadlock_detected
			return true
		}
	}
	var sqErr *sqlite.Error
	if errors.As(err, &sqErr) {
		switch sqErr.Code() & 0xff {
		case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED:
			return true
		}
	}
	return false
}

// refusedByDatabase reports an error the database gave because of what
// was written, which writing it again cannot change: a data exception
// (PostgreSQL class 22: a NUL in text or jsonb, invalid UTF-8, a number out
// of range), an integrity constraint (23), a program limit (54: an index
// entry too large, a value nested too deep); on SQLite a constraint, a
// value too big or of the wrong type.
func refusedByDatabase(err error) bool {
	var pqErr *pq.Error
	if errors.As(err, &pqErr) {
		switch pqErr.Code.Class() {
		case "22", "23", "54":
			return true
		}
		return false
	}
	var sqErr *sqlite.Error
	if errors.As(err, &sqErr) {
		switch sqErr.Code() & 0xff {
		case sqlite3.SQLITE_CONSTRAINT, sqlite3.SQLITE_TOOBIG, sqlite3.SQLITE_MISMATCH:
			return true
		}
	}
	return false
}

// refusedError is a write's error marked engine.ErrRefused; its message
// and what errors.As finds in it are the original's.
type refusedError struct{ err error }

func (e *refusedError) Error() string   { return e.err.Error() }
func (e *refusedError) Unwrap() []error { return []error{e.err, engine.ErrRefused} }

// markRefused marks the error of a write that failed because of what it
// wrote (see engine.ErrRefused); other errors, and nil, it returns as
// they are.
func markRefused(err error) error {
	if err == nil || errors.Is(err, engine.ErrRefused) || !refusedByDatabase(err) {
		return err
	}
	return &refusedError{err}
}

// refused marks err (not nil) as a refusal whatever caused it: for
// failures of the store's own encoding, which recur with the same values.
func refused(err error) error { return &refusedError{err} }

// uniqueViolation reports a unique constraint failure.
func uniqueViolation(err error) bool {
	var pqErr *pq.Error
	if errors.As(err, &pqErr) {
		return pqErr.Code == "23505"
	}
	var sqErr *sqlite.Error
	if errors.As(err, &sqErr) {
		return sqErr.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || sqErr.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
	}
	return false
}

// query and exec run a dialect query on the read pool.
func (s *Store) query(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	return s.reads.QueryContext(ctx, s.d.sql(q), args...)
}

// CurrentCatalog implements engine.Store.
func (s *Store) CurrentCatalog(ctx context.Context) (*engine.CatalogRecord, error) {
	rows, err := s.query(ctx, `SELECT id, version, document, checksum, created_at FROM catalog_versions ORDER BY version DESC LIMIT 1`)
	if err != nil {
		return nil, fmt.Errorf("current catalog: %w", err)
	}
	recs, err := scanCatalogs(rows)
	if err != nil || len(recs) == 0 {
		return nil, err
	}
	return recs[0], nil
}

// CatalogByID implements engine.Store.
func (s *Store) CatalogByID(ctx context.Context, id int) (*engine.CatalogRecord, error) {
	return catalogByID(ctx, s.reads, s.d, id)
}

// CatalogByID implements engine.Tx.
func (t *txn) CatalogByID(ctx context.Context, id int) (*engine.CatalogRecord, error) {
	return catalogByID(ctx, t, t.s.d, id)
}

func catalogByID(ctx context.Context, db querier, d *sqlDialect, id int) (*engine.CatalogRecord, error) {
	rows, err := db.QueryContext(ctx, d.sql(`SELECT id, version, document, checksum, created_at FROM catalog_versions WHERE id = $1`), id)
	if err != nil {
		return nil, fmt.Errorf("catalog %d: %w", id, err)
	}
	recs, err := scanCatalogs(rows)
	if err != nil {
		return nil, err
	}
	if len(recs) == 0 {
		return nil, engine.Errorf(engine.CodeNotFound, "catalog version %d not found", id)
	}
	return recs[0], nil
}

func scanCatalogs(rows *sql.Rows) ([]*engine.CatalogRecord, error) {
	defer rows.Close()
	var out []*engine.CatalogRecord
	for rows.Next() {
		var c engine.CatalogRecord
		var at timeScan
		if err := rows.Scan(&c.ID, &c.Version, &c.Document, &c.Checksum, &at); err != nil {
			return nil, fmt.Errorf("scan catalog: %w", err)
		}
		c.CreatedAt = at.t
		out = append(out, &c)
	}
	return out, rows.Err()
}

// OrderByExternalID implements engine.Store.
func (s *Store) OrderByExternalID(ctx context.Context, externalID string) (*engine.OrderRecord, error) {
	return orderByExternalID(ctx, s.reads, s.d, externalID)
}

type querier interface {
	QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error)
}

func orderByExternalID(ctx context.Context, db querier, d *sqlDialect, externalID string) (*engine.OrderRecord, error) {
	rows, err := db.QueryContext(ctx, d.sql(`SELECT o.id, o.external_id, o.account_id, o.account_ref, o.input_hash, o.status,
		o.catalog_version_id, p.id FROM orders o LEFT JOIN plans p ON p.order_id = o.id WHERE o.external_id = $1`), externalID)
	if err != nil {
		return nil, fmt.Errorf("order by external id: %w", err)
	}
	defer rows.Close()
	if !rows.Next() {
		return nil, rows.Err()
	}
	var o engine.OrderRecord
	var status string
	if err := rows.Scan(&o.ID, &o.ExternalID, &o.AccountID, &o.AccountRef, &o.InputHash, &status, &o.CatalogID, intScan{&o.PlanID}); err != nil {
		return nil, fmt.Errorf("scan order: %w", err)
	}
	o.Status = engine.OrderStatus(status)
	return &o, rows.Err()
}

// AccountState implements engine.Store: one statement, none for the
// account's ref first.
func (s *Store) AccountState(ctx context.Context, accountID string) (*engine.AccountState, error) {
	st, err := accountState(ctx, s.reads, s.d, "a.external_id = $1", "SELECT id FROM accounts WHERE external_id = $1", accountID, accountID)
	if err != nil || st != nil {
		return st, err
	}
	return &engine.AccountState{ID: accountID}, nil // no such account yet
}

// accountState reads an account's attributes, its ACCOUNT-scope items
// and its ACCOUNT-scope steps in one statement: a row 'a' for the account,
// then 'i' per item and 's' per step. account selects the account row
// (alias a) and ref is a subquery or parameter for its id. It returns nil
// when there is no such account.
func accountState(ctx context.Context, db querier, d *sqlDialect, account, ref string, accountID string, arg any) (*engine.AccountState, error) {
	rows, err := db.QueryContext(ctx, d.sql(`SELECT 'a', a.id, NULL, NULL, NULL, NULL, a.attributes FROM accounts a WHERE `+account+`
		UNION ALL SELECT 'i', f.id, f.key, f.rule, f.product_code, f.quantity, f.attributes FROM fulfillment_lines f
			WHERE f.account_ref = (`+ref+`) AND f.scope = 'ACCOUNT'
		UNION ALL SELECT 's', s.id, s.name, s.status, NULL, NULL, NULL FROM steps s
			WHERE s.account_ref = (`+ref+`) AND s.scope = 'ACCOUNT'`), arg)
	if err != nil {
		return nil, fmt.Errorf("account state: %w", err)
	}
	defer rows.Close()
	st := &engine.AccountState{ID: accountID, Items: map[string]*engine.ExistingItem{}, Steps: map[string]*engine.ExistingStep{}}
	found := false
	for rows.Next() {
		var kind string
		var id int
		var a, b, code sql.NullString
		var quantity sql.NullInt64
		var attrs map[string]any
		if err := rows.Scan(&kind, &id, &a, &b, &code, &quantity, jsonScan{&attrs}); err != nil {
			return nil, fmt.Errorf("scan account state: %w", err)
		}
		switch kind {
		case "a":
			found, st.Attributes = true, attrs
		case "i":
			st.Items[b.String] = &engine.ExistingItem{ID: id, Key: a.String, Rule: b.String, ProductCode: code.String,
				Quantity: int(quantity.Int64), Attributes: attrs}
		case "s":
			st.Steps[a.String] = &engine.ExistingStep{ID: id, Name: a.String, Status: engine.StepStatus(b.String)}
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if !found {
		return nil, nil
	}
	return st, nil
}

// EventsAfter implements engine.Store.
func (s *Store) EventsAfter(ctx context.Context, after int64, limit int) ([]*engine.Event, error) {
	rows, err := s.query(ctx, `SELECT `+eventColumns+` FROM events WHERE id > $1 ORDER BY id LIMIT $2`, after, limit)
	if err != nil {
		return nil, fmt.Errorf("events after %d: %w", after, err)
	}
	return scanEvents(rows)
}

// EventsFor implements engine.Store.
func (s *Store) EventsFor(ctx context.Context, f engine.EventQuery) ([]*engine.Event, error) {
	q := `SELECT ` + eventColumns + ` FROM events WHERE id > $1`
	args := []any{f.After}
	if f.OrderID != 0 {
		args = append(args, f.OrderID)
		q += fmt.Sprintf(" AND order_id = $%d", len(args))
	}
	if f.PlanID != 0 {
		args = append(args, f.PlanID)
		q += fmt.Sprintf(" AND plan_id = $%d", len(args))
	}
	args = append(args, f.Limit)
	q += fmt.Sprintf(" ORDER BY id LIMIT $%d", len(args))
	rows, err := s.query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("events after %d: %w", f.After, err)
	}
	return scanEvents(rows)
}

// LastEventID implements engine.Store.
func (s *Store) LastEventID(ctx context.Context) (int64, error) {
	var id sql.NullInt64
	if err := s.reads.QueryRowContext(ctx, `SELECT MAX(id) FROM events`).Scan(&id); err != nil {
		return 0, fmt.Errorf("last event: %w", err)
	}
	return id.Int64, nil
}

// closedDriver answers every query of ent's client with UNAVAILABLE once
// the store is closed (the server shutting down), instead of
// database/sql's "database is closed", which would reach clients as an
// internal error.
type closedDriver struct {
	dialect.Driver
	closed *atomic.Bool
}

func (d closedDriver) Exec(ctx context.Context, query string, args, v any) error {
	if d.closed.Load() {
		return errStoreClosed
	}
	return d.Driver.Exec(ctx, query, args, v)
}

func (d closedDriver) Query(ctx context.Context, query string, args, v any) error {
	if d.closed.Load() {
		return errStoreClosed
	}
	return d.Driver.Query(ctx, query, args, v)
}

func (d closedDriver) Tx(ctx context.Context) (dialect.Tx, error) {
	if d.closed.Load() {
		return nil, errStoreClosed
	}
	return d.Driver.Tx(ctx)
}
