package dashboard_test

import (
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/chromedp/cdproto/fetch"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// installBox is the drawn Install step's box.
const installBox = `g.step[data-name="Install"] rect.box`

// TestStepColourChangesLive completes the waiting Install task through the
// API while its order is open: the step turns from the waiting colour to
// the completed one, and the rest of the plan follows, with no reload.
func TestStepColourChangesLive(t *testing.T) {
	s := newServer(t)
	id := s.submit("live-1")
	install := s.waitStep(id, "Install", "WAITING")
	p := tab(t)
	p.open(s.URL, "#/orders/"+id, "order")
	p.run(chromedp.WaitVisible(chromedp.CSS(`g.step[data-name="Install"][data-status="WAITING"]`)))
	eval[chromedp.Void](p, `window.notReloaded = true`)
	before := eval[string](p, `getComputedStyle(document.querySelector('`+installBox+`')).fill`)

	s.gql(`mutation($s: ID!) { completeTask(stepId: $s, output: {serial: "SN-1"}, note: "installed") { status } }`, map[string]any{"s": install})

	p.run(chromedp.WaitVisible(chromedp.CSS(`g.step[data-name="Install"][data-status="COMPLETED"]`)))
	after := eval[string](p, `getComputedStyle(document.querySelector('`+installBox+`')).fill`)
	if before != "rgb(255, 193, 7)" || after != "rgb(47, 165, 101)" {
		t.Errorf("Install's fill went from %s to %s; want the waiting rgb(255, 193, 7), then the completed rgb(47, 165, 101)", before, after)
	}
	if bar := eval[string](p, `document.querySelector('#timeline rect.bar[data-step-id="`+install+`"]').getAttribute('class')`); !strings.Contains(bar, "st-COMPLETED") {
		t.Errorf("Install's timeline bar has class %q; want st-COMPLETED", bar)
	}
	// The billing callout runs after it; the order completes.
	p.run(chromedp.WaitVisible(chromedp.CSS(`g.step[data-name="OrderComplete"][data-status="COMPLETED"]`)))
	if !eval[bool](p, `window.notReloaded === true`) {
		t.Error("the page was loaded again")
	}
	if ev := p.text(".events"); !strings.Contains(ev, "WAITING → COMPLETED") || !strings.Contains(ev, "installed") {
		t.Errorf("the event list lacks the completion:\n%s", ev)
	}
	p.clean("order")
}

// TestFalloutBulkRetry sends a callout to fallout (the field-service system
// answers 503 and does not retry), brings the system back, and retries the
// step from the fallout page: the result row follows the step to COMPLETED.
func TestFalloutBulkRetry(t *testing.T) {
	s := newServer(t)
	s.failing.Store(true)
	id := s.submit("fallout-1")
	step := s.waitStep(id, "ScheduleTechnician", "FALLOUT")
	s.failing.Store(false)
	hits := s.fieldHits.Load()

	p := tab(t)
	p.open(s.URL, "#/fallout", "fallout")
	p.run(chromedp.WaitVisible(chromedp.CSS(`tr[data-name="ScheduleTechnician"]`)))
	if row := p.text(`tr[data-name="ScheduleTechnician"]`); !strings.Contains(row, "fallout-1") || !strings.Contains(row, "503") {
		t.Errorf("fallout row: %q; want the order and the error", row)
	}
	p.screenshot("fallout-queue")
	p.run(chromedp.Click(chromedp.CSS(`input[name="all"]`)), chromedp.Click(chromedp.CSS(`button.retry`)),
		chromedp.WaitVisible(chromedp.CSS(`tr.result[data-step-id="`+step+`"][data-ok="true"][data-status="COMPLETED"]`)))
	if got := s.steps(id)["ScheduleTechnician"][1]; got != "COMPLETED" {
		t.Errorf("ScheduleTechnician is %s; want COMPLETED", got)
	}
	if s.fieldHits.Load() <= hits {
		t.Error("the retry did not call the field-service system")
	}
	p.run(chromedp.WaitNotPresent(chromedp.CSS(`tr[data-name="ScheduleTechnician"]`)))
	p.screenshot("fallout-retried")
	p.clean("fallout")
}

// TestNoNetworkBeyondServer loads every page with every request of the tab
// intercepted: requests to the server go on, any other is refused and
// recorded. None may be attempted, and the pages must still work.
func TestNoNetworkBeyondServer(t *testing.T) {
	s := newServer(t)
	id := s.submit("offline-1")
	s.waitStep(id, "Install", "WAITING")
	server, _ := url.Parse(s.URL)
	p := tab(t)

	var mu sync.Mutex
	var foreign, local []string
	note := func(raw string) {
		u, err := url.Parse(raw)
		if err == nil && (u.Scheme == "data" || u.Scheme == "blob") {
			return // no network: the content is in the URL, or in the page
		}
		mu.Lock()
		defer mu.Unlock()
		if err != nil || u.Host != server.Host {
			foreign = append(foreign, raw)
		} else {
			local = append(local, raw)
		}
	}
	paused := chromedp.Events(p.ctx, fetch.RequestPaused)
	sent := chromedp.Events(p.ctx, network.RequestWillBeSent)
	sockets := chromedp.Events(p.ctx, network.WebSocketCreated)
	go func() {
		for ev, err := range paused {
			if err != nil {
				return
			}
			u, perr := url.Parse(ev.Request.URL)
			if perr == nil && (u.Host == server.Host || u.Scheme == "data") {
				_, _ = chromedp.Call(p.ctx, fetch.ContinueRequest, fetch.ContinueRequestParams{RequestID: ev.RequestID})
				continue
			}
			_, _ = chromedp.Call(p.ctx, fetch.FailRequest, fetch.FailRequestParams{RequestID: ev.RequestID, ErrorReason: network.ErrorReasonBlockedByClient})
		}
	}()
	go func() {
		for ev, err := range sent {
			if err != nil {
				return
			}
			note(ev.Request.URL)
		}
	}()
	go func() {
		for ev, err := range sockets {
			if err != nil {
				return
			}
			note(ev.URL)
		}
	}()
	if _, err := chromedp.Call(p.ctx, fetch.Enable, fetch.EnableParams{Patterns: []*fetch.RequestPattern{{URLPattern: "*"}}}); err != nil {
		t.Fatal(err)
	}

	p.open(s.URL, "#/orders", "orders")
	p.run(chromedp.WaitVisible(chromedp.CSS(`a.order-link`)))
	p.goTo("#/orders/"+id, "order")
	p.run(chromedp.WaitVisible(chromedp.CSS(`g.step[data-name="Install"]`)))
	for _, pg := range []struct{ route, name string }{{"orders/new", "neworder"}, {"work", "work"}, {"fallout", "fallout"},
		{"systems", "systems"}, {"analytics", "analytics"}} {
		p.goTo("#/"+pg.route, pg.name)
	}
	p.clean("pages")
	// The playground is served offline too.
	p.run(chromedp.Navigate(s.URL+"/playground/"), chromedp.WaitVisible(chromedp.CSS(`.graphiql-container`)))

	mu.Lock()
	defer mu.Unlock()
	if len(foreign) > 0 {
		t.Errorf("requests beyond the server (%s): %q", server.Host, foreign)
	}
	var ws, assets int
	for _, u := range local {
		if strings.HasPrefix(u, "ws://") {
			ws++
		}
		if strings.Contains(u, "/_dashboard/") {
			assets++
		}
	}
	if ws == 0 || assets < 5 {
		t.Errorf("saw %d websockets and %d assets of the server: the interception saw nothing (%q)", ws, assets, local)
	}
}
