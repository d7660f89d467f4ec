package graph

import (
	"testing"

	"github.com/batonhq/baton/ent/event"
	"github.com/batonhq/baton/graph/model"
)

// Every kind of event a client can subscribe to is one the store can keep:
// the ent schema's enum once lacked SYSTEM_STATUS.
func TestEventKindsStorable(t *testing.T) {
	t.Parallel()
	for _, k := range model.AllEventKind {
		if err := event.KindValidator(event.Kind(k)); err != nil {
			t.Errorf("event.KindValidator(%q) = %v; want nil", k, err)
		}
	}
}
