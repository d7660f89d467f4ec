package plan

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"golang.org/x/tools/txtar"

	"github.com/batonhq/baton/engine"
	"github.com/batonhq/baton/engine/catalog"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// The planning golden files are txtar archives in testdata/planning:
//
//	-- catalog.yaml --   (optional; defaults to testdata/planning/catalog.yaml)
//	-- order.json --     an OrderInput, or
//	-- generic.json --   {"type", "subjectId", "context"} for startOrchestration
//	-- account.json --   (optional) an AccountState: existing items and steps
//	-- want --           the rendered decomposition and plan
//
// Run `go test ./engine -run TestPlanningGolden -update` after a deliberate
// change and review the diff.
func TestPlanningGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/planning/*.txtar")
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden files: %v", err)
	}
	defaultCatalog, err := os.ReadFile("testdata/planning/catalog.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".txtar"), func(t *testing.T) {
			ar, err := txtar.ParseFile(file)
			if err != nil {
				t.Fatal(err)
			}
			sections := map[string][]byte{}
			for _, f := range ar.Files {
				sections[f.Name] = f.Data
			}
			catText := defaultCatalog
			if c, ok := sections["catalog.yaml"]; ok {
				catText = c
			}
			cat, err := catalog.CompileCatalog(string(catText), catalog.CatalogOptions{Actions: []string{"set", "noop"}})
			if err != nil {
				t.Fatalf("catalog: %v", err)
			}
			got := renderPlanning(t, cat, sections)
			if *update {
				for i, f := range ar.Files {
					if f.Name == "want" {
						ar.Files[i].Data = []byte(got)
					}
				}
				if _, ok := sections["want"]; !ok {
					ar.Files = append(ar.Files, txtar.File{Name: "want", Data: []byte(got)})
				}
				if err := os.WriteFile(file, txtar.Format(ar), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			if want := string(sections["want"]); got != want {
				t.Errorf("planning %s differs from the golden file (run with -update to accept):\n%s", file, lineDiff(want, got))
			}
		})
	}
}

var goldenNow = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func renderPlanning(t *testing.T, cat *catalog.Catalog, sections map[string][]byte) string {
	t.Helper()
	var acct engine.AccountState
	if a, ok := sections["account.json"]; ok {
		if err := json.Unmarshal(a, &acct); err != nil {
			t.Fatalf("account.json: %v", err)
		}
	}
	var out strings.Builder
	if g, ok := sections["generic.json"]; ok {
		var in struct {
			Type      string         `json:"type"`
			SubjectID string         `json:"subjectId"`
			Context   map[string]any `json:"context"`
		}
		if err := json.Unmarshal(g, &in); err != nil {
			t.Fatalf("generic.json: %v", err)
		}
		plan, err := BuildPlan(cat, &PlanInput{Usage: engine.UsageGeneric, Type: in.Type, SubjectID: in.SubjectID, Context: in.Context, Now: goldenNow})
		if err != nil {
			return renderError(err)
		}
		renderItems(&out, plan.Items)
		renderPlan(&out, plan)
		return out.String()
	}
	var in engine.OrderInput
	if err := json.Unmarshal(sections["order.json"], &in); err != nil {
		t.Fatalf("order.json: %v", err)
	}
	for i := range in.Lines {
		if in.Lines[i].Quantity == 0 {
			in.Lines[i].Quantity = 1
		}
	}
	if err := ValidateOrder(cat, &in); err != nil {
		return renderError(err)
	}
	acct.ID = in.AccountID
	d, err := Decompose(cat, &in, &acct, goldenNow)
	if err != nil {
		return renderError(err)
	}
	fmt.Fprintf(&out, "attributes: %s\n", jsonText(d.Attributes))
	out.WriteString("lines:\n")
	for _, l := range d.Lines {
		fmt.Fprintf(&out, "  %s %s x%d %s", l.ID, l.ProductCode, l.Quantity, l.Status)
		if l.Bundle != "" {
			fmt.Fprintf(&out, " bundle=%s", l.Bundle)
		}
		if l.Generated {
			out.WriteString(" generated")
		}
		if len(l.Missing) > 0 {
			fmt.Fprintf(&out, " missing=%v", l.Missing)
		}
		if len(l.Attributes) > 0 {
			fmt.Fprintf(&out, " attrs=%s", jsonText(l.Attributes))
		}
		out.WriteString("\n")
	}
	renderItems(&out, d.Items)
	plan, err := BuildPlan(cat, &PlanInput{
		Usage: engine.UsageSales, Order: &engine.OrderView{ExternalID: in.ExternalID, AccountID: in.AccountID, Attributes: d.Attributes, Lines: linesOf(d)},
		Account: &engine.AccountView{ID: in.AccountID, Attributes: map[string]any{}}, Lines: d.Lines, Items: d.Items,
		AccountSteps: acct.Steps, Now: goldenNow,
	})
	if err != nil {
		return out.String() + renderError(err)
	}
	renderPlan(&out, plan)
	return out.String()
}

func renderError(err error) string {
	e, ok := err.(*engine.Error)
	if !ok {
		return fmt.Sprintf("error: %v\n", err)
	}
	s := fmt.Sprintf("error: %s %s\n", e.Code, e.Message)
	for _, p := range e.Problems {
		s += "  " + p.String() + "\n"
	}
	return s
}

func linesOf(d *Decomposition) []*engine.LineView {
	var out []*engine.LineView
	for _, l := range d.Lines {
		out = append(out, LineViewOf(l))
	}
	return out
}

func renderItems(out *strings.Builder, items []*engine.Item) {
	out.WriteString("items:\n")
	for _, it := range items {
		fmt.Fprintf(out, "  %s %s x%d %s", it.Key, it.ProductCode, it.Quantity, it.Scope)
		if it.BundleKey != "" {
			fmt.Fprintf(out, " bundle=%s", it.BundleKey)
		}
		if len(it.Sources) > 0 {
			fmt.Fprintf(out, " sources=%v", it.Sources)
		}
		if it.Existing != nil {
			fmt.Fprintf(out, " existing=%d", it.Existing.ID)
		}
		fmt.Fprintf(out, " attrs=%s\n", jsonText(it.Attributes))
	}
}

func renderPlan(out *strings.Builder, plan *PlanGraph) {
	fmt.Fprintf(out, "scenarios: %v\n", plan.Scenarios)
	out.WriteString("steps:\n")
	for _, s := range plan.Steps {
		fmt.Fprintf(out, "  [%s] %s %s %s", s.Group.Name, s.Key, s.Def.Type, s.Status)
		if s.Pending > 0 {
			fmt.Fprintf(out, " pending=%d", s.Pending)
		}
		if s.Existing != nil {
			fmt.Fprintf(out, " existing=%d", s.Existing.ID)
		}
		if len(s.WaitingFor) > 0 {
			fmt.Fprintf(out, " waiting=%v", s.WaitingFor)
		}
		out.WriteString("\n")
	}
	out.WriteString("deps:\n")
	var deps []string
	for _, d := range plan.Deps {
		deps = append(deps, fmt.Sprintf("  %s <- %s (%s)", d.Step.Key, d.Prereq.Key, d.Scope))
	}
	sort.Strings(deps)
	for _, d := range deps {
		out.WriteString(d + "\n")
	}
}

func jsonText(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// lineDiff shows the lines that differ, marked - (want) and + (got).
func lineDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	var out strings.Builder
	for i := 0; i < max(len(w), len(g)); i++ {
		var a, b string
		if i < len(w) {
			a = w[i]
		}
		if i < len(g) {
			b = g[i]
		}
		if a != b {
			fmt.Fprintf(&out, "line %d:\n- %s\n+ %s\n", i+1, a, b)
		}
	}
	return out.String()
}

// TestWaitsAcrossEnrichment plans the staggered_waits order, supplies the
// serial of the bundle's ROUTER the way enrichOrder does (Redecompose, then
// BuildPlan extending the plan) and checks what the steps wait for before
// and after: the existing steps lose the line they waited for (the delta
// enrichOrder applies), take the new Register instance as a prerequisite
// instead, and the new steps wait for what is still AWAITING_DATA.
func TestWaitsAcrossEnrichment(t *testing.T) {
	ar, err := txtar.ParseFile("testdata/planning/staggered_waits.txtar")
	if err != nil {
		t.Fatal(err)
	}
	var catText, orderText []byte
	for _, f := range ar.Files {
		switch f.Name {
		case "catalog.yaml":
			catText = f.Data
		case "order.json":
			orderText = f.Data
		}
	}
	cat, err := catalog.CompileCatalog(string(catText), catalog.CatalogOptions{Actions: []string{"noop"}})
	if err != nil {
		t.Fatal(err)
	}
	var in engine.OrderInput
	if err := json.Unmarshal(orderText, &in); err != nil {
		t.Fatal(err)
	}
	for i := range in.Lines {
		in.Lines[i].Quantity = 1
	}
	acct := &engine.AccountState{ID: in.AccountID}
	d, err := Decompose(cat, &in, acct, goldenNow)
	if err != nil {
		t.Fatal(err)
	}
	build := func(items []*engine.Item, existing map[string]*engine.ExistingStep) *PlanGraph {
		t.Helper()
		g, err := BuildPlan(cat, &PlanInput{Usage: engine.UsageSales,
			Order:   &engine.OrderView{ExternalID: in.ExternalID, AccountID: in.AccountID, Attributes: d.Attributes, Lines: linesOf(d)},
			Account: &engine.AccountView{ID: in.AccountID, Attributes: map[string]any{}}, Lines: d.Lines, Items: items,
			Existing: existing, Now: goldenNow})
		if err != nil {
			t.Fatal(err)
		}
		return g
	}
	first := build(d.Items, nil)
	existing := map[string]*engine.ExistingStep{}
	done := map[string]bool{}
	for i, s := range first.Steps {
		existing[s.Key] = &engine.ExistingStep{ID: i + 1, Name: s.Def.Name, Status: s.Status}
	}
	for _, it := range d.Items {
		done[it.Key] = true
	}
	snapshot := func() []*engine.DecomposedLine {
		var out []*engine.DecomposedLine
		for _, l := range d.Lines {
			c := *l
			out = append(out, &c)
		}
		return out
	}
	line := func(id string) *engine.DecomposedLine {
		for _, l := range d.Lines {
			if l.ID == id {
				return l
			}
		}
		t.Fatalf("no line %s", id)
		return nil
	}

	// Data that leaves every line waiting changes nothing.
	before := snapshot()
	line("R2").Attributes["colour"] = "red"
	newItems, err := Redecompose(cat, &in, d, acct, done, goldenNow)
	if err != nil || len(newItems) != 0 {
		t.Fatalf("redecompose without the serial: %v, %d items", err, len(newItems))
	}
	same := build(d.Items, existing)
	if got, want := fmt.Sprint(Waits(cat, same, before)), fmt.Sprint(Waits(cat, same, d.Lines)); got != want {
		t.Errorf("waits changed without the serial: %s -> %s", got, want)
	}

	// The bundle's ROUTER gets its serial.
	before = snapshot()
	line("B1/ROUTER").Attributes["serial"] = "S1"
	newItems, err = Redecompose(cat, &in, d, acct, done, goldenNow)
	if err != nil || len(newItems) != 1 || newItems[0].Key != "router:B1/ROUTER" {
		t.Fatalf("redecompose: %v, %v", err, newItems)
	}
	g := build(append(slices.Clone(d.Items), newItems...), existing)
	wBefore, wAfter := Waits(cat, g, before), Waits(cat, g, d.Lines)
	tests := []struct {
		key           string
		before, after string
	}{
		{"Done|PLAN", "[B1/ROUTER R2]", "[R2]"},
		{"Check|BUNDLE:B1", "[B1/ROUTER]", "[]"},
		{"Audit|ITEM:router:R3", "[]", "[]"},
		{"Audit|ITEM:router:B1/ROUTER", "[]", "[]"},
		{"Quick|PLAN", "[]", "[]"},
	}
	for _, tt := range tests {
		if got := fmt.Sprint(wBefore[tt.key]); got != tt.before {
			t.Errorf("%s waited for %s; want %s", tt.key, got, tt.before)
		}
		if got := fmt.Sprint(wAfter[tt.key]); got != tt.after {
			t.Errorf("%s waits for %s; want %s", tt.key, got, tt.after)
		}
	}
	for key := range wAfter {
		if !slices.ContainsFunc(tests, func(tt struct{ key, before, after string }) bool { return tt.key == key }) {
			t.Errorf("unexpected wait of %s: %v", key, wAfter[key])
		}
	}
	var out strings.Builder
	renderPlan(&out, g)
	want := `scenarios: [main]
steps:
  [Work] Quick|PLAN AUTO_TASK READY existing=1
  [Work] Register|ITEM:router:R3 AUTO_TASK READY existing=2
  [Work] Register|ITEM:router:B1/ROUTER AUTO_TASK READY
  [Work] Config|ITEM:modem:B1/MODEM AUTO_TASK READY existing=3
  [Work] Check|BUNDLE:B1 AUTO_TASK PENDING pending=1 existing=4
  [Work] Audit|ITEM:router:R3 AUTO_TASK PENDING existing=5
  [Work] Audit|ITEM:router:B1/ROUTER AUTO_TASK PENDING pending=1
  [End] Done|PLAN MILESTONE PENDING pending=1 existing=6 waiting=[R2]
deps:
  Audit|ITEM:router:B1/ROUTER <- Register|ITEM:router:B1/ROUTER (ITEM)
  Check|BUNDLE:B1 <- Register|ITEM:router:B1/ROUTER (BUNDLE)
  Done|PLAN <- Register|ITEM:router:B1/ROUTER (PLAN)
`
	if got := out.String(); got != want {
		t.Errorf("extended plan:\n%s", lineDiff(want, got))
	}
}
