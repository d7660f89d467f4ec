package plan

import (
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
