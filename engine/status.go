package engine

// StepStatus is where a step is in its lifecycle. A step is created PENDING
// (or READY when it has no open prerequisites, or SKIPPED when its `when`
// condition is false) and ends COMPLETED, SKIPPED or CANCELLED. The moves
// between statuses are exactly those in stepTransitions; anything else is an
// INVALID_STATE error.
type StepStatus string

const (
	// StepPending: at least one prerequisite is neither COMPLETED nor SKIPPED.
	StepPending StepStatus = "PENDING"
	// StepScheduled: its prerequisites are done but its startAt time has
	// not come; a timer makes it READY then (its jeopardy clock starts
	// there).
	StepScheduled StepStatus = "SCHEDULED"
	// StepReady: runnable; waiting for a worker to claim it. The jeopardy
	// clock starts when a step becomes READY.
	StepReady StepStatus = "READY"
	// StepRunning: claimed by a worker holding a lease; an expired lease puts
	// the step back to READY (or FAILED/FALLOUT when its attempts are spent).
	StepRunning StepStatus = "RUNNING"
	// StepWaiting: waiting for input from outside: a manual task in its queue,
	// a callout answered 202, a pause waiting for its signal or duration.
	StepWaiting StepStatus = "WAITING"
	// StepCompleted: done; its dependents may proceed. Terminal.
	StepCompleted StepStatus = "COMPLETED"
	// StepFailed: the last attempt failed and a retry is scheduled at the
	// step's next-attempt time.
	StepFailed StepStatus = "FAILED"
	// StepFallout: retries exhausted (or a non-retryable error); the step sits
	// in the fallout queue until an operator retries, completes or skips it.
	StepFallout StepStatus = "FALLOUT"
	// StepSkipped: not run (its condition was false, or an operator skipped
	// it); counts as done for its dependents. Terminal.
	StepSkipped StepStatus = "SKIPPED"
	// StepCancelled: the order was cancelled before the step finished.
	// Terminal.
	StepCancelled StepStatus = "CANCELLED"
	// StepOnHold: a callout whose system is offline (or whose circuit is
	// open); it is released to READY when the system is back, without
	// spending an attempt.
	StepOnHold StepStatus = "ON_HOLD"
)

// StepStatuses lists every step status, in lifecycle order.
var StepStatuses = []StepStatus{StepPending, StepScheduled, StepReady, StepRunning, StepWaiting, StepCompleted,
	StepFailed, StepFallout, StepSkipped, StepCancelled, StepOnHold}

// Done reports whether the status satisfies dependents (COMPLETED or SKIPPED).
func (s StepStatus) Done() bool { return s == StepCompleted || s == StepSkipped }

// Terminal reports whether a step in this status will never change again.
func (s StepStatus) Terminal() bool {
	return s == StepCompleted || s == StepSkipped || s == StepCancelled
}

// stepTransitions is the one table of allowed step moves.
var stepTransitions = map[StepStatus][]StepStatus{
	StepPending: {StepReady, StepScheduled, StepSkipped, StepCancelled},
	// SCHEDULED → COMPLETED is an operator's markStepComplete.
	StepScheduled: {StepReady, StepCompleted, StepSkipped, StepCancelled},
	// READY → COMPLETED is a milestone completing as it becomes ready;
	// READY → WAITING a manual task or pause entering its wait.
	StepReady:   {StepRunning, StepWaiting, StepCompleted, StepOnHold, StepScheduled, StepSkipped, StepCancelled},
	StepRunning: {StepCompleted, StepWaiting, StepFailed, StepFallout, StepReady, StepCancelled},
	StepWaiting: {StepCompleted, StepFailed, StepFallout, StepSkipped, StepCancelled},
	StepFailed:  {StepReady, StepOnHold, StepCompleted, StepSkipped, StepCancelled},
	StepFallout: {StepReady, StepCompleted, StepSkipped, StepCancelled},
	StepOnHold:  {StepReady, StepCompleted, StepSkipped, StepCancelled},
}

// CanMove reports whether a step may move from one status to another.
func CanMove(from, to StepStatus) bool {
	for _, s := range stepTransitions[from] {
		if s == to {
			return true
		}
	}
	return false
}

// CheckMove returns an INVALID_STATE error when from → to is not allowed.
func CheckMove(stepID int, from, to StepStatus) error {
	if CanMove(from, to) {
		return nil
	}
	return Errorf(CodeInvalidState, "step %d is %s; it cannot become %s", stepID, from, to)
}

// StepType says what the engine does with a step (README "Steps").
type StepType string

const (
	// Callout: an HTTP request to an external system.
	Callout StepType = "CALLOUT"
	// AutoTask: a registered Go action run in-process.
	AutoTask StepType = "AUTO_TASK"
	// ManualTask: work for a person, waiting in a queue.
	ManualTask StepType = "MANUAL_TASK"
	// Milestone: completes the moment its prerequisites are done.
	Milestone StepType = "MILESTONE"
	// Pause: waits for a signal, resumeStep, or a duration.
	Pause StepType = "PAUSE"
)

// StepTypes lists every step type.
var StepTypes = []StepType{Callout, AutoTask, ManualTask, Milestone, Pause}

// Scope says how many instances of a step definition a plan gets, and (for
// dependencies) which instances are paired.
type Scope string

const (
	// ScopePlan: one instance per plan; a PLAN dependency waits for every
	// instance of its prerequisite.
	ScopePlan Scope = "PLAN"
	// ScopeBundle: one instance per bundle; a BUNDLE dependency pairs
	// instances of the same bundle.
	ScopeBundle Scope = "BUNDLE"
	// ScopeItem: one instance per matching fulfillment line; an ITEM
	// dependency pairs instances for the same fulfillment line.
	ScopeItem Scope = "ITEM"
	// ScopeAccount: one instance per account, shared by every order of that
	// account.
	ScopeAccount Scope = "ACCOUNT"
)

// ScopeCrossPlan is a dependency scope only (DRO's Cross Plan): the step
// waits for every unfinished instance of its prerequisite in the earlier
// plans (other orders) whose scenario's planKey gave the same key.
const ScopeCrossPlan Scope = "CROSS_PLAN"

// StepScopes lists every step scope.
var StepScopes = []Scope{ScopePlan, ScopeBundle, ScopeItem, ScopeAccount}

// Jeopardy is a step's standing against its SLA. It only ever worsens while
// the step runs; it is frozen when the step finishes.
type Jeopardy string

const (
	// OnTrack: within estimatedDuration − jeopardyThreshold of becoming READY.
	OnTrack Jeopardy = "ON_TRACK"
	// AtRisk: past estimatedDuration − jeopardyThreshold.
	AtRisk Jeopardy = "AT_RISK"
	// Late: past estimatedDuration.
	Late Jeopardy = "LATE"
)

// Jeopardies lists every jeopardy level, from best to worst.
var Jeopardies = []Jeopardy{OnTrack, AtRisk, Late}

// Rank orders jeopardy levels: ON_TRACK 0, AT_RISK 1, LATE 2.
func (j Jeopardy) Rank() int {
	switch j {
	case AtRisk:
		return 1
	case Late:
		return 2
	}
	return 0
}

// PlanStatus is a plan's rolled-up state.
type PlanStatus string

const (
	// PlanPending: created; no step has started yet.
	PlanPending PlanStatus = "PENDING"
	// PlanInProgress: at least one step has started.
	PlanInProgress PlanStatus = "IN_PROGRESS"
	// PlanCompleted: every step is COMPLETED or SKIPPED and no line awaits data.
	PlanCompleted PlanStatus = "COMPLETED"
	// PlanCancelled: cancelled with its order.
	PlanCancelled PlanStatus = "CANCELLED"
	// PlanOnHold: held by an operator.
	PlanOnHold PlanStatus = "ON_HOLD"
	// PlanFreezing: a revision of the order waits for the plan's running
	// steps to settle; no other step starts meanwhile.
	PlanFreezing PlanStatus = "FREEZING"
	// PlanFrozen: a revision is being applied (inside the transaction that
	// applies it; the feed shows it between FREEZING and the next status).
	PlanFrozen PlanStatus = "FROZEN"
	// PlanCancelling: the order was cancelled; compensations (and steps
	// that were running) are still to finish.
	PlanCancelling PlanStatus = "CANCELLING"
)

// PlanStatuses lists every plan status.
var PlanStatuses = []PlanStatus{PlanPending, PlanInProgress, PlanCompleted, PlanCancelled, PlanOnHold,
	PlanFreezing, PlanFrozen, PlanCancelling}

// OrderStatus is an order's rolled-up state, following its plan.
type OrderStatus string

const (
	// OrderSubmitted: accepted, decomposed and planned; nothing started yet.
	OrderSubmitted OrderStatus = "SUBMITTED"
	// OrderInProgress: its plan has started.
	OrderInProgress OrderStatus = "IN_PROGRESS"
	// OrderCompleted: its plan completed.
	OrderCompleted OrderStatus = "COMPLETED"
	// OrderCancelled: cancelled.
	OrderCancelled OrderStatus = "CANCELLED"
	// OrderCancelling: cancelOrder accepted it; running steps settle and
	// compensations run before it is CANCELLED.
	OrderCancelling OrderStatus = "CANCELLING"
	// OrderAwaitingApproval: an approval rule of the catalog matched; its
	// plan is stored with nothing started until approveOrder (or
	// rejectOrder).
	OrderAwaitingApproval OrderStatus = "AWAITING_APPROVAL"
	// OrderRejected: rejectOrder ended it before anything ran.
	OrderRejected OrderStatus = "REJECTED"
)

// OrderStatuses lists every order status.
var OrderStatuses = []OrderStatus{OrderSubmitted, OrderInProgress, OrderCompleted, OrderCancelled, OrderCancelling,
	OrderAwaitingApproval, OrderRejected}

// LineStatus is an order line's decomposition state.
type LineStatus string

const (
	// LineDecomposed: its fulfillment lines exist.
	LineDecomposed LineStatus = "DECOMPOSED"
	// LineAwaitingData: a decomposition rule needs attributes the line does
	// not have yet (staggered decomposition); enrichOrder supplies them.
	LineAwaitingData LineStatus = "AWAITING_DATA"
	// LineRemoved: an amendment took the line off the order (its row is
	// kept, with the revision that removed it).
	LineRemoved LineStatus = "REMOVED"
)

// LineStatuses lists every line status.
var LineStatuses = []LineStatus{LineDecomposed, LineAwaitingData, LineRemoved}

// LineAction is what an order line asks for: a new product, or a change to
// an existing asset (MACD).
type LineAction string

// Line actions.
const (
	ActionAdd        LineAction = "ADD"
	ActionChange     LineAction = "CHANGE"
	ActionDisconnect LineAction = "DISCONNECT"
	ActionSuspend    LineAction = "SUSPEND"
	ActionResume     LineAction = "RESUME"
)

// LineActions lists every line action.
var LineActions = []LineAction{ActionAdd, ActionChange, ActionDisconnect, ActionSuspend, ActionResume}

// Usage says which kind of subject a scenario orchestrates.
type Usage string

const (
	// UsageSales: orders submitted with submitOrder.
	UsageSales Usage = "SALES"
	// UsageGeneric: non-sales subjects started with startOrchestration.
	UsageGeneric Usage = "GENERIC"
)

// Usages lists every usage.
var Usages = []Usage{UsageSales, UsageGeneric}

// strs converts a list of string-typed constants for schema definitions.
func strs[T ~string](vs []T) []string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = string(v)
	}
	return out
}

// Values helpers give the storage schema the same value lists.

// StepStatusValues returns the step statuses as strings.
func StepStatusValues() []string { return strs(StepStatuses) }

// StepTypeValues returns the step types as strings.
func StepTypeValues() []string { return strs(StepTypes) }

// ScopeValues returns the step scopes as strings.
func ScopeValues() []string { return strs(StepScopes) }

// JeopardyValues returns the jeopardy levels as strings.
func JeopardyValues() []string { return strs(Jeopardies) }

// PlanStatusValues returns the plan statuses as strings.
func PlanStatusValues() []string { return strs(PlanStatuses) }

// OrderStatusValues returns the order statuses as strings.
func OrderStatusValues() []string { return strs(OrderStatuses) }

// LineStatusValues returns the line statuses as strings.
func LineStatusValues() []string { return strs(LineStatuses) }

// LineActionValues returns the line actions as strings.
func LineActionValues() []string { return strs(LineActions) }

// UsageValues returns the usages as strings.
func UsageValues() []string { return strs(Usages) }
