package orchestrator

import (
	"context"
	"encoding/json"
	"math"
	"strings"
	"testing"

	"github.com/batonhq/baton/engine"
)

func TestStringProblem(t *testing.T) {
	t.Parallel()
	tests := []struct {
		s    string
		max  int
		want string // a part of the message; "" for no problem
	}{
		{"", 8, ""},
		{"acme-42", 8, ""},
		{"12345678", 8, ""},
		{"123456789", 8, "too long: 9 bytes, the limit is 8"},
		{"ünï", 5, ""}, // 5 bytes
		{"ünïc", 5, "too long: 6 bytes"},
		{"a\x00b", 8, "NUL character (\\u0000) at byte 1"},
		{"\x00", 8, "at byte 0"},
		{"caf\xe9", 8, "not valid UTF-8"},
		{"\xed\xa0\x80", 8, "not valid UTF-8"}, // a lone surrogate
		{"emoji 🎉", 16, ""},
	}
	for _, tt := range tests {
		got := stringProblem(tt.s, tt.max)
		if (tt.want == "") != (got == "") || !strings.Contains(got, tt.want) {
			t.Errorf("stringProblem(%q, %d) = %q; want %q", tt.s, tt.max, got, tt.want)
		}
		if got != "" && strings.Contains(got, tt.s) && tt.s != "" {
			t.Errorf("stringProblem(%q, %d) = %q: it echoes the value", tt.s, tt.max, got)
		}
	}
}

func TestKeyPath(t *testing.T) {
	t.Parallel()
	tests := []struct{ key, want string }{
		{"region", "a.region"},
		{"ship_to-2", "a.ship_to-2"},
		{"2nd", `a["2nd"]`},
		{"", `a[""]`},
		{"a b", `a["a b"]`},
		{"a.b", `a["a.b"]`},
		{"a\x00b", `a["a\x00b"]`},
		{strings.Repeat("k", 100), `a["` + strings.Repeat("k", 40) + `…"]`},
		{strings.Repeat("é", 30), `a["` + strings.Repeat("é", 20) + `…"]`},
		{"\xff\xfe", `a["\xff\xfe"]`},
	}
	for _, tt := range tests {
		if got := keyPath("a", tt.key); got != tt.want {
			t.Errorf("keyPath(a, %q) = %q; want %q", tt.key, got, tt.want)
		}
	}
}

// paths returns the paths of the problems of err ("" entries for problems
// without one), or nil when err is nil; it fails on an error that is not
// BAD_USER_INPUT.
func problemPaths(t *testing.T, err error) []string {
	t.Helper()
	if err == nil {
		return nil
	}
	e, ok := err.(*engine.Error)
	if !ok || e.Code != engine.CodeBadUserInput {
		t.Fatalf("err = %v; want a BAD_USER_INPUT *Error", err)
	}
	var ps []string
	for _, p := range e.Problems {
		ps = append(ps, p.Path)
	}
	return ps
}

func TestInputCheckValue(t *testing.T) {
	t.Parallel()
	lim := engine.Limits{IDLength: 8, TextLength: 16, ValueDepth: 3}
	deep := map[string]any{"a": map[string]any{"b": map[string]any{"c": map[string]any{}}}}
	tests := []struct {
		name string
		v    map[string]any
		want []string // problem paths
	}{
		{"nil", nil, nil},
		{"empty", map[string]any{}, nil},
		{"JSON kinds", map[string]any{"s": "text", "n": 1, "f": 1.5, "b": true, "z": nil,
			"l": []any{1, "x", []any{}}, "num": json.Number("12")}, nil},
		{"Go kinds", map[string]any{"ss": []string{"a", "b"}, "mi": map[string]int{"k": 1}, "p": new(int), "u": uint64(1 << 63)}, nil},
		{"at the depth", map[string]any{"a": map[string]any{"b": []any{1}}}, nil},
		{"past the depth", deep, []string{"v.a.b.c"}},
		{"past the depth in a list", map[string]any{"l": []any{[]any{[]any{1}}}}, []string{"v.l[0][0]"}},
		{"NUL value", map[string]any{"k": "a\x00"}, []string{"v.k"}},
		{"NUL key", map[string]any{"a\x00": 1}, []string{`v["a\x00"]`}},
		{"long key", map[string]any{"123456789": 1}, []string{`v["123456789"]`}},
		{"long text", map[string]any{"k": strings.Repeat("t", 17)}, []string{"v.k"}},
		{"text at the limit", map[string]any{"k": strings.Repeat("t", 16)}, nil},
		{"bad UTF-8 in a list", map[string]any{"l": []any{"ok", "\xff"}}, []string{"v.l[1]"}},
		{"NaN", map[string]any{"x": math.NaN()}, []string{"v.x"}},
		{"Inf in a Go slice", map[string]any{"x": []float64{1, math.Inf(1)}}, []string{"v.x[1]"}},
		{"NUL in a Go map key", map[string]any{"m": map[string]string{"\x00": "v"}}, []string{`v.m["\x00"]`}},
		{"not JSON", map[string]any{"c": make(chan int)}, []string{"v.c"}},
		{"int keys", map[string]any{"m": map[int]string{1: "a"}}, []string{"v.m"}},
		{"several, sorted by key", map[string]any{"b": "\x00", "a": "\x00"}, []string{"v.a", "v.b"}},
	}
	for _, tt := range tests {
		got := problemPaths(t, newInputCheck(lim).value("v", tt.v).err())
		if strings.Join(got, " | ") != strings.Join(tt.want, " | ") {
			t.Errorf("%s: problems at %q; want %q", tt.name, got, tt.want)
		}
	}
}

func TestInputCheckStopsAfterManyProblems(t *testing.T) {
	t.Parallel()
	v := map[string]any{}
	for i := range 1000 {
		v[strings.Repeat("k", i%7)+string(rune('a'+i%26))+strings.Repeat("z", i/26)] = "\x00"
	}
	err := newInputCheck(engine.Limits{}).value("v", v).err().(*engine.Error)
	if n := len(err.Problems); n != maxInputProblems+1 {
		t.Errorf("%d problems listed; want %d and a last one saying there may be more", n, maxInputProblems+1)
	}
	if last := err.Problems[len(err.Problems)-1]; last.Path != "" || !strings.Contains(last.Message, "not looked for") {
		t.Errorf("last problem %v; want the note that the rest was not looked at", last)
	}
}

func TestCheckOrderInput(t *testing.T) {
	t.Parallel()
	lim := engine.Limits{IDLength: 8, TextLength: 16, OrderLines: 3, ValueDepth: 4}
	base := func() *engine.OrderInput {
		return &engine.OrderInput{ExternalID: "o-1", AccountID: "acme", Attributes: map[string]any{"region": "EU"},
			Lines: []engine.LineInput{{ID: "L1", ProductCode: "PKG", Quantity: 1, Action: engine.ActionAdd},
				{ID: "L2", ProductCode: "HW", Quantity: 2, ParentID: "L1", Attributes: map[string]any{"sku": "x"}}}}
	}
	tests := []struct {
		name string
		edit func(*engine.OrderInput)
		want []string
	}{
		{"valid", func(*engine.OrderInput) {}, nil},
		{"empty ids are ValidateOrder's", func(in *engine.OrderInput) { in.ExternalID, in.Lines[0].ID = "", "" }, nil},
		{"externalId long", func(in *engine.OrderInput) { in.ExternalID = "123456789" }, []string{"externalId"}},
		{"accountId NUL", func(in *engine.OrderInput) { in.AccountID = "a\x00" }, []string{"accountId"}},
		{"attributes", func(in *engine.OrderInput) { in.Attributes["n"] = "\x00" }, []string{"attributes.n"}},
		{"line id", func(in *engine.OrderInput) { in.Lines[1].ID = "\xff" }, []string{"lines[1].id"}},
		{"product code", func(in *engine.OrderInput) { in.Lines[0].ProductCode = "PKG-LONGER" }, []string{"lines[0].productCode"}},
		{"parent id", func(in *engine.OrderInput) { in.Lines[1].ParentID = "L\x001" }, []string{"lines[1].parentId"}},
		{"action", func(in *engine.OrderInput) { in.Lines[0].Action = "ADD\x00" }, []string{"lines[0].action"}},
		{"line attributes", func(in *engine.OrderInput) { in.Lines[1].Attributes["sku"] = strings.Repeat("s", 17) }, []string{"lines[1].attributes.sku"}},
		{"quantity at 32 bits", func(in *engine.OrderInput) { in.Lines[0].Quantity = math.MaxInt32 }, nil},
		{"quantity past 32 bits", func(in *engine.OrderInput) { in.Lines[0].Quantity = math.MaxInt32 + 1 }, []string{"lines[0].quantity"}},
		{"lines at the limit", func(in *engine.OrderInput) {
			in.Lines = append(in.Lines, engine.LineInput{ID: "L3", ProductCode: "X", Quantity: 1})
		}, nil},
		{"lines past the limit: one problem", func(in *engine.OrderInput) {
			for i := range 5 {
				in.Lines = append(in.Lines, engine.LineInput{ID: "\x00", ProductCode: "X", Quantity: i})
			}
		}, []string{"lines"}},
		{"every problem", func(in *engine.OrderInput) {
			in.ExternalID, in.Lines[0].ID, in.Lines[1].Attributes["k\x00"] = "\x00", "\x00", 1
		}, []string{"externalId", "lines[0].id", `lines[1].attributes["k\x00"]`}},
	}
	for _, tt := range tests {
		in := base()
		tt.edit(in)
		got := problemPaths(t, checkOrderInput(in, lim))
		if strings.Join(got, " | ") != strings.Join(tt.want, " | ") {
			t.Errorf("%s: problems at %q; want %q", tt.name, got, tt.want)
		}
	}
}

func TestInputCheckActor(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		actor string
		bad   bool
	}{{"", false}, {"alice", false}, {"al\x00ice", true}, {strings.Repeat("a", 10), true}} {
		ctx := WithActor(context.Background(), tt.actor)
		err := newInputCheck(engine.Limits{IDLength: 9}).actor(ctx).err() // "anonymous" fits
		if (err != nil) != tt.bad {
			t.Errorf("actor %q: err = %v; want refused: %v", tt.actor, err, tt.bad)
		}
	}
}
