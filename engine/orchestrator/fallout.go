package orchestrator

import (
	"context"
	"github.com/batonhq/baton/engine"
	"github.com/batonhq/baton/engine/access"
	"slices"
)

// StepActionResult is the outcome of an operator action on one step of a
// bulk request, checked against that step's state at the time.
type StepActionResult struct {
	StepID int
	// Err is nil when the action was applied; otherwise NOT_FOUND or
	// INVALID_STATE saying why this step was left as it was.
	Err error
}

// RetrySteps retries many steps at once: each step in FALLOUT (or FAILED,
// skipping the rest of its backoff) goes back to READY with a fresh retry
// budget and runs again. Every step is checked against its own current
// state, in one transaction: the result says, per step, whether it was
// retried or why not (NOT_FOUND, INVALID_STATE). The events record who
// retried and the note. Errors: BAD_USER_INPUT for a note past the input
// limits (nothing is retried).
func (e *Engine) RetrySteps(ctx context.Context, ids []int, note string) ([]StepActionResult, error) {
	if err := newInputCheck(e.limits).actor(ctx).text("note", note).err(); err != nil {
		return nil, err
	}
	hidden, err := e.allowSteps(ctx, access.FalloutRetry, ids)
	if err != nil {
		return nil, err
	}
	actor := ActorFrom(ctx)
	var results []StepActionResult
	err = e.write(ctx, func(st *txState) error {
		results = make([]StepActionResult, len(ids))
		recs, err := st.tx.LockSteps(st.ctx, ids)
		if err != nil {
			return err
		}
		byID := make(map[int]*engine.StepRecord, len(recs))
		for _, r := range recs {
			if !slices.Contains(hidden, r.ID) { // another account's: as if it did not exist
				byID[r.ID] = r
			}
		}
		done := map[int]bool{}
		for i, id := range ids {
			results[i].StepID = id
			r := byID[id]
			switch {
			case r == nil:
				results[i].Err = engine.Errorf(engine.CodeNotFound, "step %d not found", id)
				continue
			case done[id]:
				continue // listed twice: retried once
			case r.Status != engine.StepFallout && r.Status != engine.StepFailed:
				results[i].Err = engine.Errorf(engine.CodeInvalidState, "step %d (%s) is %s; only FALLOUT or FAILED steps can be retried", r.ID, r.Name, r.Status)
				continue
			}
			r.AttemptBase = r.Attempts
			r.WakeAt = nil
			if err := st.makeReady(r, readyAgain, actor, note); err != nil {
				return err
			}
			done[id] = true
		}
		return nil
	})
	return results, err
}

// MarkStepComplete completes a step by hand so that its dependents proceed
// (seed 002: the billing system is down, the operator bills by hand). It
// applies to steps that are not running and whose prerequisites are done:
// READY, WAITING, FAILED, FALLOUT, ON_HOLD. Errors: NOT_FOUND;
// BAD_USER_INPUT without a note, or for a note or output past the input
// limits; INVALID_STATE otherwise.
func (e *Engine) MarkStepComplete(ctx context.Context, stepID int, note string, output map[string]any) error {
	if err := e.allowStep(ctx, access.FalloutResolve, stepID); err != nil {
		return err
	}
	if err := newInputCheck(e.limits).actor(ctx).text("note", note).value("output", output).err(); err != nil {
		return err
	}
	if err := requireNote(note, "completed by hand"); err != nil {
		return err
	}
	return e.onStep(ctx, stepID, func(st *txState, r *engine.StepRecord, actor string) error {
		if err := byHand(r, false); err != nil {
			return err
		}
		r.WakeAt = nil
		r.Note = note
		r.Output = mergeOutput(r.Output, engine.NormalizeMap(output))
		r.Output = mergeOutput(r.Output, map[string]any{"completedBy": actor})
		return st.move(r, engine.StepCompleted, actor, note)
	})
}

// SkipStep drops a step: SKIPPED counts as done for its dependents. It
// applies to any step that has not finished and is not running. Errors:
// NOT_FOUND; BAD_USER_INPUT without a note, or for a note past the input
// limits; INVALID_STATE otherwise.
func (e *Engine) SkipStep(ctx context.Context, stepID int, note string) error {
	if err := e.allowStep(ctx, access.FalloutResolve, stepID); err != nil {
		return err
	}
	if err := newInputCheck(e.limits).actor(ctx).text("note", note).err(); err != nil {
		return err
	}
	if err := requireNote(note, "skipped"); err != nil {
		return err
	}
	return e.onStep(ctx, stepID, func(st *txState, r *engine.StepRecord, actor string) error {
		if err := byHand(r, true); err != nil {
			return err
		}
		r.WakeAt = nil
		r.Note = note
		return st.move(r, engine.StepSkipped, actor, note)
	})
}

// byHand refuses an operator's completion or skip of a step that is
// running (a worker holds it) or finished; a PENDING step can only be
// skipped (pending true), since its prerequisites are not done.
// Errors: INVALID_STATE.
func byHand(r *engine.StepRecord, pending bool) error {
	switch r.Status {
	case engine.StepReady, engine.StepScheduled, engine.StepWaiting, engine.StepFailed, engine.StepFallout, engine.StepOnHold:
		return nil
	case engine.StepPending:
		if pending {
			return nil
		}
		return engine.Errorf(engine.CodeInvalidState, "step %d (%s) is PENDING: its prerequisites are not done (skipStep drops it instead)", r.ID, r.Name)
	case engine.StepRunning:
		return engine.Errorf(engine.CodeInvalidState, "step %d (%s) is RUNNING: a worker holds it; wait for its outcome", r.ID, r.Name)
	default:
		return engine.Errorf(engine.CodeInvalidState, "step %d (%s) is %s already", r.ID, r.Name, r.Status)
	}
}
