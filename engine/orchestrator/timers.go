package orchestrator

import "github.com/batonhq/baton/engine"

// wakeUp handles a step whose wake_at is due.
func (s *txState) wakeUp(r *engine.StepRecord) error {
	def, err := s.def(r)
	if err != nil {
		return err
	}
	switch {
	case r.Status == engine.StepFailed:
		return s.retryNow(r)
	case r.Status == engine.StepScheduled:
		r.WakeAt = nil
		return s.makeReady(r, firstReady, "", "its scheduled start has come")
	case r.Status == engine.StepWaiting && r.Type == engine.Pause:
		r.WakeAt = nil
		r.Output = mergeOutput(r.Output, map[string]any{"resumedBy": "timer"})
		return s.move(r, engine.StepCompleted, "", "pause of "+def.Pause.For.String()+" elapsed")
	}
	// A timer left on a step that moved on: clear it.
	r.WakeAt = nil
	s.dirty[r.ID] = r
	return nil
}

// leaseExpired handles a RUNNING step whose worker stopped reporting (its
// replica died or hung): the attempt is recorded as LOST and the retry
// policy decides, as for any failed attempt.
func (s *txState) leaseExpired(r *engine.StepRecord) error {
	def, err := s.def(r)
	if err != nil {
		return err
	}
	started := s.now
	if r.StartedAt != nil {
		started = *r.StartedAt
	}
	msg := "lease expired: the worker " + r.LeaseOwner + " stopped reporting"
	s.attempts = append(s.attempts, &engine.Attempt{StepID: r.ID, Number: r.Attempts, Outcome: "LOST", StartedAt: started,
		FinishedAt: s.now, Error: msg, Worker: r.LeaseOwner})
	r.LeaseOwner, r.LeaseUntil = "", nil
	return s.fail(r, def, msg, true)
}

// jeopardy moves a step's jeopardy on when its jeopardy_at is due:
// ON_TRACK → AT_RISK at estimatedDuration − jeopardyThreshold after READY,
// → LATE at estimatedDuration; a manual task's escalation chain acts on
// the level it reaches. Finished steps keep what they had.
func (s *txState) jeopardy(r *engine.StepRecord) error {
	s.dirty[r.ID] = r
	if r.Status.Terminal() || r.DueAt == nil {
		r.JeopardyAt = nil
		return nil
	}
	next := engine.AtRisk
	r.JeopardyAt = r.DueAt
	if !s.now.Before(*r.DueAt) {
		next, r.JeopardyAt = engine.Late, nil
	}
	if next.Rank() <= r.Jeopardy.Rank() {
		return nil
	}
	from := r.Jeopardy
	r.Jeopardy = next
	// updated_at stays: it orders held callouts by when they were held.
	s.tx.Emit(&engine.Event{Kind: engine.EventJeopardy, OrderID: r.OrderID, PlanID: r.PlanID, StepID: r.ID, From: string(from), To: string(next),
		At: s.now, Step: r.Snapshot()})
	for _, level := range []engine.Jeopardy{engine.AtRisk, engine.Late} {
		// A task found LATE at once escalates at AT_RISK too, in order.
		if level.Rank() > from.Rank() && level.Rank() <= next.Rank() {
			if err := s.escalate(r, level); err != nil {
				return err
			}
		}
	}
	return nil
}
