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
	on, off := engine.SystemOnline, engine.SystemOffline
	tests := []struct {
		name             string
		s                *engine.SystemState
		circuit          engine.CircuitState
		open, held, free bool
	}{
		{"no state", nil, engine.CircuitClosed, false, false, false},
		{"online, never opened", &engine.SystemState{Status: on}, engine.CircuitClosed, false, false, false},
		{"open until later", &engine.SystemState{Status: on, OpenUntil: &after}, engine.CircuitOpen, true, true, false},
		{"cool-down passed: half-open, trial free", &engine.SystemState{Status: on, OpenUntil: &before}, engine.CircuitHalfOpen, false, false, true},
		{"open until exactly now: half-open", &engine.SystemState{Status: on, OpenUntil: &now}, engine.CircuitHalfOpen, false, false, true},
		{"half-open, announced", &engine.SystemState{Status: on, OpenUntil: &before, TrialUntil: &before}, engine.CircuitHalfOpen, false, false, true},
		{"half-open, trial under way", &engine.SystemState{Status: on, OpenUntil: &before, TrialStepID: 7, TrialUntil: &after}, engine.CircuitHalfOpen, false, true, false},
		{"half-open, trial being let through", &engine.SystemState{Status: on, OpenUntil: &before, TrialUntil: &after}, engine.CircuitHalfOpen, false, true, false},
		{"half-open, trial's turn ran out", &engine.SystemState{Status: on, OpenUntil: &before, TrialStepID: 7, TrialUntil: &now}, engine.CircuitHalfOpen, false, false, true},
		{"offline, circuit closed", &engine.SystemState{Status: off}, engine.CircuitClosed, false, true, false},
		{"offline and open", &engine.SystemState{Status: off, OpenUntil: &after}, engine.CircuitOpen, true, true, false},
		{"offline and half-open: no trial", &engine.SystemState{Status: off, OpenUntil: &before}, engine.CircuitHalfOpen, false, true, false},
	}
	for _, tt := range tests {
		if got := tt.s.Circuit(now); got != tt.circuit {
			t.Errorf("%s: Circuit = %s; want %s", tt.name, got, tt.circuit)
		}
		if got := tt.s.CircuitOpen(now); got != tt.open {
			t.Errorf("%s: CircuitOpen = %v; want %v", tt.name, got, tt.open)
		}
		if got := tt.s.Held(now); got != tt.held {
			t.Errorf("%s: Held = %v; want %v", tt.name, got, tt.held)
		}
		if got := tt.s.TrialFree(now); got != tt.free {
			t.Errorf("%s: TrialFree = %v; want %v", tt.name, got, tt.free)
		}
	}
}

// The trial's bookkeeping: seen HALF_OPEN once (announced), let through
// unnamed, named with its lease or given back.
func TestSystemStateTrial(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	cooled := now.Add(-time.Second)
	lease := now.Add(30 * time.Second)
	s := engine.SystemState{Name: "crm", Status: engine.SystemOnline, OpenUntil: &cooled, OpenCount: 1}

	seen, announced := s.HalfOpened(now)
	if !announced || seen.TrialUntil == nil || !seen.TrialUntil.Equal(cooled) || seen.TrialStepID != 0 || !seen.TrialFree(now) {
		t.Errorf("HalfOpened = %+v, %v; want announced, a trial free from the end of the cool-down", seen, announced)
	}
	if _, again := seen.HalfOpened(now); again {
		t.Errorf("HalfOpened announced twice")
	}
	open := now.Add(time.Second)
	if _, announced := (engine.SystemState{Status: engine.SystemOnline, OpenUntil: &open}).HalfOpened(now); announced {
		t.Errorf("HalfOpened announced an OPEN circuit")
	}
	if _, announced := (engine.SystemState{Status: engine.SystemOnline}).HalfOpened(now); announced {
		t.Errorf("HalfOpened announced a CLOSED circuit")
	}

	granted := s.WithTrial(0, now.Add(time.Hour), now)
	if !granted.TrialGranted(now) || granted.TrialFree(now) || !granted.Held(now) || granted.Circuit(now) != engine.CircuitHalfOpen {
		t.Errorf("WithTrial(0) = %+v; want a trial being let through, others held", granted)
	}
	named := granted.WithTrial(42, lease, now)
	if named.TrialGranted(now) || named.TrialStepID != 42 || !named.TrialUntil.Equal(lease) || !named.Held(now) {
		t.Errorf("WithTrial(42) = %+v; want step 42's trial until its lease, others held", named)
	}
	if !named.TrialFree(lease) {
		t.Errorf("the trial's turn ran out at its lease; want another free")
	}
	back := granted.WithoutTrial(now)
	if back.TrialGranted(now) || !back.TrialFree(now) || back.TrialStepID != 0 {
		t.Errorf("WithoutTrial = %+v; want the trial free again", back)
	}
	if s.TrialUntil != nil || s.TrialStepID != 0 {
		t.Errorf("the trial methods changed their receiver: %+v", s)
	}
}

func TestBreakerCoolDownFor(t *testing.T) {
	t.Parallel()
	b := engine.Breaker{Threshold: 2, CoolDown: 4 * time.Second}
	for _, tt := range []struct {
		opens int
		want  time.Duration
	}{{0, 4 * time.Second}, {1, 4 * time.Second}, {2, 8 * time.Second}, {3, 16 * time.Second}, {4, 32 * time.Second}, {5, 40 * time.Second}, {1000, 40 * time.Second}} {
		if got := b.CoolDownFor(tt.opens); got != tt.want {
			t.Errorf("CoolDownFor(%d) = %s; want %s", tt.opens, got, tt.want)
		}
	}
}

func TestSystemStateSwitched(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	open := now.Add(time.Minute)
	failing := engine.SystemState{Name: "crm", Status: engine.SystemOnline, Failures: 2, OpenUntil: &open, OpenCount: 3, TrialStepID: 9, TrialUntil: &open}
	off := failing.Switched(engine.SystemOffline, "ann", now, time.Second)
	if off.Status != engine.SystemOffline || off.Failures != 2 || off.OpenUntil != &open || off.ReleaseAt != nil || off.ChangedBy != "ann" || !off.UpdatedAt.Equal(now) {
		t.Errorf("OFFLINE = %+v; want only status, actor and time changed", off)
	}
	on := off.Switched(engine.SystemOnline, "bob", now, time.Second)
	if on.Status != engine.SystemOnline || on.Failures != 0 || on.OpenUntil != nil || on.OpenCount != 0 || on.TrialStepID != 0 || on.TrialUntil != nil ||
		on.ReleaseAt == nil || !on.ReleaseAt.Equal(now.Add(-time.Second)) || on.Circuit(now) != engine.CircuitClosed {
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
	closed, open, half := engine.CircuitClosed, engine.CircuitOpen, engine.CircuitHalfOpen
	none := engine.CircuitChange{}
	tests := []struct {
		name         string
		o            engine.Outcomes
		prior, opens int
		open         *time.Time
		breaker      engine.Breaker
		wantFailures int
		wantChange   engine.CircuitChange
		wantChanged  bool
		wantCircuit  engine.CircuitState
		wantCoolDown time.Duration // of an opening
		wantOpens    int
	}{
		{"one failure counts", engine.Outcomes{Failures: 1}, 0, 0, nil, b, 1, none, true, closed, 0, 0},
		{"below the threshold", engine.Outcomes{Failures: 1}, 1, 0, nil, b, 2, none, true, closed, 0, 0},
		{"at the threshold the circuit opens", engine.Outcomes{Failures: 1}, 2, 0, nil, b, 0, engine.CircuitChange{From: closed, To: open, After: 3}, true, open, time.Minute, 1},
		{"past the threshold in one transaction", engine.Outcomes{Failures: 5}, 0, 0, nil, b, 0, engine.CircuitChange{From: closed, To: open, After: 5}, true, open, time.Minute, 1},
		{"a success resets the count first", engine.Outcomes{Failures: 1, OK: true}, 2, 0, nil, b, 1, none, true, closed, 0, 0},
		{"a success alone, nothing counted", engine.Outcomes{OK: true}, 0, 0, nil, b, 0, none, false, closed, 0, 0},
		{"a success alone resets", engine.Outcomes{OK: true}, 2, 0, nil, b, 0, none, true, closed, 0, 0},
		{"already open: counted, not reopened", engine.Outcomes{Failures: 3}, 0, 1, &later, b, 3, none, true, open, 0, 1},
		{"open: a late success does not close", engine.Outcomes{OK: true}, 2, 1, &later, b, 0, none, true, open, 0, 1},
		{"half-open: failures in flight counted, not reopened", engine.Outcomes{Failures: 3}, 0, 1, &earlier, b, 3, none, true, half, 0, 1},
		{"half-open: a success in flight does not close", engine.Outcomes{OK: true}, 1, 1, &earlier, b, 0, none, true, half, 0, 1},
		{"half-open: the trial succeeded, closed", engine.Outcomes{Trial: engine.TrialSucceeded}, 2, 1, &earlier, b, 0, engine.CircuitChange{From: half, To: closed}, true, closed, 0, 0},
		{"half-open: the trial succeeded, failures beside it count", engine.Outcomes{Failures: 1, Trial: engine.TrialSucceeded}, 2, 1, &earlier, b, 1, engine.CircuitChange{From: half, To: closed}, true, closed, 0, 0},
		{"half-open: the trial failed, open again", engine.Outcomes{Trial: engine.TrialFailed}, 0, 1, &earlier, b, 0, engine.CircuitChange{From: half, To: open}, true, open, 2 * time.Minute, 2},
		{"half-open: the fifth opening in a row waits 10 cool-downs", engine.Outcomes{Trial: engine.TrialFailed}, 0, 4, &earlier, b, 0, engine.CircuitChange{From: half, To: open}, true, open, 10 * time.Minute, 5},
		{"no breaker never opens", engine.Outcomes{Failures: 9}, 0, 0, nil, engine.Breaker{}, 9, none, true, closed, 0, 0},
		{"no breaker: a circuit left half-open closes on its trial", engine.Outcomes{Trial: engine.TrialSucceeded}, 0, 1, &earlier, engine.Breaker{}, 0, engine.CircuitChange{From: half, To: closed}, true, closed, 0, 0},
	}
	for _, tt := range tests {
		s := engine.SystemState{Name: "crm", Status: engine.SystemOnline, Failures: tt.prior, OpenUntil: tt.open, OpenCount: tt.opens}
		if tt.open != nil && !tt.open.After(now) {
			s.TrialStepID, s.TrialUntil = 7, &later
		}
		next, ch, changed := s.AfterOutcomes(tt.o, tt.breaker, now)
		if next.Failures != tt.wantFailures || ch != tt.wantChange || changed != tt.wantChanged {
			t.Errorf("%s: failures %d, change %+v, changed %v; want %d, %+v, %v", tt.name,
				next.Failures, ch, changed, tt.wantFailures, tt.wantChange, tt.wantChanged)
		}
		if got := next.Circuit(now); got != tt.wantCircuit || next.OpenCount != tt.wantOpens {
			t.Errorf("%s: circuit %s opened %d times; want %s, %d", tt.name, got, next.OpenCount, tt.wantCircuit, tt.wantOpens)
		}
		if ch.To == open {
			end := now.Add(tt.wantCoolDown)
			if next.OpenUntil == nil || !next.OpenUntil.Equal(end) || next.ReleaseAt == nil || !next.ReleaseAt.Equal(end.Add(-10*time.Second)) {
				t.Errorf("%s: opened until %v, release from %v; want the cool-down %s, released from one interval before its end", tt.name, next.OpenUntil, next.ReleaseAt, tt.wantCoolDown)
			}
		}
		if ch.To != "" && (next.TrialStepID != 0 || next.TrialUntil != nil) {
			t.Errorf("%s: the change kept the trial (%d until %v)", tt.name, next.TrialStepID, next.TrialUntil)
		}
		if ch.To == "" && tt.open != nil && !tt.open.After(now) && (next.TrialStepID != 7 || next.TrialUntil == nil) {
			t.Errorf("%s: counting dropped the trial under way", tt.name)
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
		wantReleaseAt    *time.Time
	}{
		{"offline releases nothing", engine.SystemState{Status: engine.SystemOffline}, time.Second, time.Second, 10, 0, nil},
		{"open circuit releases nothing", engine.SystemState{Status: engine.SystemOnline, OpenUntil: at(time.Second)}, time.Second, time.Second, 10, 0, nil},
		{"no rate: all at once", engine.SystemState{Status: engine.SystemOnline}, 0, time.Second, 10, 10, nil},
		{"cool-down over: the trial alone", engine.SystemState{Status: engine.SystemOnline, OpenUntil: at(0), ReleaseAt: at(-time.Second)}, time.Second, time.Second, 10, 1, at(0)},
		{"cool-down over, no rate: the trial alone", engine.SystemState{Status: engine.SystemOnline, OpenUntil: at(-time.Hour)}, 0, time.Second, 10, 1, nil},
		{"half-open, trial under way: nothing", engine.SystemState{Status: engine.SystemOnline, OpenUntil: at(-time.Minute), TrialStepID: 3, TrialUntil: at(time.Second), ReleaseAt: at(-time.Minute)}, time.Second, time.Second, 10, 0, at(-time.Minute)},
		{"half-open, the trial's turn ran out: another", engine.SystemState{Status: engine.SystemOnline, OpenUntil: at(-time.Minute), TrialStepID: 3, TrialUntil: at(0), ReleaseAt: at(-time.Minute)}, time.Second, time.Second, 10, 1, at(0)},
		{"half-open, offline: nothing", engine.SystemState{Status: engine.SystemOffline, OpenUntil: at(-time.Minute)}, time.Second, time.Second, 10, 0, nil},
		{"one per interval since the last release", engine.SystemState{Status: engine.SystemOnline, ReleaseAt: at(-3500 * time.Millisecond)}, time.Second, time.Minute, 10, 3, at(-500 * time.Millisecond)},
		{"capped by most", engine.SystemState{Status: engine.SystemOnline, ReleaseAt: at(-time.Minute)}, time.Second, time.Minute, 10, 10, at(-50 * time.Second)},
		{"an idle system saves up only the window", engine.SystemState{Status: engine.SystemOnline, ReleaseAt: at(-time.Hour)}, time.Second, 2 * time.Second, 10, 2, at(0)},
		{"not yet due", engine.SystemState{Status: engine.SystemOnline, ReleaseAt: at(-500 * time.Millisecond)}, time.Second, time.Second, 10, 0, at(-500 * time.Millisecond)},
	}
	for _, tt := range tests {
		next, n := tt.s.Release(now, tt.interval, tt.window, tt.most)
		if n != tt.wantN {
			t.Errorf("%s: n %d; want %d", tt.name, n, tt.wantN)
		}
		if (next.ReleaseAt == nil) != (tt.wantReleaseAt == nil) || next.ReleaseAt != nil && !next.ReleaseAt.Equal(*tt.wantReleaseAt) {
			t.Errorf("%s: release from %v; want %v", tt.name, next.ReleaseAt, tt.wantReleaseAt)
		}
		if got, was := next.Circuit(now), tt.s.Circuit(now); got != was {
			t.Errorf("%s: the release changed the circuit from %s to %s", tt.name, was, got)
		}
	}
}
