package orchestrator

import (
	"context"
	"fmt"
	"github.com/batonhq/baton/engine"
	"github.com/batonhq/baton/engine/access"
	"github.com/batonhq/baton/engine/catalog"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// systemCache keeps the systems' states for a second, so that claiming a
// callout does not read the database; changes made here, and the work
// signal other replicas send after changing one, invalidate it.
type systemCache struct {
	mu     sync.Mutex
	states map[string]*engine.SystemState
	age    engine.Stopwatch // wall time since states were read
	valid  bool
}

const systemCacheTTL = time.Second

func (e *Engine) invalidateSystems() {
	e.systems.mu.Lock()
	e.systems.valid = false
	e.systems.mu.Unlock()
}

// cachedSystem returns a copy of the system's state as this replica last
// read it (nil: no row yet). A stale cache is refreshed through tx when one
// is given (code holding a transaction must not wait for a second
// connection).
func (e *Engine) cachedSystem(ctx context.Context, tx engine.Tx, name string) (*engine.SystemState, error) {
	c := &e.systems
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.valid || c.age.Elapsed() > systemCacheTTL {
		var states map[string]*engine.SystemState
		var err error
		if tx != nil {
			states, err = tx.SystemStates(ctx)
		} else {
			states, err = e.store.SystemStates(ctx)
		}
		if err != nil {
			// In a transaction the failed read has aborted it (PostgreSQL):
			// the caller must fail, not carry on as if the system were up.
			return nil, fmt.Errorf("read system states: %w", err)
		}
		c.states, c.age, c.valid = states, engine.StartStopwatch(), true
	}
	if st := c.states[name]; st != nil {
		cp := *st
		return &cp, nil
	}
	return nil, nil
}

// cachedSystems returns copies of every system's state, as cachedSystem.
func (e *Engine) cachedSystems(ctx context.Context) ([]*engine.SystemState, error) {
	if _, err := e.cachedSystem(ctx, nil, ""); err != nil {
		return nil, err
	}
	c := &e.systems
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]*engine.SystemState, 0, len(c.states))
	for _, st := range c.states {
		cp := *st
		out = append(out, &cp)
	}
	return out, nil
}

// trialGrantSpan is how long a trial let through by systemHeld holds the
// system's row as "taken" before the same transaction names the callout
// and its lease (applyCircuits); it never commits.
const trialGrantSpan = time.Hour

// systemHeld reports whether callouts to the system wait at now. When the
// system's circuit is HALF_OPEN with its trial free and tx is given, the
// callout about to be activated in tx takes the trial: the row is locked
// and the trial recorded on it, so that one callout goes, whichever
// replica activates it; the transaction names the callout before it
// commits (nameTrials). Without tx nothing is taken.
func (e *Engine) systemHeld(ctx context.Context, tx engine.Tx, name string, now time.Time) (bool, error) {
	st, err := e.cachedSystem(ctx, tx, name)
	if err != nil {
		return false, err
	}
	if tx == nil || !st.TrialFree(now) {
		return st.Held(now), nil
	}
	cur, err := tx.LockSystem(ctx, name)
	if err != nil {
		return false, err
	}
	if !cur.TrialFree(now) {
		return cur.Held(now), nil
	}
	next, announced := cur.HalfOpened(now)
	if announced {
		tx.Emit(halfOpenEvent(name, now))
	}
	next = next.WithTrial(0, now.Add(trialGrantSpan), now)
	if err := tx.SaveSystem(ctx, &next); err != nil {
		return false, err
	}
	return false, nil
}

// circuitEvent is the CIRCUIT_STATE event of a change of name's circuit.
func circuitEvent(name string, from, to engine.CircuitState, at time.Time, actor, note string) *engine.Event {
	return &engine.Event{Kind: engine.EventCircuitState, System: name, From: string(from), To: string(to), At: at, Actor: actor, Note: note}
}

func halfOpenEvent(name string, at time.Time) *engine.Event {
	return circuitEvent(name, engine.CircuitOpen, engine.CircuitHalfOpen, at, "", "cool-down over: one trial call may go")
}

// SetSystemStatus takes a system OFFLINE (its callouts wait ON_HOLD) or
// brings it ONLINE (its circuit closes and held callouts are released at
// the system's releaseRate per minute). Errors: NOT_FOUND for a system the
// current catalog does not define; BAD_USER_INPUT for another status, or
// for a name or note past the input limits.
func (e *Engine) SetSystemStatus(ctx context.Context, name string, status engine.SystemStatus, note string) (*engine.SystemState, error) {
	if err := access.Require(ctx, access.SystemManage); err != nil {
		return nil, err
	}
	if err := newInputCheck(e.limits).actor(ctx).name("system", name).text("note", note).err(); err != nil {
		return nil, err
	}
	if status != engine.SystemOnline && status != engine.SystemOffline {
		return nil, engine.Errorf(engine.CodeBadUserInput, "status must be ONLINE or OFFLINE, not %q", status)
	}
	cat, err := e.CurrentCatalog(ctx)
	if err != nil {
		return nil, err
	}
	def := cat.Systems[name]
	if def == nil {
		// A system an older catalog version defined still has plans that
		// call it (and may have callouts held for it).
		states, err := e.store.SystemStates(ctx)
		if err != nil {
			return nil, err
		}
		held, err := e.store.HeldCounts(ctx)
		if err != nil {
			return nil, err
		}
		if states[name] == nil && held[name] == 0 {
			return nil, engine.Errorf(engine.CodeNotFound, "system %q is not in the current catalog (systems: %s)", name, strings.Join(cat.SystemNames(), ", "))
		}
		def = &catalog.SystemDef{Name: name}
	}
	actor := ActorFrom(ctx)
	var state *engine.SystemState
	err = e.write(ctx, func(st *txState) error {
		// prev is read under the row lock SetSystemStatus takes: a circuit
		// that opened concurrently is seen, and its closing announced.
		prev, err := st.tx.LockSystem(st.ctx, name)
		if err != nil {
			return err
		}
		cur := prev.Switched(status, actor, st.now, releaseInterval(def.ReleaseRate))
		if err := st.tx.SaveSystem(st.ctx, &cur); err != nil {
			return err
		}
		circuit := prev.Circuit(st.now)
		state = &cur
		if prev.Status != cur.Status {
			st.tx.Emit(&engine.Event{Kind: engine.EventSystemStatus, System: name, From: string(prev.Status), To: string(cur.Status), At: st.now,
				Actor: actor, Note: note})
		}
		if circuit != engine.CircuitClosed && status == engine.SystemOnline {
			// The SYSTEM_STATUS circuit events of old: CIRCUIT_OPEN covers
			// HALF_OPEN (not closed yet).
			st.tx.Emit(&engine.Event{Kind: engine.EventSystemStatus, System: name, From: "CIRCUIT_OPEN", To: "CIRCUIT_CLOSED", At: st.now,
				Actor: actor, Note: note})
			if _, announced := prev.HalfOpened(st.now); announced {
				// Not seen HALF_OPEN yet (it was OFFLINE, say): the change
				// is told first, so that the events tell every state.
				st.tx.Emit(halfOpenEvent(name, st.now))
			}
			st.tx.Emit(circuitEvent(name, circuit, engine.CircuitClosed, st.now, actor, note))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	e.invalidateSystems()
	e.signalWork()
	if r := e.runner(); r != nil {
		r.wakeReleaser()
	}
	return state, nil
}

// releaseInterval is the pause between two released callouts of a
// system (0: release all at once).
func releaseInterval(perMinute int) time.Duration {
	if perMinute <= 0 {
		return 0
	}
	return time.Minute / time.Duration(perMinute)
}

// callResult is what one callout told of its system.
type callResult int

const (
	callOK      callResult = iota // it succeeded
	callRefused                   // the system answered, refusing the request (not retryable)
	callFailed                    // a retryable failure
)

// circuitOutcomes are, per system, the callout outcomes of a transaction
// by step, for the breakers.
type circuitOutcomes struct {
	calls map[string]map[int]callResult
	defs  map[string]*catalog.SystemDef
}

// countCircuit records the outcome of callout r for its system's breaker
// (applyCircuits counts them; r tells whether it was the half-open trial).
func (s *txState) countCircuit(r *engine.StepRecord, def *catalog.StepDef, err error) {
	if def.Callout == nil || def.Callout.System == nil {
		return
	}
	sys := def.Callout.System
	if s.circuit.defs == nil {
		s.circuit = circuitOutcomes{calls: map[string]map[int]callResult{}, defs: map[string]*catalog.SystemDef{}}
	}
	s.circuit.defs[sys.Name] = sys
	if s.circuit.calls[sys.Name] == nil {
		s.circuit.calls[sys.Name] = map[int]callResult{}
	}
	res := callOK
	if err != nil {
		res = callFailed
		if se, isStep := err.(*StepError); isStep && !se.Retryable {
			res = callRefused // the system answered; the request was wrong
		}
	}
	s.circuit.calls[sys.Name][r.ID] = res
}

// applyCircuits names the half-open trials this transaction let through
// (nameTrials), then records the transaction's outcomes per system: it
// opens the circuit of a system that reached its failure threshold, and
// the trial's outcome closes a HALF_OPEN circuit or opens it again.
func (s *txState) applyCircuits() error {
	if err := s.nameTrials(); err != nil {
		return err
	}
	defs, calls := s.circuit.defs, s.circuit.calls
	s.circuit = circuitOutcomes{}
	// Systems' rows are locked in name order, in every transaction.
	for _, name := range slices.Sorted(maps.Keys(defs)) {
		sys := defs[name]
		cached, err := s.e.cachedSystem(s.ctx, s.tx, name)
		if err != nil {
			return err
		}
		var o engine.Outcomes
		for _, res := range calls[name] {
			switch res {
			case callOK:
				o.OK = true
			case callFailed:
				o.Failures++
			}
		}
		if cached.Circuit(s.now) == engine.CircuitClosed {
			if sys.CircuitFailures <= 0 {
				continue // no breaker, and no circuit left open by an older catalog
			}
			if o.Failures == 0 {
				// Only successes (or refusals): reset the count, if there is one.
				if o.OK {
					if err := s.tx.ClearSystemFailures(s.ctx, name); err != nil {
						return err
					}
				}
				continue
			}
		}
		cur, err := s.tx.LockSystem(s.ctx, name)
		if err != nil {
			return err
		}
		o = engine.Outcomes{}
		trial := 0
		if cur.Circuit(s.now) == engine.CircuitHalfOpen && cur.TrialStepID != 0 {
			if res, ok := calls[name][cur.TrialStepID]; ok {
				trial = cur.TrialStepID
				o.Trial = engine.TrialSucceeded
				if res == callFailed {
					o.Trial = engine.TrialFailed
				}
			}
		}
		for id, res := range calls[name] {
			switch {
			case id == trial:
			case res == callOK:
				o.OK = true
			case res == callFailed:
				o.Failures++
			}
		}
		breaker := engine.Breaker{Threshold: sys.CircuitFailures, CoolDown: sys.CircuitCoolDown, Interval: releaseInterval(sys.ReleaseRate)}
		next, ch, changed := cur.AfterOutcomes(o, breaker, s.now)
		if changed {
			if err := s.tx.SaveSystem(s.ctx, &next); err != nil {
				return err
			}
		}
		if ch.To == "" {
			continue
		}
		s.systemsChanged = true
		switch ch.To {
		case engine.CircuitOpen:
			if s.openedNow == nil {
				s.openedNow = map[string]bool{}
			}
			s.openedNow[name] = true
			until := next.OpenUntil.Format(time.RFC3339)
			if ch.From == engine.CircuitClosed {
				note := "circuit opened after " + strconv.Itoa(ch.After) + " consecutive failures, until " + until
				s.tx.Emit(&engine.Event{Kind: engine.EventSystemStatus, System: name, From: "CIRCUIT_CLOSED", To: "CIRCUIT_OPEN", At: s.now, Note: note})
				s.tx.Emit(circuitEvent(name, ch.From, ch.To, s.now, "", note))
			} else {
				s.tx.Emit(circuitEvent(name, ch.From, ch.To, s.now, "", fmt.Sprintf("trial call (step %d) failed: open again until %s (opened %d times in a row)",
					trial, until, next.OpenCount)))
			}
		case engine.CircuitClosed:
			note := fmt.Sprintf("trial call (step %d) succeeded", trial)
			s.tx.Emit(&engine.Event{Kind: engine.EventSystemStatus, System: name, From: "CIRCUIT_OPEN", To: "CIRCUIT_CLOSED", At: s.now, Note: note})
			s.tx.Emit(circuitEvent(name, ch.From, ch.To, s.now, "", note))
		}
	}
	return nil
}

// nameTrials completes the half-open trials systemHeld let through in this
// transaction: the callout claimed for the system is named on its row,
// its turn running until the callout's lease; a trial let through but
// not claimed (left READY for later) is given back.
func (s *txState) nameTrials() error {
	var names map[string]bool
	for _, r := range s.dirty {
		if r.Type == engine.Callout && r.System != "" && (r.Status == engine.StepReady || r.Status == engine.StepRunning) {
			if names == nil {
				names = map[string]bool{}
			}
			names[r.System] = true
		}
	}
	for _, name := range slices.Sorted(maps.Keys(names)) {
		// Only a circuit this replica saw HALF_OPEN lets a trial through.
		cached, err := s.e.cachedSystem(s.ctx, s.tx, name)
		if err != nil {
			return err
		}
		if cached.Circuit(s.now) != engine.CircuitHalfOpen {
			continue
		}
		cur, err := s.tx.LockSystem(s.ctx, name)
		if err != nil {
			return err
		}
		if !cur.TrialGranted(s.now) {
			continue
		}
		var trial *engine.StepRecord
		for _, c := range s.claimed {
			if c.Step.Type == engine.Callout && c.Step.System == name && c.Step.LeaseUntil != nil {
				trial = c.Step
			}
		}
		next := cur.WithoutTrial(s.now)
		if trial != nil {
			next = cur.WithTrial(trial.ID, *trial.LeaseUntil, s.now)
		}
		if err := s.tx.SaveSystem(s.ctx, &next); err != nil {
			return err
		}
		s.systemsChanged = true
	}
	return nil
}

// takeRelease reserves up to most held callouts of a system for release
// now (see engine.SystemState.Release), locking the system's row: of a
// HALF_OPEN circuit, the one trial. A circuit seen HALF_OPEN for the
// first time is announced (announced).
func (s *txState) takeRelease(name string, interval, window time.Duration, most int) (n int, announced bool, err error) {
	cur, err := s.tx.LockSystem(s.ctx, name)
	if err != nil {
		return 0, false, err
	}
	next, announced := cur.HalfOpened(s.now)
	if announced {
		s.tx.Emit(halfOpenEvent(name, s.now))
	}
	next, n = next.Release(s.now, interval, window, most)
	if announced || (interval > 0 && n > 0) { // seen HALF_OPEN, or the release moved on
		if err := s.tx.SaveSystem(s.ctx, &next); err != nil {
			return 0, false, err
		}
	}
	return n, announced, nil
}

// announceHalfOpen records a circuit seen HALF_OPEN for the first time,
// with its event (announced false: it was not HALF_OPEN, or seen already).
func (s *txState) announceHalfOpen(name string) (announced bool, err error) {
	cur, err := s.tx.LockSystem(s.ctx, name)
	if err != nil {
		return false, err
	}
	next, announced := cur.HalfOpened(s.now)
	if !announced {
		return false, nil
	}
	if err := s.tx.SaveSystem(s.ctx, &next); err != nil {
		return false, err
	}
	s.tx.Emit(halfOpenEvent(name, s.now))
	s.systemsChanged = true
	return true, nil
}
