package engine

import "time"

// PlanTimeline is what a forecast of a plan reads.
type PlanTimeline struct {
	PlanID              int
	Status              PlanStatus
	RequestedCompletion *time.Time
	CompletedAt         *time.Time
	Steps               []*TimelineStep
}

// TimelineStep is one step of a timeline.
type TimelineStep struct {
	ID          int
	Name        string
	Status      StepStatus
	CatalogID   int
	ReadyAt     *time.Time
	CompletedAt *time.Time
	Prereqs     []int // within the plan
	// Estimate is the step definition's estimatedDuration (0: none).
	Estimate time.Duration
	// NotBefore is a SCHEDULED step's start (its startAt).
	NotBefore *time.Time
	// Finish, when set, is when Estimate of work started at start ends
	// (a business calendar's working time); nil: start + Estimate.
	Finish func(start time.Time, d time.Duration) time.Time
}

// End is when the step's estimated work, started at start, ends.
func (s *TimelineStep) End(start time.Time) time.Time {
	if s.Finish != nil {
		return s.Finish(start, s.Estimate)
	}
	return start.Add(s.Estimate)
}
