package orchestrator_test

import (
	"context"
	"errors"
	"fmt"
	"github.com/batonhq/baton/engine"
	"github.com/batonhq/baton/engine/enginetest"
	"github.com/batonhq/baton/engine/entstore"
	"github.com/batonhq/baton/engine/orchestrator"
	"github.com/batonhq/baton/ent/order"
	"github.com/batonhq/baton/ent/step"
	"strings"
	"sync"
	"testing"
	"time"
)

// costlyCatalog's scenario condition loops over the order's lines three
// deep for orders marked slow, and costs nothing for the others.
const costlyCatalog = `version: 1
products:
  - {code: WIDGET, type: COMMERCIAL}
  - {code: TP-W, type: TECHNICAL}
decomposition:
  - {name: widget-work, from: WIDGET, to: TP-W}
scenarios:
  - name: s
    when: 'order.attributes.slow != true || any(order.lines, any(order.lines, any(order.lines, #.attributes.x == "never")))'
    groups:
      - name: g
        steps:
          - {name: Done, type: MILESTONE}
`

func costlyOrder(ext, account string, lines int, slow bool) engine.OrderInput {
	in := engine.OrderInput{ExternalID: ext, AccountID: account, Attributes: map[string]any{"slow": slow}}
	for i := range lines {
		in.Lines = append(in.Lines, engine.LineInput{ID: fmt.Sprint("L", i), ProductCode: "WIDGET", Quantity: 1,
			Attributes: map[string]any{"x": "y"}})
	}
	return in
}

// planningStore tells when a submission for one account has read the
// account: what comes next is its planning, expressions included.
type planningStore struct {
	*entstore.Store
	account string
	once    sync.Once
	read    chan struct{}
}

func (s *planningStore) AccountState(ctx context.Context, accountID string) (*engine.AccountState, error) {
	acct, err := s.Store.AccountState(ctx, accountID)
	if accountID == s.account {
		s.once.Do(func() { close(s.read) })
	}
	return acct, err
}

// TestHostileExpressionAtSubmit: a submission whose condition runs out of
// its budget fails alone, as BAD_USER_INPUT naming the limit, and writes
// nothing; meanwhile another client's submission goes through at once.
// Before, the evaluation ran inside the write transaction, after the
// account lock, with no budget: on SQLite every other write waited behind
// it for as long as it ran.
func TestHostileExpressionAtSubmit(t *testing.T) {
	t.Parallel()
	enginetest.EachBackend(t, func(t *testing.T, url string) {
		ctx := context.Background()
		clock := engine.NewFakeClock(enginetest.Epoch)
		st := openStore(t, url, clock)
		// A budget long enough to watch another client meanwhile (the
		// default is 100ms); no step cap, so the deadline is what stops it.
		const budget = 2 * time.Second
		planning := &planningStore{Store: st, account: "acct-slow", read: make(chan struct{})}
		e := orchestrator.New(orchestrator.Config{Store: planning, Clock: clock, Logger: enginetest.Logger(t),
			Limits: engine.Limits{ExprTimeout: budget, ExprSteps: 1 << 60}})
		if _, err := e.ImportCatalog(ctx, costlyCatalog); err != nil {
			t.Fatal(err)
		}

		hostileDone := make(chan time.Time, 1)
		var hostileErr error
		start := time.Now()
		go func() {
			// 400³ = 64 million steps: far more than 2 s.
			_, hostileErr = e.SubmitOrder(ctx, costlyOrder("slow-1", "acct-slow", 400, true))
			hostileDone <- time.Now()
		}()
		// Once it has read the account, the hostile submission evaluates.
		select {
		case <-planning.read:
		case <-time.After(30 * time.Second):
			t.Fatal("the hostile submission did not read its account within 30s")
		}
		rec, err := e.SubmitOrder(ctx, costlyOrder("fast-1", "acct-fast", 2, false))
		fastAt := time.Now()
		if err != nil {
			t.Fatalf("SubmitOrder(another client's order): %v", err)
		}
		var hostileAt time.Time
		select {
		case hostileAt = <-hostileDone:
		case <-time.After(30 * time.Second):
			t.Fatal("the hostile submission still runs after 30s")
		}
		if !fastAt.Before(hostileAt) {
			t.Errorf("another client's order was stored %s after the start, after the hostile submission ended (%s); want it stored meanwhile",
				fastAt.Sub(start), hostileAt.Sub(start))
		}
		if took := hostileAt.Sub(start); took > budget+5*time.Second {
			t.Errorf("the hostile submission took %s; want it stopped near its budget of %s", took, budget)
		}
		var ee *engine.Error
		if !errors.As(hostileErr, &ee) || ee.Code != engine.CodeBadUserInput || !strings.Contains(ee.Message, "ExprTimeout") ||
			!strings.Contains(ee.Message, `scenario "s" condition failed`) {
			t.Errorf("hostile SubmitOrder: %v; want BAD_USER_INPUT naming the scenario and ExprTimeout", hostileErr)
		}
		if n := st.Client().Order.Query().Where(order.ExternalID("slow-1")).CountX(ctx); n != 0 {
			t.Errorf("the refused order was stored (%d rows); want nothing written", n)
		}
		if rec.ID == 0 {
			t.Errorf("another client's order has no id")
		}
	})
}

// TestHostileExpressionAtStepTime: an expression that exceeds its budget
// when a step runs fails that step, with the limit in its error, and the
// order goes on (the other step completes).
func TestHostileExpressionAtStepTime(t *testing.T) {
	t.Parallel()
	enginetest.EachBackend(t, func(t *testing.T, url string) {
		cat := xCatalog("", []string{
			`{name: Big, type: CALLOUT, callout: {system: sys, path: /big, body: 'repeat(order.attributes.channel, 100000)'}}`,
			`{name: Fine, type: CALLOUT, callout: {system: sys, path: /fine}}`,
		}, nil)
		b := setupExec(t, url, cat, xOptions{run: &orchestrator.RunnerConfig{}})
		b.xs.always("/big", 200, `{}`)
		b.xs.always("/fine", 200, `{}`)
		rec := b.submit(t, widgetOrder("big-1"))
		s := b.waitStep(t, rec.ID, "Big", step.StatusFALLOUT)
		if !strings.Contains(str(s.Error), "ExprStringBytes") || !strings.Contains(str(s.Error), "body") {
			t.Errorf("Big fell out with %q; want the body's error naming ExprStringBytes", str(s.Error))
		}
		b.waitStep(t, rec.ID, "Fine", step.StatusCOMPLETED)
		if n := len(b.xs.requests("/big")); n != 0 {
			t.Errorf("/big was called %d times; want none (the body never evaluated)", n)
		}
	})
}
