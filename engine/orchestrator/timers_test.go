package orchestrator_test

import (
	"context"
	"errors"
	"github.com/batonhq/baton/engine"
	"github.com/batonhq/baton/engine/enginetest"
	"github.com/batonhq/baton/engine/entstore"
	"github.com/batonhq/baton/engine/orchestrator"
	"github.com/batonhq/baton/ent/step"
	"strings"
	"sync"
	"testing"
	"time"
)

// gatedStore holds the timer loop right after its first NextDue read, so
// that a test can commit a new timer between the read and the loop's
// going to sleep.
type gatedStore struct {
	*entstore.Store
	once    sync.Once
	read    chan struct{} // closed after the first NextDue read
	release chan struct{} // the first NextDue returns once this is closed
}

func (s *gatedStore) NextDue(ctx context.Context) (time.Time, bool, error) {
	at, ok, err := s.Store.NextDue(ctx)
	first := false
	s.once.Do(func() { first = true })
	if first {
		close(s.read)
		<-s.release
	}
	return at, ok, err
}

// A timer committed while the timer loop is between reading the earliest
// timer and going to sleep must still wake it: otherwise the deadline is
// only noticed at the next poll (here an hour later, in a real deployment
// up to BATON_POLL_INTERVAL late, long enough to skip AT_RISK and go
// straight to LATE).
func TestTimerCommittedWhileTheTimerLoopReads(t *testing.T) {
	t.Parallel()
	enginetest.EachBackend(t, func(t *testing.T, url string) {
		ctx := context.Background()
		clock := engine.NewFakeClock(enginetest.Epoch)
		inner := openStore(t, url, clock)
		st := &gatedStore{Store: inner, read: make(chan struct{}), release: make(chan struct{})}
		e := orchestrator.New(orchestrator.Config{Store: st, Clock: clock, Logger: enginetest.Logger(t)})
		// The test is of the timer loop itself, so it does not run the
		// runner until idle (which would sweep in the loop's place): it
		// waits for the loop's JEOPARDY event.
		atRisk := make(chan struct{})
		var once sync.Once
		e.SetPublisher(func(evs []*engine.Event) {
			for _, ev := range evs {
				if ev.Kind == engine.EventJeopardy && ev.To == string(engine.AtRisk) {
					once.Do(func() { close(atRisk) })
				}
			}
		})
		released := false
		t.Cleanup(func() {
			if !released {
				close(st.release)
			}
			e.Stop(context.Background())
		})
		if _, err := e.ImportCatalog(ctx, sfCatalog("", []string{
			`{name: Survey, type: MANUAL_TASK, task: {queue: field}, estimatedDuration: 10m, jeopardyThreshold: 5m}`,
		}, nil)); err != nil {
			t.Fatalf("import catalog: %v", err)
		}
		if err := e.Start(orchestrator.RunnerConfig{PollInterval: time.Hour}); err != nil {
			t.Fatal(err)
		}
		select {
		case <-st.read:
		case <-time.After(10 * time.Second):
			t.Fatal("the timer loop did not read its next timer")
		}
		rec, err := e.SubmitOrder(ctx, widgetOrder("gated-1"))
		if err != nil {
			t.Fatalf("SubmitOrder: %v", err)
		}
		close(st.release)
		released = true

		// At risk at +5m; the loop's poll is an hour away.
		clock.Advance(5 * time.Minute)
		select {
		case <-atRisk:
		case <-time.After(10 * time.Second):
			t.Fatal("no JEOPARDY event 10s after the clock reached +5m (the timer committed during the loop's read was lost)")
		}
		s, err := inner.Client().Step.Query().Where(step.PlanID(rec.PlanID), step.Name("Survey")).Only(ctx)
		if err != nil {
			t.Fatalf("read Survey: %v", err)
		}
		if s.Jeopardy != step.JeopardyAT_RISK {
			t.Errorf("Survey is %s after its JEOPARDY event; want AT_RISK", s.Jeopardy)
		}
	})
}

// systemsFailStore fails every transaction's read of system states.
type systemsFailStore struct{ *entstore.Store }

type systemsFailTx struct{ engine.Tx }

func (systemsFailTx) SystemStates(context.Context) (map[string]*engine.SystemState, error) {
	return nil, errors.New("system states unreadable")
}

func (s systemsFailStore) Write(ctx context.Context, fn func(engine.Tx) error) ([]*engine.Event, error) {
	return s.Store.Write(ctx, func(tx engine.Tx) error { return fn(systemsFailTx{tx}) })
}

// A callout whose system's state cannot be read inside the transaction
// that activates it fails that transaction (on PostgreSQL the failed read
// has aborted it) instead of going ahead as if the system were online.
func TestSystemStateReadFailureFailsTheTransaction(t *testing.T) {
	t.Parallel()
	enginetest.EachBackend(t, func(t *testing.T, url string) {
		ctx := context.Background()
		inner := openStore(t, url, nil)
		e := orchestrator.New(orchestrator.Config{Store: systemsFailStore{inner}, Logger: enginetest.Logger(t),
			Getenv: func(string) string { return "http://127.0.0.1:9" }})
		if _, err := e.ImportCatalog(ctx, oneCalloutCatalog); err != nil {
			t.Fatalf("import catalog: %v", err)
		}
		_, err := e.SubmitOrder(ctx, engine.OrderInput{ExternalID: "x", AccountID: "a",
			Lines: []engine.LineInput{{ID: "L", ProductCode: "P", Quantity: 1}}})
		if err == nil || !strings.Contains(err.Error(), "system states unreadable") {
			t.Fatalf("SubmitOrder: %v; want the failed read of system states", err)
		}
		if n := inner.Client().Order.Query().CountX(ctx); n != 0 {
			t.Errorf("%d orders stored; want none", n)
		}
	})
}
