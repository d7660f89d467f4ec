package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/batonhq/baton/engine/enginetest"
	"github.com/batonhq/baton/engine/entstore"
)

func init() { enginetest.CheckDatabases(entstore.CheckURL) }

// observeCatalog: a WIDGET line gives a callout to erp, then a milestone;
// a SVC line gives a manual task in queue field. erp retries at once.
const observeCatalog = `version: 1
systems:
  erp: {url: "${OBSERVE_ERP_URL}", timeout: 5s, retry: {max: 3, policy: IMMEDIATE}}
products:
  - {code: WIDGET, name: Widget, type: COMMERCIAL}
  - {code: TP-W, name: Widget work, type: TECHNICAL}
  - {code: SVC, name: Service, type: COMMERCIAL}
  - {code: TP-S, name: Service work, type: TECHNICAL}
decomposition:
  - {name: widget-work, from: WIDGET, to: TP-W}
  - {name: svc-work, from: SVC, to: TP-S}
scenarios:
  - name: main
    groups:
      - name: Main
        steps:
          - {name: Order, type: CALLOUT, scope: ITEM, product: TP-W, callout: {system: erp, path: /orders}}
          - {name: Done, type: MILESTONE, scope: ITEM, product: TP-W}
          - {name: Visit, type: MANUAL_TASK, scope: ITEM, product: TP-S, task: {queue: field}}
    dependencies:
      - {step: Done, after: Order}
`

// erpStub answers 503 to its first request and 200 to the others, and
// keeps every request's traceparent.
type erpStub struct {
	*httptest.Server
	calls        atomic.Int64
	mu           sync.Mutex
	traceparents []string
}

func newERPStub(t *testing.T) *erpStub {
	s := &erpStub{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		s.mu.Lock()
		s.traceparents = append(s.traceparents, r.Header.Get("traceparent"))
		s.mu.Unlock()
		if s.calls.Add(1) == 1 {
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, `{"ok":true}`)
	}))
	t.Cleanup(s.Close)
	return s
}

// testServer is run() serving on a free port, with the observe catalog.
type testServer struct {
	base string
	logs *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func startServer(t *testing.T, dbURL string, erp *erpStub) *testServer {
	t.Helper()
	t.Setenv("OBSERVE_ERP_URL", erp.URL)
	dir := t.TempDir()
	catFile := filepath.Join(dir, "catalog.yaml")
	if err := os.WriteFile(catFile, []byte(observeCatalog), 0o600); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cfg, err := loadConfig([]string{"-addr", addr, "-database-url", dbURL, "-catalog", catFile, "-sandbox=false",
		"-poll-interval", "50ms", "-log-format", "json", "-log-level", "debug"}, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	log, err := newLogger(cfg)
	if err != nil {
		t.Fatal(err)
	}
	log = slog.New(slog.NewJSONHandler(io.MultiWriter(logs, testLogWriter{t}), &slog.HandlerOptions{Level: slog.LevelDebug}))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, cfg, log) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("run: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Errorf("run did not return")
		}
	})
	s := &testServer{base: "http://" + addr, logs: logs}
	enginetest.Eventually(t, 20*time.Second, func() bool {
		select {
		case err := <-done:
			t.Fatalf("run: %v", err)
		default:
		}
		resp, err := http.Get(s.base + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, "server ready")
	return s
}

type testLogWriter struct{ t *testing.T }

func (w testLogWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func (s *testServer) gql(t *testing.T, header http.Header, query string, vars map[string]any) map[string]any {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	req, _ := http.NewRequest(http.MethodPost, s.base+"/graphql", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Baton-User", "tester")
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Data   map[string]any
		Errors []map[string]any
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	if len(out.Errors) > 0 {
		t.Fatalf("%s: %v", query, out.Errors)
	}
	return out.Data
}

const submitMutation = `mutation Submit($in: SubmitOrderInput!) { submitOrder(input: $in) { id status } }`

func (s *testServer) submit(t *testing.T, header http.Header, ext, product string) {
	t.Helper()
	s.gql(t, header, submitMutation, map[string]any{"in": map[string]any{"externalId": ext, "accountId": "acme",
		"lines": []map[string]any{{"id": "L1", "productCode": product}}}})
}

func (s *testServer) waitStatus(t *testing.T, ext, status string) {
	t.Helper()
	enginetest.Eventually(t, 30*time.Second, func() bool {
		d := s.gql(t, nil, `query($e: String!) { orderByExternalId(externalId: $e) { status } }`, map[string]any{"e": ext})
		o, _ := d["orderByExternalId"].(map[string]any)
		return o != nil && o["status"] == status
	}, "order %s %s", ext, status)
}

// scrape reads /metrics and parses it with the Prometheus text parser.
func (s *testServer) scrape(t *testing.T) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(s.base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	return fams
}

// value is the value of the series of name with exactly labels (name=value
// pairs): a counter's or gauge's value, a histogram's count. ok is false
// when there is no such series.
func value(fams map[string]*dto.MetricFamily, name string, labels ...string) (float64, bool) {
	f := fams[name]
	if f == nil {
		return 0, false
	}
next:
	for _, m := range f.Metric {
		if len(m.Label) != len(labels)/2 {
			continue
		}
		for i := 0; i < len(labels); i += 2 {
			found := false
			for _, l := range m.Label {
				if l.GetName() == labels[i] && l.GetValue() == labels[i+1] {
					found = true
				}
			}
			if !found {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue(), true
		case m.Gauge != nil:
			return m.Gauge.GetValue(), true
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount()), true
		}
	}
	return 0, false
}

func TestMetricsAfterFlow(t *testing.T) {
	for _, b := range enginetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			url := b.URL(t)
			erp := newERPStub(t)
			s := startServer(t, url, erp)
			s.submit(t, nil, "w-1", "WIDGET")
			s.waitStatus(t, "w-1", "COMPLETED")
			s.submit(t, nil, "w-2", "WIDGET")
			s.waitStatus(t, "w-2", "COMPLETED")
			s.submit(t, nil, "s-1", "SVC")
			s.waitStatus(t, "s-1", "IN_PROGRESS")
			s.submit(t, nil, "w-1", "WIDGET") // the same order again: not a new one

			fams := s.scrape(t)
			want := []struct {
				name   string
				labels []string
				v      float64
			}{
				{"baton_orders_submitted_total", nil, 3},
				{"baton_orders_completed_total", nil, 2},
				{"baton_orders_cancelled_total", nil, 0},
				{"baton_order_cycle_time_seconds", nil, 2},
				// The callout: created READY, RUNNING, FAILED (503), READY
				// and RUNNING again at once, COMPLETED; the second order's
				// RUNNING, COMPLETED. The milestones: READY, COMPLETED.
				{"baton_step_transitions_total", []string{"type", "CALLOUT", "status", "RUNNING"}, 3},
				{"baton_step_transitions_total", []string{"type", "CALLOUT", "status", "FAILED"}, 1},
				{"baton_step_transitions_total", []string{"type", "CALLOUT", "status", "READY"}, 1},
				{"baton_step_transitions_total", []string{"type", "CALLOUT", "status", "COMPLETED"}, 2},
				{"baton_step_transitions_total", []string{"type", "CALLOUT", "status", "FALLOUT"}, 0},
				{"baton_step_transitions_total", []string{"type", "MILESTONE", "status", "READY"}, 2},
				{"baton_step_transitions_total", []string{"type", "MILESTONE", "status", "COMPLETED"}, 2},
				{"baton_step_transitions_total", []string{"type", "MANUAL_TASK", "status", "WAITING"}, 1},
				{"baton_step_duration_seconds", []string{"type", "CALLOUT", "definition", "Order"}, 2},
				{"baton_step_duration_seconds", []string{"type", "MILESTONE", "definition", "Done"}, 2},
				{"baton_callout_requests_total", []string{"system", "erp", "outcome", "error"}, 1},
				{"baton_callout_requests_total", []string{"system", "erp", "outcome", "success"}, 2},
				{"baton_callout_duration_seconds", []string{"system", "erp"}, 3},
				{"baton_commit_duration_seconds", nil, -1},
				{"baton_steps_open", []string{"status", "WAITING", "jeopardy", "ON_TRACK"}, 1},
				{"baton_fallout_open", nil, 0},
				{"baton_tasks_open", []string{"queue", "field"}, 1},
				{"baton_tasks_unassigned", []string{"queue", "field"}, 1},
				{"baton_system_circuit_state", []string{"system", "erp", "state", "CLOSED"}, 1},
				{"baton_system_circuit_state", []string{"system", "erp", "state", "OPEN"}, 0},
				{"baton_system_online", []string{"system", "erp"}, 1},
				{"baton_callouts_held", []string{"system", "erp"}, 0},
				{"baton_state_up", nil, 1},
				{"baton_feed_subscriptions", nil, 0},
				{"baton_database_errors_total", []string{"operation", "write"}, 0},
				{"baton_database_errors_total", []string{"operation", "scrape"}, 0},
			}
			for _, w := range want {
				got, ok := value(fams, w.name, w.labels...)
				if w.v < 0 {
					if !ok || got < 1 {
						t.Errorf("%s%v = %v (present %v); want at least 1", w.name, w.labels, got, ok)
					}
					continue
				}
				if !ok && w.v != 0 || got != w.v {
					t.Errorf("%s%v = %v (present %v); want %v", w.name, w.labels, got, ok, w.v)
				}
			}
			// Every attempt's outcome went through a group commit.
			if h := fams["baton_commit_batch_size"]; h == nil || h.Metric[0].Histogram.GetSampleSum() != 3 {
				t.Errorf("baton_commit_batch_size: %v; want outcomes summing to 3", h)
			}
			if fmt.Sprint(erp.calls.Load()) != "3" {
				t.Errorf("erp got %d requests; want 3", erp.calls.Load())
			}
		})
	}
}
