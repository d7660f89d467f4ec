package orchestrator

import (
	"context"
	"fmt"
	"github.com/batonhq/baton/engine"
	"github.com/batonhq/baton/engine/catalog"
	"maps"
	"slices"
	"strings"
	"time"
)

// txState applies step transitions inside one transaction: every move is
// checked against the transition table and recorded as an event; finished
// steps release their dependents, which become READY and are activated
// (milestones complete, manual tasks and pauses start waiting, in-
// transaction actions run, callouts are claimed for this replica) until
// nothing more moves; plans roll up at the end. It is the one place where
// steps change state, for the runner's batches and for operator mutations
// alike.
type txState struct {
	e   *Engine
	tx  engine.Tx
	ctx context.Context
	now time.Time
	// owner is this replica's worker id, for leases.
	owner string
	// claimCap is how many steps this transaction may claim for local
	// execution; the rest stay READY for any replica.
	claimCap int

	dirty map[int]*engine.StepRecord
	// released counts the prerequisites counted off each dependent and
	// not yet written (SaveSteps writes them); every id in it is dirty.
	released map[int]int
	// assigned counts the task assignments this transaction made, by
	// queue and assignee (+1 given, -1 taken), not yet saved.
	assigned  map[string]map[string]int
	finished  []int       // steps that became COMPLETED or SKIPPED, to release
	claimed   []*Claim    // claimed for local execution, dispatched after commit
	openDelta map[int]int // plan id → change in open steps
	started   map[int]bool
	attempts  []*engine.Attempt
	orderSets map[int]map[string]any
	itemSets  map[int]map[string]any
	leftReady bool // some READY step was left for other replicas
	contexts  map[int]*engine.ExecContext
	circuit   circuitOutcomes
	// systemsChanged: a circuit opened; other replicas must reread.
	systemsChanged bool
	// openedNow: systems whose circuit this transaction opened.
	openedNow map[string]bool
	// immediate: FAILED steps to retry at once, after the circuits count.
	immediate []*engine.StepRecord
	// thaw: orders whose FREEZING plan had a step settle here; their
	// revision applies if nothing it waits for runs any more.
	thaw map[int]bool
	// attrsSet: orders whose attributes steps set here (by catalog id), for
	// lines awaiting that data (continueAwaiting).
	attrsSet map[int]int
	// cycles: the submission-to-completion times of the orders this
	// transaction completed, counted after the commit.
	cycles []time.Duration
}

// Claim is a step claimed for execution by this replica's workers.
type Claim struct {
	Step    *engine.StepRecord
	Def     *catalog.StepDef
	Attempt int
	// Ctx is what the step's expressions see; loaded after commit.
	Ctx *engine.ExecContext
}

func (e *Engine) newTxState(ctx context.Context, tx engine.Tx, claimCap int) *txState {
	return &txState{e: e, tx: tx, ctx: ctx, now: tx.Now(), owner: e.workerID, claimCap: claimCap,
		dirty: map[int]*engine.StepRecord{}, released: map[int]int{}, openDelta: map[int]int{}, started: map[int]bool{},
		orderSets: map[int]map[string]any{}, itemSets: map[int]map[string]any{}, contexts: map[int]*engine.ExecContext{}}
}

// move changes a step's status, checking the transition table, and emits
// its event.
func (s *txState) move(r *engine.StepRecord, to engine.StepStatus, actor, note string) error {
	if err := engine.CheckMove(r.ID, r.Status, to); err != nil {
		return err
	}
	from := r.Status
	r.Status = to
	r.UpdatedAt = s.now
	s.dirty[r.ID] = r
	if r.Frozen && r.OrderID != 0 && (from == engine.StepRunning || (from == engine.StepWaiting && r.Type == engine.Callout)) {
		if s.thaw == nil {
			s.thaw = map[int]bool{}
		}
		s.thaw[r.OrderID] = true
	}
	switch to {
	case engine.StepRunning, engine.StepWaiting, engine.StepCompleted:
		if r.PlanID != 0 {
			s.started[r.PlanID] = true
		}
	}
	if to.Terminal() {
		r.CompletedAt = &s.now
		r.JeopardyAt, r.WakeAt, r.LeaseOwner, r.LeaseUntil = nil, nil, "", nil
		if !from.Terminal() {
			s.openDelta[r.PlanID]--
		}
		if to.Done() {
			s.finished = append(s.finished, r.ID)
		}
	}
	s.tx.Emit(&engine.Event{Kind: engine.EventStepStatus, OrderID: r.OrderID, PlanID: r.PlanID, StepID: r.ID, From: string(from), To: string(to),
		At: s.now, Actor: actor, Note: note, Step: r.Snapshot()})
	return nil
}

func (s *txState) def(r *engine.StepRecord) (*catalog.StepDef, error) {
	cat, err := s.e.catalogInTx(s.ctx, s.tx, r.CatalogID)
	if err != nil {
		return nil, err
	}
	def := cat.Step(r.Name)
	if def == nil {
		return nil, fmt.Errorf("step %d: catalog version %d has no step %q", r.ID, cat.Version, r.Name)
	}
	return def, nil
}

// readiness says whether a step's move to READY starts its jeopardy clock.
type readiness bool

const (
	// firstReady: its prerequisites are done, or it was created READY; the
	// jeopardy clock starts (unless an earlier attempt started it).
	firstReady readiness = true
	// readyAgain: retried, released from hold, or claimed by the poller;
	// the jeopardy clock keeps running.
	readyAgain readiness = false
)

// makeReady moves a step to READY (unless it is there) and activates it:
// the one way a step becomes READY and is acted on. actor and note go on
// the move's event.
func (s *txState) makeReady(r *engine.StepRecord, how readiness, actor, note string) error {
	def, err := s.def(r)
	if err != nil {
		return err
	}
	if how == firstReady && r.Status != engine.StepScheduled {
		if scheduled, err := s.schedule(r, def, actor); err != nil || scheduled {
			return err
		}
	}
	if r.Status != engine.StepReady {
		if err := s.move(r, engine.StepReady, actor, note); err != nil {
			return err
		}
	}
	if how == firstReady {
		if err := s.startJeopardyClock(r, def); err != nil {
			return err
		}
	}
	if r.Frozen {
		// The plan is FREEZING for a revision: the step waits READY (no
		// worker claims a frozen step) until the revision decides.
		return nil
	}
	if how == firstReady {
		if skip, err := s.whenFalseNow(r, def); err != nil || skip {
			return err
		}
	}
	return s.activate(r, def)
}

// whenFalseNow evaluates a step's `when` again as it becomes ready, over
// the attributes as they are now (earlier callouts and tasks may have set
// them): false skips the step (it counts as done). A condition that looks
// at the order's lines was decided at plan creation and stands; one that
// fails to evaluate now also lets the plan-time decision stand, with a
// warning.
func (s *txState) whenFalseNow(r *engine.StepRecord, def *catalog.StepDef) (bool, error) {
	if !def.When.Present() || def.When.SeesLines() || r.Attempts > 0 {
		return false, nil
	}
	ec, err := s.execContext(r)
	if err != nil {
		return false, err
	}
	ok, err := def.When.Bool(s.e.stepEnvFor(r, ec))
	if err != nil {
		s.e.log.Warn("step condition failed when ready; the plan-time decision stands", "step", r.ID, "name", r.Name, "error", err)
		return false, nil
	}
	if ok {
		return false, nil
	}
	return true, s.move(r, engine.StepSkipped, "", "condition false when ready: "+def.When.Source)
}

// startJeopardyClock starts a step's jeopardy clock at its first READY (a
// retry keeps it). A manual task's estimate counts working time when its
// task or queue has a business calendar.
func (s *txState) startJeopardyClock(r *engine.StepRecord, def *catalog.StepDef) error {
	if r.ReadyAt == nil || r.Attempts == 0 {
		if r.ReadyAt == nil || !r.ReadyAt.Equal(s.now) {
			r.ReadyAt = &s.now
			s.dirty[r.ID] = r
		}
		if def.EstimatedDuration > 0 {
			due := s.now.Add(def.EstimatedDuration)
			risk := due.Add(-def.JeopardyThreshold)
			if def.Task != nil {
				cat, err := s.e.catalogInTx(s.ctx, s.tx, r.CatalogID)
				if err != nil {
					return err
				}
				if cal := cat.TaskCalendar(def); cal != nil {
					due = cal.Add(s.now, def.EstimatedDuration)
					risk = cal.Add(s.now, def.EstimatedDuration-def.JeopardyThreshold)
				}
			}
			r.DueAt = &due
			r.JeopardyAt = &risk
			s.dirty[r.ID] = r
			if !risk.After(s.now) {
				// A threshold as long as the estimate: at risk from the start.
				return s.jeopardy(r)
			}
		}
	}
	return nil
}

// activate does what a READY step's type asks at once.
func (s *txState) activate(r *engine.StepRecord, def *catalog.StepDef) error {
	switch r.Type {
	case engine.Milestone:
		return s.move(r, engine.StepCompleted, "", "")
	case engine.ManualTask:
		if err := s.move(r, engine.StepWaiting, "", ""); err != nil {
			return err
		}
		if r.Assignee != "" {
			return nil // the catalog's static assignee
		}
		return s.autoAssign(r, "")
	case engine.Pause:
		if def.Pause.Until != "" {
			// Read the plan's signals under the plan's lock, which Signal
			// takes too: a signal commits either before this read (and is
			// seen here) or after this pause is WAITING (and finds it).
			signals, err := s.tx.LockPlanSignals(s.ctx, r.PlanID)
			if err != nil {
				return err
			}
			if payload, ok := signals[def.Pause.Until]; ok {
				r.Output = mergeOutput(r.Output, map[string]any{"signal": def.Pause.Until, "payload": payload})
				if err := s.move(r, engine.StepWaiting, "", ""); err != nil {
					return err
				}
				return s.move(r, engine.StepCompleted, "", "signal "+def.Pause.Until+" arrived before the pause")
			}
		}
		if def.Pause.For > 0 {
			at := s.now.Add(def.Pause.For)
			r.WakeAt = &at
		}
		return s.move(r, engine.StepWaiting, "", "")
	case engine.AutoTask:
		if a := s.e.actions.get(def.Auto.Action); a != nil && a.InTransaction {
			return s.runInTransaction(r, def, a)
		}
	}
	if r.Type == engine.Callout && def.Callout != nil && def.Callout.System != nil {
		name := def.Callout.System.Name
		held := s.openedNow[name]
		if !held {
			var err error
			if held, err = s.e.systemHeld(s.ctx, s.tx, name, s.now); err != nil {
				return err
			}
		}
		if held {
			// Integration hold (offline, or circuit open): wait without
			// spending an attempt; the releaser lets it go when the
			// system is back.
			return s.move(r, engine.StepOnHold, "", "system "+name+" is on hold")
		}
	}
	// Callouts and out-of-transaction actions go to workers.
	if len(s.claimed) < s.claimCap {
		return s.claim(r, def)
	}
	s.leftReady = true
	return nil
}

// claim gives a READY step to this replica's workers, under a lease long
// enough for one attempt.
func (s *txState) claim(r *engine.StepRecord, def *catalog.StepDef) error {
	if err := s.move(r, engine.StepRunning, "", ""); err != nil {
		return err
	}
	r.Attempts++
	r.StartedAt = &s.now
	r.WakeAt = nil
	lease := s.now.Add(s.e.leaseFor(def))
	r.LeaseOwner, r.LeaseUntil = s.owner, &lease
	s.claimed = append(s.claimed, &Claim{Step: r, Def: def, Attempt: r.Attempts})
	return nil
}

// runInTransaction runs an action that has no effects outside Baton right
// here: READY → RUNNING → COMPLETED (or FAILED/FALLOUT) in this
// transaction, no lease, no worker.
func (s *txState) runInTransaction(r *engine.StepRecord, def *catalog.StepDef, a *Action) error {
	if err := s.move(r, engine.StepRunning, "", ""); err != nil {
		return err
	}
	r.Attempts++
	r.StartedAt = &s.now
	r.WakeAt = nil
	ec, err := s.execContext(r)
	if err != nil {
		return err
	}
	res, runErr := s.e.runAction(s.ctx, a, r, def, ec)
	return s.finishAttempt(r, def, s.e.storableOutcome(Outcome{StepID: r.ID, Attempt: r.Attempts, StartedAt: s.now, FinishedAt: s.now,
		Result: res, Err: runErr, Worker: s.owner}))
}

// prefetch loads, in one query, the contexts of the steps about to be
// activated whose activation evaluates expressions: in-transaction
// actions. (Pauses read only their plan's signals; other auto tasks and
// callouts get theirs when dispatched to a worker.)
func (s *txState) prefetch(recs []*engine.StepRecord) error {
	var ids []int
	for _, r := range recs {
		if _, ok := s.contexts[r.ID]; ok || r.Type != engine.AutoTask {
			continue
		}
		def, err := s.def(r)
		if err != nil {
			return err
		}
		if def.Auto == nil {
			continue
		}
		if a := s.e.actions.get(def.Auto.Action); a != nil && a.InTransaction {
			ids = append(ids, r.ID)
		}
	}
	if len(ids) < 2 {
		return nil // one is loaded on demand at the same cost
	}
	m, err := s.tx.StepContexts(s.ctx, ids)
	if err != nil {
		return err
	}
	for id, ec := range m {
		s.adopt(id, ec)
	}
	return nil
}

// adopt keeps a loaded context, with the attributes this transaction has
// set already.
func (s *txState) adopt(id int, ec *engine.ExecContext) {
	maps.Copy(ec.Order.Attributes, s.orderSets[ec.Order.ID])
	maps.Copy(ec.Item.Attributes, s.itemSets[ec.Item.ID])
	s.contexts[id] = ec
}

// execContext loads (once per transaction) what a step's expressions see.
func (s *txState) execContext(r *engine.StepRecord) (*engine.ExecContext, error) {
	if ec := s.contexts[r.ID]; ec != nil {
		return ec, nil
	}
	m, err := s.tx.StepContexts(s.ctx, []int{r.ID})
	if err != nil {
		return nil, err
	}
	ec := m[r.ID]
	if ec == nil {
		return nil, fmt.Errorf("step %d: no context", r.ID)
	}
	// Attributes this transaction set already are visible to later steps.
	s.adopt(r.ID, ec)
	return ec, nil
}

// Outcome is the result of one attempt, as a worker reports it.
type Outcome struct {
	StepID     int
	Attempt    int
	Owner      string
	StartedAt  time.Time
	FinishedAt time.Time
	Result     *Result
	Err        error
	Worker     string
	// traceParent is the plan's, for the batch's span links.
	traceParent string
}

// Result is what a successful attempt produced.
type Result struct {
	// Wait: the attempt succeeded but the step waits for an answer
	// (a callout answered 202).
	Wait       bool
	HTTPStatus int
	Output     map[string]any
	SetOrder   map[string]any
	SetItem    map[string]any
}

// StepError is an attempt's failure; Retryable false sends the step to
// fallout at once (a 4xx answer, an action that says retrying is useless).
type StepError struct {
	Message    string
	Retryable  bool
	HTTPStatus int
}

func (e *StepError) Error() string { return e.Message }

// storableOutcome turns a successful outcome whose result the stores
// cannot hold as it is into a failed attempt (retried like any failure):
// what one attempt brought back must not fail the transaction that
// records it with other outcomes. It runs before that transaction — on
// the worker, or before an in-transaction action's outcome is applied.
func (e *Engine) storableOutcome(o Outcome) Outcome {
	if o.Err == nil && o.Result != nil {
		if msg := e.unstorableResult(o.Result); msg != "" {
			o.Err = &StepError{Message: "the outcome cannot be stored: " + msg, Retryable: true, HTTPStatus: o.Result.HTTPStatus}
			o.Result = nil
		}
	}
	return o
}

// finishAttempt applies an attempt's outcome (see storableOutcome) to a
// RUNNING step. The error message of a failure is made storable, whatever
// the system or action said.
func (s *txState) finishAttempt(r *engine.StepRecord, def *catalog.StepDef, o Outcome) error {
	if r.Type == engine.Callout {
		s.countCircuit(r, def, o.Err)
	}
	att := &engine.Attempt{StepID: r.ID, Number: o.Attempt, StartedAt: o.StartedAt, FinishedAt: o.FinishedAt, Worker: o.Worker}
	s.attempts = append(s.attempts, att)
	r.LeaseOwner, r.LeaseUntil = "", nil
	if o.Err == nil && o.Result != nil {
		res := o.Result
		att.HTTPStatus = res.HTTPStatus
		r.Output = mergeOutput(r.Output, res.Output)
		s.setAttributes(r, res.SetOrder, res.SetItem)
		r.Error = ""
		if res.Wait {
			att.Outcome = "WAITING"
			return s.move(r, engine.StepWaiting, "", "")
		}
		att.Outcome = "SUCCEEDED"
		return s.move(r, engine.StepCompleted, "", "")
	}
	err := o.Err
	if err == nil {
		err = fmt.Errorf("attempt reported no result")
	}
	msg := storableText(err.Error(), s.e.limits.TextLength)
	att.Outcome, att.Error = "FAILED", msg
	retryable := true
	if se, ok := err.(*StepError); ok {
		retryable = se.Retryable
		att.HTTPStatus = se.HTTPStatus
	}
	return s.fail(r, def, msg, retryable)
}

// unstorableResult checks what a successful attempt would store: its
// output and the attributes it sets ("" when all may be stored).
func (e *Engine) unstorableResult(res *Result) string {
	var ps []string
	for _, part := range []struct {
		path string
		m    map[string]any
	}{{"output", res.Output}, {"order.attributes", res.SetOrder}, {"item.attributes", res.SetItem}} {
		if part.m == nil {
			continue
		}
		if msg := e.unstorable(part.path, part.m); msg != "" {
			ps = append(ps, msg)
		}
	}
	return strings.Join(ps, "; ")
}

// fail applies the retry policy to a failed attempt.
func (s *txState) fail(r *engine.StepRecord, def *catalog.StepDef, msg string, retryable bool) error {
	r.Error = msg
	if retryable {
		if at, ok := def.Retry.Next(r.Attempts-r.AttemptBase, s.now); ok {
			if err := s.move(r, engine.StepFailed, "", ""); err != nil {
				return err
			}
			r.WakeAt = &at
			if !at.After(s.now) {
				// IMMEDIATE: try again in this transaction — once the
				// transaction's callout outcomes have been counted, so that
				// a failure that opens its system's circuit holds the retry
				// instead of spending an attempt on it.
				s.immediate = append(s.immediate, r)
			}
			return nil
		}
	}
	return s.move(r, engine.StepFallout, "", "")
}

// retryNow moves a FAILED step whose retry is due back to READY and
// activates it.
func (s *txState) retryNow(r *engine.StepRecord) error {
	r.WakeAt = nil
	return s.makeReady(r, readyAgain, "", "")
}

func (s *txState) setAttributes(r *engine.StepRecord, order, item map[string]any) {
	if len(order) > 0 && r.OrderID != 0 {
		addSets(s.orderSets, r.OrderID, order)
		if s.attrsSet == nil {
			s.attrsSet = map[int]int{}
		}
		s.attrsSet[r.OrderID] = r.CatalogID
		for _, ec := range s.contexts {
			if ec.Order.ID == r.OrderID {
				maps.Copy(ec.Order.Attributes, order)
			}
		}
	}
	if len(item) > 0 && r.ItemID != 0 {
		addSets(s.itemSets, r.ItemID, item)
		for _, ec := range s.contexts {
			if ec.Item.ID == r.ItemID {
				maps.Copy(ec.Item.Attributes, item)
			}
		}
	}
}

// addSets adds attributes to those a transaction writes for id.
func addSets(sets map[int]map[string]any, id int, attrs map[string]any) {
	if sets[id] == nil {
		sets[id] = map[string]any{}
	}
	maps.Copy(sets[id], attrs)
}

func mergeOutput(old, add map[string]any) map[string]any {
	if len(add) == 0 {
		return old
	}
	out := map[string]any{}
	maps.Copy(out, old)
	maps.Copy(out, add)
	return out
}

// readyNew runs the consequences of creating a plan's steps (plan
// creation, enrichment): steps created READY are activated, and the plan
// rolls up even when nothing moves, so that one with nothing left to do
// completes. Steps created SKIPPED were counted done at planning: there is
// nothing to release.
func (s *txState) readyNew(planID int, steps []*engine.StepRecord) error {
	s.openDelta[planID] += 0
	var ready []*engine.StepRecord
	for _, r := range steps {
		if r.Status == engine.StepReady {
			ready = append(ready, r)
		}
	}
	if err := s.prefetch(ready); err != nil {
		return fmt.Errorf("activate plan %d: %w", planID, err)
	}
	for _, r := range ready {
		if err := s.makeReady(r, firstReady, "", ""); err != nil {
			return fmt.Errorf("activate plan %d: %w", planID, err)
		}
	}
	return nil
}

// settle releases the dependents of finished steps until nothing more
// moves, then writes everything and rolls plans up; a revision whose
// frozen plan this transaction settled applies then, and settles in turn.
func (s *txState) settle() error {
	for {
		if err := s.settleOnce(); err != nil {
			return err
		}
		applied, err := s.thawRevisions()
		if err != nil {
			return err
		}
		continued, err := s.continueAwaiting()
		if err != nil {
			return err
		}
		if !applied && !continued {
			return nil
		}
	}
}

func (s *txState) settleOnce() error {
	for len(s.finished) > 0 || len(s.immediate) > 0 {
		if len(s.finished) == 0 {
			if err := s.applyCircuits(); err != nil {
				return err
			}
			retry := s.immediate
			s.immediate = nil
			for _, r := range retry {
				if err := s.retryNow(r); err != nil {
					return err
				}
			}
			continue
		}
		done := s.finished
		s.finished = nil
		deps, err := s.tx.ReleaseDependents(s.ctx, done)
		if err != nil {
			return err
		}
		var ready []*engine.StepRecord
		for _, d := range deps {
			// The counts are written with the dependents (SaveSteps):
			// what this state released before is not in the table yet.
			s.released[d.ID] += d.Released
			d.Pending -= s.released[d.ID] - d.Released
			if prev := s.dirty[d.ID]; prev != nil {
				// Keep the in-memory state; take the new count.
				prev.Pending = d.Pending
				d = prev
			} else {
				d.UpdatedAt = s.now
				s.dirty[d.ID] = d
			}
			if d.Pending <= 0 && d.Status == engine.StepPending {
				ready = append(ready, d)
			}
		}
		if err := s.prefetch(ready); err != nil {
			return err
		}
		for _, d := range ready {
			if err := s.makeReady(d, firstReady, "", ""); err != nil {
				return err
			}
		}
	}
	if err := s.applyCircuits(); err != nil {
		return err
	}
	if err := s.tx.MergeAttributes(s.ctx, s.orderSets, s.itemSets); err != nil {
		return err
	}
	dirty := slices.Collect(maps.Values(s.dirty))
	for _, r := range dirty {
		r.Released = s.released[r.ID] // every released id is dirty
	}
	if err := s.tx.SaveSteps(s.ctx, dirty); err != nil {
		return err
	}
	for _, r := range dirty {
		r.Released = 0
	}
	clear(s.released)
	if err := s.tx.InsertAttempts(s.ctx, s.attempts); err != nil {
		return err
	}
	s.attempts, s.orderSets, s.itemSets = nil, map[int]map[string]any{}, map[int]map[string]any{}
	started := slices.Sorted(maps.Keys(s.started))
	plans, err := s.tx.StartPlans(s.ctx, started)
	if err != nil {
		return err
	}
	for _, p := range plans {
		s.tx.Emit(&engine.Event{Kind: engine.EventPlanStatus, OrderID: p.OrderID, PlanID: p.ID, From: string(engine.PlanPending), To: string(engine.PlanInProgress), At: s.now})
		if p.OrderID != 0 {
			s.tx.Emit(&engine.Event{Kind: engine.EventOrderStatus, OrderID: p.OrderID, PlanID: p.ID, From: string(engine.OrderSubmitted), To: string(engine.OrderInProgress), At: s.now})
		}
	}
	done, err := s.tx.AdjustOpenSteps(s.ctx, s.openDelta)
	if err != nil {
		return err
	}
	s.openDelta = map[int]int{}
	for _, p := range done {
		if err := s.completePlan(p); err != nil {
			return err
		}
	}
	s.started = map[int]bool{}
	return nil
}

// completePlan finishes a plan whose every step is done: a CANCELLING one
// is CANCELLED then (its compensations have run), any other COMPLETED.
func (s *txState) completePlan(p *engine.PlanRecord) error {
	if p.Status == engine.PlanCancelling {
		if err := s.tx.SetPlanStatus(s.ctx, p.ID, engine.PlanCancelled, engine.OrderCancelled); err != nil {
			return err
		}
		s.tx.Emit(&engine.Event{Kind: engine.EventPlanStatus, OrderID: p.OrderID, PlanID: p.ID, From: string(p.Status), To: string(engine.PlanCancelled), At: s.now})
		s.tx.Emit(&engine.Event{Kind: engine.EventOrderStatus, OrderID: p.OrderID, PlanID: p.ID, From: string(engine.OrderCancelling), To: string(engine.OrderCancelled), At: s.now})
		return nil
	}
	if err := s.tx.CompletePlan(s.ctx, p); err != nil {
		return err
	}
	if p.OrderID != 0 {
		oa, lines, err := s.tx.OrderAssetLines(s.ctx, p.OrderID)
		if err != nil {
			return err
		}
		oa.Changes = engine.AssetChanges(lines)
		if err := s.tx.ApplyAssetChanges(s.ctx, oa); err != nil {
			return err
		}
	}
	if p.OrderID != 0 && !p.CreatedAt.IsZero() {
		s.cycles = append(s.cycles, s.now.Sub(p.CreatedAt))
	}
	from := p.Status
	if from == engine.PlanPending && s.started[p.ID] {
		from = engine.PlanInProgress
	}
	s.tx.Emit(&engine.Event{Kind: engine.EventPlanStatus, OrderID: p.OrderID, PlanID: p.ID, From: string(from), To: string(engine.PlanCompleted), At: s.now})
	if p.OrderID != 0 {
		ofrom := engine.OrderInProgress
		if from == engine.PlanPending {
			ofrom = engine.OrderSubmitted
		}
		s.tx.Emit(&engine.Event{Kind: engine.EventOrderStatus, OrderID: p.OrderID, PlanID: p.ID, From: string(ofrom), To: string(engine.OrderCompleted), At: s.now})
	}
	return nil
}
