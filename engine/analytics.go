package engine

import "time"

// AnalyticsGroup is the dimension analytics series are grouped by ("":
// none).
type AnalyticsGroup string

// The dimensions. An order belongs to every group its lines (PRODUCT) or
// the steps that ran in its plan (SCENARIO, QUEUE, SYSTEM) name; a step to
// its own scenario, queue or system, and to its order's products.
const (
	GroupNone     AnalyticsGroup = ""
	GroupProduct  AnalyticsGroup = "PRODUCT"
	GroupScenario AnalyticsGroup = "SCENARIO"
	GroupQueue    AnalyticsGroup = "QUEUE"
	GroupSystem   AnalyticsGroup = "SYSTEM"
)

// AnalyticsGroups lists the dimensions (without GroupNone).
var AnalyticsGroups = []AnalyticsGroup{GroupProduct, GroupScenario, GroupQueue, GroupSystem}

// AnalyticsQuery selects the facts analytics counts: what finished in
// [From, To), seen by a principal limited to Accounts.
type AnalyticsQuery struct {
	From, To time.Time
	GroupBy  AnalyticsGroup
	// Accounts limits the facts to these accounts' orders (and leaves
	// generic orchestrations out); nil is every account and every plan.
	Accounts []string
}

// AnalyticsFacts are the rows analytics aggregates, as the store read them.
type AnalyticsFacts struct {
	Orders  []OrderFact
	Steps   []StepFact
	Systems []SystemFact
}

// OrderFact is an order COMPLETED in the range.
type OrderFact struct {
	ID          int
	CreatedAt   time.Time
	CompletedAt time.Time
	// FellOut: one of its steps went to FALLOUT at some point (a
	// STEP_STATUS event to FALLOUT exists).
	FellOut bool
	// Groups are its values of the query's dimension (none: empty).
	Groups []string
}

// StepFact is a step finished in the range that ran or that a person
// dealt with: COMPLETED, or SKIPPED by skipStep (a step skipped because
// its condition was false, or cancelled, is no fact).
type StepFact struct {
	Name        string
	Type        StepType
	Status      StepStatus
	Jeopardy    Jeopardy
	ReadyAt     *time.Time
	CompletedAt time.Time
	// ByPerson: a person did or forced it — a MANUAL_TASK, or a step an
	// operator completed by hand, skipped, retried or resumed (what the
	// step row records of it: note, attempt_base, output.resumedBy).
	ByPerson bool
	Groups   []string
}

// SystemFact counts the callout attempts to a system that finished in the
// range on one UTC day.
type SystemFact struct {
	System   string
	Day      time.Time
	Requests int
	// Errors are the attempts that FAILED (a timeout, a refused
	// connection, an error status, a failure answered through
	// respondToCallout) or were LOST with their worker.
	Errors int
}
