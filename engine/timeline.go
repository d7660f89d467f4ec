package engine

import "time"

// PlanTimeline is what a forecast, and a picture, of a plan reads.
type PlanTimeline struct {
	PlanID              int
	Status              PlanStatus
	RequestedCompletion *time.Time
	CompletedAt         *time.Time
	// Groups are the plan's swimlanes in plan order (by position).
	Groups []TimelineGroup
	// Steps are the plan's steps in id order.
	Steps []*TimelineStep
}

// TimelineGroup is a swimlane of a plan.
type TimelineGroup struct {
	ID       int
	Name     string
	Scenario string
	Position int
}

// TimelineStep is one step of a timeline.
type TimelineStep struct {
	ID          int
	Name        string
	Scenario    string
	Type        StepType
	Status      StepStatus
	Jeopardy    Jeopardy
	GroupID     int
	CatalogID   int
	ReadyAt     *time.Time
	CompletedAt *time.Time
	Prereqs     []int // within the plan
	// External are prerequisites in other plans (an ACCOUNT step another
	// order created, a CROSS_PLAN dependency).
	External []ExternalPrereq
	// Estimate is the step definition's estimatedDuration (0: none).
	Estimate time.Duration
	// History is what completed steps of the same definition took; nil
	// when the engine has none for it.
	History *DurationStats
	// NotBefore is a SCHEDULED step's start (its startAt).
	NotBefore *time.Time
	// Finish, when set, is when Estimate of work started at start ends
	// (a business calendar's working time); nil: start + Estimate.
	Finish func(start time.Time, d time.Duration) time.Time
}

// ExternalPrereq is a prerequisite of a step that lives in another plan.
// It carries no plan id or status: the other plan may belong to another
// account, and a picture names only what the catalog names.
type ExternalPrereq struct {
	ID   int
	Name string
	Done bool // COMPLETED or SKIPPED
}

// StepDefKey identifies a step definition across catalog versions: its
// scenario and its name within it (what a catalog's author renames only
// on purpose).
type StepDefKey struct {
	Scenario string
	Name     string
}

// DurationSample is one completed step's clock: from its first READY to
// its completion.
type DurationSample struct {
	ReadyAt     time.Time
	CompletedAt time.Time
}

// DurationStats summarises the observed durations of a step definition.
type DurationStats struct {
	N   int           // samples
	P50 time.Duration // median
	P90 time.Duration // 90th percentile (nearest rank)
}

// End is when the step's estimated work, started at start, ends.
func (s *TimelineStep) End(start time.Time) time.Time {
	return s.EndAfter(start, s.Estimate)
}

// EndAfter is when d of the step's work, started at start, ends (in
// working time when the step has a calendar).
func (s *TimelineStep) EndAfter(start time.Time, d time.Duration) time.Time {
	if s.Finish != nil {
		return s.Finish(start, d)
	}
	return start.Add(d)
}
