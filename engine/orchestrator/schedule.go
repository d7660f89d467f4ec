package orchestrator

import (
	"fmt"
	"time"

	"github.com/batonhq/baton/engine"
	"github.com/batonhq/baton/engine/catalog"
)

// startAt evaluates a step's startAt over its context as it is now: ok
// false when it has none, or when it gives no time (which starts the
// step at once, with a warning: data, not the engine, is wrong).
func (s *txState) startAt(r *engine.StepRecord, def *catalog.StepDef) (time.Time, bool, error) {
	if !def.StartAt.Present() {
		return time.Time{}, false, nil
	}
	ec, err := s.execContext(r)
	if err != nil {
		return time.Time{}, false, err
	}
	v, err := def.StartAt.Eval(s.e.stepEnvFor(r, ec))
	if err == nil {
		var at time.Time
		if at, err = asTime(v); err == nil {
			return at, true, nil
		}
	}
	s.e.log.Warn("startAt gave no time; the step starts now", "step", r.ID, "name", r.Name, "startAt", def.StartAt.Source, "error", err)
	return time.Time{}, false, nil
}

// asTime reads a startAt value: a time, or an RFC 3339 or YYYY-MM-DD
// string (midnight UTC).
func asTime(v any) (time.Time, error) {
	switch t := v.(type) {
	case time.Time:
		return t, nil
	case *time.Time:
		if t != nil {
			return *t, nil
		}
	case string:
		if at, err := time.Parse(time.RFC3339, t); err == nil {
			return at, nil
		}
		if at, err := time.Parse(time.DateOnly, t); err == nil {
			return at, nil
		}
		return time.Time{}, fmt.Errorf("%q is not a time (RFC 3339 or YYYY-MM-DD)", t)
	}
	return time.Time{}, fmt.Errorf("%v is not a time", v)
}

// schedule makes a step that is becoming ready wait SCHEDULED when its
// startAt is still to come, with a timer (wake_at) for then.
func (s *txState) schedule(r *engine.StepRecord, def *catalog.StepDef, actor string) (bool, error) {
	at, ok, err := s.startAt(r, def)
	if err != nil || !ok || !at.After(s.now) {
		return false, err
	}
	r.WakeAt = &at
	s.dirty[r.ID] = r
	return true, s.move(r, engine.StepScheduled, actor, "starts at "+at.UTC().Format(time.RFC3339))
}

// reschedule evaluates the startAt of the plan's SCHEDULED steps again
// after the order's data changed (an amendment, an enrichment): a later
// or earlier time moves the timer, a time that has passed (or none)
// starts the step now.
func (s *txState) reschedule(steps []*engine.StepRecord) error {
	for _, r := range steps {
		if d := s.dirty[r.ID]; d != nil {
			r = d
		}
		if r.Status != engine.StepScheduled {
			continue
		}
		def, err := s.def(r)
		if err != nil {
			return err
		}
		delete(s.contexts, r.ID) // read the order's data as the change left it
		at, ok, err := s.startAt(r, def)
		if err != nil {
			return err
		}
		if !ok || !at.After(s.now) {
			r.WakeAt = nil
			if err := s.makeReady(r, firstReady, "", "rescheduled: it starts now"); err != nil {
				return err
			}
			continue
		}
		if r.WakeAt != nil && r.WakeAt.Equal(at) {
			continue
		}
		r.WakeAt = &at
		r.UpdatedAt = s.now
		s.dirty[r.ID] = r
		s.tx.Emit(&engine.Event{Kind: engine.EventStepStatus, OrderID: r.OrderID, PlanID: r.PlanID, StepID: r.ID,
			From: string(engine.StepScheduled), To: string(engine.StepScheduled), At: s.now,
			Note: "rescheduled: starts at " + at.UTC().Format(time.RFC3339), Step: r.Snapshot()})
	}
	return nil
}
