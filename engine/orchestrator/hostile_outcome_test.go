package orchestrator_test

import (
	"context"
	"errors"
	"github.com/batonhq/baton/engine"
	"github.com/batonhq/baton/engine/enginetest"
	"github.com/batonhq/baton/engine/orchestrator"
	"github.com/batonhq/baton/ent"
	"github.com/batonhq/baton/ent/attempt"
	"github.com/batonhq/baton/ent/step"
	"math"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// hoGood are the healthy callouts that run beside the poisoned one.
var hoGood = []string{"Good1", "Good2", "Good3"}

// hoCatalog has the healthy callouts and Poison (defined by poison) in one
// group, without dependencies: all four are claimed together, run at once,
// and their outcomes are recorded together.
func hoCatalog(poison string) string {
	steps := []string{poison}
	for _, n := range hoGood {
		steps = append(steps, `{name: `+n+`, type: CALLOUT, callout: {system: sys, path: /`+strings.ToLower(n)+`}}`)
	}
	return xCatalog("", steps, nil)
}

// hoBarrier holds the first request of each of n paths until all n have
// arrived, so that the answers come back together and their outcomes reach
// the committer together.
type hoBarrier struct {
	mu      sync.Mutex
	n       int
	arrived int
	all     chan struct{}
}

func newHOBarrier(n int) *hoBarrier { return &hoBarrier{n: n, all: make(chan struct{})} }

func (b *hoBarrier) wait() {
	b.mu.Lock()
	if b.arrived++; b.arrived == b.n {
		close(b.all)
	}
	b.mu.Unlock()
	select {
	case <-b.all:
	case <-time.After(5 * time.Second): // answer anyway; the test checks outcomes, not timing
	}
}

// hoAnswerTogether scripts the healthy paths and /poison: each first
// request waits at the barrier, then the healthy ones answer 200 with a
// ref, /poison with code and body (on every attempt). Code 0: Poison is
// not a callout, the barrier waits for the healthy ones only.
func hoAnswerTogether(xs *xSystem, code int, body string) {
	n := len(hoGood) + 1
	if code == 0 {
		n = len(hoGood)
	}
	bar := newHOBarrier(n)
	for _, n := range hoGood {
		ref := "R-" + n
		xs.on("/"+strings.ToLower(n), func(_ *http.Request, i int) (int, string) {
			if i == 1 {
				bar.wait()
			}
			return 200, `{"ref":"` + ref + `"}`
		})
	}
	if code == 0 {
		return
	}
	xs.on("/poison", func(_ *http.Request, i int) (int, string) {
		if i == 1 {
			bar.wait()
		}
		return code, body
	})
}

// hoCheckGood checks that every healthy callout completed after exactly
// one attempt, with its answer as output, and that its system saw exactly
// one request.
func hoCheckGood(t *testing.T, b *xBundle, orderID int) {
	t.Helper()
	for _, n := range hoGood {
		s := b.waitStep(t, orderID, n, step.StatusCOMPLETED)
		if s.AttemptCount != 1 || s.Output["ref"] != "R-"+n {
			t.Errorf("%s: %d attempts, output %v; want 1 attempt with ref R-%s", n, s.AttemptCount, s.Output, n)
		}
		as := b.attempts(t, s.ID)
		if len(as) != 1 {
			t.Errorf("%s: %d attempts recorded; want 1", n, len(as))
		} else {
			checkAttempt(t, as[0], 1, attempt.OutcomeSUCCEEDED, 200, "")
		}
		b.checkRequests(t, "/"+strings.ToLower(n), s.ID, 1)
	}
}

// An answer the databases cannot hold as it is fails its own step's
// attempt with the reason and where in the answer it is, and the step
// follows its retry policy to fallout; the healthy callouts beside it
// complete, each sent once. The same on SQLite (which would store a NUL)
// and PostgreSQL (which refuses it).
func TestHostileOutcomePoisonAnswer(t *testing.T) {
	t.Parallel()
	// Poison retries once, at once (IMMEDIATE), then falls out; its set
	// mapping makes a NUL key out of a clean answer that has `k`.
	poison := `{name: Poison, type: CALLOUT, retry: {max: 1, policy: IMMEDIATE}, callout: {system: sys, path: /poison,
               set: {order.tag: 'response.body.k != nil ? {(response.body.k + "\u0000"): 1} : {}'}}}`
	huge := `{"x":"` + strings.Repeat("a", 1<<20) + `"}`
	cases := []struct {
		name     string
		code     int
		body     string
		attempts int    // Poison's attempts before fallout
		want     string // in Poison's error and in each attempt's
	}{
		{"NUL in a string", 200, `{"x":"a\u0000b"}`, 2, `response.body.x: contains a NUL character (\u0000)`},
		{"NUL in a key", 200, `{"ok":{"a\u0000b":1}}`, 2, `response.body.ok["a\x00b"]: contains a NUL character (\u0000)`},
		{"NUL in an answer that is not JSON", 200, "done\x00", 2, `response.body: contains a NUL character (\u0000)`},
		{"invalid UTF-8", 200, "{\"x\":\"caf\xe9\"}", 2, `the answer is not valid UTF-8 (byte 9)`},
		{"nested too deep", 200, strings.Repeat("[", 40) + "1" + strings.Repeat("]", 40), 2, `nests more than 32 levels deep`},
		{"longer than the limit", 200, huge, 2, `the answer is longer than 1048576 bytes`},
		// The mapping's fault, not the answer's: like a mapping that fails
		// to evaluate, it falls out without a retry.
		{"a set mapping that makes a NUL key", 200, `{"k":"v"}`, 1, `contains a NUL character (\u0000)`},
		// A 4xx falls out at once; its message quotes the answer, which
		// must be stored as readable text.
		{"a 4xx answer with NUL and invalid UTF-8", 400, "bad\x00\xffanswer", 1, `400 Bad Request: bad\u0000` + "\uFFFD" + `answer`},
	}
	for _, be := range enginetest.Backends() {
		for _, tc := range cases {
			t.Run(be.Name+"/"+tc.name, func(t *testing.T) {
				b := setupExec(t, be.URL(t), hoCatalog(poison), xOptions{run: &orchestrator.RunnerConfig{}})
				hoAnswerTogether(b.xs, tc.code, tc.body)
				rec := b.submit(t, widgetOrder("poison-1"))

				p := b.waitStep(t, rec.ID, "Poison", step.StatusFALLOUT)
				if !strings.Contains(str(p.Error), tc.want) || strings.Contains(str(p.Error), "lease") {
					t.Errorf("Poison error %q; want it to say %q (and no lease expiry)", str(p.Error), tc.want)
				}
				as := b.attempts(t, p.ID)
				if len(as) != tc.attempts || p.AttemptCount != tc.attempts {
					t.Errorf("Poison: %d attempts recorded, count %d; want %d", len(as), p.AttemptCount, tc.attempts)
				}
				for i, a := range as {
					checkAttempt(t, a, i+1, attempt.OutcomeFAILED, tc.code, tc.want)
				}
				b.checkRequests(t, "/poison", p.ID, tc.attempts)
				if _, ok := b.orderAttrs(t, rec.ID)["tag"]; ok {
					t.Errorf("order attributes %v: a failed attempt set tag", b.orderAttrs(t, rec.ID))
				}
				hoCheckGood(t, b, rec.ID)
			})
		}
	}
}

// An action's result is held to the same rules as a callout's answer, on
// a worker and inside the transaction alike: the step fails with the
// reason (and its error text is stored readable), the healthy callouts
// beside it complete.
func TestHostileOutcomeActionResult(t *testing.T) {
	t.Parallel()
	poisoned := func(_ context.Context, _ *orchestrator.ActionInput) (*orchestrator.Result, error) {
		return &orchestrator.Result{Output: map[string]any{"list": []any{"ok", "a\x00b"}}, SetOrder: map[string]any{"n": math.Inf(1)}}, nil
	}
	actions := []orchestrator.Action{
		{Name: "x-poison", Run: poisoned},
		{Name: "x-poison-tx", InTransaction: true, Run: poisoned},
		{Name: "x-bad-error", Run: func(context.Context, *orchestrator.ActionInput) (*orchestrator.Result, error) {
			return nil, &orchestrator.StepError{Message: "failed: \x00\xff"}
		}},
	}
	for _, be := range enginetest.Backends() {
		for _, tc := range []struct{ action, want string }{
			{"x-poison", `output.list[1]: contains a NUL character (\u0000)`},
			{"x-poison-tx", `order.attributes.n: +Inf is not a JSON number`},
			{"x-bad-error", `failed: \u0000` + "\uFFFD"},
		} {
			t.Run(be.Name+"/"+tc.action, func(t *testing.T) {
				b := setupExec(t, be.URL(t), hoCatalog(`{name: Poison, type: AUTO_TASK, auto: {action: `+tc.action+`}, retry: {max: 0}}`),
					xOptions{run: &orchestrator.RunnerConfig{}, actions: actions})
				hoAnswerTogether(b.xs, 0, "")
				rec := b.submit(t, widgetOrder("action-1"))
				p := b.waitStep(t, rec.ID, "Poison", step.StatusFALLOUT)
				if !strings.Contains(str(p.Error), tc.want) {
					t.Errorf("Poison error %q; want it to say %q", str(p.Error), tc.want)
				}
				if oa := b.orderAttrs(t, rec.ID); oa["n"] != nil {
					t.Errorf("order attributes %v: a failed attempt set n", oa)
				}
				hoCheckGood(t, b, rec.ID)
			})
		}
	}
}

// ---------------------------------------------------------------------------
// An outcome that still fails in the database.

// hoRefusingStore makes the database refuse what one outcome writes: a
// step whose output has `refuse: true` is saved with the poison value in
// its place. The value passes the engine's checks as `true` and becomes
// the poison only below them, on its way to the database — the way a
// value the checks do not foresee would reach it. Everything else is the
// real store's.
type hoRefusingStore struct {
	engine.Store
	poison any
}

func (s hoRefusingStore) Write(ctx context.Context, fn func(engine.Tx) error) ([]*engine.Event, error) {
	return s.Store.Write(ctx, func(tx engine.Tx) error { return fn(hoRefusingTx{tx, s.poison}) })
}

type hoRefusingTx struct {
	engine.Tx
	poison any
}

func (t hoRefusingTx) SaveSteps(ctx context.Context, steps []*engine.StepRecord) error {
	out := make([]*engine.StepRecord, len(steps))
	for i, r := range steps {
		out[i] = r
		if r.Output["refuse"] == true {
			c := *r // the engine's record stays as it is
			c.Output = map[string]any{}
			for k, v := range r.Output {
				c.Output[k] = v
			}
			c.Output["refuse"] = t.poison
			out[i] = &c
		}
	}
	return t.Tx.SaveSteps(ctx, out)
}

// hoSetupRefusing is setupExec over a hoRefusingStore.
func hoSetupRefusing(t *testing.T, url, catalog string, poison any) *xBundle {
	t.Helper()
	return setupExec(t, url, catalog, xOptions{run: &orchestrator.RunnerConfig{},
		wrapStore: func(st engine.Store) engine.Store { return hoRefusingStore{st, poison} }})
}

// hoHungBatch submits an order of hoCatalog whose four callouts hang
// until the test ends, waits for their requests, and returns the order,
// its RUNNING steps by name and a batch of successful outcomes for them
// (Poison's output marked refuse: true), to be recorded as one batch
// (ApplyOutcomes) while the workers' own attempts hang. Those report
// afterwards and are ignored, their steps having moved on.
func hoHungBatch(t *testing.T, b *xBundle, ext string) (*engine.OrderRecord, map[string]*ent.Step, []orchestrator.Outcome) {
	t.Helper()
	names := append([]string{"Poison"}, hoGood...)
	for _, n := range names {
		b.xs.on("/"+strings.ToLower(n), func(r *http.Request, _ int) (int, string) {
			b.xs.hang(r)
			return 200, `{"late":true}`
		})
	}
	rec := b.submit(t, widgetOrder(ext))
	b.xs.await(t, "", len(names))
	var batch []orchestrator.Outcome
	steps := map[string]*ent.Step{}
	for _, n := range names {
		s := b.stepByName(t, rec.ID, n)
		if s.Status != step.StatusRUNNING {
			t.Fatalf("%s is %s; want RUNNING while its callout hangs", n, s.Status)
		}
		steps[n] = s
		out := map[string]any{"ref": "R-" + n}
		if n == "Poison" {
			out["refuse"] = true
		}
		now := b.clock.Now()
		batch = append(batch, orchestrator.Outcome{StepID: s.ID, Attempt: s.AttemptCount, Owner: s.LeaseOwner, Worker: s.LeaseOwner,
			StartedAt: now, FinishedAt: now, Result: &orchestrator.Result{HTTPStatus: 200, Output: out}})
	}
	return rec, steps, batch
}

// hoCheckBatch lets the hanging callouts answer late, stops the engine
// and checks that the steps named completed with the batch's outcome, one
// attempt each, their systems having seen one request each.
func hoCheckBatch(t *testing.T, b *xBundle, rec *engine.OrderRecord, steps map[string]*ent.Step, names ...string) {
	t.Helper()
	b.xs.unblock()
	if err := b.engine.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		s := b.stepByName(t, rec.ID, n)
		if s.Status != step.StatusCOMPLETED || s.Output["ref"] != "R-"+n || s.Output["late"] != nil {
			t.Errorf("%s: %s, output %v; want COMPLETED with the batch's outcome", n, s.Status, s.Output)
		}
		if as := b.attempts(t, s.ID); len(as) != 1 {
			t.Errorf("%s: %d attempts recorded; want 1", n, len(as))
		}
	}
	for n, s := range steps {
		b.checkRequests(t, "/"+strings.ToLower(n), s.ID, 1)
	}
}

// When the database refuses what one outcome of a batch writes, the
// other outcomes of the batch are recorded (once), and the culprit's step
// fails with the database's own error in a transaction of its own — not
// left RUNNING until its lease expires, and no healthy callout is sent
// again.
func TestHostileOutcomeRefusedByDatabase(t *testing.T) {
	t.Parallel()
	type refusal struct {
		name   string
		poison any
		want   string // in the Poison step's error
	}
	for _, be := range enginetest.Backends() {
		refusals := []refusal{
			// Both stores: JSON has no NaN, the store cannot encode it.
			{"a value the store cannot encode", math.NaN(), "unsupported value: NaN"},
		}
		if be.Name == "postgres" {
			// PostgreSQL's jsonb refuses \u0000, which SQLite keeps.
			refusals = append(refusals, refusal{"a NUL PostgreSQL refuses", "a\x00b", "unsupported Unicode escape sequence"})
		}
		for _, rf := range refusals {
			t.Run(be.Name+"/"+rf.name, func(t *testing.T) {
				b := hoSetupRefusing(t, be.URL(t), hoCatalog(`{name: Poison, type: CALLOUT, retry: {max: 0}, callout: {system: sys, path: /poison}}`), rf.poison)
				rec, steps, batch := hoHungBatch(t, b, "refused-1")
				b.engine.ApplyOutcomes(batch)

				p := b.stepByName(t, rec.ID, "Poison")
				if p.Status != step.StatusFALLOUT || !strings.Contains(str(p.Error), "the outcome could not be recorded") ||
					!strings.Contains(str(p.Error), rf.want) {
					t.Errorf("Poison: %s, error %q; want FALLOUT saying the outcome could not be recorded: …%s…", p.Status, str(p.Error), rf.want)
				}
				if as := b.attempts(t, p.ID); len(as) != 1 {
					t.Errorf("Poison: %d attempts recorded; want 1", len(as))
				} else {
					checkAttempt(t, as[0], 1, attempt.OutcomeFAILED, 200, rf.want)
				}
				// The late answers of the hanging attempts change nothing.
				hoCheckBatch(t, b, rec, steps, hoGood...)
				if p := b.stepByName(t, rec.ID, "Poison"); p.Status != step.StatusFALLOUT || p.AttemptCount != 1 {
					t.Errorf("Poison after the late answers: %s after %d attempts; want FALLOUT after 1", p.Status, p.AttemptCount)
				}
			})
		}
	}
}

// ---------------------------------------------------------------------------
// One retry layer: the store retries a transaction that conflicted; the
// runner waits only for a database that does not answer.

// hoOutage is a store whose outcome transactions fail (LockSteps) while
// the database is down or a number of failures is armed, and whose reads
// (LastEventID, the runner's question whether the database answers) fail
// while it is down; each failed read brings it closer to being back.
type hoOutage struct {
	engine.Store
	mu        sync.Mutex
	downReads int // reads that fail before the database is back
	failLocks int // LockSteps calls that fail while the database answers
	locks     int // LockSteps calls made
}

func (s *hoOutage) Write(ctx context.Context, fn func(engine.Tx) error) ([]*engine.Event, error) {
	return s.Store.Write(ctx, func(tx engine.Tx) error { return fn(hoOutageTx{tx, s}) })
}

func (s *hoOutage) LastEventID(ctx context.Context) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.downReads > 0 {
		s.downReads--
		return 0, errors.New("dial tcp: connection refused")
	}
	return s.Store.LastEventID(ctx)
}

type hoOutageTx struct {
	engine.Tx
	s *hoOutage
}

func (t hoOutageTx) LockSteps(ctx context.Context, ids []int) ([]*engine.StepRecord, error) {
	t.s.mu.Lock()
	t.s.locks++
	fail := t.s.downReads > 0 || t.s.failLocks > 0
	if t.s.downReads == 0 && t.s.failLocks > 0 {
		t.s.failLocks--
	}
	t.s.mu.Unlock()
	if fail {
		return nil, errors.New("driver: bad connection")
	}
	return t.Tx.LockSteps(ctx, ids)
}

// arm sets the next failures and returns the LockSteps calls so far.
func (s *hoOutage) arm(downReads, failLocks int) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.downReads, s.failLocks = downReads, failLocks
	return s.locks
}

func (s *hoOutage) locksSince(n int) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.locks - n
}

// One retry layer. While the database does not answer, the runner holds
// on to a batch of outcomes and records it, whole, once the database is
// back: the callouts are not sent again. A batch that failed while the
// database answers is not tried again as it was (the store retries what
// conflicted, and gave up): the runner goes on to record it by halves at
// once.
func TestOutcomesRecordedThroughFailures(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name                 string
		downReads, failLocks int // hoOutage.arm
		locks                int // transactions to record the batch
		why                  string
	}{
		{"while the database does not answer", 1, 0, 2, "one while the database is down, then the batch whole"},
		{"while the database answers", 0, 1, 3, "the batch, then its two halves"},
	}
	for _, be := range enginetest.Backends() {
		for _, tc := range cases {
			t.Run(be.Name+"/"+tc.name, func(t *testing.T) {
				outage := &hoOutage{}
				b := setupExec(t, be.URL(t), hoCatalog(`{name: Poison, type: CALLOUT, callout: {system: sys, path: /poison}}`),
					xOptions{run: &orchestrator.RunnerConfig{}, wrapStore: func(st engine.Store) engine.Store { outage.Store = st; return outage }})
				rec, steps, batch := hoHungBatch(t, b, "outage-1")
				delete(batch[0].Result.Output, "refuse")
				before := outage.arm(tc.downReads, tc.failLocks)
				b.engine.ApplyOutcomes(batch)
				if n := outage.locksSince(before); n != tc.locks {
					t.Errorf("%d transactions to record the batch; want %d (%s)", n, tc.locks, tc.why)
				}
				hoCheckBatch(t, b, rec, steps, append([]string{"Poison"}, hoGood...)...)
			})
		}
	}
}
