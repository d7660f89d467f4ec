package orchestrator_test

import (
	"context"
	"fmt"
	"github.com/batonhq/baton/engine"
	"github.com/batonhq/baton/engine/catalog"
	"github.com/batonhq/baton/engine/enginetest"
	"github.com/batonhq/baton/engine/entstore"
	"github.com/batonhq/baton/engine/orchestrator"
	"github.com/batonhq/baton/engine/plan"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func exampleCatalog(b *testing.B) *catalog.Catalog {
	b.Helper()
	cat, err := catalog.CompileCatalog(enginetest.ExampleCatalog(b), catalog.CatalogOptions{Actions: []string{"set", "noop", "hash"}})
	if err != nil {
		b.Fatal(err)
	}
	return cat
}

func BenchmarkCatalogCompile(b *testing.B) {
	text := enginetest.ExampleCatalog(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := catalog.CompileCatalog(text, catalog.CatalogOptions{Actions: []string{"set", "noop", "hash"}}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkExpressionEval(b *testing.B) {
	cat := exampleCatalog(b)
	rule := cat.Rules[0] // ship-hardware: when + three attribute mappings
	env := &catalog.LineEnv{
		Order:   &engine.OrderView{ExternalID: "o-1", Attributes: map[string]any{"shipTo": "1 Main St"}},
		Account: &engine.AccountView{ID: "acme", Attributes: map[string]any{}},
		Line:    &engine.LineView{ID: "L1", ProductCode: "SRV-HW", Quantity: 2, Attributes: map[string]any{}},
		Bundle:  &engine.LineView{Attributes: map[string]any{}},
	}
	b.ReportAllocs()
	for b.Loop() {
		if ok, err := rule.When.Bool(env); err != nil || !ok {
			b.Fatal(ok, err)
		}
		for _, a := range rule.Attributes {
			if _, err := a.Expr.Eval(env); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// bigOrder is an order of n Pro Server Packages: each expands to four
// lines and five item steps, so 10,000 lines make 50,007 steps.
func bigOrder(n int) engine.OrderInput {
	in := engine.OrderInput{ExternalID: fmt.Sprintf("big-%d-%d", n, time.Now().UnixNano()), AccountID: "acme-big",
		Attributes: map[string]any{"shipTo": "1 Main St"}}
	for i := range n {
		in.Lines = append(in.Lines, engine.LineInput{ID: fmt.Sprintf("L%d", i), ProductCode: "PRO-SERVER-PKG", Quantity: 1})
	}
	return in
}

func BenchmarkDecomposeAndPlan(b *testing.B) {
	cat := exampleCatalog(b)
	for _, lines := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("lines=%d", lines), func(b *testing.B) {
			in := bigOrder(lines)
			b.ReportAllocs()
			steps := 0
			for b.Loop() {
				d, err := plan.Decompose(cat, &in, &engine.AccountState{ID: in.AccountID}, enginetest.Epoch)
				if err != nil {
					b.Fatal(err)
				}
				var views []*engine.LineView
				for _, l := range d.Lines {
					views = append(views, &engine.LineView{ID: l.ID, ProductCode: l.ProductCode, Quantity: l.Quantity, Attributes: l.Attributes})
				}
				pg, err := plan.BuildPlan(cat, &plan.PlanInput{
					Usage: engine.UsageSales, Order: &engine.OrderView{ExternalID: in.ExternalID, Attributes: d.Attributes, Lines: views},
					Account: &engine.AccountView{ID: in.AccountID, Attributes: map[string]any{}}, Lines: d.Lines, Items: d.Items,
					Now: enginetest.Epoch,
				})
				if err != nil {
					b.Fatal(err)
				}
				steps = len(pg.Steps)
			}
			b.ReportMetric(float64(steps), "steps")
		})
	}
}

// benchBackends are the databases the store benchmarks run on.
func benchBackends(b *testing.B, fn func(b *testing.B, url string)) {
	for _, be := range enginetest.Backends() {
		b.Run(be.Name, func(b *testing.B) { fn(b, be.URL(b)) })
	}
}

// benchEngine opens a quiet store on url (closed when the benchmark ends)
// and an engine over it, whose callouts go to stubURL, with the catalog
// imported.
func benchEngine(b *testing.B, url, catalog, stubURL string) *orchestrator.Engine {
	b.Helper()
	return benchEngineWith(b, url, catalog, stubURL, engine.Limits{})
}

func benchEngineWith(b *testing.B, url, catalog, stubURL string, limits engine.Limits) *orchestrator.Engine {
	b.Helper()
	st, err := entstore.Open(context.Background(), url, entstore.Options{Logger: quiet})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	e := orchestrator.New(orchestrator.Config{Store: st, Logger: quiet, Getenv: func(string) string { return stubURL }, Limits: limits})
	if _, err := e.ImportCatalog(context.Background(), catalog); err != nil {
		b.Fatal(err)
	}
	return e
}

// BenchmarkSubmitLargeOrder stores a 10,000-line order (50,007 steps) in
// one transaction: decomposition, planning and every insert.
func BenchmarkSubmitLargeOrder(b *testing.B) {
	benchBackends(b, func(b *testing.B, url string) {
		ctx := context.Background()
		// 10,000 bundles are 40,000 lines with their components: past the
		// default OrderLines, which bounds what one request may make.
		e := benchEngineWith(b, url, enginetest.ExampleCatalog(b), "", engine.Limits{OrderLines: 50_000})
		b.ReportAllocs()
		for b.Loop() {
			if _, err := e.SubmitOrder(ctx, bigOrder(10000)); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// ptCatalog is a catalog of the commercial P decomposed into the
// technical T, with the systems (YAML lines under `systems:`, "" for none)
// and one scenario of the steps (YAML flow mappings).
func ptCatalog(systems string, steps ...string) string {
	var b strings.Builder
	b.WriteString("version: 1\n")
	if systems != "" {
		b.WriteString("systems:\n" + systems)
	}
	b.WriteString(`products:
  - {code: P, type: COMMERCIAL}
  - {code: T, type: TECHNICAL}
decomposition:
  - {name: r, from: P, to: T}
scenarios:
  - name: s
    groups:
      - name: g
        steps:
`)
	for _, st := range steps {
		b.WriteString("          - " + st + "\n")
	}
	return b.String()
}

// oneCalloutCatalog has one callout step per T.
var oneCalloutCatalog = ptCatalog(`  stub: {url: "${STUB_URL}", timeout: 10s}
`, `{name: Call, type: CALLOUT, scope: ITEM, product: T, callout: {system: stub, path: /call}}`)

// BenchmarkStepCycle is the claim-and-complete cycle of one callout step:
// claim (READY → RUNNING under a lease), the HTTP call to a local stub,
// and the transaction that records the outcome (RUNNING → COMPLETED,
// attempt, events, plan roll-up). b.N orders of one such step are made
// READY first; the runner then works them off.
func BenchmarkStepCycle(b *testing.B) {
	benchBackends(b, func(b *testing.B, url string) {
		ctx := context.Background()
		stub := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.Copy(io.Discard, r.Body)
			io.WriteString(w, `{"ok":true}`)
		}))
		defer stub.Close()
		e := benchEngine(b, url, oneCalloutCatalog, stub.URL)
		var completed atomic.Int64
		allDone := make(chan struct{})
		e.SetPublisher(func(evs []*engine.Event) {
			for _, ev := range evs {
				if ev.Kind == engine.EventOrderStatus && ev.To == string(engine.OrderCompleted) && completed.Add(1) == int64(b.N) {
					close(allDone)
				}
			}
		})
		var wg sync.WaitGroup
		sem := make(chan struct{}, 16)
		for i := range b.N {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				in := engine.OrderInput{ExternalID: fmt.Sprintf("cycle-%d-%d", i, time.Now().UnixNano()), AccountID: "a",
					Lines: []engine.LineInput{{ID: "L", ProductCode: "P", Quantity: 1}}}
				if _, err := e.SubmitOrder(ctx, in); err != nil {
					b.Error(err)
				}
			}()
		}
		wg.Wait()
		if b.Failed() {
			return
		}
		b.ResetTimer()
		if err := e.Start(orchestrator.RunnerConfig{PollInterval: 10 * time.Millisecond}); err != nil {
			b.Fatal(err)
		}
		select {
		case <-allDone:
		case <-time.After(5 * time.Minute):
		}
		b.StopTimer()
		e.Stop(ctx)
		if n := completed.Load(); n < int64(b.N) {
			b.Fatalf("%d of %d steps completed", n, b.N)
		}
	})
}

// jeopardyCatalog has a manual task per T whose deadlines are days away,
// and, for orders marked quick, one due in 300ms.
var jeopardyCatalog = ptCatalog("",
	`{name: Work, type: MANUAL_TASK, scope: ITEM, product: T, task: {queue: q}, estimatedDuration: 48h, jeopardyThreshold: 24h}`,
	`{name: Quick, type: MANUAL_TASK, scope: PLAN, task: {queue: q}, when: 'order.attributes.quick == true', estimatedDuration: 300ms, jeopardyThreshold: 100ms}`)

// BenchmarkJeopardyDeadline100k: with 100,000 open steps whose deadlines
// are far off, a step whose jeopardy deadline comes due is noticed (its
// JEOPARDY event committed) within ms: the timer loop sleeps until the
// earliest deadline in an index and sweeps only what is due. ms-late is
// the median time from the deadline to the event.
func BenchmarkJeopardyDeadline100k(b *testing.B) {
	benchBackends(b, func(b *testing.B, url string) {
		ctx := context.Background()
		e := benchEngine(b, url, jeopardyCatalog, "")
		open := 100000
		if os.Getenv("BATON_BENCH_SMALL") != "" {
			open = 1000
		}
		for done := 0; done < open; done += 10000 {
			in := engine.OrderInput{ExternalID: fmt.Sprintf("bulk-%d-%d", done, time.Now().UnixNano()), AccountID: "a"}
			for i := range 10000 {
				in.Lines = append(in.Lines, engine.LineInput{ID: fmt.Sprint("L", i), ProductCode: "P", Quantity: 1})
			}
			if _, err := e.SubmitOrder(ctx, in); err != nil {
				b.Fatal(err)
			}
		}
		seen := make(chan time.Time, 1024)
		e.SetPublisher(func(evs []*engine.Event) {
			for _, ev := range evs {
				if ev.Kind == engine.EventJeopardy && ev.Step.Name == "Quick" && ev.To == string(engine.AtRisk) {
					seen <- time.Now()
				}
			}
		})
		if err := e.Start(orchestrator.RunnerConfig{}); err != nil {
			b.Fatal(err)
		}
		defer e.Stop(ctx)
		var lates []time.Duration
		b.ResetTimer()
		for i := range b.N {
			in := engine.OrderInput{ExternalID: fmt.Sprintf("quick-%d-%d", i, time.Now().UnixNano()), AccountID: "a",
				Attributes: map[string]any{"quick": true}, Lines: []engine.LineInput{{ID: "L", ProductCode: "P", Quantity: 1}}}
			start := time.Now()
			if _, err := e.SubmitOrder(ctx, in); err != nil {
				b.Fatal(err)
			}
			due := start.Add(200 * time.Millisecond) // ready at submit; at risk 300ms − 100ms later
			select {
			case at := <-seen:
				lates = append(lates, max(0, at.Sub(due)))
			case <-time.After(5 * time.Second):
				b.Fatal("the deadline was not noticed within 5s")
			}
		}
		b.StopTimer()
		b.ReportMetric(float64(open), "open-steps")
		b.ReportMetric(float64(median(lates).Microseconds())/1000, "ms-late")
	})
}

func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), ds...)
	for i := range s {
		for j := i + 1; j < len(s); j++ {
			if s[j] < s[i] {
				s[i], s[j] = s[j], s[i]
			}
		}
	}
	return s[len(s)/2]
}
