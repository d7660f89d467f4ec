package orchestrator_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/batonhq/baton/engine"
	"github.com/batonhq/baton/engine/enginetest"
	"github.com/batonhq/baton/engine/entstore"
	"github.com/batonhq/baton/engine/orchestrator"
	"github.com/batonhq/baton/ent"
	"github.com/batonhq/baton/ent/attempt"
	"github.com/batonhq/baton/ent/event"
	"github.com/batonhq/baton/ent/order"
	"github.com/batonhq/baton/ent/step"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// ---------------------------------------------------------------------------
// A scripted external system.

// xRequest is one request an xSystem received.
type xRequest struct {
	Method   string
	Path     string
	Key      string // Idempotency-Key
	Attempt  string // X-Baton-Attempt
	StepName string // X-Baton-Step
	APIKey   string // X-Api-Key (a system header)
	Body     map[string]any
}

// xAnswer answers the n-th request (from 1) to a path. It may block, e.g.
// with xSystem.hang.
type xAnswer func(r *http.Request, n int) (int, string)

// xSystem is a fake set of external systems: an HTTP server that records
// every request and answers per path as the test scripts it (default 200
// with a ref).
type xSystem struct {
	srv      *httptest.Server
	release  chan struct{}
	unblockO sync.Once
	mu       sync.Mutex
	reqs     []xRequest
	perPath  map[string]int
	answers  map[string]xAnswer
	arrived  chan struct{} // closed (and replaced) when a request arrives
}

func newXSystem(t *testing.T) *xSystem {
	s := &xSystem{release: make(chan struct{}), perPath: map[string]int{}, answers: map[string]xAnswer{}, arrived: make(chan struct{})}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *xSystem) serve(w http.ResponseWriter, r *http.Request) {
	raw, _ := io.ReadAll(r.Body)
	var body map[string]any
	_ = json.Unmarshal(raw, &body)
	s.mu.Lock()
	s.perPath[r.URL.Path]++
	n := s.perPath[r.URL.Path]
	s.reqs = append(s.reqs, xRequest{Method: r.Method, Path: r.URL.Path, Key: r.Header.Get("Idempotency-Key"),
		Attempt: r.Header.Get("X-Baton-Attempt"), StepName: r.Header.Get("X-Baton-Step"), APIKey: r.Header.Get("X-Api-Key"), Body: body})
	close(s.arrived)
	s.arrived = make(chan struct{})
	answer := s.answers[r.URL.Path]
	s.mu.Unlock()
	code, out := 200, fmt.Sprintf(`{"ok":true,"ref":"R%s-%d"}`, strings.ReplaceAll(r.URL.Path, "/", ""), n)
	if answer != nil {
		code, out = answer(r, n)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	io.WriteString(w, out)
}

// on scripts the answers of a path.
func (s *xSystem) on(path string, a xAnswer) {
	s.mu.Lock()
	s.answers[path] = a
	s.mu.Unlock()
}

// always answers every request to a path with code and body.
func (s *xSystem) always(path string, code int, body string) {
	s.on(path, func(*http.Request, int) (int, string) { return code, body })
}

// hang blocks until the test ends (unblock) or the client gives up.
func (s *xSystem) hang(r *http.Request) {
	select {
	case <-s.release:
	case <-r.Context().Done():
	}
}

// unblock releases every hanging request.
func (s *xSystem) unblock() { s.unblockO.Do(func() { close(s.release) }) }

// requests returns the requests to a path ("" for all), in arrival order.
func (s *xSystem) requests(path string) []xRequest {
	reqs, _ := s.requestsAnd(path)
	return reqs
}

// requestsAnd is requests, and the channel closed at the next request.
func (s *xSystem) requestsAnd(path string) ([]xRequest, <-chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []xRequest
	for _, r := range s.reqs {
		if path == "" || r.Path == path {
			out = append(out, r)
		}
	}
	return out, s.arrived
}

// await waits until n requests to a path ("" for all) have arrived, as
// they arrive (the system is an outside party: the runner's account of
// its work cannot tell when a hanging request got there), and returns
// them.
func (s *xSystem) await(t *testing.T, path string, n int) []xRequest {
	t.Helper()
	timeout := time.NewTimer(15 * time.Second)
	defer timeout.Stop()
	for {
		reqs, next := s.requestsAnd(path)
		if len(reqs) >= n {
			return reqs
		}
		select {
		case <-next:
		case <-timeout.C:
			t.Fatalf("%q: %d requests after 15s; want %d", path, len(reqs), n)
		}
	}
}

// deadURL is the URL of a port nothing listens on: connection refused.
func deadURL(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "http://" + addr
}

// ---------------------------------------------------------------------------
// Catalogs and engines.

// xCatalog is sfCatalog with the system `sys` (FIXED 10s, 2 retries, an
// API key header) before the extra systems.
func xCatalog(extraSystems string, steps, deps []string) string {
	return sfCatalog(sfSystem("sys", "5s", `headers: {X-Api-Key: "${API_KEY:-k-default}"}`, "retry: {max: 2, policy: FIXED, backoff: 10s}")+
		extraSystems, steps, deps)
}

func widgetOrder(ext string) engine.OrderInput {
	return engine.OrderInput{ExternalID: ext, AccountID: "acct-" + ext, Attributes: map[string]any{"channel": "web"},
		Lines: []engine.LineInput{{ID: "L1", ProductCode: "WIDGET", Quantity: 1}}}
}

// xPoll is the runners' poll interval in fake time. Tests do not wait for
// the loops to wake: they run the runner until idle (testBundle.idle).
const xPoll = 10 * time.Millisecond

type xOptions struct {
	// run starts a runner with this configuration (nil: no runner).
	run     *orchestrator.RunnerConfig
	actions []orchestrator.Action
	// wrapStore, when set, wraps the store the engine is given (the
	// bundle keeps the real one).
	wrapStore func(engine.Store) engine.Store
}

type xBundle struct {
	*runBundle
	xs     *xSystem
	events *xEvents
}

// xEvents keeps the events an engine published, for the tests whose
// attempts hang: the runner is not idle then, and they wait for the
// moves they expect as the engine announces them.
type xEvents struct {
	mu   sync.Mutex
	evs  []*engine.Event
	more chan struct{} // closed (and replaced) when events arrive
}

func newXEvents() *xEvents { return &xEvents{more: make(chan struct{})} }

func (l *xEvents) add(evs []*engine.Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.evs = append(l.evs, evs...)
	close(l.more)
	l.more = make(chan struct{})
}

// awaitRunning waits for the first request of a callout that is to hang
// (xSystem.await) and returns its step, which is RUNNING then: the
// transaction that claimed it committed before the request was sent.
func (b *xBundle) awaitRunning(t *testing.T, orderID int, name, path string) *ent.Step {
	t.Helper()
	b.xs.await(t, path, 1)
	s := b.stepByName(t, orderID, name)
	if s.Status != step.StatusRUNNING {
		t.Fatalf("%s is %s while its request to %s hangs; want RUNNING", name, s.Status, path)
	}
	return s
}

// runPass runs one pass of the runner's loops (Engine.RunPass), which
// does not wait for attempts in flight.
func (b *xBundle) runPass(t *testing.T) {
	t.Helper()
	if _, err := b.engine.RunPass(); err != nil {
		t.Fatalf("run a pass: %v", err)
	}
}

// awaitStep waits until the engine has announced that the step moved to
// status want (it may have before), and returns the step.
func (b *xBundle) awaitStep(t *testing.T, orderID int, name string, want step.Status) *ent.Step {
	t.Helper()
	id := b.stepByName(t, orderID, name).ID
	timeout := time.NewTimer(15 * time.Second)
	defer timeout.Stop()
	for seen := 0; ; {
		b.events.mu.Lock()
		evs, more := b.events.evs, b.events.more
		b.events.mu.Unlock()
		for ; seen < len(evs); seen++ {
			if ev := evs[seen]; ev.Kind == engine.EventStepStatus && ev.StepID == id && ev.To == string(want) {
				return b.stepByName(t, orderID, name)
			}
		}
		select {
		case <-more:
		case <-timeout.C:
			t.Fatalf("step %s did not move to %s within 15s (it is %s)", name, want, b.stepByName(t, orderID, name).Status)
		}
	}
}

func xGetenv(xs *xSystem, dead string) func(string) string {
	return func(k string) string {
		switch k {
		case "SYS_URL":
			return xs.srv.URL
		case "DEAD_URL":
			return dead
		case "API_KEY":
			return "k-test"
		}
		return ""
	}
}

// setupExec opens a store on url, imports catalog (after registering the
// actions) and, when asked, starts a runner.
func setupExec(t *testing.T, url, catalog string, o xOptions) *xBundle {
	t.Helper()
	ctx := context.Background()
	xs := newXSystem(t)
	dead := deadURL(t)
	clock := engine.NewFakeClock(enginetest.Epoch)
	st := openStore(t, url, clock)
	var es engine.Store = st
	if o.wrapStore != nil {
		es = o.wrapStore(st)
	}
	e := orchestrator.New(orchestrator.Config{Store: es, Clock: clock, Logger: enginetest.Logger(t), Getenv: xGetenv(xs, dead)})
	events := newXEvents()
	e.SetPublisher(events.add)
	for _, a := range o.actions {
		if err := e.RegisterAction(a); err != nil {
			t.Fatalf("register action %s: %v", a.Name, err)
		}
	}
	if _, err := e.ImportCatalog(ctx, catalog); err != nil {
		t.Fatalf("import catalog: %v", err)
	}
	t.Cleanup(func() { e.Stop(context.Background()) })
	// Registered last, so it runs first: hanging requests end before Stop
	// waits for its workers.
	t.Cleanup(xs.unblock)
	b := &xBundle{runBundle: &runBundle{testBundle: &testBundle{ctx: ctx, store: st, engine: e, clock: clock, client: st.Client()}}, xs: xs, events: events}
	if o.run != nil {
		b.start(t, *o.run)
	}
	return b
}

func (b *xBundle) start(t *testing.T, cfg orchestrator.RunnerConfig) {
	t.Helper()
	if cfg.PollInterval == 0 {
		cfg.PollInterval = xPoll
	}
	if err := b.engine.Start(cfg); err != nil {
		t.Fatal(err)
	}
}

func (b *xBundle) submit(t *testing.T, in engine.OrderInput) *engine.OrderRecord {
	t.Helper()
	rec, err := b.engine.SubmitOrder(b.ctx, in)
	if err != nil {
		t.Fatalf("SubmitOrder: %v", err)
	}
	return rec
}

// attempts reads a step's attempts through its `attempts` edge, by number.
func (b *xBundle) attempts(t *testing.T, stepID int) []*ent.Attempt {
	t.Helper()
	as, err := b.client.Step.Query().Where(step.ID(stepID)).QueryAttempts().
		Order(ent.Asc(attempt.FieldNumber), ent.Asc(attempt.FieldID)).All(b.ctx)
	if err != nil {
		t.Fatalf("attempts of step %d: %v", stepID, err)
	}
	return as
}

func (b *xBundle) eventCount(t *testing.T) int {
	t.Helper()
	n, err := b.client.Event.Query().Count(b.ctx)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// stepEvents returns a step's events in id order.
func (b *xBundle) stepEvents(t *testing.T, stepID int) []*ent.Event {
	t.Helper()
	evs, err := b.client.Event.Query().Where(event.StepID(stepID)).Order(ent.Asc(event.FieldID)).All(b.ctx)
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

// trail is the statuses a step went through: the status it was created
// with (the first event's from), then each event's to.
func (b *xBundle) trail(t *testing.T, stepID int) string {
	t.Helper()
	var to []string
	for _, ev := range b.stepEvents(t, stepID) {
		if ev.Kind == event.KindSTEP_STATUS {
			if len(to) == 0 && ev.From != "" {
				to = append(to, ev.From)
			}
			to = append(to, ev.To)
		}
	}
	return strings.Join(to, ">")
}

// checkTrail checks the statuses a step went through (trail).
func (b *xBundle) checkTrail(t *testing.T, stepID int, want string) {
	t.Helper()
	if got := b.trail(t, stepID); got != want {
		t.Errorf("step %d (%s) went %s; want %s", stepID, b.client.Step.GetX(b.ctx, stepID).Name, got, want)
	}
}

// waitAttempts runs the runner until idle; the step must then have n
// attempts recorded.
func (b *xBundle) waitAttempts(t *testing.T, stepID, n int) []*ent.Attempt {
	t.Helper()
	b.idle(t)
	as := b.attempts(t, stepID)
	if len(as) != n {
		t.Fatalf("step %d has %d attempts once the runner is idle; want %d", stepID, len(as), n)
	}
	return as
}

// advance moves the fake clock by d and runs the runner until idle; cond
// must hold then.
func (b *xBundle) advance(t *testing.T, d time.Duration, cond func() bool, msg string, args ...any) {
	t.Helper()
	b.clock.Advance(d)
	b.idle(t)
	if !cond() {
		t.Fatalf("after advancing %s (clock at %v): "+msg, append([]any{d, b.clock.Now()}, args...)...)
	}
}

// advanceAttempts moves the clock by d and runs the runner until idle;
// the step must then have n attempts.
func (b *xBundle) advanceAttempts(t *testing.T, d time.Duration, stepID, n int) []*ent.Attempt {
	t.Helper()
	b.clock.Advance(d)
	return b.waitAttempts(t, stepID, n)
}

// idleAll runs replicas on one database until idle together: each until
// it is idle, round after round, until a round in which nothing was
// written (what one leaves, another may take).
func idleAll(t *testing.T, st engine.Store, engines ...*orchestrator.Engine) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for {
		before, err := st.LastEventID(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range engines {
			if err := e.RunUntilIdle(ctx); err != nil {
				t.Fatalf("run until idle: %v", err)
			}
		}
		if after, err := st.LastEventID(ctx); err != nil {
			t.Fatal(err)
		} else if after == before {
			return
		}
	}
}

func (b *xBundle) orderAttrs(t *testing.T, orderID int) map[string]any {
	t.Helper()
	return b.client.Order.GetX(b.ctx, orderID).Attributes
}

func (b *xBundle) itemAttrs(t *testing.T, s *ent.Step) map[string]any {
	t.Helper()
	if s.FulfillmentLineID == nil {
		t.Fatalf("step %s has no fulfillment line", s.Name)
	}
	return b.client.FulfillmentLine.GetX(b.ctx, *s.FulfillmentLineID).Attributes
}

func wantCode(t *testing.T, what string, err error, code engine.Code) {
	t.Helper()
	if got := engine.ErrorCode(err); err == nil || got != code {
		t.Errorf("%s: err = %v (code %s); want %s", what, err, got, code)
	}
}

// vals renders values separated by spaces, for compact comparisons.
func vals(vs ...any) string {
	parts := make([]string, len(vs))
	for i, v := range vs {
		parts[i] = fmt.Sprintf("%v", v)
	}
	return strings.Join(parts, " ")
}

func str(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

func num(p *int) int {
	if p == nil {
		return 0
	}
	return *p
}

// checkAttempt checks one attempt row.
func checkAttempt(t *testing.T, a *ent.Attempt, number int, outcome attempt.Outcome, httpStatus int, errPart string) {
	t.Helper()
	if a.Number != number || a.Outcome != outcome || num(a.HTTPStatus) != httpStatus {
		t.Errorf("attempt %d: number %d outcome %s http %d; want %d %s %d", a.ID, a.Number, a.Outcome, num(a.HTTPStatus), number, outcome, httpStatus)
	}
	if errPart == "" && a.Error != nil && *a.Error != "" {
		t.Errorf("attempt %d: error %q; want none", a.Number, *a.Error)
	}
	if errPart != "" && !strings.Contains(str(a.Error), errPart) {
		t.Errorf("attempt %d: error %q; want it to mention %q", a.Number, str(a.Error), errPart)
	}
	if a.StartedAt.IsZero() || a.FinishedAt.IsZero() || a.FinishedAt.Before(a.StartedAt) {
		t.Errorf("attempt %d: started %v finished %v", a.Number, a.StartedAt, a.FinishedAt)
	}
	if str(a.Worker) == "" {
		t.Errorf("attempt %d: no worker recorded", a.Number)
	}
}

// checkFailedWake checks a FAILED step's next attempt time: the time of
// its failure plus delay.
func checkFailedWake(t *testing.T, s *ent.Step, delay time.Duration) {
	t.Helper()
	if s.Status != step.StatusFAILED {
		t.Fatalf("step %s is %s; want FAILED", s.Name, s.Status)
	}
	if s.WakeAt == nil {
		t.Fatalf("step %s is FAILED with no next attempt time", s.Name)
	}
	if got := s.WakeAt.Sub(s.UpdatedAt); got != delay {
		t.Errorf("step %s: next attempt %v, failed at %v: delay %s; want %s", s.Name, s.WakeAt.UTC(), s.UpdatedAt.UTC(), got, delay)
	}
}

func (b *xBundle) checkRequests(t *testing.T, path string, stepID, n int) {
	t.Helper()
	reqs := b.xs.requests(path)
	if len(reqs) != n {
		t.Errorf("%s: %d requests; want %d", path, len(reqs), n)
	}
	for i, r := range reqs {
		if r.Key != strconv.Itoa(stepID) {
			t.Errorf("%s request %d: Idempotency-Key %q; want %d (the step id, on every retry)", path, i+1, r.Key, stepID)
		}
		if r.Attempt != strconv.Itoa(i+1) {
			t.Errorf("%s request %d: X-Baton-Attempt %q; want %d", path, i+1, r.Attempt, i+1)
		}
	}
}

// ---------------------------------------------------------------------------
// CALLOUT

func TestExecCalloutSuccessSetsAttributes(t *testing.T) {
	t.Parallel()
	enginetest.EachBackend(t, func(t *testing.T, url string) {
		cat := xCatalog("", []string{
			`{name: Register, type: CALLOUT, callout: {system: sys, path: /register, body: '{"order": order.externalId}',
               set: {customerRef: 'response.body.ref', order.tier: 'response.body.tier'}}}`,
			`{name: Provision, type: CALLOUT, scope: ITEM, product: TP-W, callout: {system: sys, method: PUT, path: /provision,
               body: '{"sku": item.attributes.sku, "customer": order.attributes.customerRef}',
               set: {serial: 'response.body.serial', order.lastSerial: 'response.body.serial', item.model: 'response.body.model'}}}`,
			`{name: Ping, type: CALLOUT, callout: {system: sys, method: GET, path: /ping,
               set: {order.pingStatus: 'response.status', order.pingBody: 'response.body'}}}`,
		}, []string{`{step: Provision, after: Register}`})
		b := setupExec(t, url, cat, xOptions{run: &orchestrator.RunnerConfig{}})
		b.xs.always("/register", 200, `{"ref":"C-1","tier":"gold"}`)
		b.xs.always("/provision", 200, `{"serial":"SN-9","model":"X1"}`)
		b.xs.always("/ping", 200, `pong`)
		rec := b.submit(t, widgetOrder("ok-1"))
		b.waitOrder(t, rec.ID, order.StatusCOMPLETED)

		reg := b.stepByName(t, rec.ID, "Register")
		prov := b.stepByName(t, rec.ID, "Provision")
		for _, s := range []*ent.Step{reg, prov} {
			if s.Status != step.StatusCOMPLETED || s.AttemptCount != 1 || s.WakeAt != nil || s.LeaseUntil != nil || s.LeaseOwner != "" {
				t.Errorf("%s: status %s attempts %d wake %v lease %v %q; want COMPLETED after 1 attempt, no timer, no lease",
					s.Name, s.Status, s.AttemptCount, s.WakeAt, s.LeaseUntil, s.LeaseOwner)
			}
		}
		// Output: the answer's body plus the set values.
		if vals(reg.Output["ref"], reg.Output["tier"], reg.Output["customerRef"]) != "C-1 gold C-1" {
			t.Errorf("Register output %v", reg.Output)
		}
		if vals(prov.Output["serial"], prov.Output["model"], prov.Output["lastSerial"]) != "SN-9 X1 SN-9" {
			t.Errorf("Provision output %v", prov.Output)
		}
		// set: plain names go to the item of an ITEM step and to the order
		// of a PLAN step; order./item. prefixes choose.
		oa := b.orderAttrs(t, rec.ID)
		for k, want := range map[string]string{"customerRef": "C-1", "tier": "gold", "lastSerial": "SN-9", "channel": "web"} {
			if fmt.Sprint(oa[k]) != want {
				t.Errorf("order attribute %s = %v; want %s (all: %v)", k, oa[k], want, oa)
			}
		}
		for _, k := range []string{"serial", "model"} {
			if _, ok := oa[k]; ok {
				t.Errorf("order has item attribute %s: %v", k, oa)
			}
		}
		ia := b.itemAttrs(t, prov)
		for k, want := range map[string]string{"serial": "SN-9", "model": "X1", "sku": "WIDGET"} {
			if fmt.Sprint(ia[k]) != want {
				t.Errorf("item attribute %s = %v; want %s (all: %v)", k, ia[k], want, ia)
			}
		}
		if _, ok := ia["lastSerial"]; ok {
			t.Errorf("item has order attribute lastSerial: %v", ia)
		}
		// Requests: the catalog's method and body (seeing the attribute the
		// previous step set), the system's headers, the idempotency key.
		b.checkRequests(t, "/register", reg.ID, 1)
		b.checkRequests(t, "/provision", prov.ID, 1)
		if reqs := b.xs.requests("/provision"); len(reqs) == 1 {
			r := reqs[0]
			if r.Method != "PUT" || vals(r.Body["sku"], r.Body["customer"]) != "WIDGET C-1" || r.StepName != "Provision" || r.APIKey != "k-test" {
				t.Errorf("provision request %+v", r)
			}
		}
		if reqs := b.xs.requests("/register"); len(reqs) == 1 && fmt.Sprint(reqs[0].Body["order"]) != "ok-1" {
			t.Errorf("register body %v", reqs[0].Body)
		}
		// A body that is not a JSON object is kept as output.body.
		ping := b.stepByName(t, rec.ID, "Ping")
		if vals(ping.Output["body"], ping.Output["pingStatus"], ping.Output["pingBody"]) != "pong 200 pong" {
			t.Errorf("Ping output %v", ping.Output)
		}
		if vals(oa["pingStatus"], oa["pingBody"]) != "200 pong" {
			t.Errorf("order attributes from Ping: %v", oa)
		}
		if reqs := b.xs.requests("/ping"); len(reqs) != 1 || reqs[0].Method != "GET" || reqs[0].Body != nil {
			t.Errorf("ping requests %+v; want one GET without a body", reqs)
		}
		// One attempt each, recorded.
		for _, s := range []*ent.Step{reg, prov} {
			as := b.attempts(t, s.ID)
			if len(as) != 1 {
				t.Fatalf("%s: %d attempts; want 1", s.Name, len(as))
			}
			checkAttempt(t, as[0], 1, attempt.OutcomeSUCCEEDED, 200, "")
			if str(as[0].Worker) != b.engine.WorkerID() {
				t.Errorf("attempt worker %q; want %q", str(as[0].Worker), b.engine.WorkerID())
			}
		}
		if n := b.client.Attempt.Query().Where(attempt.StepID(prov.ID)).CountX(b.ctx); n != 1 {
			t.Errorf("Attempt.Query for Provision: %d rows; want 1", n)
		}
		b.checkTrail(t, reg.ID, "READY>RUNNING>COMPLETED")
		b.checkTrail(t, prov.ID, "PENDING>READY>RUNNING>COMPLETED")
	})
}

func TestExecCalloutRetryableAnswersThenSuccess(t *testing.T) {
	t.Parallel()
	enginetest.EachBackend(t, func(t *testing.T, url string) {
		cat := xCatalog("", []string{
			`{name: Flaky, type: CALLOUT, callout: {system: sys, path: /flaky, set: {order.flakyRef: 'response.body.ref'}}, retry: {max: 3}}`,
		}, nil)
		b := setupExec(t, url, cat, xOptions{run: &orchestrator.RunnerConfig{}})
		codes := []int{503, 408, 429}
		b.xs.on("/flaky", func(_ *http.Request, n int) (int, string) {
			if n <= len(codes) {
				return codes[n-1], `{"error":"busy"}`
			}
			return 200, `{"ref":"F-OK"}`
		})
		rec := b.submit(t, widgetOrder("flaky-1"))
		id := b.stepByName(t, rec.ID, "Flaky").ID
		as := b.waitAttempts(t, id, 1)
		for i, code := range codes {
			s := b.stepByName(t, rec.ID, "Flaky")
			checkFailedWake(t, s, 10*time.Second) // the system's FIXED 10s; the step only raised max
			if i == 0 && !s.WakeAt.Equal(enginetest.Epoch.Add(10*time.Second)) {
				t.Errorf("first retry at %v; want epoch+10s", s.WakeAt)
			}
			if !strings.Contains(str(s.Error), strconv.Itoa(code)) {
				t.Errorf("after answer %d: step error %q", code, str(s.Error))
			}
			checkAttempt(t, as[i], i+1, attempt.OutcomeFAILED, code, strconv.Itoa(code))
			as = b.advanceAttempts(t, 10*time.Second, id, i+2)
		}
		s := b.waitStep(t, rec.ID, "Flaky", step.StatusCOMPLETED)
		checkAttempt(t, as[3], 4, attempt.OutcomeSUCCEEDED, 200, "")
		if str(s.Error) != "" || s.WakeAt != nil || s.AttemptCount != 4 {
			t.Errorf("completed step: error %q wake %v attempts %d", str(s.Error), s.WakeAt, s.AttemptCount)
		}
		b.checkRequests(t, "/flaky", id, 4)
		if got := b.orderAttrs(t, rec.ID)["flakyRef"]; got != "F-OK" {
			t.Errorf("flakyRef = %v", got)
		}
		b.checkTrail(t, id, "READY>RUNNING>FAILED>READY>RUNNING>FAILED>READY>RUNNING>FAILED>READY>RUNNING>COMPLETED")
		b.waitOrder(t, rec.ID, order.StatusCOMPLETED)
	})
}

func TestExecCalloutRetryImmediate(t *testing.T) {
	t.Parallel()
	enginetest.EachBackend(t, func(t *testing.T, url string) {
		cat := xCatalog("", []string{
			`{name: Fail, type: CALLOUT, callout: {system: sys, path: /fail}, retry: {max: 2, policy: IMMEDIATE}}`,
		}, nil)
		b := setupExec(t, url, cat, xOptions{run: &orchestrator.RunnerConfig{}})
		b.xs.always("/fail", 500, `{"error":"down"}`)
		rec := b.submit(t, widgetOrder("imm-1"))
		id := b.stepByName(t, rec.ID, "Fail").ID
		// No clock move: every retry follows at once.
		s := b.waitStep(t, rec.ID, "Fail", step.StatusFALLOUT)
		as := b.attempts(t, id)
		if len(as) != 3 {
			t.Fatalf("%d attempts; want 3", len(as))
		}
		for i, a := range as {
			checkAttempt(t, a, i+1, attempt.OutcomeFAILED, 500, "500")
		}
		if !b.clock.Now().Equal(enginetest.Epoch) {
			t.Errorf("clock moved")
		}
		if s.WakeAt != nil || !strings.Contains(str(s.Error), "500") {
			t.Errorf("fallout: wake %v error %q", s.WakeAt, str(s.Error))
		}
		b.checkRequests(t, "/fail", id, 3)
		b.checkTrail(t, id, "READY>RUNNING>FAILED>READY>RUNNING>FAILED>READY>RUNNING>FALLOUT")
	})
}

func TestExecCalloutTimeoutAndRefused(t *testing.T) {
	t.Parallel()
	enginetest.EachBackend(t, func(t *testing.T, url string) {
		cat := xCatalog(sfSystem("slow", "200ms", "retry: {max: 1, policy: FIXED, backoff: 5s}")+`  dead:
    url: "${DEAD_URL}"
    timeout: 2s
    retry: {max: 1, policy: IMMEDIATE}
`, []string{
			`{name: Slow, type: CALLOUT, callout: {system: slow, path: /slow}}`,
			`{name: Dead, type: CALLOUT, callout: {system: dead, path: /dead}}`,
		}, nil)
		b := setupExec(t, url, cat, xOptions{run: &orchestrator.RunnerConfig{}})
		// Slower than the system's 200ms: answers only when the client
		// has given up.
		b.xs.on("/slow", func(r *http.Request, _ int) (int, string) {
			b.xs.hang(r)
			return 200, `{"late":true}`
		})
		rec := b.submit(t, widgetOrder("to-1"))

		// Connection refused: retried (IMMEDIATE), then fallout.
		dead := b.waitStep(t, rec.ID, "Dead", step.StatusFALLOUT)
		das := b.attempts(t, dead.ID)
		if len(das) != 2 {
			t.Fatalf("Dead: %d attempts; want 2", len(das))
		}
		for i, a := range das {
			checkAttempt(t, a, i+1, attempt.OutcomeFAILED, 0, "refused")
		}
		if !strings.Contains(str(dead.Error), "refused") {
			t.Errorf("Dead error %q; want connection refused", str(dead.Error))
		}

		// Timeout: retried after the backoff, then fallout.
		slow := b.stepByName(t, rec.ID, "Slow")
		as := b.waitAttempts(t, slow.ID, 1)
		checkAttempt(t, as[0], 1, attempt.OutcomeFAILED, 0, "no answer within 200ms")
		checkFailedWake(t, b.stepByName(t, rec.ID, "Slow"), 5*time.Second)
		as = b.advanceAttempts(t, 5*time.Second, slow.ID, 2)
		checkAttempt(t, as[1], 2, attempt.OutcomeFAILED, 0, "no answer within 200ms")
		slow = b.waitStep(t, rec.ID, "Slow", step.StatusFALLOUT)
		if !strings.Contains(str(slow.Error), "no answer within 200ms") {
			t.Errorf("Slow error %q", str(slow.Error))
		}
		b.checkRequests(t, "/slow", slow.ID, 2)
	})
}

func TestExecCallout4xxFallsOutAtOnce(t *testing.T) {
	t.Parallel()
	enginetest.EachBackend(t, func(t *testing.T, url string) {
		cat := xCatalog("", []string{
			`{name: Bad, type: CALLOUT, callout: {system: sys, path: /bad}, retry: {max: 5}}`,
			`{name: Missing, type: CALLOUT, callout: {system: sys, path: /missing}, retry: {max: 5}}`,
			`{name: Unprocessable, type: CALLOUT, callout: {system: sys, path: /unprocessable}, retry: {max: 5, policy: IMMEDIATE}}`,
		}, nil)
		b := setupExec(t, url, cat, xOptions{run: &orchestrator.RunnerConfig{}})
		paths := map[string]int{"/bad": 400, "/missing": 404, "/unprocessable": 422}
		names := map[string]string{"/bad": "Bad", "/missing": "Missing", "/unprocessable": "Unprocessable"}
		for p, code := range paths {
			b.xs.always(p, code, `{"error":"nope"}`)
		}
		rec := b.submit(t, widgetOrder("4xx-1"))
		for p, code := range paths {
			s := b.waitStep(t, rec.ID, names[p], step.StatusFALLOUT)
			as := b.attempts(t, s.ID)
			if len(as) != 1 {
				t.Errorf("%s: %d attempts; want 1", s.Name, len(as))
				continue
			}
			checkAttempt(t, as[0], 1, attempt.OutcomeFAILED, code, strconv.Itoa(code))
			if e := str(s.Error); !strings.Contains(e, strconv.Itoa(code)) || !strings.Contains(e, "nope") {
				t.Errorf("%s error %q; want status and body", s.Name, e)
			}
			if s.WakeAt != nil {
				t.Errorf("%s: a retry is scheduled at %v", s.Name, s.WakeAt)
			}
			b.checkRequests(t, p, s.ID, 1)
			b.checkTrail(t, s.ID, "READY>RUNNING>FALLOUT")
		}
	})
}

// ---------------------------------------------------------------------------
// CALLOUT answered 202, then respondToCallout.

func TestExecCalloutAsyncResponses(t *testing.T) {
	t.Parallel()
	enginetest.EachBackend(t, func(t *testing.T, url string) {
		cat := xCatalog(sfSystem("hangsys", "120s"), []string{
			`{name: Async, type: CALLOUT, callout: {system: sys, path: /async, set: {order.asyncRef: 'response.body.ref'}}}`,
			`{name: AfterAsync, type: MILESTONE}`,
			`{name: Reject, type: CALLOUT, callout: {system: sys, path: /reject}}`,
			`{name: Blocked, type: CALLOUT, callout: {system: sys, path: /blocked}}`,
			`{name: Hang, type: CALLOUT, callout: {system: hangsys, path: /hang}}`,
		}, []string{`{step: AfterAsync, after: Async}`, `{step: Blocked, after: Reject}`})
		b := setupExec(t, url, cat, xOptions{run: &orchestrator.RunnerConfig{}})
		b.xs.always("/async", 202, `{"state":"accepted"}`)
		b.xs.always("/reject", 202, `{"state":"accepted"}`)
		b.xs.on("/hang", func(r *http.Request, _ int) (int, string) {
			b.xs.hang(r)
			return 200, `{}`
		})
		rec := b.submit(t, widgetOrder("async-1"))
		// Hang keeps the runner busy: wait for the moves themselves.
		async := b.awaitStep(t, rec.ID, "Async", step.StatusWAITING)
		reject := b.awaitStep(t, rec.ID, "Reject", step.StatusWAITING)
		hang := b.awaitRunning(t, rec.ID, "Hang", "/hang")
		blocked := b.stepByName(t, rec.ID, "Blocked")
		if blocked.Status != step.StatusPENDING {
			t.Fatalf("Blocked is %s", blocked.Status)
		}

		// The 202 is recorded as a WAITING attempt; no lease, no timer.
		as := b.attempts(t, async.ID)
		if len(as) != 1 {
			t.Fatalf("Async: %d attempts", len(as))
		}
		checkAttempt(t, as[0], 1, attempt.OutcomeWAITING, 202, "")
		if async.LeaseUntil != nil || async.LeaseOwner != "" || async.WakeAt != nil {
			t.Errorf("waiting callout keeps lease %v %q / timer %v", async.LeaseUntil, async.LeaseOwner, async.WakeAt)
		}
		if fmt.Sprint(async.Output["state"]) != "accepted" {
			t.Errorf("Async output after 202: %v", async.Output)
		}

		// Answers to callouts that are not waiting change nothing.
		before := b.eventCount(t)
		for _, c := range []struct {
			name string
			id   int
			code engine.Code
		}{{"RUNNING callout", hang.ID, engine.CodeInvalidState}, {"PENDING callout", blocked.ID, engine.CodeInvalidState},
			{"milestone", b.stepByName(t, rec.ID, "AfterAsync").ID, engine.CodeInvalidState}, {"unknown step", 987654321, engine.CodeNotFound}} {
			err := b.engine.RespondToCallout(b.ctx, c.id, true, map[string]any{"ref": "X"}, "")
			wantCode(t, "respond to "+c.name, err, c.code)
		}
		if got := b.stepByName(t, rec.ID, "Hang"); got.Status != step.StatusRUNNING || got.AttemptCount != 1 {
			t.Errorf("Hang after a premature answer: %s, %d attempts", got.Status, got.AttemptCount)
		}
		if got := b.stepByName(t, rec.ID, "Blocked"); got.Status != step.StatusPENDING {
			t.Errorf("Blocked after an answer: %s", got.Status)
		}
		if n := b.eventCount(t); n != before {
			t.Errorf("rejected answers wrote %d events", n-before)
		}

		// The answer completes the callout and applies its set mapping
		// to the answer as response.body.
		actx := orchestrator.WithActor(b.ctx, "erp-bot")
		if err := b.engine.RespondToCallout(actx, async.ID, true, map[string]any{"ref": "A-77", "extra": 1}, ""); err != nil {
			t.Fatalf("RespondToCallout: %v", err)
		}
		done := b.stepByName(t, rec.ID, "Async")
		if done.Status != step.StatusCOMPLETED {
			t.Fatalf("Async is %s after its answer", done.Status)
		}
		if vals(done.Output["ref"], done.Output["extra"], done.Output["asyncRef"], done.Output["state"]) != "A-77 1 A-77 accepted" {
			t.Errorf("Async output %v", done.Output)
		}
		if got := b.orderAttrs(t, rec.ID)["asyncRef"]; got != "A-77" {
			t.Errorf("order asyncRef = %v; want A-77", got)
		}
		if ms := b.stepByName(t, rec.ID, "AfterAsync"); ms.Status != step.StatusCOMPLETED {
			t.Errorf("AfterAsync is %s", ms.Status)
		}
		as = b.attempts(t, async.ID)
		if len(as) != 2 {
			t.Fatalf("Async: %d attempts after the answer; want 2", len(as))
		}
		checkAttempt(t, as[1], 1, attempt.OutcomeSUCCEEDED, 0, "")
		if str(as[1].Worker) != "erp-bot" {
			t.Errorf("answer attempt worker %q; want the actor erp-bot", str(as[1].Worker))
		}
		evs := b.stepEvents(t, async.ID)
		if last := evs[len(evs)-1]; last.To != "COMPLETED" || last.Actor != "erp-bot" {
			t.Errorf("last Async event %s by %q", last.To, last.Actor)
		}

		// A duplicate and a late (failure) answer: INVALID_STATE, nothing
		// changes.
		before = b.eventCount(t)
		err := b.engine.RespondToCallout(actx, async.ID, true, map[string]any{"ref": "DUP"}, "")
		wantCode(t, "duplicate answer", err, engine.CodeInvalidState)
		err = b.engine.RespondToCallout(actx, async.ID, false, nil, "late failure")
		wantCode(t, "late failure answer", err, engine.CodeInvalidState)
		if n := b.eventCount(t); n != before {
			t.Errorf("duplicate answers wrote %d events", n-before)
		}
		again := b.stepByName(t, rec.ID, "Async")
		if again.Status != step.StatusCOMPLETED || fmt.Sprint(again.Output) != fmt.Sprint(done.Output) || str(again.Error) != "" ||
			!again.UpdatedAt.Equal(done.UpdatedAt) {
			t.Errorf("duplicate answer changed the step: %s %v %q", again.Status, again.Output, str(again.Error))
		}
		if got := b.orderAttrs(t, rec.ID)["asyncRef"]; got != "A-77" {
			t.Errorf("duplicate answer changed asyncRef to %v", got)
		}
		if n := len(b.attempts(t, async.ID)); n != 2 {
			t.Errorf("duplicate answers recorded attempts: %d", n)
		}

		// A failure answer sends the callout to fallout with its error.
		if err := b.engine.RespondToCallout(actx, reject.ID, false, map[string]any{"code": "E42"}, "no capacity"); err != nil {
			t.Fatalf("RespondToCallout(failure): %v", err)
		}
		rj := b.stepByName(t, rec.ID, "Reject")
		if rj.Status != step.StatusFALLOUT || str(rj.Error) != "no capacity" {
			t.Errorf("Reject: %s %q; want FALLOUT with the error", rj.Status, str(rj.Error))
		}
		ras := b.attempts(t, reject.ID)
		if len(ras) != 2 {
			t.Fatalf("Reject: %d attempts", len(ras))
		}
		checkAttempt(t, ras[0], 1, attempt.OutcomeWAITING, 202, "")
		checkAttempt(t, ras[1], 1, attempt.OutcomeFAILED, 0, "no capacity")
		evs = b.stepEvents(t, reject.ID)
		if last := evs[len(evs)-1]; last.To != "FALLOUT" || last.Note != "no capacity" || last.Actor != "erp-bot" {
			t.Errorf("last Reject event %s note %q actor %q", last.To, last.Note, last.Actor)
		}
		// ... and a late success after the fallout is refused.
		before = b.eventCount(t)
		err = b.engine.RespondToCallout(actx, reject.ID, true, map[string]any{"ref": "LATE"}, "")
		wantCode(t, "answer after fallout", err, engine.CodeInvalidState)
		if n := b.eventCount(t); n != before {
			t.Errorf("late answer wrote %d events", n-before)
		}
		if got := b.stepByName(t, rec.ID, "Reject"); got.Status != step.StatusFALLOUT {
			t.Errorf("late answer moved Reject to %s", got.Status)
		}
		if got := b.stepByName(t, rec.ID, "Blocked"); got.Status != step.StatusPENDING {
			t.Errorf("Blocked is %s behind a step in fallout", got.Status)
		}
		b.checkRequests(t, "/async", async.ID, 1)
	})
}

// Concurrent duplicate answers and completions: exactly one applies.
func TestExecConcurrentDuplicateAnswers(t *testing.T) {
	t.Parallel()
	enginetest.EachBackend(t, func(t *testing.T, url string) {
		cat := xCatalog("", []string{
			`{name: Async, type: CALLOUT, callout: {system: sys, path: /async, set: {order.asyncRef: 'response.body.ref'}}}`,
			`{name: Task, type: MANUAL_TASK, task: {queue: q}}`,
		}, nil)
		b := setupExec(t, url, cat, xOptions{run: &orchestrator.RunnerConfig{}})
		b.xs.always("/async", 202, `{}`)
		rec := b.submit(t, widgetOrder("dup-1"))
		async := b.waitStep(t, rec.ID, "Async", step.StatusWAITING)
		task := b.stepByName(t, rec.ID, "Task")
		const n = 8
		var wg sync.WaitGroup
		respondErrs := make([]error, n)
		completeErrs := make([]error, n)
		start := make(chan struct{})
		for i := range n {
			wg.Add(2)
			go func() {
				defer wg.Done()
				<-start
				respondErrs[i] = b.engine.RespondToCallout(b.ctx, async.ID, true, map[string]any{"ref": fmt.Sprint("R", i)}, "")
			}()
			go func() {
				defer wg.Done()
				<-start
				completeErrs[i] = b.engine.CompleteTask(b.ctx, task.ID, map[string]any{"by": i}, "")
			}()
		}
		close(start)
		wg.Wait()
		for what, errs := range map[string][]error{"RespondToCallout": respondErrs, "CompleteTask": completeErrs} {
			applied := 0
			for _, err := range errs {
				switch {
				case err == nil:
					applied++
				case engine.ErrorCode(err) != engine.CodeInvalidState:
					t.Errorf("%s: %v; want success or INVALID_STATE", what, err)
				}
			}
			if applied != 1 {
				t.Errorf("%s: %d of %d concurrent calls applied; want exactly 1", what, applied, n)
			}
		}
		for _, id := range []int{async.ID, task.ID} {
			if c := b.client.Event.Query().Where(event.StepID(id), event.To("COMPLETED")).CountX(b.ctx); c != 1 {
				t.Errorf("step %d: %d COMPLETED events; want 1", id, c)
			}
		}
		if as := b.attempts(t, async.ID); len(as) != 2 {
			t.Errorf("Async: %d attempts; want 2 (the 202 and the one answer)", len(as))
		}
		done := b.stepByName(t, rec.ID, "Async")
		if got := b.orderAttrs(t, rec.ID)["asyncRef"]; got == nil || got != done.Output["ref"] {
			t.Errorf("asyncRef = %v, output ref %v; want the applied answer's", got, done.Output["ref"])
		}
		b.waitOrder(t, rec.ID, order.StatusCOMPLETED)
	})
}

// A 202 answer is only an acknowledgement: the callout's `set` mappings,
// written for the final answer (response.body.result.ref), are evaluated
// against the answer respondToCallout brings, not against the 202's body.
func TestExecCallout202LeavesSetForTheAnswer(t *testing.T) {
	t.Parallel()
	enginetest.EachBackend(t, func(t *testing.T, url string) {
		cat := xCatalog("", []string{
			`{name: Async, type: CALLOUT, callout: {system: sys, path: /async, set: {order.asyncRef: 'response.body.result.ref'}}}`,
			`{name: Simple, type: CALLOUT, callout: {system: sys, path: /simple, set: {order.simpleRef: 'response.body.ref'}}}`,
		}, nil)
		b := setupExec(t, url, cat, xOptions{run: &orchestrator.RunnerConfig{}})
		b.xs.always("/async", 202, `{"state":"accepted"}`)
		b.xs.always("/simple", 202, `{"state":"accepted"}`)
		rec := b.submit(t, widgetOrder("async-bug"))
		// With a mapping that does evaluate on the 202, the acknowledgement
		// already applies it (a null, recorded in the output and merged
		// into the order) before any answer came.
		simple := b.waitStep(t, rec.ID, "Simple", step.StatusWAITING)
		if v, ok := simple.Output["simpleRef"]; ok {
			t.Errorf("the 202 acknowledgement applied the set mapping simpleRef = %v before respondToCallout", v)
		}
		id := b.stepByName(t, rec.ID, "Async").ID
		as := b.waitAttempts(t, id, 1)
		s := b.stepByName(t, rec.ID, "Async")
		if s.Status != step.StatusWAITING {
			t.Fatalf("a callout answered 202 is %s (attempt %s, error %q); want WAITING for respondToCallout", s.Status, as[0].Outcome, str(s.Error))
		}
		if err := b.engine.RespondToCallout(b.ctx, id, true, map[string]any{"result": map[string]any{"ref": "R-1"}}, ""); err != nil {
			t.Fatal(err)
		}
		if got := b.orderAttrs(t, rec.ID)["asyncRef"]; got != "R-1" {
			t.Errorf("asyncRef = %v; want R-1", got)
		}
	})
}

// Attributes written by `set` merge the same way on both backends: each
// top-level key is replaced (an object value too, not merged into), and a
// null value is stored, not a deletion.
func TestExecSetAttributeMergeSameOnBothBackends(t *testing.T) {
	t.Parallel()
	enginetest.EachBackend(t, func(t *testing.T, url string) {
		cat := xCatalog("", []string{
			`{name: First, type: CALLOUT, callout: {system: sys, path: /first, set: {order.addr: 'response.body.addr', order.note: 'response.body.note'}}}`,
			`{name: Second, type: CALLOUT, callout: {system: sys, path: /second, set: {order.addr: 'response.body.addr', order.note: 'response.body.note'}}}`,
		}, []string{`{step: Second, after: First}`})
		b := setupExec(t, url, cat, xOptions{run: &orchestrator.RunnerConfig{}})
		b.xs.always("/first", 200, `{"addr":{"city":"Lyon","zip":"69001"},"note":"first"}`)
		b.xs.always("/second", 200, `{"addr":{"city":"Paris"},"note":null}`)
		rec := b.submit(t, widgetOrder("merge-1"))
		b.waitOrder(t, rec.ID, order.StatusCOMPLETED)
		second := b.stepByName(t, rec.ID, "Second")
		attrs := b.orderAttrs(t, rec.ID)
		if got := vals(attrs["addr"]); got != vals(second.Output["addr"]) {
			t.Errorf("order attribute addr = %s; want %s, the value the last set mapping wrote", got, vals(second.Output["addr"]))
		}
		note, ok := attrs["note"]
		if !ok || note != nil {
			t.Errorf("order attribute note = %v (present %v); want present and null, the value the last set mapping wrote (as in the step output %v)",
				note, ok, second.Output)
		}
	})
}

// ---------------------------------------------------------------------------
// AUTO_TASK

func TestExecAutoTaskOnWorker(t *testing.T) {
	t.Parallel()
	enginetest.EachBackend(t, func(t *testing.T, url string) {
		var okCalls, flakyCalls, fatalCalls, panicCalls atomic.Int32
		actions := []orchestrator.Action{
			{Name: "x-ok", Run: func(_ context.Context, in *orchestrator.ActionInput) (*orchestrator.Result, error) {
				okCalls.Add(1)
				return &orchestrator.Result{Output: map[string]any{"got": fmt.Sprintf("%v/%v", in.Params["a"], in.Params["ext"])},
					SetOrder: map[string]any{"okDone": true}}, nil
			}},
			{Name: "x-flaky", Run: func(context.Context, *orchestrator.ActionInput) (*orchestrator.Result, error) {
				flakyCalls.Add(1)
				return nil, errors.New("backend down")
			}},
			{Name: "x-fatal", Run: func(context.Context, *orchestrator.ActionInput) (*orchestrator.Result, error) {
				fatalCalls.Add(1)
				return nil, &orchestrator.StepError{Message: "bad input", Retryable: false}
			}},
			{Name: "x-panic", Run: func(context.Context, *orchestrator.ActionInput) (*orchestrator.Result, error) {
				panicCalls.Add(1)
				panic("kaboom")
			}},
		}
		cat := xCatalog("", []string{
			`{name: Ok, type: AUTO_TASK, auto: {action: x-ok, params: {a: '2', ext: 'order.externalId'}}}`,
			`{name: Flaky, type: AUTO_TASK, auto: {action: x-flaky}, retry: {max: 2, policy: FIXED, backoff: 5s}}`,
			`{name: Fatal, type: AUTO_TASK, auto: {action: x-fatal}, retry: {max: 3, policy: IMMEDIATE}}`,
			`{name: Panics, type: AUTO_TASK, auto: {action: x-panic}, retry: {max: 3, policy: IMMEDIATE}}`,
		}, nil)
		b := setupExec(t, url, cat, xOptions{run: &orchestrator.RunnerConfig{}, actions: actions})
		rec := b.submit(t, widgetOrder("auto-1"))

		ok := b.waitStep(t, rec.ID, "Ok", step.StatusCOMPLETED)
		if ok.Output["got"] != "2/auto-1" {
			t.Errorf("Ok output %v", ok.Output)
		}
		if got := b.orderAttrs(t, rec.ID)["okDone"]; got != true {
			t.Errorf("okDone = %v", got)
		}
		if as := b.attempts(t, ok.ID); len(as) != 1 {
			t.Errorf("Ok: %d attempts", len(as))
		} else {
			checkAttempt(t, as[0], 1, attempt.OutcomeSUCCEEDED, 0, "")
		}
		b.checkTrail(t, ok.ID, "READY>RUNNING>COMPLETED")

		// Not retryable: fallout at once.
		fatal := b.waitStep(t, rec.ID, "Fatal", step.StatusFALLOUT)
		if str(fatal.Error) != "bad input" {
			t.Errorf("Fatal error %q", str(fatal.Error))
		}
		if as := b.attempts(t, fatal.ID); len(as) != 1 {
			t.Errorf("Fatal: %d attempts; want 1", len(as))
		} else {
			checkAttempt(t, as[0], 1, attempt.OutcomeFAILED, 0, "bad input")
		}
		// A panic is a non-retryable failure.
		pan := b.waitStep(t, rec.ID, "Panics", step.StatusFALLOUT)
		if e := str(pan.Error); !strings.Contains(e, "panicked") || !strings.Contains(e, "kaboom") {
			t.Errorf("Panics error %q", e)
		}
		if as := b.attempts(t, pan.ID); len(as) != 1 {
			t.Errorf("Panics: %d attempts; want 1", len(as))
		} else {
			checkAttempt(t, as[0], 1, attempt.OutcomeFAILED, 0, "kaboom")
		}

		// An error is retried under the policy, then falls out.
		flaky := b.stepByName(t, rec.ID, "Flaky")
		as := b.waitAttempts(t, flaky.ID, 1)
		for i := range 2 {
			checkFailedWake(t, b.stepByName(t, rec.ID, "Flaky"), 5*time.Second)
			checkAttempt(t, as[i], i+1, attempt.OutcomeFAILED, 0, "backend down")
			as = b.advanceAttempts(t, 5*time.Second, flaky.ID, i+2)
		}
		checkAttempt(t, as[2], 3, attempt.OutcomeFAILED, 0, "backend down")
		flaky = b.waitStep(t, rec.ID, "Flaky", step.StatusFALLOUT)
		if str(flaky.Error) != "backend down" {
			t.Errorf("Flaky error %q", str(flaky.Error))
		}
		if okCalls.Load() != 1 || flakyCalls.Load() != 3 || fatalCalls.Load() != 1 || panicCalls.Load() != 1 {
			t.Errorf("calls: ok %d flaky %d fatal %d panic %d; want 1 3 1 1", okCalls.Load(), flakyCalls.Load(), fatalCalls.Load(), panicCalls.Load())
		}
	})
}

func TestExecAutoTaskInTransaction(t *testing.T) {
	t.Parallel()
	enginetest.EachBackend(t, func(t *testing.T, url string) {
		var calls, failCalls, onWorker atomic.Int32
		actions := []orchestrator.Action{
			{Name: "x-intx", InTransaction: true, Run: func(_ context.Context, in *orchestrator.ActionInput) (*orchestrator.Result, error) {
				calls.Add(1)
				return &orchestrator.Result{Output: map[string]any{"computed": 42, "step": in.Step.Name}, SetOrder: map[string]any{"intx": "yes"}}, nil
			}},
			{Name: "x-intx-fail", InTransaction: true, Run: func(context.Context, *orchestrator.ActionInput) (*orchestrator.Result, error) {
				failCalls.Add(1)
				return nil, errors.New("cannot compute")
			}},
			{Name: "x-worker", Run: func(context.Context, *orchestrator.ActionInput) (*orchestrator.Result, error) {
				onWorker.Add(1)
				return nil, nil
			}},
		}
		cat := xCatalog("", []string{
			`{name: Compute, type: AUTO_TASK, auto: {action: x-intx}}`,
			`{name: Next, type: AUTO_TASK, auto: {action: x-intx}}`,
			`{name: FailNow, type: AUTO_TASK, auto: {action: x-intx-fail}, retry: {max: 2, policy: IMMEDIATE}}`,
			`{name: FailLater, type: AUTO_TASK, auto: {action: x-intx-fail}, retry: {max: 2, policy: FIXED, backoff: 1m}}`,
			`{name: Remote, type: AUTO_TASK, auto: {action: x-worker}}`,
		}, []string{`{step: Next, after: Compute}`})
		// No runner: in-transaction actions run in SubmitOrder's
		// transaction; the others wait READY for a worker.
		b := setupExec(t, url, cat, xOptions{actions: actions})
		rec := b.submit(t, widgetOrder("intx-1"))

		for _, name := range []string{"Compute", "Next"} {
			s := b.stepByName(t, rec.ID, name)
			if s.Status != step.StatusCOMPLETED {
				t.Errorf("%s is %s right after SubmitOrder; want COMPLETED", name, s.Status)
				continue
			}
			if vals(s.Output["computed"], s.Output["step"]) != "42 "+name {
				t.Errorf("%s output %v", name, s.Output)
			}
			if as := b.attempts(t, s.ID); len(as) != 1 {
				t.Errorf("%s: %d attempts", name, len(as))
			} else {
				checkAttempt(t, as[0], 1, attempt.OutcomeSUCCEEDED, 0, "")
			}
		}
		// Ready, run and finished in one transaction: one event.
		b.checkTrail(t, b.stepByName(t, rec.ID, "Next").ID, "PENDING>COMPLETED")
		if got := b.orderAttrs(t, rec.ID)["intx"]; got != "yes" {
			t.Errorf("intx = %v", got)
		}
		// IMMEDIATE retries happen in the same transaction, then fallout.
		fn := b.stepByName(t, rec.ID, "FailNow")
		if fn.Status != step.StatusFALLOUT || str(fn.Error) != "cannot compute" {
			t.Errorf("FailNow: %s %q; want FALLOUT", fn.Status, str(fn.Error))
		}
		if as := b.attempts(t, fn.ID); len(as) != 3 {
			t.Errorf("FailNow: %d attempts; want 3", len(as))
		}
		// A backoff leaves the step FAILED with its next attempt time.
		fl := b.stepByName(t, rec.ID, "FailLater")
		checkFailedWake(t, fl, time.Minute)
		if fl.WakeAt != nil && !fl.WakeAt.Equal(enginetest.Epoch.Add(time.Minute)) {
			t.Errorf("FailLater next attempt %v", fl.WakeAt)
		}
		if got := failCalls.Load(); got != 4 {
			t.Errorf("failing action ran %d times; want 4 (3 FailNow, 1 FailLater)", got)
		}
		if calls.Load() != 2 {
			t.Errorf("x-intx ran %d times; want 2", calls.Load())
		}
		if r := b.stepByName(t, rec.ID, "Remote"); r.Status != step.StatusREADY || onWorker.Load() != 0 {
			t.Errorf("Remote: %s, ran %d times; want READY, not run without a runner", r.Status, onWorker.Load())
		}
	})
}

// ---------------------------------------------------------------------------
// MANUAL_TASK, MILESTONE

func TestExecManualTask(t *testing.T) {
	t.Parallel()
	enginetest.EachBackend(t, func(t *testing.T, url string) {
		cat := xCatalog("", []string{
			`{name: Review, type: MANUAL_TASK, task: {queue: q-review, instructions: "Look at it"}}`,
			`{name: Approve, type: MANUAL_TASK, task: {queue: q-approve}}`,
			`{name: Done, type: MILESTONE}`,
		}, []string{`{step: Approve, after: Review}`, `{step: Done, after: Approve}`})
		b := setupExec(t, url, cat, xOptions{})
		rec := b.submit(t, widgetOrder("task-1"))
		review := b.stepByName(t, rec.ID, "Review")
		approve := b.stepByName(t, rec.ID, "Approve")
		done := b.stepByName(t, rec.ID, "Done")

		waiting, err := b.client.Step.Query().Where(step.Queue("q-review"), step.StatusEQ(step.StatusWAITING)).All(b.ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(waiting) != 1 || waiting[0].ID != review.ID {
			t.Errorf("q-review holds %v; want Review", waiting)
		}
		if n := b.client.Step.Query().Where(step.Queue("q-approve"), step.StatusEQ(step.StatusWAITING)).CountX(b.ctx); n != 0 {
			t.Errorf("q-approve holds %d waiting tasks before Review is done", n)
		}
		if approve.Status != step.StatusPENDING {
			t.Fatalf("Approve is %s", approve.Status)
		}

		// Assign.
		if err := b.engine.AssignTask(orchestrator.WithActor(b.ctx, "lead"), review.ID, "  alice "); err != nil {
			t.Fatalf("AssignTask: %v", err)
		}
		if got := str(b.stepByName(t, rec.ID, "Review").Assignee); got != "alice" {
			t.Errorf("assignee %q; want alice", got)
		}
		evs := b.stepEvents(t, review.ID)
		last := evs[len(evs)-1]
		if last.Kind != event.KindSTEP_ASSIGNED || last.From != "" || last.To != "alice" || last.Actor != "lead" {
			t.Errorf("assignment event %s %q→%q by %q", last.Kind, last.From, last.To, last.Actor)
		}

		// Illegal: nothing changes.
		before := b.eventCount(t)
		wantCode(t, "complete a PENDING manual task", b.engine.CompleteTask(b.ctx, approve.ID, nil, ""), engine.CodeInvalidState)
		wantCode(t, "complete a milestone", b.engine.CompleteTask(b.ctx, done.ID, nil, ""), engine.CodeInvalidState)
		wantCode(t, "complete an unknown step", b.engine.CompleteTask(b.ctx, 987654321, nil, ""), engine.CodeNotFound)
		wantCode(t, "assign a milestone", b.engine.AssignTask(b.ctx, done.ID, "bob"), engine.CodeInvalidState)
		wantCode(t, "assign an unknown step", b.engine.AssignTask(b.ctx, 987654321, "bob"), engine.CodeNotFound)
		if n := b.eventCount(t); n != before {
			t.Errorf("refused calls wrote %d events", n-before)
		}
		if s := b.stepByName(t, rec.ID, "Approve"); s.Status != step.StatusPENDING || !s.UpdatedAt.Equal(approve.UpdatedAt) {
			t.Errorf("Approve changed: %s", s.Status)
		}

		// Complete, with output and note, as an actor.
		if err := b.engine.CompleteTask(orchestrator.WithActor(b.ctx, "alice"), review.ID, map[string]any{"verdict": "fine", "score": 7}, "looked good"); err != nil {
			t.Fatalf("CompleteTask: %v", err)
		}
		r := b.stepByName(t, rec.ID, "Review")
		if r.Status != step.StatusCOMPLETED || vals(r.Output["verdict"], r.Output["score"]) != "fine 7" || str(r.Note) != "looked good" {
			t.Errorf("Review: %s output %v note %q", r.Status, r.Output, str(r.Note))
		}
		evs = b.stepEvents(t, review.ID)
		if last := evs[len(evs)-1]; last.To != "COMPLETED" || last.Actor != "alice" || last.Note != "looked good" {
			t.Errorf("completion event %s by %q note %q", last.To, last.Actor, last.Note)
		}
		b.checkTrail(t, review.ID, "READY>WAITING>COMPLETED")
		if s := b.stepByName(t, rec.ID, "Approve"); s.Status != step.StatusWAITING || str(s.Queue) != "q-approve" {
			t.Errorf("Approve is %s in %q after Review; want WAITING in q-approve", s.Status, str(s.Queue))
		}

		// Twice: refused, nothing changes.
		before = b.eventCount(t)
		err = b.engine.CompleteTask(orchestrator.WithActor(b.ctx, "mallory"), review.ID, map[string]any{"verdict": "bad"}, "again")
		wantCode(t, "complete twice", err, engine.CodeInvalidState)
		wantCode(t, "assign a completed task", b.engine.AssignTask(b.ctx, review.ID, "bob"), engine.CodeInvalidState)
		if n := b.eventCount(t); n != before {
			t.Errorf("refused calls wrote %d events", n-before)
		}
		if s := b.stepByName(t, rec.ID, "Review"); s.Output["verdict"] != "fine" || str(s.Note) != "looked good" || str(s.Assignee) != "alice" {
			t.Errorf("refused calls changed Review: %v %q %q", s.Output, str(s.Note), str(s.Assignee))
		}

		if err := b.engine.CompleteTask(b.ctx, approve.ID, nil, ""); err != nil {
			t.Fatalf("CompleteTask(Approve): %v", err)
		}
		evs = b.stepEvents(t, approve.ID)
		if last := evs[len(evs)-1]; last.Actor != "anonymous" {
			t.Errorf("completion without an actor recorded %q", last.Actor)
		}
		if s := b.stepByName(t, rec.ID, "Done"); s.Status != step.StatusCOMPLETED {
			t.Errorf("Done is %s", s.Status)
		}
		b.checkOrder(t, rec.ID, order.StatusCOMPLETED)
	})
}

func TestExecMilestoneCompletesWithLastPrerequisite(t *testing.T) {
	t.Parallel()
	enginetest.EachBackend(t, func(t *testing.T, url string) {
		cat := xCatalog("", []string{
			`{name: Start, type: MILESTONE}`,
			`{name: A, type: MANUAL_TASK, task: {queue: q}}`,
			`{name: B, type: MANUAL_TASK, task: {queue: q}}`,
			`{name: Both, type: MILESTONE}`,
		}, []string{`{step: Both, after: [A, B]}`})
		b := setupExec(t, url, cat, xOptions{})
		rec := b.submit(t, widgetOrder("ms-1"))
		start := b.stepByName(t, rec.ID, "Start")
		if start.Status != step.StatusCOMPLETED || b.trail(t, start.ID) != "READY>COMPLETED" {
			t.Errorf("a milestone without prerequisites: %s, went %s; want COMPLETED at submit", start.Status, b.trail(t, start.ID))
		}
		a, bb := b.stepByName(t, rec.ID, "A"), b.stepByName(t, rec.ID, "B")
		if err := b.engine.CompleteTask(b.ctx, a.ID, nil, ""); err != nil {
			t.Fatal(err)
		}
		both := b.stepByName(t, rec.ID, "Both")
		if both.Status != step.StatusPENDING || both.Pending != 1 {
			t.Fatalf("Both is %s (pending %d) with B open", both.Status, both.Pending)
		}
		b.clock.Advance(time.Minute) // so that this transaction's time differs from the last
		if err := b.engine.CompleteTask(b.ctx, bb.ID, nil, ""); err != nil {
			t.Fatal(err)
		}
		both = b.stepByName(t, rec.ID, "Both")
		if both.Status != step.StatusCOMPLETED {
			t.Fatalf("Both is %s after its last prerequisite", both.Status)
		}
		all, err := b.client.Event.Query().Order(ent.Asc(event.FieldID)).All(b.ctx)
		if err != nil {
			t.Fatal(err)
		}
		i := 0
		for i < len(all) && !(all[i].StepID != nil && *all[i].StepID == bb.ID && all[i].To == "COMPLETED") {
			i++
		}
		if i+1 >= len(all) {
			t.Fatalf("no completion of B followed by an event")
		}
		// Both went READY and COMPLETED in B's transaction: one event,
		// PENDING → COMPLETED, right after B's.
		if ev := all[i+1]; ev.StepID == nil || *ev.StepID != both.ID || ev.From != "PENDING" || ev.To != "COMPLETED" || !ev.At.Equal(all[i].At) {
			t.Errorf("event after B's completion: step %v %s → %s at %v; want Both PENDING → COMPLETED at %v", ev.StepID, ev.From, ev.To, ev.At, all[i].At)
		}
		if !all[i].At.Equal(enginetest.Epoch.Add(time.Minute)) || !both.CompletedAt.Equal(all[i].At) {
			t.Errorf("B completed at %v, Both at %v", all[i].At, both.CompletedAt)
		}
		b.checkOrder(t, rec.ID, order.StatusCOMPLETED)
	})
}

// ---------------------------------------------------------------------------
// PAUSE

func TestExecPause(t *testing.T) {
	t.Parallel()
	enginetest.EachBackend(t, func(t *testing.T, url string) {
		cat := xCatalog("", []string{
			`{name: Gate, type: PAUSE, pause: {until: evt}}`,
			`{name: Prep, type: MANUAL_TASK, task: {queue: q}}`,
			`{name: Early, type: PAUSE, pause: {until: early}}`,
			`{name: Timer, type: PAUSE, pause: {for: 1h}}`,
			`{name: Either, type: PAUSE, pause: {until: either, for: 2h}}`,
			`{name: Hold, type: PAUSE, pause: {until: never}}`,
		}, []string{`{step: Early, after: Prep}`})
		b := setupExec(t, url, cat, xOptions{run: &orchestrator.RunnerConfig{}})
		rec := b.submit(t, widgetOrder("pause-1"))
		gate := b.stepByName(t, rec.ID, "Gate")
		prep := b.stepByName(t, rec.ID, "Prep")
		early := b.stepByName(t, rec.ID, "Early")
		timer := b.stepByName(t, rec.ID, "Timer")
		either := b.stepByName(t, rec.ID, "Either")
		hold := b.stepByName(t, rec.ID, "Hold")
		for _, s := range []*ent.Step{gate, timer, either, hold} {
			if s.Status != step.StatusWAITING {
				t.Fatalf("%s is %s; want WAITING", s.Name, s.Status)
			}
		}
		if gate.WakeAt != nil || timer.WakeAt == nil || !timer.WakeAt.Equal(enginetest.Epoch.Add(time.Hour)) ||
			either.WakeAt == nil || !either.WakeAt.Equal(enginetest.Epoch.Add(2*time.Hour)) {
			t.Errorf("pause timers: Gate %v Timer %v Either %v", gate.WakeAt, timer.WakeAt, either.WakeAt)
		}

		// Refused signals and resumes change nothing.
		before := b.eventCount(t)
		_, err := b.engine.Signal(b.ctx, rec.ID, " ", nil)
		wantCode(t, "empty signal", err, engine.CodeBadUserInput)
		_, err = b.engine.Signal(b.ctx, 987654321, "evt", nil)
		wantCode(t, "signal to an unknown order", err, engine.CodeNotFound)
		wantCode(t, "resume a manual task", b.engine.ResumeStep(b.ctx, prep.ID), engine.CodeInvalidState)
		wantCode(t, "resume a PENDING pause", b.engine.ResumeStep(b.ctx, early.ID), engine.CodeInvalidState)
		wantCode(t, "resume an unknown step", b.engine.ResumeStep(b.ctx, 987654321), engine.CodeNotFound)
		if n := b.eventCount(t); n != before {
			t.Errorf("refused calls wrote %d events", n-before)
		}

		// until: the signal completes the waiting pause.
		resumed, err := b.engine.Signal(orchestrator.WithActor(b.ctx, "crm"), rec.ID, "evt", map[string]any{"k": "v"})
		if err != nil {
			t.Fatalf("Signal: %v", err)
		}
		if len(resumed) != 1 || resumed[0] != gate.ID {
			t.Errorf("Signal resumed %v; want [%d]", resumed, gate.ID)
		}
		g := b.stepByName(t, rec.ID, "Gate")
		payload, _ := g.Output["payload"].(map[string]any)
		if g.Status != step.StatusCOMPLETED || g.Output["signal"] != "evt" || payload["k"] != "v" {
			t.Errorf("Gate: %s output %v", g.Status, g.Output)
		}
		if evs := b.stepEvents(t, gate.ID); evs[len(evs)-1].Actor != "crm" {
			t.Errorf("Gate completion actor %q", evs[len(evs)-1].Actor)
		}
		// Again: nothing left to resume.
		if resumed, err := b.engine.Signal(b.ctx, rec.ID, "evt", nil); err != nil || len(resumed) != 0 {
			t.Errorf("second signal: %v %v", resumed, err)
		}
		wantCode(t, "resume a completed pause", b.engine.ResumeStep(b.ctx, gate.ID), engine.CodeInvalidState)

		// A signal before the pause waits: it completes as it becomes ready.
		resumed, err = b.engine.Signal(b.ctx, rec.ID, "early", map[string]any{"n": 1})
		if err != nil || len(resumed) != 0 {
			t.Errorf("early signal: resumed %v err %v; want none", resumed, err)
		}
		if s := b.stepByName(t, rec.ID, "Early"); s.Status != step.StatusPENDING {
			t.Errorf("Early is %s before Prep is done", s.Status)
		}
		if err := b.engine.CompleteTask(b.ctx, prep.ID, nil, ""); err != nil {
			t.Fatal(err)
		}
		e := b.stepByName(t, rec.ID, "Early")
		if e.Status != step.StatusCOMPLETED || e.Output["signal"] != "early" {
			t.Errorf("Early: %s output %v; want COMPLETED by the earlier signal", e.Status, e.Output)
		}
		// READY and WAITING were never committed: one event.
		b.checkTrail(t, early.ID, "PENDING>COMPLETED")

		// until + for: the signal wins and clears the timer.
		if resumed, err := b.engine.Signal(b.ctx, rec.ID, "either", nil); err != nil || len(resumed) != 1 || resumed[0] != either.ID {
			t.Errorf("signal either: %v %v", resumed, err)
		}
		if s := b.stepByName(t, rec.ID, "Either"); s.Status != step.StatusCOMPLETED || s.WakeAt != nil {
			t.Errorf("Either: %s wake %v", s.Status, s.WakeAt)
		}

		// resumeStep completes a waiting pause by hand.
		if err := b.engine.ResumeStep(orchestrator.WithActor(b.ctx, "ops-1"), hold.ID); err != nil {
			t.Fatalf("ResumeStep: %v", err)
		}
		if s := b.stepByName(t, rec.ID, "Hold"); s.Status != step.StatusCOMPLETED || s.Output["resumedBy"] != "ops-1" {
			t.Errorf("Hold: %s output %v", s.Status, s.Output)
		}

		// for: completes when its duration elapses.
		if s := b.stepByName(t, rec.ID, "Timer"); s.Status != step.StatusWAITING {
			t.Fatalf("Timer is %s before its hour", s.Status)
		}
		var tm *ent.Step
		b.advance(t, time.Hour, func() bool {
			tm = b.stepByName(t, rec.ID, "Timer")
			return tm.Status == step.StatusCOMPLETED
		}, "Timer did not complete")
		if tm.Output["resumedBy"] != "timer" || tm.WakeAt != nil {
			t.Errorf("Timer output %v wake %v", tm.Output, tm.WakeAt)
		}
		b.waitOrder(t, rec.ID, order.StatusCOMPLETED)
	})
}

// A pause whose signal arrived before it was waiting completes with the
// signal's payload in its output, like one resumed while waiting.
func TestExecPauseSignalledEarlyKeepsPayload(t *testing.T) {
	t.Parallel()
	enginetest.EachBackend(t, func(t *testing.T, url string) {
		cat := xCatalog("", []string{
			`{name: Prep, type: MANUAL_TASK, task: {queue: q}}`,
			`{name: Early, type: PAUSE, pause: {until: early}}`,
		}, []string{`{step: Early, after: Prep}`})
		b := setupExec(t, url, cat, xOptions{})
		rec := b.submit(t, widgetOrder("pause-early"))
		if _, err := b.engine.Signal(b.ctx, rec.ID, "early", map[string]any{"n": 1}); err != nil {
			t.Fatal(err)
		}
		if err := b.engine.CompleteTask(b.ctx, b.stepByName(t, rec.ID, "Prep").ID, nil, ""); err != nil {
			t.Fatal(err)
		}
		e := b.stepByName(t, rec.ID, "Early")
		payload, _ := e.Output["payload"].(map[string]any)
		if e.Status != step.StatusCOMPLETED || fmt.Sprint(payload["n"]) != "1" {
			t.Errorf("Early: %s output %v; want the signal's payload {n: 1} as when the signal comes after", e.Status, e.Output)
		}
	})
}

// ---------------------------------------------------------------------------
// Illegal transitions

func TestExecTransitionTable(t *testing.T) {
	t.Parallel()
	for _, from := range engine.StepStatuses {
		for _, to := range engine.StepStatuses {
			if from.Terminal() && engine.CanMove(from, to) {
				t.Errorf("terminal %s may move to %s", from, to)
			}
		}
	}
	for _, m := range [][2]engine.StepStatus{
		{engine.StepPending, engine.StepRunning}, {engine.StepPending, engine.StepCompleted}, {engine.StepPending, engine.StepWaiting},
		{engine.StepReady, engine.StepPending}, {engine.StepReady, engine.StepFailed}, {engine.StepRunning, engine.StepPending},
		{engine.StepRunning, engine.StepSkipped}, {engine.StepWaiting, engine.StepRunning}, {engine.StepWaiting, engine.StepReady},
		{engine.StepFailed, engine.StepRunning}, {engine.StepFailed, engine.StepWaiting}, {engine.StepFallout, engine.StepRunning},
		{engine.StepFallout, engine.StepFailed}, {engine.StepCompleted, engine.StepReady}, {engine.StepOnHold, engine.StepRunning},
	} {
		if engine.CanMove(m[0], m[1]) {
			t.Errorf("%s → %s is allowed", m[0], m[1])
		}
	}
	for _, m := range [][2]engine.StepStatus{
		{engine.StepPending, engine.StepReady}, {engine.StepReady, engine.StepRunning}, {engine.StepReady, engine.StepWaiting},
		{engine.StepReady, engine.StepCompleted}, {engine.StepRunning, engine.StepCompleted}, {engine.StepRunning, engine.StepFailed},
		{engine.StepRunning, engine.StepFallout}, {engine.StepRunning, engine.StepWaiting}, {engine.StepRunning, engine.StepReady},
		{engine.StepWaiting, engine.StepCompleted}, {engine.StepWaiting, engine.StepFallout}, {engine.StepFailed, engine.StepReady},
		{engine.StepFallout, engine.StepReady}, {engine.StepPending, engine.StepSkipped},
	} {
		if !engine.CanMove(m[0], m[1]) {
			t.Errorf("%s → %s is refused", m[0], m[1])
		}
	}
}

func TestExecIllegalTransitionsWriteNothing(t *testing.T) {
	t.Parallel()
	enginetest.EachBackend(t, func(t *testing.T, url string) {
		cat := xCatalog("", []string{
			`{name: Call, type: CALLOUT, callout: {system: sys, path: /call}}`,
			`{name: Task, type: MANUAL_TASK, task: {queue: q}}`,
			`{name: Wait, type: PAUSE, pause: {until: go}}`,
			`{name: Ms, type: MILESTONE}`,
			`{name: Auto, type: AUTO_TASK, auto: {action: noop}}`,
		}, []string{`{step: Ms, after: Task}`})
		b := setupExec(t, url, cat, xOptions{}) // no runner: Call stays READY
		rec := b.submit(t, widgetOrder("illegal-1"))
		steps := map[string]*ent.Step{}
		for _, n := range []string{"Call", "Task", "Wait", "Ms", "Auto"} {
			steps[n] = b.stepByName(t, rec.ID, n)
		}
		want := map[string]step.Status{"Call": step.StatusREADY, "Task": step.StatusWAITING, "Wait": step.StatusWAITING,
			"Ms": step.StatusPENDING, "Auto": step.StatusCOMPLETED}
		for n, s := range steps {
			if s.Status != want[n] {
				t.Fatalf("%s is %s; want %s", n, s.Status, want[n])
			}
		}
		beforeEvents := b.eventCount(t)
		beforeAttempts := b.client.Attempt.Query().CountX(b.ctx)
		b.clock.Advance(time.Minute) // a write would carry a new updated_at
		ctx := orchestrator.WithActor(b.ctx, "intruder")
		calls := []struct {
			what string
			err  error
		}{
			{"CompleteTask(READY callout)", b.engine.CompleteTask(ctx, steps["Call"].ID, nil, "")},
			{"CompleteTask(waiting pause)", b.engine.CompleteTask(ctx, steps["Wait"].ID, nil, "")},
			{"CompleteTask(PENDING milestone)", b.engine.CompleteTask(ctx, steps["Ms"].ID, nil, "")},
			{"CompleteTask(COMPLETED auto task)", b.engine.CompleteTask(ctx, steps["Auto"].ID, nil, "")},
			{"RespondToCallout(READY callout)", b.engine.RespondToCallout(ctx, steps["Call"].ID, true, nil, "")},
			{"RespondToCallout(READY callout, failure)", b.engine.RespondToCallout(ctx, steps["Call"].ID, false, nil, "x")},
			{"RespondToCallout(manual task)", b.engine.RespondToCallout(ctx, steps["Task"].ID, true, nil, "")},
			{"RespondToCallout(pause)", b.engine.RespondToCallout(ctx, steps["Wait"].ID, true, nil, "")},
			{"ResumeStep(manual task)", b.engine.ResumeStep(ctx, steps["Task"].ID)},
			{"ResumeStep(callout)", b.engine.ResumeStep(ctx, steps["Call"].ID)},
			{"ResumeStep(milestone)", b.engine.ResumeStep(ctx, steps["Ms"].ID)},
			{"ResumeStep(auto task)", b.engine.ResumeStep(ctx, steps["Auto"].ID)},
			{"AssignTask(callout)", b.engine.AssignTask(ctx, steps["Call"].ID, "x")},
			{"AssignTask(pause)", b.engine.AssignTask(ctx, steps["Wait"].ID, "x")},
		}
		for _, c := range calls {
			wantCode(t, c.what, c.err, engine.CodeInvalidState)
		}
		for _, c := range []struct {
			what string
			err  error
		}{
			{"CompleteTask", b.engine.CompleteTask(ctx, 987654321, nil, "")},
			{"RespondToCallout", b.engine.RespondToCallout(ctx, 987654321, true, nil, "")},
			{"ResumeStep", b.engine.ResumeStep(ctx, 987654321)},
			{"AssignTask", b.engine.AssignTask(ctx, 987654321, "x")},
		} {
			wantCode(t, c.what+"(unknown step)", c.err, engine.CodeNotFound)
		}
		if n := b.eventCount(t); n != beforeEvents {
			t.Errorf("refused calls wrote %d events", n-beforeEvents)
		}
		if n := b.client.Attempt.Query().CountX(b.ctx); n != beforeAttempts {
			t.Errorf("refused calls wrote %d attempts", n-beforeAttempts)
		}
		for n, s := range steps {
			now := b.stepByName(t, rec.ID, n)
			if now.Status != s.Status || !now.UpdatedAt.Equal(s.UpdatedAt) || fmt.Sprint(now.Output) != fmt.Sprint(s.Output) ||
				str(now.Assignee) != str(s.Assignee) || str(now.Error) != str(s.Error) {
				t.Errorf("%s changed: %s %v → %s %v", n, s.Status, s.UpdatedAt, now.Status, now.UpdatedAt)
			}
		}
	})
}

// ---------------------------------------------------------------------------
// Roll-up

func TestExecOrderRollup(t *testing.T) {
	t.Parallel()
	enginetest.EachBackend(t, func(t *testing.T, url string) {
		cat := xCatalog("", []string{
			`{name: Call, type: CALLOUT, when: 'order.attributes.skipAll != true && order.attributes.noCall != true', callout: {system: sys, path: /call}}`,
			`{name: Ms, type: MILESTONE, when: 'order.attributes.skipAll != true'}`,
		}, []string{`{step: Ms, after: Call}`})
		b := setupExec(t, url, cat, xOptions{})
		gate := make(chan struct{})
		var gateOnce sync.Once
		open := func() { gateOnce.Do(func() { close(gate) }) }
		t.Cleanup(open)
		b.xs.on("/call", func(r *http.Request, _ int) (int, string) {
			select {
			case <-gate:
			case <-r.Context().Done():
			}
			return 200, `{"ref":"C"}`
		})

		// A plan whose every step is skipped completes at submit.
		skipped := widgetOrder("rollup-skip")
		skipped.Attributes["skipAll"] = true
		srec := b.submit(t, skipped)
		so := b.client.Order.Query().Where(order.ID(srec.ID)).WithPlan().OnlyX(b.ctx)
		if so.Status != order.StatusCOMPLETED || so.Edges.Plan == nil || so.Edges.Plan.Status != "COMPLETED" {
			t.Errorf("all-skipped order is %s (plan %v); want COMPLETED at submit", so.Status, so.Edges.Plan)
		}
		for _, n := range []string{"Call", "Ms"} {
			if s := b.stepByName(t, srec.ID, n); s.Status != step.StatusSKIPPED {
				t.Errorf("%s is %s; want SKIPPED", n, s.Status)
			}
		}
		if got := b.statusTrail(t, srec.ID); got != "ORDER_STATUS:SUBMITTED PLAN_STATUS:PENDING ORDER_STATUS:SUBMITTED>COMPLETED PLAN_STATUS:PENDING>COMPLETED" &&
			got != "ORDER_STATUS:SUBMITTED PLAN_STATUS:PENDING PLAN_STATUS:PENDING>COMPLETED ORDER_STATUS:SUBMITTED>COMPLETED" {
			t.Errorf("all-skipped order events: %s", got)
		}

		// A skipped prerequisite counts as done: the milestone completes at
		// submit, and with it the plan (which started with it).
		onlyMs := widgetOrder("rollup-ms")
		onlyMs.Attributes["noCall"] = true
		mrec := b.submit(t, onlyMs)
		if s := b.stepByName(t, mrec.ID, "Call"); s.Status != step.StatusSKIPPED {
			t.Errorf("Call is %s; want SKIPPED", s.Status)
		}
		if s := b.stepByName(t, mrec.ID, "Ms"); s.Status != step.StatusCOMPLETED {
			t.Errorf("Ms is %s behind a skipped step; want COMPLETED", s.Status)
		}
		if got := b.statusTrail(t, mrec.ID); got != "ORDER_STATUS:SUBMITTED PLAN_STATUS:PENDING PLAN_STATUS:PENDING>IN_PROGRESS ORDER_STATUS:SUBMITTED>IN_PROGRESS "+
			"PLAN_STATUS:IN_PROGRESS>COMPLETED ORDER_STATUS:IN_PROGRESS>COMPLETED" {
			t.Errorf("milestone-only order events: %s", got)
		}
		b.checkOrder(t, mrec.ID, order.StatusCOMPLETED)

		// Nothing started yet: SUBMITTED.
		rec := b.submit(t, widgetOrder("rollup-1"))
		o := b.client.Order.Query().Where(order.ID(rec.ID)).WithPlan().OnlyX(b.ctx)
		if o.Status != order.StatusSUBMITTED || o.Edges.Plan.Status != "PENDING" {
			t.Errorf("order %s plan %s before any step started; want SUBMITTED PENDING", o.Status, o.Edges.Plan.Status)
		}
		// The first step starts: IN_PROGRESS.
		b.start(t, orchestrator.RunnerConfig{})
		b.awaitRunning(t, rec.ID, "Call", "/call")
		o = b.client.Order.Query().Where(order.ID(rec.ID)).WithPlan().OnlyX(b.ctx)
		if o.Status != order.StatusIN_PROGRESS || o.Edges.Plan.Status != "IN_PROGRESS" {
			t.Errorf("order %s plan %s with a step running; want IN_PROGRESS", o.Status, o.Edges.Plan.Status)
		}
		// Every step done: COMPLETED.
		open()
		b.waitOrder(t, rec.ID, order.StatusCOMPLETED)
		o = b.client.Order.Query().Where(order.ID(rec.ID)).WithPlan().OnlyX(b.ctx)
		if o.Edges.Plan.Status != "COMPLETED" {
			t.Errorf("plan %s", o.Edges.Plan.Status)
		}
		want := "ORDER_STATUS:SUBMITTED PLAN_STATUS:PENDING PLAN_STATUS:PENDING>IN_PROGRESS ORDER_STATUS:SUBMITTED>IN_PROGRESS " +
			"PLAN_STATUS:IN_PROGRESS>COMPLETED ORDER_STATUS:IN_PROGRESS>COMPLETED"
		if got := b.statusTrail(t, rec.ID); got != want {
			t.Errorf("order events:\n got %s\nwant %s", got, want)
		}
	})
}

// statusTrail lists an order's ORDER_STATUS and PLAN_STATUS events.
func (b *xBundle) statusTrail(t *testing.T, orderID int) string {
	t.Helper()
	evs, err := b.client.Event.Query().Where(event.OrderID(orderID), event.KindIn(event.KindORDER_STATUS, event.KindPLAN_STATUS)).
		Order(ent.Asc(event.FieldID)).All(b.ctx)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, ev := range evs {
		s := string(ev.Kind) + ":" + ev.To
		if ev.From != "" {
			s = string(ev.Kind) + ":" + ev.From + ">" + ev.To
		}
		out = append(out, s)
	}
	return strings.Join(out, " ")
}

// ---------------------------------------------------------------------------
// Lease expiry

func TestExecLeaseExpiryRetriesWithSameKey(t *testing.T) {
	t.Parallel()
	enginetest.EachBackend(t, func(t *testing.T, url string) {
		cat := xCatalog(sfSystem("hangsys", "60s", "retry: {max: 2, policy: FIXED, backoff: 10s}"), []string{
			`{name: Call, type: CALLOUT, callout: {system: hangsys, path: /call, set: {order.callRef: 'response.body.ref'}}}`,
		}, nil)
		b := setupExec(t, url, cat, xOptions{run: &orchestrator.RunnerConfig{LeaseGrace: time.Second}})
		// The first request hangs until it is released; later ones answer.
		released := make(chan struct{})
		var releaseOnce sync.Once
		release := func() { releaseOnce.Do(func() { close(released) }) }
		t.Cleanup(release)
		b.xs.on("/call", func(r *http.Request, n int) (int, string) {
			if n == 1 {
				select {
				case <-released:
				case <-r.Context().Done():
				}
				return 200, `{"ref":"LATE"}`
			}
			return 200, `{"ref":"SECOND"}`
		})
		rec := b.submit(t, widgetOrder("lease-1"))
		s := b.awaitRunning(t, rec.ID, "Call", "/call")
		// The lease is the callout's timeout plus the grace.
		if s.LeaseUntil == nil || s.StartedAt == nil || s.LeaseUntil.Sub(*s.StartedAt) != 61*time.Second || s.LeaseOwner != b.engine.WorkerID() {
			t.Fatalf("lease %v from %v owner %q; want 61s held by %s", s.LeaseUntil, s.StartedAt, s.LeaseOwner, b.engine.WorkerID())
		}

		// The lease runs out: a LOST attempt, then the retry policy. The
		// first attempt still hangs, so the runner is not idle: one pass of
		// its loops at a time, and the moves awaited as they come.
		b.clock.Advance(61 * time.Second)
		b.runPass(t)
		failed := b.awaitStep(t, rec.ID, "Call", step.StatusFAILED)
		as := b.attempts(t, s.ID)
		if len(as) != 1 {
			t.Fatalf("%d attempts once the lease ran out; want 1", len(as))
		}
		checkAttempt(t, as[0], 1, attempt.OutcomeLOST, 0, "lease expired")
		if str(as[0].Worker) != b.engine.WorkerID() {
			t.Errorf("LOST attempt names worker %q; want the lease owner", str(as[0].Worker))
		}
		checkFailedWake(t, failed, 10*time.Second)
		if failed.LeaseUntil != nil || failed.LeaseOwner != "" {
			t.Errorf("expired lease kept: %v %q", failed.LeaseUntil, failed.LeaseOwner)
		}
		b.clock.Advance(10 * time.Second)
		b.runPass(t)
		done := b.awaitStep(t, rec.ID, "Call", step.StatusCOMPLETED)
		as = b.attempts(t, s.ID)
		if len(as) != 2 {
			t.Fatalf("%d attempts after the retry; want 2", len(as))
		}
		checkAttempt(t, as[1], 2, attempt.OutcomeSUCCEEDED, 200, "")
		if done.Output["ref"] != "SECOND" {
			t.Errorf("output %v", done.Output)
		}
		reqs := b.xs.requests("/call")
		if len(reqs) != 2 || reqs[0].Key != reqs[1].Key || reqs[0].Key != strconv.Itoa(s.ID) || reqs[0].Attempt != "1" || reqs[1].Attempt != "2" {
			t.Errorf("requests %+v; want two with Idempotency-Key %d, attempts 1 and 2", reqs, s.ID)
		}

		// The lost attempt answers late: ignored.
		release()
		if err := b.engine.Stop(context.Background()); err != nil {
			t.Fatal(err)
		}
		after := b.stepByName(t, rec.ID, "Call")
		if after.Status != step.StatusCOMPLETED || after.Output["ref"] != "SECOND" || after.AttemptCount != 2 {
			t.Errorf("after the late answer: %s %v attempts %d", after.Status, after.Output, after.AttemptCount)
		}
		if got := b.orderAttrs(t, rec.ID)["callRef"]; got != "SECOND" {
			t.Errorf("callRef = %v; want SECOND", got)
		}
		if n := len(b.attempts(t, s.ID)); n != 2 {
			t.Errorf("%d attempts after the late answer; want 2", n)
		}
		b.checkTrail(t, s.ID, "READY>RUNNING>FAILED>READY>RUNNING>COMPLETED")
	})
}

// ---------------------------------------------------------------------------
// Two runners on one database

func TestExecTwoRunnersOneDatabase(t *testing.T) {
	t.Parallel()
	enginetest.EachBackend(t, func(t *testing.T, url string) {
		ctx := context.Background()
		xs := newXSystem(t)
		dead := deadURL(t)
		clock := engine.NewFakeClock(enginetest.Epoch)
		cat := xCatalog("", []string{
			`{name: A, type: CALLOUT, callout: {system: sys, path: /a, set: {order.a: 'response.body.ref'}}}`,
			`{name: B, type: CALLOUT, scope: ITEM, product: TP-W, callout: {system: sys, path: /b, body: '{"a": order.attributes.a}'}}`,
			`{name: C, type: AUTO_TASK, auto: {action: x-work}}`,
			`{name: D, type: CALLOUT, callout: {system: sys, path: /d}}`,
			`{name: M, type: MILESTONE}`,
		}, []string{`{step: B, after: A}`, `{step: C, after: B}`, `{step: D, after: A}`, `{step: M, after: [C, D]}`})
		var mu sync.Mutex
		actionRuns := map[int]int{}
		work := orchestrator.Action{Name: "x-work", Run: func(_ context.Context, in *orchestrator.ActionInput) (*orchestrator.Result, error) {
			mu.Lock()
			actionRuns[in.Step.ID]++
			mu.Unlock()
			return &orchestrator.Result{Output: map[string]any{"done": true}}, nil
		}}
		var engines []*orchestrator.Engine
		var stores []*entstore.Store
		for range 2 {
			st := openStore(t, url, clock)
			e := orchestrator.New(orchestrator.Config{Store: st, Clock: clock, Logger: enginetest.Logger(t), Getenv: xGetenv(xs, dead)})
			if err := e.RegisterAction(work); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { e.Stop(context.Background()) })
			engines, stores = append(engines, e), append(stores, st)
		}
		if _, err := engines[0].ImportCatalog(ctx, cat); err != nil {
			t.Fatal(err)
		}
		// Each replica tells the other when it leaves work; few workers, so
		// that they do leave work and both claim from the same queue.
		engines[0].SetWorkSignaler(engines[1].NotifyWork)
		engines[1].SetWorkSignaler(engines[0].NotifyWork)
		for _, e := range engines {
			if err := e.Start(orchestrator.RunnerConfig{Workers: 2, PollInterval: xPoll}); err != nil {
				t.Fatal(err)
			}
		}
		const n = 20
		ids := make([]int, n)
		var wg sync.WaitGroup
		errs := make(chan error, n)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				rec, err := engines[i%2].SubmitOrder(ctx, widgetOrder(fmt.Sprintf("two-%02d", i)))
				if err != nil {
					errs <- err
					return
				}
				ids[i] = rec.ID
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatalf("SubmitOrder: %v", err)
		}
		client := stores[0].Client()
		idleAll(t, stores[0], engines...)
		if done := client.Order.Query().Where(order.StatusEQ(order.StatusCOMPLETED)).CountX(ctx); done != n {
			t.Fatalf("%d of %d orders completed", done, n)
		}
		steps := client.Step.Query().AllX(ctx)
		if len(steps) != 5*n {
			t.Errorf("%d steps; want %d", len(steps), 5*n)
		}
		keys := map[string]int{}
		for _, r := range xs.requests("") {
			keys[r.Key]++
		}
		workers := map[string]bool{}
		for _, s := range steps {
			if s.Status != step.StatusCOMPLETED {
				t.Errorf("step %d %s is %s", s.ID, s.Name, s.Status)
			}
			completed := client.Event.Query().Where(event.StepID(s.ID), event.To("COMPLETED")).CountX(ctx)
			if completed != 1 {
				t.Errorf("step %d %s has %d COMPLETED events; want 1", s.ID, s.Name, completed)
			}
			as := client.Attempt.Query().Where(attempt.StepID(s.ID)).AllX(ctx)
			switch s.Type {
			case step.TypeCALLOUT:
				if c := keys[strconv.Itoa(s.ID)]; c != 1 {
					t.Errorf("step %d %s: %d requests with its Idempotency-Key; want exactly 1", s.ID, s.Name, c)
				}
				fallthrough
			case step.TypeAUTO_TASK:
				if len(as) != 1 || as[0].Outcome != attempt.OutcomeSUCCEEDED {
					t.Errorf("step %d %s: attempts %v; want one SUCCEEDED", s.ID, s.Name, as)
				}
				for _, a := range as {
					workers[str(a.Worker)] = true
				}
			}
		}
		for _, r := range xs.requests("/b") {
			// B's body reads the attribute A's answer set, whichever
			// replica ran A.
			if a, _ := r.Body["a"].(string); !strings.HasPrefix(a, "Ra-") {
				t.Errorf("B request for step %s carries a = %v; want A's ref", r.Key, r.Body["a"])
			}
		}
		if got := len(xs.requests("")); got != 3*n {
			t.Errorf("%d requests; want %d (3 callouts per order)", got, 3*n)
		}
		mu.Lock()
		for id, c := range actionRuns {
			if c != 1 {
				t.Errorf("action ran %d times for step %d; want 1", c, id)
			}
		}
		if len(actionRuns) != n {
			t.Errorf("action ran for %d steps; want %d", len(actionRuns), n)
		}
		mu.Unlock()
		for _, e := range engines {
			if !workers[e.WorkerID()] {
				t.Errorf("replica %s ran no attempt", e.WorkerID())
			}
		}
	})
}

// A signal that arrives while the transaction that makes its pause READY is
// in flight is never lost: the activating transaction reads the plan's
// signals under the plan's lock, which Signal takes too (on PostgreSQL
// they used to race: 104-192 of 800 pauses waited forever).
func TestExecSignalRacingPauseActivation(t *testing.T) {
	t.Parallel()
	enginetest.EachBackend(t, func(t *testing.T, url string) {
		// Several pauses behind one task widen the window (more work
		// between reading the signals and locking the plan).
		steps := []string{`{name: Prep, type: MANUAL_TASK, task: {queue: q}}`}
		var deps []string
		for i := range 8 {
			steps = append(steps, fmt.Sprintf(`{name: Early%d, type: PAUSE, pause: {until: go}}`, i))
			deps = append(deps, fmt.Sprintf(`{step: Early%d, after: Prep}`, i))
		}
		b := setupExec(t, url, xCatalog("", steps, deps), xOptions{})
		n := 100
		if strings.HasPrefix(url, "sqlite") {
			n = 10 // one writer: the race cannot happen; a few runs show the expected behaviour
		}
		var lost []string
		for i := range n {
			rec := b.submit(t, widgetOrder(fmt.Sprintf("race-%d", i)))
			prep := b.stepByName(t, rec.ID, "Prep")
			start := make(chan struct{})
			var wg sync.WaitGroup
			wg.Add(2)
			go func() {
				defer wg.Done()
				<-start
				if err := b.engine.CompleteTask(b.ctx, prep.ID, nil, ""); err != nil {
					t.Error(err)
				}
			}()
			go func() {
				defer wg.Done()
				<-start
				if _, err := b.engine.Signal(b.ctx, rec.ID, "go", nil); err != nil {
					t.Error(err)
				}
			}()
			close(start)
			wg.Wait()
			for j := range 8 {
				if s := b.stepByName(t, rec.ID, fmt.Sprintf("Early%d", j)); s.Status != step.StatusCOMPLETED {
					lost = append(lost, fmt.Sprintf("order %d: %s %s", rec.ID, s.Name, s.Status))
				}
			}
		}
		if len(lost) > 0 {
			t.Errorf("%d of %d pauses whose signal raced their activation missed it (signal recorded, pause left waiting): %v", len(lost), 8*n, lost)
		}
	})
}
