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
	// Every step is drawn, with an arrow per dependency and the critical path outlined.
	plan := s.gql(`query($id: ID!) { order(id: $id) { plan { steps { id dependsOn { id } } criticalPath { id } } } }`, map[string]any{"id": id})["order"].(map[string]any)["plan"].(map[string]any)
	var steps, deps int
	for _, st := range plan["steps"].([]any) {
		steps++
		deps += len(st.(map[string]any)["dependsOn"].([]any))
	}
	critical := len(plan["criticalPath"].([]any))
	if got := eval[[]int](p, `[document.querySelectorAll('#swimlanes g.step').length, document.querySelectorAll('#swimlanes path.edge').length,
		document.querySelectorAll('#swimlanes g.step.critical').length, document.querySelectorAll('#timeline rect.bar').length]`); got[0] != steps || got[1] != deps || got[2] != critical || got[3] != steps || critical == 0 {
		t.Errorf("drawn: %d steps, %d arrows, %d critical, %d bars; want %d steps, %d arrows, %d critical (not 0), %d bars", got[0], got[1], got[2], got[3], steps, deps, critical, steps)
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
		{"#/work", "work", "Install"},
		{"#/fallout", "fallout", "No step is in fallout"},
		{"#/systems", "systems", "fieldservice"},
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
