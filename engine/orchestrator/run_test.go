package orchestrator_test

import (
	"context"
	"encoding/json"
	"fmt"
	"github.com/batonhq/baton/engine"
	"github.com/batonhq/baton/engine/enginetest"
	"github.com/batonhq/baton/engine/entstore"
	"github.com/batonhq/baton/engine/orchestrator"
	"github.com/batonhq/baton/ent"
	"github.com/batonhq/baton/ent/order"
	"github.com/batonhq/baton/ent/step"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// systems is a fake set of external systems: a real HTTP server whose
// answer each test scripts per path.
type systems struct {
	srv *httptest.Server
	mu  sync.Mutex
	// calls records every request: path → idempotency keys in order.
	calls map[string][]string
	// answer decides the response to a request; default 200 with a ref.
	answer func(path string, n int) (int, string)
}

func newSystems(t *testing.T) *systems {
	s := &systems{calls: map[string][]string{}}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		s.mu.Lock()
		s.calls[r.URL.Path] = append(s.calls[r.URL.Path], r.Header.Get("Idempotency-Key"))
		n := len(s.calls[r.URL.Path])
		answer := s.answer
		s.mu.Unlock()
		code, body := 200, fmt.Sprintf(`{"ok":true,"ref":"REF-%s-%d"}`, strings.ReplaceAll(r.URL.Path, "/", ""), n)
		if answer != nil {
			code, body = answer(r.URL.Path, n)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		io.WriteString(w, body)
	}))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *systems) callsTo(path string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.calls[path]...)
}

func (s *systems) setAnswer(fn func(path string, n int) (int, string)) {
	s.mu.Lock()
	s.answer = fn
	s.mu.Unlock()
}

type runBundle struct {
	*testBundle
	sys *systems
}

// openStore opens a store on url, on the clock (nil: the real one), that
// writes to the test's log; it is closed when the test ends, after what
// the test registers later (an engine's Stop).
func openStore(t *testing.T, url string, clock engine.Clock) *entstore.Store {
	t.Helper()
	st, err := entstore.Open(context.Background(), url, entstore.Options{Clock: clock, Logger: enginetest.Logger(t)})
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// setupRunner starts an engine with a runner whose example catalog calls
// the fake systems.
func setupRunner(t *testing.T, url string, cfg orchestrator.RunnerConfig) *runBundle {
	t.Helper()
	ctx := context.Background()
	sys := newSystems(t)
	clock := engine.NewFakeClock(enginetest.Epoch)
	st := openStore(t, url, clock)
	e := orchestrator.New(orchestrator.Config{Store: st, Clock: clock, Logger: enginetest.Logger(t), Getenv: func(k string) string {
		if k == "BATON_SANDBOX_URL" {
			return sys.srv.URL
		}
		return ""
	}})
	if _, err := e.ImportCatalog(ctx, enginetest.ExampleCatalog(t)); err != nil {
		t.Fatalf("import catalog: %v", err)
	}
	if err := e.Start(cfg); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Stop(context.Background()) })
	return &runBundle{testBundle: &testBundle{ctx: ctx, store: st, engine: e, clock: clock, client: st.Client()}, sys: sys}
}

func (b *runBundle) stepByName(t *testing.T, orderID int, name string) *ent.Step {
	t.Helper()
	s, err := b.client.Step.Query().Where(step.OrderID(orderID), step.Name(name)).Only(b.ctx)
	if err != nil {
		t.Fatalf("step %s: %v", name, err)
	}
	return s
}

// idle runs the runner until it has nothing left to do at the clock's
// time (Engine.RunUntilIdle): what the test set going has happened.
func (b *testBundle) idle(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	if err := b.engine.RunUntilIdle(ctx); err != nil {
		t.Fatalf("run until idle: %v", err)
	}
}

// waitStep runs the runner until idle and returns the step, which must
// then be in status want.
func (b *runBundle) waitStep(t *testing.T, orderID int, name string, want step.Status) *ent.Step {
	t.Helper()
	b.idle(t)
	s := b.stepByName(t, orderID, name)
	if s.Status != want {
		t.Fatalf("step %s is %s once the runner is idle (error %q); want %s", name, s.Status, str(s.Error), want)
	}
	return s
}

// waitOrder runs the runner until idle; the order must then be in status
// want.
func (b *runBundle) waitOrder(t *testing.T, orderID int, want order.Status) {
	t.Helper()
	b.idle(t)
	b.checkOrder(t, orderID, want)
}

// checkOrder checks an order's status.
func (b *testBundle) checkOrder(t *testing.T, orderID int, want order.Status) {
	t.Helper()
	if got := b.client.Order.GetX(b.ctx, orderID).Status; got != want {
		t.Errorf("order %d is %s; want %s", orderID, got, want)
	}
}

func TestOrderRunsToCompletion(t *testing.T) {
	t.Parallel()
	enginetest.EachBackend(t, func(t *testing.T, url string) {
		b := setupRunner(t, url, orchestrator.RunnerConfig{})
		rec, err := b.engine.SubmitOrder(b.ctx, proServerOrder("run-1", "acme"))
		if err != nil {
			t.Fatal(err)
		}
		install := b.waitStep(t, rec.ID, "Install", step.StatusWAITING)
		if install.Queue == nil || *install.Queue != "field-ops" {
			t.Errorf("Install queue = %v; want field-ops", install.Queue)
		}
		if err := b.engine.CompleteTask(orchestrator.WithActor(b.ctx, "tech-7"), install.ID, map[string]any{"serial": "SN-1"}, "installed"); err != nil {
			t.Fatalf("CompleteTask: %v", err)
		}
		b.waitOrder(t, rec.ID, order.StatusCOMPLETED)

		o := b.client.Order.Query().Where(order.ID(rec.ID)).WithPlan(func(q *ent.PlanQuery) { q.WithSteps() }).OnlyX(b.ctx)
		if o.Edges.Plan.Status != "COMPLETED" {
			t.Errorf("plan status %s; want COMPLETED", o.Edges.Plan.Status)
		}
		for _, s := range o.Edges.Plan.Edges.Steps {
			if s.Status != step.StatusCOMPLETED {
				t.Errorf("step %s is %s; want COMPLETED", s.Name, s.Status)
			}
		}
		// Callouts: one request each, carrying the step id as idempotency key.
		for path, name := range map[string]string{"/erp/reservations": "ReserveInventory", "/shipping/shipments": "Ship",
			"/licensing/activations": "ActivateLicense", "/fieldservice/appointments": "ScheduleTechnician", "/billing/subscriptions": "SetupBilling"} {
			calls := b.sys.callsTo(path)
			s := b.stepByName(t, rec.ID, name)
			if len(calls) != 1 || calls[0] != fmt.Sprint(s.ID) {
				t.Errorf("%s: calls %v; want one with Idempotency-Key %d", path, calls, s.ID)
			}
		}
		// set mappings wrote the answers into attributes.
		if got := o.Attributes["billingRef"]; got != "REF-billingsubscriptions-1" {
			t.Errorf("order attribute billingRef = %v; want REF-billingsubscriptions-1", got)
		}
		ship := b.stepByName(t, rec.ID, "Ship")
		fl := b.client.FulfillmentLine.GetX(b.ctx, *ship.FulfillmentLineID)
		if fl.Attributes["trackingNumber"] != "REF-shippingshipments-1" {
			t.Errorf("shipment trackingNumber = %v", fl.Attributes["trackingNumber"])
		}
		// Every transition is an event, in order, ending with the order.
		events, err := b.store.EventsAfter(b.ctx, 0, 1000)
		if err != nil {
			t.Fatal(err)
		}
		last := events[len(events)-1]
		if last.Kind != engine.EventOrderStatus || last.To != "COMPLETED" {
			t.Errorf("last event %s %s; want ORDER_STATUS COMPLETED", last.Kind, last.To)
		}
		perStep := map[int][]string{}
		for _, ev := range events {
			if ev.Kind == engine.EventStepStatus {
				if len(perStep[ev.StepID]) == 0 {
					perStep[ev.StepID] = append(perStep[ev.StepID], ev.From) // created with
				}
				perStep[ev.StepID] = append(perStep[ev.StepID], ev.To)
			}
		}
		if got := strings.Join(perStep[ship.ID], ">"); got != "PENDING>READY>RUNNING>COMPLETED" {
			t.Errorf("Ship went %s; want PENDING>READY>RUNNING>COMPLETED", got)
		}
		if got := strings.Join(perStep[install.ID], ">"); got != "PENDING>READY>WAITING>COMPLETED" {
			t.Errorf("Install went %s", got)
		}
		var actor string
		for _, ev := range events {
			if ev.StepID == install.ID && ev.To == "COMPLETED" {
				actor = ev.Actor
			}
		}
		if actor != "tech-7" {
			t.Errorf("Install completion actor = %q; want tech-7", actor)
		}
		if n := b.client.Asset.Query().CountX(b.ctx); n != 4 {
			t.Errorf("assets = %d; want 4 (bundle and its 3 components)", n)
		}
	})
}

func jsonBody(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
