package graph_test

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/batonhq/baton/engine"
	"github.com/batonhq/baton/engine/enginetest"
)

// largePlanQuery reads a plan whole: every step with its status, its
// prerequisites and its fulfillment line.
const largePlanQuery = `query($id: ID!) { order(id: $id) { status
	plan { status groups { name } steps { id name status scope dependsOn { id } fulfillmentLine { key } } } } }`

// BenchmarkLargeOrder submits a 10,000-line order (50,007 steps) through
// the submitOrder mutation, then reads its plan back through GraphQL,
// each op one read:
//
//	go test ./graph -run '^$' -bench LargeOrder -benchtime 3x
//
// submit-s is the mutation's time (decomposition, planning, storing);
// ns/op the read's; peak-rss-MB the test process's high-water mark (the
// server, the database driver and, on SQLite, the database all live in
// it).
func BenchmarkLargeOrder(b *testing.B) {
	for _, be := range enginetest.Backends() {
		b.Run(be.Name, func(b *testing.B) {
			// 10,000 bundle lines expand to 30,000 order lines, beyond
			// the default OrderLines (BATON_MAX_ORDER_LINES).
			e := newEnv(b, be.URL(b), envOptions{engineLimits: engine.Limits{OrderLines: 50_000}})
			var lines []any
			for i := range 10000 {
				lines = append(lines, map[string]any{"id": fmt.Sprint("L", i), "productCode": "PRO-SERVER-PKG"})
			}
			start := time.Now()
			id := e.submit(map[string]any{"externalId": "large", "accountId": "acme",
				"attributes": map[string]any{"shipTo": "1 Main St"}, "lines": lines})
			submit := time.Since(start)
			afterSubmit := peakRSSMB()
			size := 0
			b.ResetTimer()
			for b.Loop() {
				r := e.post(largePlanQuery, map[string]any{"id": id})
				if len(r.Errors) > 0 {
					b.Fatalf("errors:\n%s", errorList(r.Errors))
				}
				var out struct {
					Order struct {
						Plan struct{ Steps []struct{ ID string } }
					}
				}
				if err := jsonUnmarshal(r.Data, &out); err != nil {
					b.Fatal(err)
				}
				if n := len(out.Order.Plan.Steps); n != 50007 {
					b.Fatalf("plan has %d steps; want 50007", n)
				}
				size = len(r.Data)
			}
			b.StopTimer()
			b.ReportMetric(submit.Seconds(), "submit-s")
			b.ReportMetric(float64(size)/1e6, "response-MB")
			if mb := peakRSSMB(); mb > 0 {
				b.ReportMetric(afterSubmit, "submit-peak-rss-MB")
				b.ReportMetric(mb, "peak-rss-MB")
			}
		})
	}
}

// peakRSSMB is the process's peak resident set (VmHWM), 0 where /proc is
// not there.
func peakRSSMB() float64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			return kb / 1024
		}
	}
	return 0
}
