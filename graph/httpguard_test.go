package graph_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/batonhq/baton/engine/enginetest"
)

func request(t *testing.T, e *env, method, body string, header http.Header) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, e.srv.URL, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func TestCORS(t *testing.T) {
	t.Parallel()
	e := newEnv(t, enginetest.SQLiteURL(t), envOptions{cors: []string{"https://ops.example"}})
	pre := http.Header{"Origin": {"https://ops.example"}, "Access-Control-Request-Method": {"POST"},
		"Access-Control-Request-Headers": {"authorization, content-type"}}
	resp, _ := request(t, e, http.MethodOptions, "", pre)
	if resp.StatusCode != http.StatusNoContent || resp.Header.Get("Access-Control-Allow-Origin") != "https://ops.example" ||
		!strings.Contains(resp.Header.Get("Access-Control-Allow-Headers"), "Authorization") {
		t.Errorf("allowed preflight: %d %v", resp.StatusCode, resp.Header)
	}
	pre.Set("Origin", "https://evil.example")
	if resp, _ := request(t, e, http.MethodOptions, "", pre); resp.StatusCode != http.StatusForbidden || resp.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("refused preflight: %d %v", resp.StatusCode, resp.Header)
	}
	q := `{"query":"{ __typename }"}`
	resp, _ = request(t, e, http.MethodPost, q, http.Header{"Origin": {"https://ops.example"}})
	if resp.Header.Get("Access-Control-Allow-Origin") != "https://ops.example" || !strings.Contains(resp.Header.Get("Vary"), "Origin") {
		t.Errorf("allowed request: %v", resp.Header)
	}
	resp, _ = request(t, e, http.MethodPost, q, http.Header{"Origin": {"https://evil.example"}})
	if resp.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("another origin got %q", resp.Header.Get("Access-Control-Allow-Origin"))
	}
}

func TestRateLimit(t *testing.T) {
	t.Parallel()
	ps := accessPrincipals()
	e := newEnv(t, enginetest.SQLiteURL(t), envOptions{authenticate: ps.auth(), rateLimit: 0.5, rateBurst: 2})
	q := `{"query":"{ __typename }"}`
	for i := range 2 {
		if resp, body := request(t, e, http.MethodPost, q, as("admin")); resp.StatusCode != http.StatusOK {
			t.Fatalf("request %d within the burst: %d %s", i, resp.StatusCode, body)
		}
	}
	resp, body := request(t, e, http.MethodPost, q, as("admin"))
	ra, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
	if resp.StatusCode != http.StatusTooManyRequests || ra < 1 || ra > 2 || !strings.Contains(body, "RATE_LIMITED") {
		t.Errorf("over the rate: %d Retry-After %q %s", resp.StatusCode, resp.Header.Get("Retry-After"), body)
	}
	if resp, body := request(t, e, http.MethodPost, q, as("acme")); resp.StatusCode != http.StatusOK {
		t.Errorf("another principal is limited too: %d %s", resp.StatusCode, body)
	}
}

// TestGraphQLHTTP: the GraphQL-over-HTTP answers to requests that cannot
// run: 200 with application/json; 4xx and no data entry with
// application/graphql-response+json.
func TestGraphQLHTTP(t *testing.T) {
	t.Parallel()
	e := newEnv(t, enginetest.SQLiteURL(t), envOptions{})
	for _, tc := range []struct{ name, body string }{
		{"parse", `{"query":"{ orders("}`},
		{"validation", `{"query":"{ noSuchField }"}`},
		{"variables", `{"query":"query($id: ID!) { order(id: $id) { id } }","variables":{"id":{"x":1}}}`},
	} {
		resp, body := request(t, e, http.MethodPost, tc.body, http.Header{"Accept": {"application/json"}})
		if resp.StatusCode != http.StatusOK || !strings.Contains(body, `"errors"`) {
			t.Errorf("%s, application/json: %d %s; want 200 with errors", tc.name, resp.StatusCode, body)
		}
		resp, body = request(t, e, http.MethodPost, tc.body, http.Header{"Accept": {"application/graphql-response+json"}})
		var m map[string]json.RawMessage
		if err := json.Unmarshal([]byte(body), &m); err != nil {
			t.Fatalf("%s: %v %s", tc.name, err, body)
		}
		if _, hasData := m["data"]; resp.StatusCode < 400 || hasData || m["errors"] == nil {
			t.Errorf("%s, graphql-response+json: %d %s; want 4xx, errors and no data", tc.name, resp.StatusCode, body)
		}
	}
	resp, body := request(t, e, http.MethodPost, `{"query":"{ __typename }"}`, http.Header{"Accept": {"application/graphql-response+json"}})
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `"data"`) {
		t.Errorf("a good request: %d %s", resp.StatusCode, body)
	}
}

func TestIntrospectionOff(t *testing.T) {
	t.Parallel()
	e := newEnv(t, enginetest.SQLiteURL(t), envOptions{disableIntrospection: true})
	r := e.post(`{ __schema { types { name } } }`, nil)
	if len(r.Errors) == 0 {
		t.Errorf("introspection answered with it off: %s", r.Body)
	}
}
