package orchestrator

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"reflect"
	"sync"
	"time"

	"github.com/batonhq/baton/engine"
	"github.com/batonhq/baton/engine/access"
	"github.com/batonhq/baton/engine/catalog"
	"github.com/batonhq/baton/engine/metrics"
	"github.com/batonhq/baton/engine/plan"
	"github.com/batonhq/baton/engine/tracing"
	"go.opentelemetry.io/otel/trace"
)

// Config wires an Engine. Store is required; the rest have defaults.
type Config struct {
	Store  engine.Store
	Clock  engine.Clock // default SystemClock
	Logger *slog.Logger // default slog.Default()
	// Getenv expands ${VAR} in catalog system URLs and headers (default
	// os.Getenv).
	Getenv func(string) string
	// Limits bound what one request may make the engine do (zero fields
	// take DefaultLimits).
	Limits engine.Limits
	// Policy is the role table API keys are checked against (default
	// access.DefaultPolicy()).
	Policy *access.Policy
	// Metrics receives what this replica counts (nil: nothing is counted).
	Metrics *metrics.Metrics
	// TracerProvider makes the spans of callouts and of the runner's
	// batches (nil: tracing off). README "Metrics and traces".
	TracerProvider trace.TracerProvider
	// Forecast tunes predictive jeopardy (zero: the defaults).
	Forecast ForecastConfig
}

// Engine is Baton's domain service: catalog import, order intake
// (validation, decomposition, planning) and, with its runner, execution.
// Every method that changes something does so in one transaction.
type Engine struct {
	store    auditingStore
	policy   *access.Policy
	clock    engine.Clock
	log      *slog.Logger
	getenv   func(string) string
	limits   engine.Limits
	actions  *actionRegistry
	http     *http.Client
	workerID string
	// Publish receives every committed event batch, in commit order per
	// transaction (the broker's outbox relay; nil drops them).
	publisher func([]*engine.Event)
	// signal tells other replicas there is work (nil: none to tell).
	signaler func()
	signals  chan struct{}

	systems systemCache
	metrics *metrics.Metrics
	tracer  trace.Tracer // nil: tracing off

	forecast ForecastConfig
	history  historyCache

	mu       sync.Mutex
	catalogs map[int]*catalog.Catalog // compiled, by CatalogVersion id
	run      *runner
}

// New returns an engine over the store.
func New(cfg Config) *Engine {
	if cfg.Clock == nil {
		cfg.Clock = engine.SystemClock{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Policy == nil {
		cfg.Policy = access.DefaultPolicy()
	}
	e := &Engine{store: auditingStore{cfg.Store}, policy: cfg.Policy, clock: cfg.Clock, log: cfg.Logger, getenv: cfg.Getenv, limits: cfg.Limits.WithDefaults(), catalogs: map[int]*catalog.Catalog{},
		actions: newActionRegistry(), http: newHTTPClient(), workerID: newWorkerID(), signals: make(chan struct{}, 1), metrics: cfg.Metrics,
		tracer: tracing.Tracer(cfg.TracerProvider), forecast: cfg.Forecast.withDefaults()}
	if ts, ok := cfg.Store.(interface {
		SetTaskQueues(func(context.Context, *access.Principal) ([]string, []string, error))
	}); ok {
		// Fulfillment agents list the tasks of the queues they work.
		ts.SetTaskQueues(e.taskQueues)
	}
	return e
}

// newWorkerID names this process in leases and attempts.
func newWorkerID() string {
	host, _ := os.Hostname()
	var b [4]byte
	rand.Read(b[:])
	return fmt.Sprintf("%s-%d-%x", host, os.Getpid(), b)
}

// WorkerID is this process's name in leases and attempts.
func (e *Engine) WorkerID() string { return e.workerID }

// SetPublisher installs the function that receives committed events.
func (e *Engine) SetPublisher(fn func([]*engine.Event)) { e.publisher = fn }

// SetWorkSignaler installs the function that tells other replicas there are
// READY steps to claim.
func (e *Engine) SetWorkSignaler(fn func()) { e.signaler = fn }

// NotifyWork is called when another replica signals work: the poller claims
// at once instead of at its next poll.
func (e *Engine) NotifyWork() {
	select {
	case e.signals <- struct{}{}:
	default:
	}
}

func (e *Engine) workSignal() <-chan struct{} { return e.signals }

// SystemsChanged is called when a system's status changed on another
// replica (HubConfig.OnSystemChange): the cached states are read again, and
// the releaser looks at once for callouts it may now let go.
func (e *Engine) SystemsChanged() {
	e.invalidateSystems()
	if r := e.runner(); r != nil {
		r.wakeReleaser()
	}
}

func (e *Engine) signalWork() {
	if e.signaler != nil {
		e.signaler()
	}
}

func (e *Engine) publish(events []*engine.Event) {
	if e.publisher != nil && len(events) > 0 {
		e.publisher(events)
	}
}

// Limits are the limits in force (defaults filled in).
func (e *Engine) Limits() engine.Limits { return e.limits }

// Clock is the engine's clock.
func (e *Engine) Clock() engine.Clock { return e.clock }

func (e *Engine) catalogOptions() catalog.CatalogOptions {
	return catalog.CatalogOptions{Actions: e.ActionNames(), Getenv: e.getenv, Limits: e.limits}
}

// ImportCatalog validates a catalog document completely and stores it as
// the next version, which becomes current. Errors: INVALID_CATALOG with
// every problem and its path; nothing is stored then.
func (e *Engine) ImportCatalog(ctx context.Context, text string) (*engine.CatalogRecord, error) {
	if err := access.Require(ctx, access.CatalogImport); err != nil {
		return nil, err
	}
	cat, err := catalog.CompileCatalog(text, e.catalogOptions())
	if err != nil {
		return nil, err
	}
	var rec *engine.CatalogRecord
	_, err = e.store.Write(ctx, func(tx engine.Tx) error {
		var err error
		rec, err = tx.InsertCatalog(ctx, text, cat.Checksum)
		return err
	})
	if err != nil {
		return nil, err
	}
	cat.ID, cat.Version = rec.ID, rec.Version
	e.mu.Lock()
	e.catalogs[rec.ID] = cat
	e.mu.Unlock()
	e.log.Info("catalog imported", "version", rec.Version, "id", rec.ID, "steps", len(cat.Steps))
	return rec, nil
}

// CurrentCatalog returns the compiled current catalog. Errors: NOT_FOUND
// when no catalog was imported yet.
func (e *Engine) CurrentCatalog(ctx context.Context) (*catalog.Catalog, error) {
	rec, err := e.store.CurrentCatalog(ctx)
	if err != nil {
		return nil, err
	}
	if rec == nil {
		return nil, engine.Errorf(engine.CodeNotFound, "no catalog has been imported yet: importCatalog one first")
	}
	return e.compiled(rec)
}

// CatalogByID returns a compiled catalog version. Errors: NOT_FOUND.
func (e *Engine) CatalogByID(ctx context.Context, id int) (*catalog.Catalog, error) {
	return e.catalogFrom(ctx, e.store, id)
}

// catalogInTx is CatalogByID for code holding a transaction: a miss reads
// through the transaction, never a second connection (a pool of N
// connections held by N transactions each waiting for one more would
// deadlock).
func (e *Engine) catalogInTx(ctx context.Context, tx engine.Tx, id int) (*catalog.Catalog, error) {
	return e.catalogFrom(ctx, tx, id)
}

// catalogReader is what both the store and a transaction offer: a stored
// catalog version by id.
type catalogReader interface {
	CatalogByID(ctx context.Context, id int) (*engine.CatalogRecord, error)
}

// catalogFrom is the one catalog lookup: the compiled version from the
// process's cache, or read through r and compiled once.
func (e *Engine) catalogFrom(ctx context.Context, r catalogReader, id int) (*catalog.Catalog, error) {
	e.mu.Lock()
	cat := e.catalogs[id]
	e.mu.Unlock()
	if cat != nil {
		return cat, nil
	}
	rec, err := r.CatalogByID(ctx, id)
	if err != nil {
		return nil, err
	}
	return e.compiled(rec)
}

// compiled compiles a stored version once per process.
func (e *Engine) compiled(rec *engine.CatalogRecord) (*catalog.Catalog, error) {
	e.mu.Lock()
	cat := e.catalogs[rec.ID]
	e.mu.Unlock()
	if cat != nil {
		return cat, nil
	}
	cat, err := catalog.CompileCatalog(rec.Document, e.catalogOptions())
	if err != nil {
		// A stored version compiled when it was imported; if it no longer
		// does (an action was unregistered), plans of it cannot run.
		return nil, fmt.Errorf("catalog version %d no longer compiles: %w", rec.Version, err)
	}
	cat.ID, cat.Version = rec.ID, rec.Version
	e.mu.Lock()
	e.catalogs[rec.ID] = cat
	e.mu.Unlock()
	return cat, nil
}

// inputHash fingerprints a submitted order, to tell a resubmission from a
// conflicting reuse of its externalId.
func inputHash(in *engine.OrderInput) string {
	b, err := json.Marshal(in)
	if err != nil {
		panic(fmt.Sprintf("hash order input: %v", err))
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// normalize fills defaults the way the API documents them.
func normalize(in *engine.OrderInput) {
	in.Attributes = engine.NormalizeMap(in.Attributes)
	for i := range in.Lines {
		in.Lines[i].Attributes = engine.NormalizeMap(in.Lines[i].Attributes)
		if in.Lines[i].Action == "" {
			in.Lines[i].Action = engine.ActionAdd
		}
	}
	if in.RequestedCompletion != nil {
		t := in.RequestedCompletion.UTC()
		in.RequestedCompletion = &t
	}
}

// Preview is what submitOrder would create.
type Preview struct {
	Decomposition *plan.Decomposition
	Plan          *plan.PlanGraph
}

// PreviewOrder decomposes and plans an order without writing anything.
// Errors: as SubmitOrder, except CONFLICT.
func (e *Engine) PreviewOrder(ctx context.Context, in engine.OrderInput) (*Preview, error) {
	if err := access.Require(ctx, access.OrderSubmit); err != nil {
		return nil, err
	}
	normalize(&in)
	if err := checkOrderInput(&in, e.limits); err != nil {
		return nil, err
	}
	if err := allowAccount(ctx, access.OrderSubmit, in.AccountID); err != nil {
		return nil, err
	}
	p, err := e.planOnCurrent(ctx, &in)
	if err != nil {
		return nil, err
	}
	if err := e.checkAssets(ctx, e.store, &in); err != nil {
		return nil, err
	}
	return &Preview{Decomposition: p.d, Plan: p.pg}, nil
}

// plannedOrder is an order planned outside any transaction: on the current
// catalog and on its account as the store read it then.
type plannedOrder struct {
	cat  *catalog.Catalog
	acct *engine.AccountState
	d    *plan.Decomposition
	pg   *plan.PlanGraph
}

// planOnCurrent validates a normalized, checked order against the current
// catalog and plans it on its account as read now. Errors: NOT_FOUND (no
// catalog), BAD_USER_INPUT (as planOrder).
func (e *Engine) planOnCurrent(ctx context.Context, in *engine.OrderInput) (*plannedOrder, error) {
	cat, err := e.CurrentCatalog(ctx)
	if err != nil {
		return nil, err
	}
	if err := plan.ValidateOrder(cat, in); err != nil {
		return nil, err
	}
	acct, err := e.store.AccountState(ctx, in.AccountID)
	if err != nil {
		return nil, err
	}
	d, pg, err := e.planOrder(ctx, cat, in, acct)
	if err != nil {
		return nil, err
	}
	return &plannedOrder{cat: cat, acct: acct, d: d, pg: pg}, nil
}

// decomposeAndPlan is planOrder for a caller that cannot go away.
func (e *Engine) decomposeAndPlan(cat *catalog.Catalog, in *engine.OrderInput, acct *engine.AccountState) (*plan.Decomposition, *plan.PlanGraph, error) {
	return e.planOrder(context.Background(), cat, in, acct)
}

// planOrder decomposes and plans an order, running the catalog's
// expressions on it: each evaluation within its budget (Limits), all of
// them stopping when ctx is done. Errors: BAD_USER_INPUT when an expression
// fails on the order (its budget included), or when no scenario matches.
func (e *Engine) planOrder(ctx context.Context, cat *catalog.Catalog, in *engine.OrderInput, acct *engine.AccountState) (*plan.Decomposition, *plan.PlanGraph, error) {
	return e.planOrderAfter(ctx, cat, in, acct, nil)
}

// planOrderAfter is planOrder for an order whose CROSS_PLAN dependencies
// wait for cross (see crossPlan).
func (e *Engine) planOrderAfter(ctx context.Context, cat *catalog.Catalog, in *engine.OrderInput, acct *engine.AccountState, cross map[string][]*engine.ExistingStep) (*plan.Decomposition, *plan.PlanGraph, error) {
	now := e.clock.Now()
	d, err := plan.DecomposeUntil(cat, in, acct, now, ctx.Done())
	if err != nil {
		return nil, nil, err
	}
	order := &engine.OrderView{ExternalID: in.ExternalID, AccountID: in.AccountID, Attributes: d.Attributes,
		RequestedCompletion: in.RequestedCompletion}
	for _, l := range d.Lines {
		order.Lines = append(order.Lines, plan.LineViewOf(l))
	}
	attrs := acct.Attributes
	if attrs == nil {
		attrs = map[string]any{}
	}
	pg, err := plan.BuildPlan(cat, &plan.PlanInput{
		Usage: engine.UsageSales, Order: order, Account: &engine.AccountView{ID: in.AccountID, Attributes: attrs},
		Lines: d.Lines, Items: d.Items, AccountSteps: acct.Steps, CrossSteps: cross, Now: now, Done: ctx.Done(),
	})
	if err != nil {
		return nil, nil, err
	}
	if len(pg.Scenarios) == 0 {
		return nil, nil, engine.Errorf(engine.CodeBadUserInput, "no fulfillment scenario of catalog version %d matches this order", cat.Version)
	}
	return d, pg, nil
}

// SubmitOrder validates, decomposes, plans and stores an order in one
// transaction, idempotently on ExternalID: the same input again returns the
// same order. Errors: BAD_USER_INPUT (naming the line; also when one of the
// catalog's expressions fails on the order or exceeds its budget), CONFLICT
// (the externalId was used with other input), NOT_FOUND (no catalog).
// Nothing is written on error.
//
// The catalog's expressions run before the transaction, on the account as
// it was read then: a costly evaluation holds no lock and no writer (on
// SQLite every other write would wait behind it). In the transaction the
// account is locked and read again; only if it changed meanwhile (another
// order of the account created its account items or steps) is the order
// planned again, on what the lock holds.
func (e *Engine) SubmitOrder(ctx context.Context, in engine.OrderInput) (*engine.OrderRecord, error) {
	if err := access.Require(ctx, access.OrderSubmit); err != nil {
		return nil, err
	}
	normalize(&in)
	if err := checkOrderInput(&in, e.limits); err != nil {
		return nil, err
	}
	if err := allowAccount(ctx, access.OrderSubmit, in.AccountID); err != nil {
		return nil, err
	}
	hash := inputHash(&in)
	if prev, err := e.store.OrderByExternalID(ctx, in.ExternalID); err != nil {
		return nil, err
	} else if prev != nil {
		return sameOrConflict(prev, hash)
	}
	planned, err := e.planOnCurrent(ctx, &in)
	if err != nil {
		return nil, err
	}
	cat := planned.cat
	var rec *engine.OrderRecord
	attempt := 0
	err = e.write(ctx, func(st *txState) error {
		// A concurrent submission of the same externalId makes the order
		// insert fail on the unique index; the read after the failure
		// below tells a resubmission from a conflict.
		tx := st.tx
		rec = nil
		attempt++
		ref, err := tx.EnsureAccount(ctx, in.AccountID)
		if err != nil {
			return err
		}
		acct, err := tx.LockAccount(ctx, ref, in.AccountID)
		if err != nil {
			return err
		}
		// Under the account's lock: another order of the account that
		// changes the asset commits before or after this check, not
		// between it and this order.
		if err := e.checkAssets(ctx, tx, &in); err != nil {
			return err
		}
		d, pg := planned.d, planned.pg
		// A retried transaction plans afresh: the first attempt's insert
		// wrote ids into its decomposition and plan.
		if attempt > 1 || !sameAccountState(planned.acct, acct) {
			if d, pg, err = e.planOrder(ctx, cat, &in, acct); err != nil {
				return err
			}
		}
		key, cross, err := e.crossPlan(ctx, tx, cat, &in, d, acct)
		if err != nil {
			return err
		}
		if len(cross) > 0 {
			if d, pg, err = e.planOrderAfter(ctx, cat, &in, acct, cross); err != nil {
				return err
			}
		}
		awaiting := 0
		for _, l := range d.Lines {
			if l.Status == engine.LineAwaitingData {
				awaiting++
			}
		}
		rule, err := plan.Approval(cat, decomposedInput(&in, d, acct, tx.Now()))
		if err != nil {
			return err
		}
		o := &engine.NewOrder{
			ExternalID: in.ExternalID, AccountID: in.AccountID, AccountRef: ref, Attributes: d.Attributes,
			InputHash: hash, RequestedCompletion: in.RequestedCompletion, CatalogID: cat.ID,
			SubmittedBy: ActorFrom(ctx), Lines: d.Lines, Items: d.Items,
			Plan: &engine.NewPlan{Usage: engine.UsageSales, Type: "order", CatalogID: cat.ID, AccountRef: ref, AccountID: in.AccountID, GroupKey: key,
				AwaitingLines: awaiting, RequestedCompletion: in.RequestedCompletion, Graph: pg.Rows(), TraceParent: tracing.TraceParent(ctx)},
		}
		if rule != nil {
			// Nothing starts before the approval: every step is stored
			// frozen (neither claimed nor activated) until approveOrder.
			o.Approval, o.Plan.Frozen = rule.Name, true
		}
		steps, err := tx.InsertOrder(ctx, o)
		if err != nil {
			return err
		}
		e.emitCreated(tx, o.ID, o.Plan, steps)
		status := engine.OrderSubmitted
		if o.Approval != "" {
			status = engine.OrderAwaitingApproval
		} else if err := st.readyNew(o.Plan.ID, steps); err != nil {
			return err
		}
		rec = &engine.OrderRecord{ID: o.ID, ExternalID: in.ExternalID, AccountID: in.AccountID, AccountRef: ref,
			InputHash: hash, Status: status, PlanID: o.Plan.ID, CatalogID: cat.ID}
		return nil
	})
	if err != nil {
		if prev, err2 := e.store.OrderByExternalID(ctx, in.ExternalID); err2 == nil && prev != nil {
			// Lost a race with a submission of the same externalId.
			return sameOrConflict(prev, hash)
		}
		return nil, err
	}
	return rec, nil
}

// crossPlan reads what an order's CROSS_PLAN dependencies wait for: the
// order's plan key (its scenarios' planKey over the decomposed order) and
// the unfinished steps of earlier plans with that key, by name (nil when
// the catalog has no such dependency, or nothing waits).
func (e *Engine) crossPlan(ctx context.Context, tx engine.Tx, cat *catalog.Catalog, in *engine.OrderInput, d *plan.Decomposition, acct *engine.AccountState) (string, map[string][]*engine.ExistingStep, error) {
	key, err := plan.PlanKey(cat, decomposedInput(in, d, acct, tx.Now()))
	if err != nil || key == "" {
		return "", nil, err
	}
	names := plan.CrossPlanSteps(cat)
	if len(names) == 0 {
		return key, nil, nil
	}
	cross, err := tx.CrossPlanSteps(ctx, key, names)
	if err != nil {
		return "", nil, err
	}
	if len(cross) == 0 {
		return key, nil, nil
	}
	return key, cross, nil
}

// sameAccountState reports whether two reads of an account give
// decomposition and planning the same input: its attributes, its account
// items and its account steps (a missing map and an empty one are the
// same).
func sameAccountState(a, b *engine.AccountState) bool {
	if a == nil || b == nil {
		return a == b
	}
	return sameMap(a.Attributes, b.Attributes) && sameMap(a.Items, b.Items) && sameMap(a.Steps, b.Steps)
}

func sameMap[V any](a, b map[string]V) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		w, ok := b[k]
		if !ok || !reflect.DeepEqual(v, w) {
			return false
		}
	}
	return true
}

func sameOrConflict(prev *engine.OrderRecord, hash string) (*engine.OrderRecord, error) {
	if prev.InputHash == hash {
		return prev, nil
	}
	return nil, engine.Errorf(engine.CodeConflict, "externalId %q was already submitted with different input (order %d)", prev.ExternalID, prev.ID)
}

// emitCreated records the creation of an order's (or generic) plan and its
// steps.
//
// Steps are not announced one by one: the plan event says how many were
// created (a dashboard reads the plan when it sees it), and every step's
// transitions from its first status on are events. A 10,000-line order
// would otherwise write 50,000 events of nothing happening.
func (e *Engine) emitCreated(tx engine.Tx, orderID int, p *engine.NewPlan, steps []*engine.StepRecord) {
	now := tx.Now()
	if orderID != 0 && !p.Extend {
		to := engine.OrderSubmitted
		if p.Frozen {
			to = engine.OrderAwaitingApproval
		}
		tx.Emit(&engine.Event{Kind: engine.EventOrderStatus, OrderID: orderID, PlanID: p.ID, To: string(to), At: now})
	}
	note := fmt.Sprintf("%d steps created", len(steps))
	if p.Extend {
		// The plan keeps its status (settle moves it on, with an event
		// of its own, if the new steps start it).
		tx.Emit(&engine.Event{Kind: engine.EventPlanStatus, OrderID: orderID, PlanID: p.ID, From: string(p.Status), To: string(p.Status), At: now, Note: note})
		return
	}
	tx.Emit(&engine.Event{Kind: engine.EventPlanStatus, OrderID: orderID, PlanID: p.ID, To: string(engine.PlanPending), At: now, Note: note})
}

// decomposedInput is the planning input of a decomposed order, for the
// order-level rules evaluated after decomposition (planKey, approvals).
func decomposedInput(in *engine.OrderInput, d *plan.Decomposition, acct *engine.AccountState, now time.Time) *plan.PlanInput {
	order := &engine.OrderView{ExternalID: in.ExternalID, AccountID: in.AccountID, Attributes: d.Attributes,
		RequestedCompletion: in.RequestedCompletion}
	for _, l := range d.Lines {
		order.Lines = append(order.Lines, plan.LineViewOf(l))
	}
	return &plan.PlanInput{Usage: engine.UsageSales, Order: order,
		Account: &engine.AccountView{ID: in.AccountID, Attributes: orEmpty(acct.Attributes)}, Lines: d.Lines, Items: d.Items, Now: now}
}
