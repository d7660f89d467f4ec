package plan

import (
	"fmt"
	"strings"

	"github.com/batonhq/baton/engine"
)

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

// JeopardyReason says why PlanJeopardy(h, f) is not ON_TRACK ("" when it
// is): the forecast's reason when the forecast is that bad, else the open
// steps at that level, named from the forecast's timeline ("Install is
// LATE", "3 steps are AT_RISK: Install, Ship, Survey, …").
func JeopardyReason(h Health, f *Forecast) string {
	j := PlanJeopardy(h, f)
	if j == engine.OnTrack {
		return ""
	}
	if f != nil && f.Jeopardy == j && f.Reason != "" {
		return f.Reason
	}
	var names []string
	if f != nil && f.Timeline != nil {
		for _, s := range f.Timeline.Steps {
			if !s.Status.Terminal() && s.Jeopardy == j {
				names = append(names, s.Name)
			}
		}
	}
	switch n := len(names); {
	case n == 0:
		return "a step is " + string(j)
	case n == 1:
		return names[0] + " is " + string(j)
	case n > 3:
		names = append(names[:3], "…")
		fallthrough
	default:
		return fmt.Sprintf("%d steps are %s: %s", n, j, strings.Join(names, ", "))
	}
}
