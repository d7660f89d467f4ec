package graph

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"entgo.io/ent/dialect"
	"entgo.io/ent/dialect/sql"

	"github.com/batonhq/baton/engine"
	"github.com/batonhq/baton/ent"
)

// FuzzWhere sends arbitrary `where` filters through checkWhere. The bytes
// are the filter's JSON, read into an order's or a step's where input (the
// json tags are the GraphQL names, so this is what a variable would
// become). Nothing may panic; a refusal is BAD_USER_INPUT with at most
// maxWhereProblems problems; and a filter that is accepted is one ent
// turns into SQL, on both dialects, within the term limit.
//
//	go test -run '^$' -fuzz '^FuzzWhere$' -fuzztime 20s ./graph
func FuzzWhere(f *testing.F) {
	lim := Limits{WhereTerms: 50, WhereStringBytes: 64}
	for _, seed := range []string{
		`{}`,
		`{"not":{}}`,
		`{"or":[{"externalIDContains":"a"},{}]}`,
		`{"and":[{"not":{"status":"COMPLETED"}},{"hasPlanWith":[{"statusIn":["IN_PROGRESS"]}]}]}`,
		`{"externalIDIn":["a","b\u0000"],"idGT":3}`,
		`{"accountIDHasPrefix":"` + strings.Repeat("x", 100) + `"}`,
		`{"or":[` + strings.Repeat(`{"id":1},`, 60) + `{"id":2}]}`,
		`{"not":{"not":{"not":{"not":{"requestedCompletionIsNil":true}}}}}`,
		`{"hasLinesWith":[{"productCode":"PRO"}],"createdAtGT":"2026-01-01T00:00:00Z"}`,
	} {
		f.Add(false, []byte(seed))
		f.Add(true, []byte(seed))
	}
	f.Fuzz(func(t *testing.T, steps bool, doc []byte) {
		if steps {
			var w ent.StepWhereInput
			if json.Unmarshal(doc, &w) != nil {
				return
			}
			fuzzOneWhere(t, &w, lim, func() (func(*sql.Selector), error) {
				p, err := w.P()
				return p, err
			}, ent.ErrEmptyStepWhereInput)
			return
		}
		var w ent.OrderWhereInput
		if json.Unmarshal(doc, &w) != nil {
			return
		}
		fuzzOneWhere(t, &w, lim, func() (func(*sql.Selector), error) {
			p, err := w.P()
			return p, err
		}, ent.ErrEmptyOrderWhereInput)
	})
}

func fuzzOneWhere(t *testing.T, w any, lim Limits, build func() (func(*sql.Selector), error), errEmpty error) {
	err := checkWhere(w, lim)
	if err != nil {
		var e *engine.Error
		if !errors.As(err, &e) || e.Code != engine.CodeBadUserInput {
			t.Fatalf("checkWhere: %v (code %s); want BAD_USER_INPUT", err, engine.ErrorCode(err))
		}
		if len(e.Problems) == 0 || len(e.Problems) > maxWhereProblems {
			t.Fatalf("checkWhere: %d problems", len(e.Problems))
		}
		return
	}
	p, err := build()
	if err == errEmpty { // not wrapped: the top level, not a nested filter
		return // says nothing: no filter
	}
	if err != nil {
		t.Fatalf("checkWhere accepted a filter ent cannot build: %v", err)
	}
	for _, d := range []string{dialect.SQLite, dialect.Postgres} {
		s := sql.Dialect(d).Select("*").From(sql.Table("t"))
		p(s)
		query, args := s.Query()
		if err := s.Err(); err != nil {
			t.Fatalf("%s: %v", d, err)
		}
		if n := len(args); n > lim.WhereTerms {
			t.Fatalf("%s: an accepted filter has %d arguments; the limit is %d terms: %s", d, n, lim.WhereTerms, query)
		}
		for _, a := range args {
			if s, ok := a.(string); ok && strings.IndexByte(s, 0) >= 0 {
				t.Fatalf("%s: an accepted filter compares a string with a NUL", d)
			}
		}
	}
}
