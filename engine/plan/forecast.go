package plan

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/batonhq/baton/engine"
)

// DefaultMinSamples is how many completions of a step definition its
// history needs before forecasts use it instead of the catalog's
// estimatedDuration.
const DefaultMinSamples = 20

// ForecastOptions tune a forecast. The zero value takes the defaults.
type ForecastOptions struct {
	// MinSamples: a step's history (TimelineStep.History) replaces its
	// estimate once it has this many samples (0: DefaultMinSamples).
	MinSamples int
}

// Basis says where a step's forecast duration comes from.
type Basis string

const (
	// BasisNone: no estimate and not enough history; the step takes no time.
	BasisNone Basis = "NONE"
	// BasisEstimate: the catalog's estimatedDuration (for p50 and p90 alike).
	BasisEstimate Basis = "ESTIMATE"
	// BasisHistory: the observed p50 (the plan's prediction) and p90 (its
	// risk) of the definition's completed steps.
	BasisHistory Basis = "HISTORY"
)

// StepForecast is one step's place in a forecast.
type StepForecast struct {
	StepID int
	// Start and End are when the step is expected to start (become READY)
	// and end, with p50 durations: actual times once they happened. Zero
	// for a CANCELLED step (it will not run).
	Start, End time.Time
	Basis      Basis
	// Samples is how many completions the history held (also when too
	// few to use).
	Samples int
	// P50 is the duration the prediction takes for the step, P90 the one
	// the risk takes (both the estimate unless Basis is HISTORY).
	P50, P90 time.Duration
	// Critical: the step is on CriticalPath.
	Critical bool
}

// Forecast is a plan's predicted completion along its critical path.
type Forecast struct {
	PlanID int
	// Predicted is when the plan should complete: the latest finish of any
	// step, with actual times for finished steps and p50 durations (history
	// or estimate) for the rest. Nil when no step has a duration and the
	// plan is open.
	Predicted *time.Time
	// CriticalPath lists the step ids, in execution order, that determine
	// Predicted: shortening any of them brings it forward.
	CriticalPath []int
	// PredictedP90 and CriticalPathP90 are the same with p90 durations:
	// the completion the plan reaches nine times in ten.
	PredictedP90    *time.Time
	CriticalPathP90 []int
	// Jeopardy is the plan's standing against its requested completion:
	// AT_RISK when Predicted or PredictedP90 passes it, LATE when it has
	// passed.
	Jeopardy engine.Jeopardy
	// Reason says why Jeopardy is not ON_TRACK ("" when it is), naming
	// the step on the critical path that weighs most, e.g. "Install p90
	// 3h20m on the critical path (…)".
	Reason string
	// Steps are the steps' forecasts, in the timeline's order.
	Steps []StepForecast
	// Timeline is what the forecast was computed from.
	Timeline *engine.PlanTimeline

	index map[int]int // step id → Steps index
}

// Step returns the forecast of a step of the plan (nil when it has none).
func (f *Forecast) Step(id int) *StepForecast {
	if i, ok := f.index[id]; ok && i < len(f.Steps) && f.Steps[i].StepID == id {
		return &f.Steps[i]
	}
	for i := range f.Steps {
		if f.Steps[i].StepID == id {
			return &f.Steps[i]
		}
	}
	return nil
}

// ForecastPlan is ForecastPlanWith the default options.
func ForecastPlan(t *engine.PlanTimeline, now time.Time) *Forecast {
	return ForecastPlanWith(t, now, ForecastOptions{})
}

// ForecastPlanWith computes a plan's predicted completion and critical path:
// a pure function of its timeline (with the steps' histories), the time and
// the options. A finished step ends when it ended; a started one (READY and
// on) ends at readyAt + its duration, or now if that has passed; a pending
// one starts when its last prerequisite ends (not before now, nor before a
// SCHEDULED step's start) and takes its duration — in working time when the
// step has a calendar. A step's duration is its history's p50 (p90 for the
// risk) once the history has MinSamples samples, its estimate before.
func ForecastPlanWith(t *engine.PlanTimeline, now time.Time, o ForecastOptions) *Forecast {
	if o.MinSamples <= 0 {
		o.MinSamples = DefaultMinSamples
	}
	f := &Forecast{PlanID: t.PlanID, Jeopardy: engine.OnTrack, Timeline: t, index: make(map[int]int, len(t.Steps))}
	timed := false // some step takes time: the plan has a prediction
	for _, s := range t.Steps {
		sf := StepForecast{StepID: s.ID, Basis: BasisNone}
		if s.History != nil {
			sf.Samples = s.History.N
		}
		switch {
		case s.History != nil && s.History.N >= o.MinSamples:
			sf.Basis, sf.P50, sf.P90 = BasisHistory, s.History.P50, s.History.P90
		case s.Estimate > 0:
			sf.Basis, sf.P50, sf.P90 = BasisEstimate, s.Estimate, s.Estimate
		}
		timed = timed || sf.P50 > 0 || sf.P90 > 0
		f.index[s.ID] = len(f.Steps)
		f.Steps = append(f.Steps, sf)
	}
	p50 := runPass(t, now, func(i int) time.Duration { return f.Steps[i].P50 })
	p90 := runPass(t, now, func(i int) time.Duration { return f.Steps[i].P90 })
	for i, s := range t.Steps {
		if s.Status != engine.StepCancelled {
			f.Steps[i].Start, f.Steps[i].End = p50.start[s.ID], p50.finish[s.ID]
		}
	}
	switch {
	case t.Status == engine.PlanCompleted && t.CompletedAt != nil:
		at := *t.CompletedAt
		f.Predicted, f.PredictedP90 = &at, &at
	case p50.last != nil && timed:
		f.Predicted, f.PredictedP90 = &p50.lastEnd, &p90.lastEnd
	}
	if p50.last != nil && (timed || t.Status == engine.PlanCompleted) {
		f.CriticalPath, f.CriticalPathP90 = p50.path(), p90.path()
	}
	for _, id := range f.CriticalPath {
		if sf := f.Step(id); sf != nil {
			sf.Critical = true
		}
	}
	if due := t.RequestedCompletion; due != nil && t.Status != engine.PlanCompleted && t.Status != engine.PlanCancelled {
		switch {
		case !now.Before(*due):
			f.Jeopardy = engine.Late
			f.Reason = "the requested completion " + fmtTime(*due) + " has passed"
		case f.Predicted != nil && f.Predicted.After(*due):
			f.Jeopardy = engine.AtRisk
			f.Reason = f.reason(t, f.CriticalPath, false, *f.Predicted, *due)
		case f.PredictedP90 != nil && f.PredictedP90.After(*due):
			f.Jeopardy = engine.AtRisk
			f.Reason = f.reason(t, f.CriticalPathP90, true, *f.PredictedP90, *due)
		}
	}
	return f
}

// reason names the open step of path that weighs most: for the p90 risk
// the history step with the longest p90 (only history makes p90 differ
// from p50), else the step with the longest duration.
func (f *Forecast) reason(t *engine.PlanTimeline, path []int, p90 bool, predicted, due time.Time) string {
	open := map[int]*engine.TimelineStep{}
	for _, s := range t.Steps {
		if !s.Status.Terminal() {
			open[s.ID] = s
		}
	}
	var pick *StepForecast
	var name string
	for _, id := range path {
		sf, s := f.Step(id), open[id]
		if sf == nil || s == nil || (p90 && sf.Basis != BasisHistory) {
			continue
		}
		d := sf.P50
		if p90 {
			d = sf.P90
		}
		if d > 0 && (pick == nil || d > pick.dur(p90)) {
			pick, name = sf, s.Name
		}
	}
	which := "predicted completion"
	if p90 {
		which = "p90 completion"
	}
	tail := which + " " + fmtTime(predicted) + ", requested " + fmtTime(due)
	if pick == nil {
		return "the " + tail
	}
	label := "estimate"
	switch {
	case pick.Basis == BasisHistory && p90:
		label = "p90"
	case pick.Basis == BasisHistory:
		label = "p50"
	}
	return fmt.Sprintf("%s %s %s on the critical path (%s)", name, label, FormatDuration(pick.dur(p90)), tail)
}

func (sf *StepForecast) dur(p90 bool) time.Duration {
	if p90 {
		return sf.P90
	}
	return sf.P50
}

// FormatDuration writes d to the second without zero units: 3h20m, 45m,
// 1h0m5s, 0s.
func FormatDuration(d time.Duration) string {
	s := d.Round(time.Second).String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

func fmtTime(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// pass is one walk of a timeline with one duration per step.
type pass struct {
	start, finish map[int]time.Time
	via           map[int]int // the prerequisite that determined a step's start
	last          *engine.TimelineStep
	lastEnd       time.Time
}

func runPass(t *engine.PlanTimeline, now time.Time, dur func(i int) time.Duration) *pass {
	byID := make(map[int]int, len(t.Steps))
	for i, s := range t.Steps {
		byID[s.ID] = i
	}
	p := &pass{start: map[int]time.Time{}, finish: map[int]time.Time{}, via: map[int]int{}}
	var visit func(i int, depth int) time.Time
	visit = func(i int, depth int) time.Time {
		s := t.Steps[i]
		if at, ok := p.finish[s.ID]; ok {
			return at
		}
		var start, end time.Time
		switch {
		case s.Status.Terminal():
			end = now
			if s.CompletedAt != nil {
				end = *s.CompletedAt
			}
			start = end
			if s.ReadyAt != nil && !s.ReadyAt.After(end) {
				start = *s.ReadyAt
			}
		case s.Status != engine.StepPending && s.Status != engine.StepScheduled && s.ReadyAt != nil:
			start = *s.ReadyAt
			end = s.EndAfter(start, dur(i))
			if end.Before(now) {
				end = now
			}
		default:
			start = now
			if depth < len(t.Steps) { // a cycle cannot happen; stay finite anyway
				for _, pid := range s.Prereqs {
					if pi, ok := byID[pid]; ok {
						// >= : a prerequisite that ends exactly now (an
						// overdue one) is still what the step waits for.
						if pe := visit(pi, depth+1); !pe.Before(start) {
							if _, chosen := p.via[s.ID]; !chosen || pe.After(start) {
								start, p.via[s.ID] = pe, pid
							}
						}
					}
				}
			}
			if s.NotBefore != nil && s.NotBefore.After(start) {
				start = *s.NotBefore
			}
			end = s.EndAfter(start, dur(i))
		}
		p.start[s.ID], p.finish[s.ID] = start, end
		return end
	}
	for i, s := range t.Steps {
		end := visit(i, 0)
		if p.last == nil || end.After(p.lastEnd) {
			p.last, p.lastEnd = s, end
		}
	}
	return p
}

// path is the chain of prerequisites that ends at the latest step, in
// execution order.
func (p *pass) path() []int {
	var out []int
	for id, ok := p.last.ID, true; ok; id, ok = p.via[id] {
		out = append(out, id)
	}
	slices.Reverse(out)
	return out
}

// DurationStats summarises observed durations: nearest-rank p50 and p90.
// Nil for none. ds is not modified.
func DurationStatsOf(ds []time.Duration) *engine.DurationStats {
	if len(ds) == 0 {
		return nil
	}
	sorted := slices.Clone(ds)
	slices.Sort(sorted)
	rank := func(p int) time.Duration { // ceil(p/100 · n), 1-based
		k := (p*len(sorted) + 99) / 100
		return sorted[max(k, 1)-1]
	}
	return &engine.DurationStats{N: len(sorted), P50: rank(50), P90: rank(90)}
}
