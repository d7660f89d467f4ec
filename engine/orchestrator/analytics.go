package orchestrator

import (
	"cmp"
	"context"
	"math"
	"slices"
	"time"

	"github.com/batonhq/baton/engine"
	"github.com/batonhq/baton/engine/access"
)

// AnalyticsBucket is the length of a series' periods, in UTC.
type AnalyticsBucket string

// Buckets: a UTC day, or an ISO week (Monday 00:00 UTC to the next).
const (
	BucketDay  AnalyticsBucket = "DAY"
	BucketWeek AnalyticsBucket = "WEEK"
)

// The longest ranges analytics answers: a year by day, two by week.
const (
	MaxAnalyticsDays  = 366
	MaxAnalyticsWeeks = 105
)

// AnalyticsRequest is what Analytics is asked: the range [From, To), the
// bucket and the dimension.
type AnalyticsRequest struct {
	From, To time.Time
	Bucket   AnalyticsBucket
	GroupBy  engine.AnalyticsGroup
}

// Analytics are the numbers of a range (README "Analytics" defines each).
type Analytics struct {
	AnalyticsRequest
	// Series has a point per bucket that overlaps the range and per group
	// seen in it (one group, "", when not grouped), by start then group.
	Series          []*AnalyticsPoint
	StepDefinitions []*StepDefinitionStats
	Systems         []*SystemStats
}

// AnalyticsPoint is one bucket of one group.
type AnalyticsPoint struct {
	Start time.Time
	// Group is the dimension's value; "" when not grouped, or for what has
	// no value of it (an order with no callout, grouped by system).
	Group           string
	OrdersCompleted int
	// CycleTimeP50 and P90 are seconds from submission to completion
	// (nil: no order completed).
	CycleTimeP50, CycleTimeP90 *float64
	OrdersFellOut              int
	// FalloutRate is OrdersFellOut / OrdersCompleted (nil: none completed).
	FalloutRate    *float64
	StepsFinished  int
	StepsAutomated int
	// AutomationRate is StepsAutomated / StepsFinished (nil: none).
	AutomationRate *float64
	AtRisk, Late   int
}

// StepDefinitionStats are the completed steps of one definition.
type StepDefinitionStats struct {
	Definition string
	Type       engine.StepType
	Completed  int
	// DurationP50 and P90 are seconds from first READY to COMPLETED.
	DurationP50, DurationP90 *float64
}

// SystemStats are the callout attempts to one system.
type SystemStats struct {
	System           string
	Requests, Errors int
	ErrorRate        float64
}

// Analytics counts what finished in a range (README "Analytics"), as the
// caller may see it: a principal limited to accounts gets only those
// accounts' numbers. Needs order:read. Errors: FORBIDDEN; BAD_USER_INPUT
// when To is not after From, the range is longer than MaxAnalyticsDays
// (DAY) or MaxAnalyticsWeeks weeks (WEEK), or the bucket or dimension is
// unknown.
func (e *Engine) Analytics(ctx context.Context, r AnalyticsRequest) (*Analytics, error) {
	if err := access.Require(ctx, access.OrderRead); err != nil {
		return nil, err
	}
	if err := checkAnalytics(r); err != nil {
		return nil, err
	}
	q := engine.AnalyticsQuery{From: r.From, To: r.To, GroupBy: r.GroupBy}
	if p := access.From(ctx); p.Scoped() {
		q.Accounts = p.Accounts
	}
	facts, err := e.store.AnalyticsFacts(ctx, q)
	if err != nil {
		return nil, err
	}
	return AggregateAnalytics(r, facts), nil
}

func checkAnalytics(r AnalyticsRequest) error {
	var ps []engine.Problem
	switch r.Bucket {
	case BucketDay:
		if r.To.Sub(r.From) > MaxAnalyticsDays*24*time.Hour {
			ps = append(ps, engine.Problem{Path: "to", Message: "a range by DAY is at most 366 days"})
		}
	case BucketWeek:
		if r.To.Sub(r.From) > MaxAnalyticsWeeks*7*24*time.Hour {
			ps = append(ps, engine.Problem{Path: "to", Message: "a range by WEEK is at most 105 weeks"})
		}
	default:
		ps = append(ps, engine.Problem{Path: "bucket", Message: "DAY or WEEK"})
	}
	if !r.To.After(r.From) {
		ps = append(ps, engine.Problem{Path: "to", Message: "must be after from"})
	}
	if r.GroupBy != engine.GroupNone && !slices.Contains(engine.AnalyticsGroups, r.GroupBy) {
		ps = append(ps, engine.Problem{Path: "groupBy", Message: "PRODUCT, SCENARIO, QUEUE or SYSTEM"})
	}
	if len(ps) > 0 {
		return &engine.Error{Code: engine.CodeBadUserInput, Message: "invalid analytics range", Problems: ps}
	}
	return nil
}

// BucketStart is the start of the UTC day or ISO week holding t.
func BucketStart(b AnalyticsBucket, t time.Time) time.Time {
	t = t.UTC()
	day := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
	if b == BucketWeek {
		return day.AddDate(0, 0, -((int(day.Weekday()) + 6) % 7))
	}
	return day
}

func nextBucket(b AnalyticsBucket, t time.Time) time.Time {
	if b == BucketWeek {
		return t.AddDate(0, 0, 7)
	}
	return t.AddDate(0, 0, 1)
}

// AggregateAnalytics computes the numbers from the facts: pure, so that
// both stores answer the same. Percentiles are exact, by nearest rank
// (the smallest value with at least p of the values at or below it).
func AggregateAnalytics(r AnalyticsRequest, f *engine.AnalyticsFacts) *Analytics {
	type cell struct {
		point  *AnalyticsPoint
		cycles []float64
	}
	type key struct {
		start time.Time
		group string
	}
	cells := map[key]*cell{}
	groups := map[string]bool{}
	if r.GroupBy == engine.GroupNone {
		groups[""] = true
	}
	at := func(t time.Time, group string) *cell {
		k := key{BucketStart(r.Bucket, t), group}
		c := cells[k]
		if c == nil {
			c = &cell{point: &AnalyticsPoint{Start: k.start, Group: group}}
			cells[k] = c
		}
		groups[group] = true
		return c
	}
	each := func(gs []string, fn func(string)) {
		if len(gs) == 0 {
			fn("")
		}
		for _, g := range gs {
			fn(g)
		}
	}
	for _, o := range f.Orders {
		each(o.Groups, func(g string) {
			c := at(o.CompletedAt, g)
			c.point.OrdersCompleted++
			c.cycles = append(c.cycles, o.CompletedAt.Sub(o.CreatedAt).Seconds())
			if o.FellOut {
				c.point.OrdersFellOut++
			}
		})
	}
	type def struct {
		name string
		typ  engine.StepType
	}
	type durations struct {
		completed int
		seconds   []float64
	}
	defs := map[def]*durations{}
	for _, s := range f.Steps {
		each(s.Groups, func(g string) {
			p := at(s.CompletedAt, g).point
			p.StepsFinished++
			if s.Status == engine.StepCompleted && !s.ByPerson {
				p.StepsAutomated++
			}
			switch s.Jeopardy {
			case engine.AtRisk:
				p.AtRisk++
			case engine.Late:
				p.Late++
			}
		})
		if s.Status == engine.StepCompleted {
			d := defs[def{s.Name, s.Type}]
			if d == nil {
				d = &durations{}
				defs[def{s.Name, s.Type}] = d
			}
			d.completed++
			if s.ReadyAt != nil {
				d.seconds = append(d.seconds, s.CompletedAt.Sub(*s.ReadyAt).Seconds())
			}
		}
	}
	out := &Analytics{AnalyticsRequest: r}
	names := slices.Sorted(func(yield func(string) bool) {
		for g := range groups {
			if !yield(g) {
				return
			}
		}
	})
	for start := BucketStart(r.Bucket, r.From); start.Before(r.To); start = nextBucket(r.Bucket, start) {
		for _, g := range names {
			c := cells[key{start, g}]
			if c == nil {
				c = &cell{point: &AnalyticsPoint{Start: start, Group: g}}
			}
			p := c.point
			p.CycleTimeP50, p.CycleTimeP90 = percentile(c.cycles, 0.5), percentile(c.cycles, 0.9)
			p.FalloutRate = ratio(p.OrdersFellOut, p.OrdersCompleted)
			p.AutomationRate = ratio(p.StepsAutomated, p.StepsFinished)
			out.Series = append(out.Series, p)
		}
	}
	for d, ds := range defs {
		out.StepDefinitions = append(out.StepDefinitions, &StepDefinitionStats{Definition: d.name, Type: d.typ,
			Completed: ds.completed, DurationP50: percentile(ds.seconds, 0.5), DurationP90: percentile(ds.seconds, 0.9)})
	}
	slices.SortFunc(out.StepDefinitions, func(a, b *StepDefinitionStats) int {
		return cmp.Or(cmp.Compare(a.Definition, b.Definition), cmp.Compare(a.Type, b.Type))
	})
	for _, s := range f.Systems {
		st := &SystemStats{System: s.System, Requests: s.Requests, Errors: s.Errors}
		if s.Requests > 0 {
			st.ErrorRate = float64(s.Errors) / float64(s.Requests)
		}
		out.Systems = append(out.Systems, st)
	}
	slices.SortFunc(out.Systems, func(a, b *SystemStats) int { return cmp.Compare(a.System, b.System) })
	return out
}

// percentile is the nearest-rank p-quantile of xs (nil for none); it
// sorts xs.
func percentile(xs []float64, p float64) *float64 {
	if len(xs) == 0 {
		return nil
	}
	slices.Sort(xs)
	i := int(math.Ceil(p*float64(len(xs)))) - 1
	v := xs[max(i, 0)]
	return &v
}

func ratio(n, d int) *float64 {
	if d == 0 {
		return nil
	}
	v := float64(n) / float64(d)
	return &v
}
