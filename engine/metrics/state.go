package metrics

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/batonhq/baton/engine"
)

// StateSource reads the state the state collector reports: cheap
// aggregate queries (engine/entstore implements it).
type StateSource interface {
	// StepCounts counts the open steps (not COMPLETED, SKIPPED or
	// CANCELLED) by status and jeopardy.
	StepCounts(ctx context.Context) ([]engine.StepCount, error)
	TaskCounts(ctx context.Context) (map[string]*engine.TaskCounts, error)
	SystemStates(ctx context.Context) (map[string]*engine.SystemState, error)
	HeldCounts(ctx context.Context) (map[string]int, error)
}

// StateCollector reports, at each scrape, what the database says: open
// steps by status and jeopardy, fallout, held callouts and circuit state
// by system, open and unassigned manual tasks by queue. The values are the
// deployment's, the same on every replica (sum or max them across
// replicas, don't add them up).
type StateCollector struct {
	src     StateSource
	systems func(context.Context) ([]string, error)
	queues  func(context.Context) ([]string, error)
	clock   engine.Clock
	timeout time.Duration
	m       *Metrics

	open, fallout, held, circuit, online, tasksOpen, tasksUnassigned, up *prometheus.Desc
}

// StateConfig configures a StateCollector. Source is required.
type StateConfig struct {
	Source StateSource
	// Systems names the systems to report besides those the database has
	// a state for (a system no callout reached yet is CLOSED and ONLINE):
	// the current catalog's. Nil: only the database's.
	Systems func(context.Context) ([]string, error)
	// Queues names the queues the catalog declares: tasks in any other
	// queue (a queue expression may route to names of its own making)
	// are counted under OtherQueue, so that the label's values stay as
	// few as the catalog's queues. Nil: every queue under its name.
	Queues func(context.Context) ([]string, error)
	Clock  engine.Clock // default SystemClock
	// Timeout bounds each scrape's reads together (default 2s).
	Timeout time.Duration
	// Metrics counts failed reads as database errors (may be nil).
	Metrics *Metrics
}

// NewStateCollector returns the collector. A read that fails leaves its
// metrics out of that scrape, sets baton_state_up to 0 and counts a
// database error.
func NewStateCollector(cfg StateConfig) *StateCollector {
	if cfg.Timeout <= 0 {
		cfg.Timeout = 2 * time.Second
	}
	if cfg.Clock == nil {
		cfg.Clock = engine.SystemClock{}
	}
	return &StateCollector{src: cfg.Source, systems: cfg.Systems, queues: cfg.Queues, clock: cfg.Clock, timeout: cfg.Timeout, m: cfg.Metrics,
		open: prometheus.NewDesc("baton_steps_open", "Steps not finished (every status but COMPLETED, SKIPPED, CANCELLED), by status and jeopardy; read from the database, the same on every replica.",
			[]string{"status", "jeopardy"}, nil),
		fallout: prometheus.NewDesc("baton_fallout_open", "Steps in FALLOUT, waiting for an operator; read from the database.", nil, nil),
		held:    prometheus.NewDesc("baton_callouts_held", "Callout steps ON_HOLD (their system offline or its circuit open), by system; read from the database.", []string{"system"}, nil),
		circuit: prometheus.NewDesc("baton_system_circuit_state", "1 for the system's circuit breaker state (CLOSED, OPEN, HALF_OPEN), 0 for the others; read from the database.",
			[]string{"system", "state"}, nil),
		online:          prometheus.NewDesc("baton_system_online", "1 when an operator has the system ONLINE, 0 when OFFLINE; read from the database.", []string{"system"}, nil),
		tasksOpen:       prometheus.NewDesc("baton_tasks_open", "Manual tasks waiting for a person (READY or WAITING), by queue; read from the database.", []string{"queue"}, nil),
		tasksUnassigned: prometheus.NewDesc("baton_tasks_unassigned", "Open manual tasks nobody is assigned, by queue; read from the database.", []string{"queue"}, nil),
		up:              prometheus.NewDesc("baton_state_up", "1 when this scrape read the state from the database, 0 when a read failed (some baton_steps_open, baton_tasks_*, baton_system_* series are then missing).", nil, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *StateCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.open, c.fallout, c.held, c.circuit, c.online, c.tasksOpen, c.tasksUnassigned, c.up} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *StateCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	up := 1.0
	failed := func(err error) bool {
		if err == nil {
			return false
		}
		up = 0
		c.m.DatabaseError("scrape")
		return true
	}
	if counts, err := c.src.StepCounts(ctx); !failed(err) {
		fallout := 0
		for _, sc := range counts {
			ch <- prometheus.MustNewConstMetric(c.open, prometheus.GaugeValue, float64(sc.N), string(sc.Status), string(sc.Jeopardy))
			if sc.Status == engine.StepFallout {
				fallout += sc.N
			}
		}
		ch <- prometheus.MustNewConstMetric(c.fallout, prometheus.GaugeValue, float64(fallout))
	}
	held, err := c.src.HeldCounts(ctx)
	if !failed(err) {
		for name, n := range held {
			ch <- prometheus.MustNewConstMetric(c.held, prometheus.GaugeValue, float64(n), name)
		}
	}
	if systems, err := c.src.SystemStates(ctx); !failed(err) {
		if c.systems != nil {
			names, err := c.systems(ctx)
			failed(err)
			for _, name := range names {
				if systems[name] == nil {
					systems[name] = &engine.SystemState{Name: name, Status: engine.SystemOnline}
				}
			}
		}
		now := c.clock.Now()
		for name, st := range systems {
			state := st.Circuit(now)
			for _, s := range []engine.CircuitState{engine.CircuitClosed, engine.CircuitOpen, engine.CircuitHalfOpen} {
				v := 0.0
				if s == state {
					v = 1
				}
				ch <- prometheus.MustNewConstMetric(c.circuit, prometheus.GaugeValue, v, name, string(s))
			}
			v := 1.0
			if st.Status == engine.SystemOffline {
				v = 0
			}
			ch <- prometheus.MustNewConstMetric(c.online, prometheus.GaugeValue, v, name)
			if _, ok := held[name]; !ok && held != nil {
				ch <- prometheus.MustNewConstMetric(c.held, prometheus.GaugeValue, 0, name)
			}
		}
	}
	if tasks, err := c.src.TaskCounts(ctx); !failed(err) {
		if c.queues != nil {
			if declared, err := c.queues(ctx); !failed(err) {
				tasks = foldQueues(tasks, declared)
			}
		}
		for queue, tc := range tasks {
			ch <- prometheus.MustNewConstMetric(c.tasksOpen, prometheus.GaugeValue, float64(tc.Open), queue)
			ch <- prometheus.MustNewConstMetric(c.tasksUnassigned, prometheus.GaugeValue, float64(tc.Unassigned), queue)
		}
	}
	ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, up)
}

// OtherQueue is the queue label of tasks in queues the catalog does not
// declare.
const OtherQueue = "(other)"

// foldQueues adds the counts of queues not in declared up under
// OtherQueue.
func foldQueues(tasks map[string]*engine.TaskCounts, declared []string) map[string]*engine.TaskCounts {
	known := make(map[string]bool, len(declared))
	for _, q := range declared {
		known[q] = true
	}
	out := make(map[string]*engine.TaskCounts, len(tasks))
	for q, tc := range tasks {
		if !known[q] {
			q = OtherQueue
		}
		sum := out[q]
		if sum == nil {
			sum = &engine.TaskCounts{}
			out[q] = sum
		}
		sum.Open += tc.Open
		sum.Unassigned += tc.Unassigned
	}
	return out
}
