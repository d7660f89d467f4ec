package catalog

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/batonhq/baton/engine"
	"github.com/batonhq/baton/engine/enginetest"
)

// A catalog document is bounded before it is parsed: its size, its node
// count and depth, and each expression's length and nesting, so that no
// document can overflow the stack (a 2 MB expression of nested parentheses
// killed the process with `fatal error: stack overflow`) or balloon the
// heap (a 4 MB flow list took 400 MB in the YAML parser).

// compileWithin compiles doc within l and returns its problems, what the
// compilation allocated and how long it took. The document must be refused.
func compileWithin(t *testing.T, name, doc string, l engine.Limits) (problems []engine.Problem, alloc uint64, took time.Duration) {
	t.Helper()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	start := time.Now()
	_, err := CompileCatalog(doc, CatalogOptions{Actions: catalogTestActions, Getenv: func(string) string { return "" }, Limits: l})
	took = time.Since(start)
	runtime.ReadMemStats(&after)
	e, ok := err.(*engine.Error)
	if !ok || e.Code != engine.CodeInvalidCatalog {
		t.Fatalf("CompileCatalog(%s): %v; want INVALID_CATALOG", name, err)
	}
	return e.Problems, after.TotalAlloc - before.TotalAlloc, took
}

func TestHostileCatalogDocuments(t *testing.T) {
	// Not parallel: it measures the allocation of the process, which
	// other tests running at the same time would add to.
	const mb = 1 << 20
	deep := func(open, inner, close string, n int) string {
		return strings.Repeat(open, n) + inner + strings.Repeat(close, n)
	}
	// Limits that let a 2 MB expression past ExprLength (and its document
	// past CatalogNodes, which counts the `[`, `{` and `- ` of quoted
	// scalars too), to show that its depth is checked before expr-lang's
	// parser recurses into it.
	long := engine.Limits{ExprLength: 4 << 20, CatalogNodes: 1 << 30}
	type hostileCase struct {
		name   string
		doc    string
		limits engine.Limits
		path   string // of the problem, or its beginning ("" for the document as a whole)
		want   string // in the message
	}
	// tooDeep is a case whose expression nests too deeply in a way of its
	// own: with its length allowed, it is refused at ExprDepth.
	tooDeep := func(name, when string) hostileCase {
		return hostileCase{name: name, doc: scenarioWhen(when), limits: long, path: "scenarios[0].when", want: "ExprDepth"}
	}
	cases := []hostileCase{
		{
			name: "2 MB of nested parentheses (the reported crash)",
			doc:  scenarioWhen(deep("(", "true", ")", 1<<20)),
			path: "scenarios[0].when", want: "ExprLength",
		},
		tooDeep("2 MB of nested parentheses, length allowed", deep("(", "true", ")", 1<<20)),
		tooDeep("a chain of negations", strings.Repeat("!", 1<<20)+"true"),
		tooDeep("a chain of unary minus", strings.Repeat("- ", 1<<19)+"1 > 0"),
		tooDeep("a chain of not", strings.Repeat("not ", 1<<18)+"true"),
		tooDeep("nested arrays", "len("+deep("[", "1", "]", 1<<19)+") > 0"),
		tooDeep("nested maps", "len("+deep("{a: ", "1", "}", 1<<18)+") > 0"),
		tooDeep("a right-associative chain", strings.Repeat("1 ** ", 1<<18)+"1 > 0"),
		tooDeep("a let chain", strings.Repeat("let a = 1; ", 1<<17)+"true"),
		tooDeep("a ternary chain", strings.Repeat("true ? true : ", 1<<17)+"true"),
		tooDeep("a long binary chain", strings.Repeat("true && ", 1<<17)+"true"),
		tooDeep("parentheses hidden from a naive scan by a comment are still counted", "/* ) */ "+deep("(", "true", ")", 1<<18)),
		{
			name: "too many nodes, flat", limits: long,
			doc:  scenarioWhen("len([" + strings.Repeat("1,", 2500) + "1]) > 0"),
			path: "scenarios[0].when", want: "ExprNodes",
		},
		{
			name: "a document over CatalogBytes",
			doc:  scenarioWhen("true") + "# " + strings.Repeat("x", 5<<20) + "\n",
			want: "CatalogBytes",
		},
		{
			name: "a 4 MB flow list (400 MB of YAML nodes)",
			doc:  "version: 1\nproducts: [" + strings.Repeat("0,", 2<<20-100) + "0]\n",
			want: "CatalogNodes",
		},
		{
			name: "deeply nested flow collections",
			doc:  "version: 1\nproducts:\n  - code: P\n    attributes: " + deep("[", "a", "]", 5000) + "\n",
			path: "products[0].attributes" + strings.Repeat("[0]", 60), want: "CatalogDepth",
		},
		{
			name: "deeply nested block mappings",
			doc: func() string {
				var b strings.Builder
				b.WriteString("version: 1\nsystems:\n")
				for i := range 200 {
					fmt.Fprintf(&b, "%sk:\n", strings.Repeat(" ", 2*(i+1)))
				}
				return b.String()
			}(),
			path: "systems" + strings.Repeat(".k", 60), want: "CatalogDepth",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			problems, alloc, took := compileWithin(t, tc.name, tc.doc, tc.limits)
			if len(problems) != 1 || !strings.HasPrefix(problems[0].Path, tc.path) || (tc.path == "") != (problems[0].Path == "") ||
				!strings.Contains(problems[0].Message, tc.want) {
				t.Errorf("CompileCatalog(%s): problems %.300v; want one at %q naming %s", tc.name, problems, tc.path, tc.want)
			}
			// Bounds a few times what the refusal needs (the document
			// itself is copied once by the YAML parser): the unbounded
			// compilations crashed or took hundreds of MB.
			if max := uint64(64*mb + 4*len(tc.doc)); alloc > max {
				t.Errorf("CompileCatalog(%s) allocated %d MB; want at most %d MB", tc.name, alloc/mb, max/mb)
			}
			// A guard against unbounded work, not a speed test: the
			// refusal takes well under a second alone, several under -race
			// beside the other packages' tests on two cores.
			if took > 30*time.Second {
				t.Errorf("CompileCatalog(%s) took %s; want a refusal within 30s", tc.name, took)
			}
		})
	}
}

// TestCatalogLimitsAdmitWhatIsWithin: just below each bound, the document
// compiles; the bounds are limits, not guesses.
func TestCatalogLimitsAdmitWhatIsWithin(t *testing.T) {
	t.Parallel()
	l := engine.DefaultLimits
	for _, when := range []string{
		strings.Repeat("(", l.ExprDepth-1) + "true" + strings.Repeat(")", l.ExprDepth-1),
		strings.Repeat("!", l.ExprDepth-1) + "true",
		strings.Repeat("true && ", l.ExprDepth-1) + "true",
		// siblings do not nest
		"len([" + strings.Repeat("1 + 1, ", 300) + "1]) > 0",
		`hasProduct("A") || hasProduct("B") || hasProduct("C") || order.attributes.x == "a" && order.lines[0].quantity > 2`,
	} {
		if problems := compileProblems(t, shorten(when, 40), scenarioWhen(when)); problems != nil {
			t.Errorf("CompileCatalog(when: %s): problems %v; want none", shorten(when, 60), problems)
		}
	}
	if problems := compileProblems(t, "example", exampleCatalogText(t)); problems != nil {
		t.Errorf("CompileCatalog(example): problems %v; want none", problems)
	}
}

func exampleCatalogText(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("../../examples/pro-server-package.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestHostileBundleLattice: a bundle whose expansion is exponential in the
// catalog's size is refused at import, quickly (the cycle check walked
// every path: 2^40 of them here), naming the bundle; one within OrderLines
// compiles.
func TestHostileBundleLattice(t *testing.T) {
	t.Parallel()
	start := time.Now()
	problems := compileProblems(t, "lattice", enginetest.BundleLattice(40))
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("CompileCatalog(lattice) took %s; want it done within 5s", took)
	}
	found := false
	for _, p := range problems {
		found = found || (p.Path == "products[0]" && strings.Contains(p.Message, "OrderLines"))
	}
	if !found {
		t.Errorf("CompileCatalog(lattice): problems %v; want one at products[0] naming OrderLines", problems)
	}
	if problems := compileProblems(t, "small lattice", enginetest.BundleLattice(8)); problems != nil {
		t.Errorf("CompileCatalog(small lattice): problems %v; want none (511 lines)", problems)
	}
}
