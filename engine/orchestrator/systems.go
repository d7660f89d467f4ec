package orchestrator

import (
	"context"
	"fmt"
	"github.com/batonhq/baton/engine"
	"github.com/batonhq/baton/engine/catalog"
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

// systemHeld reports whether callouts to the system wait at now. A stale
// cache is refreshed through tx when one is given (code holding a
// transaction must not wait for a second connection).
func (e *Engine) systemHeld(ctx context.Context, tx engine.Tx, name string, now time.Time) (bool, error) {
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
			return false, fmt.Errorf("read system states: %w", err)
		}
		c.states, c.age, c.valid = states, engine.StartStopwatch(), true
	}
	return c.states[name].Held(now), nil
}

// SetSystemStatus takes a system OFFLINE (its callouts wait ON_HOLD) or
// brings it ONLINE (its circuit closes and held callouts are released at
// the system's releaseRate per minute). Errors: NOT_FOUND for a system the
// current catalog does not define; BAD_USER_INPUT for another status, or
// for a name or note past the input limits.
func (e *Engine) SetSystemStatus(ctx context.Context, name string, status engine.SystemStatus, note string) (*engine.SystemState, error) {
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
		wasOpen := prev.CircuitOpen(st.now)
		state = &cur
		if prev.Status != cur.Status {
			st.tx.Emit(&engine.Event{Kind: engine.EventSystemStatus, System: name, From: string(prev.Status), To: string(cur.Status), At: st.now,
				Actor: actor, Note: note})
		}
		if wasOpen && status == engine.SystemOnline {
			st.tx.Emit(&engine.Event{Kind: engine.EventSystemStatus, System: name, From: "CIRCUIT_OPEN", To: "CIRCUIT_CLOSED", At: st.now,
				Actor: actor, Note: note})
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

// circuitOutcomes counts, per system with a breaker, the callout outcomes
// of a transaction.
type circuitOutcomes struct {
	failed map[string]int
	ok     map[string]bool
	defs   map[string]*catalog.SystemDef
}

// countCircuit counts the outcome of callout r for its system's breaker.
func (s *txState) countCircuit(r *engine.StepRecord, def *catalog.StepDef, err error) {
	_ = r.ID // the half-open trial is told by its step
	if def.Callout == nil || def.Callout.System == nil || def.Callout.System.CircuitFailures <= 0 {
		return
	}
	sys := def.Callout.System
	if s.circuit.defs == nil {
		s.circuit = circuitOutcomes{failed: map[string]int{}, ok: map[string]bool{}, defs: map[string]*catalog.SystemDef{}}
	}
	s.circuit.defs[sys.Name] = sys
	if err == nil {
		s.circuit.ok[sys.Name] = true
		return
	}
	if se, isStep := err.(*StepError); isStep && !se.Retryable {
		return // the system answered; the request was wrong
	}
	s.circuit.failed[sys.Name]++
}

// applyCircuits records the transaction's outcomes per system and opens
// the circuit of a system that reached its failure threshold.
func (s *txState) applyCircuits() error {
	defs, failed, ok := s.circuit.defs, s.circuit.failed, s.circuit.ok
	s.circuit = circuitOutcomes{}
	for name, sys := range defs {
		if failed[name] == 0 {
			// Only successes: reset the count, if there is one.
			if ok[name] {
				if err := s.tx.ClearSystemFailures(s.ctx, name); err != nil {
					return err
				}
			}
			continue
		}
		cur, err := s.tx.LockSystem(s.ctx, name)
		if err != nil {
			return err
		}
		breaker := engine.Breaker{Threshold: sys.CircuitFailures, CoolDown: sys.CircuitCoolDown, Interval: releaseInterval(sys.ReleaseRate)}
		next, openedAfter, changed := cur.AfterOutcomes(failed[name], ok[name], breaker, s.now)
		if changed {
			if err := s.tx.SaveSystem(s.ctx, &next); err != nil {
				return err
			}
		}
		if openedAfter > 0 {
			s.systemsChanged = true
			if s.openedNow == nil {
				s.openedNow = map[string]bool{}
			}
			s.openedNow[name] = true
			s.tx.Emit(&engine.Event{Kind: engine.EventSystemStatus, System: name, From: "CIRCUIT_CLOSED", To: "CIRCUIT_OPEN", At: s.now,
				Note: "circuit opened after " + strconv.Itoa(openedAfter) + " consecutive failures, until " + next.OpenUntil.Format(time.RFC3339)})
		}
	}
	return nil
}

// takeRelease reserves up to most held callouts of a system for release
// now (see engine.SystemState.Release), locking the system's row. closed
// reports a circuit whose cool-down ran out, now cleared.
func (s *txState) takeRelease(name string, interval, window time.Duration, most int) (n int, closed bool, err error) {
	cur, err := s.tx.LockSystem(s.ctx, name)
	if err != nil {
		return 0, false, err
	}
	next, n, closed := cur.Release(s.now, interval, window, most)
	if closed || (interval > 0 && n > 0) { // the circuit closed, or the release moved on
		if err := s.tx.SaveSystem(s.ctx, &next); err != nil {
			return 0, false, err
		}
	}
	return n, closed, nil
}
