package graph_test

import (
	"testing"

	"github.com/batonhq/baton/engine/enginetest"
)

// Once the store is closed (the server shutting down), reads and writes
// answer UNAVAILABLE, which a client may retry, not INTERNAL_SERVER_ERROR.
func TestClosedStoreIsUnavailable(t *testing.T) {
	t.Parallel()
	e := newEnv(t, enginetest.SQLiteURL(t), envOptions{})
	if err := e.store.Close(); err != nil {
		t.Fatal(err)
	}
	expectError(t, e.post(`{ orders(first: 1) { totalCount } }`, nil), "UNAVAILABLE")
	expectError(t, e.post(`mutation { submitOrder(input: {externalId: "x", accountId: "a",
		lines: [{id: "L1", productCode: "PRO-SERVER-PKG", quantity: 1}]}) { id } }`, nil), "UNAVAILABLE")
}
