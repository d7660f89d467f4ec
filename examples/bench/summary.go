package main

import "sort"

// summary is the line printed after the runs of one configuration: the
// median of each measure over the runs (WORKLOAD.md: "report medians of
// 3"). Each field is its own median, so one summary line need not equal
// any one run.
type summary struct {
	Summary          string      `json:"summary"` // always "median"
	Runs             int         `json:"runs"`
	Workload         string      `json:"workload"`
	Backend          string      `json:"backend"`
	Replicas         int         `json:"replicas"`
	N                int         `json:"n"`
	Concurrency      int         `json:"concurrency"`
	Subscribers      int         `json:"subscribers,omitempty"`
	Errors           int         `json:"errors"` // the sum over the runs
	OrdersPerS       float64     `json:"orders_per_s"`
	StepsPerS        float64     `json:"steps_per_s"`
	LatencyMS        percentiles `json:"latency_ms"`
	EventLatencyMS   percentiles `json:"event_latency_ms"`
	ServerCPUS       float64     `json:"servers_cpu_s"`       // all replicas
	ServerPeakRSSMB  float64     `json:"servers_peak_rss_mb"` // the largest replica
	PostgresCPUS     float64     `json:"postgres_cpu_s,omitempty"`
	PostgresMB       float64     `json:"postgres_mb,omitempty"`
	RedisCPUS        float64     `json:"redis_cpu_s,omitempty"`
	ServerCPUMSOrder float64     `json:"servers_cpu_ms_per_order"`
}

// summarize takes the medians of runs of one configuration; it returns
// false when there is nothing to summarize.
func summarize(runs []result) (summary, bool) {
	if len(runs) == 0 {
		return summary{}, false
	}
	first := runs[0]
	s := summary{
		Summary: "median", Runs: len(runs), Workload: first.Workload,
		Backend: first.Backend, Replicas: first.Replicas, N: first.N,
		Concurrency: first.Concurrency, Subscribers: first.Subscribers,
	}
	med := func(f func(r result) float64) float64 {
		xs := make([]float64, len(runs))
		for i, r := range runs {
			xs[i] = f(r)
		}
		return median(xs)
	}
	for _, r := range runs {
		s.Errors += r.Errors
	}
	s.OrdersPerS = med(func(r result) float64 { return r.OrdersPerS })
	s.StepsPerS = med(func(r result) float64 { return r.StepsPerS })
	s.LatencyMS = percentiles{
		P50: med(func(r result) float64 { return r.LatencyMS.P50 }),
		P95: med(func(r result) float64 { return r.LatencyMS.P95 }),
		P99: med(func(r result) float64 { return r.LatencyMS.P99 }),
	}
	s.EventLatencyMS = percentiles{
		P50: med(func(r result) float64 { return r.EventLatencyMS.P50 }),
		P95: med(func(r result) float64 { return r.EventLatencyMS.P95 }),
		P99: med(func(r result) float64 { return r.EventLatencyMS.P99 }),
	}
	serverCPU := func(r result) float64 {
		var t float64
		for _, p := range r.Servers {
			t += p.CPUS
		}
		return t
	}
	s.ServerCPUS = med(serverCPU)
	s.ServerPeakRSSMB = med(func(r result) float64 {
		var m float64
		for _, p := range r.Servers {
			m = max(m, p.PeakRSSMB)
		}
		return m
	})
	s.ServerCPUMSOrder = med(func(r result) float64 {
		if r.Completed == 0 {
			return 0
		}
		return round(1000 * serverCPU(r) / float64(r.Completed))
	})
	if first.Postgres != nil {
		s.PostgresCPUS = med(func(r result) float64 { return orZero(r.Postgres).CPUS })
		s.PostgresMB = med(func(r result) float64 { return orZero(r.Postgres).PeakRSSMB })
	}
	if first.Redis != nil {
		s.RedisCPUS = med(func(r result) float64 { return orZero(r.Redis).CPUS })
	}
	return s, true
}

func orZero(p *procUsage) procUsage {
	if p == nil {
		return procUsage{}
	}
	return *p
}

// median of xs (the mean of the middle two for an even count), rounded
// as the runs' own figures are.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	m := len(s) / 2
	if len(s)%2 == 1 {
		return round(s[m])
	}
	return round((s[m-1] + s[m]) / 2)
}
