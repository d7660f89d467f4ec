package engine_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/batonhq/baton/engine"
)

func TestAssetChanges(t *testing.T) {
	t.Parallel()
	n := func(v int) *int { return &v }
	attrs := map[string]any{"size": "m"}
	tests := []struct {
		name string
		line engine.AssetLine
		want []engine.AssetChange
	}{
		{"ADD creates an active asset", engine.AssetLine{LineID: 1, Product: "SRV", Quantity: 2, Attributes: attrs, Action: engine.ActionAdd},
			[]engine.AssetChange{{LineID: 1, Product: "SRV", Quantity: n(2), Attributes: attrs, Status: engine.AssetActive}}},
		{"ADD ignores a stray asset id", engine.AssetLine{LineID: 1, Product: "SRV", Quantity: 1, Action: engine.ActionAdd, AssetID: 9},
			[]engine.AssetChange{{LineID: 1, Product: "SRV", Quantity: n(1), Status: engine.AssetActive}}},
		{"CHANGE sets quantity and merges attributes", engine.AssetLine{LineID: 2, Quantity: 3, Attributes: attrs, Action: engine.ActionChange, AssetID: 9},
			[]engine.AssetChange{{LineID: 2, AssetID: 9, Quantity: n(3), Attributes: attrs}}},
		{"CHANGE without attributes merges nothing", engine.AssetLine{LineID: 2, Quantity: 3, Action: engine.ActionChange, AssetID: 9},
			[]engine.AssetChange{{LineID: 2, AssetID: 9, Quantity: n(3), Attributes: map[string]any{}}}},
		{"DISCONNECT", engine.AssetLine{LineID: 3, Quantity: 5, Action: engine.ActionDisconnect, AssetID: 9},
			[]engine.AssetChange{{LineID: 3, AssetID: 9, Status: engine.AssetDisconnected}}},
		{"SUSPEND", engine.AssetLine{LineID: 3, Action: engine.ActionSuspend, AssetID: 9},
			[]engine.AssetChange{{LineID: 3, AssetID: 9, Status: engine.AssetSuspended}}},
		{"RESUME", engine.AssetLine{LineID: 3, Action: engine.ActionResume, AssetID: 9},
			[]engine.AssetChange{{LineID: 3, AssetID: 9, Status: engine.AssetActive}}},
		{"an unknown action changes nothing", engine.AssetLine{LineID: 4, Action: "EXPLODE", AssetID: 9}, []engine.AssetChange{}},
	}
	for _, tt := range tests {
		for i := range tt.want {
			tt.want[i].Action = tt.line.Action // every change says which action made it
		}
		if got := engine.AssetChanges([]engine.AssetLine{tt.line}); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: %+v; want %+v", tt.name, got, tt.want)
		}
	}
}

func TestCheckAssetLines(t *testing.T) {
	assets := map[int]*engine.Asset{
		1: {ID: 1, AccountID: "a", Product: "SRV", Status: engine.AssetActive},
		2: {ID: 2, AccountID: "a", Product: "SRV", Status: engine.AssetSuspended},
		3: {ID: 3, AccountID: "a", Product: "SRV", Status: engine.AssetDisconnected},
		4: {ID: 4, AccountID: "b", Product: "SRV", Status: engine.AssetActive},
	}
	line := func(action engine.LineAction, asset int, product string) []engine.LineInput {
		return []engine.LineInput{{ID: "L1", ProductCode: product, Quantity: 1, Action: action, AssetID: asset}}
	}
	for _, tc := range []struct {
		name  string
		lines []engine.LineInput
		code  engine.Code // "" accepted
		text  string
	}{
		{"add needs no asset", line(engine.ActionAdd, 0, "SRV"), "", ""},
		{"change an active asset", line(engine.ActionChange, 1, "SRV"), "", ""},
		{"change a suspended asset", line(engine.ActionChange, 2, "SRV"), "", ""},
		{"suspend an active asset", line(engine.ActionSuspend, 1, "SRV"), "", ""},
		{"resume a suspended asset", line(engine.ActionResume, 2, "SRV"), "", ""},
		{"disconnect an active asset", line(engine.ActionDisconnect, 1, "SRV"), "", ""},
		{"disconnect a suspended asset", line(engine.ActionDisconnect, 2, "SRV"), "", ""},
		{"missing asset", line(engine.ActionChange, 99, "SRV"), engine.CodeBadUserInput, `line "L1": unknown asset 99`},
		{"another account's asset, like a missing one", line(engine.ActionChange, 4, "SRV"), engine.CodeBadUserInput, `line "L1": unknown asset 4`},
		{"wrong product", line(engine.ActionChange, 1, "LIC"), engine.CodeBadUserInput, `is a "SRV", not a "LIC"`},
		{"resume an active asset", line(engine.ActionResume, 1, "SRV"), engine.CodeInvalidState, "is ACTIVE; it cannot RESUME"},
		{"suspend a suspended asset", line(engine.ActionSuspend, 2, "SRV"), engine.CodeInvalidState, "is SUSPENDED; it cannot SUSPEND"},
		{"second disconnect", line(engine.ActionDisconnect, 3, "SRV"), engine.CodeInvalidState, "is DISCONNECTED; it cannot DISCONNECT"},
		{"change a disconnected asset", line(engine.ActionChange, 3, "SRV"), engine.CodeInvalidState, "it cannot CHANGE"},
		{"resume a disconnected asset", line(engine.ActionResume, 3, "SRV"), engine.CodeInvalidState, "it cannot RESUME"},
		{"bad input wins over state", append(line(engine.ActionResume, 1, "SRV"), engine.LineInput{ID: "L2", ProductCode: "SRV", Action: engine.ActionChange, AssetID: 99}),
			engine.CodeBadUserInput, `line "L2": unknown asset 99`},
		{"two lines on one asset", append(line(engine.ActionSuspend, 1, "SRV"), engine.LineInput{ID: "L2", ProductCode: "SRV", Action: engine.ActionDisconnect, AssetID: 1}),
			engine.CodeBadUserInput, `line "L2": asset 1 is already changed by line "L1"`},
		{"two lines on another account's asset: unknown, both", append(line(engine.ActionSuspend, 4, "SRV"), engine.LineInput{ID: "L2", ProductCode: "SRV", Action: engine.ActionDisconnect, AssetID: 4}),
			engine.CodeBadUserInput, `unknown asset 4`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := engine.CheckAssetLines("a", tc.lines, assets)
			if tc.code == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			var e *engine.Error
			if !errors.As(err, &e) || e.Code != tc.code || len(e.Problems) == 0 {
				t.Fatalf("got %v (%+v); want %s with %q", err, e, tc.code, tc.text)
			}
			wantProblems := 1
			if strings.HasSuffix(tc.name, "both") {
				wantProblems = 2
			}
			if len(e.Problems) != wantProblems {
				t.Fatalf("problems %+v; want %d", e.Problems, wantProblems)
			}
			for _, p := range e.Problems {
				if !strings.Contains(p.Message, tc.text) || !strings.HasSuffix(p.Path, ".assetId") {
					t.Fatalf("problem %+v; want %q at an assetId", p, tc.text)
				}
			}
		})
	}
}

func TestAssetQueryValidate(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		q     engine.AssetQuery
		paths []string // nil: valid
	}{
		{"an account", engine.AssetQuery{AccountID: "a"}, nil},
		{"every filter", engine.AssetQuery{AccountID: "a", IDs: []int{1}, Status: []engine.AssetStatus{engine.AssetActive, engine.AssetSuspended,
			engine.AssetDisconnected}, Product: "SRV", Limit: 5}, nil},
		{"no account", engine.AssetQuery{Product: "SRV"}, []string{"accountId"}},
		{"an unknown status", engine.AssetQuery{AccountID: "a", Status: []engine.AssetStatus{engine.AssetActive, "active"}}, []string{"status[1]"}},
		{"a negative limit", engine.AssetQuery{AccountID: "a", Limit: -1}, []string{"limit"}},
		{"all of them", engine.AssetQuery{Status: []engine.AssetStatus{""}, Limit: -3}, []string{"accountId", "status[0]", "limit"}},
	} {
		err := tc.q.Validate()
		if tc.paths == nil {
			if err != nil {
				t.Errorf("%s: refused: %v", tc.name, err)
			}
			continue
		}
		var e *engine.Error
		if !errors.As(err, &e) || e.Code != engine.CodeBadUserInput {
			t.Errorf("%s: %v; want BAD_USER_INPUT", tc.name, err)
			continue
		}
		var paths []string
		for _, p := range e.Problems {
			paths = append(paths, p.Path)
		}
		if !reflect.DeepEqual(paths, tc.paths) {
			t.Errorf("%s: problems at %v; want %v", tc.name, paths, tc.paths)
		}
	}
}
