package plan

import (
	"slices"
	"testing"
	"time"

	"github.com/batonhq/baton/engine"
)

func TestRollUp(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		tallies []StepTally
		want    Health
	}{
		{"no steps", nil, Health{Jeopardy: engine.OnTrack}},
		{"on track", []StepTally{{engine.StepRunning, engine.OnTrack, 3}}, Health{Jeopardy: engine.OnTrack}},
		{"worst open wins", []StepTally{
			{engine.StepReady, engine.AtRisk, 1},
			{engine.StepWaiting, engine.Late, 2},
			{engine.StepRunning, engine.OnTrack, 5},
		}, Health{Jeopardy: engine.Late}},
		{"terminal steps are history", []StepTally{
			{engine.StepCompleted, engine.Late, 4},
			{engine.StepSkipped, engine.Late, 1},
			{engine.StepCancelled, engine.AtRisk, 1},
			{engine.StepPending, engine.OnTrack, 1},
		}, Health{Jeopardy: engine.OnTrack}},
		{"fallout counted across levels", []StepTally{
			{engine.StepFallout, engine.OnTrack, 2},
			{engine.StepFallout, engine.AtRisk, 3},
			{engine.StepFailed, engine.OnTrack, 1},
		}, Health{Jeopardy: engine.AtRisk, Fallout: 5}},
		{"on hold and failed are open", []StepTally{
			{engine.StepOnHold, engine.AtRisk, 1},
			{engine.StepFailed, engine.Late, 1},
		}, Health{Jeopardy: engine.Late}},
		{"empty tally counts for nothing", []StepTally{{engine.StepFallout, engine.Late, 0}}, Health{Jeopardy: engine.OnTrack}},
	}
	for _, tt := range tests {
		if got := RollUp(tt.tallies); got != tt.want {
			t.Errorf("%s: RollUp(%v) = %+v; want %+v", tt.name, tt.tallies, got, tt.want)
		}
	}
}

func TestPlanJeopardy(t *testing.T) {
	t.Parallel()
	due := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		steps engine.Jeopardy
		f     *Forecast
		want  engine.Jeopardy
	}{
		{engine.OnTrack, nil, engine.OnTrack},
		{engine.AtRisk, nil, engine.AtRisk},
		{engine.OnTrack, &Forecast{Predicted: &due, Jeopardy: engine.AtRisk}, engine.AtRisk},
		{engine.Late, &Forecast{Jeopardy: engine.AtRisk}, engine.Late},
		{engine.AtRisk, &Forecast{Jeopardy: engine.Late}, engine.Late},
		{engine.AtRisk, &Forecast{Jeopardy: engine.OnTrack}, engine.AtRisk},
	}
	for _, tt := range tests {
		var fj engine.Jeopardy
		if tt.f != nil {
			fj = tt.f.Jeopardy
		}
		if got := PlanJeopardy(Health{Jeopardy: tt.steps}, tt.f); got != tt.want {
			t.Errorf("PlanJeopardy(%s, forecast %q) = %s; want %s", tt.steps, fj, got, tt.want)
		}
	}
}

func TestWorstJeopardy(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   []engine.Jeopardy
		want engine.Jeopardy
	}{
		{nil, engine.OnTrack},
		{[]engine.Jeopardy{engine.AtRisk}, engine.AtRisk},
		{[]engine.Jeopardy{engine.Late, engine.AtRisk}, engine.Late},
		{[]engine.Jeopardy{engine.OnTrack, engine.AtRisk, engine.OnTrack}, engine.AtRisk},
		{[]engine.Jeopardy{"", "BOGUS"}, engine.OnTrack},
	}
	for _, tt := range tests {
		if got := WorstJeopardy(tt.in...); got != tt.want {
			t.Errorf("WorstJeopardy(%q) = %s; want %s", tt.in, got, tt.want)
		}
	}
}

func TestOpenStepStatuses(t *testing.T) {
	t.Parallel()
	got := OpenStepStatuses()
	want := []engine.StepStatus{engine.StepPending, engine.StepScheduled, engine.StepReady, engine.StepRunning, engine.StepWaiting,
		engine.StepFailed, engine.StepFallout, engine.StepOnHold}
	if !slices.Equal(got, want) {
		t.Errorf("OpenStepStatuses() = %v; want %v", got, want)
	}
}

func TestJeopardyReason(t *testing.T) {
	t.Parallel()
	tl := func(js ...engine.Jeopardy) *engine.PlanTimeline {
		t := &engine.PlanTimeline{}
		for i, j := range js {
			st := engine.StepWaiting
			if i == 0 {
				st = engine.StepCompleted // finished: its level is history
			}
			t.Steps = append(t.Steps, &engine.TimelineStep{ID: i + 1, Name: string(rune('A' + i)), Status: st, Jeopardy: j})
		}
		return t
	}
	fc := func(j engine.Jeopardy, reason string, t *engine.PlanTimeline) *Forecast {
		return &Forecast{Jeopardy: j, Reason: reason, Timeline: t}
	}
	for _, tc := range []struct {
		name string
		h    engine.Jeopardy
		f    *Forecast
		want string
	}{
		{"on track", engine.OnTrack, fc(engine.OnTrack, "", tl(engine.Late, engine.OnTrack)), ""},
		{"the forecast's reason", engine.AtRisk, fc(engine.AtRisk, "Install p90 3h20m on the critical path", tl(engine.OnTrack, engine.AtRisk)),
			"Install p90 3h20m on the critical path"},
		{"a late step beats an at-risk forecast", engine.Late, fc(engine.AtRisk, "x", tl(engine.Late, engine.Late, engine.AtRisk)), "B is LATE"},
		{"several", engine.AtRisk, fc(engine.OnTrack, "", tl(engine.OnTrack, engine.AtRisk, engine.AtRisk)), "2 steps are AT_RISK: B, C"},
		{"many", engine.AtRisk, fc(engine.OnTrack, "", tl(engine.OnTrack, engine.AtRisk, engine.AtRisk, engine.AtRisk, engine.AtRisk)),
			"4 steps are AT_RISK: B, C, D, …"},
		{"no timeline", engine.Late, nil, "a step is LATE"},
	} {
		if got := JeopardyReason(Health{Jeopardy: tc.h}, tc.f); got != tc.want {
			t.Errorf("%s: JeopardyReason = %q; want %q", tc.name, got, tc.want)
		}
	}
}
