package catalog

import (
	"errors"
	"fmt"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/expr-lang/expr"

	"github.com/batonhq/baton/engine"
)

// Expressions are catalog code run on every order: each evaluation has a
// budget of steps, time, allocation and string size (expr_budget.go), and
// what the source alone shows to be too costly is refused at import.

// hostileOrder is an order of n lines whose attributes hold a string of
// size bytes, the raw material of the attacks below.
func hostileOrder(n, size int) *engine.OrderView {
	o := &engine.OrderView{ExternalID: "x", AccountID: "a", Attributes: map[string]any{"s": strings.Repeat("x", size), "n": 2}}
	for i := range n {
		o.Lines = append(o.Lines, &engine.LineView{ID: fmt.Sprint("L", i), ProductCode: "P", Quantity: 1, Attributes: map[string]any{"s": "ab"}})
	}
	return o
}

func orderEnv(o *engine.OrderView) *OrderEnv {
	return &OrderEnv{Helpers: OrderHelpers(o, nil, time.Unix(0, 0)), Order: o, Account: &engine.AccountView{ID: "a", Attributes: map[string]any{}}}
}

// evalWithin compiles src for the order environment within l and evaluates
// it on o, returning the value, the error and what the evaluation
// allocated and took.
func evalWithin(t *testing.T, l engine.Limits, src string, o *engine.OrderView) (v any, err error, alloc uint64, took time.Duration) {
	t.Helper()
	e, err := compileExpr(src, OrderEnv{}, anyValue, l.WithDefaults())
	if err != nil {
		t.Fatalf("compileExpr(%q): %v", shorten(src, 80), err)
	}
	env := orderEnv(o)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	start := time.Now()
	v, err = e.Eval(env)
	took = time.Since(start)
	runtime.ReadMemStats(&after)
	return v, err, after.TotalAlloc - before.TotalAlloc, took
}

// TestHostileExpressionBudget runs the reported attacks: each must fail
// its one evaluation with an error naming the limit it met, promptly and
// without building what it asked for. Before the budget, the loops ran for
// as long as they liked (a condition over strings held submitOrder 24 s)
// and string growth escaped expr-lang's memory budget (a 300 MB string).
func TestHostileExpressionBudget(t *testing.T) {
	// Not parallel: it measures the allocation of the process, which
	// other tests running at the same time would add to.
	const mb = 1 << 20
	cases := []struct {
		name   string
		limits engine.Limits
		src    string
		order  *engine.OrderView
		want   string // in the error
		// maxAlloc bounds what the evaluation may allocate.
		maxAlloc uint64
	}{
		{
			name: "nested loops over the order's lines (1e9 steps)",
			src:  `any(order.lines, any(order.lines, any(order.lines, #.attributes.s + "y" == "z")))`,
			// No step limit here: the deadline alone must stop it.
			limits: engine.Limits{ExprSteps: 1 << 60, ExprTimeout: 200 * time.Millisecond},
			order:  hostileOrder(1000, 1), want: "ExprTimeout", maxAlloc: 512 * mb,
		},
		{
			name: "nested loops over the order's lines, counted",
			src:  `any(order.lines, any(order.lines, any(order.lines, false)))`,
			// No deadline here: the step count alone must stop it.
			limits: engine.Limits{ExprTimeout: time.Hour},
			order:  hostileOrder(1000, 1), want: "more than 1000000 loop steps (ExprSteps)", maxAlloc: 16 * mb,
		},
		{
			name:   "a loop over the characters of a long string",
			src:    `all(split(order.attributes.s, ""), all(split(order.attributes.s, ""), # == "x"))`,
			limits: engine.Limits{ExprTimeout: time.Hour},
			order:  hostileOrder(1, 60000), want: "ExprSteps", maxAlloc: 64 * mb,
		},
		{
			name:  "doubling a string by concatenation",
			src:   `reduce(1..25, #acc + #acc, order.attributes.s)`,
			order: hostileOrder(1, 8), want: "ExprStringBytes", maxAlloc: 4 * mb,
		},
		{
			name:  "doubling a string with let",
			src:   `let a = order.attributes.s + order.attributes.s; let b = a + a; let c = b + b; let d = c + c; let e = d + d; e + e`,
			order: hostileOrder(1, 1<<20), want: "ExprStringBytes", maxAlloc: 4 * mb,
		},
		{
			name:  "repeat of a long string",
			src:   `repeat(order.attributes.s, 1000000)`,
			order: hostileOrder(1, 300), want: "repeat would build a string", maxAlloc: 1 * mb,
		},
		{
			name:  "replace that multiplies a string",
			src:   `replace(order.attributes.s, "x", order.attributes.s)`,
			order: hostileOrder(1, 10000), want: "replace would build a string", maxAlloc: 1 * mb,
		},
		{
			name:  "join of many copies",
			src:   `join(map(1..10000, order.attributes.s), ",")`,
			order: hostileOrder(1, 1000), want: "join would build a string", maxAlloc: 2 * mb,
			// The refusal, not the clock: building the list to join takes
			// longer than ExprTimeout on a loaded machine under -race.
			limits: engine.Limits{ExprTimeout: 4 * time.Second},
		},
		{
			name:  "toJSON of a large value",
			src:   `toJSON(map(1..5000, order.attributes))`,
			order: hostileOrder(1, 100), want: "toJSON would build a string", maxAlloc: 16 * mb,
			// The refusal, not the clock: building the value to encode takes
			// longer than ExprTimeout on a loaded machine under -race.
			limits: engine.Limits{ExprTimeout: 4 * time.Second},
		},
		{
			name:  "ranges in a loop",
			src:   `all(1..1000, len(1..90000) > 0)`,
			order: hostileOrder(1, 1), want: "ExprMemory", maxAlloc: 8 * mb,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v, err, alloc, took := evalWithin(t, tc.limits, tc.src, tc.order)
			if err == nil {
				t.Fatalf("Eval(%q) = %s; want an error containing %q", tc.src, shorten(fmt.Sprint(v), 40), tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) || !errors.Is(err, errExprBudget) {
				t.Errorf("Eval(%q): error %q; want one containing %q (an errExprBudget)", tc.src, shorten(err.Error(), 300), tc.want)
			}
			// Generous: the budgets are 100-200 ms; a loaded machine under
			// -race may take a few times that, the unbounded ones took
			// minutes.
			if took > 5*time.Second {
				t.Errorf("Eval(%q) took %s; want it stopped within 5s", tc.src, took)
			}
			if alloc > tc.maxAlloc {
				t.Errorf("Eval(%q) allocated %d MB; want at most %d MB", tc.src, alloc/mb, tc.maxAlloc/mb)
			}
		})
	}
}

// TestExpressionBudgetKeepsSemantics compares the patched programs with
// expr-lang's own on expressions of normal size: loops, string and number
// `+` on known and unknown types, the replaced builtins.
func TestExpressionBudgetKeepsSemantics(t *testing.T) {
	t.Parallel()
	o := hostileOrder(3, 3)
	o.Lines[1].Quantity = 5
	o.Lines[2].ProductCode = "Q"
	srcs := []string{
		`map(order.lines, #.quantity * 2)`,
		`filter(order.lines, #.productCode == "P") | map(.id)`,
		`sum(map(order.lines, #.quantity))`,
		`reduce(order.lines, #acc + #.quantity, 0)`,
		`reduce(order.lines, #acc + #.id, "")`,
		`sortBy(order.lines, .quantity, "desc") | map(.id)`,
		`groupBy(order.lines, .productCode)["P"] | map(.id)`,
		`count(order.lines, .quantity > 1) + len(order.lines)`,
		`all(order.lines, any(order.lines, #.id != "") and #.quantity > 0)`,
		`find(order.lines, .quantity == 5)?.id`,
		`order.attributes.s + order.attributes.s`,
		`order.attributes.n + 1`,
		`order.attributes.n + order.attributes.n`,
		`"a" + "b" + order.externalId`,
		`repeat("ab", 3) + replace("aXbX", "X", "--") + join(["a", "b"], "+") + toBase64("hi")`,
		`string(order.attributes.n) + toJSON({"a": [1, 2]})`,
		`let xs = map(1..5, # * #); xs[1:3]`,
		`1..5 | filter(# % 2 == 1) | map(string(#)) | join(",")`,
		`upper(order.lines[0].attributes.s) + lower("X")`,
	}
	for _, src := range srcs {
		plain, err := expr.Compile(src, expr.Env(OrderEnv{}), expr.DisableBuiltin("now"))
		if err != nil {
			t.Fatalf("expr.Compile(%q): %v", src, err)
		}
		want, err := expr.Run(plain, orderEnv(o))
		if err != nil {
			t.Fatalf("expr.Run(%q): %v", src, err)
		}
		patched, err := compileExpr(src, OrderEnv{}, anyValue, engine.DefaultLimits)
		if err != nil {
			t.Fatalf("compileExpr(%q): %v", src, err)
		}
		got, err := patched.Eval(orderEnv(o))
		if err != nil {
			t.Errorf("Eval(%q): %v; want %v", src, err, want)
			continue
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("Eval(%q) = %#v; want %#v (as expr-lang evaluates it)", src, got, want)
		}
		if reflect.TypeOf(patched.prog.Node().Type()) != reflect.TypeOf(plain.Node().Type()) || patched.prog.Node().Type() != plain.Node().Type() {
			t.Errorf("compileExpr(%q) has type %v; want %v", src, patched.prog.Node().Type(), plain.Node().Type())
		}
	}
}

// TestExpressionCompileErrorsSurvivePatching: the patcher keeps the types
// it sees, so a type error inside a predicate or an operand of `+` must be
// reported as it was, not hidden behind a patched node.
func TestExpressionCompileErrorsSurvivePatching(t *testing.T) {
	t.Parallel()
	for _, src := range []string{
		`all(order.lines, #.nosuchfield == 1)`,
		`filter(order.lines, upper(#.quantity) == "X")`,
		`upper(order.nosuch) + "x"`,
		`map(order.lines, #.id + 1)`,
	} {
		if _, err := compileExpr(src, OrderEnv{}, anyValue, engine.DefaultLimits); err == nil {
			t.Errorf("compileExpr(%q) succeeded; want the type error expr-lang reports", src)
		}
	}
}

// TestExpressionStaticCostRefusedAtImport: a cost that the source alone
// shows would fail every evaluation is a catalog problem, with its path.
func TestExpressionStaticCostRefusedAtImport(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ when, want string }{
		{`len(1..1000000000) > 0`, "ExprMemory"},
		{`len(-5..100000) > 0`, "ExprMemory"},
		{`len(repeat("ab", 1000000000)) > 0`, "ExprStringBytes"},
		{`len(repeat("ab", 40000)) > 0`, "ExprStringBytes"},
	} {
		doc := scenarioWhen(tc.when)
		problems := compileProblems(t, tc.when, doc)
		if len(problems) != 1 || problems[0].Path != "scenarios[0].when" || !strings.Contains(problems[0].Message, tc.want) {
			t.Errorf("CompileCatalog(when: %s): problems %v; want one at scenarios[0].when naming %s", tc.when, problems, tc.want)
		}
	}
	// Within the limits: compiles.
	for _, when := range []string{`len(1..99999) > 0`, `len(repeat("ab", 30000)) > 0`} {
		if problems := compileProblems(t, when, scenarioWhen(when)); problems != nil {
			t.Errorf("CompileCatalog(when: %s): problems %v; want none", when, problems)
		}
	}
}

// scenarioWhen is a minimal catalog whose one scenario has the condition.
func scenarioWhen(when string) string {
	return fmt.Sprintf(`version: 1
products:
  - {code: P, type: COMMERCIAL}
scenarios:
  - name: s
    when: %q
    groups:
      - name: g
        steps:
          - {name: m, type: MILESTONE}
`, when)
}

// TestExpressionCancelled: a request that is gone stops its evaluations.
func TestExpressionCancelled(t *testing.T) {
	t.Parallel()
	e, err := compileExpr(`any(order.lines, any(order.lines, any(order.lines, false)))`, OrderEnv{}, anyValue,
		engine.Limits{ExprSteps: 1 << 60, ExprTimeout: time.Hour}.WithDefaults())
	if err != nil {
		t.Fatal(err)
	}
	env := orderEnv(hostileOrder(1000, 1))
	done := make(chan struct{})
	env.Done = done
	time.AfterFunc(50*time.Millisecond, func() { close(done) })
	start := time.Now()
	_, err = e.Eval(env)
	if err == nil || !strings.Contains(err.Error(), "cancelled") {
		t.Errorf("Eval after cancellation: %v; want the request was cancelled", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("Eval went on %s after its request was cancelled", took)
	}
}
