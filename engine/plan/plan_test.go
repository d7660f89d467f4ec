package plan

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
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
