package orchestrator_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/batonhq/baton/engine"
	"github.com/batonhq/baton/engine/enginetest"
	"github.com/batonhq/baton/engine/entstore"
	"github.com/batonhq/baton/engine/orchestrator"
	"github.com/batonhq/baton/ent/step"
)

// BenchmarkForecastHistory1M forecasts a plan of two steps whose
// definitions have 100,000 completions each, in a steps table of a million
// completed steps (BATON_BENCH_SMALL: 10,000). cold: every forecast
// re-reads both histories (the clock passes the TTL each time): two
// indexed reads of 200 rows; cached: within the TTL.
func BenchmarkForecastHistory1M(b *testing.B) {
	benchBackends(b, func(b *testing.B, url string) {
		ctx := context.Background()
		clock := engine.NewFakeClock(enginetest.Epoch)
		st, err := entstore.Open(ctx, url, entstore.Options{Logger: quiet, Clock: clock})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { st.Close() })
		e := orchestrator.New(orchestrator.Config{Store: st, Clock: clock, Logger: quiet})
		if _, err := e.ImportCatalog(ctx, sfCatalog("", []string{
			`{name: Survey, type: MANUAL_TASK, task: {queue: field}, estimatedDuration: 1h}`,
			`{name: Install, type: MANUAL_TASK, task: {queue: field}, estimatedDuration: 2h}`,
		}, []string{`{step: Install, after: Survey}`})); err != nil {
			b.Fatal(err)
		}
		// One order run to completion: its steps are the template rows.
		rec, err := e.SubmitOrder(ctx, widgetOrder("template"))
		if err != nil {
			b.Fatal(err)
		}
		for i, name := range []string{"Survey", "Install"} {
			clock.Set(enginetest.Epoch.Add(time.Duration(i+1) * time.Hour))
			s, err := st.Client().Step.Query().Where(step.OrderID(rec.ID), step.Name(name)).Only(ctx)
			if err != nil {
				b.Fatal(err)
			}
			if err := e.CompleteTask(ctx, s.ID, nil, ""); err != nil {
				b.Fatal(err)
			}
		}
		n := 1_000_000
		if os.Getenv("BATON_BENCH_SMALL") != "" {
			n = 10_000
		}
		if v, err := strconv.Atoi(os.Getenv("BATON_BENCH_STEPS")); err == nil {
			n = v
		}
		start := time.Now()
		seedCompletedSteps(b, st, rec.PlanID, n)
		b.Logf("seeded %d steps in %s", n, time.Since(start).Round(time.Millisecond))
		if !st.Postgres() {
			rows, err := st.DB().QueryContext(ctx, `EXPLAIN QUERY PLAN SELECT ready_at, completed_at FROM steps
				WHERE status = 'COMPLETED' AND scenario = 'safety' AND name = 'Survey' AND completed_at IS NOT NULL
				ORDER BY completed_at DESC LIMIT 200`)
			if err == nil {
				for rows.Next() {
					var a, b2, c any
					var d string
					rows.Scan(&a, &b2, &c, &d)
					b.Log(d)
				}
				rows.Close()
			}
		}
		probe, err := e.SubmitOrder(ctx, widgetOrder("probe"))
		if err != nil {
			b.Fatal(err)
		}
		forecast := func() {
			fs, err := e.Forecasts(ctx, []int{probe.PlanID})
			if err != nil || fs[probe.PlanID] == nil {
				b.Fatal(fs, err)
			}
			if sf := fs[probe.PlanID].Steps[0]; sf.Samples != 200 {
				b.Fatalf("samples %d; want the window's 200", sf.Samples)
			}
		}
		b.Run("cold", func(b *testing.B) {
			for b.Loop() {
				clock.Advance(time.Minute)
				forecast()
			}
		})
		b.Run("cached", func(b *testing.B) {
			clock.Advance(time.Minute)
			forecast()
			for b.Loop() {
				forecast()
			}
		})
		b.ReportMetric(float64(n), "steps")
	})
}

// seedCompletedSteps copies the plan's COMPLETED Survey n times, ten to a
// plan (n/10 copies of its plan, with no order), in statements of 100,000
// rows: a tenth of them as Survey, a tenth as Install and the rest as
// eight other definitions.
func seedCompletedSteps(b *testing.B, st *entstore.Store, planID, n int) {
	b.Helper()
	ctx := context.Background()
	copyRows := func(table, where string, count int, override map[string]string) {
		rows, err := st.DB().QueryContext(ctx, `SELECT * FROM `+table+` WHERE 1 = 0`)
		if err != nil {
			b.Fatal(err)
		}
		cols, err := rows.Columns()
		rows.Close()
		if err != nil {
			b.Fatal(err)
		}
		var names, exprs []string
		for _, c := range cols {
			if c == "id" {
				continue
			}
			e, ok := override[c]
			if !ok {
				e = `t."` + c + `"`
			}
			names, exprs = append(names, `"`+c+`"`), append(exprs, e)
		}
		for from := 0; from < count; from += 100_000 {
			to := min(from+100_000, count)
			q := fmt.Sprintf(`WITH RECURSIVE n(i) AS (SELECT %d UNION ALL SELECT i + 1 FROM n WHERE i < %d)
				INSERT INTO %s (%s) SELECT %s FROM n, %s t WHERE %s`,
				from+1, to, table, strings.Join(names, ", "), strings.Join(exprs, ", "), table, where)
			if _, err := st.DB().ExecContext(ctx, q); err != nil {
				b.Fatal(err)
			}
		}
	}
	plans := max(n/10, 1)
	var first int
	if err := st.DB().QueryRowContext(ctx, `SELECT COALESCE(MAX(id), 0) + 1 FROM plans`).Scan(&first); err != nil {
		b.Fatal(err)
	}
	copyRows("plans", fmt.Sprintf("t.id = %d", planID), plans, map[string]string{"order_id": "NULL", "subject_id": "NULL"})
	var lo, hi int
	if err := st.DB().QueryRowContext(ctx, fmt.Sprintf(`SELECT MIN(id), MAX(id) FROM plans WHERE id >= %d`, first)).Scan(&lo, &hi); err != nil || hi-lo+1 != plans {
		b.Fatalf("copied plans %d..%d, %v; want %d in a row", lo, hi, err, plans)
	}
	var tmpl int
	if err := st.DB().QueryRowContext(ctx, fmt.Sprintf(`SELECT MIN(id) FROM steps WHERE plan_id = %d AND name = 'Survey'`, planID)).Scan(&tmpl); err != nil {
		b.Fatal(err)
	}
	copyRows("steps", fmt.Sprintf("t.id = %d", tmpl), n, map[string]string{
		"plan_id":      fmt.Sprintf("%d + (n.i %% %d)", lo, plans),
		"name":         `CASE n.i % 10 WHEN 0 THEN 'Survey' WHEN 1 THEN 'Install' ELSE 'Other' || (n.i % 10) END`,
		"instance_key": `'bench-' || n.i`,
	})
	if st.Postgres() {
		if _, err := st.DB().ExecContext(ctx, `ANALYZE`); err != nil {
			b.Fatal(err)
		}
	}
}
