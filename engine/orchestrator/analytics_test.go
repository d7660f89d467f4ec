package orchestrator_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sync"
	"testing"
	"time"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"

	"github.com/batonhq/baton/engine"
	"github.com/batonhq/baton/engine/enginetest"
	"github.com/batonhq/baton/engine/entstore"
	"github.com/batonhq/baton/engine/orchestrator"
	"github.com/batonhq/baton/ent"
	"github.com/batonhq/baton/ent/attempt"
	"github.com/batonhq/baton/ent/event"
	"github.com/batonhq/baton/ent/order"
	"github.com/batonhq/baton/ent/orderline"
	"github.com/batonhq/baton/ent/plan"
	"github.com/batonhq/baton/ent/step"
)

// at is a time of the analytics data set: day 2 is Monday 2026-03-02.
func at(day, hour, minute int) time.Time {
	return time.Date(2026, 3, day, hour, minute, 0, 0, time.UTC)
}

// fxStep is a step of the hand-built data set.
type fxStep struct {
	name, typ, status, jeopardy, queue, system, note, scenario string
	ready, done                                                time.Time
	attemptBase                                                int
	attempts                                                   []fxAttempt
	fellOut                                                    bool // a STEP_STATUS event to FALLOUT
	output                                                     map[string]any
}

type fxAttempt struct {
	outcome string
	at      time.Time
}

type fxOrder struct {
	ext, account string
	products     []string
	created      time.Time
	completed    time.Time // zero: still IN_PROGRESS
	steps        []fxStep
}

// seedAnalytics writes orders, their plans, steps, attempts and fallout
// events as they would be after running, and a generic plan's steps
// (account "").
func seedAnalytics(t testing.TB, ctx context.Context, st *entstore.Store, orders []fxOrder) {
	seedOrders(t, ctx, st, orders, true)
}

// seedAnalyticsMore adds orders to a seeded database.
func seedAnalyticsMore(t testing.TB, ctx context.Context, st *entstore.Store, orders []fxOrder) {
	seedOrders(t, ctx, st, orders, false)
}

func seedOrders(t testing.TB, ctx context.Context, st *entstore.Store, orders []fxOrder, first bool) {
	// The store's client reads (on SQLite, from a read-only pool): write
	// through one of our own on the store's write pool.
	name := dialect.SQLite
	if st.Postgres() {
		name = dialect.Postgres
	}
	c := ent.NewClient(ent.Driver(entsql.OpenDB(name, st.DB())))
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	if first {
		_, err := c.CatalogVersion.Create().SetVersion(1).SetDocument("version: 1").SetChecksum("x").SetCreatedAt(at(1, 0, 0)).Save(ctx)
		must(err)
	}
	cv, err := c.CatalogVersion.Query().Only(ctx)
	must(err)
	accounts := map[string]int{}
	for _, a := range c.Account.Query().AllX(ctx) {
		accounts[a.ExternalID] = a.ID
	}
	for _, o := range orders {
		var orderID *int
		p := c.Plan.Create().SetType("order").SetStatus(plan.StatusIN_PROGRESS).SetCatalogVersionID(cv.ID).
			SetOpenSteps(0).SetCreatedAt(o.created).SetUsage(plan.UsageSALES)
		if o.account == "" {
			p.SetUsage(plan.UsageGENERIC).SetType("sweep").SetSubjectID(o.ext)
		} else {
			if _, ok := accounts[o.account]; !ok {
				a, err := c.Account.Create().SetExternalID(o.account).SetCreatedAt(at(1, 0, 0)).Save(ctx)
				must(err)
				accounts[o.account] = a.ID
			}
			oc := c.Order.Create().SetExternalID(o.ext).SetAccountID(o.account).SetAccountRef(accounts[o.account]).
				SetStatus(order.StatusIN_PROGRESS).SetInputHash("h").SetCatalogVersionID(cv.ID).
				SetCreatedAt(o.created).SetUpdatedAt(o.created)
			if !o.completed.IsZero() {
				oc.SetStatus(order.StatusCOMPLETED).SetCompletedAt(o.completed)
			}
			ord, err := oc.Save(ctx)
			must(err)
			orderID = &ord.ID
			p.SetOrderID(ord.ID)
			for i, code := range o.products {
				_, err := c.OrderLine.Create().SetOrderID(ord.ID).SetLineID(fmt.Sprint("L", i)).SetProductCode(code).
					SetQuantity(1).SetAction(orderline.ActionADD).SetStatus(orderline.StatusDECOMPOSED).SetPosition(i).Save(ctx)
				must(err)
			}
		}
		pl, err := p.Save(ctx)
		must(err)
		g, err := c.StepGroup.Create().SetPlanID(pl.ID).SetName("lane").SetScenario("s").SetPosition(0).Save(ctx)
		must(err)
		for _, s := range o.steps {
			sc := c.Step.Create().SetPlanID(pl.ID).SetGroupID(g.ID).SetNillableOrderID(orderID).SetName(s.name).
				SetScenario(s.scenario).SetType(step.Type(s.typ)).SetScope(step.ScopePLAN).SetInstanceKey("PLAN").
				SetStatus(step.Status(s.status)).SetJeopardy(step.Jeopardy(s.jeopardy)).SetPending(0).
				SetAttemptCount(len(s.attempts)).SetAttemptBase(s.attemptBase).SetReadyAt(s.ready).
				SetCreatedAt(o.created).SetUpdatedAt(o.created)
			if !s.done.IsZero() {
				sc.SetCompletedAt(s.done)
			}
			if s.queue != "" {
				sc.SetQueue(s.queue)
			}
			if s.system != "" {
				sc.SetSystem(s.system)
			}
			if s.note != "" {
				sc.SetNote(s.note)
			}
			row, err := sc.Save(ctx)
			must(err)
			if s.output != nil {
				// Not through ent: it sends JSON as bytes, which the store's
				// binary parameters give PostgreSQL as binary jsonb.
				b, _ := json.Marshal(s.output)
				q := `UPDATE steps SET output = ? WHERE id = ?`
				if st.Postgres() {
					q = `UPDATE steps SET output = $1 WHERE id = $2`
				}
				_, err := st.DB().ExecContext(ctx, q, string(b), row.ID)
				must(err)
			}
			for i, a := range s.attempts {
				_, err := c.Attempt.Create().SetStepID(row.ID).SetNumber(i + 1).SetOutcome(attempt.Outcome(a.outcome)).
					SetStartedAt(a.at.Add(-time.Minute)).SetFinishedAt(a.at).Save(ctx)
				must(err)
			}
			if s.fellOut {
				_, err := c.Event.Create().SetKind(event.KindSTEP_STATUS).SetNillableOrderID(orderID).SetPlanID(pl.ID).
					SetStepID(row.ID).SetFrom("RUNNING").SetTo("FALLOUT").SetAt(s.ready.Add(30 * time.Minute)).
					SetAccountID(o.account).Save(ctx)
				must(err)
			}
		}
	}
}

// analyticsData: orders completing at known times, known fallout,
// manual and automated steps, steps done by hand, failed callouts.
func analyticsData() []fxOrder {
	return []fxOrder{
		{ext: "O1", account: "A", products: []string{"PRO-SERVER"}, created: at(2, 8, 0), completed: at(2, 10, 0), steps: []fxStep{
			{name: "Reserve", typ: "CALLOUT", status: "COMPLETED", jeopardy: "ON_TRACK", system: "erp", scenario: "S1",
				ready: at(2, 8, 0), done: at(2, 8, 10), attempts: []fxAttempt{{"FAILED", at(2, 8, 5)}, {"SUCCEEDED", at(2, 8, 10)}}},
			{name: "Install", typ: "MANUAL_TASK", status: "COMPLETED", jeopardy: "LATE", queue: "field-ops", scenario: "S1",
				ready: at(2, 8, 10), done: at(2, 9, 10)},
			// Fell out, retried by an operator, then succeeded.
			{name: "Bill", typ: "CALLOUT", status: "COMPLETED", jeopardy: "AT_RISK", system: "billing", scenario: "S2",
				ready: at(2, 9, 10), done: at(2, 10, 0), attemptBase: 2, fellOut: true,
				attempts: []fxAttempt{{"FAILED", at(2, 9, 20)}, {"FAILED", at(2, 9, 30)}, {"SUCCEEDED", at(2, 10, 0)}}},
		}},
		{ext: "O2", account: "B", products: []string{"PRO-SERVER", "SW-LIC"}, created: at(2, 12, 0), completed: at(3, 0, 0), steps: []fxStep{
			{name: "Reserve", typ: "CALLOUT", status: "COMPLETED", jeopardy: "ON_TRACK", system: "erp", scenario: "S1",
				ready: at(2, 12, 0), done: at(2, 12, 20), attempts: []fxAttempt{{"SUCCEEDED", at(2, 12, 20)}}},
			// Skipped by an operator.
			{name: "Install", typ: "MANUAL_TASK", status: "SKIPPED", jeopardy: "ON_TRACK", queue: "field-ops", scenario: "S1",
				note: "customer installs", ready: at(2, 12, 20), done: at(2, 20, 0)},
			// Fell out and was completed by hand.
			{name: "Bill", typ: "CALLOUT", status: "COMPLETED", jeopardy: "ON_TRACK", system: "billing", scenario: "S2",
				note: "billed by hand", ready: at(2, 20, 0), done: at(3, 0, 0), fellOut: true,
				attempts: []fxAttempt{{"FAILED", at(2, 20, 30)}}},
			// Skipped because its condition was false: no fact.
			{name: "Done", typ: "MILESTONE", status: "SKIPPED", jeopardy: "ON_TRACK", scenario: "S1", ready: at(3, 0, 0), done: at(3, 0, 0)},
		}},
		{ext: "O3", account: "A", products: []string{"SW-LIC"}, created: at(3, 1, 0), steps: []fxStep{
			{name: "Reserve", typ: "CALLOUT", status: "COMPLETED", jeopardy: "ON_TRACK", system: "erp", scenario: "S1",
				ready: at(3, 1, 0), done: at(3, 1, 5), attempts: []fxAttempt{{"SUCCEEDED", at(3, 1, 5)}}},
			{name: "Bill", typ: "CALLOUT", status: "FALLOUT", jeopardy: "ON_TRACK", system: "billing", scenario: "S2",
				ready: at(3, 1, 5), fellOut: true, attempts: []fxAttempt{{"LOST", at(3, 2, 0)}}},
		}},
		{ext: "O4", account: "A", products: []string{"SW-LIC"}, created: at(4, 8, 0), completed: at(4, 9, 0), steps: []fxStep{
			{name: "Reserve", typ: "CALLOUT", status: "COMPLETED", jeopardy: "ON_TRACK", system: "erp", scenario: "S1",
				ready: at(4, 8, 0), done: at(4, 8, 30), attempts: []fxAttempt{{"SUCCEEDED", at(4, 8, 30)}}},
		}},
		// Before the ranges.
		{ext: "O5", account: "A", products: []string{"SW-LIC"}, created: at(1, 20, 0), completed: at(1, 23, 59), steps: []fxStep{
			{name: "Reserve", typ: "CALLOUT", status: "COMPLETED", jeopardy: "ON_TRACK", system: "erp", scenario: "S1",
				ready: at(1, 20, 0), done: at(1, 23, 0), attempts: []fxAttempt{{"FAILED", at(1, 23, 0)}}},
		}},
		// A generic orchestration's step: no account.
		{ext: "G1", created: at(2, 14, 0), steps: []fxStep{
			{name: "Sweep", typ: "AUTO_TASK", status: "COMPLETED", jeopardy: "ON_TRACK", scenario: "S3",
				ready: at(2, 14, 0), done: at(2, 15, 0)},
			// A pause resumed by hand.
			{name: "Wait", typ: "PAUSE", status: "COMPLETED", jeopardy: "ON_TRACK", scenario: "S3",
				ready: at(2, 15, 0), done: at(2, 16, 0), output: map[string]any{"resumedBy": "olga"}},
		}},
	}
}

// pt is an expected point: rates and percentiles -1 for nil.
type pt struct {
	start               time.Time
	group               string
	orders              int
	p50, p90            float64
	fellOut             int
	falloutRate         float64
	finished, automated int
	automationRate      float64
	atRisk, late        int
}

// near reports whether got is want, or within tol of it (relative).
func near(got, want, tol float64) bool {
	return got == want || (want > 0 && math.Abs(got-want) <= tol*want)
}

// samePoint compares points exactly but for percentiles, which may be off
// by tol (relative).
func samePoint(got, want pt, tol float64) bool {
	g, w := got, want
	g.p50, g.p90, w.p50, w.p90 = 0, 0, 0, 0
	return g == w && near(got.p50, want.p50, tol) && near(got.p90, want.p90, tol)
}

func optional(v *float64) float64 {
	if v == nil {
		return -1
	}
	return *v
}

func gotPoint(p *orchestrator.AnalyticsPoint) pt {
	return pt{p.Start, p.Group, p.OrdersCompleted, optional(p.CycleTimeP50), optional(p.CycleTimeP90), p.OrdersFellOut,
		optional(p.FalloutRate), p.StepsFinished, p.StepsAutomated, optional(p.AutomationRate), p.AtRisk, p.Late}
}

type defStat struct {
	name, typ string
	completed int
	p50, p90  float64
}

type sysStat struct {
	system           string
	requests, errors int
	rate             float64
}

// TestAnalytics: the numbers of a hand-built data set, on both stores,
// for each bucket and dimension and for a principal limited to an
// account.
func TestAnalytics(t *testing.T) {
	t.Parallel()
	enginetest.EachBackend(t, func(t *testing.T, url string) {
		ctx := context.Background()
		st := openStore(t, url, nil)
		seedAnalytics(t, ctx, st, analyticsData())
		// Standing before the data, nothing is settled: every number comes
		// from the rows, percentiles exact. On the real clock every day is
		// settled: whole days come from rollups (computed by the first
		// query, read back by the second), percentiles within 1%.
		byRows := orchestrator.New(orchestrator.Config{Store: st, Logger: enginetest.Logger(t), Clock: engine.NewFakeClock(at(1, 0, 0))})
		byRollups := orchestrator.New(orchestrator.Config{Store: st, Logger: enginetest.Logger(t)})
		all := orchestrator.WithActor(ctx, "ops")
		onlyA := as(ctx, "cust", []string{"CUSTOMER"}, []string{"A"}, nil)
		twoDays := orchestrator.AnalyticsRequest{From: at(2, 0, 0), To: at(4, 0, 0), Bucket: orchestrator.BucketDay}
		d2, d3 := at(2, 0, 0), at(3, 0, 0)
		cases := []struct {
			name    string
			ctx     context.Context
			req     orchestrator.AnalyticsRequest
			series  []pt
			defs    []defStat
			systems []sysStat
		}{
			{name: "by day", ctx: all, req: twoDays,
				series: []pt{
					// O1: 2 h, fell out. Steps: Reserve, Reserve (automated),
					// Install (manual, LATE), Bill (retried, AT_RISK),
					// Install (skipped by hand), Sweep (automated), Wait
					// (resumed by hand).
					{d2, "", 1, 7200, 7200, 1, 1, 7, 3, 3.0 / 7, 1, 1},
					// O2: 12 h, fell out. Bill (by hand), Reserve of O3.
					{d3, "", 1, 43200, 43200, 1, 1, 2, 1, 0.5, 0, 0},
				},
				defs: []defStat{
					{"Bill", "CALLOUT", 2, 3000, 14400},
					{"Install", "MANUAL_TASK", 1, 3600, 3600},
					{"Reserve", "CALLOUT", 3, 600, 1200},
					{"Sweep", "AUTO_TASK", 1, 3600, 3600},
					{"Wait", "PAUSE", 1, 3600, 3600},
				},
				systems: []sysStat{{"billing", 5, 4, 0.8}, {"erp", 4, 1, 0.25}},
			},
			{name: "by day, account A only", ctx: onlyA, req: twoDays,
				series: []pt{
					{d2, "", 1, 7200, 7200, 1, 1, 3, 1, 1.0 / 3, 1, 1},
					{d3, "", 0, -1, -1, 0, -1, 1, 1, 1, 0, 0},
				},
				defs: []defStat{
					{"Bill", "CALLOUT", 1, 3000, 3000},
					{"Install", "MANUAL_TASK", 1, 3600, 3600},
					{"Reserve", "CALLOUT", 2, 300, 600},
				},
				systems: []sysStat{{"billing", 4, 3, 0.75}, {"erp", 3, 1, 1.0 / 3}},
			},
			{name: "by day and system", ctx: all,
				req: orchestrator.AnalyticsRequest{From: at(2, 0, 0), To: at(4, 0, 0), Bucket: orchestrator.BucketDay, GroupBy: engine.GroupSystem},
				series: []pt{
					{d2, "", 0, -1, -1, 0, -1, 4, 1, 0.25, 0, 1},
					{d2, "billing", 1, 7200, 7200, 1, 1, 1, 0, 0, 1, 0},
					{d2, "erp", 1, 7200, 7200, 1, 1, 2, 2, 1, 0, 0},
					{d3, "", 0, -1, -1, 0, -1, 0, 0, -1, 0, 0},
					{d3, "billing", 1, 43200, 43200, 1, 1, 1, 0, 0, 0, 0},
					{d3, "erp", 1, 43200, 43200, 1, 1, 1, 1, 1, 0, 0},
				},
			},
			{name: "by week and product", ctx: all,
				req: orchestrator.AnalyticsRequest{From: at(2, 0, 0), To: at(16, 0, 0), Bucket: orchestrator.BucketWeek, GroupBy: engine.GroupProduct},
				series: []pt{
					{d2, "", 0, -1, -1, 0, -1, 2, 1, 0.5, 0, 0},
					{d2, "PRO-SERVER", 2, 7200, 43200, 2, 1, 6, 2, 2.0 / 6, 1, 1},
					{d2, "SW-LIC", 2, 3600, 43200, 1, 0.5, 5, 3, 0.6, 0, 0},
					{at(9, 0, 0), "", 0, -1, -1, 0, -1, 0, 0, -1, 0, 0},
					{at(9, 0, 0), "PRO-SERVER", 0, -1, -1, 0, -1, 0, 0, -1, 0, 0},
					{at(9, 0, 0), "SW-LIC", 0, -1, -1, 0, -1, 0, 0, -1, 0, 0},
				},
			},
			{name: "by week from mid-week: buckets start on Monday, counts in range", ctx: all,
				req: orchestrator.AnalyticsRequest{From: at(3, 12, 0), To: at(5, 0, 0), Bucket: orchestrator.BucketWeek, GroupBy: engine.GroupQueue},
				series: []pt{
					// O4 only; O3's Reserve finished before noon.
					{d2, "", 1, 3600, 3600, 0, 0, 1, 1, 1, 0, 0},
				},
				systems: []sysStat{{"erp", 1, 0, 0}},
			},
			{name: "by day and scenario", ctx: all,
				req: orchestrator.AnalyticsRequest{From: at(3, 0, 0), To: at(4, 0, 0), Bucket: orchestrator.BucketDay, GroupBy: engine.GroupScenario},
				series: []pt{
					// O2: Reserve (S1) and Bill (S2) ran; Done (S1) was skipped.
					{d3, "S1", 1, 43200, 43200, 1, 1, 1, 1, 1, 0, 0},
					{d3, "S2", 1, 43200, 43200, 1, 1, 1, 0, 0, 0, 0},
				},
			},
		}
		modes := []struct {
			name string
			e    *orchestrator.Engine
			tol  float64
		}{{"rows", byRows, 0}, {"rollups", byRollups, 0.01}, {"stored rollups", byRollups, 0.01}}
		for _, m := range modes {
			for _, c := range cases {
				t.Run(m.name+"/"+c.name, func(t *testing.T) {
					checkAnalytics(t, m.e, c.ctx, c.req, m.tol, c.series, c.defs, c.systems)
				})
			}
		}
		var rollups int
		if err := st.DB().QueryRowContext(ctx, `SELECT count(*) FROM analytics_days`).Scan(&rollups); err != nil || rollups == 0 {
			t.Errorf("%d rollups stored (%v)", rollups, err)
		}

		// Replicas computing the same days at once store each day once
		// and answer the same.
		byQueue := orchestrator.AnalyticsRequest{From: at(2, 0, 0), To: at(4, 0, 0), Bucket: orchestrator.BucketDay, GroupBy: engine.GroupQueue}
		var wg sync.WaitGroup
		answers := make([]*orchestrator.Analytics, 4)
		errs := make([]error, 4)
		for i := range answers {
			wg.Go(func() {
				e := orchestrator.New(orchestrator.Config{Store: st, Logger: enginetest.Logger(t)})
				answers[i], errs[i] = e.Analytics(all, byQueue)
			})
		}
		wg.Wait()
		for i := range answers {
			if errs[i] != nil || len(answers[i].Series) != 4 || answers[i].Series[1].Group != "field-ops" || answers[i].Series[1].StepsFinished != 2 {
				t.Fatalf("replica %d: %v %+v", i, errs[i], answers[i])
			}
		}
		if err := st.DB().QueryRowContext(ctx, `SELECT count(*) FROM analytics_days WHERE dimension = '1:QUEUE'`).Scan(&rollups); err != nil || rollups != 3 {
			t.Errorf("%d QUEUE rollups (%v); want 3: 2 March 3 and 4 (March 4 from the mid-week case)", rollups, err)
		}

		// A stored day stays as it was computed: an order that completed on
		// it but was written after it settled counts from the rows only.
		seedAnalyticsMore(t, ctx, st, []fxOrder{{ext: "O6", account: "A", products: []string{"SW-LIC"}, created: at(2, 1, 0), completed: at(2, 2, 0)}})
		for _, m := range []struct {
			e    *orchestrator.Engine
			want int
		}{{byRows, 2}, {byRollups, 1}} {
			a, err := m.e.Analytics(all, twoDays)
			if err != nil || a.Series[0].OrdersCompleted != m.want {
				t.Errorf("March 2 after a late order: %v %+v; want %d orders", err, a.Series[0], m.want)
			}
		}
	})
}

func checkAnalytics(t *testing.T, e *orchestrator.Engine, ctx context.Context, req orchestrator.AnalyticsRequest, tol float64,
	series []pt, defs []defStat, systems []sysStat) {
	t.Helper()
	a, err := e.Analytics(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	var got []pt
	for _, p := range a.Series {
		got = append(got, gotPoint(p))
	}
	ok := len(got) == len(series)
	for i := 0; ok && i < len(got); i++ {
		ok = samePoint(got[i], series[i], tol)
	}
	if !ok {
		t.Errorf("series =\n%+v\nwant\n%+v", got, series)
	}
	if defs != nil {
		ok := len(a.StepDefinitions) == len(defs)
		for i := 0; ok && i < len(defs); i++ {
			d, w := a.StepDefinitions[i], defs[i]
			ok = d.Definition == w.name && string(d.Type) == w.typ && d.Completed == w.completed &&
				near(optional(d.DurationP50), w.p50, tol) && near(optional(d.DurationP90), w.p90, tol)
		}
		if !ok {
			var got []defStat
			for _, d := range a.StepDefinitions {
				got = append(got, defStat{d.Definition, string(d.Type), d.Completed, optional(d.DurationP50), optional(d.DurationP90)})
			}
			t.Errorf("step definitions = %+v; want %+v", got, defs)
		}
	}
	if systems != nil {
		var got []sysStat
		for _, s := range a.Systems {
			got = append(got, sysStat{s.System, s.Requests, s.Errors, s.ErrorRate})
		}
		if fmt.Sprint(got) != fmt.Sprint(systems) {
			t.Errorf("systems = %v; want %v", got, systems)
		}
	}
}

// TestAnalyticsRefuses: bad ranges are BAD_USER_INPUT naming the
// argument, and a principal without order:read is FORBIDDEN, before any
// read.
func TestAnalyticsRefuses(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := openStore(t, enginetest.SQLiteURL(t), nil)
	e := orchestrator.New(orchestrator.Config{Store: st, Logger: enginetest.Logger(t)})
	ops := orchestrator.WithActor(ctx, "ops")
	day := orchestrator.BucketDay
	cases := []struct {
		name string
		ctx  context.Context
		req  orchestrator.AnalyticsRequest
		code engine.Code
		path string
	}{
		{"empty range", ops, orchestrator.AnalyticsRequest{From: at(2, 0, 0), To: at(2, 0, 0), Bucket: day}, engine.CodeBadUserInput, "to"},
		{"backwards", ops, orchestrator.AnalyticsRequest{From: at(3, 0, 0), To: at(2, 0, 0), Bucket: day}, engine.CodeBadUserInput, "to"},
		{"367 days by day", ops, orchestrator.AnalyticsRequest{From: at(2, 0, 0), To: at(2, 0, 0).AddDate(0, 0, 367), Bucket: day}, engine.CodeBadUserInput, "to"},
		{"106 weeks by week", ops, orchestrator.AnalyticsRequest{From: at(2, 0, 0), To: at(2, 0, 0).AddDate(0, 0, 7*106), Bucket: orchestrator.BucketWeek}, engine.CodeBadUserInput, "to"},
		{"unknown bucket", ops, orchestrator.AnalyticsRequest{From: at(2, 0, 0), To: at(3, 0, 0), Bucket: "HOUR"}, engine.CodeBadUserInput, "bucket"},
		{"unknown dimension", ops, orchestrator.AnalyticsRequest{From: at(2, 0, 0), To: at(3, 0, 0), Bucket: day, GroupBy: "COLOUR"}, engine.CodeBadUserInput, "groupBy"},
		{"no order:read", as(ctx, "nobody", nil, nil, nil), orchestrator.AnalyticsRequest{From: at(2, 0, 0), To: at(3, 0, 0), Bucket: day}, engine.CodeForbidden, ""},
	}
	for _, c := range cases {
		_, err := e.Analytics(c.ctx, c.req)
		var ee *engine.Error
		if !errors.As(err, &ee) || ee.Code != c.code || (c.path != "" && (len(ee.Problems) == 0 || ee.Problems[0].Path != c.path)) {
			t.Errorf("%s: Analytics = %v; want %s at %q", c.name, err, c.code, c.path)
		}
	}
	// A year by day and two years by week are answered.
	for _, req := range []orchestrator.AnalyticsRequest{
		{From: at(2, 0, 0), To: at(2, 0, 0).AddDate(0, 0, 366), Bucket: day},
		{From: at(2, 0, 0), To: at(2, 0, 0).AddDate(0, 0, 7*105), Bucket: orchestrator.BucketWeek},
	} {
		a, err := e.Analytics(ops, req)
		if err != nil {
			t.Fatalf("%v: %v", req, err)
		}
		if want := map[orchestrator.AnalyticsBucket]int{day: 366, orchestrator.BucketWeek: 105}[req.Bucket]; len(a.Series) != want {
			t.Errorf("%s: %d points; want %d", req.Bucket, len(a.Series), want)
		}
	}
}

// TestBucketStart: UTC days, and ISO weeks from Monday, whatever the
// zone of the time.
func TestBucketStart(t *testing.T) {
	t.Parallel()
	berlin := time.FixedZone("CET", 3600)
	cases := []struct {
		b    orchestrator.AnalyticsBucket
		t    time.Time
		want time.Time
	}{
		{orchestrator.BucketDay, at(3, 23, 59), at(3, 0, 0)},
		{orchestrator.BucketDay, time.Date(2026, 3, 4, 0, 30, 0, 0, berlin), at(3, 0, 0)},
		{orchestrator.BucketWeek, at(2, 0, 0), at(2, 0, 0)},
		{orchestrator.BucketWeek, at(8, 23, 59), at(2, 0, 0)}, // Sunday
		{orchestrator.BucketWeek, at(9, 0, 0), at(9, 0, 0)},
		{orchestrator.BucketWeek, time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 12, 28, 0, 0, 0, 0, time.UTC)},
	}
	for _, c := range cases {
		if got := orchestrator.BucketStart(c.b, c.t); !got.Equal(c.want) || got.Location() != time.UTC {
			t.Errorf("BucketStart(%s, %v) = %v; want %v", c.b, c.t, got, c.want)
		}
	}
}
