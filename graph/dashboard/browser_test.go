package dashboard_test

// Browser tests: a real Baton server (SQLite, the runner, the live feed,
// the example catalog's systems served by the sandbox) behind httptest, and
// headless Chromium driven by chromedp. One browser serves the whole
// package; each test opens a tab of its own.
//
// The browser is Debian's chromium: BATON_TEST_CHROME names it, else it is
// looked up on PATH. Without it the tests skip, unless BATON_TEST_SERVICES
// is set (make test, CI), when they fail: in CI a browser test never passes
// by being skipped.

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/batonhq/baton/engine"
	"github.com/batonhq/baton/engine/access"
	"github.com/batonhq/baton/engine/enginetest"
	"github.com/batonhq/baton/engine/entstore"
	"github.com/batonhq/baton/engine/orchestrator"
	"github.com/batonhq/baton/examples/sandbox"
	"github.com/batonhq/baton/graph"
	"github.com/batonhq/baton/graph/dashboard"
	"github.com/batonhq/baton/graph/identity"
	"github.com/batonhq/baton/graph/playground"
)

var updateScreenshots = flag.Bool("update-screenshots", false, "write screenshots/order.png (also BATON_UPDATE_SCREENSHOTS=1)")

func init() { enginetest.CheckDatabases(entstore.CheckURL) }

// The package's one browser, started by the first test that needs it.
var browser struct {
	once   sync.Once
	ctx    context.Context
	cancel func()
	err    error
}

func TestMain(m *testing.M) {
	flag.Parse()
	code := m.Run()
	if browser.cancel != nil {
		browser.cancel()
	}
	os.Exit(code)
}

// chromePath finds the browser, or skips (fails under BATON_TEST_SERVICES).
func chromePath(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("BATON_TEST_CHROME"); p != "" {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("BATON_TEST_CHROME=%s: %v", p, err)
		}
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("BATON_TEST_SERVICES") != "" {
		t.Fatal("BATON_TEST_SERVICES is set but no browser was found: install Debian's chromium or set BATON_TEST_CHROME (make test does)")
	}
	t.Skip("no browser: install Debian's chromium or set BATON_TEST_CHROME (make test does)")
	return ""
}

// tab opens a new tab of the package's browser, 1280×800, recording every
// console error, exception and error-level log entry (failed loads, CSP
// violations) into the returned page.
func tab(t *testing.T) *page {
	t.Helper()
	path := chromePath(t)
	browser.once.Do(func() {
		opts := append(chromedp.DefaultExecAllocatorOptions[:],
			chromedp.ExecPath(path),
			chromedp.WindowSize(1280, 800),
			chromedp.Flag("disable-extensions", true),
			chromedp.Flag("no-first-run", true),
		)
		if os.Geteuid() == 0 {
			opts = append(opts, chromedp.NoSandbox) // Chromium refuses to run as root with its sandbox
		}
		alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
		ctx, cancel := chromedp.NewContext(alloc)
		browser.err = chromedp.Do(ctx)
		browser.ctx = ctx
		browser.cancel = func() { cancel(); cancelAlloc() }
	})
	if browser.err != nil {
		t.Fatalf("start %s: %v", path, browser.err)
	}
	ctx, cancel := chromedp.NewContext(browser.ctx)
	ctx, cancelTimeout := context.WithTimeout(ctx, 3*time.Minute)
	p := &page{t: t, ctx: ctx}
	t.Cleanup(func() {
		cancelTimeout()
		cancel()
	})
	// Console errors, uncaught exceptions, and error entries of the
	// browser's log (failed loads, refused connections, CSP violations).
	messages := chromedp.Console(ctx)
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			if m.Type == chromedp.ConsoleError || m.Type == chromedp.ConsoleException {
				p.problem("console %s: %s (%s:%d)", m.Type, m.Text, m.URL, m.Line+1)
			}
		}
	}()
	p.run(chromedp.EmulateViewport(1280, 800))
	return p
}

// page is a tab and what went wrong in it.
type page struct {
	t        *testing.T
	ctx      context.Context
	mu       sync.Mutex
	problems []string
	expected []string // problems containing one of these are expected
}

func (p *page) problem(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, e := range p.expected {
		if strings.Contains(msg, e) {
			return
		}
	}
	p.problems = append(p.problems, msg)
}

// expect makes problems that contain text expected (and ignored).
func (p *page) expect(text string) {
	p.mu.Lock()
	p.expected = append(p.expected, text)
	p.mu.Unlock()
}

// clean fails the test if the page logged an error or threw.
func (p *page) clean(where string) {
	p.t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, pr := range p.problems {
		p.t.Errorf("%s: %s", where, pr)
	}
	p.problems = nil
}

func (p *page) run(actions ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	// Each call gets 20 s, so that a wait that never ends still leaves
	// time to show the page.
	ctx, cancel := context.WithTimeout(p.ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		p.mu.Lock()
		problems := strings.Join(p.problems, "\n\t")
		p.mu.Unlock()
		html, _ := chromedp.Run(p.ctx, chromedp.OuterHTML(chromedp.CSS("main")))
		p.t.Fatalf("browser: %v\npage problems:\n\t%s\nmain: %.3000s", err, problems, html)
	}
}

// open loads the dashboard at route (e.g. "#/orders") and waits until the
// page named pageName has loaded its data.
func (p *page) open(base, route, pageName string) {
	p.t.Helper()
	p.run(chromedp.Navigate(base+"/"+route), p.ready(pageName))
}

// goTo changes the route without loading the page again.
func (p *page) goTo(route, pageName string) {
	p.t.Helper()
	p.run(chromedp.Evaluate[chromedp.Void](fmt.Sprintf("location.hash = %q", route)), p.ready(pageName))
}

func (p *page) ready(pageName string) chromedp.Action[chromedp.Void] {
	return chromedp.WaitReady(chromedp.CSS(fmt.Sprintf(`main[data-page=%q][data-ready]`, pageName)))
}

// text returns the text of the first element sel selects.
func (p *page) text(sel string) string {
	p.t.Helper()
	s, err := chromedp.Run(p.ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		p.t.Fatalf("text of %s: %v", sel, err)
	}
	return s
}

// eval evaluates expr in the page.
func eval[T any](p *page, expr string) T {
	p.t.Helper()
	v, err := chromedp.Run(p.ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		p.t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// screenshot writes the viewport as name.png into the artifacts directory
// (BATON_TEST_ARTIFACTS, default <tmp>/baton-dashboard-artifacts) and
// returns the PNG.
func (p *page) screenshot(name string) []byte {
	p.t.Helper()
	p.run(chromedp.Sleep(150 * time.Millisecond)) // let the last repaint land
	png, err := chromedp.Run(p.ctx, chromedp.CaptureScreenshot())
	if err != nil {
		p.t.Fatalf("screenshot: %v", err)
	}
	dir := os.Getenv("BATON_TEST_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "baton-dashboard-artifacts")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		p.t.Fatal(err)
	}
	file := filepath.Join(dir, name+".png")
	if err := os.WriteFile(file, png, 0o644); err != nil {
		p.t.Fatal(err)
	}
	p.t.Logf("screenshot: %s", file)
	return png
}

// server is a Baton server as server.go wires it: the dashboard at "/",
// GraphQL at /graphql with its live feed, the playground, the sandbox
// systems, and the runner executing the plans.
type server struct {
	t   *testing.T
	URL string
	eng *orchestrator.Engine
	// failing makes the field-service system answer 503.
	failing   atomic.Bool
	fieldHits atomic.Int64
	// token authenticates gql when the server has keys (the first one's).
	token string
}

// The example catalog, with field service not retrying (a failed
// appointment goes to fallout at once) and a form on the Install task.
func testCatalog(t *testing.T) string {
	cat := enginetest.ExampleCatalog(t)
	const sys = "    url: \"${BATON_SANDBOX_URL:-http://127.0.0.1:8080/sandbox}/fieldservice\"\n    timeout: 5s\n"
	const task = `task: {queue: field-ops, instructions: "Install the server on site, then complete this task."}`
	if !strings.Contains(cat, sys) || !strings.Contains(cat, task) {
		t.Fatal("the example catalog's fieldservice system or Install task changed: adapt testCatalog")
	}
	cat = strings.Replace(cat, sys, sys+"    retry: {max: 0}\n", 1)
	return strings.Replace(cat, task, `task: {queue: field-ops, instructions: "Install the server on site, then complete this task.",
              fields: [{name: serial, required: true, pattern: "^SN-[0-9]+$"}, {name: rack, type: enum, values: [A, B]}, {name: tested, type: boolean}]}`, 1)
}

// newServer starts a server; tokens, when given, are BATON_API_TOKENS:
// every request must then authenticate.
func newServer(t *testing.T, tokens ...string) *server {
	t.Helper()
	ctx := context.Background()
	log := enginetest.Logger(t)
	s := &server{t: t}
	st, err := entstore.Open(ctx, enginetest.SQLiteURL(t), entstore.Options{Logger: log})
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	mux := http.NewServeMux()
	srv := httptest.NewUnstartedServer(mux)
	srv.Start()
	s.URL = srv.URL
	getenv := func(name string) string {
		if name == "BATON_SANDBOX_URL" {
			return srv.URL + "/sandbox"
		}
		return ""
	}
	eng := orchestrator.New(orchestrator.Config{Store: st, Logger: log, Getenv: getenv})
	s.eng = eng
	if _, err := eng.ImportCatalog(ctx, testCatalog(t)); err != nil {
		t.Fatalf("import catalog: %v", err)
	}
	broker := engine.NewLocalBroker()
	hub := orchestrator.NewHub(st, orchestrator.HubConfig{Logger: log, OnSystemChange: eng.SystemsChanged})
	eng.SetPublisher(func(events []*engine.Event) { hub.Ingest(events) })
	if err := hub.Start(ctx, broker, eng.NotifyWork); err != nil {
		t.Fatal(err)
	}
	if err := eng.Start(orchestrator.RunnerConfig{Workers: 8, PollInterval: 200 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	var auth graph.Authenticator
	if len(tokens) > 0 {
		tk, err := identity.ParseTokens(strings.Join(tokens, ","), access.DefaultPolicy())
		if err != nil {
			t.Fatal(err)
		}
		auth = (&identity.Authenticator{Tokens: tk}).Authenticate
		s.token = strings.Split(tokens[0], ":")[1]
	}
	sb := &sandbox.Handler{}
	mux.Handle("/graphql", graph.NewHandler(graph.Config{Client: st.Client(), Engine: eng, Hub: hub, Logger: log, Authenticate: auth}))
	mux.Handle("/sandbox/", http.StripPrefix("/sandbox", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/fieldservice/") {
			s.fieldHits.Add(1)
			if s.failing.Load() {
				http.Error(w, `{"error": "field service is down"}`, http.StatusServiceUnavailable)
				return
			}
		}
		sb.ServeHTTP(w, r)
	})))
	mux.Handle("/", dashboard.Handler("/graphql"))
	mux.Handle("/playground/", http.StripPrefix("/playground", playground.Handler("Baton", "/graphql")))
	t.Cleanup(func() {
		srv.CloseClientConnections()
		srv.Close()
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := eng.Stop(sctx); err != nil {
			t.Logf("stop engine: %v", err)
		}
		hub.Close()
		broker.Close()
		st.Close()
	})
	return s
}

// gql posts a query as the user "tester" and returns its data; errors fail the test.
func (s *server) gql(query string, vars map[string]any) map[string]any {
	s.t.Helper()
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	req, _ := http.NewRequest(http.MethodPost, s.URL+"/graphql", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Baton-User", "tester")
	if s.token != "" {
		req.Header.Set("Authorization", "Bearer "+s.token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatalf("POST /graphql: %v", err)
	}
	defer res.Body.Close()
	var out struct {
		Data   map[string]any    `json:"data"`
		Errors []json.RawMessage `json:"errors"`
	}
	if err := json.NewDecoder(res.Body).Decode(&out); err != nil {
		s.t.Fatalf("decode: %v", err)
	}
	if len(out.Errors) > 0 {
		s.t.Fatalf("%s: errors %s", query, out.Errors)
	}
	return out.Data
}

// submit submits a Pro Server Package order and returns its id.
func (s *server) submit(externalID string) string {
	s.t.Helper()
	d := s.gql(`mutation($in: SubmitOrderInput!) { submitOrder(input: $in) { id } }`, map[string]any{"in": map[string]any{
		"externalId": externalID, "accountId": "acme",
		"attributes": map[string]any{"shipTo": "1 Main St, Springfield"},
		"lines":      []any{map[string]any{"id": "L1", "productCode": "PRO-SERVER-PKG"}},
	}})
	return d["submitOrder"].(map[string]any)["id"].(string)
}

// steps returns the order's steps by name: id and status.
func (s *server) steps(orderID string) map[string][2]string {
	s.t.Helper()
	d := s.gql(`query($id: ID!) { order(id: $id) { plan { steps { id name status } } } }`, map[string]any{"id": orderID})
	out := map[string][2]string{}
	for _, x := range d["order"].(map[string]any)["plan"].(map[string]any)["steps"].([]any) {
		m := x.(map[string]any)
		out[m["name"].(string)] = [2]string{m["id"].(string), m["status"].(string)}
	}
	return out
}

// waitStep waits until the order's step name has status, and returns its id.
func (s *server) waitStep(orderID, name, status string) string {
	s.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		st := s.steps(orderID)[name]
		if st[1] == status {
			return st[0]
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("after 30s: step %s of order %s is %q, not %s", name, orderID, st[1], status)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func toJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
