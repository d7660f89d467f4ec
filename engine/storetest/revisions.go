package storetest

import (
	"testing"
)

// revisionTests: what revising an order keeps — revisions, revised lines
// and removed items, frozen plans, plan statuses, a plan's own
// dependencies, compensation steps and plans related by group key.
var revisionTests = map[string]func(t *testing.T, b *bundle){}
