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
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

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

func startServer(t *testing.T, dbURL string, erp *erpStub, flags ...string) *testServer {
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
	cfg, err := loadConfig(append([]string{"-addr", addr, "-database-url", dbURL, "-catalog", catFile, "-sandbox=false",
		"-poll-interval", "50ms", "-log-format", "json", "-log-level", "debug"}, flags...), func(string) string { return "" })
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
			// Tracing is off: nothing is propagated.
			erp.mu.Lock()
			for _, tp := range erp.traceparents {
				if tp != "" {
					t.Errorf("erp got traceparent %q with tracing off", tp)
				}
			}
			erp.mu.Unlock()
		})
	}
}

// TestTracesAfterFlow runs the server with tracing on (the in-memory
// exporter in place of OTLP): a submission through GraphQL has its
// operation span, the callouts of its plan are spans of the same trace,
// the ERP receives their traceparent, and the failed attempt's log line
// names the trace.
func TestTracesAfterFlow(t *testing.T) {
	for _, b := range enginetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			exp := tracetest.NewInMemoryExporter()
			prev := newSpanExporter
			newSpanExporter = func(context.Context) (sdktrace.SpanExporter, error) { return exp, nil }
			t.Cleanup(func() { newSpanExporter = prev })
			t.Setenv("OTEL_TRACES_EXPORTER", "otlp")
			t.Setenv("OTEL_BSP_SCHEDULE_DELAY", "10")
			t.Setenv("OTEL_SERVICE_NAME", "baton-test")
			erp := newERPStub(t)
			s := startServer(t, b.URL(t), erp)
			s.submit(t, nil, "w-1", "WIDGET")
			s.waitStatus(t, "w-1", "COMPLETED")

			var submit tracetest.SpanStub
			var callouts, txs []tracetest.SpanStub
			enginetest.Eventually(t, 10*time.Second, func() bool {
				submit, callouts, txs = tracetest.SpanStub{}, nil, nil
				for _, sp := range exp.GetSpans() {
					switch {
					case sp.Name == "mutation Submit":
						submit = sp
					case sp.Name == "callout erp":
						callouts = append(callouts, sp)
					case sp.Name == "baton.transaction":
						txs = append(txs, sp)
					}
				}
				return submit.Name != "" && len(callouts) == 2
			}, "the submission's and both callouts' spans exported")
			if submit.SpanKind != trace.SpanKindServer {
				t.Errorf("operation span kind %v; want server", submit.SpanKind)
			}
			for _, a := range submit.Attributes {
				if strings.Contains(a.Value.Emit(), "acme") || strings.Contains(a.Value.Emit(), "w-1") {
					t.Errorf("operation span attribute %s = %q carries a variable's value", a.Key, a.Value.Emit())
				}
			}
			if got := attr(submit.Attributes, "graphql.operation.type"); got != "mutation" {
				t.Errorf("graphql.operation.type = %q; want mutation", got)
			}
			if got := submit.Resource.Set(); func() string { v, _ := got.Value("service.name"); return v.Emit() }() != "baton-test" {
				t.Errorf("service.name of %v; want baton-test (OTEL_SERVICE_NAME)", got)
			}
			traceID := submit.SpanContext.TraceID()
			// The ERP saw two requests whose traceparent names the trace of
			// the submission, each with its attempt's span as parent.
			erp.mu.Lock()
			tps := slices.Clone(erp.traceparents)
			erp.mu.Unlock()
			if len(tps) != 2 {
				t.Fatalf("erp traceparents %q; want 2", tps)
			}
			spanIDs := map[string]bool{}
			for _, c := range callouts {
				if c.SpanContext.TraceID() != traceID || c.Parent.SpanID() != submit.SpanContext.SpanID() {
					t.Errorf("callout span in trace %s under %s; want trace %s under the submission's span %s",
						c.SpanContext.TraceID(), c.Parent.SpanID(), traceID, submit.SpanContext.SpanID())
				}
				if c.SpanKind != trace.SpanKindClient {
					t.Errorf("callout span kind %v; want client", c.SpanKind)
				}
				spanIDs[c.SpanContext.SpanID().String()] = true
			}
			for _, tp := range tps {
				parts := strings.Split(tp, "-")
				if len(parts) != 4 || parts[0] != "00" || parts[1] != traceID.String() || !spanIDs[parts[2]] {
					t.Errorf("erp got traceparent %q; want 00-%s-<a callout span's id>-<flags>", tp, traceID)
				}
			}
			outcomes := map[string]bool{}
			for _, c := range callouts {
				outcomes[attr(c.Attributes, "baton.outcome")+"/"+attr(c.Attributes, "http.response.status_code")] = true
			}
			if !outcomes["error/503"] || !outcomes["success/200"] {
				t.Errorf("callout outcomes %v; want error/503 and success/200", outcomes)
			}
			// The submission's transaction is a span of its trace.
			found := false
			for _, tx := range txs {
				if attr(tx.Attributes, "baton.batch.size") == "" {
					t.Errorf("transaction span without baton.batch.size: %v", tx.Attributes)
				}
				for _, l := range tx.Links {
					found = found || l.SpanContext.SpanID() == submit.SpanContext.SpanID()
				}
			}
			if !found {
				t.Errorf("no transaction span linked to the submission's span among %d", len(txs))
			}
			// The failed attempt's log line carries the trace id.
			var line map[string]any
			for _, l := range strings.Split(s.logs.String(), "\n") {
				if strings.Contains(l, "callout attempt failed") {
					json.Unmarshal([]byte(l), &line)
				}
			}
			if line == nil || line["trace_id"] != traceID.String() || !spanIDs[fmt.Sprint(line["span_id"])] {
				t.Errorf("log line %v; want trace_id %s and a callout span's span_id", line, traceID)
			}
			// It says the failure by outcome and status, not the error's
			// text (the request's URL may carry order data or a secret).
			if line != nil && (line["failure"] != "error 503" || line["err"] != nil) {
				t.Errorf("log line %v; want failure \"error 503\" and no error text", line)
			}
		})
	}
}

func attr(kvs []attribute.KeyValue, key string) string {
	for _, kv := range kvs {
		if string(kv.Key) == key {
			return kv.Value.Emit()
		}
	}
	return ""
}

func TestTracerProviderFromEnvironment(t *testing.T) {
	for _, tc := range []struct {
		env     map[string]string
		on      bool
		wantErr string
	}{
		{env: nil, on: false},
		{env: map[string]string{"OTEL_SERVICE_NAME": "x"}, on: false},
		{env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}, on: true},
		{env: map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:4318/v1/traces"}, on: true},
		{env: map[string]string{"OTEL_TRACES_EXPORTER": "otlp"}, on: true},
		{env: map[string]string{"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}, on: false},
		{env: map[string]string{"OTEL_SDK_DISABLED": "true", "OTEL_TRACES_EXPORTER": "otlp"}, on: false},
		{env: map[string]string{"OTEL_TRACES_EXPORTER": "zipkin"}, wantErr: "OTEL_TRACES_EXPORTER"},
		{env: map[string]string{"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, wantErr: "OTEL_EXPORTER_OTLP_PROTOCOL"},
	} {
		tp, shutdown, err := newTracerProvider(context.Background(), func(k string) string { return tc.env[k] })
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("newTracerProvider(%v) = %v; want an error naming %s", tc.env, err, tc.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("newTracerProvider(%v): %v", tc.env, err)
			continue
		}
		if (tp != nil) != tc.on {
			t.Errorf("newTracerProvider(%v) on = %v; want %v", tc.env, tp != nil, tc.on)
		}
		if err := shutdown(context.Background()); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	}
}

// TestMetricsToken: with BATON_METRICS_TOKEN set, /metrics answers only a
// scraper that sends it as a bearer token.
func TestMetricsToken(t *testing.T) {
	s := startServer(t, enginetest.SQLiteURL(t), newERPStub(t), "-metrics-token", "scrape-secret")
	for _, tc := range []struct {
		auth string
		want int
	}{{"", http.StatusUnauthorized}, {"Bearer wrong", http.StatusUnauthorized}, {"Basic scrape-secret", http.StatusUnauthorized},
		{"Bearer scrape-secret", http.StatusOK}} {
		req, _ := http.NewRequest(http.MethodGet, s.base+"/metrics", nil)
		if tc.auth != "" {
			req.Header.Set("Authorization", tc.auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("Authorization %q: %d; want %d", tc.auth, resp.StatusCode, tc.want)
		}
		if tc.want == http.StatusOK && !strings.Contains(string(body), "baton_orders_submitted_total") {
			t.Errorf("Authorization %q: no baton metrics in %.200s", tc.auth, body)
		}
		if tc.want != http.StatusOK && strings.Contains(string(body), "baton_") {
			t.Errorf("Authorization %q: metrics served to a scraper without the token", tc.auth)
		}
	}
}
