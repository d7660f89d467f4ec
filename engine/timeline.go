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
}
