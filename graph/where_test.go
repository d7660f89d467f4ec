package graph

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"reflect"
	"strings"
	"testing"

	"github.com/batonhq/baton/engine"
	"github.com/batonhq/baton/ent"
	"github.com/batonhq/baton/ent/step"
)

func ptr[T any](v T) *T { return &v }

func wherePaths(t *testing.T, err error) []string {
	t.Helper()
	if err == nil {
		return nil
	}
	var e *engine.Error
	if !errors.As(err, &e) || e.Code != engine.CodeBadUserInput {
		t.Fatalf("err = %v; want BAD_USER_INPUT", err)
	}
	var ps []string
	for _, p := range e.Problems {
		ps = append(ps, p.Path)
	}
	return ps
}

func TestCheckWhere(t *testing.T) {
	t.Parallel()
	lim := Limits{WhereTerms: 6, WhereStringBytes: 8}
	many := func(n int) []*ent.OrderWhereInput {
		ws := make([]*ent.OrderWhereInput, n)
		for i := range ws {
			ws[i] = &ent.OrderWhereInput{ExternalID: ptr("x")}
		}
		return ws
	}
	tests := []struct {
		name  string
		where any
		want  []string
	}{
		{"nil", (*ent.OrderWhereInput)(nil), nil},
		{"empty top level is no filter", &ent.OrderWhereInput{}, nil},
		{"empty or list at the top", &ent.OrderWhereInput{Or: []*ent.OrderWhereInput{}}, nil},
		{"a condition", &ent.OrderWhereInput{ExternalIDContains: ptr("abc")}, nil},
		{"an IsNil condition", &ent.OrderWhereInput{Not: &ent.OrderWhereInput{RequestedCompletionIsNil: true}}, nil},
		{"nested conditions", &ent.StepWhereInput{Not: &ent.StepWhereInput{Status: ptr(step.StatusFALLOUT)},
			Or: []*ent.StepWhereInput{{Queue: ptr("q")}, {NameHasPrefix: ptr("Ship")}}}, nil},
		{"not {}", &ent.OrderWhereInput{Not: &ent.OrderWhereInput{}}, []string{"where.not"}},
		{"not {or: []}", &ent.OrderWhereInput{Not: &ent.OrderWhereInput{Or: []*ent.OrderWhereInput{}}}, []string{"where.not"}},
		{"or [{}]", &ent.OrderWhereInput{Or: []*ent.OrderWhereInput{{ExternalID: ptr("a")}, {}}}, []string{"where.or[1]"}},
		{"and [{not: {}}]", &ent.OrderWhereInput{And: []*ent.OrderWhereInput{{Not: &ent.OrderWhereInput{}}}}, []string{"where.and[0].not"}},
		{"an edge filter {}", &ent.OrderWhereInput{HasLinesWith: []*ent.OrderLineWhereInput{{}}}, []string{"where.hasLinesWith[0]"}},
		{"string at the limit", &ent.OrderWhereInput{ExternalIDContains: ptr("12345678")}, nil},
		{"string too long", &ent.OrderWhereInput{ExternalIDContains: ptr("123456789")}, []string{"where.externalIDContains"}},
		{"NUL", &ent.OrderWhereInput{Or: []*ent.OrderWhereInput{{ExternalID: ptr("a")}, {AccountIDHasPrefix: ptr("a\x00")}}},
			[]string{"where.or[1].accountIDHasPrefix"}},
		{"bad UTF-8 in an In list", &ent.OrderWhereInput{ExternalIDIn: []string{"a", "\xff"}}, []string{"where.externalIDIn[1]"}},
		{"terms at the limit", &ent.OrderWhereInput{Or: many(3)}, nil}, // 3 nodes + 3 conditions
		{"terms past the limit", &ent.OrderWhereInput{Or: many(4)}, []string{"where"}},
		{"In list past the limit", &ent.OrderWhereInput{IDIn: []int{1, 2, 3, 4, 5, 6, 7}}, []string{"where"}},
		{"a huge or is refused at the limit", &ent.OrderWhereInput{Or: many(50_000)}, []string{"where"}},
		{"problems, then the limit", &ent.OrderWhereInput{Or: []*ent.OrderWhereInput{{}, {}, {}, {}}},
			[]string{"where.or[0]", "where.or[1]", "where.or[2]", "where.or[3]"}},
	}
	for _, tt := range tests {
		got := wherePaths(t, checkWhere(tt.where, lim))
		if strings.Join(got, " | ") != strings.Join(tt.want, " | ") {
			t.Errorf("%s: problems at %q; want %q", tt.name, got, tt.want)
		}
	}
}

// TestCheckWhereKnowsEveryWhereInput walks a filter with every field of
// every generated where input set, so that a field of a shape the walk
// does not know (it panics) fails here, not in production, when the
// schema grows.
func TestCheckWhereKnowsEveryWhereInput(t *testing.T) {
	t.Parallel()
	inputs := []any{&ent.AccountWhereInput{}, &ent.AssetWhereInput{}, &ent.AttemptWhereInput{},
		&ent.CatalogVersionWhereInput{}, &ent.FulfillmentLineWhereInput{},
		&ent.OrderWhereInput{}, &ent.OrderLineWhereInput{}, &ent.PlanWhereInput{}, &ent.StepWhereInput{},
		&ent.StepGroupWhereInput{}, &ent.SystemWhereInput{}}
	for _, w := range inputs {
		v := reflect.ValueOf(w).Elem()
		fill(v, 2)
		if err := checkWhere(w, Limits{WhereTerms: 1 << 20}); err != nil {
			t.Errorf("%T with every field set: %v", w, err)
		}
		if res := reflect.ValueOf(w).MethodByName("P").Call(nil); !res[1].IsNil() {
			t.Errorf("%T with every field set: ent builds no predicate: %v", w, res[1].Interface())
		}
	}
}

// fill sets every request-settable field of a where input to a plain
// value, nested inputs depth levels down.
func fill(v reflect.Value, depth int) {
	for i := 0; i < v.NumField(); i++ {
		f, sf := v.Field(i), v.Type().Field(i)
		if jsonName(sf) == "" {
			continue
		}
		switch {
		case isWhereInput(sf.Type):
			if depth > 0 {
				f.Set(reflect.New(sf.Type.Elem()))
				fill(f.Elem(), depth-1)
			}
		case sf.Type.Kind() == reflect.Slice && isWhereInput(sf.Type.Elem()):
			if depth > 0 {
				e := reflect.New(sf.Type.Elem().Elem())
				fill(e.Elem(), depth-1)
				f.Set(reflect.Append(reflect.MakeSlice(sf.Type, 0, 1), e))
			}
		case sf.Type.Kind() == reflect.Slice:
			f.Set(reflect.Append(reflect.MakeSlice(sf.Type, 0, 1), plain(sf.Type.Elem())))
		case sf.Type.Kind() == reflect.Bool:
			f.SetBool(true)
		case sf.Type.Kind() == reflect.Pointer:
			p := reflect.New(sf.Type.Elem())
			p.Elem().Set(plain(sf.Type.Elem()))
			f.Set(p)
		}
	}
}

func plain(t reflect.Type) reflect.Value {
	v := reflect.New(t).Elem()
	if t.Kind() == reflect.String {
		v.SetString("v")
	}
	return v
}

func TestLogText(t *testing.T) {
	t.Parallel()
	if got := logText("short"); got != "short" {
		t.Errorf("logText(short) = %q", got)
	}
	long := strings.Repeat("é", 1000) // 2000 bytes
	got := logText(long)
	if len(got) > maxLoggedError+40 || !strings.HasSuffix(got, "more bytes)") || !strings.HasPrefix(got, "éé") {
		t.Errorf("logText of 2000 bytes = %d bytes %q…", len(got), got[:20])
	}
	if strings.ToValidUTF8(got, "?") != got {
		t.Errorf("logText cut a character in half")
	}
}

// TestErrorPresenterLogsNoValueInFull: an internal error's text (a
// database error quoting a megabyte argument) is logged cut short.
func TestErrorPresenterLogsNoValueInFull(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	big := errors.New(`pq: invalid input: "` + strings.Repeat("v", 1<<20) + `"`)
	pres := ErrorPresenter(log)(context.Background(), big)
	if pres.Message != "internal error" || pres.Extensions["code"] != "INTERNAL_SERVER_ERROR" {
		t.Errorf("presented %q %v", pres.Message, pres.Extensions)
	}
	if n := buf.Len(); n > 2*maxLoggedError || n == 0 {
		t.Errorf("logged %d bytes for a 1 MB error; want it cut to about %d", n, maxLoggedError)
	}
}
