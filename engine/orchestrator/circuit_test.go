package orchestrator_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/batonhq/baton/engine"
	"github.com/batonhq/baton/engine/enginetest"
	"github.com/batonhq/baton/engine/orchestrator"
	"github.com/batonhq/baton/ent/order"
	"github.com/batonhq/baton/ent/step"
)

// The half-open circuit (issue 17, part 1): billing's circuit opens after
// 2 consecutive failures for a 4s cool-down; then exactly one trial call
// goes, the others staying ON_HOLD; its success closes the circuit, its
// failure opens it again at once (for 8s, then 16s).

// ccCatalog: billing with a 5s timeout, 60 released a minute, retries
// every retry, the breaker of 2 failures and 4s.
func ccCatalog(retry string) string {
	return sfCatalog(sfSystem("billing", "5s", "releaseRate: 60", "retry: "+retry, "circuit: {failures: 2, coolDown: 4s}"), []string{
		`{name: Bill, type: CALLOUT, callout: {system: billing, path: /billing/charge}}`,
		`{name: Done, type: MILESTONE}`,
	}, []string{`{step: Done, after: Bill}`})
}

// ccBilling scripts billing's answers: 503 while down, 200 when up, and
// while hanging each request waits for the gate, then 200.
type ccBilling struct {
	mode atomic.Int32 // ccDown, ccUp, ccHang
	gate chan struct{}
	once sync.Once
}

const (
	ccDown int32 = iota
	ccUp
	ccHang
)

func ccScript(t *testing.T, xs *xSystem) *ccBilling {
	c := &ccBilling{gate: make(chan struct{})}
	xs.on("/billing/charge", func(r *http.Request, _ int) (int, string) {
		switch c.mode.Load() {
		case ccUp:
			return 200, `{}`
		case ccHang:
			select {
			case <-c.gate:
			case <-r.Context().Done():
			}
			return 200, `{}`
		}
		return 503, `{"error":"billing down"}`
	})
	// Registered after the engines: runs before they stop.
	t.Cleanup(c.open)
	return c
}

// open lets the hanging requests answer.
func (c *ccBilling) open() { c.once.Do(func() { close(c.gate) }) }

// ccCircuitEvents is the CIRCUIT_STATE events of billing, as From>To.
func ccCircuitEvents(t *testing.T, b *xBundle) []string {
	t.Helper()
	var out []string
	for _, ev := range sfEvents(t, b, engine.EventCircuitState, 0) {
		if ev.System != "billing" {
			t.Errorf("CIRCUIT_STATE event of system %q", ev.System)
		}
		out = append(out, ev.From+">"+ev.To)
	}
	return out
}

func ccCheckEvents(t *testing.T, b *xBundle, when string, want ...string) {
	t.Helper()
	if got := ccCircuitEvents(t, b); !slices.Equal(got, want) {
		t.Errorf("%s: CIRCUIT_STATE events %v; want %v", when, got, want)
	}
}

func ccRequests(b *xBundle) int { return len(b.xs.requests("/billing/charge")) }

// ccOpen submits two orders whose Bills fail and open billing's circuit at
// t0, then a third whose Bill waits ON_HOLD, and moves the clock to +1s,
// when the failed Bills' retries come due (retry FIXED 1s) and wait
// ON_HOLD too. It returns the orders and their Bills, all held; the third
// is held longest (the releaser's first).
func ccOpen(t *testing.T, b *xBundle) ([]*engine.OrderRecord, []int) {
	t.Helper()
	t0 := enginetest.Epoch
	orders, bills := sfSubmit(t, b, "cc", 2, "Bill")
	b.idle(t)
	ccCheckEvents(t, b, "after 2 failures", "CLOSED>OPEN")
	if st := sfSystemState(t, b, "billing"); st.Circuit(t0) != engine.CircuitOpen || !sfTimeEq(st.OpenUntil, t0.Add(4*time.Second)) || st.OpenCount != 1 {
		t.Fatalf("billing after 2 failures: %+v; want OPEN until +4s, opened once", st)
	}
	orders = append(orders, b.submit(t, widgetOrder("cc-3")))
	bills = append(bills, b.waitStep(t, orders[2].ID, "Bill", step.StatusON_HOLD).ID)
	sfAdvanceTo(t, b, t0.Add(time.Second), func() bool {
		return sfCount(t, b, step.IDIn(bills...), step.StatusEQ(step.StatusON_HOLD)) == 3
	}, "the Bills are not all ON_HOLD at +1s")
	if n := ccRequests(b); n != 2 {
		t.Fatalf("%d requests while OPEN; want 2", n)
	}
	return orders, bills
}

// ccRunning returns the Bills among ids that are RUNNING.
func ccRunning(t *testing.T, b *xBundle, ids []int) []int {
	t.Helper()
	return sfIDs(t, b, step.IDIn(ids...), step.StatusEQ(step.StatusRUNNING))
}

// Open → half-open → one trial → closed on its success; the held callouts
// stay ON_HOLD while the trial is in flight, and are released at the
// release rate once it succeeded.
func TestCircuitHalfOpenTrialCloses(t *testing.T) {
	t.Parallel()
	enginetest.EachBackend(t, func(t *testing.T, url string) {
		t0 := enginetest.Epoch
		b := sfSetup(t, url, ccCatalog(`{max: 5, policy: FIXED, backoff: 1s}`))
		billing := ccScript(t, b.xs)
		orders, bills := ccOpen(t, b)
		sfProbeAt(t, b, t0.Add(3900*time.Millisecond))
		if n := ccRequests(b); n != 2 {
			t.Fatalf("%d requests before the cool-down ran out; want 2", n)
		}

		// The cool-down runs out: one trial, which hangs.
		billing.mode.Store(ccHang)
		b.clock.Set(t0.Add(4 * time.Second))
		b.runPass(t)
		b.xs.await(t, "/billing/charge", 3)
		running := ccRunning(t, b, bills)
		if len(running) != 1 || running[0] != bills[2] {
			t.Fatalf("RUNNING Bills %v during the trial; want the one held longest, %d, alone", running, bills[2])
		}
		trial := sfStep(t, b, running[0])
		st := sfSystemState(t, b, "billing")
		if st.Circuit(b.clock.Now()) != engine.CircuitHalfOpen || st.TrialStepID != trial.ID || !sfTimeEq(st.TrialUntil, *trial.LeaseUntil) || !st.Held(b.clock.Now()) {
			t.Errorf("billing during the trial: %+v; want HALF_OPEN, step %d's trial until its lease %s, others held", st, trial.ID, sfTime(trial.LeaseUntil))
		}
		ccCheckEvents(t, b, "during the trial", "CLOSED>OPEN", "OPEN>HALF_OPEN")

		// The others stay held while it is in flight, second after second.
		for _, at := range []time.Duration{5 * time.Second, 6 * time.Second} {
			b.clock.Set(t0.Add(at))
			b.runPass(t)
			b.runPass(t)
			if n := ccRequests(b); n != 3 {
				t.Errorf("+%s, the trial in flight: %d requests; want 3", at, n)
			}
			for _, id := range bills[:2] {
				if s := sfStep(t, b, id); s.Status != step.StatusON_HOLD || sfStatusMoves(t, b, id, "ON_HOLD", "READY") != 0 {
					t.Errorf("+%s, the trial in flight: Bill %d is %s, released %d times; want ON_HOLD, untouched", at, id, s.Status,
						sfStatusMoves(t, b, id, "ON_HOLD", "READY"))
				}
			}
		}

		// The trial succeeds: closed; the others go one a second.
		billing.mode.Store(ccUp)
		billing.open()
		b.waitStep(t, orders[2].ID, "Bill", step.StatusCOMPLETED)
		st = sfSystemState(t, b, "billing")
		if c := st.Circuit(b.clock.Now()); c != engine.CircuitClosed || st.Failures != 0 || st.OpenCount != 0 || st.TrialStepID != 0 || st.TrialUntil != nil || st.OpenUntil != nil {
			t.Errorf("billing after the trial succeeded: %+v (%s); want CLOSED with nothing counted", st, c)
		}
		ccCheckEvents(t, b, "after the trial", "CLOSED>OPEN", "OPEN>HALF_OPEN", "HALF_OPEN>CLOSED")
		// The trial was released at +4s: at +6s one more may go, at +7s
		// the last.
		if n := sfReleased(t, b, bills); n != 2 {
			t.Errorf("%d released at +6s, when the trial succeeded; want 2 (the trial, released at +4s, and one more)", n)
		}
		b.advance(t, time.Second, func() bool { return sfReleased(t, b, bills) == 3 }, "the last Bill not released at +7s")
		for _, o := range orders {
			b.waitOrder(t, o.ID, order.StatusCOMPLETED)
		}
		if n := ccRequests(b); n != 5 {
			t.Errorf("%d requests; want 5 (2 failed, the trial, 2 after it)", n)
		}
		b.checkTrail(t, bills[2], "READY>ON_HOLD>READY>RUNNING>COMPLETED")
		b.checkTrail(t, bills[0], "READY>RUNNING>FAILED>READY>ON_HOLD>READY>RUNNING>COMPLETED")
		// The SYSTEM_STATUS circuit events of old: opened, then closed (by
		// the trial).
		if evs := sfSystemEvents(t, b, "billing"); len(evs) != 2 || evs[0].To != "CIRCUIT_OPEN" || evs[1].To != "CIRCUIT_CLOSED" {
			t.Errorf("SYSTEM_STATUS events %v; want CIRCUIT_OPEN then CIRCUIT_CLOSED", sfEventTos(evs))
		}
	})
}

// A failed trial opens the circuit again at once, with no second call, for
// a cool-down twice as long, then four times; the held callouts are never
// touched; a later trial's success closes it.
func TestCircuitHalfOpenTrialFailureReopens(t *testing.T) {
	t.Parallel()
	enginetest.EachBackend(t, func(t *testing.T, url string) {
		t0 := enginetest.Epoch
		b := sfSetup(t, url, ccCatalog(`{max: 9, policy: FIXED, backoff: 1s}`))
		billing := ccScript(t, b.xs)
		orders, bills := ccOpen(t, b)
		untouched := func(when string, ids ...int) {
			t.Helper()
			for _, id := range ids {
				if s := sfStep(t, b, id); s.Status != step.StatusON_HOLD || sfStatusMoves(t, b, id, "ON_HOLD", "READY") != 0 {
					t.Errorf("%s: Bill %d is %s, released %d times; want ON_HOLD, untouched", when, id, s.Status, sfStatusMoves(t, b, id, "ON_HOLD", "READY"))
				}
			}
		}

		// +4s: the trial (the Bill held longest, the third) fails; open
		// again until +12s.
		sfProbeAt(t, b, t0.Add(4*time.Second))
		if n := ccRequests(b); n != 3 {
			t.Fatalf("%d requests after the first trial; want 3: one trial", n)
		}
		ccCheckEvents(t, b, "after the first trial", "CLOSED>OPEN", "OPEN>HALF_OPEN", "HALF_OPEN>OPEN")
		st := sfSystemState(t, b, "billing")
		if st.Circuit(b.clock.Now()) != engine.CircuitOpen || !sfTimeEq(st.OpenUntil, t0.Add(12*time.Second)) || st.OpenCount != 2 || st.TrialStepID != 0 {
			t.Fatalf("billing after the failed trial: %+v; want OPEN until +12s (8s), opened twice, no trial", st)
		}
		untouched("after the first trial", bills[:2]...)
		// Its retry comes due at +5s and waits ON_HOLD: no second call.
		sfProbeAt(t, b, t0.Add(5*time.Second))
		sfProbeAt(t, b, t0.Add(11900*time.Millisecond))
		if n := ccRequests(b); n != 3 {
			t.Errorf("%d requests during the second cool-down; want 3", n)
		}
		if s := sfStep(t, b, bills[2]); s.Status != step.StatusON_HOLD || s.AttemptCount != 1 {
			t.Errorf("the first trial's Bill at +11.9s: %s, %d attempts; want ON_HOLD after 1", s.Status, s.AttemptCount)
		}
		untouched("during the second cool-down", bills[:2]...)

		// +12s: the second trial (now the Bill held longest: the first)
		// fails; open for 16s.
		sfProbeAt(t, b, t0.Add(12*time.Second))
		if n := ccRequests(b); n != 4 {
			t.Fatalf("%d requests after the second trial; want 4", n)
		}
		st = sfSystemState(t, b, "billing")
		if !sfTimeEq(st.OpenUntil, t0.Add(28*time.Second)) || st.OpenCount != 3 {
			t.Fatalf("billing after the second failed trial: %+v; want OPEN until +28s (16s), opened 3 times", st)
		}
		if got := sfIDs(t, b, step.IDIn(bills...), step.AttemptCountGT(1)); !slices.Equal(got, bills[:1]) {
			t.Errorf("Bills with more than one attempt %v; want the first alone (failed, then the second trial)", got)
		}
		untouched("after the second trial", bills[1])
		// The second trial's retry comes due at +13s and waits ON_HOLD.
		sfProbeAt(t, b, t0.Add(13*time.Second))
		if n := ccRequests(b); n != 4 {
			t.Errorf("%d requests at +13s; want 4", n)
		}

		// +28s, billing back: the third trial (the second Bill, held
		// longest) succeeds and closes the circuit; the others follow at
		// the release rate, from a second after the trial.
		billing.mode.Store(ccUp)
		b.clock.Set(t0.Add(28 * time.Second))
		b.idle(t)
		if n := ccRequests(b); n != 5 {
			t.Errorf("%d requests after the third trial; want 5", n)
			for _, id := range bills {
				t.Logf("Bill %d: %s", id, b.trail(t, id))
			}
			for _, ev := range sfEvents(t, b, engine.EventStepStatus, 0) {
				t.Logf("%s step %d %s>%s %s", ev.At.Sub(t0), ev.StepID, ev.From, ev.To, ev.Note)
			}
		}
		ccCheckEvents(t, b, "after the third trial", "CLOSED>OPEN", "OPEN>HALF_OPEN", "HALF_OPEN>OPEN", "OPEN>HALF_OPEN", "HALF_OPEN>OPEN",
			"OPEN>HALF_OPEN", "HALF_OPEN>CLOSED")
		if st := sfSystemState(t, b, "billing"); st.Circuit(b.clock.Now()) != engine.CircuitClosed || st.OpenCount != 0 {
			t.Errorf("billing after the trial succeeded: %+v; want CLOSED", st)
		}
		for i := 0; i < 3 && sfCount(t, b, step.IDIn(bills...), step.StatusEQ(step.StatusON_HOLD)) > 0; i++ {
			b.clock.Advance(time.Second)
			b.idle(t)
		}
		for _, o := range orders {
			b.waitOrder(t, o.ID, order.StatusCOMPLETED)
		}
		if n := ccRequests(b); n != 2+3+2 {
			t.Errorf("%d requests; want 7 (2 failed, 3 trials, 2 after)", n)
		}
		if evs := sfSystemEvents(t, b, "billing"); len(evs) != 2 || evs[0].To != "CIRCUIT_OPEN" || evs[1].To != "CIRCUIT_CLOSED" {
			t.Errorf("SYSTEM_STATUS events %v; want CIRCUIT_OPEN then CIRCUIT_CLOSED", sfEventTos(evs))
		}
		for _, ev := range sfEvents(t, b, engine.EventCircuitState, 0) {
			if ev.Note == "" {
				t.Errorf("CIRCUIT_STATE %s>%s has no note", ev.From, ev.To)
			}
		}
	})
}

// With nothing held when the cool-down runs out, the circuit is announced
// HALF_OPEN and the next callout that becomes READY is the trial; another
// one that becomes READY while it is in flight waits ON_HOLD.
func TestCircuitHalfOpenTrialWithNothingHeld(t *testing.T) {
	t.Parallel()
	enginetest.EachBackend(t, func(t *testing.T, url string) {
		t0 := enginetest.Epoch
		// Retries a minute apart: nothing is held at +4s.
		b := sfSetup(t, url, ccCatalog(`{max: 5, policy: FIXED, backoff: 1m}`))
		billing := ccScript(t, b.xs)
		orders, _ := sfSubmit(t, b, "nh", 2, "Bill")
		b.idle(t)
		ccCheckEvents(t, b, "after 2 failures", "CLOSED>OPEN")

		sfProbeAt(t, b, t0.Add(4*time.Second))
		ccCheckEvents(t, b, "the cool-down over", "CLOSED>OPEN", "OPEN>HALF_OPEN")
		if st := sfSystemState(t, b, "billing"); st.Circuit(b.clock.Now()) != engine.CircuitHalfOpen || !st.TrialFree(b.clock.Now()) || !sfTimeEq(st.TrialUntil, t0.Add(4*time.Second)) {
			t.Fatalf("billing at +4s: %+v; want HALF_OPEN, a trial free since +4s", st)
		}
		sfProbeAt(t, b, t0.Add(5*time.Second))
		ccCheckEvents(t, b, "a second later", "CLOSED>OPEN", "OPEN>HALF_OPEN")

		billing.mode.Store(ccHang)
		first := b.submit(t, widgetOrder("nh-3"))
		b.xs.await(t, "/billing/charge", 3)
		trial := b.stepByName(t, first.ID, "Bill")
		second := b.submit(t, widgetOrder("nh-4"))
		b.runPass(t)
		if s := b.stepByName(t, second.ID, "Bill"); s.Status != step.StatusON_HOLD {
			t.Fatalf("a Bill READY during the trial is %s; want ON_HOLD", s.Status)
		}
		if st := sfSystemState(t, b, "billing"); st.TrialStepID != trial.ID {
			t.Errorf("billing's trial is step %d; want %d, the first READY", st.TrialStepID, trial.ID)
		}
		if n := ccRequests(b); n != 3 {
			t.Errorf("%d requests during the trial; want 3", n)
		}

		billing.mode.Store(ccUp)
		billing.open()
		b.waitStep(t, first.ID, "Bill", step.StatusCOMPLETED)
		b.checkTrail(t, trial.ID, "READY>RUNNING>COMPLETED")
		b.clock.Advance(time.Second)
		b.waitStep(t, second.ID, "Bill", step.StatusCOMPLETED)
		ccCheckEvents(t, b, "after the trial", "CLOSED>OPEN", "OPEN>HALF_OPEN", "HALF_OPEN>CLOSED")
		// Closed: the next callout goes at once.
		next := b.submit(t, widgetOrder("nh-5"))
		b.waitStep(t, next.ID, "Bill", step.StatusCOMPLETED)
		b.checkTrail(t, b.stepByName(t, next.ID, "Bill").ID, "READY>RUNNING>COMPLETED")
		_ = orders
	})
}

// An operator bringing the system ONLINE closes a HALF_OPEN circuit too:
// an event from HALF_OPEN with the operator and note.
func TestCircuitHalfOpenClosedByHand(t *testing.T) {
	t.Parallel()
	enginetest.EachBackend(t, func(t *testing.T, url string) {
		t0 := enginetest.Epoch
		b := sfSetup(t, url, ccCatalog(`{max: 5, policy: FIXED, backoff: 1m}`))
		ccScript(t, b.xs)
		sfSubmit(t, b, "hand", 2, "Bill")
		b.idle(t)
		sfProbeAt(t, b, t0.Add(4*time.Second))
		if _, err := b.engine.SetSystemStatus(orchestrator.WithActor(b.ctx, "ops-anna"), "billing", engine.SystemOnline, "vendor fixed it"); err != nil {
			t.Fatal(err)
		}
		ccCheckEvents(t, b, "closed by hand", "CLOSED>OPEN", "OPEN>HALF_OPEN", "HALF_OPEN>CLOSED")
		evs := sfEvents(t, b, engine.EventCircuitState, 0)
		if last := evs[len(evs)-1]; last.Actor != "ops-anna" || last.Note != "vendor fixed it" {
			t.Errorf("closing event %+v; want by ops-anna with the note", last)
		}
		if st := sfSystemState(t, b, "billing"); st.Circuit(b.clock.Now()) != engine.CircuitClosed || st.OpenCount != 0 || st.TrialUntil != nil {
			t.Errorf("billing after ONLINE: %+v; want CLOSED", st)
		}
	})
}

// A system taken OFFLINE while its circuit is OPEN sends no trial when the
// cool-down runs out (it is held); back ONLINE, the circuit closes and the
// events tell every state it went through.
func TestCircuitHalfOpenWhileOffline(t *testing.T) {
	t.Parallel()
	enginetest.EachBackend(t, func(t *testing.T, url string) {
		t0 := enginetest.Epoch
		b := sfSetup(t, url, ccCatalog(`{max: 5, policy: FIXED, backoff: 1s}`))
		billing := ccScript(t, b.xs)
		orders, bills := ccOpen(t, b)
		if _, err := b.engine.SetSystemStatus(b.ctx, "billing", engine.SystemOffline, "maintenance"); err != nil {
			t.Fatal(err)
		}
		sfProbeAt(t, b, t0.Add(10*time.Second))
		if n := ccRequests(b); n != 2 {
			t.Errorf("%d requests, OFFLINE after the cool-down; want 2: no trial", n)
		}
		if st := sfSystemState(t, b, "billing"); st.Circuit(b.clock.Now()) != engine.CircuitHalfOpen || !st.Held(b.clock.Now()) || st.TrialFree(b.clock.Now()) {
			t.Errorf("billing OFFLINE after the cool-down: %+v; want HALF_OPEN, held, no trial free", st)
		}
		billing.mode.Store(ccUp)
		if _, err := b.engine.SetSystemStatus(b.ctx, "billing", engine.SystemOnline, "back"); err != nil {
			t.Fatal(err)
		}
		ccCheckEvents(t, b, "back ONLINE", "CLOSED>OPEN", "OPEN>HALF_OPEN", "HALF_OPEN>CLOSED")
		for i := 0; i < 3 && sfCount(t, b, step.IDIn(bills...), step.StatusEQ(step.StatusON_HOLD)) > 0; i++ {
			b.idle(t)
			b.clock.Advance(time.Second)
		}
		for _, o := range orders {
			b.waitOrder(t, o.ID, order.StatusCOMPLETED)
		}
		if n := ccRequests(b); n != 5 {
			t.Errorf("%d requests; want 5", n)
		}
	})
}

// Two replicas on one database send one trial between them: both release
// held callouts, and both activate new ones, while the trial is in
// flight.
func TestCircuitOneTrialAcrossReplicas(t *testing.T) {
	t.Parallel()
	enginetest.EachBackend(t, func(t *testing.T, url string) {
		t0 := enginetest.Epoch
		clock := engine.NewFakeClock(t0)
		xs := newXSystem(t)
		a := sfOpen(t, url, clock, xs, ccCatalog(`{max: 5, policy: FIXED, backoff: 1s}`), nil)
		bb := sfOpen(t, url, clock, xs, "", nil)
		a.engine.SetWorkSignaler(bb.engine.SystemsChanged)
		bb.engine.SetWorkSignaler(a.engine.SystemsChanged)
		billing := ccScript(t, xs)
		t.Cleanup(xs.unblock)

		// Two failures open the circuit; four more Bills wait ON_HOLD,
		// submitted on both replicas.
		var orders []*engine.OrderRecord
		for i, e := range []*xBundle{a, bb} {
			orders = append(orders, e.submit(t, widgetOrder(fmt.Sprintf("rep-%d", i+1))))
		}
		idleAll(t, a.store, a.engine, bb.engine)
		ccCheckEvents(t, a, "after 2 failures", "CLOSED>OPEN")
		for i, e := range []*xBundle{a, bb, a, bb} {
			orders = append(orders, e.submit(t, widgetOrder(fmt.Sprintf("rep-%d", i+3))))
		}
		clock.Set(t0.Add(time.Second))
		idleAll(t, a.store, a.engine, bb.engine)
		var bills []int
		for _, o := range orders {
			bills = append(bills, a.stepByName(t, o.ID, "Bill").ID)
		}
		if n := sfCount(t, a, step.IDIn(bills...), step.StatusEQ(step.StatusON_HOLD)); n != 6 {
			t.Fatalf("%d Bills ON_HOLD at +1s; want 6", n)
		}

		// +4s: both replicas pass at once, again and again, while the
		// trial hangs; and both take new orders.
		billing.mode.Store(ccHang)
		clock.Set(t0.Add(4 * time.Second))
		var wg sync.WaitGroup
		errs := make(chan error, 40)
		for _, e := range []*xBundle{a, bb, a, bb} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range 5 {
					if _, err := e.engine.RunPass(); err != nil {
						errs <- err
					}
				}
			}()
		}
		wg.Wait()
		xs.await(t, "/billing/charge", 3)
		for i, e := range []*xBundle{a, bb} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				rec, err := e.engine.SubmitOrder(context.Background(), widgetOrder(fmt.Sprintf("rep-new-%d", i+1)))
				if err != nil {
					errs <- err
					return
				}
				for range 3 {
					if _, err := e.engine.RunPass(); err != nil {
						errs <- err
					}
				}
				_ = rec
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatalf("a replica: %v", err)
		}
		if n := ccRequests(a); n != 3 {
			t.Errorf("%d requests with the trial in flight; want 3: one trial from the two replicas", n)
		}
		all := sfIDs(t, a, step.Name("Bill"))
		if running := ccRunning(t, a, all); len(running) != 1 {
			t.Errorf("RUNNING Bills %v; want one, the trial", running)
		}
		if n := sfCount(t, a, step.Name("Bill"), step.StatusEQ(step.StatusON_HOLD)); n != 7 {
			t.Errorf("%d Bills ON_HOLD with the trial in flight; want 7 (5 held before, 2 new)", n)
		}
		ccCheckEvents(t, a, "during the trial", "CLOSED>OPEN", "OPEN>HALF_OPEN")

		// The trial succeeds; the rest goes at the release rate, whichever
		// replica releases it.
		billing.mode.Store(ccUp)
		billing.open()
		idleAll(t, a.store, a.engine, bb.engine)
		for i := 0; i < 10 && sfCount(t, a, step.Name("Bill"), step.StatusNEQ(step.StatusCOMPLETED)) > 0; i++ {
			clock.Advance(time.Second)
			idleAll(t, a.store, a.engine, bb.engine)
		}
		if n := sfCount(t, a, step.Name("Bill"), step.StatusNEQ(step.StatusCOMPLETED)); n != 0 {
			t.Fatalf("%d Bills not COMPLETED after the circuit closed", n)
		}
		ccCheckEvents(t, a, "at the end", "CLOSED>OPEN", "OPEN>HALF_OPEN", "HALF_OPEN>CLOSED")
		if n := ccRequests(a); n != 2+1+7 {
			t.Errorf("%d requests; want 10 (2 failed, the trial, 7 after it)", n)
		}
	})
}
