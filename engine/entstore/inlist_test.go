package entstore

import (
	"reflect"
	"testing"
)

func TestCollapseInLists(t *testing.T) {
	ids := func(from, n int) []any {
		out := make([]any, n)
		for i := range out {
			out[i] = int64(from + i)
		}
		return out
	}
	cat := func(parts ...[]any) []any {
		var out []any
		for _, p := range parts {
			out = append(out, p...)
		}
		return out
	}
	for _, tc := range []struct {
		name      string
		query     string
		args      []any
		wantQuery string
		wantArgs  []any
	}{
		{"short list stays", "SELECT * FROM t WHERE id IN (?, ?, ?)", ids(1, 3),
			"SELECT * FROM t WHERE id IN (?, ?, ?)", ids(1, 3)},
		{"long list collapses", "SELECT * FROM t WHERE a = ? AND id IN (?, ?, ?, ?) AND b = ?",
			cat([]any{"x"}, ids(1, 4), []any{"y"}),
			"SELECT * FROM t WHERE a = ? AND id IN (SELECT value FROM json_each(?)) AND b = ?",
			[]any{"x", "[1,2,3,4]", "y"}},
		{"two lists, one long", "SELECT * FROM t WHERE a IN (?, ?) AND id IN (?, ?, ?, ?)",
			cat([]any{"p", "q"}, ids(7, 4)),
			"SELECT * FROM t WHERE a IN (?, ?) AND id IN (SELECT value FROM json_each(?))",
			[]any{"p", "q", "[7,8,9,10]"}},
		{"strings", "SELECT * FROM t WHERE k IN (?, ?, ?, ?)", []any{"a", `b"`, "c", "d"},
			"SELECT * FROM t WHERE k IN (SELECT value FROM json_each(?))", []any{`["a","b\"","c","d"]`}},
		{"other types stay", "SELECT * FROM t WHERE k IN (?, ?, ?, ?)", []any{1.5, 2.5, 3.5, 4.5},
			"SELECT * FROM t WHERE k IN (?, ?, ?, ?)", []any{1.5, 2.5, 3.5, 4.5}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q, a := collapseInLists(tc.query, tc.args, 3)
			if q != tc.wantQuery {
				t.Errorf("query = %s\nwant    %s", q, tc.wantQuery)
			}
			if !reflect.DeepEqual(a, tc.wantArgs) {
				t.Errorf("args = %v; want %v", a, tc.wantArgs)
			}
		})
	}
}
