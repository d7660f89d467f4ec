package plan

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/batonhq/baton/engine"
	"github.com/batonhq/baton/engine/catalog"
)

// bundleLattice is a catalog whose bundles B0…Bn-1 each hold the next
// level twice over (Bi+1 and Ci+1, both holding Bi+2 and Ci+2): 2^n paths
// from B0 down, through only 2n products.
func bundleLattice(n int) string {
	var b strings.Builder
	b.WriteString("version: 1\nproducts:\n")
	for i := range n {
		for _, p := range []string{"B", "C"} {
			fmt.Fprintf(&b, "  - code: %s%d\n    components: [{product: B%d}, {product: C%d}]\n", p, i, i+1, i+1)
		}
	}
	fmt.Fprintf(&b, "  - {code: B%d}\n  - {code: C%d}\n", n, n)
	b.WriteString(`scenarios:
  - name: s
    groups:
      - name: g
        steps:
          - {name: m, type: MILESTONE}
`)
	return b.String()
}

// TestHostileBundleExpansionAtOrder: each bundle is within OrderLines, but
// an order of many of them would expand beyond it: BAD_USER_INPUT, before
// the lines are built.
func TestHostileBundleExpansionAtOrder(t *testing.T) {
	t.Parallel()
	l := engine.Limits{OrderLines: 1000}
	cat, err := catalog.CompileCatalog(bundleLattice(8), catalog.CatalogOptions{Limits: l})
	if err != nil {
		t.Fatal(err)
	}
	in := &engine.OrderInput{ExternalID: "x", AccountID: "a"}
	for i := range 3 {
		in.Lines = append(in.Lines, engine.LineInput{ID: fmt.Sprint("L", i), ProductCode: "B0", Quantity: 1, Action: engine.ActionAdd})
	}
	_, err = Decompose(cat, in, &engine.AccountState{ID: "a"}, time.Unix(0, 0))
	if e, ok := err.(*engine.Error); !ok || e.Code != engine.CodeBadUserInput || !strings.Contains(e.Message, "OrderLines") {
		t.Errorf("Decompose(3 lines of a 511-line bundle, OrderLines 1000): %v; want BAD_USER_INPUT naming OrderLines", err)
	}
	in.Lines = in.Lines[:1]
	d, err := Decompose(cat, in, &engine.AccountState{ID: "a"}, time.Unix(0, 0))
	if err != nil {
		t.Fatalf("Decompose(1 line of a 511-line bundle): %v", err)
	}
	if len(d.Lines) != 511 {
		t.Errorf("Decompose(1 line of a 511-line bundle): %d lines; want 511", len(d.Lines))
	}
}
