package storetest

import (
	"reflect"
	"testing"
	"time"

	"github.com/batonhq/baton/engine"
)

// assetQueryTests: reading assets (AssetsByID in and out of a
// transaction, the Assets listing as an AssetQuery narrows it) and their
// history (a row per change ApplyAssetChanges makes, read by AssetHistory).
var assetQueryTests = map[string]func(t *testing.T, b *bundle){
	"AssetsByID": func(t *testing.T, b *bundle) {
		f := b.seedAssets(t, "o1", "L1", "L2")
		g := b.seedAssets(t, "o2", "L1")
		a1, a2, other := f.assets["L1"], f.assets["L2"], g.assets["L1"]
		check := func(what string, got map[int]*engine.Asset, err error) {
			t.Helper()
			if err != nil {
				t.Fatalf("%s: %v", what, err)
			}
			if len(got) != 3 || got[a1].AccountID != "acct-o1" || got[a2].AccountID != "acct-o1" || got[other].AccountID != "acct-o2" ||
				got[a1].ID != a1 || got[a1].Product != "SRV" || got[a1].Status != engine.AssetActive || got[a1].OrderLineID != f.order.LineIDs["L1"] {
				t.Fatalf("%s = %+v; want assets %d, %d (acct-o1) and %d (acct-o2), missing ids left out", what, got, a1, a2, other)
			}
		}
		want := []int{a1, a2, other, other, a1 + a2 + other + 1000}
		got, err := b.store.AssetsByID(b.ctx, want)
		check("Store.AssetsByID", got, err)
		b.write(t, func(tx engine.Tx) error {
			got, err := tx.AssetsByID(b.ctx, want)
			check("Tx.AssetsByID", got, err)
			return nil
		})
		if got, err := b.store.AssetsByID(b.ctx, nil); err != nil || len(got) != 0 {
			t.Fatalf("AssetsByID(none) = %v, %v; want an empty map", got, err)
		}
	},
	"Assets": func(t *testing.T, b *bundle) {
		f := b.seedAssets(t, "o1", "L1", "L2", "L3", "L4")
		g := b.seedAssets(t, "o2", "L1")
		id := func(line string) int { return f.assets[line] }
		// L2 is a LIC; L3 is suspended, L4 disconnected.
		b.applyChanges(t, f, engine.AssetChange{LineID: f.order.LineIDs["L3"], AssetID: id("L3"), Action: engine.ActionSuspend, Status: engine.AssetSuspended},
			engine.AssetChange{LineID: f.order.LineIDs["L4"], AssetID: id("L4"), Action: engine.ActionDisconnect, Status: engine.AssetDisconnected})
		for _, tc := range []struct {
			name string
			q    engine.AssetQuery
			want []string
		}{
			{"the account's, oldest first", engine.AssetQuery{AccountID: "acct-o1"}, []string{"L1", "L2", "L3", "L4"}},
			{"a product", engine.AssetQuery{AccountID: "acct-o1", Product: "LIC"}, []string{"L2"}},
			{"a status", engine.AssetQuery{AccountID: "acct-o1", Status: []engine.AssetStatus{engine.AssetSuspended}}, []string{"L3"}},
			{"statuses", engine.AssetQuery{AccountID: "acct-o1", Status: []engine.AssetStatus{engine.AssetDisconnected, engine.AssetActive}},
				[]string{"L1", "L2", "L4"}},
			{"ids, another account's left out", engine.AssetQuery{AccountID: "acct-o1", IDs: []int{id("L4"), g.assets["L1"], id("L1")}},
				[]string{"L1", "L4"}},
			{"no ids", engine.AssetQuery{AccountID: "acct-o1", IDs: []int{}}, nil},
			{"a limit", engine.AssetQuery{AccountID: "acct-o1", Limit: 2}, []string{"L1", "L2"}},
			{"everything at once", engine.AssetQuery{AccountID: "acct-o1", IDs: []int{id("L1"), id("L2"), id("L3")}, Product: "SRV",
				Status: []engine.AssetStatus{engine.AssetActive, engine.AssetSuspended}, Limit: 1}, []string{"L1"}},
			{"nothing matches", engine.AssetQuery{AccountID: "acct-o1", Product: "LIC", Status: []engine.AssetStatus{engine.AssetSuspended}}, nil},
			{"an unknown account", engine.AssetQuery{AccountID: "acct-none"}, nil},
		} {
			as, err := b.store.Assets(b.ctx, tc.q)
			if err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
			var got []string
			for _, a := range as {
				if a.AccountID != "acct-o1" {
					t.Fatalf("%s: another account's asset %+v", tc.name, a)
				}
				got = append(got, f.lineOf(a.ID))
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("%s: assets of lines %v; want %v", tc.name, got, tc.want)
			}
		}
		if as, err := b.store.Assets(b.ctx, engine.AssetQuery{AccountID: "acct-o2"}); err != nil || len(as) != 1 || as[0].ID != g.assets["L1"] {
			t.Errorf("the other account's assets = %+v, %v", as, err)
		}
		_, err := b.store.Assets(b.ctx, engine.AssetQuery{Product: "SRV"})
		wantCode(t, "Assets(no account)", err, engine.CodeBadUserInput)
		_, err = b.store.Assets(b.ctx, engine.AssetQuery{AccountID: "acct-o1", Status: []engine.AssetStatus{"GONE"}})
		wantCode(t, "Assets(unknown status)", err, engine.CodeBadUserInput)
		_, err = b.store.Assets(b.ctx, engine.AssetQuery{AccountID: "acct-o1", Limit: -1})
		wantCode(t, "Assets(negative limit)", err, engine.CodeBadUserInput)
	},
	// ADD, then CHANGE, SUSPEND, RESUME and DISCONNECT, a minute apart:
	// a row each, in order, with the statuses from and to, the quantity
	// and attributes after the change, the order and line that made it.
	"History": func(t *testing.T, b *bundle) {
		f := b.seedAssets(t, "o1", "L1")
		id, line := f.assets["L1"], f.order.LineIDs["L1"]
		qty := func(n int) *int { return &n }
		for _, c := range []engine.AssetChange{
			{Action: engine.ActionChange, Quantity: qty(3), Attributes: map[string]any{"size": "l"}},
			{Action: engine.ActionSuspend, Status: engine.AssetSuspended},
			{Action: engine.ActionResume, Status: engine.AssetActive},
			{Action: engine.ActionDisconnect, Status: engine.AssetDisconnected},
		} {
			b.clock.Advance(time.Minute)
			c.LineID, c.AssetID = line, id
			b.applyChanges(t, f, c)
		}
		g := b.seedAssets(t, "o2", "L1") // another asset, its own history
		hist, err := b.store.AssetHistory(b.ctx, []int{id, g.assets["L1"], id + g.assets["L1"] + 1000})
		if err != nil {
			t.Fatal(err)
		}
		if len(hist) != 2 || len(hist[g.assets["L1"]]) != 1 || hist[g.assets["L1"]][0].Action != engine.ActionAdd {
			t.Fatalf("AssetHistory = %v; want the two assets' (missing ids left out), the second's one ADD", hist)
		}
		type row struct {
			action   engine.LineAction
			from, to engine.AssetStatus
			qty      int
			size     any
			at       time.Time
		}
		want := []row{
			{engine.ActionAdd, "", engine.AssetActive, 1, "m", Epoch},
			{engine.ActionChange, engine.AssetActive, engine.AssetActive, 3, "l", Epoch.Add(time.Minute)},
			{engine.ActionSuspend, engine.AssetActive, engine.AssetSuspended, 3, "l", Epoch.Add(2 * time.Minute)},
			{engine.ActionResume, engine.AssetSuspended, engine.AssetActive, 3, "l", Epoch.Add(3 * time.Minute)},
			{engine.ActionDisconnect, engine.AssetActive, engine.AssetDisconnected, 3, "l", Epoch.Add(4 * time.Minute)},
		}
		var got []row
		for _, e := range hist[id] {
			if e.AssetID != id || e.OrderID != f.order.ID || e.OrderLineID != line || e.Attributes["os"] != "linux" {
				t.Errorf("history row %+v; want asset %d, order %d, line %d, os kept", e, id, f.order.ID, line)
			}
			got = append(got, row{e.Action, e.FromStatus, e.ToStatus, e.Quantity, e.Attributes["size"], e.At.UTC()})
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("history\n%+v\nwant\n%+v", got, want)
		}
		if h, err := b.store.AssetHistory(b.ctx, nil); err != nil || len(h) != 0 {
			t.Errorf("AssetHistory(none) = %v, %v; want an empty map", h, err)
		}
	},
	// Changes of several assets in one ApplyAssetChanges — a new one and
	// an existing one — write a row each, the new asset's under its id.
	"HistoryOfOneApply": func(t *testing.T, b *bundle) {
		f := &assetFixture{fixture: b.seedWith(t, "o1", func(o *engine.NewOrder) { o.Lines = []*engine.DecomposedLine{assetLine("L1"), assetLine("L3")} })}
		b.applyChanges(t, f, addChange(f.fixture, "L1"))
		as, err := b.store.Assets(b.ctx, engine.AssetQuery{AccountID: "acct-o1"})
		if err != nil || len(as) != 1 {
			t.Fatalf("assets = %+v, %v; want one", as, err)
		}
		old := as[0].ID
		b.clock.Advance(time.Minute)
		b.applyChanges(t, f,
			engine.AssetChange{LineID: f.order.LineIDs["L1"], AssetID: old, Action: engine.ActionSuspend, Status: engine.AssetSuspended},
			engine.AssetChange{LineID: f.order.LineIDs["L3"], Action: engine.ActionAdd, Product: "SRV", Quantity: func(n int) *int { return &n }(4),
				Status: engine.AssetActive})
		as, err = b.store.Assets(b.ctx, engine.AssetQuery{AccountID: "acct-o1"})
		if err != nil || len(as) != 2 {
			t.Fatalf("assets = %+v, %v; want two", as, err)
		}
		added := as[1].ID
		hist, err := b.store.AssetHistory(b.ctx, []int{old, added})
		if err != nil {
			t.Fatal(err)
		}
		if h := hist[old]; len(h) != 2 || h[1].Action != engine.ActionSuspend || h[1].FromStatus != engine.AssetActive || h[1].ToStatus != engine.AssetSuspended {
			t.Errorf("the suspended asset's history = %+v", h)
		}
		if h := hist[added]; len(h) != 1 || h[0].Action != engine.ActionAdd || h[0].FromStatus != "" || h[0].ToStatus != engine.AssetActive ||
			h[0].Quantity != 4 || h[0].OrderLineID != f.order.LineIDs["L3"] || !h[0].At.Equal(Epoch.Add(time.Minute)) {
			t.Errorf("the added asset's history = %+v", h)
		}
	},
	// A failing ApplyAssetChanges (an ADD for a line that already has its
	// asset) writes no history.
	"NoHistoryOnError": func(t *testing.T, b *bundle) {
		f := b.seedAssets(t, "o1", "L1")
		id := f.assets["L1"]
		_, err := b.store.Write(b.ctx, func(tx engine.Tx) error {
			return tx.ApplyAssetChanges(b.ctx, &engine.OrderAssets{OrderID: f.order.ID, AccountRef: f.order.AccountRef, AccountID: "acct-o1",
				Changes: []engine.AssetChange{
					{LineID: f.order.LineIDs["L1"], AssetID: id, Action: engine.ActionSuspend, Status: engine.AssetSuspended},
					{LineID: f.order.LineIDs["L1"], Action: engine.ActionAdd, Product: "SRV", Quantity: func(n int) *int { return &n }(1),
						Status: engine.AssetActive},
				}})
		})
		if err == nil {
			t.Fatal("a second asset for one line was written")
		}
		hist, err := b.store.AssetHistory(b.ctx, []int{id})
		if err != nil || len(hist[id]) != 1 {
			t.Fatalf("history after a failed apply = %+v, %v; want the ADD only", hist[id], err)
		}
		if got, _ := b.store.AssetsByID(b.ctx, []int{id}); got[id].Status != engine.AssetActive {
			t.Errorf("asset after a failed apply = %+v; want it ACTIVE still", got[id])
		}
	},
}

// assetFixture is a stored order whose lines each made an asset.
type assetFixture struct {
	*fixture
	assets map[string]int // line id → asset id
}

func (f *assetFixture) lineOf(assetID int) string {
	for l, id := range f.assets {
		if id == assetID {
			return l
		}
	}
	return "?"
}

// seedAssets stores an order of account "acct-"+externalID with the
// lines given (L2 a LIC, the others SRV of quantity 1, size m, os linux)
// and applies their ADDs.
func (b *bundle) seedAssets(t *testing.T, externalID string, lines ...string) *assetFixture {
	t.Helper()
	f := &assetFixture{fixture: b.seedWith(t, externalID, func(o *engine.NewOrder) {
		o.Lines = nil
		for _, l := range lines {
			o.Lines = append(o.Lines, assetLine(l))
		}
	}), assets: map[string]int{}}
	var changes []engine.AssetChange
	for _, l := range lines {
		changes = append(changes, addChange(f.fixture, l))
	}
	b.applyChanges(t, f, changes...)
	as, err := b.store.Assets(b.ctx, engine.AssetQuery{AccountID: "acct-" + externalID})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range as {
		for l, lineID := range f.order.LineIDs {
			if a.OrderLineID == lineID {
				f.assets[l] = a.ID
			}
		}
	}
	if len(f.assets) != len(lines) {
		t.Fatalf("seeded assets %v for lines %v", f.assets, lines)
	}
	return f
}

func assetLine(id string) *engine.DecomposedLine {
	product := "SRV"
	if id == "L2" {
		product = "LIC"
	}
	return &engine.DecomposedLine{LineInput: engine.LineInput{ID: id, ProductCode: product, Quantity: 1,
		Attributes: map[string]any{"size": "m", "os": "linux"}, Action: engine.ActionAdd}, Status: engine.LineDecomposed}
}

func addChange(f *fixture, line string) engine.AssetChange {
	qty := 1
	product := "SRV"
	if line == "L2" {
		product = "LIC"
	}
	return engine.AssetChange{LineID: f.order.LineIDs[line], Action: engine.ActionAdd, Product: product, Quantity: &qty,
		Attributes: map[string]any{"size": "m", "os": "linux"}, Status: engine.AssetActive}
}

func (b *bundle) applyChanges(t *testing.T, f *assetFixture, changes ...engine.AssetChange) {
	t.Helper()
	b.write(t, func(tx engine.Tx) error {
		return tx.ApplyAssetChanges(b.ctx, &engine.OrderAssets{OrderID: f.order.ID, AccountRef: f.order.AccountRef,
			AccountID: f.order.AccountID, Changes: changes})
	})
}
