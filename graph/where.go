package graph

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/batonhq/baton/engine"
)

// checkWhere validates a connection's `where` filter (an entgql-generated
// *ent.XWhereInput) before it becomes SQL, so that every filter costs a
// bounded query and means what it says on both databases:
//
//   - a nested filter that says nothing (`not: {}`, `or: [{}]`,
//     `hasStepsWith: [{}]`) is refused: ent cannot build a predicate from
//     it (an internal error today), and guessing "match all" under a `not`
//     would return nothing without a word;
//   - the filter has at most lim.WhereTerms terms: every nested filter,
//     every field condition, and every element of an In/NotIn list counts
//     one (tens of thousands of `or` terms took 17 s on PostgreSQL);
//   - a string compared is at most lim.WhereStringBytes bytes, valid UTF-8
//     and free of NUL characters (which PostgreSQL cannot take in text:
//     SQLite answered, PostgreSQL failed with an internal error).
//
// The filter is walked by reflection over the generated structs (the
// and/or/not fields, the Has...With edges, pointer and slice predicates), so
// it stays complete as the schema grows. A top-level filter that says
// nothing (`where: {}`) is no filter, as ent treats it. The error is
// BAD_USER_INPUT with every problem and its path
// (`where.or[3].externalIDContains`); at most maxWhereProblems are listed.
func checkWhere(where any, lim Limits) error {
	v := reflect.ValueOf(where)
	if !v.IsValid() || (v.Kind() == reflect.Pointer && v.IsNil()) {
		return nil
	}
	if !isWhereInput(v.Type()) {
		// A programming error, not the client's: fail loudly in tests.
		panic(fmt.Sprintf("checkWhere: %T is not a generated where input", where))
	}
	c := &whereCheck{lim: lim.withDefaults()}
	c.node("where", v.Elem())
	if len(c.problems) == 0 {
		return nil
	}
	return &engine.Error{Code: engine.CodeBadUserInput, Message: "invalid filter", Problems: c.problems}
}

// maxWhereProblems bounds the problems one refusal lists: a filter of
// 50,000 bad strings gets a short answer.
const maxWhereProblems = 10

type whereCheck struct {
	lim      Limits
	terms    int
	stopped  bool // the term limit was passed, or enough problems found
	problems []engine.Problem
}

func (c *whereCheck) add(path, format string, args ...any) {
	c.problems = append(c.problems, engine.Problem{Path: path, Message: fmt.Sprintf(format, args...)})
	if len(c.problems) >= maxWhereProblems {
		c.stopped = true
	}
}

// term counts one term; past the limit it reports once and stops the walk,
// so a huge filter costs no more to refuse than a filter at the limit.
func (c *whereCheck) term() bool {
	if c.stopped {
		return false
	}
	c.terms++
	if c.terms > c.lim.WhereTerms {
		c.add("where", "the filter has more than %d terms (nested filters, conditions and In-list elements each count one); narrow it or split the query", c.lim.WhereTerms)
		c.stopped = true
		return false
	}
	return true
}

// node checks one where input (a struct value) and reports whether it says
// anything, i.e. whether ent would build a predicate from it.
func (c *whereCheck) node(path string, v reflect.Value) (nonEmpty bool) {
	t := v.Type()
	for i := 0; i < t.NumField() && !c.stopped; i++ {
		sf := t.Field(i)
		name := jsonName(sf)
		if name == "" {
			continue // Predicates: added in code, never from the request
		}
		f := v.Field(i)
		fpath := path + "." + name
		switch {
		case isWhereInput(sf.Type): // not
			if f.IsNil() {
				continue
			}
			nonEmpty = true
			c.nested(fpath, f.Elem())
		case sf.Type.Kind() == reflect.Slice && isWhereInput(sf.Type.Elem()): // and, or, has...With
			for j := 0; j < f.Len() && !c.stopped; j++ {
				nonEmpty = true
				e := f.Index(j)
				if e.IsNil() {
					c.add(fpath+"["+strconv.Itoa(j)+"]", "a filter must not be null")
					continue
				}
				c.nested(fpath+"["+strconv.Itoa(j)+"]", e.Elem())
			}
		case sf.Type.Kind() == reflect.Slice: // In, NotIn
			for j := 0; j < f.Len() && !c.stopped; j++ {
				nonEmpty = true
				if c.term() {
					c.scalar(fpath+"["+strconv.Itoa(j)+"]", f.Index(j))
				}
			}
		case sf.Type.Kind() == reflect.Pointer:
			if f.IsNil() {
				continue
			}
			nonEmpty = true
			if c.term() {
				c.scalar(fpath, f.Elem())
			}
		case sf.Type.Kind() == reflect.Bool: // FieldIsNil, FieldNotNil
			if f.Bool() {
				nonEmpty = true
				c.term()
			}
		default:
			// A generated field of a shape this walk does not know: refuse
			// to guess (a test over every where input type finds it).
			panic(fmt.Sprintf("checkWhere: %s.%s has unexpected type %s", t.Name(), sf.Name, sf.Type))
		}
	}
	return nonEmpty
}

// nested checks a where input inside another; one that says nothing is
// refused.
func (c *whereCheck) nested(path string, v reflect.Value) {
	if !c.term() {
		return
	}
	if !c.node(path, v) && !c.stopped {
		c.add(path, "an empty filter is not allowed here: give it a condition or leave it out")
	}
}

// scalar checks a compared value. Only strings can be out of bounds: the
// numbers went through the 32-bit Int scalar, enums and times through
// gqlgen's own checks.
func (c *whereCheck) scalar(path string, v reflect.Value) {
	if v.Kind() != reflect.String {
		return
	}
	s := v.String()
	switch {
	case len(s) > c.lim.WhereStringBytes:
		c.add(path, "the string is %d bytes; a filter compares at most %d", len(s), c.lim.WhereStringBytes)
	case strings.IndexByte(s, 0) >= 0:
		c.add(path, "the string contains a NUL character (\\u0000), which no stored value contains")
	case !utf8.ValidString(s):
		c.add(path, "the string is not valid UTF-8")
	}
}

var timeType = reflect.TypeFor[time.Time]()

// isWhereInput reports whether t is a pointer to a generated where input:
// a struct with a `Not` field of its own type.
func isWhereInput(t reflect.Type) bool {
	if t.Kind() != reflect.Pointer || t.Elem().Kind() != reflect.Struct || t.Elem() == timeType {
		return false
	}
	f, ok := t.Elem().FieldByName("Not")
	return ok && f.Type == t
}

// jsonName is the GraphQL name of a where input's field (its json tag, as
// entgql generates it), or "" for fields the request cannot set.
func jsonName(f reflect.StructField) string {
	if !f.IsExported() {
		return ""
	}
	name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
	switch name {
	case "-":
		return ""
	case "":
		return f.Name
	}
	return name
}
