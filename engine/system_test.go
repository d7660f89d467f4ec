package engine_test

import (
	"testing"
	"time"

	"github.com/batonhq/baton/engine"
)

func TestSystemStateCircuitAndHeld(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	before, after := now.Add(-time.Second), now.Add(time.Second)
	tests := []struct {
		name       string
		s          *engine.SystemState
		open, held bool
	}{
		{"no state", nil, false, false},
		{"online, never opened", &engine.SystemState{Status: engine.SystemOnline}, false, false},
		{"open until later", &engine.SystemState{Status: engine.SystemOnline, OpenUntil: &after}, true, true},
		{"open period passed", &engine.SystemState{Status: engine.SystemOnline, OpenUntil: &before}, false, false},
		{"open until exactly now", &engine.SystemState{Status: engine.SystemOnline, OpenUntil: &now}, false, false},
		{"offline, circuit closed", &engine.SystemState{Status: engine.SystemOffline}, false, true},
		{"offline and open", &engine.SystemState{Status: engine.SystemOffline, OpenUntil: &after}, true, true},
	}
	for _, tt := range tests {
		if got := tt.s.CircuitOpen(now); got != tt.open {
			t.Errorf("%s: CircuitOpen = %v; want %v", tt.name, got, tt.open)
		}
		if got := tt.s.Held(now); got != tt.held {
			t.Errorf("%s: Held = %v; want %v", tt.name, got, tt.held)
		}
	}
}
