package orchestrator

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestHistogramError: a histogram's percentiles are within 1% of the
// exact nearest-rank value, whatever the spread, and merging two is
// histogramming their union.
func TestHistogramError(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	cases := []struct {
		name string
		gen  func() float64
	}{
		{"milliseconds to a week, log-uniform", func() float64 { return math.Exp(rng.Float64()*math.Log(604800e3)) / 1e3 }},
		{"around an hour", func() float64 { return 3600 + rng.NormFloat64()*300 }},
		{"whole seconds, many zeros", func() float64 { return float64(rng.IntN(5)) }},
	}
	for _, c := range cases {
		var a, b hist
		var all []float64
		for i := range 10000 {
			v := max(c.gen(), 0)
			all = append(all, v)
			if i%2 == 0 {
				a.add(v)
			} else {
				b.add(v)
			}
		}
		a.merge(b)
		for _, p := range []float64{0.01, 0.5, 0.9, 0.99, 1} {
			exact := *percentile(all, p)
			if got := a.quantile(p); math.Abs(got-exact) > histAlpha*exact+1e-9 {
				t.Errorf("%s: p%g = %g; exact %g (more than 1%% off)", c.name, p*100, got, exact)
			}
		}
	}
}
