// Package metrics defines Baton's Prometheus metrics in one place: the
// counters and histograms the engine, its runner and the live feed update
// as things happen on this replica, and a collector that reads the state
// every replica shares (open steps, fallout, holds, circuits, tasks) from
// the database when /metrics is scraped.
//
// A nil *Metrics is valid and records nothing: engines built without a
// registry (tests, embedders) pay one nil check per call.
//
// Label values are bounded by the catalog and the configuration — step
// types, statuses, step definition names, system and queue names — never
// by orders or steps: no id is ever a label.
package metrics

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/batonhq/baton/engine"
)

// Callout outcomes, the values of baton_callout_requests_total's outcome
// label.
const (
	// OutcomeSuccess: a 2xx answer that completes the step.
	OutcomeSuccess = "success"
	// OutcomeAccepted: 202, the step waits for respondToCallout.
	OutcomeAccepted = "accepted"
	// OutcomeError: a failure that is retried (timeout, connection error,
	// 5xx, 408, 429, an answer that cannot be used).
	OutcomeError = "error"
	// OutcomeRejected: a failure that is not retried (another 4xx, a
	// request the step's expressions could not build): the step falls out.
	OutcomeRejected = "rejected"
)

// Metrics are the metrics this replica counts. Build them with New,
// register them with Register; the zero of *Metrics (nil) records nothing.
type Metrics struct {
	ordersSubmitted prometheus.Counter
	ordersCompleted prometheus.Counter
	ordersCancelled prometheus.Counter
	cycleTime       prometheus.Histogram

	transitions  *prometheus.CounterVec
	stepDuration *prometheus.HistogramVec

	calloutRequests *prometheus.CounterVec
	calloutDuration *prometheus.HistogramVec

	feedDelivered prometheus.Counter
	feedDropped   prometheus.Counter

	commitBatch    prometheus.Histogram
	commitDuration prometheus.Histogram
	dbErrors       *prometheus.CounterVec

	// Label children, resolved once: WithLabelValues hashes its values on
	// every call.
	transitionKids children[[2]string, prometheus.Counter]  // {type, status}
	durationKids   children[[2]string, prometheus.Observer] // {type, definition}
	calloutKids    children[[2]string, prometheus.Counter]  // {system, outcome}
	latencyKids    children[string, prometheus.Observer]    // system

	collectors []prometheus.Collector
}

// durationBuckets span a step's life: an automatic step in milliseconds, a
// person's task in hours or days (seconds, base unit).
var durationBuckets = []float64{0.005, 0.025, 0.1, 0.5, 1, 5, 30, 120, 600, 1800, 3600, 4 * 3600, 12 * 3600, 86400, 3 * 86400, 7 * 86400}

// New returns the metrics, unregistered.
func New() *Metrics {
	m := &Metrics{
		ordersSubmitted: prometheus.NewCounter(prometheus.CounterOpts{Name: "baton_orders_submitted_total",
			Help: "Orders accepted (submitOrder created them; resubmissions of the same externalId are not counted)."}),
		ordersCompleted: prometheus.NewCounter(prometheus.CounterOpts{Name: "baton_orders_completed_total",
			Help: "Orders whose plan completed."}),
		ordersCancelled: prometheus.NewCounter(prometheus.CounterOpts{Name: "baton_orders_cancelled_total",
			Help: "Orders cancelled (their compensations, if any, done)."}),
		cycleTime: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "baton_order_cycle_time_seconds",
			Help: "Time from an order's submission to its completion.", Buckets: durationBuckets}),
		transitions: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "baton_step_transitions_total",
			Help: "Step status changes, by step type and the status moved to."}, []string{"type", "status"}),
		stepDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "baton_step_duration_seconds",
			Help:    "Time from a step's first READY to its COMPLETED, by step type and step definition (catalog step name).",
			Buckets: durationBuckets}, []string{"type", "definition"}),
		calloutRequests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "baton_callout_requests_total",
			Help: "Callout attempts, by system and outcome (success, accepted, error, rejected)."}, []string{"system", "outcome"}),
		calloutDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "baton_callout_duration_seconds",
			Help:    "Duration of callout attempts, request to answer read, by system.",
			Buckets: []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60}}, []string{"system"}),
		feedDelivered: prometheus.NewCounter(prometheus.CounterOpts{Name: "baton_feed_events_delivered_total",
			Help: "Live events handed to this replica's feed subscriptions (one per event and subscription)."}),
		feedDropped: prometheus.NewCounter(prometheus.CounterOpts{Name: "baton_feed_subscriptions_dropped_total",
			Help: "Feed subscriptions this replica ended because they fell too far behind (SLOW_SUBSCRIBER)."}),
		commitBatch: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "baton_commit_batch_size",
			Help:    "Attempt outcomes recorded per runner transaction (group commit).",
			Buckets: []float64{1, 2, 4, 8, 16, 32, 64, 128, 256, 512}}),
		commitDuration: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "baton_commit_duration_seconds",
			Help:    "Time to record one batch of outcomes: its transaction, retries included.",
			Buckets: []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5}}),
		dbErrors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "baton_database_errors_total",
			Help: "Database failures: engine transactions that failed for a reason of the database (not a refusal of the request), and state reads for /metrics that failed."},
			[]string{"operation"}),
	}
	m.transitionKids.make = func(k [2]string) prometheus.Counter { return m.transitions.WithLabelValues(k[0], k[1]) }
	m.durationKids.make = func(k [2]string) prometheus.Observer { return m.stepDuration.WithLabelValues(k[0], k[1]) }
	m.calloutKids.make = func(k [2]string) prometheus.Counter { return m.calloutRequests.WithLabelValues(k[0], k[1]) }
	m.latencyKids.make = func(k string) prometheus.Observer { return m.calloutDuration.WithLabelValues(k) }
	for _, t := range engine.StepTypes {
		for _, s := range engine.StepStatuses {
			m.transitionKids.get([2]string{string(t), string(s)}) // every series from the start, at 0
		}
	}
	m.dbErrors.WithLabelValues("write")
	m.dbErrors.WithLabelValues("scrape")
	m.collectors = []prometheus.Collector{m.ordersSubmitted, m.ordersCompleted, m.ordersCancelled, m.cycleTime,
		m.transitions, m.stepDuration, m.calloutRequests, m.calloutDuration, m.feedDelivered, m.feedDropped,
		m.commitBatch, m.commitDuration, m.dbErrors}
	return m
}

// Register registers the metrics (not the state collector: see
// NewStateCollector) with reg.
func (m *Metrics) Register(reg prometheus.Registerer) error {
	for _, c := range m.collectors {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}

// OrderSubmitted counts an order created.
func (m *Metrics) OrderSubmitted() {
	if m != nil {
		m.ordersSubmitted.Inc()
	}
}

// OrderCompleted counts an order completed after cycle (submission to
// completion).
func (m *Metrics) OrderCompleted(cycle time.Duration) {
	if m != nil {
		m.ordersCompleted.Inc()
		m.cycleTime.Observe(cycle.Seconds())
	}
}

// OrderCancelled counts an order cancelled.
func (m *Metrics) OrderCancelled() {
	if m != nil {
		m.ordersCancelled.Inc()
	}
}

// StepTransition counts a step of type typ moved to status to.
func (m *Metrics) StepTransition(typ engine.StepType, to engine.StepStatus) {
	if m == nil {
		return
	}
	m.transitionKids.get([2]string{string(typ), string(to)}).Inc()
}

// StepCompleted observes how long a completed step of definition def took.
func (m *Metrics) StepCompleted(typ engine.StepType, def string, d time.Duration) {
	if m == nil {
		return
	}
	m.durationKids.get([2]string{string(typ), def}).Observe(d.Seconds())
}

// Callout counts one callout attempt to system with its outcome (one of
// the Outcome constants) and observes its duration.
func (m *Metrics) Callout(system, outcome string, d time.Duration) {
	if m == nil {
		return
	}
	m.calloutKids.get([2]string{system, outcome}).Inc()
	m.latencyKids.get(system).Observe(d.Seconds())
}

// Commit observes a runner transaction that recorded n outcomes in d.
func (m *Metrics) Commit(n int, d time.Duration) {
	if m != nil {
		m.commitBatch.Observe(float64(n))
		m.commitDuration.Observe(d.Seconds())
	}
}

// DatabaseError counts a database failure of an operation ("write" or
// "scrape").
func (m *Metrics) DatabaseError(operation string) {
	if m != nil {
		m.dbErrors.WithLabelValues(operation).Inc()
	}
}

// FeedDelivered counts n events handed to feed subscriptions.
func (m *Metrics) FeedDelivered(n int) {
	if m != nil && n > 0 {
		m.feedDelivered.Add(float64(n))
	}
}

// FeedDropped counts a feed subscription dropped as too slow.
func (m *Metrics) FeedDropped() {
	if m != nil {
		m.feedDropped.Inc()
	}
}

// FeedSubscriptions is the gauge of the live feed's subscriptions on this
// replica, read from subscriptions at each scrape (Hub.Subscribers). Shared
// websocket subscriptions of the same selection count once.
func FeedSubscriptions(subscriptions func() int) prometheus.Collector {
	return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "baton_feed_subscriptions",
		Help: "Subscriptions to this replica's live event feed (a shared GraphQL subscription counts once)."},
		func() float64 { return float64(subscriptions()) })
}

// children caches the children of a metric vector by label values: a map
// read under a read lock costs no allocation, where WithLabelValues hashes
// the values and a sync.Map boxes the key.
type children[K comparable, V any] struct {
	mu   sync.RWMutex
	m    map[K]V
	make func(K) V
}

func (c *children[K, V]) get(k K) V {
	c.mu.RLock()
	v, ok := c.m[k]
	c.mu.RUnlock()
	if ok {
		return v
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if v, ok = c.m[k]; !ok {
		if c.m == nil {
			c.m = map[K]V{}
		}
		v = c.make(k)
		c.m[k] = v
	}
	return v
}
