package dashboard_test

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestNewOrderExample starts from an empty server, as `go run .` does:
// the orders page offers the README's example order, the form is filled
// with it, Preview lists what would be created, bad input shows the
// server's error code and creates nothing, and Submit opens the new order,
// whose plan then flows live.
func TestNewOrderExample(t *testing.T) {
	s := newServer(t)
	p := tab(t)
	p.open(s.URL, "#/orders", "orders")
	p.run(chromedp.WaitVisible(chromedp.CSS(`#example-order`)))
	p.screenshot("orders-empty")
	p.clean("orders")

	p.run(chromedp.Click(chromedp.CSS(`#example-order`)), p.ready("neworder"))
	form := eval[string](p, `JSON.stringify([...document.querySelectorAll('form.new-order [name]')].map((e) => e.name + '=' + e.value))`)
	for _, want := range []string{`"accountId=acme"`, `"attributes={\"shipTo\":\"1 Main St, Springfield\"}"`,
		`"lineId=L1"`, `"productCode=PRO-SERVER-PKG"`, `"quantity=1"`, `"requestedCompletion="`} {
		if !strings.Contains(form, want) {
			t.Errorf("the example form lacks %s: %s", want, form)
		}
	}
	externalID := eval[string](p, `document.querySelector('[name=externalId]').value`)
	if !strings.HasPrefix(externalID, "demo-") || externalID == "demo-1" {
		t.Errorf("the example's external id is %q; want a fresh demo-…", externalID)
	}

	// Bad input: the server's code and the problem's path, and no order.
	noOrders := func(when string) {
		t.Helper()
		if n := s.gql(`{ orders { totalCount } }`, nil)["orders"].(map[string]any)["totalCount"]; n != 0.0 {
			t.Errorf("%s: %v orders; want none", when, n)
		}
	}
	p.run(chromedp.SetValue(chromedp.CSS(`tr.line [name=quantity]`), "0"), chromedp.Click(chromedp.ID("preview-order")),
		chromedp.WaitVisible(chromedp.CSS(`ul.errors li[data-code="BAD_USER_INPUT"] li[data-path="lines[0].quantity"]`)))
	p.run(chromedp.SetValue(chromedp.CSS(`tr.line [name=quantity]`), "1"),
		chromedp.SetValue(chromedp.CSS(`tr.line [name=productCode]`), "NO-SUCH-PRODUCT"), chromedp.Click(chromedp.ID("submit-order")),
		chromedp.WaitVisible(chromedp.CSS(`ul.errors li[data-code="BAD_USER_INPUT"] li[data-path="lines[0].productCode"]`)))
	if text := p.text("ul.errors"); !strings.Contains(text, "BAD_USER_INPUT") || !strings.Contains(text, "NO-SUCH-PRODUCT") {
		t.Errorf("the error shown: %q; want its code and the product", text)
	}
	if page := eval[string](p, `document.querySelector('main').dataset.page`); page != "neworder" {
		t.Errorf("after a refused submit the page is %q", page)
	}
	noOrders("after bad input")

	// Preview: a row per swimlane with its steps, as previewOrder says.
	p.run(chromedp.SetValue(chromedp.CSS(`tr.line [name=productCode]`), "PRO-SERVER-PKG"), chromedp.Click(chromedp.ID("preview-order")),
		chromedp.WaitVisible(chromedp.CSS(`.preview`)))
	want := s.gql(`query($in: SubmitOrderInput!) { previewOrder(input: $in) { groups { name } steps { name group } } }`, map[string]any{"in": map[string]any{
		"externalId": externalID, "accountId": "acme", "attributes": map[string]any{"shipTo": "1 Main St, Springfield"},
		"lines": []any{map[string]any{"id": "L1", "productCode": "PRO-SERVER-PKG"}},
	}})["previewOrder"].(map[string]any)
	lanes := map[string]int{}
	for _, st := range want["steps"].([]any) {
		lanes[st.(map[string]any)["group"].(string)]++
	}
	got := eval[map[string]int](p, `Object.fromEntries([...document.querySelectorAll('.preview tr.lane-row')].map((r) => [r.dataset.lane, Number(r.dataset.steps)]))`)
	if len(got) != len(want["groups"].([]any)) || len(got) != 5 {
		t.Errorf("preview swimlanes %v; previewOrder has %d (README: five)", got, len(want["groups"].([]any)))
	}
	for lane, n := range lanes {
		if got[lane] != n {
			t.Errorf("preview lane %q: %d steps; previewOrder has %d", lane, got[lane], n)
		}
	}
	if text := p.text(".preview"); !strings.Contains(text, "12 steps in 5 swimlanes") || !strings.Contains(text, "CreditCheck") || !strings.Contains(text, "Install") || !strings.Contains(text, "TP-SHIPMENT") {
		t.Errorf("the preview says:\n%s", text)
	}
	p.screenshot("neworder")
	noOrders("after preview")
	p.clean("neworder")

	// Submit: the new order's page, its plan flowing live.
	p.run(chromedp.Click(chromedp.ID("submit-order")), p.ready("order"),
		chromedp.WaitVisible(chromedp.CSS(`g.step[data-name="Install"]`)))
	order := s.gql(`query($x: String!) { orderByExternalId(externalId: $x) { id } }`, map[string]any{"x": externalID})["orderByExternalId"].(map[string]any)
	id := order["id"].(string)
	if hash := eval[string](p, `location.hash`); hash != "#/orders/"+id {
		t.Errorf("after Submit the address is %s; want #/orders/%s", hash, id)
	}
	eval[chromedp.Void](p, `window.notReloaded = true`)
	install := s.waitStep(id, "Install", "WAITING")
	p.run(chromedp.WaitVisible(chromedp.CSS(`g.step[data-name="Install"][data-status="WAITING"]`)))
	s.gql(`mutation($s: ID!) { completeTask(stepId: $s, output: {serial: "SN-7"}) { status } }`, map[string]any{"s": install})
	p.run(chromedp.WaitVisible(chromedp.CSS(`g.step[data-name="Install"][data-status="COMPLETED"]`)),
		chromedp.WaitVisible(chromedp.CSS(`g.step[data-name="OrderComplete"][data-status="COMPLETED"]`)))
	if !eval[bool](p, `window.notReloaded === true`) {
		t.Error("the order page was loaded again")
	}
	p.clean("order")
}
