// Package e2e tests Baton end to end: the GraphQL handler with real
// websocket clients in process, and server processes (two replicas on
// PostgreSQL and Redis, kill -9 recovery) built from this repository.
package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/batonhq/baton/engine"
	"github.com/batonhq/baton/engine/enginetest"
	"github.com/batonhq/baton/engine/entstore"
	"github.com/batonhq/baton/engine/orchestrator"
	"github.com/batonhq/baton/graph"
)

// stack is one Baton in process: store, engine (with its runner), hub,
// GraphQL handler on an httptest server, and fake external systems.
type stack struct {
	t      *testing.T
	ctx    context.Context
	store  *entstore.Store
	engine *orchestrator.Engine
	hub    *orchestrator.Hub
	srv    *httptest.Server
	sys    *httptest.Server
	clock  engine.Clock
}

type stackOptions struct {
	clock   engine.Clock
	broker  engine.Broker
	noStart bool // no runner
	// answer scripts the fake systems (default: 200 with a ref).
	answer func(w http.ResponseWriter, r *http.Request)
}

func newStack(t *testing.T, url string, o stackOptions) *stack {
	t.Helper()
	ctx := context.Background()
	if o.clock == nil {
		o.clock = engine.SystemClock{}
	}
	sys := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		if o.answer != nil {
			o.answer(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"ok":true,"ref":"REF-%s"}`, r.Header.Get("Idempotency-Key"))
	}))
	t.Cleanup(sys.Close)
	log := enginetest.Logger(t)
	st, err := entstore.Open(ctx, url, entstore.Options{Clock: o.clock, Logger: log})
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	eng := orchestrator.New(orchestrator.Config{Store: st, Clock: o.clock, Logger: log, Getenv: func(k string) string {
		if k == "BATON_SANDBOX_URL" {
			return sys.URL
		}
		return ""
	}})
	if _, err := eng.ImportCatalog(ctx, enginetest.ExampleCatalog(t)); err != nil && !engine.IsCode(err, engine.CodeConflict) {
		t.Fatalf("import catalog: %v", err)
	}
	broker := o.broker
	if broker == nil {
		broker = engine.NewLocalBroker()
	}
	hub := orchestrator.NewHub(st, orchestrator.HubConfig{Logger: log, PollInterval: 200 * time.Millisecond, OnSystemChange: eng.SystemsChanged})
	eng.SetPublisher(func(events []*engine.Event) {
		hub.Ingest(events)
		broker.Publish(ctx, events)
	})
	eng.SetWorkSignaler(func() { broker.Signal(ctx) })
	if err := hub.Start(ctx, broker, eng.NotifyWork); err != nil {
		t.Fatal(err)
	}
	if !o.noStart {
		if err := eng.Start(orchestrator.RunnerConfig{PollInterval: 200 * time.Millisecond}); err != nil {
			t.Fatal(err)
		}
	}
	srv := httptest.NewServer(graph.NewHandler(graph.Config{Client: st.Client(), Engine: eng, Hub: hub, Logger: log,
		KeepAlive: 200 * time.Millisecond}))
	s := &stack{t: t, ctx: ctx, store: st, engine: eng, hub: hub, srv: srv, sys: sys, clock: o.clock}
	t.Cleanup(func() {
		srv.CloseClientConnections()
		srv.Close()
		eng.Stop(context.Background())
		hub.Close()
		broker.Close()
		st.Close()
	})
	return s
}

// gql posts a query and returns data, failing the test on errors.
func (s *stack) gql(query string, vars map[string]any) map[string]any {
	s.t.Helper()
	data, errs := s.gqlErr(query, vars)
	if len(errs) > 0 {
		s.t.Fatalf("graphql errors: %v", errs)
	}
	return data
}

func (s *stack) gqlErr(query string, vars map[string]any) (map[string]any, []map[string]any) {
	s.t.Helper()
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	resp, err := http.Post(s.srv.URL, "application/json", strings.NewReader(string(body)))
	if err != nil {
		s.t.Fatalf("post: %v", err)
	}
	defer resp.Body.Close()
	var out struct {
		Data   map[string]any   `json:"data"`
		Errors []map[string]any `json:"errors"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		s.t.Fatalf("decode: %v", err)
	}
	return out.Data, out.Errors
}

const submitMutation = `mutation($in: SubmitOrderInput!) { submitOrder(input: $in) { id status } }`

func orderVars(externalID string) map[string]any {
	return map[string]any{"in": map[string]any{"externalId": externalID, "accountId": "acct-" + externalID,
		"attributes": map[string]any{"shipTo": "1 Main St"},
		"lines":      []any{map[string]any{"id": "L1", "productCode": "PRO-SERVER-PKG"}}}}
}

func (s *stack) submit(externalID string) string {
	s.t.Helper()
	d := s.gql(submitMutation, orderVars(externalID))
	return d["submitOrder"].(map[string]any)["id"].(string)
}

// completeInstall completes the order's manual task once it waits.
func (s *stack) completeInstall(orderID string) {
	s.t.Helper()
	var stepID string
	enginetest.Eventually(s.t, 20*time.Second, func() bool {
		d := s.gql(`query($o: ID!) { steps(where: {orderID: $o, name: "Install", status: WAITING}) { edges { node { id } } } }`,
			map[string]any{"o": orderID})
		edges := d["steps"].(map[string]any)["edges"].([]any)
		if len(edges) == 0 {
			return false
		}
		stepID = edges[0].(map[string]any)["node"].(map[string]any)["id"].(string)
		return true
	}, "Install of order %s never waited", orderID)
	s.gql(`mutation($s: ID!) { completeTask(stepId: $s) { status } }`, map[string]any{"s": stepID})
}

// wsClient is a raw graphql-transport-ws client over gorilla/websocket.
type wsEvent struct {
	Cursor  string `json:"cursor"`
	Kind    string `json:"kind"`
	OrderID string `json:"orderId"`
	From    string `json:"from"`
	To      string `json:"to"`
	At      string `json:"at"` // as sent: live and replayed must be the same bytes
	Step    *struct {
		ID     string `json:"id"`
		Name   string `json:"name"`
		Status string `json:"status"`
	} `json:"step"`
}

// collector gathers a subscription's events.
type collector struct {
	mu     sync.Mutex
	events []wsEvent
	errs   []string
	done   bool
}

func (c *collector) add(e wsEvent) {
	c.mu.Lock()
	c.events = append(c.events, e)
	c.mu.Unlock()
}

func (c *collector) snapshot() []wsEvent {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]wsEvent(nil), c.events...)
}

func (c *collector) has(cond func(wsEvent) bool) bool {
	for _, e := range c.snapshot() {
		if cond(e) {
			return true
		}
	}
	return false
}
