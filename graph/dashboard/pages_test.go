package dashboard_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestPages loads every page with an order in flight and checks that each
// shows its data with no console error, exception or failed load; each
// page's screenshot is written as a test artifact.
func TestPages(t *testing.T) {
	s := newServer(t)
	id := s.submit("demo-1")
	s.waitStep(id, "Install", "WAITING")
	p := tab(t)

	p.open(s.URL, "", "orders")
	p.run(chromedp.WaitVisible(chromedp.CSS(`a.order-link`)))
	text := p.text("main")
	if !strings.Contains(text, "demo-1") || !strings.Contains(text, "IN_PROGRESS") {
		t.Errorf("orders page does not list the order:\n%s", text)
	}
	p.screenshot("orders")
	p.clean("orders")

	// Following the link opens the order.
	p.run(chromedp.Click(chromedp.CSS(`a.order-link`)), p.ready("order"),
		chromedp.WaitVisible(chromedp.CSS(`g.step[data-name="Install"][data-status="WAITING"]`)))
	// Every step is drawn, with an arrow per dependency and the critical
	// path outlined; the timeline has a row per Plan.timeline entry, a bar
	// for each that has a start, a planned bar for each with planned times.
	plan := s.gql(`query($id: ID!) { order(id: $id) { plan { steps { id dependsOn { id } } criticalPath { id }
		predictedCompletion timeline { step { id } plannedStart plannedEnd actualStart critical basis } } } }`, map[string]any{"id": id})["order"].(map[string]any)["plan"].(map[string]any)
	var steps, deps int
	for _, st := range plan["steps"].([]any) {
		steps++
		deps += len(st.(map[string]any)["dependsOn"].([]any))
	}
	critical := len(plan["criticalPath"].([]any))
	var rows, bars, planned, criticalBars int
	var order []string
	for _, x := range plan["timeline"].([]any) {
		e := x.(map[string]any)
		rows++
		order = append(order, e["step"].(map[string]any)["id"].(string))
		if e["actualStart"] != nil || e["plannedStart"] != nil {
			bars++
			if e["critical"] == true {
				criticalBars++
			}
		}
		if e["plannedStart"] != nil && e["plannedEnd"] != nil {
			planned++
		}
	}
	if got := eval[[]int](p, `[document.querySelectorAll('#swimlanes g.step').length, document.querySelectorAll('#swimlanes path.edge').length,
		document.querySelectorAll('#swimlanes g.step.critical').length]`); got[0] != steps || got[1] != deps || got[2] != critical || critical == 0 {
		t.Errorf("drawn: %d steps, %d arrows, %d critical; want %d steps, %d arrows, %d critical (not 0)", got[0], got[1], got[2], steps, deps, critical)
	}
	if got := eval[[]int](p, `[document.querySelectorAll('#timeline text.row-label').length, document.querySelectorAll('#timeline rect.bar').length,
		document.querySelectorAll('#timeline rect.bar.critical').length, document.querySelectorAll('#timeline rect.planned').length]`); got[0] != rows || got[1] != bars || got[2] != criticalBars || got[3] != planned || rows != steps || bars == 0 || criticalBars == 0 {
		t.Errorf("timeline: %d rows, %d bars, %d critical, %d planned; Plan.timeline has %d rows (of %d steps), %d with a start (%d critical), %d with planned times (none may be 0)",
			got[0], got[1], got[2], got[3], rows, steps, bars, criticalBars, planned)
	}
	// Rows come in the server's order, each bar saying its forecast's basis.
	if got := eval[[]string](p, `[...document.querySelectorAll('#timeline rect.bar')].map((b) => b.dataset.stepId)`); strings.Join(got, ",") != strings.Join(order, ",") {
		t.Errorf("timeline bars in order %v; Plan.timeline has %v", got, order)
	}
	if plan["predictedCompletion"] != nil {
		if f := p.text(".forecast"); !strings.Contains(f, "Plan jeopardy") || !strings.Contains(f, "predicted") {
			t.Errorf("the plan's forecast says %q; want its jeopardy and predicted completion", f)
		}
	}
	png := p.screenshot("order")
	p.clean("order")
	if *updateScreenshots || os.Getenv("BATON_UPDATE_SCREENSHOTS") != "" {
		file := filepath.Join("screenshots", "order.png")
		if err := os.WriteFile(file, png, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("updated %s (%d bytes)", file, len(png))
	}

	for _, pg := range []struct{ route, name, want string }{
		{"#/orders/new", "neworder", "New order"},
		{"#/work", "work", "Install"},
		{"#/fallout", "fallout", "No step is in fallout"},
		{"#/systems", "systems", "fieldservice"},
		{"#/analytics", "analytics", "CreditCheck"}, // completed steps are in the step-definition table
	} {
		p.goTo(pg.route, pg.name)
		text := p.text("main")
		if !strings.Contains(text, pg.want) {
			t.Errorf("%s page lacks %q:\n%s", pg.name, pg.want, text)
		}
		p.screenshot(pg.name)
		p.clean(pg.name)
	}
	p.goTo("#/nowhere", "notfound")
	if text := p.text("main"); !strings.Contains(text, "No such page") {
		t.Errorf("an unknown route shows %q", text)
	}
	p.clean("notfound")
}
