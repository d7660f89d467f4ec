package engine

import (
	"context"
	"errors"
	"time"
)

// ErrRefused marks an error of a write that failed because of what it
// wrote — a value or size the database refuses, a constraint, a value the
// store cannot encode — rather than because of the connection or another
// transaction: running the same write again fails the same way. Stores
// wrap such errors (errors.Is(err, ErrRefused); the message and any code
// are the original's), so that the runner isolates the outcome at fault
// at once instead of retrying its batch.
var ErrRefused = errors.New("the database refused the write")

// Store is the engine's database boundary. One adapter (engine/entstore)
// implements it for SQLite and PostgreSQL, and one test suite
// (engine/storetest) runs against both.
type Store interface {
	// Write runs fn in one transaction. Events fn emits are written at the
	// end of the transaction with ids in commit order, and are returned
	// after the commit succeeded. On a serialization failure or deadlock
	// the transaction is rolled back and fn runs again, so fn must not have
	// effects outside tx. Errors: whatever fn returns, or INTERNAL.
	Write(ctx context.Context, fn func(tx Tx) error) ([]*Event, error)

	// APIKeyByHash returns the key whose secret hashes to hash, revoked
	// or not, or nil.
	APIKeyByHash(ctx context.Context, hash string) (*APIKey, error)
	// AuditRecords reads the audit log, newest first.
	AuditRecords(ctx context.Context, q AuditQuery) ([]*AuditRecord, error)
	// Queues reads every queue row.
	Queues(ctx context.Context) (map[string]*QueueState, error)
	// TaskCounts counts the open manual tasks of every queue that has
	// some, as of now.
	TaskCounts(ctx context.Context) (map[string]*TaskCounts, error)
	// OrderAccounts returns the accounts of the given orders; an order
	// that does not exist is left out.
	OrderAccounts(ctx context.Context, orderIDs []int) (map[int]string, error)
	// StepOwners returns, for each given step that exists, its order, the
	// order's account, its type and its queue: what an access check needs.
	StepOwners(ctx context.Context, stepIDs []int) (map[int]StepOwner, error)

	// CurrentCatalog returns the newest catalog version, or nil.
	CurrentCatalog(ctx context.Context) (*CatalogRecord, error)
	// CatalogByID returns a stored catalog version. Errors: NOT_FOUND.
	CatalogByID(ctx context.Context, id int) (*CatalogRecord, error)
	// OrderByExternalID returns the order submitted under externalID, or nil.
	OrderByExternalID(ctx context.Context, externalID string) (*OrderRecord, error)
	// AccountState returns what the account already has (nil items and
	// steps when the account is new).
	AccountState(ctx context.Context, accountID string) (*AccountState, error)
	// EventsAfter returns up to limit events with id > after, in id order.
	EventsAfter(ctx context.Context, after int64, limit int) ([]*Event, error)
	// EventsFor is EventsAfter narrowed as q says.
	EventsFor(ctx context.Context, q EventQuery) ([]*Event, error)
	// LastEventID is the id of the newest event (0 when there is none).
	LastEventID(ctx context.Context) (int64, error)
	// NextDue returns the earliest timer of any step (wake_at, lease_until,
	// jeopardy_at), or ok false when none is armed.
	NextDue(ctx context.Context) (at time.Time, ok bool, err error)
	// SystemStates reads every system's state (rows exist once a system
	// was switched or failed).
	SystemStates(ctx context.Context) (map[string]*SystemState, error)
	// Assets lists an account's assets as q selects them, oldest first.
	// Errors: BAD_USER_INPUT (no account, an unknown status, a negative
	// limit).
	Assets(ctx context.Context, q AssetQuery) ([]*Asset, error)
	// AssetsByID reads assets by id (ids that do not exist are left out).
	AssetsByID(ctx context.Context, ids []int) (map[int]*Asset, error)
	// AssetHistory reads the history of assets, oldest change first.
	AssetHistory(ctx context.Context, assetIDs []int) (map[int][]*AssetEvent, error)
	// HeldCounts counts ON_HOLD steps per system.
	HeldCounts(ctx context.Context) (map[string]int, error)
	// PlanTimelines reads what forecasting and drawing the plans needs
	// (plans that do not exist are left out).
	PlanTimelines(ctx context.Context, planIDs []int) ([]*PlanTimeline, error)
	// StepDurations reads, for each definition, the clocks (first READY
	// to completion) of its last limit COMPLETED steps, newest first,
	// across every plan and catalog version.
	StepDurations(ctx context.Context, defs []StepDefKey, limit int) (map[StepDefKey][]DurationSample, error)
	// StepContexts is Tx.StepContexts outside a transaction.
	StepContexts(ctx context.Context, ids []int) (map[int]*ExecContext, error)
	// Revisions returns the revisions of orders, oldest first, by order.
	Revisions(ctx context.Context, orderIDs []int) (map[int][]*Revision, error)
	// AnalyticsFacts reads what finished in [q.From, q.To) (README
	// "Analytics"): completed orders, finished steps and callout attempts,
	// with their values of q.GroupBy, limited to q.Accounts.
	AnalyticsFacts(ctx context.Context, q AnalyticsQuery) (*AnalyticsFacts, error)
	// AnalyticsDays reads the stored rollups of a dimension for the UTC
	// days in [from, to), by day.
	AnalyticsDays(ctx context.Context, dimension string, from, to time.Time) (map[time.Time][]byte, error)
	// SaveAnalyticsDays stores rollups of days not stored yet; a day
	// stored already is left as it is (whoever stored it computed the
	// same from the same finished rows).
	SaveAnalyticsDays(ctx context.Context, dimension string, days map[time.Time][]byte) error
	// Close releases the database.
	Close() error
}

// Tx is one write transaction. Methods return INTERNAL errors for database
// failures and the documented codes otherwise.
type Tx interface {
	// Now is the transaction's time: the engine clock's reading when the
	// transaction (or its retry) began.
	Now() time.Time
	// LockOrderApproval reads and locks what deciding an order's approval
	// needs. Errors: NOT_FOUND.
	LockOrderApproval(ctx context.Context, orderID int) (*OrderApproval, error)
	// DecideOrder records an approval decision: the order's new status
	// and who decided.
	DecideOrder(ctx context.Context, orderID int, status OrderStatus, by string) error
	// InsertAPIKey stores a new key (its ID is assigned).
	InsertAPIKey(ctx context.Context, k *APIKey) error
	// RevokeAPIKey marks a key revoked (a revoked one is left as it is)
	// and returns it. Errors: NOT_FOUND.
	RevokeAPIKey(ctx context.Context, id int, by string) (*APIKey, error)
	// InsertAudit appends a record to the audit log (At: the
	// transaction's time when zero).
	InsertAudit(ctx context.Context, r *AuditRecord) error

	// LockQueue reads and locks a queue's row, creating it when absent:
	// what assigns a queue's tasks holds it, so that assignments in one
	// queue (on any replica) take turns.
	LockQueue(ctx context.Context, name string) (*QueueState, error)
	// ReadQueue reads a queue's row without locking it (nil: none yet).
	ReadQueue(ctx context.Context, name string) (*QueueState, error)
	// SaveQueue writes a locked queue's row.
	SaveQueue(ctx context.Context, q *QueueState) error
	// QueueLoads counts a queue's open manual tasks (READY or WAITING) by
	// assignee.
	QueueLoads(ctx context.Context, queue string) (map[string]int, error)
	// LockAssignedTasks returns, locked, the open manual tasks of a queue
	// assigned to member.
	LockAssignedTasks(ctx context.Context, queue, member string) ([]*StepRecord, error)

	// CatalogByID is Store.CatalogByID inside the transaction (code that
	// holds a transaction must not wait for a second connection).
	CatalogByID(ctx context.Context, id int) (*CatalogRecord, error)
	// SystemStates is Store.SystemStates inside the transaction.
	SystemStates(ctx context.Context) (map[string]*SystemState, error)

	// InsertCatalog stores a catalog document as the next version.
	InsertCatalog(ctx context.Context, text, checksum string) (*CatalogRecord, error)

	// OrderByExternalID is Store.OrderByExternalID inside the transaction.
	OrderByExternalID(ctx context.Context, externalID string) (*OrderRecord, error)
	// EnsureAccount returns the account's row id, creating the row.
	EnsureAccount(ctx context.Context, accountID string) (int, error)
	// LockAccount returns what the account has, holding a lock on the
	// account so that concurrent orders of one account create its account
	// items and account steps once.
	LockAccount(ctx context.Context, ref int, accountID string) (*AccountState, error)
	// InsertOrder writes an order with its lines, fulfillment lines and
	// plan, assigning ids into o. It returns the records of the steps it
	// created.
	InsertOrder(ctx context.Context, o *NewOrder) ([]*StepRecord, error)
	// InsertPlan writes a plan (of an order already written, or generic),
	// its items, groups, steps and dependencies, assigning ids into p.
	// It returns the records of the steps it created.
	InsertPlan(ctx context.Context, p *NewPlan) ([]*StepRecord, error)

	// PlanBySubject returns the GENERIC plan of (type, subject), or nil.
	PlanBySubject(ctx context.Context, typ, subjectID string) (*PlanRecord, error)
	// LoadOrder reads an order with its lines, items, plan and the keys of
	// the plan's steps, locking the plan. Errors: NOT_FOUND.
	LoadOrder(ctx context.Context, orderID int) (*StoredOrder, error)
	// UpdateOrderAttributes replaces an order's attributes.
	UpdateOrderAttributes(ctx context.Context, orderID int, attrs map[string]any) error
	// UpdateLines writes lines' attributes, status and missing list.
	UpdateLines(ctx context.Context, orderID int, lines []*DecomposedLine) error
	// AddPending adds to steps' counts of open prerequisites.
	AddPending(ctx context.Context, delta map[int]int) error
	// AdjustPlan adds to a plan's counts of open steps and awaiting lines.
	AdjustPlan(ctx context.Context, d PlanDelta) error

	// Execution (the runner's transactions).

	// LockSteps reads steps, locking them, in id order. Missing ids are
	// left out.
	LockSteps(ctx context.Context, ids []int) ([]*StepRecord, error)
	// SaveSteps writes the mutable columns of steps, and counts each
	// one's Released off its pending (pending is otherwise changed only by
	// AddPending).
	SaveSteps(ctx context.Context, steps []*StepRecord) error
	// ReleaseDependents counts finished prerequisites off their dependents
	// (each id once) and returns the dependents, locked, with Released
	// the count and Pending the stored count less it. It writes nothing:
	// the caller saves every dependent it returns (SaveSteps).
	ReleaseDependents(ctx context.Context, done []int) ([]*StepRecord, error)
	// ClaimReady takes up to limit READY steps of the given types that no
	// other transaction holds (SKIP LOCKED), oldest first, locking them.
	ClaimReady(ctx context.Context, types []StepType, limit int) ([]*StepRecord, error)
	// DueSteps returns up to limit steps whose timer (wake_at) is due,
	// locked and skipping those others hold.
	DueSteps(ctx context.Context, now time.Time, limit int) ([]*StepRecord, error)
	// ExpiredLeases returns up to limit RUNNING steps whose lease ran out,
	// locked and skipping those others hold.
	ExpiredLeases(ctx context.Context, now time.Time, limit int) ([]*StepRecord, error)
	// JeopardyDue returns up to limit steps whose jeopardy_at is due,
	// locked and skipping those others hold.
	JeopardyDue(ctx context.Context, now time.Time, limit int) ([]*StepRecord, error)
	// StepContexts reads what expressions of the steps see.
	StepContexts(ctx context.Context, ids []int) (map[int]*ExecContext, error)
	// MergeAttributes merges attributes into orders and fulfillment lines.
	MergeAttributes(ctx context.Context, orders, items map[int]map[string]any) error
	// InsertAttempts records attempts.
	InsertAttempts(ctx context.Context, attempts []*Attempt) error
	// StartPlans moves PENDING plans (and their orders) to IN_PROGRESS and
	// returns the plans that moved.
	StartPlans(ctx context.Context, planIDs []int) ([]*PlanRecord, error)
	// AdjustOpenSteps adds to plans' counts of open steps and returns the
	// plans that are now finished (no open step, no line awaiting data)
	// but not yet COMPLETED, locked.
	AdjustOpenSteps(ctx context.Context, delta map[int]int) ([]*PlanRecord, error)
	// CompletePlan marks a plan and its order COMPLETED.
	CompletePlan(ctx context.Context, p *PlanRecord) error
	// OrderAssetLines reads an order's account and the lines whose
	// completion changes its assets, in line order. Errors: NOT_FOUND.
	OrderAssetLines(ctx context.Context, orderID int) (*OrderAssets, []AssetLine, error)
	// AssetsByID is Store.AssetsByID inside the transaction.
	AssetsByID(ctx context.Context, ids []int) (map[int]*Asset, error)
	// ApplyAssetChanges writes what completing an order does to its
	// account's assets (new assets get ids from the store), with a row of
	// each asset's history per change.
	ApplyAssetChanges(ctx context.Context, oa *OrderAssets) error
	// WaitingPauses returns the plan of an order and its waiting pauses,
	// locked. Errors: NOT_FOUND.
	WaitingPauses(ctx context.Context, orderID int) (planID int, steps []*StepRecord, err error)
	// LockPlanSignals locks a plan and returns the signals it received
	// (event → payload).
	LockPlanSignals(ctx context.Context, planID int) (map[string]any, error)
	// RecordSignal stores a signal on a plan, for pauses that are not
	// waiting yet.
	RecordSignal(ctx context.Context, planID int, event string, payload map[string]any) error

	// LockSystem returns a system's state, locking its row (created ONLINE
	// with no failures when the system has none yet).
	LockSystem(ctx context.Context, name string) (*SystemState, error)
	// SaveSystem writes a system's state, locked by LockSystem.
	SaveSystem(ctx context.Context, s *SystemState) error
	// ClearSystemFailures resets a system's failure count if it has one,
	// without creating or locking a row that needs no change, so that the
	// transactions of a healthy system do not queue on its row.
	ClearSystemFailures(ctx context.Context, name string) error
	// HeldSteps returns up to limit ON_HOLD steps of a system, oldest
	// first, locked and skipping those others hold.
	HeldSteps(ctx context.Context, system string, limit int) ([]*StepRecord, error)

	// Revisions of orders (amendOrder, cancelOrder).

	// LockPlanSteps reads every step of a plan, locking them, in id order.
	LockPlanSteps(ctx context.Context, planID int) ([]*StepRecord, error)
	// PlanDependencies lists a plan's dependencies between its own steps
	// as (step, prerequisite) id pairs.
	PlanDependencies(ctx context.Context, planID int) ([][2]int, error)
	// InsertRevision writes a revision of an order, assigning its ID, and
	// sets the order's revision number to it.
	InsertRevision(ctx context.Context, r *Revision) error
	// SaveRevision writes a revision's status, diff and applied time.
	SaveRevision(ctx context.Context, r *Revision) error
	// PendingRevision returns the order's FREEZING revision, or nil.
	PendingRevision(ctx context.Context, orderID int) (*Revision, error)
	// ReviseLines writes an order's lines as revision rev made them: lines
	// (kept, changed, added, or re-added after an earlier removal) with
	// their quantity, attributes, parent, status and missing list; the
	// lines whose ids are in removed become REMOVED. It returns the row
	// ids of every line, by line id.
	ReviseLines(ctx context.Context, orderID, rev int, lines []*DecomposedLine, removed []string) (map[string]int, error)
	// RemoveItems marks fulfillment lines removed by revision rev.
	RemoveItems(ctx context.Context, ids []int, rev int) error
	// SetPlanStatus moves a plan, and its order when order is not "", to
	// the statuses given (CANCELLED stamps their completion).
	SetPlanStatus(ctx context.Context, planID int, plan PlanStatus, order OrderStatus) error
	// CrossPlanSteps returns the unfinished steps named in names of the
	// plans whose group key is key, by name (CROSS_PLAN dependencies).
	CrossPlanSteps(ctx context.Context, key string, names []string) (map[string][]*ExistingStep, error)
	// FreezePlan sets (or clears) the frozen flag of a plan's steps that
	// are not finished: a frozen step does not start.
	FreezePlan(ctx context.Context, planID int, frozen bool) error

	// Emit queues events to be written at commit.
	Emit(events ...*Event)
}

// ExecContext is what a step's expressions and actions see at run time.
// Order lines are not loaded (order.lines is empty): conditions on lines
// belong in plan-time `when`.
type ExecContext struct {
	Order     *OrderView
	Account   *AccountView
	Item      *ItemView
	Bundle    *LineView
	Context   map[string]any
	Type      string
	SubjectID string
	// TraceParent is the plan's (NewPlan.TraceParent).
	TraceParent string
}

// Attempt is one recorded run of a step.
type Attempt struct {
	StepID     int
	Number     int
	Outcome    string // SUCCEEDED, WAITING, FAILED, LOST
	StartedAt  time.Time
	FinishedAt time.Time
	HTTPStatus int
	Error      string
	Worker     string
}

// PlanRecord is the part of a stored plan the engine looks at.
type PlanRecord struct {
	ID            int
	OrderID       int
	Usage         Usage
	Type          string
	SubjectID     string
	ContextHash   string
	Status        PlanStatus
	CatalogID     int
	OpenSteps     int
	AwaitingLines int
	// CreatedAt is when the plan (for an order: the order) was created.
	CreatedAt time.Time
}

// StoredOrder is an order as enrichOrder needs it.
type StoredOrder struct {
	OrderRecord
	Attributes          map[string]any
	RequestedCompletion *time.Time
	Lines               []*DecomposedLine
	LineIDs             map[string]int
	Items               []*Item
	Plan                *PlanRecord
	// Steps are the plan's steps by key (name|instance key).
	Steps map[string]*ExistingStep
	// Groups are the plan's step groups by scenario|name.
	Groups map[string]int
	// Revision is the number of the order's last revision (0: as
	// submitted).
	Revision int
	// RemovedLines and RemovedItems are what earlier revisions took off
	// the order (Lines and Items leave them out).
	RemovedLines []*DecomposedLine
	RemovedItems []*Item
}

// CatalogRecord is a stored catalog version.
type CatalogRecord struct {
	ID        int
	Version   int
	Document  string
	Checksum  string
	CreatedAt time.Time
}

// OrderRecord is the part of a stored order that idempotency and
// orchestration look at.
type OrderRecord struct {
	ID         int
	ExternalID string
	AccountID  string
	AccountRef int
	InputHash  string
	Status     OrderStatus
	PlanID     int
	CatalogID  int
}

// NewOrder is an order to write: the decomposition of a submitted order
// and its plan.
type NewOrder struct {
	ID                  int // assigned
	ExternalID          string
	AccountID           string
	AccountRef          int
	Attributes          map[string]any
	InputHash           string
	RequestedCompletion *time.Time
	CatalogID           int
	SubmittedBy         string // the submitting principal's name
	// Approval names the approval rule the order waits for: it is
	// stored AWAITING_APPROVAL (and its plan Frozen).
	Approval string
	Lines    []*DecomposedLine
	LineIDs  map[string]int // assigned: line id → row id
	Items    []*Item        // new items get their ID assigned
	Plan     *NewPlan
}

// NewPlan is a plan to write.
type NewPlan struct {
	ID          int // assigned (or, when extending a plan, the plan's id)
	OrderID     int
	AccountRef  int
	AccountID   string
	Usage       Usage
	Type        string
	SubjectID   string
	Context     map[string]any
	ContextHash string
	CatalogID   int
	// AwaitingLines counts the order's lines waiting for data; the plan
	// cannot complete while any does.
	AwaitingLines       int
	RequestedCompletion *time.Time
	// GroupKey is the plan's key (its scenarios' planKey), "" for none.
	GroupKey string
	// TraceParent is the W3C traceparent of the operation that creates
	// the plan ("" when untraced); its callouts continue that trace.
	TraceParent string
	// Frozen stores every new step frozen (an order awaiting approval).
	Frozen bool
	Graph  *PlanRows
	// Extend adds Graph's new steps to the existing plan ID, whose status
	// is Status; Groups are its step groups (scenario|name → id), reused
	// rather than created.
	Extend bool
	Status PlanStatus
	Groups map[string]int
	// Items are items to write with the plan (GENERIC plans, and items of
	// an order's lines decomposed after enrichOrder).
	Items []*Item
	// LineIDs maps the order's line ids to row ids, for item sources.
	LineIDs map[string]int
}

// StepRecord is a stored step as the engine works with it.
type StepRecord struct {
	ID          int
	PlanID      int
	GroupID     int
	OrderID     int // 0: generic plan
	ItemID      int // 0: not item-scoped
	AccountRef  int // set for ACCOUNT scope
	CatalogID   int
	Name        string
	Scenario    string
	Type        StepType
	Scope       Scope
	InstanceKey string
	BundleKey   string
	Status      StepStatus
	Jeopardy    Jeopardy
	Queue       string
	Assignee    string
	System      string
	Pending     int
	// Released is how many prerequisites were counted off in memory and
	// not yet written: ReleaseDependents sets it (its Pending is already
	// lowered by it) and SaveSteps writes pending = pending - Released,
	// so that a dependent made READY is written once, not twice.
	Released int
	Attempts int
	// AttemptBase is Attempts when an operator last retried the step: the
	// retry policy counts attempts from there.
	AttemptBase int
	Output      map[string]any
	Error       string
	Note        string
	ReadyAt     *time.Time
	StartedAt   *time.Time
	CompletedAt *time.Time
	DueAt       *time.Time
	JeopardyAt  *time.Time
	WakeAt      *time.Time
	LeaseOwner  string
	LeaseUntil  *time.Time
	UpdatedAt   time.Time
	// Frozen: the plan is FREEZING for a revision; the step does not start
	// (stays READY) until the revision applies. Only FreezePlan writes it.
	Frozen bool
	// Compensates is the id of the completed step this compensation step
	// undoes (0: not a compensation).
	Compensates int
}

// Snapshot is the step as events show it.
func (s *StepRecord) Snapshot() *EventStep {
	return &EventStep{ID: s.ID, Name: s.Name, Type: s.Type, Status: s.Status, Jeopardy: s.Jeopardy,
		Queue: s.Queue, System: s.System, Assignee: s.Assignee}
}

// PlanRows is a plan as the store writes it: its swimlanes, the steps to
// create (with what the store records of their definitions) and the
// dependencies with at least one new side. Planning makes it
// (PlanGraph.Rows); the store only assigns ids and times.
type PlanRows struct {
	Groups []*PlannedGroup
	Steps  []*NewStep // in plan order
	Deps   []*NewDep
}

// PlannedGroup is a swimlane of the plan.
type PlannedGroup struct {
	Name     string
	Scenario string
	Position int
}

// NewStep is a step instance to create.
type NewStep struct {
	Name        string
	Scenario    string
	Type        StepType
	Scope       Scope
	InstanceKey string
	BundleKey   string
	Group       *PlannedGroup
	Item        *Item      // nil: not item-scoped; its ID is read when the step is written
	Status      StepStatus // PENDING, READY or SKIPPED
	Pending     int        // prerequisites not yet done
	Queue       string
	Assignee    string
	System      string
	// PointOfNoReturn is the definition's point_of_no_return.
	PointOfNoReturn bool
	// Compensates is the id of the completed step this one undoes.
	Compensates int
}

// NewDep says Step waits for Prereq. A side that already exists is nil and
// has its id in StepID or PrereqID.
type NewDep struct {
	Step, Prereq     *NewStep
	StepID, PrereqID int
}

// EventQuery selects events: up to Limit with id > After, in id order, of
// one order or plan (zero: any).
type EventQuery struct {
	After   int64
	OrderID int
	PlanID  int
	Limit   int
}

// PlanDelta is what to add to a plan's counts.
type PlanDelta struct {
	PlanID        int
	OpenSteps     int // steps not done yet
	AwaitingLines int // lines awaiting data
}

// StepOwner is whom a step belongs to: its order (0 for a generic plan)
// and that order's account, and the queue of a manual task.
type StepOwner struct {
	OrderID int
	Account string
	Type    StepType
	Queue   string
}

// APIKey is a key created through the API. Only the hash of its secret is
// stored.
type APIKey struct {
	ID        int
	Name      string
	Hash      string
	Roles     []string
	Accounts  []string
	Queues    []string
	CreatedBy string
	CreatedAt time.Time
	RevokedAt *time.Time
	RevokedBy string
}

// OrderApproval is an order as deciding its approval sees it.
type OrderApproval struct {
	OrderID     int
	PlanID      int
	AccountID   string
	Status      OrderStatus
	SubmittedBy string
	Rule        string // the approval rule it waits for
	CatalogID   int
}
