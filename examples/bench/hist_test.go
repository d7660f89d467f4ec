package main

import (
	"math"
	"math/rand/v2"
	"testing"
)

func TestHistogramBuckets(t *testing.T) {
	prev := -1
	for us := int64(0); us < 1<<30; us += 1 + us/97 {
		i := histIndex(us)
		if i < prev || i >= len(histogram{}.counts) {
			t.Fatalf("index %d of %d µs (previous %d)", i, us, prev)
		}
		prev = i
		if v := histValue(i); math.Abs(v-float64(us)) > float64(us)/128+0.5 {
			t.Fatalf("%d µs lands in bucket %d worth %.1f", us, i, v)
		}
	}
}

func TestHistogramPercentiles(t *testing.T) {
	var h histogram
	xs := make([]float64, 0, 100000)
	r := rand.New(rand.NewPCG(1, 2))
	for range 100000 {
		us := int64(r.ExpFloat64() * 5000)
		h.add(us)
		xs = append(xs, float64(us)/1000)
	}
	want, got := pct(xs), h.percentiles()
	for _, c := range []struct{ got, want float64 }{{got.P50, want.P50}, {got.P99, want.P99}} {
		if math.Abs(c.got-c.want) > c.want/100+0.01 {
			t.Errorf("percentile %.2f ms, exact %.2f ms", c.got, c.want)
		}
	}
	if h.count() != 100000 {
		t.Errorf("count %d", h.count())
	}
}
