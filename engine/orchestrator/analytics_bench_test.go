package orchestrator_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/batonhq/baton/engine"
	"github.com/batonhq/baton/engine/access"
	"github.com/batonhq/baton/engine/entstore"
	"github.com/batonhq/baton/engine/orchestrator"
)

// benchBase is when the benchmark's first order was submitted.
var benchBase = time.Date(2025, 12, 1, 0, 0, 0, 0, time.UTC)

// seedMillionSteps writes orders orders of ten finished steps each (five
// callouts to five systems with an attempt each, a manual task, two auto
// tasks, two milestones), one submitted every 315 s from benchBase (a
// year for 100,000 orders), straight in SQL: a series of numbers turned
// into rows, table by table.
func seedMillionSteps(b *testing.B, st *entstore.Store, orders int) {
	b.Helper()
	ctx := context.Background()
	pg := st.Postgres()
	series := fmt.Sprintf("WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < %d)", orders)
	ts := func(secs string) string {
		return "strftime('%Y-%m-%d %H:%M:%S', " + fmt.Sprint(benchBase.Unix()) + " + (" + secs + "), 'unixepoch') || '+00:00'"
	}
	if pg {
		series = fmt.Sprintf("WITH g(n) AS (SELECT generate_series(1, %d))", orders)
		ts = func(secs string) string { return "to_timestamp(" + fmt.Sprint(benchBase.Unix()) + " + (" + secs + "))" }
	}
	created := "(n * 315)"
	ready := "(" + created + " + k * 600)"
	done := "(" + ready + " + 60 * (k + 1) + (n % 7) * 30)"
	defs := `, k(k, name, typ, sys, queue, scenario) AS (VALUES
		(0, 'Reserve', 'CALLOUT', 'erp', NULL, 'S1'), (1, 'Pick', 'CALLOUT', 'wms', NULL, 'S1'),
		(2, 'Ship', 'CALLOUT', 'carrier', NULL, 'S1'), (3, 'Bill', 'CALLOUT', 'billing', NULL, 'S2'),
		(4, 'Provision', 'CALLOUT', 'network', NULL, 'S2'), (5, 'Install', 'MANUAL_TASK', NULL, 'field', 'S1'),
		(6, 'Configure', 'AUTO_TASK', NULL, NULL, 'S2'), (7, 'Notify', 'AUTO_TASK', NULL, NULL, 'S2'),
		(8, 'Delivered', 'MILESTONE', NULL, NULL, 'S1'), (9, 'Done', 'MILESTONE', NULL, NULL, 'S1'))`
	accounts := "WITH a(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM a WHERE n < 100)"
	if pg {
		accounts = "WITH a(n) AS (SELECT generate_series(1, 100))"
	}
	stmts := []string{
		accounts + ` INSERT INTO accounts (id, external_id, created_at) SELECT n, 'ACC-' || n, ` + ts("0") + ` FROM a`,
		`INSERT INTO catalog_versions (id, version, document, checksum, created_at) VALUES (1, 1, 'version: 1', 'x', ` + ts("0") + `)`,
		series + ` INSERT INTO orders (id, external_id, account_id, account_ref, status, input_hash, catalog_version_id,
			created_at, updated_at, completed_at, revision)
			SELECT n, 'O-' || n, 'ACC-' || (n % 100 + 1), n % 100 + 1, 'COMPLETED', 'h', 1,
			` + ts(created) + `, ` + ts(created) + `, ` + ts(created+" + 7200 + (n % 11) * 60") + `, 0 FROM g`,
		series + ` INSERT INTO order_lines (id, order_id, line_id, product_code, quantity, action, status, position, revision, "generated")
			SELECT n, n, 'L1', 'P' || (n % 3), 1, 'ADD', 'DECOMPOSED', 0, 0, false FROM g`,
		series + ` INSERT INTO plans (id, order_id, usage, type, status, open_steps, awaiting_lines, catalog_version_id, created_at)
			SELECT n, n, 'SALES', 'order', 'COMPLETED', 0, 0, 1, ` + ts(created) + ` FROM g`,
		series + ` INSERT INTO step_groups (id, plan_id, name, scenario, position) SELECT n, n, 'lane', 'S1', 0 FROM g`,
		series + defs + ` INSERT INTO steps (id, plan_id, group_id, order_id, name, scenario, type, scope, instance_key, status,
			jeopardy, queue, system, point_of_no_return, pending, attempt_count, attempt_base, note, ready_at, started_at, completed_at,
			frozen, created_at, updated_at)
			SELECT (n - 1) * 10 + k + 1, n, n, n, name, scenario, typ, 'PLAN', 'PLAN', 'COMPLETED',
			CASE WHEN (n + k) % 13 = 0 THEN 'LATE' WHEN (n + k) % 17 = 0 THEN 'AT_RISK' ELSE 'ON_TRACK' END,
			queue, sys, false, 0, CASE WHEN sys IS NULL THEN 0 ELSE 1 END, CASE WHEN k = 1 AND n % 29 = 0 THEN 1 ELSE 0 END,
			CASE WHEN k = 3 AND n % 23 = 0 THEN 'billed by hand' END,
			` + ts(ready) + `, ` + ts(ready) + `, ` + ts(done) + `, false, ` + ts(created) + `, ` + ts(done) + `
			FROM g CROSS JOIN k`,
		series + defs + ` INSERT INTO attempts (id, step_id, number, outcome, started_at, finished_at)
			SELECT (n - 1) * 10 + k + 1, (n - 1) * 10 + k + 1, 1, CASE WHEN n % 20 = k THEN 'FAILED' ELSE 'SUCCEEDED' END,
			` + ts(done+" - 30") + `, ` + ts(done) + ` FROM g CROSS JOIN k WHERE sys IS NOT NULL`,
		series + ` INSERT INTO events (id, kind, order_id, plan_id, step_id, "from", "to", at, account_id)
			SELECT n / 50, 'STEP_STATUS', n, n, (n - 1) * 10 + 4, 'RUNNING', 'FALLOUT', ` + ts(created+" + 1800") + `, 'ACC-' || (n % 100 + 1)
			FROM g WHERE n % 50 = 0`,
		"ANALYZE",
	}
	for _, q := range stmts {
		if _, err := st.DB().ExecContext(ctx, q); err != nil {
			b.Fatalf("seed: %v\n%s", err, strings.TrimSpace(q))
		}
	}
}

// BenchmarkAnalytics: the analytics query over a million steps (100,000
// orders over a year): 30 days by day and by week grouped by system, not
// grouped, and the whole year by week, from the rollups (computed by a
// first query, whose time is logged); and 30 days by day grouped by system
// for a principal limited to one of the 100 accounts, from the rows.
func BenchmarkAnalytics(b *testing.B) {
	benchBackends(b, func(b *testing.B, url string) {
		st, err := entstore.Open(context.Background(), url, entstore.Options{Logger: quiet})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { st.Close() })
		start := time.Now()
		seedMillionSteps(b, st, 100_000)
		b.Logf("seeded 1,000,000 steps in %v", time.Since(start).Round(time.Millisecond))
		// A month after the last order: every day is settled.
		e := orchestrator.New(orchestrator.Config{Store: st, Logger: quiet, Clock: engine.NewFakeClock(benchBase.AddDate(0, 0, 400))})
		ops := orchestrator.WithActor(context.Background(), "bench")
		customer := access.With(context.Background(), access.DefaultPolicy().Principal(access.Principal{
			Name: "acc-1", Method: access.MethodToken, Roles: []string{access.Customer}, Accounts: []string{"ACC-1"}}))
		from := benchBase.AddDate(0, 0, 270)
		month := func(bucket orchestrator.AnalyticsBucket, g engine.AnalyticsGroup) orchestrator.AnalyticsRequest {
			return orchestrator.AnalyticsRequest{From: from, To: from.AddDate(0, 0, 30), Bucket: bucket, GroupBy: g}
		}
		for _, c := range []struct {
			name string
			ctx  context.Context
			req  orchestrator.AnalyticsRequest
		}{
			{"30d-day-system", ops, month(orchestrator.BucketDay, engine.GroupSystem)},
			{"30d-week-system", ops, month(orchestrator.BucketWeek, engine.GroupSystem)},
			{"30d-day", ops, month(orchestrator.BucketDay, engine.GroupNone)},
			{"365d-week-system", ops, orchestrator.AnalyticsRequest{From: benchBase, To: benchBase.AddDate(0, 0, 365), Bucket: orchestrator.BucketWeek, GroupBy: engine.GroupSystem}},
			{"30d-day-system-one-account", customer, month(orchestrator.BucketDay, engine.GroupSystem)},
		} {
			b.Run(c.name, func(b *testing.B) {
				start := time.Now()
				if _, err := e.Analytics(c.ctx, c.req); err != nil {
					b.Fatal(err)
				}
				b.Logf("first query (rolls up the days not stored yet): %v", time.Since(start).Round(time.Millisecond))
				var steps int
				for b.Loop() {
					a, err := e.Analytics(c.ctx, c.req)
					if err != nil {
						b.Fatal(err)
					}
					steps = 0
					for _, p := range a.Series {
						steps += p.StepsFinished
					}
				}
				b.ReportMetric(float64(steps), "steps")
			})
		}
	})
}
