package dashboard_test

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestWorkClaimAndComplete names itself on the open server, claims the
// Install task from its inbox and completes it with the task's form.
func TestWorkClaimAndComplete(t *testing.T) {
	s := newServer(t)
	id := s.submit("work-1")
	install := s.waitStep(id, "Install", "WAITING")
	p := tab(t)
	p.open(s.URL, "#/work", "work")

	// Name yourself: the open server records whoever you say.
	p.run(chromedp.Click(chromedp.ID("signin-button")), p.ready("signin"),
		chromedp.SendKeys(chromedp.ID("signin-secret"), "ina"), chromedp.Click(chromedp.CSS(`.signin button[type="submit"]`)),
		p.ready("work"))
	if who := p.text("#top .who"); !strings.Contains(who, "ina") {
		t.Errorf("signed in as %q; want ina", who)
	}
	row := `tr[data-name="Install"]`
	p.run(chromedp.WaitVisible(chromedp.CSS(row+` button.claim`)), chromedp.Click(chromedp.CSS(row+` button.claim`)),
		chromedp.WaitVisible(chromedp.CSS(row+` button.release`))) // the holder may give it back
	if got := s.gql(`query($id: ID!) { step(id: $id) { assignee } }`, map[string]any{"id": install})["step"].(map[string]any)["assignee"]; got != "ina" {
		t.Errorf("Install is assigned to %v; want ina", got)
	}
	p.run(chromedp.Click(chromedp.CSS(row+` button.complete`)), chromedp.WaitVisible(chromedp.CSS(`form.task-form`)))
	p.screenshot("work-form")
	// A serial the form's pattern refuses is not sent.
	p.run(chromedp.SendKeys(chromedp.CSS(`input[name="field-serial"]`), "bad"), chromedp.Click(chromedp.CSS(`form.task-form button[type="submit"]`)))
	if st := s.steps(id)["Install"][1]; st != "WAITING" {
		t.Fatalf("Install is %s after an invalid form; want WAITING", st)
	}
	p.run(chromedp.SetValue(chromedp.CSS(`input[name="field-serial"]`), "SN-42"),
		chromedp.SetValue(chromedp.CSS(`select[name="field-rack"]`), "B"),
		chromedp.Click(chromedp.CSS(`input[name="field-tested"]`)),
		chromedp.SendKeys(chromedp.CSS(`form.task-form input[name="note"]`), "rack 4"),
		chromedp.Click(chromedp.CSS(`form.task-form button[type="submit"]`)),
		chromedp.WaitNotPresent(chromedp.CSS(row)))
	st := s.gql(`query($id: ID!) { step(id: $id) { status output note } }`, map[string]any{"id": install})["step"].(map[string]any)
	out, _ := st["output"].(map[string]any)
	if st["status"] != "COMPLETED" || out["serial"] != "SN-42" || out["rack"] != "B" || out["tested"] != true || st["note"] != "rack 4" {
		t.Errorf("Install after the form: %v; want COMPLETED with serial SN-42, rack B, tested, note rack 4", st)
	}
	p.clean("work")
}

// TestSignInWithKey runs the dashboard on a server with API keys: it asks
// for a key, refuses a wrong one, and shows each role only what it may do.
func TestSignInWithKey(t *testing.T) {
	s := newServer(t, "admin:admin-secret-0123456789", "ops:agent-secret-0123456789:FALLOUT_AGENT",
		"boss:manager-secret-0123456789:FALLOUT_MANAGER")
	s.submit("keys-1")
	p := tab(t)
	p.expect("status of 401") // how the page learns that it must sign in
	p.open(s.URL, "", "signin")

	signIn := func(secret string) {
		p.run(chromedp.SetValue(chromedp.ID("signin-secret"), secret), chromedp.Click(chromedp.CSS(`.signin button[type="submit"]`)))
	}
	signIn("wrong-secret-0123456789")
	p.run(p.ready("signin"), chromedp.WaitVisible(chromedp.CSS(`.signin p.error`)))

	signIn("agent-secret-0123456789")
	p.run(p.ready("orders"), chromedp.WaitVisible(chromedp.CSS(`a.order-link`)), chromedp.WaitVisible(chromedp.CSS(`#top .live.on`)))
	nav := p.text("#top nav")
	if !strings.Contains(nav, "Fallout") || !strings.Contains(nav, "Systems") || !strings.Contains(nav, "Analytics") || strings.Contains(nav, "Work") {
		t.Errorf("a fallout agent's navigation: %q; want Fallout, Systems and Analytics, no Work", nav)
	}
	if who := p.text("#top .who"); !strings.Contains(who, "ops") || !strings.Contains(who, "FALLOUT_AGENT") {
		t.Errorf("signed in as %q", who)
	}
	if n := eval[int](p, `document.querySelectorAll('a.new-order-link, #example-order').length`); n != 0 {
		t.Errorf("a fallout agent (no order:submit) is offered %d ways to a new order", n)
	}
	p.goTo("#/orders/new", "neworder")
	if text := p.text("main"); !strings.Contains(text, "needs order:submit") {
		t.Errorf("new-order page for a fallout agent: %q", text)
	}
	p.goTo("#/fallout", "fallout")
	if n := eval[int](p, `document.querySelectorAll('button.retry').length * 10 + document.querySelectorAll('button.complete, button.skip').length`); n != 10 {
		t.Errorf("a fallout agent sees %d retry and %d complete/skip buttons; want retry only", n/10, n%10)
	}
	p.goTo("#/systems", "systems")
	p.run(chromedp.WaitVisible(chromedp.CSS(`tr[data-system="billing"]`)))
	if n := eval[int](p, `document.querySelectorAll('button.hold, button.release').length`); n != 0 {
		t.Errorf("a fallout agent sees %d hold/release buttons; want none", n)
	}
	p.goTo("#/work", "work")
	if text := p.text("main"); !strings.Contains(text, "needs task:work or task:manage") {
		t.Errorf("work page for a fallout agent: %q", text)
	}

	// Sign out: the key is gone from the tab.
	p.run(chromedp.Click(chromedp.ID("signin-button")), p.ready("signin"))
	if k := eval[string](p, `sessionStorage.getItem('baton.token') || ''`); k != "" {
		t.Errorf("after signing out the tab keeps %q", k)
	}

	// A fallout manager holds and releases a system.
	signIn("manager-secret-0123456789")
	p.run(p.ready("work")) // the route stays
	p.goTo("#/systems", "systems")
	billing := `tr[data-system="billing"]`
	p.run(chromedp.Click(chromedp.CSS(billing+` button.hold`)), chromedp.WaitVisible(chromedp.CSS(billing+`[data-status="OFFLINE"] button.release`)))
	if st := s.gql(`{ systems(where: {name: "billing"}) { edges { node { status changedBy } } } }`, nil); !strings.Contains(toJSON(st), `"status":"OFFLINE"`) || !strings.Contains(toJSON(st), `"changedBy":"boss"`) {
		t.Errorf("billing after Hold: %s", toJSON(st))
	}
	p.screenshot("systems-held")
	p.run(chromedp.Click(chromedp.CSS(billing+` button.release`)), chromedp.WaitVisible(chromedp.CSS(billing+`[data-status="ONLINE"] button.hold`)))
	p.clean("signed in")
}
