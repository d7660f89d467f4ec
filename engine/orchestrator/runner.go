package orchestrator

import (
	"context"
	"errors"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/batonhq/baton/engine"
	"github.com/batonhq/baton/engine/catalog"
)

// RunnerConfig tunes execution on one replica. Zero values pick defaults.
type RunnerConfig struct {
	// Workers is how many attempts (callouts, out-of-transaction actions)
	// run at once on this replica (default 256).
	Workers int
	// Committers is how many transactions apply attempt outcomes at once
	// (default 2).
	Committers int
	// MaxBatch caps the outcomes one transaction applies (default 256).
	MaxBatch int
	// PollInterval is the slow poll for work other replicas left READY and
	// for timers armed elsewhere (default 1s).
	PollInterval time.Duration
	// LeaseGrace is added to a callout's timeout to make its lease
	// (default 30s); out-of-transaction actions get ActionLease (default 5m).
	LeaseGrace  time.Duration
	ActionLease time.Duration
	// ShutdownGrace is how long Stop waits for running attempts before it
	// leaves them to lease expiry (default 10s).
	ShutdownGrace time.Duration
}

func (c *RunnerConfig) defaults() {
	if c.Workers <= 0 {
		c.Workers = 256
	}
	if c.Committers <= 0 {
		c.Committers = 2
	}
	if c.MaxBatch <= 0 {
		c.MaxBatch = 256
	}
	if c.PollInterval <= 0 {
		c.PollInterval = time.Second
	}
	if c.LeaseGrace <= 0 {
		c.LeaseGrace = 30 * time.Second
	}
	if c.ActionLease <= 0 {
		c.ActionLease = 5 * time.Minute
	}
	if c.ShutdownGrace <= 0 {
		c.ShutdownGrace = 10 * time.Second
	}
}

// runner executes claimed steps and applies their outcomes. The steps table
// is the queue: a transaction that makes steps READY claims what this
// replica has room for and hands it straight to the workers after commit;
// the poller claims READY steps others left (or recovered ones); the timer
// loop moves due retries, pauses, expired leases and jeopardy.
type runner struct {
	e         *Engine
	cfg       RunnerConfig
	ctx       context.Context // cancelled by Stop's deadline
	cancel    context.CancelFunc
	sem       chan struct{}
	outcomes  chan Outcome
	kick      chan struct{}
	timerKick chan struct{}
	relKick   chan struct{}
	stopping  chan struct{}
	inflight  atomic.Int64 // claims dispatched whose outcome is not recorded yet
	work      work         // what is in flight, for RunUntilIdle
	starved   atomic.Bool  // a transaction left READY steps for lack of room here
	nextWake  atomic.Int64 // unix nanos of the timer loop's next wake

	mu       sync.Mutex
	released []*Claim // claimed but never started: handed back at Stop

	workers sync.WaitGroup
	loops   sync.WaitGroup
	commits sync.WaitGroup
}

// Start runs the engine's workers, committers, poller and timer loop until
// Stop. Register actions before Start.
func (e *Engine) Start(cfg RunnerConfig) error {
	cfg.defaults()
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.run != nil {
		return errors.New("engine already started")
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &runner{e: e, cfg: cfg, ctx: ctx, cancel: cancel,
		sem: make(chan struct{}, cfg.Workers), outcomes: make(chan Outcome, cfg.Workers*2),
		kick: make(chan struct{}, 1), timerKick: make(chan struct{}, 1), relKick: make(chan struct{}, 1), stopping: make(chan struct{})}
	e.run = r
	for range cfg.Committers {
		r.commits.Add(1)
		go r.committer()
	}
	r.loops.Add(3)
	go r.poller()
	go r.timers()
	go r.releaser()
	r.wake()
	return nil
}

// Stop stops claiming, waits (up to ShutdownGrace or ctx) for running
// attempts and records their outcomes, and hands back steps claimed but
// not started. Attempts still running after that keep their leases, which
// expire, so another replica retries them.
func (e *Engine) Stop(ctx context.Context) error {
	e.mu.Lock()
	r := e.run
	e.mu.Unlock()
	if r == nil {
		return nil
	}
	r.mu.Lock()
	close(r.stopping)
	r.mu.Unlock()
	r.loops.Wait()
	done := make(chan struct{})
	go func() { r.workers.Wait(); close(done) }()
	grace := time.NewTimer(r.cfg.ShutdownGrace)
	defer grace.Stop()
	select {
	case <-done:
	case <-ctx.Done():
		r.cancel()
	case <-grace.C:
		r.cancel()
	}
	<-done
	close(r.outcomes)
	r.commits.Wait()
	r.releaseUnstarted(context.WithoutCancel(ctx))
	r.cancel()
	e.mu.Lock()
	e.run = nil
	e.mu.Unlock()
	return nil
}

// free is how many more steps this replica takes on.
func (r *runner) free() int {
	select {
	case <-r.stopping:
		return 0 // stopping: claim nothing more
	default:
	}
	return max(0, 2*r.cfg.Workers-int(r.inflight.Load()))
}

func (r *runner) wake() {
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

// armTimer wakes the timer loop when a timer earlier than its next wake was
// set.
func (r *runner) armTimer(at time.Time) {
	if at.UnixNano() < r.nextWake.Load() {
		select {
		case r.timerKick <- struct{}{}:
		default:
		}
	}
}

// dispatch hands claims to the workers, once their contexts are loaded.
// Workers start under r.mu, and Stop closes r.stopping under it: a claim
// either gets its worker before Stop waits for them, or is handed back.
func (r *runner) dispatch(claims []*Claim) {
	if len(claims) == 0 {
		return
	}
	ids := make([]int, len(claims))
	for i, c := range claims {
		ids[i] = c.Step.ID
	}
	ctxs, err := r.e.store.StepContexts(r.ctx, ids)
	r.mu.Lock()
	defer r.mu.Unlock()
	select {
	case <-r.stopping:
		// Claimed by a transaction that began before Stop.
		r.released = append(r.released, claims...)
		return
	default:
	}
	r.track(len(claims))
	for _, c := range claims {
		c.Ctx = ctxs[c.Step.ID]
		r.workers.Add(1)
		if err != nil || c.Ctx == nil {
			msg := "load step context"
			if err != nil {
				msg += ": " + err.Error()
			}
			go func() {
				defer r.workers.Done()
				r.report(c, Outcome{Err: errors.New(msg)}, r.e.clock.Now())
			}()
			continue
		}
		go r.execute(c)
	}
}

// execute runs one attempt when a worker slot is free.
func (r *runner) execute(c *Claim) {
	defer r.workers.Done()
	select {
	case r.sem <- struct{}{}:
	case <-r.stopping:
		r.mu.Lock()
		r.released = append(r.released, c)
		r.mu.Unlock()
		r.track(-1)
		return
	}
	defer func() { <-r.sem }()
	started := r.e.clock.Now()
	var o Outcome
	switch c.Step.Type {
	case engine.Callout:
		o.Result, o.Err = r.e.callout(r.ctx, c)
		if m := r.e.metrics; m != nil && c.Def.Callout != nil && c.Def.Callout.System != nil {
			m.Callout(c.Def.Callout.System.Name, calloutOutcome(o.Result, o.Err), r.e.clock.Now().Sub(started))
		}
	case engine.AutoTask:
		a := r.e.actions.get(c.Def.Auto.Action)
		if a == nil {
			o.Err = &StepError{Message: "action " + c.Def.Auto.Action + " is not registered on this replica", Retryable: true}
		} else {
			actx, cancel := context.WithTimeout(r.ctx, r.cfg.ActionLease-time.Second)
			o.Result, o.Err = r.e.runAction(actx, a, c.Step, c.Def, c.Ctx)
			cancel()
		}
	default:
		o.Err = &StepError{Message: "step type " + string(c.Step.Type) + " does not run on a worker"}
	}
	r.report(c, o, started)
}

// report hands an attempt's outcome to the committers, checked on this
// worker (storableOutcome) so that the batch transaction does not walk it.
func (r *runner) report(c *Claim, o Outcome, started time.Time) {
	o.StepID, o.Attempt, o.Owner, o.Worker = c.Step.ID, c.Attempt, r.e.workerID, r.e.workerID
	o.StartedAt, o.FinishedAt = started, r.e.clock.Now()
	if c.Ctx != nil {
		o.traceParent = c.Ctx.TraceParent
	}
	r.outcomes <- r.e.storableOutcome(o)
}

// committer applies outcomes in batches: one transaction per batch, each
// transition with its event.
func (r *runner) committer() {
	defer r.commits.Done()
	for o := range r.outcomes {
		batch := []Outcome{o}
	drain:
		for len(batch) < r.cfg.MaxBatch {
			select {
			case o, ok := <-r.outcomes:
				if !ok {
					break drain
				}
				batch = append(batch, o)
			default:
				break drain
			}
		}
		began := r.e.clock.Now()
		r.apply(batch)
		r.e.metrics.Commit(len(batch), r.e.clock.Now().Sub(began))
		r.track(-len(batch))
		if r.starved.Swap(false) {
			r.wake()
		}
	}
}

// apply records a batch of outcomes, each exactly once. The store retries
// a transaction that conflicted with another (serialization failure,
// deadlock, busy); the runner adds only patience with a database that does
// not answer (applyPatiently). If the batch still fails, or the database
// refused what it wrote (ErrRefused), the outcomes at fault are isolated
// (isolate) so that the others commit and only the culprits' steps fail.
// What cannot be recorded at all is dropped: those steps' leases expire
// and they run again (callouts carry the same Idempotency-Key).
func (r *runner) apply(batch []Outcome) {
	if err := r.applyPatiently(batch); err != nil {
		r.isolate(batch, err)
	}
}

// applyPatiently applies a batch and, while the database does not answer
// at all (down, restarting, unreachable: failures the store does not
// retry), tries again for a few seconds, so that a short outage does not
// cost the outcomes and the callouts run again. A failure while the
// database answers is returned at once: a conflict the store has retried
// already, or an error of the batch's own, which isolate looks for.
func (r *runner) applyPatiently(batch []Outcome) error {
	for attempt := 1; ; attempt++ {
		err := r.applyOnce(batch)
		if err == nil || attempt >= 5 || !r.databaseDown(err) {
			return err
		}
		r.e.log.Warn("recording outcomes failed: the database does not answer; retrying", "err", err, "attempt", attempt, "outcomes", len(batch))
		time.Sleep(time.Duration(attempt*attempt) * 100 * time.Millisecond)
	}
}

// databaseDown reports whether a write failed with err because the
// database does not answer: it did not refuse the write, the store is not
// closed for good (UNAVAILABLE: shutting down), and a read fails too.
func (r *runner) databaseDown(err error) bool {
	if errors.Is(err, ErrRefused) || engine.ErrorCode(err) == engine.CodeUnavailable {
		return false
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.ctx), 2*time.Second)
	defer cancel()
	_, rerr := r.e.store.LastEventID(ctx)
	return rerr != nil
}

// isolate records a batch that failed as a whole with err, by halves: a
// bad outcome fails only the half it is in, so the other half commits and
// the search goes on in the failed one, down to the outcome at fault,
// whose step is then failed with the database's error (recordFailure).
// The outcomes of a failed transaction were not recorded, and a committed
// one is never applied again, so every outcome is recorded at most once.
// When both halves fail for a reason that is not a refusal, the database
// is failing, not an outcome: the batch is dropped, as apply says.
func (r *runner) isolate(batch []Outcome, err error) {
	if len(batch) == 1 {
		if !errors.Is(err, ErrRefused) {
			// Found by elimination, not by the database's word: one more
			// try on its own (waiting out an outage) before its step fails.
			if err = r.applyPatiently(batch); err == nil {
				return
			}
		}
		r.recordFailure(batch[0], err)
		return
	}
	halves := [2][]Outcome{batch[:len(batch)/2], batch[len(batch)/2:]}
	errs := [2]error{r.applyOnce(halves[0]), r.applyOnce(halves[1])}
	if errs[0] != nil && errs[1] != nil && !errors.Is(errs[0], ErrRefused) && !errors.Is(errs[1], ErrRefused) {
		r.e.log.Error("could not record outcomes; their leases will expire and the steps run again",
			"steps", outcomeSteps(batch), "err", errs[0])
		return
	}
	for i, h := range halves {
		if errs[i] != nil {
			r.isolate(h, errs[i])
		}
	}
}

// recordFailure fails the step of an outcome that could not be recorded,
// in a transaction of its own, with the reason: the step follows its
// retry policy like after any failed attempt, instead of waiting for its
// lease to expire and being retried without a word.
func (r *runner) recordFailure(o Outcome, cause error) {
	status := 0
	if o.Result != nil {
		status = o.Result.HTTPStatus
	}
	r.e.log.Error("an outcome could not be recorded; its step fails", "step", o.StepID, "attempt", o.Attempt,
		"err", storableText(cause.Error(), 500))
	o.Result = nil
	o.Err = &StepError{Message: "the outcome could not be recorded: " + cause.Error(), Retryable: true, HTTPStatus: status}
	if err := r.applyPatiently([]Outcome{o}); err != nil {
		r.e.log.Error("could not record an outcome's failure; its lease will expire and the step runs again",
			"step", o.StepID, "err", err)
	}
}

// applyOnce records a batch of outcomes in one transaction. An outcome
// whose lease was lost (its step moved on: recovered, cancelled, recorded
// already) is ignored.
func (r *runner) applyOnce(batch []Outcome) error {
	byID := make(map[int]Outcome, len(batch))
	for _, o := range batch {
		byID[o.StepID] = o
	}
	ids := outcomeSteps(batch)
	ctx, end := r.batchContext(batch)
	defer end()
	return r.e.write(ctx, func(st *txState) error {
		recs, err := st.tx.LockSteps(st.ctx, ids)
		if err != nil {
			return err
		}
		for _, rec := range recs {
			o := byID[rec.ID]
			if rec.Status != engine.StepRunning || rec.LeaseOwner != o.Owner || rec.Attempts != o.Attempt {
				r.e.log.Warn("outcome of a lost lease ignored", "step", rec.ID, "attempt", o.Attempt, "status", rec.Status)
				continue
			}
			def, err := st.def(rec)
			if err != nil {
				return err
			}
			if err := st.finishAttempt(rec, def, o); err != nil {
				return err
			}
		}
		return nil
	})
}

func outcomeSteps(batch []Outcome) []int {
	ids := make([]int, len(batch))
	for i, o := range batch {
		ids[i] = o.StepID
	}
	return ids
}

// write runs fn over the state of one transaction (txState), settles the
// consequences and, after the commit, publishes the events and dispatches
// what was claimed (afterCommit): every write that moves steps goes
// through it. From before the transaction begins until its claims are
// dispatched it counts as work in flight (RunUntilIdle).
func (e *Engine) write(ctx context.Context, fn func(st *txState) error) error {
	changed := false
	if r := e.runner(); r != nil {
		r.work.add(1)
		defer func() { r.work.wrote(changed) }()
	}
	var st *txState
	var moves []*engine.Event // every move, for the metrics
	events, err := e.store.Write(ctx, func(tx engine.Tx) error {
		et := &mergingTx{Tx: tx}
		st = e.newTxState(ctx, et, e.claimCapacity())
		if err := fn(st); err != nil {
			return err
		}
		if err := st.settle(); err != nil {
			return err
		}
		moves = et.events
		tx.Emit(engine.MergeStepMoves(et.events)...)
		return nil
	})
	if err != nil {
		if e.metrics != nil && engine.ErrorCode(err) == engine.CodeInternal && ctx.Err() == nil {
			e.metrics.DatabaseError("write")
		}
		return err
	}
	changed = len(events) > 0 || len(st.dirty) > 0
	e.count(moves, st)
	e.afterCommit(events, st)
	return nil
}

// mergingTx holds a transaction's events until it is done, so that a
// step's moves within it reach the store, and the feed, as one event
// (engine.MergeStepMoves).
type mergingTx struct {
	engine.Tx
	events []*engine.Event
}

func (t *mergingTx) Emit(events ...*engine.Event) { t.events = append(t.events, events...) }

// write is Engine.write for the runner's own transactions, which Stop
// does not cancel: what they record must not be lost half-way.
func (r *runner) write(fn func(st *txState) error) error {
	return r.e.write(context.WithoutCancel(r.ctx), fn)
}

// afterCommit publishes a transaction's events, hands its claims to the
// workers and wakes whoever has more to do.
func (e *Engine) afterCommit(events []*engine.Event, st *txState) {
	e.publish(events)
	r := e.runner()
	if st == nil {
		return
	}
	if r == nil {
		if len(st.claimed) > 0 {
			e.log.Warn("steps claimed without a running runner; their leases will expire", "steps", len(st.claimed))
		}
		return
	}
	if st.leftReady {
		// Before dispatch: the claims may finish (and the committer look
		// for starved work) before this function gets further.
		r.starved.Store(true)
	}
	r.dispatch(st.claimed)
	for _, s := range st.dirty {
		for _, t := range []*time.Time{s.WakeAt, s.JeopardyAt} {
			if t != nil {
				r.armTimer(*t)
			}
		}
	}
	if st.systemsChanged {
		e.invalidateSystems()
		e.signalWork()
		r.wakeReleaser()
	}
	if st.leftReady {
		e.signalWork()
	}
}

func (e *Engine) runner() *runner {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.run
}

// free capacity of the local runner, 0 without one.
func (e *Engine) claimCapacity() int {
	if r := e.runner(); r != nil {
		return r.free()
	}
	return 0
}

// poller claims READY steps that no transaction claimed (left for any
// replica, retried, recovered).
func (r *runner) poller() {
	defer r.loops.Done()
	for {
		select {
		case <-r.stopping:
			return
		case <-r.kick:
		case <-r.e.workSignal():
		case <-r.e.clock.After(r.cfg.PollInterval):
		}
		r.repeat("claim ready steps", r.claimReady)
	}
}

// repeat runs a pass that works in batches (claimReady, sweep) until it
// reports no more, and returns how much it moved. An error is logged and
// ends the run: the loop tries again when it next wakes.
func (r *runner) repeat(what string, pass func() (n int, more bool, err error)) (int, error) {
	total := 0
	for {
		n, more, err := pass()
		total += n
		if err != nil {
			r.e.log.Error(what, "err", err)
			return total, err
		}
		if !more {
			return total, nil
		}
	}
}

// claimableTypes are the step types claimReady takes: every type.
var claimableTypes = []engine.StepType{engine.Callout, engine.AutoTask, engine.Milestone, engine.ManualTask, engine.Pause}

// claimReady claims one batch of READY steps: how many, and whether there
// may be more.
func (r *runner) claimReady() (n int, more bool, err error) {
	free := r.free()
	if free <= 0 {
		return 0, false, nil
	}
	limit := min(free, 100)
	err = r.write(func(st *txState) error {
		recs, err := st.tx.ClaimReady(st.ctx, claimableTypes, limit)
		if err != nil {
			return err
		}
		n = len(recs)
		for _, rec := range recs {
			def, err := st.def(rec)
			if err != nil {
				return err
			}
			if err := st.activate(rec, def); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return 0, false, err
	}
	return n, n == limit, nil
}

// timers moves what is due: retries, pause durations, expired leases,
// jeopardy. It sleeps until the earliest timer (or the poll interval).
func (r *runner) timers() {
	defer r.loops.Done()
	for {
		// Until the loop sleeps again, any timer that is set must wake it:
		// one committed after NextDue read the table would otherwise wait
		// for the poll (armTimer compares with nextWake).
		r.nextWake.Store(math.MaxInt64)
		wait := r.cfg.PollInterval
		now := r.e.clock.Now()
		if at, ok, err := r.e.store.NextDue(r.ctx); err != nil {
			r.e.log.Error("read next timer", "err", err)
		} else if ok {
			wait = min(wait, at.Sub(now))
		}
		r.nextWake.Store(now.Add(wait).UnixNano())
		select {
		case <-r.stopping:
			return
		case <-r.timerKick:
		case <-r.e.clock.After(wait):
		}
		r.nextWake.Store(math.MaxInt64)
		r.repeat("sweep timers", r.sweep)
	}
}

// sweep moves one batch of each kind of due timer: how many steps it
// moved, and whether there may be more.
func (r *runner) sweep() (n int, more bool, err error) {
	const limit = 200
	err = r.write(func(st *txState) error {
		n, more = 0, false
		for _, timer := range []struct {
			due  func(ctx context.Context, now time.Time, limit int) ([]*engine.StepRecord, error)
			move func(*engine.StepRecord) error
		}{
			{st.tx.DueSteps, st.wakeUp},            // retries and pauses
			{st.tx.ExpiredLeases, st.leaseExpired}, // attempts lost with their replica
			{st.tx.JeopardyDue, st.jeopardy},
		} {
			recs, err := timer.due(st.ctx, st.now, limit)
			if err != nil {
				return err
			}
			for _, rec := range recs {
				if err := timer.move(rec); err != nil {
					return err
				}
			}
			n += len(recs)
			more = more || len(recs) == limit
		}
		return nil
	})
	if err != nil {
		return 0, false, err
	}
	return n, more, nil
}

// releaseUnstarted hands steps claimed but never started back to READY.
func (r *runner) releaseUnstarted(ctx context.Context) {
	r.mu.Lock()
	claims := r.released
	r.released = nil
	r.mu.Unlock()
	if len(claims) == 0 {
		return
	}
	byID := map[int]*Claim{}
	ids := make([]int, 0, len(claims))
	for _, c := range claims {
		byID[c.Step.ID] = c
		ids = append(ids, c.Step.ID)
	}
	// Stopping: the transaction claims nothing (free is 0).
	err := r.e.write(ctx, func(st *txState) error {
		recs, err := st.tx.LockSteps(st.ctx, ids)
		if err != nil {
			return err
		}
		for _, rec := range recs {
			c := byID[rec.ID]
			if rec.Status != engine.StepRunning || rec.LeaseOwner != r.e.workerID || rec.Attempts != c.Attempt {
				continue
			}
			rec.Attempts--
			rec.LeaseOwner, rec.LeaseUntil, rec.StartedAt = "", nil, nil
			if err := st.move(rec, engine.StepReady, "", "released at shutdown before it started"); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		r.e.log.Error("release claimed steps at shutdown; their leases will expire", "err", err)
		return
	}
	r.e.signalWork()
	r.e.log.Info("released claimed steps", "steps", len(ids))
}

// leaseFor is how long a claim may run before another replica retries it.
func (e *Engine) leaseFor(def *catalog.StepDef) time.Duration {
	cfg := RunnerConfig{}
	if r := e.runner(); r != nil {
		cfg = r.cfg
	}
	cfg.defaults()
	if def.Callout != nil {
		return def.Callout.Timeout + cfg.LeaseGrace
	}
	return cfg.ActionLease
}

func (r *runner) wakeReleaser() {
	select {
	case r.relKick <- struct{}{}:
	default:
	}
}

// releaseTick is how often the releaser runs.
func (r *runner) releaseTick() time.Duration { return min(r.cfg.PollInterval, time.Second) }

// releaser lets held callouts go when their system is back (ONLINE, circuit
// closed), at the system's releaseRate: a system that just came back is not
// flooded with everything that waited for it. Of a HALF_OPEN circuit it lets
// one go, the trial; it announces the circuits it sees HALF_OPEN first.
func (r *runner) releaser() {
	defer r.loops.Done()
	tick := r.releaseTick()
	for {
		select {
		case <-r.stopping:
			return
		case <-r.relKick:
		case <-r.e.clock.After(tick):
		}
		r.release()
	}
}

// release lets go what is due of each system's held callouts, and
// returns how many it released and circuits it announced HALF_OPEN. An
// error is logged; the first is returned.
func (r *runner) release() (moved int, first error) {
	ctx := context.WithoutCancel(r.ctx)
	fail := func(msg string, err error, args ...any) {
		r.e.log.Warn(msg, append(args, "err", err)...)
		if first == nil {
			first = err
		}
	}
	held, err := r.e.store.HeldCounts(ctx)
	if err != nil {
		fail("count held callouts", err)
		return 0, first
	}
	moved, first = r.announceHalfOpen(ctx, held)
	if len(held) == 0 {
		return moved, first
	}
	cat, err := r.e.CurrentCatalog(ctx)
	if err != nil {
		fail("release held callouts: no catalog", err)
		return 0, first
	}
	for name, n := range held {
		now := r.e.clock.Now()
		if n == 0 {
			continue
		}
		if held, err := r.e.systemHeld(ctx, nil, name, now); err != nil || held {
			if err != nil {
				fail("release held callouts", err, "system", name)
			}
			continue
		}
		interval := time.Duration(0)
		if def := cat.Systems[name]; def != nil {
			interval = releaseInterval(def.ReleaseRate)
		}
		released := 0
		err := r.write(func(st *txState) error {
			released = 0
			take, announced, err := st.takeRelease(name, interval, r.releaseTick(), min(n, 200))
			if err != nil {
				return err
			}
			if announced {
				released++
			}
			if take == 0 {
				return nil
			}
			steps, err := st.tx.HeldSteps(st.ctx, name, take)
			if err != nil {
				return err
			}
			for _, rec := range steps {
				def, err := st.def(rec)
				if err != nil {
					return err
				}
				if err := st.move(rec, engine.StepReady, "", "system "+name+" is back: released"); err != nil {
					return err
				}
				if err := st.activate(rec, def); err != nil {
					return err
				}
			}
			released += len(steps)
			return nil
		})
		if err != nil {
			r.e.log.Error("release held callouts", "system", name, "err", err)
			if first == nil {
				first = err
			}
			continue
		}
		moved += released
	}
	return moved, first
}

// announceHalfOpen records the circuits whose cool-down ran out, seen
// HALF_OPEN for the first time, of systems with no callout held (held:
// the held counts; takeRelease announces the others), and returns how
// many it announced.
func (r *runner) announceHalfOpen(ctx context.Context, held map[string]int) (announced int, first error) {
	states, err := r.e.cachedSystems(ctx)
	if err != nil {
		r.e.log.Warn("read system states", "err", err)
		return 0, err
	}
	for _, st := range states {
		if held[st.Name] > 0 || st.TrialUntil != nil || st.Circuit(r.e.clock.Now()) != engine.CircuitHalfOpen {
			continue
		}
		did := false
		if err := r.write(func(tx *txState) error {
			var err error
			did, err = tx.announceHalfOpen(st.Name)
			return err
		}); err != nil {
			r.e.log.Error("announce a half-open circuit", "system", st.Name, "err", err)
			if first == nil {
				first = err
			}
			continue
		}
		if did {
			announced++
		}
	}
	return announced, first
}
