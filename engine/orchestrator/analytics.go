package orchestrator

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
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
// accounts' numbers, counted from the rows of the range. For the others,
// every whole UTC day of the range that ended an hour ago
// (analyticsSettle) comes from its rollup (analytics_days), computed from
// the day's rows the first time a query needs it and kept; the rest of
// the range is counted from its rows. Percentiles of a cell with a rolled
// up day are read from log histograms, within 1% of the exact value.
// Needs order:read. Errors: FORBIDDEN; BAD_USER_INPUT when To is not
// after From, the range is longer than MaxAnalyticsDays (DAY) or
// MaxAnalyticsWeeks weeks (WEEK), or the bucket or dimension is unknown.
func (e *Engine) Analytics(ctx context.Context, r AnalyticsRequest) (*Analytics, error) {
	if err := access.Require(ctx, access.OrderRead); err != nil {
		return nil, err
	}
	if err := checkAnalytics(r); err != nil {
		return nil, err
	}
	a := newAnalyticsAcc(r.Bucket)
	raw := func(from, to time.Time, accounts []string) error {
		facts, err := e.store.AnalyticsFacts(ctx, engine.AnalyticsQuery{From: from, To: to, GroupBy: r.GroupBy, Accounts: accounts})
		if err == nil {
			a.addFacts(facts)
		}
		return err
	}
	if p := access.From(ctx); p.Scoped() {
		if err := raw(r.From, r.To, p.Accounts); err != nil {
			return nil, err
		}
		return a.result(r), nil
	}
	settled := BucketStart(BucketDay, e.clock.Now().Add(-analyticsSettle))
	first := BucketStart(BucketDay, r.From)
	if first.Before(r.From) {
		first = first.AddDate(0, 0, 1)
	}
	end := BucketStart(BucketDay, r.To)
	if settled.Before(end) {
		end = settled
	}
	if !first.Before(end) {
		if err := raw(r.From, r.To, nil); err != nil {
			return nil, err
		}
		return a.result(r), nil
	}
	if r.From.Before(first) {
		if err := raw(r.From, first, nil); err != nil {
			return nil, err
		}
	}
	if end.Before(r.To) {
		if err := raw(end, r.To, nil); err != nil {
			return nil, err
		}
	}
	days, err := e.analyticsDays(ctx, r.GroupBy, first, end)
	if err != nil {
		return nil, err
	}
	for day, roll := range days {
		a.addRoll(day, roll)
	}
	return a.result(r), nil
}

// rollupVersion prefixes the dimension rollups are stored under.
const rollupVersion = "1:"

// analyticsSettle is how long after a UTC day ends its rollup may be
// computed: longer than any transaction that writes rows of the day
// (transactions take seconds; an attempt's outcome lands within its
// callout's timeout).
const analyticsSettle = time.Hour

// analyticsDays returns the rollups of the days in [from, to), computing
// and storing those not stored yet, a month of rows at a time.
func (e *Engine) analyticsDays(ctx context.Context, g engine.AnalyticsGroup, from, to time.Time) (map[time.Time]*dayRoll, error) {
	dim := string(g)
	if dim == "" {
		dim = "NONE"
	}
	// The rollup's version: a change of what a rollup holds or means
	// takes a new one, so that days stored before are computed again.
	dim = rollupVersion + dim
	stored, err := e.store.AnalyticsDays(ctx, dim, from, to)
	if err != nil {
		return nil, err
	}
	out := make(map[time.Time]*dayRoll, len(stored))
	for day, b := range stored {
		var roll dayRoll
		if err := json.Unmarshal(b, &roll); err != nil {
			return nil, fmt.Errorf("analytics rollup of %s %s: %w", dim, day.Format(time.DateOnly), err)
		}
		out[day] = &roll
	}
	var missing []time.Time
	for day := from; day.Before(to); day = day.AddDate(0, 0, 1) {
		if out[day] == nil {
			missing = append(missing, day)
		}
	}
	for len(missing) > 0 {
		n := 1
		for n < len(missing) && missing[n].Sub(missing[0]) < 31*24*time.Hour {
			n++
		}
		window := missing[:n]
		missing = missing[n:]
		last := window[len(window)-1].AddDate(0, 0, 1)
		facts, err := e.store.AnalyticsFacts(ctx, engine.AnalyticsQuery{From: window[0], To: last, GroupBy: g})
		if err != nil {
			return nil, err
		}
		rolls := rollDays(facts)
		save := map[time.Time][]byte{}
		for _, day := range window {
			roll := rolls[day]
			if roll == nil {
				roll = &dayRoll{}
			}
			b, err := json.Marshal(roll)
			if err != nil {
				return nil, fmt.Errorf("analytics rollup: %w", err)
			}
			save[day] = b
			out[day] = roll
		}
		if err := e.store.SaveAnalyticsDays(ctx, dim, save); err != nil {
			return nil, err
		}
	}
	return out, nil
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

// hist is a log-bucketed histogram of non-negative values: bucket i holds
// (γ^(i-1), γ^i], read back as 2γ^i/(γ+1), within histAlpha (1%) of any
// value in it; Zero counts values ≤ 0. Histograms merge by adding counts.
type hist struct {
	Zero int         `json:"z,omitempty"`
	N    map[int]int `json:"n,omitempty"`
}

const histAlpha = 0.01

var (
	histGamma    = (1 + histAlpha) / (1 - histAlpha)
	histLogGamma = math.Log(histGamma)
)

func (h *hist) add(v float64) {
	if v <= 0 {
		h.Zero++
		return
	}
	if h.N == nil {
		h.N = map[int]int{}
	}
	h.N[int(math.Ceil(math.Log(v)/histLogGamma))]++
}

func (h *hist) merge(o hist) {
	h.Zero += o.Zero
	for i, n := range o.N {
		if h.N == nil {
			h.N = map[int]int{}
		}
		h.N[i] += n
	}
}

func (h *hist) count() int {
	n := h.Zero
	for _, c := range h.N {
		n += c
	}
	return n
}

// quantile is the nearest-rank p-quantile, as its bucket's value.
func (h *hist) quantile(p float64) float64 {
	rank := max(int(math.Ceil(p*float64(h.count()))), 1)
	seen := h.Zero
	if rank <= seen {
		return 0
	}
	for _, i := range slices.Sorted(maps.Keys(h.N)) {
		if seen += h.N[i]; seen >= rank {
			return 2 * math.Pow(histGamma, float64(i)) / (histGamma + 1)
		}
	}
	return 0
}

// dist is a distribution as analytics collects it: exact values from rows,
// and histograms from rollups; exact percentiles while it has no rollup.
type dist struct {
	vals   []float64
	h      hist
	rolled bool
}

func (d *dist) add(v float64) { d.vals = append(d.vals, v); d.h.add(v) }

func (d *dist) addRolled(h hist) { d.h.merge(h); d.rolled = true }

func (d *dist) percentile(p float64) *float64 {
	if !d.rolled {
		return percentile(d.vals, p)
	}
	if d.h.count() == 0 {
		return nil
	}
	v := d.h.quantile(p)
	return &v
}

// dayRoll is a UTC day's rollup of one dimension: every number of the
// day's cells, step definitions and systems, with histograms for
// percentiles. It is what analytics_days stores, as JSON.
type dayRoll struct {
	Groups  map[string]*cellRoll `json:"g,omitempty"`
	Defs    map[string]*defRoll  `json:"d,omitempty"` // name + "\x00" + type
	Systems map[string]*[2]int   `json:"s,omitempty"` // requests, errors
}

type cellRoll struct {
	Orders    int  `json:"o,omitempty"`
	FellOut   int  `json:"f,omitempty"`
	Finished  int  `json:"n,omitempty"`
	Automated int  `json:"a,omitempty"`
	AtRisk    int  `json:"r,omitempty"`
	Late      int  `json:"l,omitempty"`
	Cycle     hist `json:"c"`
}

type defRoll struct {
	Completed int  `json:"n"`
	Durations hist `json:"h"`
}

// groupsOf calls fn for each group of a fact ("" when it has none).
func groupsOf(gs []string, fn func(string)) {
	if len(gs) == 0 {
		fn("")
	}
	for _, g := range gs {
		fn(g)
	}
}

// automated reports whether a finished step counts as done without a
// person.
func automated(s *engine.StepFact) bool { return s.Status == engine.StepCompleted && !s.ByPerson }

// rollDays rolls facts up by UTC day.
func rollDays(f *engine.AnalyticsFacts) map[time.Time]*dayRoll {
	days := map[time.Time]*dayRoll{}
	day := func(t time.Time) *dayRoll {
		d := BucketStart(BucketDay, t)
		r := days[d]
		if r == nil {
			r = &dayRoll{Groups: map[string]*cellRoll{}, Defs: map[string]*defRoll{}, Systems: map[string]*[2]int{}}
			days[d] = r
		}
		return r
	}
	cell := func(r *dayRoll, g string) *cellRoll {
		c := r.Groups[g]
		if c == nil {
			c = &cellRoll{}
			r.Groups[g] = c
		}
		return c
	}
	for _, o := range f.Orders {
		r := day(o.CompletedAt)
		groupsOf(o.Groups, func(g string) {
			c := cell(r, g)
			c.Orders++
			c.Cycle.add(o.CompletedAt.Sub(o.CreatedAt).Seconds())
			if o.FellOut {
				c.FellOut++
			}
		})
	}
	for i := range f.Steps {
		s := &f.Steps[i]
		r := day(s.CompletedAt)
		groupsOf(s.Groups, func(g string) {
			c := cell(r, g)
			c.Finished++
			if automated(s) {
				c.Automated++
			}
			switch s.Jeopardy {
			case engine.AtRisk:
				c.AtRisk++
			case engine.Late:
				c.Late++
			}
		})
		if s.Status == engine.StepCompleted {
			k := s.Name + "\x00" + string(s.Type)
			d := r.Defs[k]
			if d == nil {
				d = &defRoll{}
				r.Defs[k] = d
			}
			d.Completed++
			if s.ReadyAt != nil {
				d.Durations.add(s.CompletedAt.Sub(*s.ReadyAt).Seconds())
			}
		}
	}
	for _, s := range f.Systems {
		r := day(s.Day)
		c := r.Systems[s.System]
		if c == nil {
			c = &[2]int{}
			r.Systems[s.System] = c
		}
		c[0] += s.Requests
		c[1] += s.Errors
	}
	return days
}

type cellKey struct {
	start time.Time
	group string
}

type cellAcc struct {
	point AnalyticsPoint
	cycle dist
}

type defKey struct {
	name string
	typ  engine.StepType
}

type defAcc struct {
	completed int
	durations dist
}

// analyticsAcc adds up facts and rollups into the cells of an answer.
type analyticsAcc struct {
	bucket  AnalyticsBucket
	cells   map[cellKey]*cellAcc
	groups  map[string]bool
	defs    map[defKey]*defAcc
	systems map[string]*[2]int
}

func newAnalyticsAcc(b AnalyticsBucket) *analyticsAcc {
	return &analyticsAcc{bucket: b, cells: map[cellKey]*cellAcc{}, groups: map[string]bool{},
		defs: map[defKey]*defAcc{}, systems: map[string]*[2]int{}}
}

func (a *analyticsAcc) cell(t time.Time, g string) *cellAcc {
	k := cellKey{BucketStart(a.bucket, t), g}
	c := a.cells[k]
	if c == nil {
		c = &cellAcc{point: AnalyticsPoint{Start: k.start, Group: g}}
		a.cells[k] = c
	}
	a.groups[g] = true
	return c
}

func (a *analyticsAcc) def(k defKey) *defAcc {
	d := a.defs[k]
	if d == nil {
		d = &defAcc{}
		a.defs[k] = d
	}
	return d
}

func (a *analyticsAcc) system(name string, requests, errors int) {
	c := a.systems[name]
	if c == nil {
		c = &[2]int{}
		a.systems[name] = c
	}
	c[0] += requests
	c[1] += errors
}

func (a *analyticsAcc) addFacts(f *engine.AnalyticsFacts) {
	for _, o := range f.Orders {
		groupsOf(o.Groups, func(g string) {
			c := a.cell(o.CompletedAt, g)
			c.point.OrdersCompleted++
			c.cycle.add(o.CompletedAt.Sub(o.CreatedAt).Seconds())
			if o.FellOut {
				c.point.OrdersFellOut++
			}
		})
	}
	for i := range f.Steps {
		s := &f.Steps[i]
		groupsOf(s.Groups, func(g string) {
			p := &a.cell(s.CompletedAt, g).point
			p.StepsFinished++
			if automated(s) {
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
			d := a.def(defKey{s.Name, s.Type})
			d.completed++
			if s.ReadyAt != nil {
				d.durations.add(s.CompletedAt.Sub(*s.ReadyAt).Seconds())
			}
		}
	}
	for _, s := range f.Systems {
		a.system(s.System, s.Requests, s.Errors)
	}
}

func (a *analyticsAcc) addRoll(day time.Time, r *dayRoll) {
	for g, c := range r.Groups {
		ca := a.cell(day, g)
		p := &ca.point
		p.OrdersCompleted += c.Orders
		p.OrdersFellOut += c.FellOut
		p.StepsFinished += c.Finished
		p.StepsAutomated += c.Automated
		p.AtRisk += c.AtRisk
		p.Late += c.Late
		ca.cycle.addRolled(c.Cycle)
	}
	for k, d := range r.Defs {
		name, typ, _ := strings.Cut(k, "\x00")
		da := a.def(defKey{name, engine.StepType(typ)})
		da.completed += d.Completed
		da.durations.addRolled(d.Durations)
	}
	for name, c := range r.Systems {
		a.system(name, c[0], c[1])
	}
}

// result is the answer: a point per bucket overlapping the range and per
// group seen (dense, so that charts need no gap filling), by start then
// group; percentiles exact by nearest rank (the smallest value with at
// least p of the values at or below it) where no rollup contributed.
func (a *analyticsAcc) result(r AnalyticsRequest) *Analytics {
	if r.GroupBy == engine.GroupNone {
		a.groups[""] = true
	}
	out := &Analytics{AnalyticsRequest: r}
	names := slices.Sorted(maps.Keys(a.groups))
	for start := BucketStart(r.Bucket, r.From); start.Before(r.To); start = nextBucket(r.Bucket, start) {
		for _, g := range names {
			c := a.cells[cellKey{start, g}]
			if c == nil {
				c = &cellAcc{point: AnalyticsPoint{Start: start, Group: g}}
			}
			p := c.point
			p.CycleTimeP50, p.CycleTimeP90 = c.cycle.percentile(0.5), c.cycle.percentile(0.9)
			p.FalloutRate = ratio(p.OrdersFellOut, p.OrdersCompleted)
			p.AutomationRate = ratio(p.StepsAutomated, p.StepsFinished)
			out.Series = append(out.Series, &p)
		}
	}
	for k, d := range a.defs {
		out.StepDefinitions = append(out.StepDefinitions, &StepDefinitionStats{Definition: k.name, Type: k.typ,
			Completed: d.completed, DurationP50: d.durations.percentile(0.5), DurationP90: d.durations.percentile(0.9)})
	}
	slices.SortFunc(out.StepDefinitions, func(a, b *StepDefinitionStats) int {
		return cmp.Or(cmp.Compare(a.Definition, b.Definition), cmp.Compare(a.Type, b.Type))
	})
	for name, c := range a.systems {
		st := &SystemStats{System: name, Requests: c[0], Errors: c[1]}
		if c[0] > 0 {
			st.ErrorRate = float64(c[1]) / float64(c[0])
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
