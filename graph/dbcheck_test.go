package graph_test

import (
	"github.com/batonhq/baton/engine/enginetest"
	"github.com/batonhq/baton/engine/entstore"
)

// Every database a test of this package uses is checked for dangling
// references when the test ends.
func init() { enginetest.CheckDatabases(entstore.CheckURL) }
