package metrics_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/batonhq/baton/engine"
	"github.com/batonhq/baton/engine/metrics"
)

// A nil *Metrics records nothing and does not panic: engines built
// without a registry use it.
func TestNilMetricsRecordNothing(t *testing.T) {
	var m *metrics.Metrics
	m.OrderSubmitted()
	m.OrderCompleted(time.Second)
	m.OrderCancelled()
	m.StepTransition(engine.Callout, engine.StepRunning)
	m.StepCompleted(engine.Callout, "Call", time.Second)
	m.Callout("erp", metrics.OutcomeSuccess, time.Millisecond)
	m.Commit(3, time.Millisecond)
	m.DatabaseError("write")
	m.FeedDelivered(2)
	m.FeedDropped()
}

func TestRegisterTwiceFails(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	if err := metrics.New().Register(reg); err != nil {
		t.Fatal(err)
	}
	if err := metrics.New().Register(reg); err == nil {
		t.Error("a second registration of the same metrics succeeded")
	}
}

type source struct {
	steps   []engine.StepCount
	tasks   map[string]*engine.TaskCounts
	systems map[string]*engine.SystemState
	held    map[string]int
	err     error // returned by StepCounts
}

func (s *source) StepCounts(context.Context) ([]engine.StepCount, error) { return s.steps, s.err }
func (s *source) TaskCounts(context.Context) (map[string]*engine.TaskCounts, error) {
	return s.tasks, nil
}
func (s *source) SystemStates(context.Context) (map[string]*engine.SystemState, error) {
	return s.systems, nil
}
func (s *source) HeldCounts(context.Context) (map[string]int, error) { return s.held, nil }

func TestStateCollector(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	open := now.Add(time.Minute)
	src := &source{
		steps: []engine.StepCount{{Status: engine.StepFallout, Jeopardy: engine.OnTrack, N: 2}, {Status: engine.StepFallout, Jeopardy: engine.Late, N: 1},
			{Status: engine.StepWaiting, Jeopardy: engine.AtRisk, N: 4}},
		tasks: map[string]*engine.TaskCounts{"field": {Open: 4, Unassigned: 3},
			"site-7": {Open: 2, Unassigned: 1}, "site-9": {Open: 1, Unassigned: 1}}, // not declared
		systems: map[string]*engine.SystemState{"billing": {Name: "billing", Status: engine.SystemOnline, OpenUntil: &open}},
		held:    map[string]int{"billing": 5},
	}
	m := metrics.New()
	reg := prometheus.NewPedanticRegistry()
	m.Register(reg)
	reg.MustRegister(metrics.NewStateCollector(metrics.StateConfig{Source: src, Clock: engine.NewFakeClock(now), Metrics: m,
		Systems: func(context.Context) ([]string, error) { return []string{"billing", "erp"}, nil },
		Queues:  func(context.Context) ([]string, error) { return []string{"field", "billing-desk"}, nil }}))
	want := `
# HELP baton_callouts_held Callout steps ON_HOLD (their system offline or its circuit open), by system; read from the database.
# TYPE baton_callouts_held gauge
baton_callouts_held{system="billing"} 5
baton_callouts_held{system="erp"} 0
# HELP baton_fallout_open Steps in FALLOUT, waiting for an operator; read from the database.
# TYPE baton_fallout_open gauge
baton_fallout_open 3
# HELP baton_system_circuit_state 1 for the system's circuit breaker state (CLOSED, OPEN, HALF_OPEN), 0 for the others; read from the database.
# TYPE baton_system_circuit_state gauge
baton_system_circuit_state{state="CLOSED",system="billing"} 0
baton_system_circuit_state{state="CLOSED",system="erp"} 1
baton_system_circuit_state{state="HALF_OPEN",system="billing"} 0
baton_system_circuit_state{state="HALF_OPEN",system="erp"} 0
baton_system_circuit_state{state="OPEN",system="billing"} 1
baton_system_circuit_state{state="OPEN",system="erp"} 0
# HELP baton_tasks_unassigned Open manual tasks nobody is assigned, by queue; read from the database.
# TYPE baton_tasks_unassigned gauge
baton_tasks_unassigned{queue="(other)"} 2
baton_tasks_unassigned{queue="field"} 3
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "baton_callouts_held", "baton_fallout_open",
		"baton_system_circuit_state", "baton_tasks_unassigned"); err != nil {
		t.Error(err)
	}
	// A failing read: up 0, a database error counted, the rest reported.
	// The registry gathers the collectors concurrently, so the error this
	// scrape counts may or may not be in the same scrape's counter: it is
	// checked by the next one, whose reads succeed.
	src.err = errors.New("database gone")
	want = `
# HELP baton_state_up 1 when this scrape read the state from the database, 0 when a read failed (some baton_steps_open, baton_tasks_*, baton_system_* series are then missing).
# TYPE baton_state_up gauge
baton_state_up 0
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "baton_state_up"); err != nil {
		t.Error(err)
	}
	if n, err := testutil.GatherAndCount(reg, "baton_steps_open", "baton_fallout_open"); err != nil || n != 0 {
		t.Errorf("with StepCounts failing: %d open-step series (%v); want none", n, err)
	}
	src.err = nil
	want = `
# HELP baton_database_errors_total Database failures: engine transactions that failed for a reason of the database (not a refusal of the request), and state reads for /metrics that failed.
# TYPE baton_database_errors_total counter
baton_database_errors_total{operation="scrape"} 2
baton_database_errors_total{operation="write"} 0
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "baton_database_errors_total"); err != nil {
		t.Error(err) // the two failed scrapes above
	}
}
