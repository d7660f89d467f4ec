package graph_test

// Hostile queries (issue 10, class 3) and two small class-8 items: each
// request below is refused, cut off or served within a bound, and other
// clients are answered meanwhile.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	neturl "net/url"
	"os"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/batonhq/baton/engine/enginetest"
	"github.com/batonhq/baton/graph"
)

// hostileEnv is newEnv's server with the given limits; inflight counts
// the handler calls that have not returned, to see that work stops.
type hostileEnv struct {
	*env
	inflight atomic.Int64
}

func newHostileEnv(t *testing.T, dbURL string, limits graph.Limits, auth graph.Authenticator) *hostileEnv {
	t.Helper()
	he := &hostileEnv{}
	he.env = newEnv(t, dbURL, envOptions{limits: limits, authenticate: auth, wrap: func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			he.inflight.Add(1)
			defer he.inflight.Add(-1)
			h.ServeHTTP(w, r)
		})
	}})
	return he
}

// hostileResult is one hostile request's answer and how long it took.
type hostileResult struct {
	status  int
	body    []byte
	elapsed time.Duration
	err     error
}

func (r hostileResult) decode(t *testing.T) *gqlResponse {
	t.Helper()
	if r.err != nil {
		t.Fatalf("request failed after %s: %v", r.elapsed, r.err)
	}
	out := &gqlResponse{Status: r.status, Body: string(r.body)}
	if err := json.Unmarshal(r.body, out); err != nil {
		t.Fatalf("decode response (HTTP %d): %v\n%.500s", r.status, err, r.body)
	}
	return out
}

// postQuery posts a query on a client of its own that gives up after
// limit, so that a test of the code before its fix fails, not hangs.
func (e *hostileEnv) postQuery(limit time.Duration, query string, vars map[string]any) hostileResult {
	body, err := json.Marshal(map[string]any{"query": query, "variables": vars})
	if err != nil {
		e.t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.srv.URL, bytes.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for k, vs := range e.header {
		req.Header[k] = vs
	}
	start := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return hostileResult{elapsed: time.Since(start), err: err}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return hostileResult{status: resp.StatusCode, body: b, elapsed: time.Since(start), err: err}
}

// meanwhile runs hostile while another client sends ordinary queries,
// each of which must be answered within a generous bound, and returns
// hostile's result once both are done.
func (e *hostileEnv) meanwhile(t *testing.T, hostile func() hostileResult) hostileResult {
	t.Helper()
	done := make(chan hostileResult, 1)
	go func() { done <- hostile() }()
	answered := 0
	for {
		select {
		case r := <-done:
			if answered == 0 { // the hostile request was quick: ask once more
				e.ordinary(t)
			}
			return r
		default:
		}
		e.ordinary(t)
		answered++
		time.Sleep(20 * time.Millisecond)
	}
}

// ordinary is another client's everyday query; it must be answered
// correctly within 3 s whatever the hostile request is doing.
func (e *hostileEnv) ordinary(t *testing.T) {
	t.Helper()
	r := e.postQuery(10*time.Second, `{ catalog { version current } }`, nil)
	if r.err != nil || r.elapsed > 3*time.Second {
		t.Errorf("an ordinary query took %s (err %v) beside a hostile one; want under 3s", r.elapsed, r.err)
		return
	}
	if g := r.decode(t); len(g.Errors) > 0 || !strings.Contains(string(g.Data), `"current":true`) {
		t.Errorf("ordinary query beside a hostile one: HTTP %d %s", g.Status, g.Body)
	}
}

// allocated reports the bytes allocated while fn ran (TotalAlloc counts
// every allocation, however short-lived: the gigabytes a refused query
// used to cost show even when they are collected).
func allocated(fn func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	fn()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// expectRefused checks that r is one error of the given code, with no
// data, answered within 5 s.
func expectRefused(t *testing.T, what string, r hostileResult, code string) *gqlResponse {
	t.Helper()
	if r.err != nil || r.elapsed > 5*time.Second {
		t.Fatalf("%s: answered after %s (err %v); want a refusal within 5s", what, r.elapsed, r.err)
	}
	g := r.decode(t)
	expectError(t, g, code)
	if len(g.Data) != 0 && string(g.Data) != "null" {
		t.Errorf("%s: data %.200s; want none", what, g.Data)
	}
	return g
}

// exponentialFragments returns a document of n fragments, each spreading
// the next twice: a few kilobytes that expand to 2^n selections.
func exponentialFragments(n int) string {
	var b strings.Builder
	b.WriteString("query { ...F0 }\n")
	for i := range n - 1 {
		fmt.Fprintf(&b, "fragment F%d on Query { ...F%d ...F%d }\n", i, i+1, i+1)
	}
	fmt.Fprintf(&b, "fragment F%d on Query { catalog { version } }\n", n-1)
	return b.String()
}

func TestHostileQueryExponentialFragments(t *testing.T) {
	enginetest.EachBackend(t, func(t *testing.T, url string) {
		e := newHostileEnv(t, url, graph.Limits{}, nil)
		doc := exponentialFragments(40)
		r := e.meanwhile(t, func() hostileResult { return e.postQuery(15*time.Second, doc, nil) })
		g := expectRefused(t, "2^40 fragment spreads", r, "QUERY_TOO_LARGE")
		if g.Status != http.StatusOK {
			t.Errorf("HTTP %d; want 200, as for a validation error (GraphQL over HTTP, application/json)", g.Status)
		}
		if !strings.Contains(g.Errors[0].Message, "fragments expanded") {
			t.Errorf("message %q does not say fragments were expanded", g.Errors[0].Message)
		}

		// With the document bounds lifted, the complexity and depth walks
		// are what meets the expansion: they cost each fragment once.
		open := newHostileEnv(t, url, graph.Limits{Fields: 1 << 50, FragmentSpreads: 1 << 50}, nil)
		r = open.meanwhile(t, func() hostileResult { return open.postQuery(15*time.Second, doc, nil) })
		expectRefused(t, "2^40 fragment spreads past the document bounds", r, "COMPLEXITY_LIMIT_EXCEEDED")
		// A modest expansion is still served, and costed right:
		// 2^6 catalog selections of cost 2 each.
		var out struct{ Catalog struct{ Version int } }
		open.do(exponentialFragments(7), nil, &out)
		if out.Catalog.Version == 0 {
			t.Errorf("no catalog version read through 2^6 spreads")
		}
	})
}

func TestHostileQueryIdenticalFields(t *testing.T) {
	enginetest.EachBackend(t, func(t *testing.T, url string) {
		e := newHostileEnv(t, url, graph.Limits{}, nil)
		q := "{ catalog { " + strings.Repeat("version ", 50_000) + "} }"
		var r hostileResult
		alloc := allocated(func() {
			r = e.meanwhile(t, func() hostileResult { return e.postQuery(15*time.Second, q, nil) })
		})
		g := expectRefused(t, "50k identical fields", r, "QUERY_TOO_LARGE")
		if !strings.Contains(g.Errors[0].Message, "tokens") {
			t.Errorf("message %q; want the token limit named", g.Errors[0].Message)
		}
		if alloc > 64<<20 {
			t.Errorf("refusing 50k fields allocated %d MB; want under 64", alloc>>20)
		}

		// Past a lifted token limit the field count refuses it, before
		// validation compares the fields pairwise; through fragments too.
		open := newHostileEnv(t, url, graph.Limits{Tokens: 1 << 30}, nil)
		r = open.meanwhile(t, func() hostileResult { return open.postQuery(15*time.Second, q, nil) })
		g = expectRefused(t, "50k identical fields past the token limit", r, "QUERY_TOO_LARGE")
		if !strings.Contains(g.Errors[0].Message, "fields") {
			t.Errorf("message %q; want the field limit named", g.Errors[0].Message)
		}
		frag := "{ catalog { ...V ...V ...V } } fragment V on CatalogVersion { " + strings.Repeat("version ", 1000) + "}"
		expectRefused(t, "3 × 1000 fields through a fragment", e.postQuery(15*time.Second, frag, nil), "QUERY_TOO_LARGE")
		// Aliases are counted as they expand.
		aliases := "{ ...A ...A } fragment A on Query { " + strings.Repeat("a: catalog { version } ", 60) + "}"
		g = expectRefused(t, "120 aliases", e.postQuery(15*time.Second, aliases, nil), "QUERY_TOO_LARGE")
		if !strings.Contains(g.Errors[0].Message, "aliased") {
			t.Errorf("message %q; want the alias limit named", g.Errors[0].Message)
		}
	})
}

func TestHostileQueryTokenLimit(t *testing.T) {
	enginetest.EachBackend(t, func(t *testing.T, url string) {
		e := newHostileEnv(t, url, graph.Limits{Tokens: 100}, nil)
		// "{ catalog { version } }" is 6 tokens, a comment line one.
		query := func(n int) string {
			return "# " + strings.Repeat("a long comment ", 20) + "\n{ " +
				strings.Repeat("__typename ", n-7) + "catalog { version } }"
		}
		e.do(query(100), nil, nil)
		g := expectRefused(t, "101 tokens", e.postQuery(15*time.Second, query(101), nil), "QUERY_TOO_LARGE")
		if g.Status != http.StatusOK {
			t.Errorf("HTTP %d; want 200", g.Status)
		}
		if !strings.Contains(g.Errors[0].Message, "100 tokens") {
			t.Errorf("message %q; want the limit named", g.Errors[0].Message)
		}
		// Over GET too.
		resp, err := e.srv.Client().Get(e.srv.URL + "?" + neturl.Values{"query": {query(101)}}.Encode())
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !strings.Contains(string(body), "QUERY_TOO_LARGE") {
			t.Errorf("GET with 101 tokens: HTTP %d %s", resp.StatusCode, body)
		}
	})
}

// listQuery reads an order's lines and its plan's steps (plain lists) n
// times under aliases.
func listQuery(n int) string {
	var b strings.Builder
	b.WriteString("query($id: ID!) {")
	for i := range n {
		fmt.Fprintf(&b, ` o%d: order(id: $id) { lines { id lineId productCode quantity status attributes }
			plan { steps { id name status type scope attempts { number outcome } } } }`, i)
	}
	b.WriteString("}")
	return b.String()
}

func TestHostileQueryAliasesTimesLists(t *testing.T) {
	enginetest.EachBackend(t, func(t *testing.T, url string) {
		e := newHostileEnv(t, url, graph.Limits{}, nil)
		id := e.submit(proServerInput("lists", "acme"))
		vars := map[string]any{"id": id}
		// One copy is an ordinary query.
		e.do(listQuery(1), vars, nil)
		r := e.meanwhile(t, func() hostileResult { return e.postQuery(15*time.Second, listQuery(40), vars) })
		expectRefused(t, "40 aliases of an order's lists", r, "COMPLEXITY_LIMIT_EXCEEDED")
		e.queries.reset()
		expectRefused(t, "40 aliases of an order's lists", e.postQuery(15*time.Second, listQuery(40), vars), "COMPLEXITY_LIMIT_EXCEEDED")
		if n := e.queries.count(); n != 0 {
			t.Errorf("the refused query ran %d SQL statements; want none", n)
		}
	})
}

// TestHostileQueryPictures: a plan's pictures read the whole plan, so a
// page of plans asking for them is refused before anything runs, while one
// plan's are an ordinary query.
func TestHostileQueryPictures(t *testing.T) {
	enginetest.EachBackend(t, func(t *testing.T, url string) {
		e := newHostileEnv(t, url, graph.Limits{}, nil)
		id := e.submit(proServerInput("pictures", "acme"))
		e.do(`query($id: ID!) { order(id: $id) { plan { mermaid dot timeline { critical } } } }`, map[string]any{"id": id}, nil)
		e.queries.reset()
		q := `{ plans(first: 100) { edges { node { mermaid dot timeline { critical step { id } } } } } }`
		expectRefused(t, "100 plans' pictures", e.postQuery(15*time.Second, q, nil), "COMPLEXITY_LIMIT_EXCEEDED")
		if n := e.queries.count(); n != 0 {
			t.Errorf("the refused query ran %d SQL statements; want none", n)
		}
	})
}

func TestHostileQueryAliasedIntrospection(t *testing.T) {
	enginetest.EachBackend(t, func(t *testing.T, url string) {
		e := newHostileEnv(t, url, graph.Limits{}, nil)
		body := introspectionQuery[strings.Index(introspectionQuery, "__schema"):]
		body = body[:strings.Index(body, "fragment FullType")]
		body = strings.TrimSuffix(strings.TrimSpace(body), "}")
		var q strings.Builder
		q.WriteString("query {")
		// 8 copies: under the field limit, over the complexity limit.
		for i := range 8 {
			fmt.Fprintf(&q, " s%d: %s", i, body)
		}
		q.WriteString("}")
		q.WriteString(introspectionQuery[strings.Index(introspectionQuery, "fragment FullType"):])
		var r hostileResult
		alloc := allocated(func() {
			r = e.meanwhile(t, func() hostileResult { return e.postQuery(15*time.Second, q.String(), nil) })
		})
		expectRefused(t, "8 aliases of the introspection query", r, "COMPLEXITY_LIMIT_EXCEEDED")
		if alloc > 64<<20 {
			t.Errorf("refusing aliased introspection allocated %d MB; want under 64", alloc>>20)
		}
		// __type lists cost too.
		var tq strings.Builder
		tq.WriteString("{")
		for i := range 100 {
			fmt.Fprintf(&tq, ` t%d: __type(name: "OrderWhereInput") { inputFields { name type { name kind } } }`, i)
		}
		tq.WriteString("}")
		expectRefused(t, "100 aliases of __type", e.postQuery(15*time.Second, tq.String(), nil), "COMPLEXITY_LIMIT_EXCEEDED")
		// One full introspection is still served (TestIntrospection checks
		// its content).
		e.do(introspectionQuery, nil, nil)
	})
}

// slowIntrospection is pure in-memory work that takes seconds: aliased
// walks through the schema's types and their fields' types, which no
// database call interrupts.
func slowIntrospection(n int) string {
	var b strings.Builder
	b.WriteString("{")
	for i := range n {
		fmt.Fprintf(&b, ` s%d: __schema { types { name kind fields { name args { name } type { name kind ofType { name kind } fields { name args { name } type { name kind ofType { name } } } } } } }`, i)
	}
	b.WriteString("}")
	return b.String()
}

// openLimits lift every bound but time, for the work of slowIntrospection.
var openLimits = graph.Limits{Complexity: 1 << 50, Aliases: 1 << 20, Fields: 1 << 30, Tokens: 1 << 30}

// waitIdle waits up to limit for the server to have no request in flight
// and its goroutines back to at most base (plus slack for the test's own
// idle connections), and reports how long that took.
func (e *hostileEnv) waitIdle(t *testing.T, base int, limit time.Duration) {
	t.Helper()
	start := time.Now()
	for {
		n, g := e.inflight.Load(), runtime.NumGoroutine()
		if n == 0 && g <= base+10 {
			return
		}
		if time.Since(start) > limit {
			t.Fatalf("%s after the request ended: %d requests still running, %d goroutines (%d before)", limit, n, g, base)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestHostileQueryDeadline(t *testing.T) {
	enginetest.EachBackend(t, func(t *testing.T, url string) {
		limits := openLimits
		limits.RequestTimeout = time.Second
		e := newHostileEnv(t, url, limits, nil)
		base := runtime.NumGoroutine()
		q := slowIntrospection(400) // some 25 s of work without a deadline
		for _, method := range []string{http.MethodPost, http.MethodGet} {
			r := e.meanwhile(t, func() hostileResult {
				if method == http.MethodPost {
					return e.postQuery(15*time.Second, q, nil)
				}
				start := time.Now()
				c := http.Client{Timeout: 15 * time.Second}
				resp, err := c.Get(e.srv.URL + "?" + neturl.Values{"query": {q}}.Encode())
				if err != nil {
					return hostileResult{elapsed: time.Since(start), err: err}
				}
				defer resp.Body.Close()
				b, err := io.ReadAll(resp.Body)
				return hostileResult{status: resp.StatusCode, body: b, elapsed: time.Since(start), err: err}
			})
			g := expectRefused(t, method+" past its deadline", r, "CANCELLED")
			if len(g.Errors) != 1 || !strings.Contains(g.Errors[0].Message, "deadline of 1s") {
				t.Errorf("%s: errors %s; want one naming the deadline", method, errorList(g.Errors))
			}
			e.waitIdle(t, base, time.Second)
		}
	})
}

// TestHostileQueryClientGone: when the client leaves, the work stops.
// (gqlgen's bounded list marshaling, worker_limit in gqlgen.yml, already
// stops lists on a cancelled context; the field middleware stops every other
// field too. This guards both.)
func TestHostileQueryClientGone(t *testing.T) {
	enginetest.EachBackend(t, func(t *testing.T, url string) {
		e := newHostileEnv(t, url, openLimits, nil)
		base := runtime.NumGoroutine()
		for _, method := range []string{http.MethodGet, http.MethodPost} {
			q := slowIntrospection(400)
			ctx, cancel := context.WithCancel(context.Background())
			var req *http.Request
			if method == http.MethodGet {
				req, _ = http.NewRequestWithContext(ctx, method, e.srv.URL+"?"+neturl.Values{"query": {q}}.Encode(), nil)
			} else {
				body, _ := json.Marshal(map[string]any{"query": q})
				req, _ = http.NewRequestWithContext(ctx, method, e.srv.URL, bytes.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
			}
			done := make(chan error, 1)
			go func() {
				resp, err := http.DefaultClient.Do(req)
				if err == nil {
					resp.Body.Close()
				}
				done <- err
			}()
			// Leave once the server is executing it: gqlgen resolves the
			// aliases concurrently, a goroutine each. (Leaving while it is
			// validated would prove nothing: gqlgen looks at the context
			// once, before it executes.)
			// Parsing and validating it takes seconds under -race on a slow
			// machine (CI's took more than ten), so wait long.
			for start := time.Now(); runtime.NumGoroutine() < base+200; {
				select {
				case err := <-done:
					t.Fatalf("%s: the slow query finished before the client left (err %v); make it slower", method, err)
				default:
				}
				if time.Since(start) > 60*time.Second {
					t.Fatalf("%s: the server never started executing the query", method)
				}
				time.Sleep(2 * time.Millisecond)
			}
			time.Sleep(100 * time.Millisecond)
			cancel()
			if err := <-done; !errors.Is(err, context.Canceled) {
				t.Fatalf("%s: the slow query finished before the client left (err %v); make it slower", method, err)
			}
			e.ordinary(t)
			// Uncancelled, it runs into the 30 s operation deadline; ten
			// seconds leave room for a loaded CI machine.
			e.waitIdle(t, base, 10*time.Second)
		}
	})
}

// TestHostileQueryBodyDeadlineSparesTheQuery: BodyTimeout bounds the
// body's arrival, not the request (a deadline on the request's context
// would cut this query off).
func TestHostileQueryBodyDeadlineSparesTheQuery(t *testing.T) {
	enginetest.EachBackend(t, func(t *testing.T, url string) {
		// The body arrives at once; the query then runs far longer than
		// the body's deadline, which must not cut it off.
		limits := openLimits
		limits.BodyTimeout = 50 * time.Millisecond
		e := newHostileEnv(t, url, limits, nil)
		r := e.postQuery(15*time.Second, slowIntrospection(5), nil)
		g := r.decode(t)
		if len(g.Errors) > 0 || g.fieldNull("s0") {
			t.Fatalf("a query that outlasts the body deadline (%s): %s", r.elapsed, errorList(g.Errors))
		}
		if r.elapsed < 100*time.Millisecond {
			t.Logf("the query took only %s; the check is weak on this machine", r.elapsed)
		}
	})
}

func TestHostileQuerySlowBody(t *testing.T) {
	enginetest.EachBackend(t, func(t *testing.T, url string) {
		e := newHostileEnv(t, url, graph.Limits{BodyTimeout: 300 * time.Millisecond}, nil)
		addr := strings.TrimPrefix(e.srv.URL, "http://")
		for _, framing := range []string{"Content-Length: 1000", "Transfer-Encoding: chunked"} {
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			fmt.Fprintf(conn, "POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n%s\r\n\r\n", framing)
			// A byte every 50 ms, for ever (or until the server cuts it off).
			var wg sync.WaitGroup
			stop := make(chan struct{})
			wg.Add(1)
			go func() {
				defer wg.Done()
				chunk := "{"
				if strings.HasPrefix(framing, "Transfer") {
					chunk = "1\r\n{\r\n"
				}
				for {
					select {
					case <-stop:
						return
					case <-time.After(50 * time.Millisecond):
					}
					if _, err := io.WriteString(conn, chunk); err != nil {
						return
					}
				}
			}()
			start := time.Now()
			conn.SetReadDeadline(time.Now().Add(5 * time.Second))
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			elapsed := time.Since(start)
			close(stop)
			if err != nil {
				t.Fatalf("%s: no answer to a slow body within 5s (%s): %v", framing, elapsed, err)
			}
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != http.StatusRequestTimeout || !strings.Contains(string(body), "REQUEST_TIMEOUT") {
				t.Errorf("%s: HTTP %d %s; want 408 REQUEST_TIMEOUT", framing, resp.StatusCode, body)
			}
			if !resp.Close {
				t.Errorf("%s: the connection stays open after a slow body", framing)
			}
			wg.Wait()
			// Other clients were and are answered.
			e.ordinary(t)
		}
		// An ordinary request with a body is not affected.
		e.do(`query($v: Int) { steps(first: $v) { totalCount } }`, map[string]any{"v": 1}, nil)
	})
}

func TestHostileQueryLowercaseBearer(t *testing.T) {
	enginetest.EachBackend(t, func(t *testing.T, url string) {
		auth, err := graph.TokenAuth("ops:0123456789abcdef")
		if err != nil {
			t.Fatal(err)
		}
		e := newHostileEnv(t, url, graph.Limits{}, auth)
		for _, h := range []string{"bearer 0123456789abcdef", "BEARER 0123456789abcdef", "Bearer  0123456789abcdef", "Bearer 0123456789abcdef"} {
			r := e.postWith(http.Header{"Authorization": {h}}, `{ catalog { version } }`, nil)
			if r.Status != http.StatusOK || len(r.Errors) > 0 {
				t.Errorf("Authorization: %q: HTTP %d %s; want it accepted (the scheme is case-insensitive)", h, r.Status, r.Body)
			}
		}
		for _, h := range []string{"basic 0123456789abcdef", "bearer", "bearer ", "bearer0123456789abcdef", "bearer 0123456789abcdeF"} {
			if r := e.postWith(http.Header{"Authorization": {h}}, `{ catalog { version } }`, nil); r.Status != http.StatusUnauthorized {
				t.Errorf("Authorization: %q: HTTP %d; want 401", h, r.Status)
			}
		}
	})
}

// TestHostileQueryReadmeExamplesWithinLimits: the queries the README
// shows are costed under the default limits (a limit strict enough to
// refuse them would refuse everyday use).
func TestHostileQueryReadmeExamplesWithinLimits(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	var queries []string
	for _, m := range regexp.MustCompile(`"query": ("(?:[^"\\]|\\.)*")`).FindAllStringSubmatch(string(readme), -1) {
		var q string
		if err := json.Unmarshal([]byte(m[1]), &q); err != nil {
			t.Fatalf("README query %s: %v", m[1], err)
		}
		queries = append(queries, q)
	}
	if len(queries) < 3 {
		t.Fatalf("found %d queries in the README; the pattern no longer matches its examples", len(queries))
	}
	enginetest.EachBackend(t, func(t *testing.T, url string) {
		e := newHostileEnv(t, url, graph.Limits{}, nil)
		e.submit(proServerInput("demo-1", "acme"))
		for _, q := range queries {
			vars := map[string]any{"s": "1", "o": "1", "in": proServerInput("demo-2", "acme"),
				"amend": map[string]any{"lines": []any{map[string]any{"id": "L1", "productCode": "PRO-SERVER-PKG"}}}}
			for _, ge := range e.post(q, vars).Errors {
				switch ge.Extensions.Code {
				case "QUERY_TOO_LARGE", "COMPLEXITY_LIMIT_EXCEEDED", "DEPTH_LIMIT_EXCEEDED", "GRAPHQL_VALIDATION_FAILED", "GRAPHQL_PARSE_FAILED":
					t.Errorf("README query refused: %s\n%s", ge, q)
				}
			}
		}
	})
}
