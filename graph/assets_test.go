package graph_test

import (
	"strings"
	"testing"

	"github.com/batonhq/baton/engine/enginetest"
)

const assetsCatalog = `version: 1
systems: {}
products:
  - {code: SRV, type: COMMERCIAL}
  - {code: T-SRV, type: TECHNICAL}
decomposition:
  - {name: srv, from: SRV, to: T-SRV}
scenarios:
  - name: main
    groups: [{name: Work, steps: [{name: Done, type: MILESTONE}]}]
`

// Through the API: an ADD order makes an asset with its history; another
// account's asset is refused like a missing one; a DISCONNECT adds to the
// history; a second one is INVALID_STATE.
func TestAssetsThroughTheAPI(t *testing.T) {
	t.Parallel()
	enginetest.EachBackend(t, func(t *testing.T, url string) {
		e := newEnv(t, url, envOptions{catalog: assetsCatalog})
		e.submit(map[string]any{"externalId": "as-1", "accountId": "acme", "lines": []any{map[string]any{"id": "L1", "productCode": "SRV"}}})
		e.submit(map[string]any{"externalId": "as-2", "accountId": "other", "lines": []any{map[string]any{"id": "L1", "productCode": "SRV"}}})
		type asset struct {
			ID      string
			Status  string
			History []struct{ Action, ToStatus string }
		}
		read := func(acct string) []asset {
			var out struct {
				Assets struct{ Edges []struct{ Node asset } }
			}
			e.do(`query($a: String!) { assets(where: {accountID: $a}) { edges { node { id status history { action toStatus } } } } }`,
				map[string]any{"a": acct}, &out)
			var list []asset
			for _, ed := range out.Assets.Edges {
				list = append(list, ed.Node)
			}
			return list
		}
		mine, theirs := read("acme"), read("other")
		if len(mine) != 1 || len(theirs) != 1 || len(mine[0].History) != 1 || mine[0].History[0].Action != "ADD" {
			t.Fatalf("assets: %+v / %+v", mine, theirs)
		}
		submit := `mutation($in: SubmitOrderInput!) { submitOrder(input: $in) { id status } }`
		line := func(ext, asset string) map[string]any {
			return map[string]any{"in": map[string]any{"externalId": ext, "accountId": "acme",
				"lines": []any{map[string]any{"id": "L1", "productCode": "SRV", "action": "DISCONNECT", "assetId": asset}}}}
		}
		g := e.fail("BAD_USER_INPUT", submit, line("as-3", theirs[0].ID))
		if !strings.Contains(g.Message+errorProblems(g), "unknown asset") {
			t.Errorf("another account's asset: %+v", g)
		}
		e.do(submit, line("as-4", mine[0].ID), nil)
		if got := read("acme")[0]; got.Status != "DISCONNECTED" || len(got.History) != 2 || got.History[1].ToStatus != "DISCONNECTED" {
			t.Errorf("after DISCONNECT: %+v", got)
		}
		e.fail("INVALID_STATE", submit, line("as-5", mine[0].ID))
	})
}

func errorProblems(g gqlError) string {
	var b strings.Builder
	for _, p := range g.Extensions.Problems {
		b.WriteString(" " + p.Message)
	}
	return b.String()
}
