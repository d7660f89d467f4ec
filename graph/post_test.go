package graph

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/extension"
	"github.com/99designs/gqlgen/graphql/handler/lru"
	"github.com/99designs/gqlgen/graphql/handler/transport"

	"github.com/batonhq/baton/graph/generated"
)

// TestPostTransportAnswersAsGqlgens: postTransport answers every kind of
// request with the status, content type and JSON that gqlgen's
// transport.POST gives: data, errors with extensions, refused
// documents (422, or 400 as application/graphql-response+json), bodies
// that are not JSON, and the media types it does not serve.
func TestPostTransportAnswersAsGqlgens(t *testing.T) {
	serve := func(tr graphql.Transport) *httptest.Server {
		srv := handler.New(generated.NewExecutableSchema(generated.Config{Resolvers: &Resolver{}}))
		srv.AddTransport(tr)
		srv.Use(extension.Introspection{})
		srv.Use(extension.AutomaticPersistedQuery{Cache: lru.New[string](10)})
		srv.AroundResponses(func(ctx context.Context, next graphql.ResponseHandler) *graphql.Response {
			r := next(ctx)
			if r != nil && graphql.GetOperationContext(ctx).OperationName == "WithExtensions" {
				r.Extensions = map[string]any{"cost": 3, "note": "<&>"}
			}
			return r
		})
		s := httptest.NewServer(srv)
		t.Cleanup(s.Close)
		return s
	}
	ours, theirs := serve(postTransport{}), serve(transport.POST{})
	cases := []struct {
		name, body, contentType, accept string
	}{
		{name: "typename", body: `{"query":"{ __typename }"}`},
		{name: "introspection with markup in descriptions", body: `{"query":"{ __type(name: \"Step\") { name description fields { name description } } }"}`},
		{name: "variables and operation name", body: `{"query":"query Q($n: String!) { __type(name: $n) { name } } query R { __typename }","operationName":"Q","variables":{"n":"Plan"}}`},
		{name: "data and errors", body: `{"query":"{ __typename a: order(id: \"not-an-id\") { id } }"}`},
		{name: "extensions", body: `{"query":"query WithExtensions { __typename }","operationName":"WithExtensions"}`},
		{name: "extensions and errors", body: `{"query":"query WithExtensions { __typename a: order(id: \"x\") { id } }","operationName":"WithExtensions"}`},
		{name: "validation error", body: `{"query":"{ nope }"}`},
		{name: "validation error, graphql-response+json", body: `{"query":"{ nope }"}`, accept: "application/graphql-response+json"},
		{name: "parse error", body: `{"query":"{"}`},
		{name: "accept list", body: `{"query":"{ nope }"}`, accept: "text/html, application/graphql-response+json;q=0.9, application/json"},
		{name: "accept nothing known", body: `{"query":"{ nope }"}`, accept: "text/html"},
		{name: "accept wildcard", body: `{"query":"{ nope }"}`, accept: "*/*"},
		{name: "body not JSON", body: `{"query":`},
		{name: "persisted query not found", body: `{"extensions":{"persistedQuery":{"version":1,"sha256Hash":"0000000000000000000000000000000000000000000000000000000000000000"}}}`},
		{name: "missing operation", body: `{"query":"query A { __typename } query B { __typename }"}`},
		{name: "json with charset", body: `{"query":"{ __typename }"}`, contentType: "application/json; charset=utf-8"},
		{name: "not JSON media type", body: `query=x`, contentType: "application/x-www-form-urlencoded"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			get := func(s *httptest.Server) (int, string, any) {
				req, err := http.NewRequest(http.MethodPost, s.URL, strings.NewReader(tc.body))
				if err != nil {
					t.Fatal(err)
				}
				ct := tc.contentType
				if ct == "" {
					ct = "application/json"
				}
				req.Header.Set("Content-Type", ct)
				if tc.accept != "" {
					req.Header.Set("Accept", tc.accept)
				}
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				b, err := io.ReadAll(resp.Body)
				if err != nil {
					t.Fatal(err)
				}
				var v any
				if err := json.Unmarshal(b, &v); err != nil {
					t.Fatalf("body %q is not JSON: %v", b, err)
				}
				return resp.StatusCode, resp.Header.Get("Content-Type"), v
			}
			s1, c1, v1 := get(ours)
			s2, c2, v2 := get(theirs)
			if s1 != s2 || c1 != c2 {
				t.Errorf("status %d, %s; gqlgen's %d, %s", s1, c1, s2, c2)
			}
			if !reflect.DeepEqual(v1, v2) {
				a, _ := json.Marshal(v1)
				b, _ := json.Marshal(v2)
				t.Errorf("body\n%s\ngqlgen's\n%s", a, b)
			}
		})
	}
}
