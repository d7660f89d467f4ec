package plan

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/batonhq/baton/engine"
	"github.com/batonhq/baton/engine/catalog"
	"github.com/batonhq/baton/engine/enginetest"
)

// TestHostileBundleExpansionAtOrder: each bundle is within OrderLines, but
// an order of many of them would expand beyond it: BAD_USER_INPUT, before
// the lines are built.
func TestHostileBundleExpansionAtOrder(t *testing.T) {
	t.Parallel()
	l := engine.Limits{OrderLines: 1000}
	cat, err := catalog.CompileCatalog(enginetest.BundleLattice(8), catalog.CatalogOptions{Limits: l})
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
