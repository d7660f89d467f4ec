package orchestrator

import (
	"context"
	"github.com/batonhq/baton/engine"
	"github.com/batonhq/baton/engine/access"
	"github.com/batonhq/baton/engine/catalog"
	"maps"
	"strings"
)

// onStep is the transaction of an operator's action on one step: the
// step is read and locked (NOT_FOUND when there is none), then fn decides,
// with the actor the context names.
func (e *Engine) onStep(ctx context.Context, stepID int, fn func(st *txState, r *engine.StepRecord, actor string) error) error {
	actor := ActorFrom(ctx)
	return e.write(ctx, func(st *txState) error {
		r, err := st.lockOne(stepID)
		if err != nil {
			return err
		}
		return fn(st, r, actor)
	})
}

// requireNote refuses an operator's action without a note saying why
// the step is done so. Errors: BAD_USER_INPUT.
func requireNote(note, done string) error {
	if strings.TrimSpace(note) == "" {
		return engine.Errorf(engine.CodeBadUserInput, "say why the step is %s: a note is required", done)
	}
	return nil
}

// lockOne reads and locks one step. Errors: NOT_FOUND.
func (s *txState) lockOne(id int) (*engine.StepRecord, error) {
	recs, err := s.tx.LockSteps(s.ctx, []int{id})
	if err != nil {
		return nil, err
	}
	if len(recs) == 0 {
		return nil, engine.Errorf(engine.CodeNotFound, "step %d not found", id)
	}
	return recs[0], nil
}

// CompleteTask completes a waiting manual task, so its dependents proceed:
// its holder may, or any worker of its queue when nobody holds it. The
// output is checked against the task's form and mapped into attributes
// by its `set`. Errors: NOT_FOUND; FORBIDDEN (not the caller's queue);
// CONFLICT when someone else holds it; INVALID_STATE when the step is not
// a manual task waiting in its queue; BAD_USER_INPUT naming each bad field
// of the form, or for an output or note past the input limits.
func (e *Engine) CompleteTask(ctx context.Context, stepID int, output map[string]any, note string) error {
	if err := e.allowStep(ctx, access.TaskWork, stepID); err != nil {
		return err
	}
	if err := newInputCheck(e.limits).actor(ctx).value("output", output).text("note", note).err(); err != nil {
		return err
	}
	output = engine.NormalizeMap(output)
	return e.onStep(ctx, stepID, func(st *txState, r *engine.StepRecord, actor string) error {
		if r.Type != engine.ManualTask || r.Status != engine.StepWaiting {
			return engine.Errorf(engine.CodeInvalidState, "step %d (%s) is a %s in status %s; only a waiting MANUAL_TASK can be completed", r.ID, r.Name, r.Type, r.Status)
		}
		if _, err := st.requireWork(r); err != nil {
			return err
		}
		if r.Assignee != "" && r.Assignee != actor {
			return engine.Errorf(engine.CodeConflict, "step %d (%s) is held by %s: claim it only after they release it, or ask a manager to reassign it", r.ID, r.Name, r.Assignee)
		}
		def, err := st.def(r)
		if err != nil {
			return err
		}
		if problems := def.Task.CheckOutput(output); len(problems) > 0 {
			return &engine.Error{Code: engine.CodeBadUserInput, Message: "the output of " + r.Name + " does not fill its form", Problems: problems}
		}
		if len(def.Task.Set) > 0 {
			ec, err := st.execContext(r)
			if err != nil {
				return err
			}
			env := &catalog.TaskEnv{StepEnv: *e.stepEnvFor(r, ec), Output: output}
			var res Result
			if err := e.mapSet(def.Task.Set, env, r.ItemID != 0, &res); err != nil {
				return engine.Errorf(engine.CodeBadUserInput, "%s: nothing was changed", err)
			}
			st.setAttributes(r, res.SetOrder, res.SetItem)
		}
		r.Output = mergeOutput(r.Output, output)
		r.Note = note
		return st.move(r, engine.StepCompleted, actor, note)
	})
}

// AssignTask gives a manual task to someone (an empty assignee sends it
// back to its queue): a manager's, over whoever held it (the event and
// the note say whose it was). Errors: NOT_FOUND; INVALID_STATE when the
// step is not a manual task or has finished; BAD_USER_INPUT for a
// non-member or unavailable member of a queue that names its members, or
// an assignee past the input limits.
func (e *Engine) AssignTask(ctx context.Context, stepID int, assignee string) error {
	if err := e.allowStep(ctx, access.TaskManage, stepID); err != nil {
		return err
	}
	if err := newInputCheck(e.limits).actor(ctx).name("assignee", assignee).err(); err != nil {
		return err
	}
	assignee = strings.TrimSpace(assignee)
	return e.onStep(ctx, stepID, func(st *txState, r *engine.StepRecord, actor string) error {
		if err := openTask(r, "assigned"); err != nil {
			return err
		}
		if assignee == r.Assignee {
			return nil
		}
		if assignee != "" {
			q, err := st.queueOf(r, false)
			if err != nil {
				return err
			}
			if err := q.accepts(assignee); err != nil {
				return err
			}
		}
		note := "assigned"
		if r.Assignee != "" {
			note = "reassigned from " + r.Assignee
		}
		st.setAssignee(r, assignee, actor, note)
		return nil
	})
}

// RespondToCallout accepts the answer to a callout that was answered 202:
// success completes it (its output is merged and the callout's `set`
// mappings see it as response.body); failure sends it to fallout with the
// error. Exactly one answer is accepted. Errors: NOT_FOUND; INVALID_STATE
// for a step that is not a callout waiting for its answer, which is what a
// duplicate or late answer gets: it changes nothing. BAD_USER_INPUT for an
// output or error past the input limits.
func (e *Engine) RespondToCallout(ctx context.Context, stepID int, success bool, output map[string]any, errMsg string) error {
	if err := e.allowStep(ctx, access.CalloutRespond, stepID); err != nil {
		return err
	}
	if err := newInputCheck(e.limits).actor(ctx).value("output", output).text("error", errMsg).err(); err != nil {
		return err
	}
	output = engine.NormalizeMap(output)
	return e.onStep(ctx, stepID, func(st *txState, r *engine.StepRecord, actor string) error {
		if r.Type != engine.Callout {
			return engine.Errorf(engine.CodeInvalidState, "step %d (%s) is a %s, not a callout", r.ID, r.Name, r.Type)
		}
		if r.Status != engine.StepWaiting {
			when := ""
			if r.CompletedAt != nil {
				when = " since " + r.CompletedAt.Format("2006-01-02T15:04:05Z07:00")
			}
			return engine.Errorf(engine.CodeInvalidState, "step %d (%s) is %s%s, not waiting for an answer: this response was not applied", r.ID, r.Name, r.Status, when)
		}
		def, err := st.def(r)
		if err != nil {
			return err
		}
		att := &engine.Attempt{StepID: r.ID, Number: r.Attempts, StartedAt: st.now, FinishedAt: st.now, Worker: actor}
		if r.StartedAt != nil {
			att.StartedAt = *r.StartedAt
		}
		st.attempts = append(st.attempts, att)
		if !success {
			att.Outcome = "FAILED"
			if errMsg == "" {
				errMsg = "the system reported a failure"
			}
			att.Error = errMsg
			r.Error = errMsg
			r.Output = mergeOutput(r.Output, output)
			return st.move(r, engine.StepFallout, actor, errMsg)
		}
		att.Outcome = "SUCCEEDED"
		ec, err := st.execContext(r)
		if err != nil {
			return err
		}
		env := e.stepEnvFor(r, ec)
		renv := &catalog.ResponseEnv{StepEnv: *env, Response: &catalog.ResponseView{Status: 200, Body: anyMap(output), Headers: map[string]string{}}}
		res := &Result{Output: maps.Clone(output)}
		if err := e.mapResponse(def.Callout, renv, r.ItemID != 0, res); err != nil {
			return engine.Errorf(engine.CodeBadUserInput, "the answer does not fit the callout's mapping: %v", err)
		}
		r.Output = mergeOutput(r.Output, res.Output)
		st.setAttributes(r, res.SetOrder, res.SetItem)
		r.Error = ""
		return st.move(r, engine.StepCompleted, actor, "")
	})
}

func anyMap(m map[string]any) any {
	if m == nil {
		return map[string]any{}
	}
	return m
}

// Signal delivers an event to an order: every pause of its plan waiting
// for that event completes (and is returned); a pause that is not waiting
// yet completes the moment it becomes ready. Errors: NOT_FOUND (order),
// BAD_USER_INPUT (empty event, an event or payload past the input limits).
func (e *Engine) Signal(ctx context.Context, orderID int, event string, payload map[string]any) ([]int, error) {
	if err := e.allowOrder(ctx, access.OrderSignal, orderID); err != nil {
		return nil, err
	}
	if err := newInputCheck(e.limits).actor(ctx).name("event", event).value("payload", payload).err(); err != nil {
		return nil, err
	}
	if strings.TrimSpace(event) == "" {
		return nil, engine.Errorf(engine.CodeBadUserInput, "event must not be empty")
	}
	actor := ActorFrom(ctx)
	payload = engine.NormalizeMap(payload)
	var resumed []int
	err := e.write(ctx, func(st *txState) error {
		resumed = nil
		planID, steps, err := st.tx.WaitingPauses(st.ctx, orderID)
		if err != nil {
			return err
		}
		if err := st.tx.RecordSignal(st.ctx, planID, event, payload); err != nil {
			return err
		}
		for _, r := range steps {
			def, err := st.def(r)
			if err != nil {
				return err
			}
			if def.Pause == nil || def.Pause.Until != event {
				continue
			}
			r.WakeAt = nil
			r.Output = mergeOutput(r.Output, map[string]any{"signal": event, "payload": anyMap(payload)})
			if err := st.move(r, engine.StepCompleted, actor, "signal "+event); err != nil {
				return err
			}
			resumed = append(resumed, r.ID)
		}
		return nil
	})
	return resumed, err
}

// ResumeStep completes a waiting pause by hand. Errors: NOT_FOUND;
// INVALID_STATE when the step is not a waiting pause; BAD_USER_INPUT for
// an actor past the input limits.
func (e *Engine) ResumeStep(ctx context.Context, stepID int) error {
	if err := e.allowStep(ctx, access.FalloutRetry, stepID); err != nil {
		return err
	}
	if err := newInputCheck(e.limits).actor(ctx).err(); err != nil {
		return err
	}
	return e.onStep(ctx, stepID, func(st *txState, r *engine.StepRecord, actor string) error {
		if r.Type != engine.Pause || r.Status != engine.StepWaiting {
			return engine.Errorf(engine.CodeInvalidState, "step %d (%s) is a %s in status %s; only a waiting PAUSE can be resumed", r.ID, r.Name, r.Type, r.Status)
		}
		r.WakeAt = nil
		r.Output = mergeOutput(r.Output, map[string]any{"resumedBy": actor})
		return st.move(r, engine.StepCompleted, actor, "resumed by hand")
	})
}
