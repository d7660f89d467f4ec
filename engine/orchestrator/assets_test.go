package orchestrator_test

import (
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/batonhq/baton/engine"
	"github.com/batonhq/baton/engine/enginetest"
	"github.com/batonhq/baton/ent/order"
	"github.com/batonhq/baton/ent/step"
)

// maCatalog: a SRV is installed (ADD), decommissioned (DISCONNECT) or
// reconfigured (CHANGE, SUSPEND, RESUME) — the scenario is chosen by the
// lines' action; every plan is one milestone, so orders complete as they
// are submitted.
const maCatalog = `version: 1
systems: {}
products:
  - {code: SRV, type: COMMERCIAL}
  - {code: LIC, type: COMMERCIAL}
  - {code: T-SRV, type: TECHNICAL}
decomposition:
  - {name: srv, from: SRV, to: T-SRV}
  - {name: lic, from: LIC, to: T-SRV}
scenarios:
  - name: install
    when: 'any(order.lines, .action == "ADD")'
    groups: [{name: Work, steps: [{name: Installed, type: MILESTONE}]}]
  - name: decommission
    when: 'any(order.lines, .action == "DISCONNECT")'
    groups: [{name: Work, steps: [{name: Decommissioned, type: MILESTONE}]}]
  - name: modify
    when: 'any(order.lines, .action in ["CHANGE", "SUSPEND", "RESUME"])'
    groups: [{name: Work, steps: [{name: Modified, type: MILESTONE}]}]
`

// Every MACD action and every refusal, and the asset's history.
func TestAssetsMACD(t *testing.T) {
	t.Parallel()
	enginetest.EachBackend(t, func(t *testing.T, url string) {
		b := sfSetup(t, url, maCatalog)
		n := 0
		submit := func(acct string, l engine.LineInput) (*engine.OrderRecord, error) {
			n++
			return b.engine.SubmitOrder(b.ctx, engine.OrderInput{ExternalID: "ma-" + acct + "-" + strings.Repeat("x", n), AccountID: acct,
				Lines: []engine.LineInput{withDefaults(l)}})
		}
		rec, err := submit("a", engine.LineInput{ProductCode: "SRV", Attributes: map[string]any{"size": "m"}})
		if err != nil {
			t.Fatal(err)
		}
		b.checkOrder(t, rec.ID, "COMPLETED")
		if s := b.client.Step.Query().Where(step.OrderID(rec.ID)).OnlyX(b.ctx); s.Name != "Installed" {
			t.Errorf("an ADD order planned %s; want Installed", s.Name)
		}
		assets, err := b.store.Assets(b.ctx, engine.AssetQuery{AccountID: "a"})
		if err != nil || len(assets) != 1 {
			t.Fatalf("assets: %v %v", assets, err)
		}
		id := assets[0].ID
		if _, err := submit("other", engine.LineInput{ProductCode: "SRV"}); err != nil {
			t.Fatal(err)
		}
		otherAssets, _ := b.store.Assets(b.ctx, engine.AssetQuery{AccountID: "other"})
		refuse := func(what, acct string, l engine.LineInput, code engine.Code, text string) {
			t.Helper()
			before, orders := b.eventCount(t), b.client.Order.Query().CountX(b.ctx)
			_, err := submit(acct, l)
			var e *engine.Error
			if !errors.As(err, &e) || e.Code != code || len(e.Problems) == 0 || !strings.Contains(e.Problems[0].Message, text) {
				t.Errorf("%s: %v; want %s with %q", what, err, code, text)
			}
			if b.eventCount(t) != before || b.client.Order.Query().CountX(b.ctx) != orders {
				t.Errorf("%s: a refused order wrote events or an order", what)
			}
			// previewOrder refuses it alike.
			_, err = b.engine.PreviewOrder(b.ctx, engine.OrderInput{ExternalID: "ma-preview", AccountID: acct, Lines: []engine.LineInput{withDefaults(l)}})
			if !errors.As(err, &e) || e.Code != code || len(e.Problems) == 0 || !strings.Contains(e.Problems[0].Message, text) {
				t.Errorf("%s: previewOrder %v; want %s with %q", what, err, code, text)
			}
		}
		refuse("a missing asset", "a", engine.LineInput{ProductCode: "SRV", Action: engine.ActionChange, AssetID: id + 1000}, engine.CodeBadUserInput, "unknown asset")
		refuse("another account's asset", "a", engine.LineInput{ProductCode: "SRV", Action: engine.ActionSuspend, AssetID: otherAssets[0].ID}, engine.CodeBadUserInput, "unknown asset")
		refuse("a wrong product", "a", engine.LineInput{ProductCode: "LIC", Action: engine.ActionChange, AssetID: id}, engine.CodeBadUserInput, `not a "LIC"`)
		refuse("RESUME of an active asset", "a", engine.LineInput{ProductCode: "SRV", Action: engine.ActionResume, AssetID: id}, engine.CodeInvalidState, "cannot RESUME")
		if _, err := b.engine.PreviewOrder(b.ctx, engine.OrderInput{ExternalID: "ma-p", AccountID: "a", Lines: []engine.LineInput{
			{ID: "L1", ProductCode: "SRV", Quantity: 1, Action: engine.ActionSuspend, AssetID: id}}}); err != nil {
			t.Errorf("previewOrder refused the SUSPEND of an active asset: %v", err)
		}
		before := b.eventCount(t)
		_, err = b.engine.SubmitOrder(b.ctx, engine.OrderInput{ExternalID: "ma-two", AccountID: "a", Lines: []engine.LineInput{
			{ID: "L1", ProductCode: "SRV", Quantity: 1, Action: engine.ActionSuspend, AssetID: id},
			{ID: "L2", ProductCode: "SRV", Quantity: 1, Action: engine.ActionDisconnect, AssetID: id}}})
		if !engine.IsCode(err, engine.CodeBadUserInput) || !strings.Contains(err.Error(), `already changed by line "L1"`) || b.eventCount(t) != before {
			t.Errorf("two lines on one asset: %v; want BAD_USER_INPUT naming L1, nothing written", err)
		}

		steps := []struct {
			line engine.LineInput
			plan string
			want engine.AssetStatus
			then func() // refusals in the status reached
		}{
			{engine.LineInput{ProductCode: "SRV", Quantity: 3, Action: engine.ActionChange, AssetID: id, Attributes: map[string]any{"size": "l"}}, "Modified", engine.AssetActive, nil},
			{engine.LineInput{ProductCode: "SRV", Action: engine.ActionSuspend, AssetID: id}, "Modified", engine.AssetSuspended, func() {
				refuse("a SUSPEND of a suspended asset", "a", engine.LineInput{ProductCode: "SRV", Action: engine.ActionSuspend, AssetID: id}, engine.CodeInvalidState, "is SUSPENDED; it cannot SUSPEND")
			}},
			{engine.LineInput{ProductCode: "SRV", Action: engine.ActionResume, AssetID: id}, "Modified", engine.AssetActive, nil},
			{engine.LineInput{ProductCode: "SRV", Action: engine.ActionDisconnect, AssetID: id}, "Decommissioned", engine.AssetDisconnected, nil},
		}
		for _, s := range steps {
			rec, err := submit("a", s.line)
			if err != nil {
				t.Fatalf("%s: %v", s.line.Action, err)
			}
			b.checkOrder(t, rec.ID, order.StatusCOMPLETED)
			if st := b.client.Step.Query().Where(step.OrderID(rec.ID)).OnlyX(b.ctx); st.Name != s.plan {
				t.Errorf("a %s order planned %s; want %s", s.line.Action, st.Name, s.plan)
			}
			got, _ := b.store.AssetsByID(b.ctx, []int{id})
			if got[id].Status != s.want {
				t.Errorf("after %s the asset is %s; want %s", s.line.Action, got[id].Status, s.want)
			}
			if s.then != nil {
				s.then()
			}
		}
		got, _ := b.store.AssetsByID(b.ctx, []int{id})
		if got[id].Quantity != 3 || got[id].Attributes["size"] != "l" {
			t.Errorf("asset %+v; want quantity 3, size l", got[id])
		}
		refuse("a second DISCONNECT", "a", engine.LineInput{ProductCode: "SRV", Action: engine.ActionDisconnect, AssetID: id}, engine.CodeInvalidState, "cannot DISCONNECT")
		refuse("a CHANGE of a disconnected asset", "a", engine.LineInput{ProductCode: "SRV", Action: engine.ActionChange, AssetID: id}, engine.CodeInvalidState, "cannot CHANGE")
		refuse("a SUSPEND of a disconnected asset", "a", engine.LineInput{ProductCode: "SRV", Action: engine.ActionSuspend, AssetID: id}, engine.CodeInvalidState, "cannot SUSPEND")
		refuse("a RESUME of a disconnected asset", "a", engine.LineInput{ProductCode: "SRV", Action: engine.ActionResume, AssetID: id}, engine.CodeInvalidState, "is DISCONNECTED; it cannot RESUME")

		hist, err := b.store.AssetHistory(b.ctx, []int{id})
		if err != nil {
			t.Fatal(err)
		}
		var trail []string
		for _, e := range hist[id] {
			trail = append(trail, string(e.Action)+":"+string(e.FromStatus)+">"+string(e.ToStatus))
		}
		if got, want := strings.Join(trail, " "), "ADD:>ACTIVE CHANGE:ACTIVE>ACTIVE SUSPEND:ACTIVE>SUSPENDED RESUME:SUSPENDED>ACTIVE DISCONNECT:ACTIVE>DISCONNECTED"; got != want {
			t.Errorf("history %s; want %s", got, want)
		}
		if h := hist[id]; len(h) > 1 && (h[1].Quantity != 3 || h[1].OrderID == h[0].OrderID) {
			t.Errorf("the CHANGE's history row: %+v", h[1])
		}
	})
}

// withDefaults gives a test line an id and a quantity.
func withDefaults(l engine.LineInput) engine.LineInput {
	if l.Quantity == 0 {
		l.Quantity = 1
	}
	if l.ID == "" {
		l.ID = "L1"
	}
	return l
}

// Orders of one account that SUSPEND the same asset at the same time: the
// check runs under the account's lock, after the order before it
// completed (here at submission), so one is accepted and the others are
// refused with INVALID_STATE; the asset's history has one SUSPEND.
func TestAssetsConcurrentOrdersOnOneAsset(t *testing.T) {
	t.Parallel()
	enginetest.EachBackend(t, func(t *testing.T, url string) {
		b := sfSetup(t, url, maCatalog)
		if _, err := b.engine.SubmitOrder(b.ctx, engine.OrderInput{ExternalID: "add", AccountID: "a", Lines: []engine.LineInput{withDefaults(engine.LineInput{ProductCode: "SRV"})}}); err != nil {
			t.Fatal(err)
		}
		assets, err := b.store.Assets(b.ctx, engine.AssetQuery{AccountID: "a"})
		if err != nil || len(assets) != 1 {
			t.Fatalf("assets: %v %v", assets, err)
		}
		id := assets[0].ID
		const n = 4
		errs := make(chan error, n)
		var wg sync.WaitGroup
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				_, err := b.engine.SubmitOrder(b.ctx, engine.OrderInput{ExternalID: "suspend-" + strconv.Itoa(i), AccountID: "a",
					Lines: []engine.LineInput{withDefaults(engine.LineInput{ProductCode: "SRV", Action: engine.ActionSuspend, AssetID: id})}})
				errs <- err
			}(i)
		}
		wg.Wait()
		close(errs)
		accepted := 0
		for err := range errs {
			switch {
			case err == nil:
				accepted++
			case engine.IsCode(err, engine.CodeInvalidState):
			default:
				t.Errorf("a concurrent SUSPEND: %v; want accepted or INVALID_STATE", err)
			}
		}
		if accepted != 1 {
			t.Errorf("%d concurrent SUSPENDs of one asset accepted; want 1", accepted)
		}
		hist, err := b.store.AssetHistory(b.ctx, []int{id})
		if err != nil || len(hist[id]) != 2 || hist[id][1].Action != engine.ActionSuspend {
			t.Errorf("history %+v, %v; want ADD then one SUSPEND", hist[id], err)
		}
	})
}
