package graph_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/batonhq/baton/engine/enginetest"
)

// amendCatalog: each SERVER is shipped (a milestone, undone by Unship) and
// installed by a person; a LIC is activated by a person past the point of
// no return.
const amendCatalog = `version: 1
systems: {}
products:
  - {code: SERVER, type: COMMERCIAL}
  - {code: LIC, type: COMMERCIAL}
  - {code: T-SRV, type: TECHNICAL}
  - {code: T-LIC, type: TECHNICAL}
decomposition:
  - {name: srv, from: SERVER, to: T-SRV}
  - {name: lic, from: LIC, to: T-LIC}
scenarios:
  - name: main
    groups:
      - name: Work
        steps:
          - {name: Ship, type: MILESTONE, scope: ITEM, product: T-SRV, compensate: {name: Unship, type: MILESTONE}}
          - {name: Install, type: MANUAL_TASK, scope: ITEM, product: T-SRV, task: {queue: field}}
          - {name: Activate, type: MANUAL_TASK, scope: ITEM, product: T-LIC, task: {queue: desk}, pointOfNoReturn: true}
    dependencies:
      - {step: Install, after: [Ship], scope: ITEM}
`

const diffFields = `kept { id name instanceKey status } cancelled { id name instanceKey status } added { name instanceKey status }
	compensated { id name compensation } retained { name } settling { name }
	refused { lineId stepName scope message } linesAdded linesChanged linesRemoved attributesChanged`

func amendLines(ids ...string) []any {
	var out []any
	for _, id := range ids {
		p := "SERVER"
		if strings.HasPrefix(id, "L") {
			p = "LIC"
		}
		out = append(out, map[string]any{"id": id, "productCode": p})
	}
	return out
}

// Through the API: a preview is the diff amendOrder applies; the order's
// revision, revisions and changeability; a stale revision, the point of
// no return, cancelling (twice) and amending a cancelled order.
func TestAmendAndCancelThroughTheAPI(t *testing.T) {
	t.Parallel()
	enginetest.EachBackend(t, func(t *testing.T, url string) {
		e := newEnv(t, url, envOptions{catalog: amendCatalog})
		id := e.submit(map[string]any{"externalId": "amend-1", "accountId": "acme", "lines": amendLines("S1", "S2", "L1")})
		vars := map[string]any{"id": id, "in": map[string]any{"lines": amendLines("S1", "S3", "L1"), "reason": "swap S2 for S3"}}
		var preview struct{ PreviewAmendment json.RawMessage }
		e.do(`query($id: ID!, $in: AmendOrderInput!) { previewAmendment(orderId: $id, input: $in) { `+diffFields+` } }`, vars, &preview)
		var amended struct {
			AmendOrder struct {
				Order    struct{ Revision int }
				Revision struct {
					Number int
					Kind   string
					Status string
					Reason string
					Diff   json.RawMessage
				}
			}
		}
		e.do(`mutation($id: ID!, $in: AmendOrderInput!) { amendOrder(orderId: $id, input: $in, expectedRevision: 0) {
			order { revision } revision { number kind status reason diff { `+diffFields+` } } } }`, vars, &amended)
		a := amended.AmendOrder
		if a.Order.Revision != 1 || a.Revision.Number != 1 || a.Revision.Kind != "AMEND" || a.Revision.Status != "APPLIED" || a.Revision.Reason != "swap S2 for S3" {
			t.Fatalf("amendOrder: %+v", a)
		}
		if string(a.Revision.Diff) != string(preview.PreviewAmendment) {
			t.Errorf("applied diff\n%s\ndiffers from the preview\n%s", a.Revision.Diff, preview.PreviewAmendment)
		}
		var d struct {
			Compensated []struct{ Name, Compensation string }
			Cancelled   []struct{ Name, InstanceKey string }
			Added       []struct{ Name, InstanceKey string }
		}
		if err := json.Unmarshal(a.Revision.Diff, &d); err != nil {
			t.Fatal(err)
		}
		if len(d.Compensated) != 1 || d.Compensated[0].Compensation != "Unship" || len(d.Cancelled) != 1 || len(d.Added) != 2 {
			t.Errorf("diff %s", a.Revision.Diff)
		}

		e.fail("CONFLICT", `mutation($id: ID!, $in: AmendOrderInput!) { amendOrder(orderId: $id, input: $in, expectedRevision: 0) { revision { number } } }`, vars)

		// Activate (pointOfNoReturn) waits for a person: started, it
		// freezes L1.
		var ch struct {
			Order struct {
				Revisions  []struct{ Number int }
				Changeable struct {
					Cancellable bool
					Lines       []struct {
						LineID     string
						Changeable bool
						FrozenBy   *struct{ StepName string }
					}
				}
			}
		}
		e.do(`query($id: ID!) { order(id: $id) { revisions { number } changeable { cancellable lines { lineId changeable frozenBy { stepName } } } } }`,
			map[string]any{"id": id}, &ch)
		if len(ch.Order.Revisions) != 1 || ch.Order.Changeable.Cancellable {
			t.Errorf("order: %+v", ch.Order)
		}
		for _, l := range ch.Order.Changeable.Lines {
			if frozen := l.LineID == "L1"; l.Changeable == frozen || (frozen && (l.FrozenBy == nil || l.FrozenBy.StepName != "Activate")) {
				t.Errorf("line %+v", l)
			}
		}
		g := e.fail("PAST_POINT_OF_NO_RETURN", `mutation($id: ID!, $in: AmendOrderInput!) { amendOrder(orderId: $id, input: $in) { revision { number } } }`,
			map[string]any{"id": id, "in": map[string]any{"lines": amendLines("S1")}})
		if !strings.Contains(g.Message+" "+string(mustJSON(t, g.Extensions)), "L1") {
			t.Errorf("refusal %+v does not name L1", g)
		}
		var pc struct {
			PreviewCancellation struct {
				Refused []struct{ LineID, StepName string }
			}
		}
		e.do(`query($id: ID!) { previewCancellation(orderId: $id) { refused { lineId stepName } } }`, map[string]any{"id": id}, &pc)
		if len(pc.PreviewCancellation.Refused) != 1 || pc.PreviewCancellation.Refused[0].LineID != "L1" {
			t.Errorf("previewCancellation: %+v", pc)
		}

		// An order with nothing past its point of no return cancels.
		id2 := e.submit(map[string]any{"externalId": "amend-2", "accountId": "acme", "lines": amendLines("S1")})
		var c struct {
			CancelOrder struct {
				Order    struct{ Status string }
				Revision struct {
					Number int
					Kind   string
				}
			}
		}
		cancel := `mutation($id: ID!) { cancelOrder(orderId: $id, reason: "no longer needed") { order { status } revision { number kind } } }`
		e.do(cancel, map[string]any{"id": id2}, &c)
		if c.CancelOrder.Order.Status != "CANCELLED" || c.CancelOrder.Revision.Kind != "CANCEL" || c.CancelOrder.Revision.Number != 1 {
			t.Errorf("cancelOrder: %+v", c)
		}
		e.do(cancel, map[string]any{"id": id2}, &c)
		if c.CancelOrder.Revision.Number != 1 {
			t.Errorf("cancelling again made revision %d", c.CancelOrder.Revision.Number)
		}
		e.fail("INVALID_STATE", `mutation($id: ID!, $in: AmendOrderInput!) { amendOrder(orderId: $id, input: $in) { revision { number } } }`,
			map[string]any{"id": id2, "in": map[string]any{"lines": amendLines("S1", "S2")}})
	})
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
