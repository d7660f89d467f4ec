package engine

import "time"

// RevisionKind says what a revision of an order does.
type RevisionKind string

const (
	// RevisionAmend: amendOrder gave the order a new set of lines (and
	// perhaps attributes).
	RevisionAmend RevisionKind = "AMEND"
	// RevisionCancel: cancelOrder.
	RevisionCancel RevisionKind = "CANCEL"
)

// RevisionStatus is where a revision is.
type RevisionStatus string

const (
	// RevisionFreezing: accepted; it waits for the plan's running steps to
	// settle, and no other step of the plan starts meanwhile.
	RevisionFreezing RevisionStatus = "FREEZING"
	// RevisionApplied: applied to the plan, in one transaction.
	RevisionApplied RevisionStatus = "APPLIED"
)

// AmendInput is an order's new set of lines. A line id already on the
// order keeps or changes that line, a new id adds one, an id left out
// removes its line. Attributes, when not nil, replace the order's.
type AmendInput struct {
	Lines      []LineInput    `json:"lines"`
	Attributes map[string]any `json:"attributes,omitempty"`
	Reason     string         `json:"reason,omitempty"`
}

// Revision is one accepted change of an order after submission.
type Revision struct {
	ID          int
	OrderID     int
	Number      int
	Kind        RevisionKind
	Status      RevisionStatus
	Actor       string
	Reason      string
	Input       *AmendInput // AMEND: what was asked (applied when it thaws)
	Diff        *Diff       // as applied (FREEZING: as it looked when accepted)
	RequestedAt time.Time
	AppliedAt   *time.Time
}

// Diff is what a revision does (or would do) to an order's plan, step by
// step. Steps are matched by their definition and the instance they run
// for (their line, bundle or the plan); a line whose quantity, attributes,
// parent or product changed gets new fulfillment lines, so its work is
// redone.
type Diff struct {
	// Kept: steps that still apply; they keep their state, history and id.
	Kept []DiffStep `json:"kept"`
	// Cancelled: steps not yet started (or failed, or waiting for a person
	// or a signal) that no longer apply.
	Cancelled []DiffStep `json:"cancelled"`
	// Added: steps the revised order needs that the plan does not have.
	Added []DiffStep `json:"added"`
	// Compensated: completed steps that no longer apply and whose
	// definition names a compensation, which runs (in reverse dependency
	// order).
	Compensated []DiffStep `json:"compensated"`
	// Retained: completed steps that no longer apply and have nothing to
	// undo (no compensation defined): left as they are.
	Retained []DiffStep `json:"retained"`
	// Settling: running steps (a callout in flight, or answered 202 and
	// waiting for its answer) that no longer apply: the plan freezes until
	// they settle, then each is compensated if it completed, else
	// cancelled.
	Settling []DiffStep `json:"settling"`
	// Refused: the changes the point of no return forbids; a diff with
	// refusals is not applied.
	Refused []Refusal `json:"refused"`
	// Lines added, changed and removed by the revision, by id.
	LinesAdded   []string `json:"linesAdded"`
	LinesChanged []string `json:"linesChanged"`
	LinesRemoved []string `json:"linesRemoved"`
	// AttributesChanged: the order's attributes are replaced.
	AttributesChanged bool `json:"attributesChanged"`
}

// DiffStep is one step of a diff.
type DiffStep struct {
	ID          int        `json:"id,omitempty"` // 0 for a step to add
	Name        string     `json:"name"`
	InstanceKey string     `json:"instanceKey"`
	Status      StepStatus `json:"status"` // now (for an added step: as it will be created)
	// Compensation names the step definition that undoes a compensated
	// step.
	Compensation string `json:"compensation,omitempty"`
}

// Refusal is a line an amendment or cancellation may not touch: a step
// with pointOfNoReturn that has started froze it.
type Refusal struct {
	LineID   string `json:"lineId"`
	StepID   int    `json:"stepId"`
	StepName string `json:"stepName"`
	// Scope is what the step froze: LINE (its line), BUNDLE (every line of
	// its bundle) or ORDER (a PLAN step: the whole order).
	Scope   string `json:"scope"`
	Message string `json:"message"`
}

// Empty reports whether the diff changes nothing in the plan.
func (d *Diff) Empty() bool {
	return len(d.Cancelled) == 0 && len(d.Added) == 0 && len(d.Compensated) == 0 && len(d.Settling) == 0
}

// RefusalError is the PAST_POINT_OF_NO_RETURN error of refusals.
func RefusalError(rs []Refusal) error {
	ps := make([]Problem, len(rs))
	for i, r := range rs {
		ps[i] = Problem{Path: "lines." + r.LineID, Message: r.Message}
	}
	return &Error{Code: CodePastPointOfNoReturn, Message: "the change touches lines past their point of no return", Problems: ps}
}
