package graph_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"entgo.io/ent/dialect"

	"github.com/batonhq/baton/engine"
	"github.com/batonhq/baton/engine/enginetest"
	"github.com/batonhq/baton/engine/entstore"
	"github.com/batonhq/baton/engine/orchestrator"
	"github.com/batonhq/baton/ent"
	"github.com/batonhq/baton/graph"
)

// countingDriver counts the statements the read client (the one GraphQL
// resolvers use) sends to the database.
type countingDriver struct {
	dialect.Driver
	n  atomic.Int64
	mu sync.Mutex
	// log keeps the statements since the last reset.
	log []string
}

func (d *countingDriver) record(query string) {
	d.n.Add(1)
	d.mu.Lock()
	d.log = append(d.log, query)
	d.mu.Unlock()
}

func (d *countingDriver) Exec(ctx context.Context, query string, args, v any) error {
	d.record(query)
	return d.Driver.Exec(ctx, query, args, v)
}

func (d *countingDriver) Query(ctx context.Context, query string, args, v any) error {
	d.record(query)
	return d.Driver.Query(ctx, query, args, v)
}

func (d *countingDriver) Tx(ctx context.Context) (dialect.Tx, error) { return d.Driver.Tx(ctx) }

func (d *countingDriver) reset() {
	d.mu.Lock()
	d.n.Store(0)
	d.log = nil
	d.mu.Unlock()
}

// statements returns the statements since the last reset.
func (d *countingDriver) statements() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]string(nil), d.log...)
}

func (d *countingDriver) count() int64 { return d.n.Load() }

// env is one test's server: a store on a fresh database, an engine (no
// runner) and the real /graphql handler behind httptest.
type env struct {
	t       testing.TB
	ctx     context.Context
	store   *entstore.Store
	eng     *orchestrator.Engine
	client  *ent.Client
	srv     *httptest.Server
	queries *countingDriver
	// header is sent with every request (Authorization for auth tests).
	header http.Header
}

type envOptions struct {
	// catalog is imported at setup; "" imports the example catalog, "-"
	// imports none.
	catalog      string
	authenticate graph.Authenticator
	// limits are the handler's (zero: the defaults).
	limits graph.Limits
	// wrap, when set, wraps the handler the test server serves.
	wrap func(http.Handler) http.Handler
	// cors, rateLimit and rateBurst are the handler's.
	cors                 []string
	rateLimit            float64
	rateBurst            int
	disableIntrospection bool
	// engineLimits are the engine's (zero: the defaults).
	engineLimits engine.Limits
}

func newEnv(t testing.TB, dbURL string, opts envOptions) *env {
	t.Helper()
	ctx := context.Background()
	counter := &countingDriver{}
	clock := engine.NewFakeClock(enginetest.Epoch)
	st, err := entstore.Open(ctx, dbURL, entstore.Options{Clock: clock, Logger: enginetest.Logger(t),
		Driver: func(d dialect.Driver) dialect.Driver { counter.Driver = d; return counter }})
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	eng := orchestrator.New(orchestrator.Config{Store: st, Clock: clock, Logger: enginetest.Logger(t), Limits: opts.engineLimits})
	switch opts.catalog {
	case "-":
	case "":
		if _, err := eng.ImportCatalog(ctx, enginetest.ExampleCatalog(t)); err != nil {
			t.Fatalf("import example catalog: %v", err)
		}
	default:
		if _, err := eng.ImportCatalog(ctx, opts.catalog); err != nil {
			t.Fatalf("import catalog: %v", err)
		}
	}
	var h http.Handler = graph.NewHandler(graph.Config{Client: st.Client(), Engine: eng, Logger: enginetest.Logger(t),
		Authenticate: opts.authenticate, Limits: opts.limits, CORSOrigins: opts.cors, RateLimit: opts.rateLimit, RateBurst: opts.rateBurst,
		DisableIntrospection: opts.disableIntrospection})
	if opts.wrap != nil {
		h = opts.wrap(h)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &env{t: t, ctx: ctx, store: st, eng: eng, client: st.Client(), srv: srv, queries: counter, header: http.Header{}}
}

// gqlProblem is one entry of extensions.problems.
type gqlProblem struct {
	Path    string `json:"path"`
	Message string `json:"message"`
}

// gqlError is one entry of a response's errors.
type gqlError struct {
	Message    string `json:"message"`
	Path       []any  `json:"path"`
	Extensions struct {
		Code     string       `json:"code"`
		Problems []gqlProblem `json:"problems"`
	} `json:"extensions"`
}

func (e gqlError) String() string {
	s := fmt.Sprintf("%s [%s]", e.Message, e.Extensions.Code)
	if len(e.Path) > 0 {
		s += fmt.Sprintf(" at %v", e.Path)
	}
	for _, p := range e.Extensions.Problems {
		s += fmt.Sprintf("\n\t%s: %s", p.Path, p.Message)
	}
	return s
}

// gqlResponse is a decoded GraphQL response.
type gqlResponse struct {
	Status int
	Data   json.RawMessage `json:"data"`
	Errors []gqlError      `json:"errors"`
	Body   string
}

// fieldNull reports whether data, or the given top-level field of it, is null.
func (r *gqlResponse) fieldNull(field string) bool {
	if len(r.Data) == 0 || string(r.Data) == "null" {
		return true
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(r.Data, &m); err != nil {
		return false
	}
	v, ok := m[field]
	return !ok || string(v) == "null"
}

// post sends {query, variables} and decodes the answer.
func (e *env) post(query string, vars map[string]any) *gqlResponse {
	e.t.Helper()
	return e.postWith(e.header, query, vars)
}

func (e *env) postWith(header http.Header, query string, vars map[string]any) *gqlResponse {
	e.t.Helper()
	body, err := json.Marshal(map[string]any{"query": query, "variables": vars})
	if err != nil {
		e.t.Fatalf("encode request: %v", err)
	}
	return e.postRaw(header, body)
}

func (e *env) postRaw(header http.Header, body []byte) *gqlResponse {
	e.t.Helper()
	return e.postReader(header, bytes.NewReader(body))
}

// postReader posts a body from r (a reader other than bytes.Reader and
// the like is sent chunked, without a Content-Length).
func (e *env) postReader(header http.Header, body io.Reader) *gqlResponse {
	e.t.Helper()
	req, err := http.NewRequestWithContext(e.ctx, http.MethodPost, e.srv.URL, body)
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for k, vs := range header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		e.t.Fatalf("POST /graphql: %v", err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatalf("read response: %v", err)
	}
	out := &gqlResponse{Status: resp.StatusCode, Body: string(raw)}
	if err := json.Unmarshal(raw, out); err != nil {
		e.t.Fatalf("decode response (HTTP %d): %v\n%s", resp.StatusCode, err, raw)
	}
	return out
}

// do posts a request that must succeed and decodes its data into v.
func (e *env) do(query string, vars map[string]any, v any) {
	e.t.Helper()
	r := e.post(query, vars)
	if len(r.Errors) > 0 {
		e.t.Fatalf("unexpected errors (HTTP %d):\n%s", r.Status, errorList(r.Errors))
	}
	if r.Status != http.StatusOK {
		e.t.Fatalf("HTTP %d: %s", r.Status, r.Body)
	}
	if v != nil {
		if err := json.Unmarshal(r.Data, v); err != nil {
			e.t.Fatalf("decode data: %v\n%s", err, r.Data)
		}
	}
}

// fail posts a request that must fail with one error of the given code and
// returns that error.
func (e *env) fail(code, query string, vars map[string]any) gqlError {
	e.t.Helper()
	r := e.post(query, vars)
	return expectError(e.t, r, code)
}

func expectError(t testing.TB, r *gqlResponse, code string) gqlError {
	t.Helper()
	if len(r.Errors) == 0 {
		t.Fatalf("want a %s error; got none (HTTP %d): %s", code, r.Status, r.Body)
	}
	for _, e := range r.Errors {
		if e.Extensions.Code == code {
			return e
		}
	}
	t.Fatalf("want a %s error; got:\n%s", code, errorList(r.Errors))
	return gqlError{}
}

func errorList(errs []gqlError) string {
	var b strings.Builder
	for _, e := range errs {
		b.WriteString("  " + e.String() + "\n")
	}
	return b.String()
}

// hasProblem reports whether the error lists a problem at path whose
// message contains msg.
func hasProblem(e gqlError, path, msg string) bool {
	for _, p := range e.Extensions.Problems {
		if p.Path == path && strings.Contains(p.Message, msg) {
			return true
		}
	}
	return false
}

// rowCounts counts what an order submission writes.
func (e *env) rowCounts() map[string]int {
	e.t.Helper()
	ctx := e.ctx
	events, err := e.store.EventsAfter(ctx, 0, 1000)
	if err != nil {
		e.t.Fatalf("events: %v", err)
	}
	return map[string]int{
		"orders":            e.client.Order.Query().CountX(ctx),
		"order lines":       e.client.OrderLine.Query().CountX(ctx),
		"fulfillment lines": e.client.FulfillmentLine.Query().CountX(ctx),
		"plans":             e.client.Plan.Query().CountX(ctx),
		"step groups":       e.client.StepGroup.Query().CountX(ctx),
		"steps":             e.client.Step.Query().CountX(ctx),
		"accounts":          e.client.Account.Query().CountX(ctx),
		"assets":            e.client.Asset.Query().CountX(ctx),
		"events":            len(events),
	}
}

// expectNothingWritten fails when any order table or the event log has
// rows.
func (e *env) expectNothingWritten(what string) {
	e.t.Helper()
	e.expectCounts(what, map[string]int{})
}

// expectCounts fails when the row counts differ from want (missing keys
// want 0).
func (e *env) expectCounts(what string, want map[string]int) {
	e.t.Helper()
	got := e.rowCounts()
	keys := make([]string, 0, len(got))
	for k := range got {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if got[k] != want[k] {
			e.t.Errorf("%s: %s has %d rows; want %d", what, k, got[k], want[k])
		}
	}
}

// atoi parses an ID the API returned.
func atoi(t *testing.T, id string) int {
	t.Helper()
	n, err := strconv.Atoi(id)
	if err != nil {
		t.Fatalf("ID %q is not numeric: %v", id, err)
	}
	return n
}

// proServerInput is the submitOrder input of one Pro Server Package.
func proServerInput(externalID, account string) map[string]any {
	return map[string]any{
		"externalId": externalID, "accountId": account,
		"attributes": map[string]any{"shipTo": "1 Main St"},
		"lines":      []any{map[string]any{"id": "L1", "productCode": "PRO-SERVER-PKG"}},
	}
}

// submit submits an order that must succeed and returns its id.
func (e *env) submit(input map[string]any) string {
	e.t.Helper()
	var out struct {
		SubmitOrder struct{ ID string } `json:"submitOrder"`
	}
	e.do(`mutation($in: SubmitOrderInput!) { submitOrder(input: $in) { id } }`, map[string]any{"in": input}, &out)
	if out.SubmitOrder.ID == "" {
		e.t.Fatal("submitOrder returned no id")
	}
	return out.SubmitOrder.ID
}

func jsonUnmarshal(data []byte, v any) error { return json.Unmarshal(data, v) }
