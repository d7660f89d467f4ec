package graph_test

// Hostile input through the API (issue 10): `where` filters without
// bounds (class 4), values PostgreSQL cannot store (class 5) and Int
// values past 32 bits (class 8). Each is refused with BAD_USER_INPUT
// naming the path, on SQLite and PostgreSQL alike, before any SQL runs.

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/batonhq/baton/engine/enginetest"
)

// whereConnections lists the Query fields that take a `where` filter, from
// the schema itself, so that a connection added later is tested too.
func whereConnections(t *testing.T, e *env) []string {
	t.Helper()
	var out struct {
		Type struct {
			Fields []struct {
				Name string
				Args []struct {
					Name string
					Type struct{ Name string }
				}
			}
		} `json:"__type"`
	}
	e.do(`{ __type(name: "Query") { fields { name args { name type { name } } } } }`, nil, &out)
	var names []string
	for _, f := range out.Type.Fields {
		for _, a := range f.Args {
			// entgql's where inputs; auditLog's AuditLogWhere is a plain
			// input of optional scalars, checked like any argument.
			if a.Name == "where" && strings.HasSuffix(a.Type.Name, "WhereInput") {
				names = append(names, f.Name)
			}
		}
	}
	if len(names) < 7 {
		t.Fatalf("only %d connections take a where filter: %v", len(names), names)
	}
	return names
}

// whereInputType is the GraphQL type of a connection's where argument.
func whereInputType(t *testing.T, e *env, field string) string {
	t.Helper()
	var out struct {
		Type struct {
			Fields []struct {
				Name string
				Args []struct {
					Name string
					Type struct{ Name string }
				}
			}
		} `json:"__type"`
	}
	e.do(`{ __type(name: "Query") { fields { name args { name type { name } } } } }`, nil, &out)
	for _, f := range out.Type.Fields {
		if f.Name != field {
			continue
		}
		for _, a := range f.Args {
			if a.Name == "where" {
				return a.Type.Name
			}
		}
	}
	t.Fatalf("%s has no where argument", field)
	return ""
}

func TestWhereFiltersRefusedBeforeAnyQuery(t *testing.T) {
	t.Parallel()
	enginetest.EachBackend(t, func(t *testing.T, url string) {
		e := newEnv(t, url, envOptions{})
		id := e.submit(proServerInput("where-1", "acme"))

		// Empty operators, on every connection: INTERNAL_SERVER_ERROR before.
		for _, field := range whereConnections(t, e) {
			typ := whereInputType(t, e, field)
			q := fmt.Sprintf(`query($w: %s) { %s(first: 1, where: $w) { totalCount } }`, typ, field)
			for _, tc := range []struct {
				where map[string]any
				path  string
			}{
				{map[string]any{"not": map[string]any{}}, "where.not"},
				{map[string]any{"or": []any{map[string]any{"idGT": 0}, map[string]any{}}}, "where.or[1]"},
				{map[string]any{"and": []any{map[string]any{"not": map[string]any{"or": []any{}}}}}, "where.and[0].not"},
			} {
				e.queries.reset()
				got := e.fail("BAD_USER_INPUT", q, map[string]any{"w": tc.where})
				if !hasProblem(got, tc.path, "empty filter") {
					t.Errorf("%s(where: %v): %s; want a problem at %s", field, tc.where, got, tc.path)
				}
				if n := e.queries.count(); n != 0 {
					t.Errorf("%s(where: %v): %d statements ran; want none", field, tc.where, n)
				}
			}
		}

		// Tens of thousands of terms: INTERNAL on SQLite, 17 s on
		// PostgreSQL before. Refused before any SQL runs; what remains is
		// gqlgen reading the variables, linear in their size.
		or := make([]any, 20_000)
		for i := range or {
			or[i] = map[string]any{"externalIDContains": fmt.Sprintf("x%d", i)}
		}
		e.queries.reset()
		start := time.Now()
		got := e.fail("BAD_USER_INPUT", `query($w: OrderWhereInput) { orders(first: 5, where: $w) { totalCount } }`,
			map[string]any{"w": map[string]any{"or": or}})
		d := time.Since(start)
		t.Logf("20,000 or terms refused in %s", d)
		// A guard against the unbounded cost, not a speed test: about 3 s
		// alone, 20 s under -race beside the other packages on two cores.
		if d > 60*time.Second {
			t.Errorf("20,000 or terms took %s to refuse", d)
		}
		if !hasProblem(got, "where", "more than 200 terms") {
			t.Errorf("20,000 or terms: %s", got)
		}
		if n := e.queries.count(); n != 0 {
			t.Errorf("20,000 or terms: %d statements ran", n)
		}
		in := make([]any, 201)
		for i := range in {
			in[i] = i
		}
		got = e.fail("BAD_USER_INPUT", `query($ids: [ID!]) { orders(where: {idIn: $ids}) { totalCount } }`, map[string]any{"ids": in})
		if !hasProblem(got, "where", "terms") {
			t.Errorf("an In list of 201: %s", got)
		}

		// Strings: NUL was INTERNAL on PostgreSQL (SQLite answered); a
		// long string is refused by the limit.
		got = e.fail("BAD_USER_INPUT", `query($s: String) { orders(where: {or: [{externalID: "a"}, {externalIDContains: $s}]}) { totalCount } }`,
			map[string]any{"s": "a\x00b"})
		if !hasProblem(got, "where.or[1].externalIDContains", "NUL") {
			t.Errorf("NUL in a filter: %s", got)
		}
		got = e.fail("BAD_USER_INPUT", `query($s: String) { steps(where: {queueHasPrefix: $s}) { totalCount } }`,
			map[string]any{"s": strings.Repeat("q", 2000)})
		if !hasProblem(got, "where.queueHasPrefix", "2000 bytes") {
			t.Errorf("a 2000-byte string in a filter: %s", got)
		}
		if strings.Contains(got.Message, strings.Repeat("q", 100)) {
			t.Errorf("the refusal echoes the value: %.200s", got.Message)
		}

		// Filters within the bounds work as before.
		var out struct {
			Orders struct {
				TotalCount int
				Edges      []struct{ Node struct{ ID string } }
			}
		}
		e.do(`{ orders(where: {externalIDIn: ["where-1", "other"], not: {status: COMPLETED}, or: [{accountID: "acme"}, {accountIDHasPrefix: "zz"}]}) { totalCount edges { node { id } } } }`, nil, &out)
		if out.Orders.TotalCount != 1 || len(out.Orders.Edges) != 1 || out.Orders.Edges[0].Node.ID != id {
			t.Errorf("a valid filter found %+v; want order %s", out.Orders, id)
		}
		e.do(`{ orders(where: {}) { totalCount } }`, nil, &out)
		if out.Orders.TotalCount != 1 {
			t.Errorf("where: {} found %d orders; want all (1)", out.Orders.TotalCount)
		}
	})
}

func TestHostileValuesThroughTheAPI(t *testing.T) {
	t.Parallel()
	enginetest.EachBackend(t, func(t *testing.T, url string) {
		e := newEnv(t, url, envOptions{})
		submit := `mutation($in: SubmitOrderInput!) { submitOrder(input: $in) { id } }`
		for _, tc := range []struct {
			name string
			edit func(in map[string]any)
			path string
		}{
			{"externalId NUL", func(in map[string]any) { in["externalId"] = "x\x00" }, "externalId"},
			{"externalId of 4 KB", func(in map[string]any) { in["externalId"] = strings.Repeat("e", 4096) }, "externalId"},
			{"attribute key NUL", func(in map[string]any) { in["attributes"] = map[string]any{"k\x00": 1} }, `attributes["k\x00"]`},
			{"nested attribute NUL", func(in map[string]any) {
				in["attributes"] = map[string]any{"a": []any{map[string]any{"b": "\x00"}}}
			}, "attributes.a[0].b"},
			{"line id NUL", func(in map[string]any) {
				in["lines"] = []any{map[string]any{"id": "L\x00", "productCode": "PRO-SERVER-PKG"}}
			}, "lines[0].id"},
		} {
			in := proServerInput("hostile-api", "acme")
			tc.edit(in)
			got := e.fail("BAD_USER_INPUT", submit, map[string]any{"in": in})
			if !hasProblem(got, tc.path, "") {
				t.Errorf("%s: %s; want a problem at %s", tc.name, got, tc.path)
			}
			if len(got.Message) > 1000 {
				t.Errorf("%s: the message is %d bytes", tc.name, len(got.Message))
			}
		}
		e.expectNothingWritten("hostile values")
	})
}

func TestIntIsThirtyTwoBits(t *testing.T) {
	t.Parallel()
	e := newEnv(t, enginetest.SQLiteURL(t), envOptions{})
	submit := `mutation($in: SubmitOrderInput!) { submitOrder(input: $in) { id lines { quantity } } }`
	order := func(q any) map[string]any {
		in := proServerInput(fmt.Sprintf("int-%v", q), "acme")
		in["lines"] = []any{map[string]any{"id": "L1", "productCode": "PRO-SERVER-PKG", "quantity": q}}
		return in
	}
	// As a variable: 2^40 used to be stored as the line's quantity.
	for _, q := range []any{int64(1) << 40, json.Number("2147483648"), json.Number("-2147483649")} {
		got := e.fail("BAD_USER_INPUT", submit, map[string]any{"in": order(q)})
		if !strings.Contains(got.Message, "32-bit") {
			t.Errorf("quantity %v: %s", q, got)
		}
	}
	// Past 64 bits the variable validator refuses it before the scalar.
	e.fail("GRAPHQL_VALIDATION_FAILED", submit, map[string]any{"in": order(json.Number("9223372036854775808"))})
	// As a literal, in an argument and in an input object.
	for _, q := range []string{
		`{ assets(where: {quantityGT: 4294967296}) { totalCount } }`,
		`mutation { submitOrder(input: {externalId: "lit", accountId: "acme", lines: [{id: "L1", productCode: "SRV-HW", quantity: 1099511627776}]}) { id } }`,
	} {
		got := e.fail("BAD_USER_INPUT", q, nil)
		if !strings.Contains(got.Message, "32-bit") {
			t.Errorf("%s: %s", q, got)
		}
	}
	e.expectNothingWritten("Int past 32 bits")

	// The bounds themselves pass.
	var out struct {
		SubmitOrder struct{ Lines []struct{ Quantity int } }
	}
	e.do(submit, map[string]any{"in": order(2147483647)}, &out)
	if len(out.SubmitOrder.Lines) == 0 || out.SubmitOrder.Lines[0].Quantity != 2147483647 {
		t.Errorf("quantity 2147483647 stored as %+v", out.SubmitOrder.Lines)
	}
	e.do(`{ assets(first: 1, where: {quantityGT: -2147483648}) { totalCount } }`, nil, nil)
}
