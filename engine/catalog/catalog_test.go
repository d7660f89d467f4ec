package catalog

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/batonhq/baton/engine"
)

// The catalog tests build each case from catalogBase, a small valid catalog,
// plus a modification, so that each case shows only what it is about.
//
// Paths in catalogBase, for reading the tables below:
//
//	products[0] BUNDLE (components: HW)   products[1] HW   products[2] T-SHIP   products[3] T-LIC
//	enrichment[0] default-region          decomposition[0] ship, [1] lic
//	scenarios[0] main (SALES), group Core:
//	  steps[0] Start (AUTO_TASK, PLAN)    steps[1] Reserve (CALLOUT, ITEM T-SHIP)
//	  steps[2] Activate (CALLOUT, ITEM T-LIC)
//	  steps[3] Ship (CALLOUT, ITEM T-SHIP) steps[4] Done (MILESTONE, PLAN)
//	  dependencies[0..3]; an added step is steps[5], an added dependency dependencies[4]
//	scenarios[1] dunning (GENERIC), group Collect:
//	  steps[0] Remind (MANUAL_TASK, PLAN) steps[1] Charge (CALLOUT, ITEM) steps[2] Wait (PAUSE, ITEM)
//	  dependencies[0..1]; an added step is steps[3], an added dependency dependencies[2]
//	an added scenario is scenarios[2]
const catalogBase = `version: 1
systems:
  erp: {url: "http://127.0.0.1:9/erp", timeout: 5s}
products:
  - {code: BUNDLE, type: COMMERCIAL, components: [{product: HW}]}
  - {code: HW, type: COMMERCIAL}
  - {code: T-SHIP, type: TECHNICAL}
  - {code: T-LIC, type: TECHNICAL}
  # +products
enrichment:
  - {name: default-region, when: 'order.attributes.region == nil', set: {region: '"EU"'}}
  # +enrichment
decomposition:
  - {name: ship, from: HW, to: T-SHIP, attributes: {sku: 'line.productCode'}}
  - {name: lic, from: HW, to: T-LIC}
  # +decomposition
scenarios:
  - name: main
    when: 'hasProduct("BUNDLE")'
    groups:
      - name: Core
        steps:
          - {name: Start, type: AUTO_TASK, auto: {action: noop}}
          - {name: Reserve, type: CALLOUT, scope: ITEM, product: T-SHIP, callout: {system: erp, path: /reserve}}
          - {name: Activate, type: CALLOUT, scope: ITEM, product: T-LIC, callout: {system: erp, path: /activate}}
          - {name: Ship, type: CALLOUT, scope: ITEM, product: T-SHIP, callout: {system: erp, path: /ship}}
          - {name: Done, type: MILESTONE}
          # +steps
    dependencies:
      - {step: Reserve, after: Start}
      - {step: Ship, after: Reserve, scope: ITEM}
      - {step: Ship, after: Activate, scope: BUNDLE}
      - {step: Done, after: Ship}
      # +dependencies
  - name: dunning
    usage: GENERIC
    type: dunning
    items: 'context.invoices'
    groups:
      - name: Collect
        steps:
          - {name: Remind, type: MANUAL_TASK, task: {queue: collections}}
          - {name: Charge, type: CALLOUT, scope: ITEM, callout: {system: erp, path: /charge, body: '{"invoice": item.key}'}}
          - {name: Wait, type: PAUSE, scope: ITEM, pause: {until: paid, for: 7d}}
          # +generic-steps
    dependencies:
      - {step: Charge, after: Remind}
      - {step: Wait, after: Charge, scope: ITEM}
      # +generic-dependencies
  # +scenarios
`

// Paths of things the edits below add to catalogBase.
const (
	mainStep    = "scenarios[0].groups[0].steps"
	newStep     = "scenarios[0].groups[0].steps[5]"
	newDep      = "scenarios[0].dependencies[4]"
	genericStep = "scenarios[1].groups[0].steps"
	newGenStep  = "scenarios[1].groups[0].steps[3]"
	newGenDep   = "scenarios[1].dependencies[2]"
	startStep   = "scenarios[0].groups[0].steps[0]"
	reserveStep = "scenarios[0].groups[0].steps[1]"
	shipStep    = "scenarios[0].groups[0].steps[3]"
)

// catalogTestActions are the registered actions the tests compile against.
var catalogTestActions = []string{"set", "noop", "hash"}

// A catalogEdit changes a catalog document.
type catalogEdit func(t *testing.T, doc string) string

// replace replaces old, which must occur exactly once, with new.
func replace(old, new string) catalogEdit {
	return func(t *testing.T, doc string) string {
		t.Helper()
		if n := strings.Count(doc, old); n != 1 {
			t.Fatalf("bad test: %q occurs %d times in the catalog, want once", old, n)
		}
		return strings.Replace(doc, old, new, 1)
	}
}

// insertAt adds the list entry "- item" before the line "# +anchor", with
// its indentation. item may span several lines (already indented after the
// first).
func insertAt(anchor, item string) catalogEdit {
	return func(t *testing.T, doc string) string {
		t.Helper()
		marker := "# +" + anchor + "\n"
		i := strings.Index(doc, marker)
		if i < 0 {
			t.Fatalf("bad test: no anchor %q", marker)
		}
		start := strings.LastIndexByte(doc[:i], '\n') + 1
		indent := doc[start:i]
		return doc[:start] + indent + "- " + item + "\n" + doc[start:]
	}
}

func addProduct(s string) catalogEdit       { return insertAt("products", s) }
func addEnrichment(s string) catalogEdit    { return insertAt("enrichment", s) }
func addDecomposition(s string) catalogEdit { return insertAt("decomposition", s) }
func addStep(s string) catalogEdit          { return insertAt("steps", s) }
func addDep(s string) catalogEdit           { return insertAt("dependencies", s) }
func addGenericStep(s string) catalogEdit   { return insertAt("generic-steps", s) }
func addGenericDep(s string) catalogEdit    { return insertAt("generic-dependencies", s) }

// addScenario adds a scenario written as YAML lines indented by 4 spaces
// after its first line ("name: ...").
func addScenario(s string) catalogEdit { return insertAt("scenarios", s) }

// wholeDocument replaces the document.
func wholeDocument(text string) catalogEdit {
	return func(*testing.T, string) string { return text }
}

func buildCatalog(t *testing.T, edits ...catalogEdit) string {
	t.Helper()
	doc := catalogBase
	for _, e := range edits {
		doc = e(t, doc)
	}
	return doc
}

// catalogProblem is a problem a case expects: one at path whose message
// contains contains.
type catalogProblem struct {
	path     string
	contains string
}

// lineOf stands for the path "line N" where N is the line of the first
// occurrence of s in the document under test.
func lineOf(s string) string { return "\x00line-of:" + s }

func resolvePath(t *testing.T, doc, path string) string {
	t.Helper()
	s, ok := strings.CutPrefix(path, "\x00line-of:")
	if !ok {
		return path
	}
	i := strings.Index(doc, s)
	if i < 0 {
		t.Fatalf("bad test: %q is not in the document", s)
	}
	return fmt.Sprintf("line %d", strings.Count(doc[:i], "\n")+1)
}

// compileProblems compiles doc and returns its problems (nil when it
// compiles), checking that a failure is an INVALID_CATALOG *Error.
func compileProblems(t *testing.T, name, doc string) []engine.Problem {
	t.Helper()
	cat, err := CompileCatalog(doc, CatalogOptions{Actions: catalogTestActions, Getenv: func(string) string { return "" }})
	if err == nil {
		if cat == nil {
			t.Fatalf("CompileCatalog(%s) returned neither a catalog nor an error", name)
		}
		return nil
	}
	var e *engine.Error
	if !errors.As(err, &e) {
		t.Fatalf("CompileCatalog(%s): error %T %v; want an *engine.Error", name, err, err)
	}
	if e.Code != engine.CodeInvalidCatalog {
		t.Errorf("CompileCatalog(%s): code %s; want %s", name, e.Code, engine.CodeInvalidCatalog)
	}
	if cat != nil {
		t.Errorf("CompileCatalog(%s): returned a catalog with an error", name)
	}
	if len(e.Problems) == 0 {
		t.Fatalf("CompileCatalog(%s): error %v without problems", name, err)
	}
	return e.Problems
}

// checkProblems checks that every wanted problem is among problems, and that
// there are n problems in all (n 0: as many as wanted).
func checkProblems(t *testing.T, name, doc string, problems []engine.Problem, want []catalogProblem, n int) {
	t.Helper()
	for _, w := range want {
		path := resolvePath(t, doc, w.path)
		found := slices.ContainsFunc(problems, func(p engine.Problem) bool {
			return p.Path == path && strings.Contains(p.Message, w.contains)
		})
		if !found {
			t.Errorf("CompileCatalog(%s): problems = %v; want a problem at %q containing %q", name, problems, path, w.contains)
		}
	}
	if n == 0 {
		n = len(want)
	}
	if len(problems) != n {
		t.Errorf("CompileCatalog(%s): %d problems %v; want %d", name, len(problems), problems, n)
	}
}

// catalogCase is one invalid catalog: the edits to catalogBase and the
// problems they must cause.
type catalogCase struct {
	name  string
	edits []catalogEdit
	want  []catalogProblem
	n     int // number of problems in all; 0: len(want)
}

func runCatalogCases(t *testing.T, cases []catalogCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			doc := buildCatalog(t, tc.edits...)
			problems := compileProblems(t, tc.name, doc)
			checkProblems(t, tc.name, doc, problems, tc.want, tc.n)
		})
	}
}

func edits(e ...catalogEdit) []catalogEdit { return e }

func at(path, contains string) []catalogProblem {
	return []catalogProblem{{path: path, contains: contains}}
}

func mustCompile(t *testing.T, doc string, opts CatalogOptions) *Catalog {
	t.Helper()
	if opts.Actions == nil {
		opts.Actions = catalogTestActions
	}
	if opts.Getenv == nil {
		opts.Getenv = func(string) string { return "" }
	}
	cat, err := CompileCatalog(doc, opts)
	if err != nil {
		var e *engine.Error
		if errors.As(err, &e) {
			t.Fatalf("CompileCatalog: problems = %v; want none", e.Problems)
		}
		t.Fatalf("CompileCatalog: %v", err)
	}
	return cat
}

// --- 1. valid catalogs ---

func TestCatalogValidDocumentsCompile(t *testing.T) {
	files := []struct {
		file  string
		steps int
	}{
		{"../../examples/pro-server-package.yaml", 12},
		{"../plan/testdata/planning/catalog.yaml", 15},
	}
	for _, f := range files {
		t.Run(f.file, func(t *testing.T) {
			text, err := os.ReadFile(f.file)
			if err != nil {
				t.Fatal(err)
			}
			problems := compileProblems(t, f.file, string(text))
			if len(problems) > 0 {
				t.Fatalf("CompileCatalog(%s): problems = %v; want none", f.file, problems)
			}
			cat := mustCompile(t, string(text), CatalogOptions{})
			if got := len(cat.StepDefs()); got != f.steps {
				t.Errorf("CompileCatalog(%s): %d steps; want %d", f.file, got, f.steps)
			}
			if cat.Checksum != CatalogChecksum(string(text)) || len(cat.Checksum) != 64 {
				t.Errorf("CompileCatalog(%s): checksum %q; want the sha256 of the text", f.file, cat.Checksum)
			}
		})
	}
	t.Run("base", func(t *testing.T) {
		if problems := compileProblems(t, "base", catalogBase); len(problems) > 0 {
			t.Fatalf("CompileCatalog(base): problems = %v; want none", problems)
		}
	})
	t.Run("json", func(t *testing.T) {
		doc := `{"version": 1,
  "systems": {"erp": {"url": "https://erp.example", "timeout": "5s"}},
  "products": [{"code": "HW", "type": "COMMERCIAL"}, {"code": "T-SHIP", "type": "TECHNICAL"}],
  "decomposition": [{"name": "ship", "from": "HW", "to": "T-SHIP"}],
  "scenarios": [{"name": "main", "groups": [{"name": "G", "steps": [
    {"name": "Ship", "type": "CALLOUT", "scope": "ITEM", "product": "T-SHIP", "callout": {"system": "erp", "path": "/ship"}},
    {"name": "Done", "type": "MILESTONE"}]}],
    "dependencies": [{"step": "Done", "after": ["Ship"]}]}]}`
		if problems := compileProblems(t, "json", doc); len(problems) > 0 {
			t.Fatalf("CompileCatalog(json): problems = %v; want none", problems)
		}
	})
}

// --- 2. validation rules ---

func TestCatalogUnknownReferences(t *testing.T) {
	runCatalogCases(t, []catalogCase{
		{"component", edits(replace("[{product: HW}]", "[{product: NOPE}]")),
			at("products[0].components[0].product", `unknown product "NOPE"`), 0},
		{"component without product", edits(replace("[{product: HW}]", "[{quantity: 2}]")),
			at("products[0].components[0].product", "component needs a product"), 0},
		{"decomposition from", edits(addDecomposition("{name: x, from: NOPE, to: T-SHIP}")),
			at("decomposition[2].from", `unknown product "NOPE"`), 0},
		{"decomposition to", edits(addDecomposition("{name: x, from: HW, to: NOPE}")),
			at("decomposition[2].to", `unknown product "NOPE"`), 0},
		{"enrichment product", edits(addEnrichment("{name: x, scope: LINE, product: NOPE, set: {a: '1'}}")),
			at("enrichment[1].product", `unknown product "NOPE"`), 0},
		{"step product", edits(addStep("{name: X, type: MILESTONE, scope: ITEM, product: NOPE}")),
			at(newStep+".product", `unknown product "NOPE"`), 0},
		{"callout system", edits(replace("{system: erp, path: /ship}", "{system: crm, path: /ship}")),
			at(shipStep+".callout.system", `unknown system "crm"`), 0},
		{"callout without system", edits(replace("{system: erp, path: /ship}", "{path: /ship}")),
			at(shipStep+".callout.system", "callout needs a system"), 0},
		{"auto action", edits(replace("{action: noop}", "{action: launch}")),
			at(startStep+".auto.action", `unknown action "launch"`), 0},
		{"auto without action", edits(replace("{action: noop}", "{params: {a: '1'}}")),
			at(startStep+".auto.action", "needs an action"), 0},
		{"dependency step", edits(addDep("{step: Nope, after: Start}")),
			at(newDep+".step", `unknown step "Nope"`), 0},
		{"dependency without step", edits(addDep("{after: Start}")),
			at(newDep+".step", "dependency needs a step"), 0},
		{"dependency after as a string", edits(addDep("{step: Done, after: Nope}")),
			at(newDep+".after", `unknown step "Nope"`), 0},
		{"dependency after in a list", edits(addDep("{step: Done, after: [Start, Nope]}")),
			at(newDep+".after[1]", `unknown step "Nope"`), 0},
		{"dependency without after", edits(addDep("{step: Done}")),
			at(newDep+".after", "at least one step"), 0},
	})
}

func TestCatalogCycles(t *testing.T) {
	steps := edits(
		addStep("{name: X, type: MILESTONE}"),
		addStep("{name: Y, type: MILESTONE}"),
		addStep("{name: Z, type: MILESTONE}"),
	)
	cycle := func(names ...string) []catalogProblem {
		ps := []catalogProblem{{"dependencies", "dependency cycle"}}
		for _, n := range names {
			ps = append(ps, catalogProblem{"dependencies", n})
		}
		return ps
	}
	runCatalogCases(t, []catalogCase{
		{"self dependency", append(steps, addDep("{step: X, after: X}")), cycle("X → X"), 1},
		{"2-cycle", append(steps, addDep("{step: X, after: Y}"), addDep("{step: Y, after: X}")),
			cycle("X", "Y"), 1},
		{"3-cycle", append(steps, addDep("{step: X, after: Z}"), addDep("{step: Y, after: X}"), addDep("{step: Z, after: Y}")),
			cycle("X", "Y", "Z"), 1},
		{"cycle through base steps", edits(addDep("{step: Start, after: Done}")),
			cycle("Start", "Reserve", "Ship", "Done"), 1},
		{"two separate cycles", append(steps, addDep("{step: X, after: X}"), addDep("{step: Y, after: Z}"), addDep("{step: Z, after: Y}")),
			[]catalogProblem{{"dependencies", "X → X"}, {"dependencies", "Y → Z"}}, 2},
		{"cycle across scenarios", edits(
			addScenario("name: extra\n    groups: [{name: G, steps: [{name: Extra, type: MILESTONE}]}]\n    dependencies: [{step: Extra, after: Done}, {step: Start, after: Extra}]")),
			cycle("Start", "Done", "Extra"), 1},
		{"bundle self component", edits(addProduct("{code: LOOP, components: [{product: LOOP}]}")),
			at("products", "bundle cycle: LOOP → LOOP"), 0},
		{"bundle 2-cycle", edits(
			addProduct("{code: A, components: [{product: B}]}"),
			addProduct("{code: B, components: [{product: A}]}")),
			[]catalogProblem{{"products", "bundle cycle"}, {"products", "A"}, {"products", "B"}}, 1},
		{"bundle 3-cycle", edits(
			addProduct("{code: A, components: [{product: B}]}"),
			addProduct("{code: B, components: [{product: C}]}"),
			addProduct("{code: C, components: [{product: A}]}")),
			[]catalogProblem{{"products", "bundle cycle"}, {"products", "A"}, {"products", "B"}, {"products", "C"}}, 1},
	})
}

// TestCatalogCycleMessageOrder checks that a cycle message is a real cycle
// in execution order: "A → B → C → A" where each step runs after the one
// before it.
func TestCatalogCycleMessageOrder(t *testing.T) {
	doc := buildCatalog(t,
		addStep("{name: X, type: MILESTONE}"),
		addStep("{name: Y, type: MILESTONE}"),
		addStep("{name: Z, type: MILESTONE}"),
		addDep("{step: Y, after: X}"), // X → Y
		addDep("{step: Z, after: Y}"), // Y → Z
		addDep("{step: X, after: Z}"), // Z → X
	)
	problems := compileProblems(t, "3-cycle", doc)
	if len(problems) != 1 {
		t.Fatalf("CompileCatalog(3-cycle): problems = %v; want one cycle", problems)
	}
	msg, ok := strings.CutPrefix(problems[0].Message, "dependency cycle: ")
	if !ok {
		t.Fatalf("CompileCatalog(3-cycle): problems = %v; want a problem at %q containing %q", problems, "dependencies", "dependency cycle: ")
	}
	names := strings.Split(msg, " → ")
	runsAfter := map[[2]string]bool{{"X", "Y"}: true, {"Y", "Z"}: true, {"Z", "X"}: true}
	if len(names) != 4 || names[0] != names[3] {
		t.Fatalf("cycle %q: want 3 steps and back to the first", msg)
	}
	for i := 0; i+1 < len(names); i++ {
		if !runsAfter[[2]string{names[i], names[i+1]}] {
			t.Errorf("cycle %q: %s does not run after %s", msg, names[i+1], names[i])
		}
	}
}

func TestCatalogExpressions(t *testing.T) {
	runCatalogCases(t, []catalogCase{
		{"syntax error", edits(replace(`'hasProduct("BUNDLE")'`, `'hasProduct("BUNDLE"'`)),
			at("scenarios[0].when", "expression does not compile"), 0},
		{"unknown variable", edits(addStep("{name: X, type: MILESTONE, when: 'customer.vip'}")),
			at(newStep+".when", "unknown name customer"), 0},
		{"item in a scenario when", edits(replace(`'hasProduct("BUNDLE")'`, `'item.productCode == "X"'`)),
			at("scenarios[0].when", "unknown name item"), 0},
		{"context in a SALES scenario when", edits(replace(`'hasProduct("BUNDLE")'`, `'context.x == 1'`)),
			at("scenarios[0].when", "unknown name context"), 0},
		{"order in a GENERIC scenario when", edits(replace("items: 'context.invoices'", "items: 'context.invoices'\n    when: 'order.id > 0'")),
			at("scenarios[1].when", "unknown name order"), 0},
		{"line in an ORDER enrichment", edits(addEnrichment("{name: x, when: 'line.quantity > 1', set: {a: '1'}}")),
			at("enrichment[1].when", "unknown name line"), 0},
		{"item in a decomposition attribute", edits(addDecomposition("{name: x, from: HW, to: T-SHIP, attributes: {sku: 'item.key'}}")),
			at("decomposition[2].attributes.sku", "unknown name item"), 0},
		{"response in a callout body", edits(replace("{system: erp, path: /ship}", "{system: erp, path: /ship, body: 'response.body'}")),
			at(shipStep+".callout.body", "unknown name response"), 0},
		{"response in a callout header", edits(replace("{system: erp, path: /ship}", "{system: erp, path: /ship, headers: {X-Id: 'response.status'}}")),
			at(shipStep+".callout.headers.X-Id", "unknown name response"), 0},
		{"response in an auto param", edits(replace("{action: noop}", "{action: set, params: {a: 'response.status'}}")),
			at(startStep+".auto.params.a", "unknown name response"), 0},
		{"line in a step when", edits(addStep("{name: X, type: MILESTONE, when: 'line.quantity > 1'}")),
			at(newStep+".when", "unknown name line"), 0},
		{"bad callout set expression", edits(replace("{system: erp, path: /ship}", "{system: erp, path: /ship, set: {ref: 'response.body.'}}")),
			at(shipStep+".callout.set.ref", "expression does not compile"), 0},
		{"bad callout path expression", edits(replace("{system: erp, path: /ship}", "{system: erp, path: '=nope + 1'}")),
			at(shipStep+".callout.path", "unknown name nope"), 0},
		{"callout path without slash", edits(replace("{system: erp, path: /ship}", "{system: erp, path: ship}")),
			at(shipStep+".callout.path", "must start with /"), 0},
		{"scenario when not boolean", edits(replace(`'hasProduct("BUNDLE")'`, `'"yes"'`)),
			at("scenarios[0].when", "expected bool"), 0},
		{"step when not boolean", edits(addStep("{name: X, type: MILESTONE, when: 'order.id + 1'}")),
			at(newStep+".when", "expected bool"), 0},
		{"decomposition when not boolean", edits(addDecomposition("{name: x, from: HW, to: T-SHIP, when: 'line.productCode'}")),
			at("decomposition[2].when", "expected bool"), 0},
		{"quantity not numeric", edits(addDecomposition("{name: x, from: HW, to: T-SHIP, quantity: 'line.productCode'}")),
			at("decomposition[2].quantity", "expected a number"), 0},
		{"quantity a string literal", edits(addDecomposition(`{name: x, from: HW, to: T-SHIP, quantity: '"two"'}`)),
			at("decomposition[2].quantity", "expected a number"), 0},
		{"bad generic items", edits(replace("items: 'context.invoices'", "items: 'context.invoices['")),
			at("scenarios[1].items", "expression does not compile"), 0},
		// Step expressions see what their scope and usage offer.
		{"item in a PLAN step", edits(addStep("{name: X, type: MILESTONE, when: 'item.quantity > 1'}")),
			at(newStep+".when", "unknown name item"), 0},
		{"context in a SALES step", edits(replace("{action: noop}", "{action: set, params: {a: 'context.x'}}")),
			at(startStep+".auto.params.a", "unknown name context"), 0},
		{"order in a GENERIC step", edits(addGenericStep("{name: X, type: MILESTONE, when: 'order.id > 0'}")),
			at(newGenStep+".when", "unknown name order"), 0},
		{"item set on a PLAN callout", edits(addStep("{name: X, type: CALLOUT, callout: {system: erp, path: /x, set: {item.ref: 'response.body'}}}")),
			at(newStep+".callout.set", "only ITEM steps have an item"), 0},
	})
}

func TestCatalogDurations(t *testing.T) {
	runCatalogCases(t, []catalogCase{
		{"system timeout", edits(replace("timeout: 5s}", "timeout: 5 seconds}")),
			at("systems.erp.timeout", "bad duration"), 0},
		{"system timeout without unit", edits(replace("timeout: 5s}", "timeout: 5}")),
			at("systems.erp.timeout", "bad duration"), 0},
		{"callout timeout", edits(replace("{system: erp, path: /ship}", "{system: erp, path: /ship, timeout: soon}")),
			at(shipStep+".callout.timeout", "bad duration"), 0},
		{"estimatedDuration", edits(addStep("{name: X, type: MILESTONE, estimatedDuration: 3 days}")),
			at(newStep+".estimatedDuration", "bad duration"), 0},
		{"negative estimatedDuration", edits(addStep("{name: X, type: MILESTONE, estimatedDuration: -1h}")),
			at(newStep+".estimatedDuration", "negative duration"), 0},
		{"jeopardyThreshold", edits(addStep("{name: X, type: MILESTONE, estimatedDuration: 1h, jeopardyThreshold: 10x}")),
			at(newStep+".jeopardyThreshold", "bad duration"), 0},
		{"pause for", edits(replace("pause: {until: paid, for: 7d}", "pause: {until: paid, for: a week}")),
			at(genericStep+"[2].pause.for", "bad duration"), 0},
		{"retry backoff", edits(replace("{system: erp, path: /ship}", "{system: erp, path: /ship}, retry: {max: 2, backoff: 10 s}")),
			at(shipStep+".retry.backoff", "bad duration"), 0},
		{"retry maxBackoff", edits(replace("{system: erp, path: /ship}", "{system: erp, path: /ship}, retry: {max: 2, policy: EXPONENTIAL, backoff: 1s, maxBackoff: lots}")),
			at(shipStep+".retry.maxBackoff", "bad duration"), 0},
		{"retry schedule entry", edits(replace("{system: erp, path: /ship}", "{system: erp, path: /ship}, retry: {max: 2, schedule: [10s, later, 1h]}")),
			at(shipStep+".retry.schedule[1]", "bad duration"), 0},
		{"system retry schedule entry", edits(replace("timeout: 5s}", "timeout: 5s, retry: {schedule: [1m, -5s]}}")),
			at("systems.erp.retry.schedule[1]", "negative duration"), 0},
		{"circuit coolDown", edits(replace("timeout: 5s}", "timeout: 5s, circuit: {failures: 3, coolDown: forever}}")),
			at("systems.erp.circuit.coolDown", "bad duration"), 0},
		{"negative days are not a duration", edits(addStep("{name: X, type: MILESTONE, estimatedDuration: -2d}")),
			at(newStep+".estimatedDuration", "negative duration"), 0},
		{"threshold longer than duration", edits(addStep("{name: X, type: MILESTONE, estimatedDuration: 1h, jeopardyThreshold: 2h}")),
			at(newStep+".jeopardyThreshold", "longer than the estimated duration"), 0},
	})
}

// One mistake should be one problem, and every problem should be true.
func TestCatalogNoSpuriousProblems(t *testing.T) {
	runCatalogCases(t, []catalogCase{
		// Once, not also as "longer than the estimated duration".
		{"threshold without duration is reported once", edits(addStep("{name: X, type: MILESTONE, jeopardyThreshold: 1h}")),
			at(newStep+".jeopardyThreshold", "needs an estimatedDuration"), 1},
		// The duplicate's components must not be added to the first HW
		// (which would report a bundle cycle that is not in the document).
		{"duplicate product with components reports no bundle cycle", edits(addProduct("{code: HW, components: [{product: BUNDLE}]}")),
			at("products[4].code", `duplicate product code "HW"`), 1},
	})
}

func TestCatalogDuplicateNames(t *testing.T) {
	runCatalogCases(t, []catalogCase{
		{"product", edits(addProduct("{code: HW, type: COMMERCIAL}")),
			at("products[4].code", `duplicate product code "HW"`), 0},
		{"enrichment rule", edits(addEnrichment(`{name: default-region, set: {b: '"x"'}}`)),
			at("enrichment[1].name", `duplicate enrichment rule name "default-region"`), 0},
		{"decomposition rule", edits(addDecomposition("{name: ship, from: HW, to: T-LIC}")),
			at("decomposition[2].name", `duplicate decomposition rule name "ship"`), 0},
		{"scenario", edits(addScenario("name: main\n    groups: [{name: G, steps: [{name: X, type: MILESTONE}]}]")),
			at("scenarios[2].name", `duplicate scenario name "main"`), 0},
		{"step in the same group", edits(addStep("{name: Done, type: MILESTONE}")),
			at(newStep+".name", `duplicate step name "Done"`), 0},
		{"step across scenarios", edits(addScenario("name: other\n    groups: [{name: G, steps: [{name: Ship, type: MILESTONE}]}]")),
			at("scenarios[2].groups[0].steps[0].name", `duplicate step name "Ship" (also at `+shipStep+")"), 0},
		{"step across SALES and GENERIC scenarios", edits(addGenericStep("{name: Start, type: MILESTONE}")),
			at(newGenStep+".name", `duplicate step name "Start"`), 0},
		{"group within a scenario", edits(replace("      - name: Core\n", "      - name: Core\n        steps: [{name: X, type: MILESTONE}]\n      - name: Core\n")),
			at("scenarios[0].groups[1].name", `duplicate group name "Core"`), 0},
		{"system", edits(replace("systems:\n", "systems:\n  erp: {url: \"http://a\"}\n")),
			at(lineOf(`  erp: {url: "http://127`), `"erp" already defined`), 0},
	})
	t.Run("same group name in two scenarios is fine", func(t *testing.T) {
		doc := buildCatalog(t, addScenario("name: other\n    groups: [{name: Core, steps: [{name: X, type: MILESTONE}]}]"))
		if problems := compileProblems(t, "same group name", doc); len(problems) > 0 {
			t.Errorf("CompileCatalog(same group name): problems = %v; want none", problems)
		}
	})
}

func TestCatalogNames(t *testing.T) {
	runCatalogCases(t, []catalogCase{
		{"step without name", edits(addStep("{type: MILESTONE}")),
			at(newStep+".name", "step needs a name"), 0},
		{"product without code", edits(addProduct("{name: Nameless}")),
			at("products[4].code", "product needs a name"), 0},
		{"scenario without name", edits(addScenario("groups: [{name: G, steps: [{name: X, type: MILESTONE}]}]")),
			at("scenarios[2].name", "scenario needs a name"), 0},
		{"rule without name", edits(addDecomposition("{from: HW, to: T-SHIP}")),
			at("decomposition[2].name", "needs a name"), 0},
		{"step name with trailing space", edits(addStep("{name: 'X ', type: MILESTONE}")),
			at(newStep+".name", "leading or trailing space"), 0},
		{"step name too long", edits(addStep("{name: " + strings.Repeat("x", 101) + ", type: MILESTONE}")),
			at(newStep+".name", "longer than 100 characters"), 0},
		{"scenario without groups", edits(addScenario("name: empty\n    when: 'true'")),
			at("scenarios[2].groups", "has no groups"), 0},
		{"group without steps", edits(addScenario("name: empty\n    groups: [{name: G}]")),
			at("scenarios[2].groups[0].steps", "has no steps"), 0},
		{"empty step", edits(addStep("")),
			at(newStep, "empty step"), 0},
		{"enrichment that sets nothing", edits(addEnrichment("{name: x, when: 'true'}")),
			at("enrichment[1].set", "sets nothing"), 0},
	})
}

func TestCatalogProductsAndScopes(t *testing.T) {
	runCatalogCases(t, []catalogCase{
		{"ITEM step without product", edits(addStep("{name: X, type: MILESTONE, scope: ITEM}")),
			at(newStep+".product", "ITEM step \"X\" needs a technical product"), 0},
		{"BUNDLE step without product", edits(addStep("{name: X, type: MILESTONE, scope: BUNDLE}")),
			at(newStep+".product", "BUNDLE step \"X\" needs a technical product"), 0},
		{"ITEM step with a COMMERCIAL product", edits(addStep("{name: X, type: MILESTONE, scope: ITEM, product: HW}")),
			at(newStep+".product", `product "HW" is COMMERCIAL`), 0},
		{"BUNDLE step with a COMMERCIAL product", edits(addStep("{name: X, type: MILESTONE, scope: BUNDLE, product: BUNDLE}")),
			at(newStep+".product", `product "BUNDLE" is COMMERCIAL`), 0},
		{"PLAN step with a product", edits(addStep("{name: X, type: MILESTONE, product: T-SHIP}")),
			at(newStep+".product", "product applies to ITEM and BUNDLE steps"), 0},
		{"GENERIC BUNDLE step", edits(addGenericStep("{name: X, type: MILESTONE, scope: BUNDLE}")),
			at(newGenStep+".scope", "GENERIC scenarios use PLAN or ITEM steps, not BUNDLE"), 0},
		{"GENERIC ACCOUNT step", edits(addGenericStep("{name: X, type: MILESTONE, scope: ACCOUNT}")),
			at(newGenStep+".scope", "GENERIC scenarios use PLAN or ITEM steps, not ACCOUNT"), 0},
		{"GENERIC BUNDLE dependency", edits(addGenericDep("{step: Wait, after: Charge, scope: BUNDLE}")),
			at(newGenDep+".scope", "GENERIC scenarios use PLAN or ITEM dependencies, not BUNDLE"), 0},
		{"ITEM dependency across products", edits(addDep("{step: Activate, after: Reserve, scope: ITEM}")),
			at(newDep+".scope", "run on different products"), 0},
		{"ITEM dependency on a PLAN step", edits(addDep("{step: Reserve, after: Start, scope: ITEM}")),
			at(newDep+".scope", "must both be ITEM steps"), 0},
		{"ITEM dependency of a PLAN step", edits(addDep("{step: Done, after: Reserve, scope: ITEM}")),
			at(newDep+".scope", "must both be ITEM steps"), 0},
		{"BUNDLE dependency with a PLAN step", edits(addDep("{step: Ship, after: Start, scope: BUNDLE}")),
			at(newDep+".scope", "Start is a PLAN step"), 0},
		{"BUNDLE dependency of a PLAN step", edits(addDep("{step: Done, after: Ship, scope: BUNDLE}")),
			at(newDep+".scope", "Done is a PLAN step"), 0},
		{"ACCOUNT dependency scope", edits(addDep("{step: Done, after: Ship, scope: ACCOUNT}")),
			at(newDep+".scope", "dependency scope ACCOUNT does not exist"), 0},
		{"SALES step after a GENERIC step", edits(addDep("{step: Done, after: Remind}")),
			at(newDep+".after", "SALES and GENERIC steps never share a plan"), 0},
		{"GENERIC step after a SALES step", edits(addGenericDep("{step: Remind, after: Start}")),
			at(newGenDep+".after", "SALES and GENERIC steps never share a plan"), 0},
		{"SALES scenario with type", edits(replace("  - name: main\n", "  - name: main\n    type: dunning\n")),
			at("scenarios[0].type", "GENERIC scenarios only"), 0},
		{"SALES scenario with items", edits(replace("  - name: main\n", "  - name: main\n    items: 'order.lines'\n")),
			at("scenarios[0].items", "items belong to GENERIC scenarios"), 0},
		{"TECHNICAL component", edits(replace("[{product: HW}]", "[{product: T-SHIP}]")),
			at("products[0].components[0].product", `component "T-SHIP" is TECHNICAL`), 0},
		{"TECHNICAL product with components", edits(addProduct("{code: T-KIT, type: TECHNICAL, components: [{product: HW}]}")),
			at("products[4].components[0]", `TECHNICAL product "T-KIT" cannot have components`), 0},
		{"negative component quantity", edits(replace("[{product: HW}]", "[{product: HW, quantity: -1}]")),
			at("products[0].components[0].quantity", "quantity must be 1 or more"), 0},
		{"decomposition from a TECHNICAL product", edits(addDecomposition("{name: x, from: T-LIC, to: T-SHIP}")),
			at("decomposition[2].from", `product "T-LIC" is TECHNICAL`), 0},
		{"decomposition to a COMMERCIAL product", edits(addDecomposition("{name: x, from: HW, to: BUNDLE}")),
			at("decomposition[2].to", `product "BUNDLE" is COMMERCIAL`), 0},
		{"ORDER enrichment with a product", edits(addEnrichment("{name: x, product: HW, set: {a: '1'}}")),
			at("enrichment[1].product", "LINE-scoped enrichment only"), 0},
	})
}

func TestCatalogUnknownEnumValues(t *testing.T) {
	runCatalogCases(t, []catalogCase{
		{"step type", edits(addStep("{name: X, type: WEBHOOK}")),
			at(newStep+".type", `unknown step type "WEBHOOK"`), 0},
		{"missing step type", edits(addStep("{name: X}")),
			at(newStep+".type", `unknown step type ""`), 0},
		{"step scope", edits(addStep("{name: X, type: MILESTONE, scope: ORDER}")),
			at(newStep+".scope", `unknown step scope "ORDER"`), 0},
		{"dependency scope", edits(addDep("{step: Done, after: Start, scope: LINE}")),
			at(newDep+".scope", `unknown dependency scope "LINE"`), 0},
		{"usage", edits(addScenario("name: x\n    usage: SERVICE\n    groups: [{name: G, steps: [{name: X, type: MILESTONE}]}]")),
			at("scenarios[2].usage", `unknown usage "SERVICE"`), 0},
		{"product type", edits(addProduct("{code: X, type: SERVICE}")),
			at("products[4].type", `unknown product type "SERVICE"`), 0},
		{"decomposition scope", edits(addDecomposition("{name: x, from: HW, to: T-SHIP, scope: ORDER}")),
			at("decomposition[2].scope", `unknown decomposition scope "ORDER"`), 0},
		{"enrichment scope", edits(addEnrichment("{name: x, scope: ITEM, set: {a: '1'}}")),
			at("enrichment[1].scope", `unknown enrichment scope "ITEM"`), 0},
		{"retry policy", edits(replace("{system: erp, path: /ship}", "{system: erp, path: /ship}, retry: {max: 2, policy: LINEAR, backoff: 1s}")),
			at(shipStep+".retry.policy", `unknown retry policy "LINEAR"`), 0},
		{"method", edits(replace("{system: erp, path: /ship}", "{system: erp, path: /ship, method: FETCH}")),
			at(shipStep+".callout.method", `unsupported method "FETCH"`), 0},
	})
}

func TestCatalogStepBlocks(t *testing.T) {
	runCatalogCases(t, []catalogCase{
		{"callout without callout block", edits(addStep("{name: X, type: CALLOUT}")),
			at(newStep+".callout", "a CALLOUT step needs a callout block"), 0},
		{"auto task without auto block", edits(addStep("{name: X, type: AUTO_TASK}")),
			at(newStep+".auto", "needs an auto block"), 0},
		{"manual task without task block", edits(addStep("{name: X, type: MANUAL_TASK}")),
			at(newStep+".task", "needs a task block"), 0},
		{"manual task without queue", edits(addStep("{name: X, type: MANUAL_TASK, task: {instructions: do it}}")),
			at(newStep+".task.queue", "manual task needs a queue"), 0},
		{"pause without pause block", edits(addStep("{name: X, type: PAUSE}")),
			at(newStep+".pause", "needs a pause block"), 0},
		{"pause with neither until nor for", edits(addStep("{name: X, type: PAUSE, pause: {}}")),
			at(newStep+".pause", "a pause needs `until` (a signal) or `for` (a duration)"), 0},
		{"milestone with an auto block", edits(addStep("{name: X, type: MILESTONE, auto: {action: noop}}")),
			at(newStep+".auto", "a MILESTONE step takes no auto block"), 0},
		{"callout with a task block instead", edits(addStep("{name: X, type: CALLOUT, task: {queue: q}}")),
			[]catalogProblem{
				{newStep + ".task", "a CALLOUT step takes no task block"},
				{newStep + ".callout", "a CALLOUT step needs a callout block"},
			}, 0},
		{"manual task with a callout block too", edits(addStep("{name: X, type: MANUAL_TASK, task: {queue: q}, callout: {system: erp}}")),
			at(newStep+".callout", "a MANUAL_TASK step takes no callout block"), 0},
		{"callout set key with two dots", edits(replace("{system: erp, path: /ship}", "{system: erp, path: /ship, set: {order.a.b: 'response.status'}}")),
			at(shipStep+".callout.set", `set key "a.b"`), 0},
		{"callout set key order. without attribute", edits(replace("{system: erp, path: /ship}", "{system: erp, path: /ship, set: {order.: 'response.status'}}")),
			at(shipStep+".callout.set", "use attr, order.attr or item.attr"), 0},
	})
}

func TestCatalogRetryRules(t *testing.T) {
	runCatalogCases(t, []catalogCase{
		{"retry on a MANUAL_TASK", edits(replace("task: {queue: collections}}", "task: {queue: collections}, retry: {max: 2, backoff: 1s}}")),
			at(genericStep+"[0].retry", "only CALLOUT and AUTO_TASK steps retry"), 0},
		{"retry on a MILESTONE", edits(addStep("{name: X, type: MILESTONE, retry: {max: 1, backoff: 1s}}")),
			at(newStep+".retry", "only CALLOUT and AUTO_TASK steps retry"), 0},
		{"negative retry max", edits(replace("{system: erp, path: /ship}", "{system: erp, path: /ship}, retry: {max: -1, backoff: 1s}")),
			at(shipStep+".retry.max", "max must be 0"), 0},
		{"negative system retry max", edits(replace("timeout: 5s}", "timeout: 5s, retry: {max: -2, backoff: 1s}}")),
			at("systems.erp.retry.max", "max must be 0"), 0},
		{"SCHEDULE without schedule", edits(replace("{system: erp, path: /ship}", "{system: erp, path: /ship}, retry: {max: 2, policy: SCHEDULE}")),
			at(shipStep+".retry.schedule", "a SCHEDULE policy needs a schedule"), 0},
		{"FIXED without backoff", edits(replace("{system: erp, path: /ship}", "{system: erp, path: /ship}, retry: {max: 2, policy: FIXED}")),
			at(shipStep+".retry.backoff", "a FIXED policy needs a backoff duration"), 0},
		{"EXPONENTIAL with backoff 0s", edits(replace("{system: erp, path: /ship}", "{system: erp, path: /ship}, retry: {max: 2, policy: EXPONENTIAL, backoff: 0s}")),
			at(shipStep+".retry.backoff", "EXPONENTIAL policy needs a backoff duration"), 0},
	})
}

func TestCatalogSystemsAndVersion(t *testing.T) {
	runCatalogCases(t, []catalogCase{
		{"url with another scheme", edits(replace(`url: "http://127.0.0.1:9/erp"`, `url: "ftp://erp"`)),
			at("systems.erp.url", "must start with http:// or https://"), 0},
		{"url without scheme", edits(replace(`url: "http://127.0.0.1:9/erp"`, `url: "erp.example.com"`)),
			at("systems.erp.url", "must start with http:// or https://"), 0},
		{"system without url", edits(replace(`url: "http://127.0.0.1:9/erp", `, "")),
			at("systems.erp.url", `system "erp" needs a url`), 0},
		{"empty system", edits(replace("systems:\n", "systems:\n  crm:\n")),
			at("systems.crm", `system "crm" is empty`), 0},
		{"negative releaseRate", edits(replace("timeout: 5s}", "timeout: 5s, releaseRate: -1}")),
			at("systems.erp.releaseRate", "releaseRate must be 0"), 0},
		{"negative circuit failures", edits(replace("timeout: 5s}", "timeout: 5s, circuit: {failures: -1}}")),
			at("systems.erp.circuit.failures", "failures must be 0"), 0},
		{"unsupported version", edits(replace("version: 1\n", "version: 2\n")),
			at("version", "unsupported catalog format version 2"), 0},
		{"missing version", edits(replace("version: 1\n", "")),
			at("version", "unsupported catalog format version 0"), 0},
	})
}

func TestCatalogYAMLErrors(t *testing.T) {
	runCatalogCases(t, []catalogCase{
		{"unknown key", edits(addStep("{name: X, type: MILESTONE, colour: red}")),
			at(lineOf("colour: red"), "field colour not found"), 0},
		{"unknown top-level key", edits(replace("version: 1\n", "version: 1\nworkflows: []\n")),
			at(lineOf("workflows"), "field workflows not found"), 0},
		{"two unknown keys", edits(addStep("{name: X, type: MILESTONE, colour: red}"), addDep("{step: Done, after: Start, weight: 2}")),
			[]catalogProblem{{lineOf("colour: red"), "field colour not found"}, {lineOf("weight: 2"), "field weight not found"}}, 0},
		{"products is a mapping", edits(replace("products:\n", "products: {HW: 1}\nproducts2:\n")),
			at(lineOf("products: {HW"), "cannot unmarshal"), 2},
		{"version is not a number", edits(replace("version: 1\n", "version: one\n")),
			at("line 1", "cannot unmarshal"), 0},
		{"after is a list of mappings", edits(addDep("{step: Done, after: [{a: b}]}")),
			at(lineOf("after: [{a: b}]"), "expected a step name"), 0},
		// A value of the wrong kind for a duration or `after` is reported
		// with its line, beside the document's other problems.
		{"after is a mapping: reported with its line", edits(addDep("{step: Done, after: {a: b}}")),
			at(lineOf("after: {a: b}"), "expected a step name or a list of step names"), 0},
		{"timeout is a list: reported with its line", edits(replace("timeout: 5s}", "timeout: [5s]}")),
			at(lineOf("timeout: [5s]"), "a duration must be a string"), 0},
		{"timeout is a list: hides no other problem", edits(replace("timeout: 5s}", "timeout: [5s]}"), addStep("{name: X, type: MILESTONE, colour: red}")),
			[]catalogProblem{{lineOf("timeout: [5s]"), "a duration must be a string"}, {lineOf("colour: red"), "field colour not found"}}, 0},
		{"empty document", edits(wholeDocument("")),
			at("", "the document is empty"), 0},
		{"blank document", edits(wholeDocument("  \n\t\n")),
			at("", "the document is empty"), 0},
		{"invalid YAML", edits(wholeDocument("version: [1\nsystems: {")),
			at("", "not a YAML or JSON document"), 0},
		{"a YAML string", edits(wholeDocument("just some text")),
			at("line 1", "cannot unmarshal"), 0},
	})
}

// --- 3. every problem, not just the first ---

func TestCatalogReportsEveryProblem(t *testing.T) {
	doc := buildCatalog(t,
		replace(`url: "http://127.0.0.1:9/erp"`, `url: "ftp://erp"`),
		replace("[{product: HW}]", "[{product: NOPE}]"),
		addDecomposition("{name: ship, from: HW, to: T-SHIP}"),
		replace("{system: erp, path: /ship}", "{system: crm, path: /ship}"),
		replace("{action: noop}", "{action: launch}"),
		addStep("{name: X, type: MILESTONE, estimatedDuration: soon}"),
		addDep("{step: Nope, after: Start}"),
		addDep("{step: Start, after: Done}"),
		replace(`'hasProduct("BUNDLE")'`, `'item.key == "x"'`),
	)
	want := []catalogProblem{
		{"systems.erp.url", "must start with http://"},
		{"products[0].components[0].product", `unknown product "NOPE"`},
		{"decomposition[2].name", "duplicate decomposition rule name"},
		{shipStep + ".callout.system", `unknown system "crm"`},
		{startStep + ".auto.action", `unknown action "launch"`},
		{newStep + ".estimatedDuration", "bad duration"},
		{"scenarios[0].dependencies[4].step", `unknown step "Nope"`},
		{"dependencies", "dependency cycle"},
		{"scenarios[0].when", "unknown name item"},
	}
	problems := compileProblems(t, "nine problems", doc)
	checkProblems(t, "nine problems", doc, problems, want, 9)
	// The error message names the first problems and counts the rest.
	_, err := CompileCatalog(doc, CatalogOptions{Actions: catalogTestActions})
	if msg := err.Error(); !strings.Contains(msg, "invalid catalog") || !strings.Contains(msg, "and 4 more") {
		t.Errorf("CompileCatalog(nine problems): error %q; want the first five problems and \"and 4 more\"", msg)
	}
}

// --- 4. compiled results ---

func TestCatalogRetryResolution(t *testing.T) {
	def := DefaultCalloutRetry
	cases := []struct {
		name  string
		edits []catalogEdit
		step  string
		want  RetryPolicy
	}{
		{"no retry anywhere: the default", nil, "Ship", def},
		{"auto task without retry: the default", nil, "Start", def},
		{"system retry is the default for its callouts",
			edits(replace("timeout: 5s}", "timeout: 5s, retry: {max: 5, backoff: 3s}}")),
			"Ship", RetryPolicy{Max: 5, Policy: RetryFixed, Backoff: 3 * time.Second}},
		{"system retry with an explicit policy",
			edits(replace("timeout: 5s}", "timeout: 5s, retry: {max: 4, policy: exponential, backoff: 1s, maxBackoff: 1m}}")),
			"Reserve", RetryPolicy{Max: 4, Policy: RetryExponential, Backoff: time.Second, MaxBackoff: time.Minute}},
		{"step retry overrides the system's",
			edits(
				replace("timeout: 5s}", "timeout: 5s, retry: {max: 5, backoff: 3s}}"),
				replace("{system: erp, path: /ship}", "{system: erp, path: /ship}, retry: {max: 1, backoff: 1m}")),
			"Ship", RetryPolicy{Max: 1, Policy: RetryFixed, Backoff: time.Minute}},
		{"step retry overrides only its own step",
			edits(
				replace("timeout: 5s}", "timeout: 5s, retry: {max: 5, backoff: 3s}}"),
				replace("{system: erp, path: /ship}", "{system: erp, path: /ship}, retry: {max: 1, backoff: 1m}")),
			"Reserve", RetryPolicy{Max: 5, Policy: RetryFixed, Backoff: 3 * time.Second}},
		{"schedule → SCHEDULE",
			edits(replace("{system: erp, path: /ship}", "{system: erp, path: /ship}, retry: {max: 2, schedule: [10s, 1m]}")),
			"Ship", RetryPolicy{Max: 2, Policy: RetrySchedule, Schedule: []time.Duration{10 * time.Second, time.Minute}}},
		{"backoff → FIXED",
			edits(replace("{system: erp, path: /ship}", "{system: erp, path: /ship}, retry: {max: 2, backoff: 10s}")),
			"Ship", RetryPolicy{Max: 2, Policy: RetryFixed, Backoff: 10 * time.Second}},
		{"backoff 0s → IMMEDIATE",
			edits(replace("{system: erp, path: /ship}", "{system: erp, path: /ship}, retry: {max: 2, backoff: 0s}")),
			"Ship", RetryPolicy{Max: 2, Policy: RetryImmediate}},
		{"schedule wins over backoff when both are written",
			edits(replace("{system: erp, path: /ship}", "{system: erp, path: /ship}, retry: {max: 2, backoff: 5s, schedule: [1m]}")),
			"Ship", RetryPolicy{Max: 2, Policy: RetrySchedule, Backoff: 5 * time.Second, Schedule: []time.Duration{time.Minute}}},
		{"EXPONENTIAL without maxBackoff caps at 5m",
			edits(replace("{system: erp, path: /ship}", "{system: erp, path: /ship}, retry: {policy: EXPONENTIAL, backoff: 1s}")),
			"Ship", RetryPolicy{Max: 3, Policy: RetryExponential, Backoff: time.Second, MaxBackoff: 5 * time.Minute}},
		{"step schedule replaces a system schedule policy with FIXED backoff",
			edits(
				replace("timeout: 5s}", "timeout: 5s, retry: {max: 5, schedule: [1s, 2s]}}"),
				replace("{system: erp, path: /ship}", "{system: erp, path: /ship}, retry: {backoff: 9s}")),
			"Ship", RetryPolicy{Max: 5, Policy: RetryFixed, Backoff: 9 * time.Second}},
		{"auto task retry",
			edits(replace("{action: noop}}", "{action: noop}, retry: {max: 0, backoff: 0s}}")),
			"Start", RetryPolicy{Max: 0, Policy: RetryImmediate}},
		// A retry block that only changes max (or maxBackoff) keeps the
		// policy and backoff it inherits.
		{"step retry with only max inherits the system's backoff",
			edits(
				replace("timeout: 5s}", "timeout: 5s, retry: {max: 2, policy: FIXED, backoff: 10s}}"),
				replace("{system: erp, path: /ship}", "{system: erp, path: /ship}, retry: {max: 5}")),
			"Ship", RetryPolicy{Max: 5, Policy: RetryFixed, Backoff: 10 * time.Second}},
		{"system retry with only max keeps the default backoff",
			edits(replace("timeout: 5s}", "timeout: 5s, retry: {max: 6}}")),
			"Ship", RetryPolicy{Max: 6, Policy: RetryExponential, Backoff: 2 * time.Second, MaxBackoff: 5 * time.Minute}},
		{"step retry with only maxBackoff keeps the default backoff",
			edits(replace("{system: erp, path: /ship}", "{system: erp, path: /ship}, retry: {maxBackoff: 1m}")),
			"Ship", RetryPolicy{Max: 3, Policy: RetryExponential, Backoff: 2 * time.Second, MaxBackoff: time.Minute}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			doc := buildCatalog(t, tc.edits...)
			if problems := compileProblems(t, tc.name, doc); len(problems) > 0 {
				t.Fatalf("CompileCatalog(%s): problems = %v; want none", tc.name, problems)
			}
			cat := mustCompile(t, doc, CatalogOptions{})
			got := cat.Step(tc.step).Retry
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("CompileCatalog(%s): %s retry = %+v; want %+v", tc.name, tc.step, got, tc.want)
			}
		})
	}
}

func TestCatalogEnvExpansion(t *testing.T) {
	system := replace(`erp: {url: "http://127.0.0.1:9/erp", timeout: 5s}`,
		`erp: {url: "${ERP_URL:-http://fallback:8080}/erp/", timeout: 5s, headers: {Authorization: "Bearer ${ERP_TOKEN}", X-Region: "${REGION:-eu}", X-Literal: "$HOME and ${not-a-var}"}}`)
	cases := []struct {
		name    string
		env     map[string]string
		url     string
		headers map[string]string
	}{
		{"variables set", map[string]string{"ERP_URL": "https://erp.example", "ERP_TOKEN": "s3cret", "REGION": "us"},
			"https://erp.example/erp", map[string]string{"Authorization": "Bearer s3cret", "X-Region": "us", "X-Literal": "$HOME and ${not-a-var}"}},
		{"variables unset: defaults", map[string]string{},
			"http://fallback:8080/erp", map[string]string{"Authorization": "Bearer ", "X-Region": "eu", "X-Literal": "$HOME and ${not-a-var}"}},
		{"empty variable: default", map[string]string{"ERP_URL": "", "REGION": ""},
			"http://fallback:8080/erp", map[string]string{"Authorization": "Bearer ", "X-Region": "eu", "X-Literal": "$HOME and ${not-a-var}"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			doc := buildCatalog(t, system)
			cat := mustCompile(t, doc, CatalogOptions{Getenv: func(k string) string { return tc.env[k] }})
			erp := cat.Systems["erp"]
			if erp.URL != tc.url {
				t.Errorf("CompileCatalog(%s): url %q; want %q", tc.name, erp.URL, tc.url)
			}
			if !reflect.DeepEqual(erp.Headers, tc.headers) {
				t.Errorf("CompileCatalog(%s): headers %q; want %q", tc.name, erp.Headers, tc.headers)
			}
			if got := cat.Step("Ship").Callout.System; got != erp {
				t.Errorf("CompileCatalog(%s): Ship calls %v; want the erp system", tc.name, got)
			}
		})
	}
	t.Run("url variable unset without default", func(t *testing.T) {
		doc := buildCatalog(t, replace(`url: "http://127.0.0.1:9/erp"`, `url: "${ERP_URL}"`))
		problems := compileProblems(t, "unset url", doc)
		checkProblems(t, "unset url", doc, problems, at("systems.erp.url", "must start with http://"), 0)
	})
	t.Run("nil Getenv reads the environment", func(t *testing.T) {
		t.Setenv("BATON_CATALOG_TEST_URL", "https://from-env.example")
		doc := buildCatalog(t, replace(`url: "http://127.0.0.1:9/erp"`, `url: "${BATON_CATALOG_TEST_URL}"`))
		cat, err := CompileCatalog(doc, CatalogOptions{Actions: catalogTestActions})
		if err != nil {
			t.Fatalf("CompileCatalog: %v", err)
		}
		if got := cat.Systems["erp"].URL; got != "https://from-env.example" {
			t.Errorf("url %q; want %q", got, "https://from-env.example")
		}
	})
}

func TestCatalogCompiledValues(t *testing.T) {
	doc := buildCatalog(t,
		replace("timeout: 5s}", "timeout: 90s, circuit: {failures: 3}}"),
		replace("{name: Done, type: MILESTONE}", "{name: Done, type: milestone, estimatedDuration: 2d, jeopardyThreshold: 1d12h}"),
		replace("{system: erp, path: /ship}", "{system: erp, path: /ship, method: put, timeout: 1m, set: {order.shipRef: 'response.body.ref', item.tracking: 'response.body.tracking', status: 'response.status'}}"),
		replace("{step: Done, after: Ship}", "{step: Done, after: [Ship, Start]}"),
		addStep("{name: Cool, type: PAUSE, pause: {for: 90s}}"),
	)
	cat := mustCompile(t, doc, CatalogOptions{})
	durations := []struct {
		what string
		got  time.Duration
		want time.Duration
	}{
		{"system timeout 90s", cat.Systems["erp"].Timeout, 90 * time.Second},
		{"callout timeout 1m overrides the system's", cat.Step("Ship").Callout.Timeout, time.Minute},
		{"callout timeout defaults to the system's", cat.Step("Reserve").Callout.Timeout, 90 * time.Second},
		{"estimatedDuration 2d", cat.Step("Done").EstimatedDuration, 48 * time.Hour},
		{"jeopardyThreshold 1d12h", cat.Step("Done").JeopardyThreshold, 36 * time.Hour},
		{"pause for 90s", cat.Step("Cool").Pause.For, 90 * time.Second},
		{"circuit coolDown default", cat.Systems["erp"].CircuitCoolDown, 30 * time.Second},
		{"generic pause for 7d", cat.Step("Wait").Pause.For, 7 * 24 * time.Hour},
	}
	for _, d := range durations {
		if d.got != d.want {
			t.Errorf("%s: got %v; want %v", d.what, d.got, d.want)
		}
	}

	t.Run("defaults", func(t *testing.T) {
		checks := []struct {
			what      string
			got, want any
		}{
			{"Start scope (none written)", cat.Step("Start").Scope, engine.ScopePlan},
			{"Reserve method (none written)", cat.Step("Reserve").Callout.Method, "POST"},
			{"Ship method (put)", cat.Step("Ship").Callout.Method, "PUT"},
			{"Done type (milestone)", cat.Step("Done").Type, engine.Milestone},
			{"main usage (none written)", cat.Scenarios[0].Usage, engine.UsageSales},
			{"dependency scope (none written)", cat.Scenarios[0].Dependencies[0].Scope, engine.ScopePlan},
			{"ship rule scope (none written)", cat.Rules[0].Scope, engine.DecomposeLine},
			{"component quantity (none written)", cat.Products["BUNDLE"].Components, []Component{{Product: "HW", Quantity: 1}}},
			{"system names", cat.SystemNames(), []string{"erp"}},
			{"step of a group", cat.Step("Ship").Group.Name, "Core"},
			{"scenario of a step", cat.Step("Wait").Scenario.Name, "dunning"},
			{"circuit failures", cat.Systems["erp"].CircuitFailures, 3},
		}
		for _, c := range checks {
			if !reflect.DeepEqual(c.got, c.want) {
				t.Errorf("%s: got %v; want %v", c.what, c.got, c.want)
			}
		}
		// A system without a timeout gets 10s.
		cat2 := mustCompile(t, buildCatalog(t, replace(", timeout: 5s}", "}")), CatalogOptions{})
		if got := cat2.Systems["erp"].Timeout; got != 10*time.Second {
			t.Errorf("system without timeout: got %v; want 10s", got)
		}
	})

	t.Run("after as a string or a list", func(t *testing.T) {
		names := func(d *DependencyDef) []string {
			var out []string
			for _, s := range d.After {
				out = append(out, s.Name)
			}
			return out
		}
		deps := cat.Scenarios[0].Dependencies
		cases := []struct {
			dep       int
			step      string
			after     []string
			wantScope engine.Scope
		}{
			{0, "Reserve", []string{"Start"}, engine.ScopePlan},
			{1, "Ship", []string{"Reserve"}, engine.ScopeItem},
			{2, "Ship", []string{"Activate"}, engine.ScopeBundle},
			{3, "Done", []string{"Ship", "Start"}, engine.ScopePlan},
		}
		if len(deps) != len(cases) {
			t.Fatalf("%d dependencies; want %d", len(deps), len(cases))
		}
		for _, c := range cases {
			d := deps[c.dep]
			if d.Step.Name != c.step || !slices.Equal(names(d), c.after) || d.Scope != c.wantScope {
				t.Errorf("dependencies[%d] = %s after %v (%s); want %s after %v (%s)", c.dep, d.Step.Name, names(d), d.Scope, c.step, c.after, c.wantScope)
			}
		}
	})

	t.Run("callout set targets", func(t *testing.T) {
		want := map[string]string{"shipRef": "order", "tracking": "item", "status": ""}
		got := map[string]string{}
		for _, a := range cat.Step("Ship").Callout.Set {
			got[a.Name] = a.Target
			if !a.Expr.Present() {
				t.Errorf("set %s: expression not compiled", a.Name)
			}
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("Ship callout set targets = %v; want %v", got, want)
		}
	})
}
