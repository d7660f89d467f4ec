package engine

import (
	"slices"
	"strconv"
	"time"
)

// EventKind says what changed.
type EventKind string

// Event kinds.
const (
	// EventStepStatus: a step moved from one status to another.
	EventStepStatus EventKind = "STEP_STATUS"
	// EventJeopardy: a step's jeopardy worsened (ON_TRACK → AT_RISK → LATE).
	EventJeopardy EventKind = "JEOPARDY"
	// EventOrderStatus: an order's status changed.
	EventOrderStatus EventKind = "ORDER_STATUS"
	// EventPlanStatus: a plan's status changed.
	EventPlanStatus EventKind = "PLAN_STATUS"
	// EventStepAssigned: a manual task was assigned (From/To are assignees).
	EventStepAssigned EventKind = "STEP_ASSIGNED"
	// EventSystemStatus: a system went OFFLINE or ONLINE, or its circuit
	// opened (From/To are statuses; System names it).
	EventSystemStatus EventKind = "SYSTEM_STATUS"
	// EventOrderAmended: a revision of the order was accepted (From
	// FREEZING when it waits for running steps) or applied (To APPLIED);
	// Note is its reason, Data its number and diff counts.
	EventOrderAmended EventKind = "ORDER_AMENDED"
	// EventCompensationStarted: a compensation step was created to undo a
	// completed step (StepID is the compensation; Data names the step it
	// undoes).
	EventCompensationStarted EventKind = "COMPENSATION_STARTED"
	// EventCircuitState: a system's circuit breaker changed state (From/To
	// are CLOSED, OPEN, HALF_OPEN; System names it).
	EventCircuitState EventKind = "CIRCUIT_STATE"
	// EventTaskEscalated: a manual task reached a jeopardy level (From)
	// its escalation chain acts on; Note is the action (REMIND, REASSIGN,
	// NOTIFY), To whom it went (a member, or queue:NAME).
	EventTaskEscalated EventKind = "TASK_ESCALATED"
)

// Event is one change, stored in the transaction of the change and then
// published. ID is assigned at commit, in commit order: it is the cursor a
// subscriber resumes after.
type Event struct {
	ID      int64
	Kind    EventKind
	OrderID int // 0 when the plan has no order
	// Account is the order's account (set by the store when the event is
	// written), which account-limited subscriptions filter on.
	Account string
	PlanID  int
	StepID  int // 0 for order and plan events
	From    string
	To      string
	At      time.Time
	Actor   string // who did it, for operator actions
	Note    string // why
	Step    *EventStep
	System  string // for SYSTEM_STATUS events
}

// EventTime is an event's time as every store keeps it and every client
// sees it, live or replayed: UTC, to the microsecond (PostgreSQL's
// precision). Stores apply it when an event is emitted, so the event
// published at commit and the one read back by cursor are the same.
func EventTime(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

// EventStep is a snapshot of the step an event is about, as of the event.
type EventStep struct {
	ID       int        `json:"id"`
	Name     string     `json:"name"`
	Type     StepType   `json:"type"`
	Status   StepStatus `json:"status"`
	Jeopardy Jeopardy   `json:"jeopardy"`
	Queue    string     `json:"queue,omitempty"`
	System   string     `json:"system,omitempty"`
	Assignee string     `json:"assignee,omitempty"`
}

// Cursor is the event's resume position as clients see it.
func (e *Event) Cursor() string { return FormatCursor(e.ID) }

// FormatCursor renders an event id as a cursor.
func FormatCursor(id int64) string { return strconv.FormatInt(id, 10) }

// ParseCursor reads a cursor; "" is the start. Errors: BAD_USER_INPUT.
func ParseCursor(s string) (int64, error) {
	if s == "" {
		return 0, nil
	}
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id < 0 {
		return 0, Errorf(CodeBadUserInput, "bad cursor %q: use the cursor of an event you received", s)
	}
	return id, nil
}

// MergeStepMoves folds the moves of a step that reached a final status
// (COMPLETED, SKIPPED, CANCELLED) within one transaction into one
// STEP_STATUS event, from the status the step had before the transaction
// to the final one: a milestone goes
// PENDING → COMPLETED, an in-transaction auto task PENDING → COMPLETED
// instead of PENDING → READY → RUNNING → COMPLETED. The statuses in
// between were never committed, so no reader could have seen them; the
// feed carries what the database holds. A step that does not finish in
// the transaction keeps every move (a callout made READY and claimed is
// READY, then RUNNING, as its worker sees it). The merged event takes the
// last move's place among the others (an effect stays after its cause),
// its time and snapshot, and the last note and actor given; the rest pass
// as they are, in order.
func MergeStepMoves(events []*Event) []*Event {
	if len(events) < 2 {
		return events
	}
	moves := map[int][]int{} // step id → the indexes of its STEP_STATUS events, in order
	for i, ev := range events {
		if ev.Kind == EventStepStatus && ev.StepID != 0 {
			moves[ev.StepID] = append(moves[ev.StepID], i)
		}
	}
	var out []*Event
	for _, idx := range moves {
		i := idx[len(idx)-1]
		ev := events[i]
		if len(idx) < 2 || !StepStatus(ev.To).Terminal() {
			continue
		}
		// Walk the step's earlier moves back while they chain into this one.
		m, removed := *ev, false
		for k := len(idx) - 2; k >= 0 && events[idx[k]].To == m.From; k-- {
			p := events[idx[k]]
			m.From = p.From
			if m.Note == "" {
				m.Note = p.Note
			}
			if m.Actor == "" {
				m.Actor = p.Actor
			}
			if out == nil {
				out = slices.Clone(events)
			}
			out[idx[k]], removed = nil, true
		}
		if removed {
			out[i] = &m
		}
	}
	if out == nil {
		return events
	}
	return slices.DeleteFunc(out, func(e *Event) bool { return e == nil })
}
