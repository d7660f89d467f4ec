package plan

import (
	"slices"
	"testing"
	"time"

	"github.com/batonhq/baton/engine"
)

func TestForecastPlan(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 3, 6, 15, 0, 0, 0, time.UTC) // a Friday
	at := func(h float64) *time.Time { v := t0.Add(time.Duration(h * float64(time.Hour))); return &v }
	// office: 09:00–17:00 UTC on weekdays, as a Finish function.
	office := func(start time.Time, d time.Duration) time.Time {
		for d > 0 {
			if wd := start.Weekday(); wd == time.Saturday || wd == time.Sunday || start.Hour() >= 17 {
				y, m, dd := start.Date()
				start = time.Date(y, m, dd+1, 9, 0, 0, 0, time.UTC)
				continue
			}
			if start.Hour() < 9 {
				y, m, dd := start.Date()
				start = time.Date(y, m, dd, 9, 0, 0, 0, time.UTC)
			}
			y, m, dd := start.Date()
			left := time.Date(y, m, dd, 17, 0, 0, 0, time.UTC).Sub(start)
			if left >= d {
				return start.Add(d)
			}
			d -= left
			start = start.Add(left)
		}
		return start
	}
	for _, tc := range []struct {
		name  string
		steps []*engine.TimelineStep
		want  time.Time
		path  []int
	}{
		{"a chain of estimates",
			[]*engine.TimelineStep{{ID: 1, Status: engine.StepReady, ReadyAt: at(0), Estimate: time.Hour},
				{ID: 2, Status: engine.StepPending, Prereqs: []int{1}, Estimate: 2 * time.Hour}},
			*at(3), []int{1, 2}},
		{"a scheduled step starts at its startAt",
			[]*engine.TimelineStep{{ID: 1, Status: engine.StepScheduled, NotBefore: at(24), Estimate: time.Hour},
				{ID: 2, Status: engine.StepPending, Prereqs: []int{1}, Estimate: time.Hour}},
			*at(26), []int{1, 2}},
		{"a startAt already reached does not hold it back",
			[]*engine.TimelineStep{{ID: 1, Status: engine.StepPending, NotBefore: at(-5), Estimate: time.Hour}},
			*at(1), []int{1}},
		{"a task with office hours, ready Friday 15:00, 4h: Monday 11:00",
			[]*engine.TimelineStep{{ID: 1, Status: engine.StepWaiting, ReadyAt: at(0), Estimate: 4 * time.Hour, Finish: office}},
			time.Date(2026, 3, 9, 11, 0, 0, 0, time.UTC), []int{1}},
		{"a pending task after it, in office hours too",
			[]*engine.TimelineStep{{ID: 1, Status: engine.StepWaiting, ReadyAt: at(0), Estimate: 4 * time.Hour, Finish: office},
				{ID: 2, Status: engine.StepPending, Prereqs: []int{1}, Estimate: 7 * time.Hour, Finish: office}},
			time.Date(2026, 3, 10, 10, 0, 0, 0, time.UTC), []int{1, 2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := ForecastPlan(&engine.PlanTimeline{PlanID: 1, Status: engine.PlanInProgress, Steps: tc.steps}, t0)
			if f.Predicted == nil || !f.Predicted.Equal(tc.want) {
				t.Errorf("predicted %v; want %v", f.Predicted, tc.want)
			}
			if len(f.CriticalPath) != len(tc.path) || f.CriticalPath[len(f.CriticalPath)-1] != tc.path[len(tc.path)-1] {
				t.Errorf("critical path %v; want %v", f.CriticalPath, tc.path)
			}
		})
	}
}

func TestForecastWithHistory(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	h := time.Hour
	at := func(d time.Duration) *time.Time { v := t0.Add(d); return &v }
	hist := func(n int, p50, p90 time.Duration) *engine.DurationStats {
		return &engine.DurationStats{N: n, P50: p50, P90: p90}
	}
	// Survey (READY now, 1h) → Install (2h estimate), and Paperwork
	// (2h30m) beside them.
	steps := func(install *engine.DurationStats, paper *engine.DurationStats) []*engine.TimelineStep {
		return []*engine.TimelineStep{
			{ID: 1, Name: "Survey", Status: engine.StepWaiting, ReadyAt: at(0), Estimate: h},
			{ID: 2, Name: "Install", Status: engine.StepPending, Prereqs: []int{1}, Estimate: 2 * h, History: install},
			{ID: 3, Name: "Paperwork", Status: engine.StepWaiting, ReadyAt: at(0), Estimate: 150 * time.Minute, History: paper},
		}
	}
	for _, tc := range []struct {
		name      string
		steps     []*engine.TimelineStep
		requested *time.Time
		min       int
		want      time.Duration // Predicted − t0
		want90    time.Duration // PredictedP90 − t0
		path      []int
		path90    []int
		basis     Basis // Install's
		jeopardy  engine.Jeopardy
		reason    string
	}{
		{name: "19 completions: the estimate", steps: steps(hist(19, 5*h, 9*h), nil), requested: at(4 * h),
			want: 3 * h, want90: 3 * h, path: []int{1, 2}, path90: []int{1, 2}, basis: BasisEstimate, jeopardy: engine.OnTrack},
		{name: "20 completions: p50 predicts, p90 at risk", steps: steps(hist(20, 2*h, 3*h+20*time.Minute), nil), requested: at(4 * h),
			want: 3 * h, want90: 4*h + 20*time.Minute, path: []int{1, 2}, path90: []int{1, 2}, basis: BasisHistory, jeopardy: engine.AtRisk,
			reason: "Install p90 3h20m on the critical path (p90 completion 2026-03-02T13:20:00Z, requested 2026-03-02T13:00:00Z)"},
		{name: "history faster than the estimate moves the critical path", steps: steps(hist(200, time.Hour, 80*time.Minute), nil),
			requested: at(3 * h), want: 150 * time.Minute, want90: 150 * time.Minute, path: []int{3}, path90: []int{3},
			basis: BasisHistory, jeopardy: engine.OnTrack},
		{name: "history slower on the other branch moves it too", steps: steps(nil, hist(20, 4*h, 4*h)),
			want: 4 * h, want90: 4 * h, path: []int{3}, path90: []int{3}, basis: BasisEstimate, jeopardy: engine.OnTrack},
		{name: "p50 passes: the prediction's reason", steps: steps(hist(20, 4*h, 5*h), nil), requested: at(4 * h),
			want: 5 * h, want90: 6 * h, path: []int{1, 2}, path90: []int{1, 2}, basis: BasisHistory, jeopardy: engine.AtRisk,
			reason: "Install p50 4h on the critical path (predicted completion 2026-03-02T14:00:00Z, requested 2026-03-02T13:00:00Z)"},
		{name: "estimates pass: the estimate's reason", steps: steps(nil, nil), requested: at(2 * h),
			want: 3 * h, want90: 3 * h, path: []int{1, 2}, path90: []int{1, 2}, basis: BasisEstimate, jeopardy: engine.AtRisk,
			reason: "Install estimate 2h on the critical path (predicted completion 2026-03-02T12:00:00Z, requested 2026-03-02T11:00:00Z)"},
		{name: "p90 risk names the history step, not the longer estimate", steps: []*engine.TimelineStep{
			{ID: 1, Name: "Survey", Status: engine.StepWaiting, ReadyAt: at(0), Estimate: 2 * h},
			{ID: 2, Name: "Install", Status: engine.StepPending, Prereqs: []int{1}, Estimate: 2 * h, History: hist(25, 10*time.Minute, 40*time.Minute)},
		}, requested: at(150 * time.Minute),
			want: 130 * time.Minute, want90: 160 * time.Minute, path: []int{1, 2}, path90: []int{1, 2}, basis: BasisHistory, jeopardy: engine.AtRisk,
			reason: "Install p90 40m on the critical path (p90 completion 2026-03-02T11:40:00Z, requested 2026-03-02T11:30:00Z)"},
		{name: "a smaller minimum takes fewer samples", steps: steps(hist(5, 4*h, 4*h), nil), min: 5,
			want: 5 * h, want90: 5 * h, path: []int{1, 2}, path90: []int{1, 2}, basis: BasisHistory, jeopardy: engine.OnTrack},
		{name: "requested passed: LATE", steps: steps(nil, nil), requested: at(-time.Minute),
			want: 3 * h, want90: 3 * h, path: []int{1, 2}, path90: []int{1, 2}, basis: BasisEstimate, jeopardy: engine.Late,
			reason: "the requested completion 2026-03-02T08:59:00Z has passed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tl := &engine.PlanTimeline{PlanID: 1, Status: engine.PlanInProgress, RequestedCompletion: tc.requested, Steps: tc.steps}
			f := ForecastPlanWith(tl, t0, ForecastOptions{MinSamples: tc.min})
			if f.Predicted == nil || !f.Predicted.Equal(t0.Add(tc.want)) || f.PredictedP90 == nil || !f.PredictedP90.Equal(t0.Add(tc.want90)) {
				t.Errorf("predicted %v, p90 %v; want t0+%s, t0+%s", f.Predicted, f.PredictedP90, tc.want, tc.want90)
			}
			if !slices.Equal(f.CriticalPath, tc.path) || !slices.Equal(f.CriticalPathP90, tc.path90) {
				t.Errorf("critical paths %v, %v; want %v, %v", f.CriticalPath, f.CriticalPathP90, tc.path, tc.path90)
			}
			if b := f.Step(2).Basis; b != tc.basis {
				t.Errorf("Install basis %s; want %s", b, tc.basis)
			}
			if f.Jeopardy != tc.jeopardy || f.Reason != tc.reason {
				t.Errorf("jeopardy %s %q; want %s %q", f.Jeopardy, f.Reason, tc.jeopardy, tc.reason)
			}
			for _, sf := range f.Steps {
				if sf.Critical != slices.Contains(tc.path, sf.StepID) {
					t.Errorf("step %d critical %v; path %v", sf.StepID, sf.Critical, tc.path)
				}
			}
		})
	}
}

// Each step's planned start and end: actual times for what happened,
// the p50 walk for the rest; a cancelled step has none.
func TestForecastStepTimes(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	at := func(d time.Duration) *time.Time { v := t0.Add(d); return &v }
	tl := &engine.PlanTimeline{PlanID: 1, Status: engine.PlanInProgress, Steps: []*engine.TimelineStep{
		{ID: 1, Status: engine.StepCompleted, ReadyAt: at(-3 * time.Hour), CompletedAt: at(-time.Hour), Estimate: time.Hour},
		{ID: 2, Status: engine.StepRunning, ReadyAt: at(-time.Hour), Prereqs: []int{1}, Estimate: 3 * time.Hour},
		{ID: 3, Status: engine.StepPending, Prereqs: []int{2}, Estimate: time.Hour,
			History: &engine.DurationStats{N: 20, P50: 30 * time.Minute, P90: time.Hour}},
		{ID: 4, Status: engine.StepCancelled, CompletedAt: at(-2 * time.Hour)},
	}}
	f := ForecastPlan(tl, t0)
	for _, c := range []struct {
		id         int
		start, end time.Duration
		zero       bool
	}{{1, -3 * time.Hour, -time.Hour, false}, {2, -time.Hour, 2 * time.Hour, false}, {3, 2 * time.Hour, 150 * time.Minute, false}, {4, 0, 0, true}} {
		sf := f.Step(c.id)
		switch {
		case c.zero && (!sf.Start.IsZero() || !sf.End.IsZero()):
			t.Errorf("step %d: %v – %v; want none", c.id, sf.Start, sf.End)
		case !c.zero && (!sf.Start.Equal(t0.Add(c.start)) || !sf.End.Equal(t0.Add(c.end))):
			t.Errorf("step %d: %v – %v; want t0%+v – t0%+v", c.id, sf.Start, sf.End, c.start, c.end)
		}
	}
}

func TestDurationStatsOf(t *testing.T) {
	t.Parallel()
	m := func(ns ...int) []time.Duration {
		out := make([]time.Duration, len(ns))
		for i, n := range ns {
			out[i] = time.Duration(n) * time.Minute
		}
		return out
	}
	for _, tc := range []struct {
		in       []time.Duration
		p50, p90 time.Duration
	}{
		{m(5), 5 * time.Minute, 5 * time.Minute},
		{m(3, 1, 2), 2 * time.Minute, 3 * time.Minute},
		{m(10, 9, 8, 7, 6, 5, 4, 3, 2, 1), 5 * time.Minute, 9 * time.Minute},
		{m(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11), 6 * time.Minute, 10 * time.Minute},
	} {
		st := DurationStatsOf(tc.in)
		if st == nil || st.N != len(tc.in) || st.P50 != tc.p50 || st.P90 != tc.p90 {
			t.Errorf("DurationStatsOf(%v) = %+v; want p50 %s p90 %s", tc.in, st, tc.p50, tc.p90)
		}
	}
	if st := DurationStatsOf(nil); st != nil {
		t.Errorf("DurationStatsOf(nil) = %+v; want nil", st)
	}
}

func TestFormatDuration(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   time.Duration
		want string
	}{
		{3*time.Hour + 20*time.Minute, "3h20m"}, {45 * time.Minute, "45m"}, {2 * time.Hour, "2h"},
		{time.Hour + 5*time.Second, "1h0m5s"}, {0, "0s"}, {1500 * time.Millisecond, "2s"}, {26 * time.Hour, "26h"},
	} {
		if got := FormatDuration(tc.in); got != tc.want {
			t.Errorf("FormatDuration(%v) = %q; want %q", tc.in, got, tc.want)
		}
	}
}
