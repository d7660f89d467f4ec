package main

import "testing"

func TestMedian(t *testing.T) {
	for _, tc := range []struct {
		xs   []float64
		want float64
	}{
		{nil, 0},
		{[]float64{7}, 7},
		{[]float64{3, 1, 2}, 2},
		{[]float64{4, 1, 3, 2}, 2.5},
		{[]float64{90.123, 91.456, 50}, 90.12},
	} {
		if got := median(tc.xs); got != tc.want {
			t.Errorf("median(%v) = %v, want %v", tc.xs, got, tc.want)
		}
	}
}

func TestSummarize(t *testing.T) {
	if _, ok := summarize(nil); ok {
		t.Fatal("summarize(nil) reported a summary")
	}
	run := func(ops, p50, srv1, srv2, rss1, rss2 float64, errs int) result {
		return result{
			Workload: "pro-server-package", Backend: "postgres", Replicas: 2, N: 100, Concurrency: 10,
			Completed: 100, Errors: errs, OrdersPerS: ops,
			LatencyMS: percentiles{P50: p50}, EventLatencyMS: percentiles{P99: p50 / 10},
			Servers:  []procUsage{{CPUS: srv1, PeakRSSMB: rss1}, {CPUS: srv2, PeakRSSMB: rss2}},
			Postgres: &procUsage{CPUS: ops / 100},
		}
	}
	s, ok := summarize([]result{
		run(90, 400, 1, 1, 100, 120, 0),
		run(80, 500, 2, 1, 130, 90, 1),
		run(100, 300, 0.5, 0.5, 80, 95, 0),
	})
	if !ok {
		t.Fatal("no summary")
	}
	want := summary{
		Summary: "median", Runs: 3, Workload: "pro-server-package", Backend: "postgres",
		Replicas: 2, N: 100, Concurrency: 10, Errors: 1, OrdersPerS: 90,
		LatencyMS: percentiles{P50: 400}, EventLatencyMS: percentiles{P99: 40},
		ServerCPUS: 2, ServerPeakRSSMB: 120, PostgresCPUS: 0.9, ServerCPUMSOrder: 20,
	}
	if s != want {
		t.Errorf("summarize:\n got %+v\nwant %+v", s, want)
	}
}
