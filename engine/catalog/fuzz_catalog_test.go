package catalog

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/batonhq/baton/engine"
)

// The fuzz tests run in CI for a bounded time, e.g.
//
//	go test -run '^$' -fuzz '^FuzzCatalogDocument$' -fuzztime 20s ./engine
//	go test -run '^$' -fuzz '^FuzzExpression$' -fuzztime 20s ./engine
//
// and their seeds run with every `go test`.

// fuzzBounds are what one input may cost: far above what the limits allow
// (a refusal takes milliseconds), far below what the unbounded attacks
// took (minutes, gigabytes).
const (
	fuzzMaxTime  = 5 * time.Second
	fuzzMaxAlloc = 256 << 20
)

// measure runs fn and fails t when it takes or allocates more than the
// fuzz bounds. A fuzz worker runs one input at a time, so the process's
// allocation is the input's.
func measure(t *testing.T, what string, fn func()) {
	t.Helper()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	start := time.Now()
	// An input that hangs would never reach the checks below: the worker
	// dies instead, and the fuzzer keeps the input as a failure.
	hung := time.AfterFunc(3*fuzzMaxTime, func() {
		buf := make([]byte, 1<<20)
		panic(fmt.Sprintf("%s still running after %s:\n%s", what, 3*fuzzMaxTime, buf[:runtime.Stack(buf, true)]))
	})
	fn()
	hung.Stop()
	took := time.Since(start)
	runtime.ReadMemStats(&after)
	if took > fuzzMaxTime {
		t.Errorf("%s took %s; want at most %s", what, took, fuzzMaxTime)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > fuzzMaxAlloc {
		t.Errorf("%s allocated %d MB; want at most %d MB", what, alloc>>20, fuzzMaxAlloc>>20)
	}
}

// FuzzCatalogDocument: CompileCatalog on any text returns a catalog or an
// INVALID_CATALOG *Error with problems, never panics, and stays within the
// fuzz bounds.
func FuzzCatalogDocument(f *testing.F) {
	example, err := os.ReadFile("../../examples/pro-server-package.yaml")
	if err != nil {
		f.Fatal(err)
	}
	for _, seed := range []string{
		string(example),
		scenarioWhen("true"),
		scenarioWhen(strings.Repeat("(", 5000) + "true" + strings.Repeat(")", 5000)),
		scenarioWhen(strings.Repeat("!", 5000) + "true"),
		scenarioWhen("len(1..1000000000) > 0"),
		scenarioWhen(`len(repeat("ab", 1000000000)) > 0`),
		scenarioWhen(`all(1..1000, all(1..1000, true))`),
		"version: 1\nproducts: [" + strings.Repeat("0,", 10000) + "0]\n",
		"version: 1\nproducts:\n  - code: P\n    attributes: " + strings.Repeat("[", 200) + strings.Repeat("]", 200) + "\n",
		`{"version": 1, "products": [{"code": "P"}], "scenarios": [{"name": "s", "groups": [{"name": "g", "steps": [{"name": "m", "type": "MILESTONE"}]}]}]}`,
		"a: &a [*a]\n",
		"version: 1\n---\nversion: 1\n",
	} {
		f.Add(seed)
	}
	opts := CatalogOptions{Actions: catalogTestActions, Getenv: func(string) string { return "" }}
	f.Fuzz(func(t *testing.T, text string) {
		var cat *Catalog
		var err error
		measure(t, "CompileCatalog", func() { cat, err = CompileCatalog(text, opts) })
		if err == nil {
			if cat == nil {
				t.Fatal("CompileCatalog returned neither a catalog nor an error")
			}
			return
		}
		var e *engine.Error
		if !errors.As(err, &e) || e.Code != engine.CodeInvalidCatalog || len(e.Problems) == 0 {
			t.Fatalf("CompileCatalog: %T %v; want an INVALID_CATALOG *Error with problems", err, err)
		}
		if cat != nil {
			t.Fatal("CompileCatalog returned a catalog with its error")
		}
	})
}

// FuzzExpression: any expression source, compiled for the order, line and
// step environments, either does not compile or evaluates (to a value or
// an error) without panicking and within the fuzz bounds.
func FuzzExpression(f *testing.F) {
	for _, seed := range []string{
		`true`,
		`hasProduct("P") && order.attributes.region == "EU"`,
		`map(order.lines, #.quantity * 2)`,
		`reduce(1..25, #acc + #acc, order.attributes.s)`,
		`any(order.lines, any(order.lines, any(order.lines, false)))`,
		`repeat(order.attributes.s, 1000000)`,
		`replace(order.attributes.s, "", order.attributes.s)`,
		`join(map(1..10000, order.attributes.s), ",")`,
		`toJSON(order)`,
		`let a = "ab"; let b = a + a; b + b`,
		`all(split(order.attributes.s, ""), # == "x")`,
		`sortBy(order.lines, .quantity) | map(.id) | join("")`,
		`item.attributes.x ?? step.name + string(step.attempt)`,
		`line.quantity > 1 ? bundle.productCode : line.id`,
		strings.Repeat("(", 100) + "1" + strings.Repeat(")", 100),
		strings.Repeat("- ", 100) + "1",
		`1..1000000000`,
	} {
		f.Add(seed)
	}
	o := hostileOrder(3, 100)
	envs := []struct {
		compile any
		run     func() any
	}{
		{OrderEnv{}, func() any { return orderEnv(o) }},
		{LineEnv{}, func() any {
			return &LineEnv{Helpers: OrderHelpers(o, nil, time.Unix(0, 0)), Order: o, Account: &engine.AccountView{Attributes: map[string]any{}},
				Line: o.Lines[0], Bundle: o.Lines[1]}
		}},
		{StepEnv{}, func() any {
			return &StepEnv{Helpers: OrderHelpers(o, nil, time.Unix(0, 0)), Order: o, Account: &engine.AccountView{Attributes: map[string]any{}},
				Item: &engine.ItemView{Attributes: map[string]any{"x": 1}}, Bundle: o.Lines[0], Context: map[string]any{},
				Step: &StepView{Name: "s", Attempt: 1}}
		}},
	}
	f.Fuzz(func(t *testing.T, src string) {
		for _, env := range envs {
			for _, kind := range []exprKind{anyValue, boolValue, intValue} {
				var e *Expr
				var err error
				measure(t, "compileExpr", func() { e, err = compileExpr(src, env.compile, kind, engine.DefaultLimits) })
				if err != nil {
					continue
				}
				measure(t, "Eval", func() {
					switch kind {
					case boolValue:
						_, _ = e.Bool(env.run())
					case intValue:
						_, _ = e.Int(env.run(), 0)
					default:
						_, _ = e.Eval(env.run())
					}
				})
			}
		}
	})
}
