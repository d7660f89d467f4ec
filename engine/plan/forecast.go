package plan

import (
	"slices"
	"time"

	"github.com/batonhq/baton/engine"
)

// Forecast is a plan's predicted completion along its critical path.
type Forecast struct {
	PlanID int
	// Predicted is when the plan should complete: the latest finish of any
	// step, with actual times for finished steps and estimated durations
	// for the rest. Nil when no step has an estimate and the plan is open.
	Predicted *time.Time
	// CriticalPath lists the step ids, in execution order, that determine
	// Predicted: shortening any of them brings it forward.
	CriticalPath []int
	// Jeopardy is the plan's standing against its requested completion:
	// AT_RISK when Predicted passes it, LATE when it has passed.
	Jeopardy engine.Jeopardy
}

// ForecastPlan computes a plan's predicted completion and critical path:
// a pure function of its timeline and the time. A finished step ends when
// it ended; a started one (READY and on) ends at readyAt + estimate, or now
// if that has passed; a pending one starts when its last prerequisite ends
// (not before now, nor before a SCHEDULED step's start) and takes its
// estimate — in working time when the step has a calendar.
func ForecastPlan(t *engine.PlanTimeline, now time.Time) *Forecast {
	f := &Forecast{PlanID: t.PlanID, Jeopardy: engine.OnTrack}
	byID := make(map[int]*engine.TimelineStep, len(t.Steps))
	for _, s := range t.Steps {
		byID[s.ID] = s
	}
	finish := map[int]time.Time{}
	via := map[int]int{} // the prerequisite that determined a step's start
	var visit func(s *engine.TimelineStep, depth int) time.Time
	visit = func(s *engine.TimelineStep, depth int) time.Time {
		if at, ok := finish[s.ID]; ok {
			return at
		}
		var end time.Time
		switch {
		case s.Status.Terminal():
			end = now
			if s.CompletedAt != nil {
				end = *s.CompletedAt
			}
		case s.Status != engine.StepPending && s.Status != engine.StepScheduled && s.ReadyAt != nil:
			end = s.End(*s.ReadyAt)
			if end.Before(now) {
				end = now
			}
		default:
			start := now
			if depth < len(t.Steps) { // a cycle cannot happen; stay finite anyway
				for _, p := range s.Prereqs {
					if ps := byID[p]; ps != nil {
						// >= : a prerequisite that ends exactly now (an
						// overdue one) is still what the step waits for.
						if pe := visit(ps, depth+1); !pe.Before(start) {
							if _, chosen := via[s.ID]; !chosen || pe.After(start) {
								start, via[s.ID] = pe, p
							}
						}
					}
				}
			}
			if s.NotBefore != nil && s.NotBefore.After(start) {
				start = *s.NotBefore
			}
			end = s.End(start)
		}
		finish[s.ID] = end
		return end
	}
	var last *engine.TimelineStep
	var lastEnd time.Time
	estimated := false
	for _, s := range t.Steps {
		end := visit(s, 0)
		if s.Estimate > 0 {
			estimated = true
		}
		if last == nil || end.After(lastEnd) {
			last, lastEnd = s, end
		}
	}
	switch {
	case t.Status == engine.PlanCompleted && t.CompletedAt != nil:
		at := *t.CompletedAt
		f.Predicted = &at
	case last != nil && estimated:
		f.Predicted = &lastEnd
	}
	if last != nil && (estimated || t.Status == engine.PlanCompleted) {
		for id, ok := last.ID, true; ok; id, ok = via[id] {
			f.CriticalPath = append(f.CriticalPath, id)
		}
		slices.Reverse(f.CriticalPath)
	}
	if due := t.RequestedCompletion; due != nil && t.Status != engine.PlanCompleted && t.Status != engine.PlanCancelled {
		switch {
		case !now.Before(*due):
			f.Jeopardy = engine.Late
		case f.Predicted != nil && f.Predicted.After(*due):
			f.Jeopardy = engine.AtRisk
		}
	}
	return f
}
