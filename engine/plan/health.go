package plan

import "github.com/batonhq/baton/engine"

// Health is the rolled-up state of an order's or a plan's open steps: what
// a list of orders shows without reading every step.
type Health struct {
	// Jeopardy is the worst jeopardy of the open steps; ON_TRACK when
	// none is worse (or no step is open).
	Jeopardy engine.Jeopardy
	// Fallout counts the open steps waiting in the fallout queue.
	Fallout int
}

// StepTally counts the steps in one status at one jeopardy level: a row of
// a grouped count, so that health needs no step read one by one.
type StepTally struct {
	Status   engine.StepStatus
	Jeopardy engine.Jeopardy
	Count    int
}

// RollUp is the health of the steps the tallies count. Steps in a terminal
// status count for nothing: their jeopardy is frozen history, and a
// finished step is no longer in fallout. Tallies may come in any order and
// repeat a status and level.
func RollUp(tallies []StepTally) Health {
	h := Health{Jeopardy: engine.OnTrack}
	for _, t := range tallies {
		if t.Status.Terminal() || t.Count <= 0 {
			continue
		}
		h.Jeopardy = WorstJeopardy(h.Jeopardy, t.Jeopardy)
		if t.Status == engine.StepFallout {
			h.Fallout += t.Count
		}
	}
	return h
}

// PlanJeopardy is a plan's standing: the worse of its open steps' (h) and
// its forecast's against the requested completion (f; nil when the plan
// has no forecast or no requested completion).
func PlanJeopardy(h Health, f *Forecast) engine.Jeopardy {
	if f == nil {
		return WorstJeopardy(h.Jeopardy)
	}
	return WorstJeopardy(h.Jeopardy, f.Jeopardy)
}

// WorstJeopardy is the worst of the levels (by Jeopardy.Rank); ON_TRACK
// for none. An unknown level ranks as ON_TRACK.
func WorstJeopardy(levels ...engine.Jeopardy) engine.Jeopardy {
	worst := engine.OnTrack
	for _, j := range levels {
		if j.Rank() > worst.Rank() {
			worst = j
		}
	}
	return worst
}

// OpenStepStatuses lists the statuses a step can still leave (every status
// but the terminal ones), in lifecycle order: the steps health looks at.
func OpenStepStatuses() []engine.StepStatus {
	var open []engine.StepStatus
	for _, s := range engine.StepStatuses {
		if !s.Terminal() {
			open = append(open, s)
		}
	}
	return open
}
