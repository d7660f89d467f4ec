package entstore_test

import (
	"context"
	"testing"

	"github.com/batonhq/baton/engine"
	"github.com/batonhq/baton/engine/enginetest"
	"github.com/batonhq/baton/engine/entstore"
	"github.com/batonhq/baton/engine/storetest"
)

// TestStore runs the store suite on SQLite and, with the test services,
// PostgreSQL.
func TestStore(t *testing.T) {
	for _, be := range enginetest.Backends() {
		t.Run(be.Name, func(t *testing.T) {
			t.Parallel()
			storetest.Run(t, func(t *testing.T, clock engine.Clock) engine.Store {
				s, err := entstore.Open(context.Background(), be.URL(t), entstore.Options{Clock: clock, Logger: enginetest.Logger(t)})
				if err != nil {
					t.Fatalf("open %s: %v", be.Name, err)
				}
				t.Cleanup(func() { s.Close() })
				return s
			})
		})
	}
}
