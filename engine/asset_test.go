package engine_test

import (
	"reflect"
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
		if got := engine.AssetChanges([]engine.AssetLine{tt.line}); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: %+v; want %+v", tt.name, got, tt.want)
		}
	}
}
