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

func TestSystemStateSwitched(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	open := now.Add(time.Minute)
	failing := engine.SystemState{Name: "crm", Status: engine.SystemOnline, Failures: 2, OpenUntil: &open}
	off := failing.Switched(engine.SystemOffline, "ann", now, time.Second)
	if off.Status != engine.SystemOffline || off.Failures != 2 || off.OpenUntil != &open || off.ReleaseAt != nil || off.ChangedBy != "ann" || !off.UpdatedAt.Equal(now) {
		t.Errorf("OFFLINE = %+v; want only status, actor and time changed", off)
	}
	on := off.Switched(engine.SystemOnline, "bob", now, time.Second)
	if on.Status != engine.SystemOnline || on.Failures != 0 || on.OpenUntil != nil || on.ReleaseAt == nil || !on.ReleaseAt.Equal(now.Add(-time.Second)) {
		t.Errorf("ONLINE = %+v; want failures and circuit cleared, release from one interval back", on)
	}
	if failing.Status != engine.SystemOnline || failing.Failures != 2 {
		t.Errorf("Switched changed its receiver: %+v", failing)
	}
}

func TestSystemStateAfterOutcomes(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	later, earlier := now.Add(time.Second), now.Add(-time.Second)
	b := engine.Breaker{Threshold: 3, CoolDown: time.Minute, Interval: 10 * time.Second}
	tests := []struct {
		name            string
		failures, prior int
		ok              bool
		open            *time.Time
		breaker         engine.Breaker
		wantFailures    int
		wantOpenedAfter int
		wantChanged     bool
	}{
		{"one failure counts", 1, 0, false, nil, b, 1, 0, true},
		{"below the threshold", 1, 1, false, nil, b, 2, 0, true},
		{"at the threshold the circuit opens", 1, 2, false, nil, b, 0, 3, true},
		{"past the threshold in one transaction", 5, 0, false, nil, b, 0, 5, true},
		{"a success resets the count first", 1, 2, true, nil, b, 1, 0, true},
		{"a success alone, nothing counted", 0, 0, true, nil, b, 0, 0, false},
		{"a success alone resets", 0, 2, true, nil, b, 0, 0, true},
		{"already open: counted, not reopened", 3, 0, false, &later, b, 3, 0, true},
		{"open period passed: opens again", 3, 0, false, &earlier, b, 0, 3, true},
		{"no breaker never opens", 9, 0, false, nil, engine.Breaker{}, 9, 0, true},
	}
	for _, tt := range tests {
		s := engine.SystemState{Name: "crm", Status: engine.SystemOnline, Failures: tt.prior, OpenUntil: tt.open}
		next, after, changed := s.AfterOutcomes(tt.failures, tt.ok, tt.breaker, now)
		if next.Failures != tt.wantFailures || after != tt.wantOpenedAfter || changed != tt.wantChanged {
			t.Errorf("%s: failures %d, openedAfter %d, changed %v; want %d, %d, %v", tt.name,
				next.Failures, after, changed, tt.wantFailures, tt.wantOpenedAfter, tt.wantChanged)
		}
		if after > 0 {
			if next.OpenUntil == nil || !next.OpenUntil.Equal(now.Add(time.Minute)) || next.ReleaseAt == nil || !next.ReleaseAt.Equal(now.Add(50*time.Second)) {
				t.Errorf("%s: opened until %v, release from %v; want the cool-down, released from one interval before its end", tt.name, next.OpenUntil, next.ReleaseAt)
			}
		}
	}
}

func TestSystemStateRelease(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	at := func(d time.Duration) *time.Time { v := now.Add(d); return &v }
	tests := []struct {
		name             string
		s                engine.SystemState
		interval, window time.Duration
		most             int
		wantN            int
		wantClosed       bool
		wantReleaseAt    *time.Time
	}{
		{"offline releases nothing", engine.SystemState{Status: engine.SystemOffline}, time.Second, time.Second, 10, 0, false, nil},
		{"open circuit releases nothing", engine.SystemState{Status: engine.SystemOnline, OpenUntil: at(time.Second)}, time.Second, time.Second, 10, 0, false, nil},
		{"no rate: all at once", engine.SystemState{Status: engine.SystemOnline}, 0, time.Second, 10, 10, false, nil},
		{"cool-down over closes the circuit", engine.SystemState{Status: engine.SystemOnline, OpenUntil: at(0), ReleaseAt: at(-time.Second)}, time.Second, time.Second, 10, 1, true, at(0)},
		{"one per interval since the last release", engine.SystemState{Status: engine.SystemOnline, ReleaseAt: at(-3500 * time.Millisecond)}, time.Second, time.Minute, 10, 3, false, at(-500 * time.Millisecond)},
		{"capped by most", engine.SystemState{Status: engine.SystemOnline, ReleaseAt: at(-time.Minute)}, time.Second, time.Minute, 10, 10, false, at(-50 * time.Second)},
		{"an idle system saves up only the window", engine.SystemState{Status: engine.SystemOnline, ReleaseAt: at(-time.Hour)}, time.Second, 2 * time.Second, 10, 2, false, at(0)},
		{"not yet due", engine.SystemState{Status: engine.SystemOnline, ReleaseAt: at(-500 * time.Millisecond)}, time.Second, time.Second, 10, 0, false, at(-500 * time.Millisecond)},
	}
	for _, tt := range tests {
		next, n, closed := tt.s.Release(now, tt.interval, tt.window, tt.most)
		if n != tt.wantN || closed != tt.wantClosed {
			t.Errorf("%s: n %d, closed %v; want %d, %v", tt.name, n, closed, tt.wantN, tt.wantClosed)
		}
		if (next.ReleaseAt == nil) != (tt.wantReleaseAt == nil) || next.ReleaseAt != nil && !next.ReleaseAt.Equal(*tt.wantReleaseAt) {
			t.Errorf("%s: release from %v; want %v", tt.name, next.ReleaseAt, tt.wantReleaseAt)
		}
		if closed && next.OpenUntil != nil {
			t.Errorf("%s: closed but still open until %v", tt.name, next.OpenUntil)
		}
	}
}
