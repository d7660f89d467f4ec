package plan

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/batonhq/baton/engine"
	"github.com/batonhq/baton/engine/catalog"
)

// The pure core of order revisions (revise.go), one table per function.

// reviseCatalog has a step of each kind a revision treats differently:
// compensated and not, with and without a point of no return, at every
// scope, and scenarios with onAmend / onCancel steps.
const reviseCatalog = `version: 1
systems:
  erp: {url: "http://127.0.0.1:9/erp", timeout: 1s}
products:
  - {code: BUNDLE-A, type: COMMERCIAL, components: [{product: HW}, {product: LIC}]}
  - {code: HW, type: COMMERCIAL}
  - {code: LIC, type: COMMERCIAL}
  - {code: T-SHIP, type: TECHNICAL}
  - {code: T-LIC, type: TECHNICAL}
  - {code: T-KIT, type: TECHNICAL}
  - {code: T-ACCT, type: TECHNICAL}
decomposition:
  - {name: ship, from: HW, to: T-SHIP, scope: LINE}
  - {name: lic, from: LIC, to: T-LIC, scope: LINE}
  - {name: kit, from: HW, to: T-KIT, scope: BUNDLE}
  - {name: acct, from: BUNDLE-A, to: T-ACCT, scope: ACCOUNT}
scenarios:
  - name: main
    groups:
      - name: Work
        steps:
          - {name: Start, type: AUTO_TASK, auto: {action: noop}}
          - {name: Welcome, type: AUTO_TASK, scope: ACCOUNT, auto: {action: noop}}
          - {name: Reserve, type: CALLOUT, scope: ITEM, product: T-SHIP, callout: {system: erp, path: /reserve},
             compensate: {name: Unreserve, type: CALLOUT, callout: {system: erp, path: /unreserve}}}
          - {name: Pack, type: AUTO_TASK, scope: ITEM, product: T-SHIP, auto: {action: noop}}
          - {name: Ship, type: CALLOUT, scope: ITEM, product: T-SHIP, pointOfNoReturn: true, callout: {system: erp, path: /ship},
             compensate: {name: Unship, type: CALLOUT, callout: {system: erp, path: /unship}}}
          - {name: Activate, type: CALLOUT, scope: ITEM, product: T-LIC, callout: {system: erp, path: /activate},
             compensate: {name: Revoke, type: AUTO_TASK, auto: {action: noop}}}
          - {name: Kit, type: AUTO_TASK, scope: BUNDLE, product: T-KIT, pointOfNoReturn: true, auto: {action: noop},
             compensate: {name: Unkit, type: MANUAL_TASK, task: {queue: returns, assignee: ann}}}
          - {name: Approve, type: MANUAL_TASK, task: {queue: sales}}
          - {name: Hold, type: PAUSE, pause: {until: go, for: 1d}}
          - {name: Invoice, type: CALLOUT, pointOfNoReturn: true, callout: {system: erp, path: /invoice},
             compensate: {name: CreditNote, type: CALLOUT, callout: {system: erp, path: /credit}}}
          - {name: Done, type: MILESTONE}
    dependencies:
      - {step: Reserve, after: Start}
      - {step: Pack, after: Reserve, scope: ITEM}
      - {step: Ship, after: Pack, scope: ITEM}
      - {step: Done, after: [Ship, Kit, Activate, Approve, Hold, Invoice]}
    onAmend:
      - {name: Notify, type: AUTO_TASK, auto: {action: noop}}
    onCancel:
      - {name: Confirm, type: MANUAL_TASK, task: {queue: sales}}
      - {name: Bye, type: CALLOUT, callout: {system: erp, path: /bye}}
  - name: extra
    when: 'order.attributes.extra == true'
    groups:
      - name: Extra
        steps:
          - {name: Audit, type: AUTO_TASK, auto: {action: noop}}
    onAmend:
      - {name: AuditAmend, type: AUTO_TASK, auto: {action: noop}}
  - name: quiet
    when: 'false'
    groups:
      - name: Quiet
        steps:
          - {name: Nothing, type: MILESTONE}
`

func reviseCat(t *testing.T) *catalog.Catalog {
	t.Helper()
	cat, err := catalog.CompileCatalog(reviseCatalog, catalog.CatalogOptions{Actions: []string{"noop"}})
	if err != nil {
		t.Fatalf("catalog: %v", err)
	}
	return cat
}

// --- SameJSON, DiffLines, LineDelta ---

func TestSameJSON(t *testing.T) {
	tests := []struct {
		name string
		a, b map[string]any
		want bool
	}{
		{"both nil", nil, nil, true},
		{"nil and empty", nil, map[string]any{}, true},
		{"empty and nil", map[string]any{}, nil, true},
		{"equal", map[string]any{"a": "x", "n": 2}, map[string]any{"n": 2, "a": "x"}, true},
		{"1 and 1.0", map[string]any{"n": 1}, map[string]any{"n": 1.0}, true},
		{"int and float64 of JSON", map[string]any{"n": int64(3)}, map[string]any{"n": float64(3)}, true},
		{"nested equal", map[string]any{"m": map[string]any{"x": []any{1, "y"}}}, map[string]any{"m": map[string]any{"x": []any{1.0, "y"}}}, true},
		{"different value", map[string]any{"a": "x"}, map[string]any{"a": "y"}, false},
		{"number and string", map[string]any{"a": 1}, map[string]any{"a": "1"}, false},
		{"extra key", map[string]any{"a": 1}, map[string]any{"a": 1, "b": nil}, false},
		{"empty and not", nil, map[string]any{"a": false}, false},
		{"not and empty", map[string]any{"a": false}, map[string]any{}, false},
		{"nested differs", map[string]any{"m": []any{1, 2}}, map[string]any{"m": []any{2, 1}}, false},
		{"unmarshalable is never the same", map[string]any{"f": func() {}}, map[string]any{"f": func() {}}, false},
	}
	for _, tt := range tests {
		if got := SameJSON(tt.a, tt.b); got != tt.want {
			t.Errorf("%s: SameJSON(%v, %v) = %v; want %v", tt.name, tt.a, tt.b, got, tt.want)
		}
	}
}

func dline(id, product string, qty int, parent string, attrs map[string]any) *engine.DecomposedLine {
	return &engine.DecomposedLine{LineInput: engine.LineInput{ID: id, ProductCode: product, Quantity: qty, ParentID: parent, Attributes: attrs}}
}

func TestDiffLines(t *testing.T) {
	old := func() []*engine.DecomposedLine {
		return []*engine.DecomposedLine{
			dline("B1", "BUNDLE-A", 1, "", nil),
			dline("B1/HW", "HW", 1, "B1", map[string]any{"color": "black", "n": 1}),
			dline("B1/LIC", "LIC", 1, "B1", map[string]any{}),
			dline("L2", "HW", 2, "", nil),
		}
	}
	tests := []struct {
		name string
		edit func(next []*engine.DecomposedLine) []*engine.DecomposedLine
		want LineDelta
	}{
		{"same lines", func(n []*engine.DecomposedLine) []*engine.DecomposedLine { return n }, LineDelta{}},
		{"same lines, another order", func(n []*engine.DecomposedLine) []*engine.DecomposedLine {
			slices.Reverse(n)
			return n
		}, LineDelta{}},
		{"attributes equal as JSON (1 and 1.0, nil and empty)", func(n []*engine.DecomposedLine) []*engine.DecomposedLine {
			n[1].Attributes = map[string]any{"n": 1.0, "color": "black"}
			n[2].Attributes = nil
			n[3].Attributes = map[string]any{}
			return n
		}, LineDelta{}},
		{"added", func(n []*engine.DecomposedLine) []*engine.DecomposedLine {
			return append(n, dline("L3", "LIC", 1, "", nil))
		}, LineDelta{Added: []string{"L3"}}},
		{"removed", func(n []*engine.DecomposedLine) []*engine.DecomposedLine { return n[:3] }, LineDelta{Removed: []string{"L2"}}},
		{"product changed", func(n []*engine.DecomposedLine) []*engine.DecomposedLine {
			n[3].ProductCode = "LIC"
			return n
		}, LineDelta{Changed: []string{"L2"}}},
		{"quantity changed", func(n []*engine.DecomposedLine) []*engine.DecomposedLine {
			n[3].Quantity = 3
			return n
		}, LineDelta{Changed: []string{"L2"}}},
		{"parent changed", func(n []*engine.DecomposedLine) []*engine.DecomposedLine {
			n[3].ParentID = "B1"
			return n
		}, LineDelta{Changed: []string{"L2"}}},
		{"action changed", func(n []*engine.DecomposedLine) []*engine.DecomposedLine {
			n[3].Action = engine.LineAction("CHANGE")
			return n
		}, LineDelta{Changed: []string{"L2"}}},
		{"asset changed", func(n []*engine.DecomposedLine) []*engine.DecomposedLine {
			n[3].AssetID = 7
			return n
		}, LineDelta{Changed: []string{"L2"}}},
		{"attribute value changed", func(n []*engine.DecomposedLine) []*engine.DecomposedLine {
			n[1].Attributes = map[string]any{"color": "red", "n": 1}
			return n
		}, LineDelta{Changed: []string{"B1/HW"}}},
		{"attribute added", func(n []*engine.DecomposedLine) []*engine.DecomposedLine {
			n[2].Attributes = map[string]any{"seats": 5}
			return n
		}, LineDelta{Changed: []string{"B1/LIC"}}},
		{"attribute removed", func(n []*engine.DecomposedLine) []*engine.DecomposedLine {
			n[1].Attributes = map[string]any{"color": "black"}
			return n
		}, LineDelta{Changed: []string{"B1/HW"}}},
		{"status, position and bundle do not count", func(n []*engine.DecomposedLine) []*engine.DecomposedLine {
			n[3].Status, n[3].Position, n[3].Bundle, n[3].Generated = engine.LineAwaitingData, 9, "X", true
			return n
		}, LineDelta{}},
		{"all at once", func(n []*engine.DecomposedLine) []*engine.DecomposedLine {
			n[1].Quantity = 2
			return []*engine.DecomposedLine{dline("N1", "HW", 1, "", nil), n[0], n[1], dline("N2", "HW", 1, "", nil)}
		}, LineDelta{Added: []string{"N1", "N2"}, Changed: []string{"B1/HW"}, Removed: []string{"B1/LIC", "L2"}}},
		{"everything removed", func([]*engine.DecomposedLine) []*engine.DecomposedLine { return nil },
			LineDelta{Removed: []string{"B1", "B1/HW", "B1/LIC", "L2"}}},
	}
	for _, tt := range tests {
		got := DiffLines(old(), tt.edit(old()))
		if fmt.Sprint(got) != fmt.Sprint(tt.want) {
			t.Errorf("%s: DiffLines = %+v; want %+v", tt.name, got, tt.want)
		}
		if got.Empty() != (len(tt.want.Added)+len(tt.want.Changed)+len(tt.want.Removed) == 0) {
			t.Errorf("%s: Empty() = %v for %+v", tt.name, got.Empty(), got)
		}
	}
}

func TestLineDeltaTouched(t *testing.T) {
	d := LineDelta{Added: []string{"A"}, Changed: []string{"C"}, Removed: []string{"R"}}
	for id, want := range map[string]bool{"A": true, "C": true, "R": true, "K": false, "": false} {
		if got := d.Touched(id); got != want {
			t.Errorf("Touched(%q) = %v; want %v", id, got, want)
		}
	}
	if d.Empty() || !(LineDelta{}).Empty() {
		t.Errorf("Empty: %v for %+v, %v for the empty delta", d.Empty(), d, (LineDelta{}).Empty())
	}
}

// --- MatchItems ---

func item(key string, scope engine.DecompositionScope, bundle string, id int, sources ...string) *engine.Item {
	return &engine.Item{Key: key, Scope: scope, BundleKey: bundle, ID: id, Sources: sources, Quantity: 1}
}

// storedItems are an order's items as the store has them (with ids):
// bundle B1 (B1/HW, B1/LIC) and the loose line L2.
func storedItems() []*engine.Item {
	return []*engine.Item{
		item("acct:account", engine.DecomposeAccount, "", 1, "B1"),
		item("ship:B1/HW", engine.DecomposeLine, "B1", 2, "B1/HW"),
		item("kit:B1", engine.DecomposeBundle, "B1", 3, "B1/HW"),
		item("lic:B1/LIC", engine.DecomposeLine, "B1", 4, "B1/LIC"),
		item("ship:L2", engine.DecomposeLine, "L2", 5, "L2"),
	}
}

// freshItems are what decomposing the same order again gives (no ids),
// without the items of the lines in drop.
func freshItems(drop ...string) []*engine.Item {
	var out []*engine.Item
	for _, it := range storedItems() {
		if slices.ContainsFunc(it.Sources, func(s string) bool { return slices.Contains(drop, s) }) {
			continue
		}
		it.ID = 0
		out = append(out, it)
	}
	return out
}

func itemKeys(items []*engine.Item) string {
	var out []string
	for _, it := range items {
		out = append(out, fmt.Sprintf("%s#%d", it.Key, it.ID))
	}
	return strings.Join(out, " ")
}

func TestMatchItems(t *testing.T) {
	tests := []struct {
		name    string
		stored  []*engine.Item
		removed []*engine.Item
		fresh   []*engine.Item
		lines   LineDelta
		rev     int
		// items: key#id (0: a new item); gone: key#id
		items, gone string
	}{
		{name: "nothing changes: every stored item kept",
			stored: storedItems(), fresh: freshItems(), rev: 2,
			items: "acct:account#1 ship:B1/HW#2 kit:B1#3 lic:B1/LIC#4 ship:L2#5"},
		{name: "a loose line changed: its item redone under a revision key",
			stored: storedItems(), fresh: freshItems(), lines: LineDelta{Changed: []string{"L2"}}, rev: 2,
			items: "acct:account#1 ship:B1/HW#2 kit:B1#3 lic:B1/LIC#4 ship:L2@r2#0", gone: "ship:L2#5"},
		{name: "a bundle's component line changed: the bundle's item redone too",
			stored: storedItems(), fresh: freshItems(), lines: LineDelta{Changed: []string{"B1/HW"}}, rev: 3,
			items: "acct:account#1 ship:B1/HW@r3#0 kit:B1@r3#0 lic:B1/LIC#4 ship:L2#5", gone: "ship:B1/HW#2 kit:B1#3"},
		{name: "a component the bundle's item is not made from: only its own item",
			stored: storedItems(), fresh: freshItems(), lines: LineDelta{Changed: []string{"B1/LIC"}}, rev: 2,
			items: "acct:account#1 ship:B1/HW#2 kit:B1#3 lic:B1/LIC@r2#0 ship:L2#5", gone: "lic:B1/LIC#4"},
		{name: "a removed line's item is gone",
			stored: storedItems(), fresh: freshItems("L2"), lines: LineDelta{Removed: []string{"L2"}}, rev: 2,
			items: "acct:account#1 ship:B1/HW#2 kit:B1#3 lic:B1/LIC#4", gone: "ship:L2#5"},
		{name: "a removed bundle: its items gone, never the account item",
			stored: storedItems(), fresh: freshItems("B1", "B1/HW", "B1/LIC"), lines: LineDelta{Removed: []string{"B1", "B1/HW", "B1/LIC"}}, rev: 2,
			items: "ship:L2#5", gone: "ship:B1/HW#2 kit:B1#3 lic:B1/LIC#4"},
		{name: "the account item of this order is its own even when its line changes",
			stored: storedItems(), fresh: freshItems(), lines: LineDelta{Changed: []string{"B1"}}, rev: 2,
			items: "acct:account#1 ship:B1/HW#2 kit:B1#3 lic:B1/LIC#4 ship:L2#5"},
		{name: "an account item another order made is planned as it comes",
			stored: storedItems()[1:], fresh: append(freshItems("B1"), item("acct:account", engine.DecomposeAccount, "", 99, "B1")), rev: 2,
			items: "ship:B1/HW#2 kit:B1#3 lic:B1/LIC#4 ship:L2#5 acct:account#99"},
		{name: "a new line's item keeps its key",
			stored: storedItems(), fresh: append(freshItems(), item("ship:L3", engine.DecomposeLine, "L3", 0, "L3")),
			lines: LineDelta{Added: []string{"L3"}}, rev: 2,
			items: "acct:account#1 ship:B1/HW#2 kit:B1#3 lic:B1/LIC#4 ship:L2#5 ship:L3#0"},
		{name: "a line added again: its key was used before, so it gets @r<rev>",
			stored: storedItems(), removed: []*engine.Item{item("ship:L3", engine.DecomposeLine, "L3", 9, "L3")},
			fresh: append(freshItems(), item("ship:L3", engine.DecomposeLine, "L3", 0, "L3")),
			lines: LineDelta{Added: []string{"L3"}}, rev: 4,
			items: "acct:account#1 ship:B1/HW#2 kit:B1#3 lic:B1/LIC#4 ship:L2#5 ship:L3@r4#0"},
		{name: "an item an earlier revision re-created is kept by its base key",
			stored:  append(storedItems()[:4], item("ship:L2@r2", engine.DecomposeLine, "L2", 6, "L2")),
			removed: []*engine.Item{item("ship:L2", engine.DecomposeLine, "L2", 5, "L2")}, fresh: freshItems(), rev: 3,
			items: "acct:account#1 ship:B1/HW#2 kit:B1#3 lic:B1/LIC#4 ship:L2@r2#6"},
		{name: "an item an earlier revision re-created, changed again",
			stored:  append(storedItems()[:4], item("ship:L2@r2", engine.DecomposeLine, "L2", 6, "L2")),
			removed: []*engine.Item{item("ship:L2", engine.DecomposeLine, "L2", 5, "L2")}, fresh: freshItems(),
			lines: LineDelta{Changed: []string{"L2"}}, rev: 3,
			items: "acct:account#1 ship:B1/HW#2 kit:B1#3 lic:B1/LIC#4 ship:L2@r3#0", gone: "ship:L2@r2#6"},
		{name: "a line added to a bundle: the bundle's item is made from other lines now",
			stored: storedItems(),
			fresh: []*engine.Item{
				item("acct:account", engine.DecomposeAccount, "", 0, "B1"),
				item("ship:B1/HW", engine.DecomposeLine, "B1", 0, "B1/HW"),
				item("kit:B1", engine.DecomposeBundle, "B1", 0, "B1/HW2", "B1/HW"),
				item("ship:B1/HW2", engine.DecomposeLine, "B1", 0, "B1/HW2"),
				item("lic:B1/LIC", engine.DecomposeLine, "B1", 0, "B1/LIC"),
				item("ship:L2", engine.DecomposeLine, "L2", 0, "L2"),
			},
			lines: LineDelta{Added: []string{"B1/HW2"}}, rev: 2,
			items: "acct:account#1 ship:B1/HW#2 kit:B1@r2#0 ship:B1/HW2#0 lic:B1/LIC#4 ship:L2#5", gone: "kit:B1#3"},
		{name: "sources compared as sets",
			stored: []*engine.Item{item("kit:B1", engine.DecomposeBundle, "B1", 3, "B1/HW", "B1/HW2")},
			fresh:  []*engine.Item{item("kit:B1", engine.DecomposeBundle, "B1", 0, "B1/HW2", "B1/HW")}, rev: 2,
			items: "kit:B1#3"},
		{name: "cancellation-like: nothing fresh, every non-account item gone",
			stored: storedItems(), lines: LineDelta{Removed: []string{"B1", "B1/HW", "B1/LIC", "L2"}}, rev: 2,
			gone: "ship:B1/HW#2 kit:B1#3 lic:B1/LIC#4 ship:L2#5"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			storedByKey := map[string]*engine.Item{}
			for _, s := range tt.stored {
				storedByKey[s.Key] = s
			}
			items, gone := MatchItems(tt.stored, tt.removed, tt.fresh, tt.lines, tt.rev)
			if got := itemKeys(items); got != tt.items {
				t.Errorf("items:\n got %s\nwant %s", got, tt.items)
			}
			if got := itemKeys(gone); got != tt.gone {
				t.Errorf("gone:\n got %s\nwant %s", got, tt.gone)
			}
			// A kept item is the stored one itself (its id and steps stay).
			for _, it := range items {
				if s := storedByKey[it.Key]; s != nil && it.ID != 0 && s != it {
					t.Errorf("item %s is a copy of the stored one", it.Key)
				}
			}
			keys := map[string]bool{}
			for _, it := range items {
				if keys[it.Key] {
					t.Errorf("key %s twice", it.Key)
				}
				keys[it.Key] = true
			}
		})
	}
}

// --- Started, FrozenParts, Refusals ---

func TestStarted(t *testing.T) {
	tests := []struct {
		status   engine.StepStatus
		attempts int
		want     bool
	}{
		{engine.StepPending, 0, false},
		{engine.StepReady, 0, false},
		{engine.StepOnHold, 0, false},
		{engine.StepSkipped, 0, false},
		{engine.StepCancelled, 0, false},
		{engine.StepRunning, 0, true},
		{engine.StepWaiting, 0, true},
		{engine.StepCompleted, 0, true},
		{engine.StepFailed, 0, true},
		{engine.StepFallout, 0, true},
		{engine.StepFailed, 1, true},
		{engine.StepReady, 1, true},   // an attempt failed, a retry is due
		{engine.StepOnHold, 2, true},  // held after attempts
		{engine.StepPending, 1, true}, // attempted, then reset
	}
	for _, tt := range tests {
		r := &engine.StepRecord{Status: tt.status, Attempts: tt.attempts}
		if got := Started(r); got != tt.want {
			t.Errorf("Started(%s, attempts %d) = %v; want %v", tt.status, tt.attempts, got, tt.want)
		}
	}
}

// frozenLines are an order's lines with their bundles assigned: bundle B1
// (B1/HW, B1/LIC), the loose line L2, bundle B3 (B3/HW).
func frozenLines() []*engine.DecomposedLine {
	ls := []*engine.DecomposedLine{
		dline("B1", "BUNDLE-A", 1, "", nil), dline("B1/HW", "HW", 1, "B1", nil), dline("B1/LIC", "LIC", 1, "B1", nil),
		dline("L2", "HW", 1, "", nil),
		dline("B3", "BUNDLE-A", 1, "", nil), dline("B3/HW", "HW", 1, "B3", nil),
	}
	for _, l := range ls {
		switch {
		case l.ProductCode == "BUNDLE-A":
			l.Bundle = l.ID
		case l.ParentID != "":
			l.Bundle = l.ParentID
		}
	}
	return ls
}

func frozenItems() map[int]*engine.Item {
	return map[int]*engine.Item{
		2: item("ship:B1/HW", engine.DecomposeLine, "B1", 2, "B1/HW"),
		3: item("kit:B1", engine.DecomposeBundle, "B1", 3, "B1/HW"),
		4: item("lic:B1/LIC", engine.DecomposeLine, "B1", 4, "B1/LIC"),
		5: item("ship:L2", engine.DecomposeLine, "L2", 5, "L2"),
		6: item("ship:B3/HW", engine.DecomposeLine, "B3", 6, "B3/HW"),
	}
}

// srec is a step record for the freezing tests.
func srec(id int, name string, scope engine.Scope, itemID int, bundle string, status engine.StepStatus, attempts int) *engine.StepRecord {
	return &engine.StepRecord{ID: id, Name: name, Scope: scope, ItemID: itemID, BundleKey: bundle, Status: status, Attempts: attempts}
}

// frozenText renders Frozen as "lines: line=step#id/SCOPE ...; bundles: ...; order: ...".
func frozenText(f *Frozen) string {
	part := func(m map[string]engine.Refusal) string {
		var keys, out []string
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			r := m[k]
			out = append(out, fmt.Sprintf("%s=%s#%d/%s", k, r.StepName, r.StepID, r.Scope))
		}
		return strings.Join(out, " ")
	}
	order := "-"
	if f.Order != nil {
		order = fmt.Sprintf("%s#%d/%s", f.Order.StepName, f.Order.StepID, f.Order.Scope)
	}
	return fmt.Sprintf("lines: %s; bundles: %s; order: %s", part(f.Lines), part(f.Bundles), order)
}

func TestFrozenParts(t *testing.T) {
	cat := reviseCat(t)
	tests := []struct {
		name  string
		steps []*engine.StepRecord
		want  string
	}{
		{"nothing started", []*engine.StepRecord{
			srec(10, "Ship", engine.ScopeItem, 2, "B1", engine.StepReady, 0),
			srec(11, "Kit", engine.ScopeBundle, 0, "B1", engine.StepPending, 0),
			srec(12, "Invoice", engine.ScopePlan, 0, "", engine.StepPending, 0),
		}, "lines: ; bundles: ; order: -"},
		{"steps without a point of no return freeze nothing", []*engine.StepRecord{
			srec(10, "Reserve", engine.ScopeItem, 2, "B1", engine.StepCompleted, 1),
			srec(11, "Start", engine.ScopePlan, 0, "", engine.StepCompleted, 1),
			srec(12, "Welcome", engine.ScopeAccount, 0, "", engine.StepRunning, 1),
		}, "lines: ; bundles: ; order: -"},
		{"a step the catalog no longer has freezes nothing", []*engine.StepRecord{
			srec(10, "Gone", engine.ScopePlan, 0, "", engine.StepCompleted, 1),
		}, "lines: ; bundles: ; order: -"},
		{"skipped and cancelled steps never started", []*engine.StepRecord{
			srec(10, "Ship", engine.ScopeItem, 2, "B1", engine.StepSkipped, 0),
			srec(11, "Invoice", engine.ScopePlan, 0, "", engine.StepCancelled, 0),
		}, "lines: ; bundles: ; order: -"},
		{"ITEM step running: its line, and its bundle", []*engine.StepRecord{
			srec(10, "Ship", engine.ScopeItem, 2, "B1", engine.StepRunning, 1),
		}, "lines: B1=Ship#10/BUNDLE B1/HW=Ship#10/LINE B1/LIC=Ship#10/BUNDLE; bundles: B1=Ship#10/BUNDLE; order: -"},
		{"ITEM step of a loose line: its line only", []*engine.StepRecord{
			srec(10, "Ship", engine.ScopeItem, 5, "L2", engine.StepCompleted, 1),
		}, "lines: L2=Ship#10/LINE; bundles: L2=Ship#10/BUNDLE; order: -"},
		{"ITEM step that only started (FAILED after an attempt)", []*engine.StepRecord{
			srec(10, "Ship", engine.ScopeItem, 6, "B3", engine.StepFailed, 1),
		}, "lines: B3=Ship#10/BUNDLE B3/HW=Ship#10/LINE; bundles: B3=Ship#10/BUNDLE; order: -"},
		{"ITEM step READY for a retry after an attempt", []*engine.StepRecord{
			srec(10, "Ship", engine.ScopeItem, 5, "L2", engine.StepReady, 1),
		}, "lines: L2=Ship#10/LINE; bundles: L2=Ship#10/BUNDLE; order: -"},
		{"ITEM step waiting for its answer", []*engine.StepRecord{
			srec(10, "Ship", engine.ScopeItem, 5, "L2", engine.StepWaiting, 1),
		}, "lines: L2=Ship#10/LINE; bundles: L2=Ship#10/BUNDLE; order: -"},
		{"BUNDLE step: every line of its bundle", []*engine.StepRecord{
			srec(11, "Kit", engine.ScopeBundle, 0, "B1", engine.StepCompleted, 1),
		}, "lines: B1=Kit#11/BUNDLE B1/HW=Kit#11/BUNDLE B1/LIC=Kit#11/BUNDLE; bundles: B1=Kit#11/BUNDLE; order: -"},
		{"PLAN step: the whole order", []*engine.StepRecord{
			srec(12, "Invoice", engine.ScopePlan, 0, "", engine.StepRunning, 1),
		}, "lines: B1=Invoice#12/ORDER B1/HW=Invoice#12/ORDER B1/LIC=Invoice#12/ORDER B3=Invoice#12/ORDER B3/HW=Invoice#12/ORDER L2=Invoice#12/ORDER; bundles: ; order: Invoice#12/ORDER"},
		{"the first step by id names the line (given out of order)", []*engine.StepRecord{
			srec(20, "Kit", engine.ScopeBundle, 0, "B1", engine.StepCompleted, 1),
			srec(10, "Ship", engine.ScopeItem, 2, "B1", engine.StepRunning, 1),
		}, "lines: B1=Ship#10/BUNDLE B1/HW=Ship#10/LINE B1/LIC=Ship#10/BUNDLE; bundles: B1=Ship#10/BUNDLE; order: -"},
		{"a BUNDLE step before an ITEM step", []*engine.StepRecord{
			srec(10, "Ship", engine.ScopeItem, 2, "B1", engine.StepRunning, 1),
			srec(5, "Kit", engine.ScopeBundle, 0, "B1", engine.StepCompleted, 1),
		}, "lines: B1=Kit#5/BUNDLE B1/HW=Kit#5/BUNDLE B1/LIC=Kit#5/BUNDLE; bundles: B1=Kit#5/BUNDLE; order: -"},
		{"a PLAN step after an ITEM step", []*engine.StepRecord{
			srec(12, "Invoice", engine.ScopePlan, 0, "", engine.StepCompleted, 1),
			srec(10, "Ship", engine.ScopeItem, 5, "L2", engine.StepCompleted, 1),
		}, "lines: B1=Invoice#12/ORDER B1/HW=Invoice#12/ORDER B1/LIC=Invoice#12/ORDER B3=Invoice#12/ORDER B3/HW=Invoice#12/ORDER L2=Ship#10/LINE; bundles: L2=Ship#10/BUNDLE; order: Invoice#12/ORDER"},
		{"two bundles frozen, the loose line free", []*engine.StepRecord{
			srec(10, "Ship", engine.ScopeItem, 2, "B1", engine.StepCompleted, 1),
			srec(11, "Kit", engine.ScopeBundle, 0, "B3", engine.StepRunning, 1),
		}, "lines: B1=Ship#10/BUNDLE B1/HW=Ship#10/LINE B1/LIC=Ship#10/BUNDLE B3=Kit#11/BUNDLE B3/HW=Kit#11/BUNDLE; bundles: B1=Ship#10/BUNDLE B3=Kit#11/BUNDLE; order: -"},
	}
	for _, tt := range tests {
		f := FrozenParts(cat, tt.steps, frozenItems(), frozenLines())
		if got := frozenText(f); got != tt.want {
			t.Errorf("%s:\n got %s\nwant %s", tt.name, got, tt.want)
		}
		for line, r := range f.Lines {
			if r.LineID != line || !strings.HasPrefix(r.Message, fmt.Sprintf("line %q: step %q (%d)", line, r.StepName, r.StepID)) {
				t.Errorf("%s: refusal of line %s: %+v", tt.name, line, r)
			}
		}
	}
}

func TestFrozenRefusals(t *testing.T) {
	cat := reviseCat(t)
	shipB1 := srec(10, "Ship", engine.ScopeItem, 2, "B1", engine.StepRunning, 1)
	shipL2 := srec(10, "Ship", engine.ScopeItem, 5, "L2", engine.StepCompleted, 1)
	kitB3 := srec(11, "Kit", engine.ScopeBundle, 0, "B3", engine.StepCompleted, 1)
	invoice := srec(12, "Invoice", engine.ScopePlan, 0, "", engine.StepCompleted, 1)
	added := func(id, parent, bundle string) *engine.DecomposedLine {
		l := dline(id, "HW", 1, parent, nil)
		l.Bundle = bundle
		return l
	}
	tests := []struct {
		name  string
		steps []*engine.StepRecord
		delta LineDelta
		added []*engine.DecomposedLine // lines of next besides the old ones
		attrs bool
		// want: line/step#id/SCOPE, sorted by line
		want string
		// message of the first refusal
		message string
	}{
		{name: "nothing frozen: anything goes", delta: LineDelta{Changed: []string{"L2"}, Removed: []string{"B1", "B1/HW", "B1/LIC"}},
			added: []*engine.DecomposedLine{added("N", "", "")}, attrs: true},
		{name: "a frozen line changed", steps: []*engine.StepRecord{shipL2}, delta: LineDelta{Changed: []string{"L2"}},
			want: "L2/Ship#10/LINE", message: `line "L2": step "Ship" (10) is past its point of no return, which freezes its line`},
		{name: "a frozen line removed", steps: []*engine.StepRecord{shipL2}, delta: LineDelta{Removed: []string{"L2"}},
			want: "L2/Ship#10/LINE"},
		{name: "the unfrozen part still changes", steps: []*engine.StepRecord{shipL2},
			delta: LineDelta{Changed: []string{"B1/HW"}, Removed: []string{"B3", "B3/HW"}}, added: []*engine.DecomposedLine{added("N", "B1", "B1")}},
		{name: "a line of a frozen bundle changed", steps: []*engine.StepRecord{shipB1}, delta: LineDelta{Changed: []string{"B1/LIC"}},
			want: "B1/LIC/Ship#10/BUNDLE", message: `line "B1/LIC": step "Ship" (10) is past its point of no return, which freezes its bundle`},
		{name: "a line added to a frozen bundle", steps: []*engine.StepRecord{shipB1}, delta: LineDelta{Added: []string{"B1/HW2"}},
			added: []*engine.DecomposedLine{added("B1/HW2", "B1", "B1")}, want: "B1/HW2/Ship#10/BUNDLE"},
		{name: "a line added to a bundle a BUNDLE step froze", steps: []*engine.StepRecord{kitB3}, delta: LineDelta{Added: []string{"B3/HW2"}},
			added: []*engine.DecomposedLine{added("B3/HW2", "B3", "B3")}, want: "B3/HW2/Kit#11/BUNDLE"},
		{name: "a loose line added next to frozen ones", steps: []*engine.StepRecord{shipB1, kitB3}, delta: LineDelta{Added: []string{"N"}},
			added: []*engine.DecomposedLine{added("N", "", "")}},
		{name: "a frozen bundle removed: each of its lines refused, sorted", steps: []*engine.StepRecord{shipB1},
			delta: LineDelta{Removed: []string{"B1/LIC", "B1", "B1/HW"}}, want: "B1/Ship#10/BUNDLE B1/HW/Ship#10/LINE B1/LIC/Ship#10/BUNDLE"},
		{name: "frozen and free lines changed together: only the frozen refused", steps: []*engine.StepRecord{shipL2, kitB3},
			delta: LineDelta{Changed: []string{"L2", "B1/HW", "B3/HW"}}, want: "B3/HW/Kit#11/BUNDLE L2/Ship#10/LINE"},
		{name: "attributes change while no PLAN step froze the order", steps: []*engine.StepRecord{shipB1, kitB3}, attrs: true},
		{name: "the whole order frozen: a line added", steps: []*engine.StepRecord{invoice}, delta: LineDelta{Added: []string{"N"}},
			added: []*engine.DecomposedLine{added("N", "", "")}, want: "N/Invoice#12/ORDER",
			message: `line "N": step "Invoice" (12) is past its point of no return, which freezes the whole order`},
		{name: "the whole order frozen: any line changed", steps: []*engine.StepRecord{invoice}, delta: LineDelta{Changed: []string{"B3/HW"}},
			want: "B3/HW/Invoice#12/ORDER"},
		{name: "the whole order frozen: its attributes changed", steps: []*engine.StepRecord{invoice}, attrs: true,
			want: "/Invoice#12/ORDER", message: `the order's attributes: step "Invoice" (12) is past its point of no return, which freezes the whole order`},
		{name: "the whole order frozen: lines and attributes changed, the lines refused", steps: []*engine.StepRecord{invoice}, attrs: true,
			delta: LineDelta{Removed: []string{"L2"}}, want: "L2/Invoice#12/ORDER"},
		{name: "the whole order frozen: nothing changes, nothing refused", steps: []*engine.StepRecord{invoice}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lines := frozenLines()
			f := FrozenParts(cat, tt.steps, frozenItems(), lines)
			var next []*engine.DecomposedLine
			for _, l := range lines {
				if !slices.Contains(tt.delta.Removed, l.ID) {
					next = append(next, l)
				}
			}
			next = append(next, tt.added...)
			rs := f.Refusals(tt.delta, next, tt.attrs)
			var got []string
			for _, r := range rs {
				got = append(got, fmt.Sprintf("%s/%s#%d/%s", r.LineID, r.StepName, r.StepID, r.Scope))
			}
			if g := strings.Join(got, " "); g != tt.want {
				t.Errorf("refusals:\n got %s\nwant %s", g, tt.want)
			}
			if tt.message != "" && (len(rs) == 0 || rs[0].Message != tt.message) {
				t.Errorf("message: %+v; want %q", rs, tt.message)
			}
			for _, r := range rs {
				if r.LineID != "" && !strings.HasPrefix(r.Message, fmt.Sprintf("line %q: ", r.LineID)) {
					t.Errorf("refusal %+v does not name its line", r)
				}
			}
		})
	}
}

// --- DiffPlan ---

// diffStep is a step record for the DiffPlan tests.
func diffStep(id int, name string, typ engine.StepType, scope engine.Scope, instance string, status engine.StepStatus) *engine.StepRecord {
	return &engine.StepRecord{ID: id, Name: name, Type: typ, Scope: scope, InstanceKey: instance, Status: status}
}

func TestDiffPlanStep(t *testing.T) {
	cat := reviseCat(t)
	type outcome string
	const (
		kept, cancelled, compensated, retained, settling, nothing outcome = "kept", "cancelled", "compensated", "retained", "settling", "nothing"
	)
	item := "ITEM:ship:L2"
	tests := []struct {
		name         string
		step         *engine.StepRecord
		alive        bool // the revised plan still has it
		want         outcome
		compensation string
	}{
		{"still applies, whatever its state", diffStep(1, "Ship", engine.Callout, engine.ScopeItem, item, engine.StepRunning), true, kept, ""},
		{"still applies, pending", diffStep(1, "Pack", engine.AutoTask, engine.ScopeItem, item, engine.StepPending), true, kept, ""},
		{"account steps are the account's", diffStep(1, "Welcome", engine.AutoTask, engine.ScopeAccount, "ACCOUNT:acme", engine.StepPending), false, kept, ""},
		{"account steps are the account's, completed", diffStep(1, "Welcome", engine.AutoTask, engine.ScopeAccount, "ACCOUNT:acme", engine.StepCompleted), false, kept, ""},
		{"a compensation an earlier revision made", diffStep(1, "Unship", engine.Callout, engine.ScopeItem, "UNDO:7", engine.StepReady), false, kept, ""},
		{"an onAmend step an earlier revision made", diffStep(1, "Notify", engine.AutoTask, engine.ScopePlan, "AMEND:2", engine.StepPending), false, kept, ""},
		{"an onCancel step an earlier revision made", diffStep(1, "Confirm", engine.ManualTask, engine.ScopePlan, "CANCEL:2", engine.StepWaiting), false, kept, ""},
		{"a step the catalog does not know", diffStep(1, "Gone", engine.AutoTask, engine.ScopePlan, "PLAN", engine.StepReady), false, kept, ""},
		{"completed, with a compensation", diffStep(1, "Reserve", engine.Callout, engine.ScopeItem, item, engine.StepCompleted), false, compensated, "Unreserve"},
		{"completed PLAN step with a compensation", diffStep(1, "Invoice", engine.Callout, engine.ScopePlan, "PLAN", engine.StepCompleted), false, compensated, "CreditNote"},
		{"completed BUNDLE step with a compensation", diffStep(1, "Kit", engine.AutoTask, engine.ScopeBundle, "BUNDLE:B1", engine.StepCompleted), false, compensated, "Unkit"},
		{"completed, nothing to undo", diffStep(1, "Pack", engine.AutoTask, engine.ScopeItem, item, engine.StepCompleted), false, retained, ""},
		{"completed milestone", diffStep(1, "Done", engine.Milestone, engine.ScopePlan, "PLAN", engine.StepCompleted), false, retained, ""},
		{"a callout in flight settles", diffStep(1, "Ship", engine.Callout, engine.ScopeItem, item, engine.StepRunning), false, settling, "Unship"},
		{"a callout waiting for its answer settles", diffStep(1, "Activate", engine.Callout, engine.ScopeItem, "ITEM:lic:B1/LIC", engine.StepWaiting), false, settling, "Revoke"},
		{"a running step without compensation settles", diffStep(1, "Pack", engine.AutoTask, engine.ScopeItem, item, engine.StepRunning), false, settling, ""},
		{"a waiting manual task is cancelled", diffStep(1, "Approve", engine.ManualTask, engine.ScopePlan, "PLAN", engine.StepWaiting), false, cancelled, ""},
		{"a waiting pause is cancelled", diffStep(1, "Hold", engine.Pause, engine.ScopePlan, "PLAN", engine.StepWaiting), false, cancelled, ""},
		{"pending", diffStep(1, "Done", engine.Milestone, engine.ScopePlan, "PLAN", engine.StepPending), false, cancelled, ""},
		{"ready", diffStep(1, "Reserve", engine.Callout, engine.ScopeItem, item, engine.StepReady), false, cancelled, ""},
		{"on hold", diffStep(1, "Reserve", engine.Callout, engine.ScopeItem, item, engine.StepOnHold), false, cancelled, ""},
		{"failed", diffStep(1, "Reserve", engine.Callout, engine.ScopeItem, item, engine.StepFailed), false, cancelled, ""},
		{"fallout", diffStep(1, "Ship", engine.Callout, engine.ScopeItem, item, engine.StepFallout), false, cancelled, ""},
		{"already cancelled: nothing to do", diffStep(1, "Reserve", engine.Callout, engine.ScopeItem, item, engine.StepCancelled), false, nothing, ""},
		{"skipped: nothing to do", diffStep(1, "Reserve", engine.Callout, engine.ScopeItem, item, engine.StepSkipped), false, nothing, ""},
	}
	for _, tt := range tests {
		for _, cancel := range []bool{false, true} {
			if cancel && tt.alive {
				continue // a cancellation has no revised plan
			}
			in := &DiffInput{Cat: cat, Steps: []*engine.StepRecord{tt.step}}
			if !cancel {
				in.Graph = &PlanGraph{}
				if tt.alive {
					in.Graph.Steps = []*PlannedStep{{Key: tt.step.Name + "|" + tt.step.InstanceKey, Def: cat.Step(tt.step.Name),
						Existing: &engine.ExistingStep{ID: tt.step.ID, Name: tt.step.Name, Status: tt.step.Status}, Status: tt.step.Status}}
				}
			}
			ch := DiffPlan(in)
			d := ch.Diff
			lists := map[outcome][]engine.DiffStep{kept: d.Kept, cancelled: d.Cancelled, compensated: d.Compensated, retained: d.Retained, settling: d.Settling}
			got, n := nothing, 0
			for o, l := range lists {
				n += len(l)
				if len(l) == 1 {
					got = o
				}
			}
			if n > 1 {
				t.Errorf("%s (cancel %v): in %d lists: %+v", tt.name, cancel, n, d)
			}
			if got != tt.want {
				t.Errorf("%s (cancel %v): %s; want %s", tt.name, cancel, got, tt.want)
				continue
			}
			if got != nothing {
				ds := lists[got][0]
				want := engine.DiffStep{ID: tt.step.ID, Name: tt.step.Name, InstanceKey: tt.step.InstanceKey, Status: tt.step.Status, Compensation: tt.compensation}
				if ds != want {
					t.Errorf("%s (cancel %v): %+v; want %+v", tt.name, cancel, ds, want)
				}
			}
			acts := map[outcome][]*engine.StepRecord{cancelled: ch.Cancel, compensated: ch.Compensate, settling: ch.Settle}
			for o, l := range acts {
				if want := o == tt.want; want != (len(l) == 1 && l[0] == tt.step) || (!want && len(l) != 0) {
					t.Errorf("%s (cancel %v): Change.%s = %v", tt.name, cancel, o, l)
				}
			}
			if len(d.Added) != 0 {
				t.Errorf("%s: added %+v", tt.name, d.Added)
			}
		}
	}
}

func TestDiffPlanWhole(t *testing.T) {
	cat := reviseCat(t)
	steps := []*engine.StepRecord{
		diffStep(9, "Done", engine.Milestone, engine.ScopePlan, "PLAN", engine.StepPending),
		diffStep(1, "Start", engine.AutoTask, engine.ScopePlan, "PLAN", engine.StepCompleted),
		diffStep(3, "Reserve", engine.Callout, engine.ScopeItem, "ITEM:ship:L2", engine.StepCompleted),
		diffStep(4, "Pack", engine.AutoTask, engine.ScopeItem, "ITEM:ship:L2", engine.StepCompleted),
		diffStep(5, "Ship", engine.Callout, engine.ScopeItem, "ITEM:ship:L2", engine.StepRunning),
		diffStep(2, "Welcome", engine.AutoTask, engine.ScopeAccount, "ACCOUNT:acme", engine.StepCompleted),
		diffStep(6, "Approve", engine.ManualTask, engine.ScopePlan, "PLAN", engine.StepWaiting),
		diffStep(7, "Reserve", engine.Callout, engine.ScopeItem, "ITEM:ship:B1/HW", engine.StepCompleted),
	}
	existing := func(id int) *engine.ExistingStep {
		for _, s := range steps {
			if s.ID == id {
				return &engine.ExistingStep{ID: id, Name: s.Name, Status: s.Status}
			}
		}
		panic(id)
	}
	planned := func(name, instance string, status engine.StepStatus, ex *engine.ExistingStep) *PlannedStep {
		return &PlannedStep{Key: name + "|" + instance, Def: cat.Step(name), InstanceKey: instance, Status: status, Existing: ex}
	}
	// L2 changed: its steps are redone on ship:L2@r2; Start, Done and B1's Reserve stay.
	graph := &PlanGraph{Steps: []*PlannedStep{
		planned("Start", "PLAN", engine.StepCompleted, existing(1)),
		planned("Reserve", "ITEM:ship:B1/HW", engine.StepCompleted, existing(7)),
		planned("Reserve", "ITEM:ship:L2@r2", engine.StepReady, nil),
		planned("Pack", "ITEM:ship:L2@r2", engine.StepPending, nil),
		planned("Done", "PLAN", engine.StepPending, existing(9)),
		planned("Welcome", "ACCOUNT:acme", engine.StepCompleted, existing(2)),
	}}
	refused := []engine.Refusal{{LineID: "X", StepID: 1}}
	in := &DiffInput{Cat: cat, Steps: steps, Graph: graph, Lines: LineDelta{Changed: []string{"L2"}, Added: []string{"L3"}, Removed: []string{"L4"}},
		AttributesChanged: true, Refused: refused}
	ch := DiffPlan(in)
	d := ch.Diff
	ids := func(l []engine.DiffStep) string {
		var out []string
		for _, s := range l {
			out = append(out, fmt.Sprintf("%s#%d", s.Name, s.ID))
		}
		return strings.Join(out, " ")
	}
	recIDs := func(l []*engine.StepRecord) string {
		var out []string
		for _, s := range l {
			out = append(out, fmt.Sprint(s.ID))
		}
		return strings.Join(out, " ")
	}
	for _, c := range []struct{ what, got, want string }{
		{"kept (in id order)", ids(d.Kept), "Start#1 Welcome#2 Reserve#7 Done#9"},
		{"compensated", ids(d.Compensated), "Reserve#3"},
		{"retained", ids(d.Retained), "Pack#4"},
		{"settling", ids(d.Settling), "Ship#5"},
		{"cancelled", ids(d.Cancelled), "Approve#6"},
		{"added (in plan order, as created)", fmt.Sprint(d.Added), "[{0 Reserve ITEM:ship:L2@r2 READY } {0 Pack ITEM:ship:L2@r2 PENDING }]"},
		{"Change.Compensate", recIDs(ch.Compensate), "3"},
		{"Change.Settle", recIDs(ch.Settle), "5"},
		{"Change.Cancel", recIDs(ch.Cancel), "6"},
		{"lines", fmt.Sprint(d.LinesAdded, d.LinesChanged, d.LinesRemoved, d.AttributesChanged), "[L3] [L2] [L4] true"},
		{"refused", fmt.Sprint(d.Refused), fmt.Sprint(refused)},
	} {
		if c.got != c.want {
			t.Errorf("%s: %s; want %s", c.what, c.got, c.want)
		}
	}
	if d.Empty() {
		t.Error("diff reports itself empty")
	}
	// The input's order is left alone.
	if steps[0].ID != 9 {
		t.Error("DiffPlan sorted its input")
	}

	// The same plan revised to itself: everything kept, the diff empty.
	same := &PlanGraph{}
	for _, s := range steps {
		same.Steps = append(same.Steps, planned(s.Name, s.InstanceKey, s.Status, existing(s.ID)))
	}
	ch = DiffPlan(&DiffInput{Cat: cat, Steps: steps, Graph: same})
	if !ch.Diff.Empty() || len(ch.Diff.Kept) != len(steps) || len(ch.Cancel)+len(ch.Compensate)+len(ch.Settle) != 0 {
		t.Errorf("unchanged plan: %+v", ch.Diff)
	}
}

// --- RevisionRows ---

func TestRevisionRows(t *testing.T) {
	cat := reviseCat(t)
	done := func(id int, name, scenario string, scope engine.Scope, itemID int, bundle string) *engine.StepRecord {
		return &engine.StepRecord{ID: id, Name: name, Scenario: scenario, Scope: scope, ItemID: itemID, BundleKey: bundle, Status: engine.StepCompleted}
	}
	reserve := done(3, "Reserve", "main", engine.ScopeItem, 5, "L2")
	ship := done(5, "Ship", "main", engine.ScopeItem, 5, "L2")
	kit := done(6, "Kit", "main", engine.ScopeBundle, 0, "B1")
	invoice := done(8, "Invoice", "main", engine.ScopePlan, 0, "")
	activate := done(7, "Activate", "main", engine.ScopeItem, 4, "B1")
	// Steps of the plan: 1 Start, 3 Reserve, 4 Pack, 5 Ship (item L2); 7
	// Activate; 6 Kit; 8 Invoice; 9 Done. Reserve <- Start, Pack <- Reserve,
	// Ship <- Pack, Done <- everything.
	deps := [][2]int{{3, 1}, {4, 3}, {5, 4}, {9, 5}, {9, 6}, {9, 7}, {9, 8}}
	tests := []struct {
		name       string
		compensate []*engine.StepRecord
		deps       [][2]int
		kind       engine.RevisionKind
		scenarios  []string
		rev, pos   int
		// steps: "[group@position] Name|instance STATUS pending=N" with
		// undoes=id, bundle= and item= when set; wantDeps: "step <- prereq".
		steps, wantDeps []string
	}{
		{name: "nothing to undo, no scenario", kind: engine.RevisionAmend, rev: 2},
		{name: "a scenario without onAmend steps", kind: engine.RevisionAmend, scenarios: []string{"quiet"}, rev: 2},
		{name: "an unknown scenario is skipped", kind: engine.RevisionAmend, scenarios: []string{"nope"}, rev: 2},
		{name: "one compensation, READY at once", compensate: []*engine.StepRecord{ship}, deps: deps, kind: engine.RevisionAmend, rev: 2, pos: 3,
			steps: []string{"[Compensation (revision 2)@3 main] Unship|UNDO:5 CALLOUT READY undoes=5 bundle=L2 item=5"}},
		{name: "a chain compensates in reverse: Ship before Reserve (through Pack, which has none)",
			compensate: []*engine.StepRecord{reserve, ship}, deps: deps, kind: engine.RevisionAmend, rev: 2, pos: 3,
			steps: []string{
				"[Compensation (revision 2)@3 main] Unreserve|UNDO:3 CALLOUT PENDING pending=1 undoes=3 bundle=L2 item=5",
				"[Compensation (revision 2)@3 main] Unship|UNDO:5 CALLOUT READY undoes=5 bundle=L2 item=5",
			},
			wantDeps: []string{"Unreserve|UNDO:3 <- Unship|UNDO:5"}},
		{name: "steps that do not wait for each other compensate side by side",
			compensate: []*engine.StepRecord{kit, activate, invoice}, deps: deps, kind: engine.RevisionCancel, rev: 3, pos: 1,
			steps: []string{
				"[Compensation (revision 3)@1 main] Unkit|UNDO:6 MANUAL_TASK READY undoes=6 bundle=B1 queue=returns/ann",
				"[Compensation (revision 3)@1 main] Revoke|UNDO:7 AUTO_TASK READY undoes=7 bundle=B1 item=4",
				"[Compensation (revision 3)@1 main] CreditNote|UNDO:8 CALLOUT READY undoes=8",
			}},
		{name: "onAmend steps wait for every compensation",
			compensate: []*engine.StepRecord{reserve, ship}, deps: deps, kind: engine.RevisionAmend, scenarios: []string{"main"}, rev: 4, pos: 5,
			steps: []string{
				"[Compensation (revision 4)@5 main] Unreserve|UNDO:3 CALLOUT PENDING pending=1 undoes=3 bundle=L2 item=5",
				"[Compensation (revision 4)@5 main] Unship|UNDO:5 CALLOUT READY undoes=5 bundle=L2 item=5",
				"[On amend (revision 4)@6 main] Notify|AMEND:4 AUTO_TASK PENDING pending=2",
			},
			wantDeps: []string{"Notify|AMEND:4 <- Unreserve|UNDO:3", "Notify|AMEND:4 <- Unship|UNDO:5", "Unreserve|UNDO:3 <- Unship|UNDO:5"}},
		{name: "onAmend steps READY when nothing is compensated; one group per scenario",
			kind: engine.RevisionAmend, scenarios: []string{"main", "extra"}, rev: 2, pos: 2,
			steps: []string{
				"[On amend (revision 2)@2 main] Notify|AMEND:2 AUTO_TASK READY",
				"[On amend (revision 2)@3 extra] AuditAmend|AMEND:2 AUTO_TASK READY",
			}},
		{name: "onCancel steps, not onAmend, on a cancellation",
			compensate: []*engine.StepRecord{invoice}, deps: deps, kind: engine.RevisionCancel, scenarios: []string{"main", "extra"}, rev: 2, pos: 4,
			steps: []string{
				"[Compensation (revision 2)@4 main] CreditNote|UNDO:8 CALLOUT READY undoes=8",
				"[On cancel (revision 2)@5 main] Confirm|CANCEL:2 MANUAL_TASK PENDING pending=1 queue=sales/",
				"[On cancel (revision 2)@5 main] Bye|CANCEL:2 CALLOUT PENDING pending=1",
			},
			wantDeps: []string{"Bye|CANCEL:2 <- CreditNote|UNDO:8", "Confirm|CANCEL:2 <- CreditNote|UNDO:8"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rows := RevisionRows(cat, tt.compensate, tt.deps, tt.kind, tt.scenarios, tt.rev, tt.pos)
			var steps []string
			key := func(s *engine.NewStep) string { return s.Name + "|" + s.InstanceKey }
			for _, s := range rows.Steps {
				line := fmt.Sprintf("[%s@%d %s] %s %s %s", s.Group.Name, s.Group.Position, s.Group.Scenario, key(s), s.Type, s.Status)
				if s.Pending > 0 {
					line += fmt.Sprintf(" pending=%d", s.Pending)
				}
				if s.Compensates != 0 {
					line += fmt.Sprintf(" undoes=%d", s.Compensates)
				}
				if s.BundleKey != "" {
					line += " bundle=" + s.BundleKey
				}
				if s.Item != nil {
					line += fmt.Sprintf(" item=%d", s.Item.ID)
				}
				if s.Queue != "" {
					line += " queue=" + s.Queue + "/" + s.Assignee
				}
				steps = append(steps, line)
				if !slices.Contains(rows.Groups, s.Group) {
					t.Errorf("step %s: group %s is not among the rows' groups", key(s), s.Group.Name)
				}
				if s.Scenario != s.Group.Scenario {
					t.Errorf("step %s: scenario %s, group's %s", key(s), s.Scenario, s.Group.Scenario)
				}
				if s.Type == engine.Callout && s.System != "erp" {
					t.Errorf("step %s: system %q", key(s), s.System)
				}
			}
			if strings.Join(steps, "\n") != strings.Join(tt.steps, "\n") {
				t.Errorf("steps:\n got %s\nwant %s", strings.Join(steps, "\n     "), strings.Join(tt.steps, "\n     "))
			}
			var deps []string
			for _, d := range rows.Deps {
				if d.Step == nil || d.Prereq == nil {
					t.Fatalf("a dependency on an existing step: %+v", d)
				}
				deps = append(deps, key(d.Step)+" <- "+key(d.Prereq))
			}
			sort.Strings(deps)
			if strings.Join(deps, "\n") != strings.Join(tt.wantDeps, "\n") {
				t.Errorf("deps:\n got %s\nwant %s", strings.Join(deps, "\n     "), strings.Join(tt.wantDeps, "\n     "))
			}
			for i, g := range rows.Groups {
				if g.Position != tt.pos+i {
					t.Errorf("group %s at %d; want %d", g.Name, g.Position, tt.pos+i)
				}
			}
		})
	}
}

// TestRevisionRowsChain: a chain A → B → C of completed steps (C waits for
// B, B for A) compensates C first, then B, then A; when B has nothing to
// undo, A's compensation still waits for C's (the order is transitive).
func TestRevisionRowsChain(t *testing.T) {
	cat := reviseCat(t)
	rec := func(id int, name string) *engine.StepRecord {
		return &engine.StepRecord{ID: id, Name: name, Scenario: "main", Scope: engine.ScopePlan, Status: engine.StepCompleted}
	}
	// A, B, C and D are steps with compensations (Reserve: Unreserve, Ship:
	// Unship, Activate: Revoke, Invoice: CreditNote); the dependencies
	// between them are given by id, as the store has them.
	a, b, c, d := rec(1, "Reserve"), rec(2, "Ship"), rec(3, "Activate"), rec(4, "Invoice")
	tests := []struct {
		name       string
		compensate []*engine.StepRecord
		deps       [][2]int
		want       []string
		pending    map[string]int
	}{
		{"A → B → C, all compensated", []*engine.StepRecord{a, b, c}, [][2]int{{2, 1}, {3, 2}},
			[]string{"Unreserve <- Revoke", "Unreserve <- Unship", "Unship <- Revoke"},
			map[string]int{"Revoke": 0, "Unship": 1, "Unreserve": 2}},
		{"A → B → C, given in another order", []*engine.StepRecord{c, a, b}, [][2]int{{3, 2}, {2, 1}},
			[]string{"Unreserve <- Revoke", "Unreserve <- Unship", "Unship <- Revoke"},
			map[string]int{"Revoke": 0, "Unship": 1, "Unreserve": 2}},
		{"A → B → C, B has no compensation", []*engine.StepRecord{a, c}, [][2]int{{2, 1}, {3, 2}},
			[]string{"Unreserve <- Revoke"},
			map[string]int{"Revoke": 0, "Unreserve": 1}},
		{"A → X → Y → C: two steps between without compensation", []*engine.StepRecord{a, c}, [][2]int{{10, 1}, {11, 10}, {3, 11}},
			[]string{"Unreserve <- Revoke"},
			map[string]int{"Revoke": 0, "Unreserve": 1}},
		{"a diamond: A before B and C, both before D", []*engine.StepRecord{a, b, c, d}, [][2]int{{2, 1}, {3, 1}, {4, 2}, {4, 3}},
			[]string{"Revoke <- CreditNote", "Unreserve <- CreditNote", "Unreserve <- Revoke", "Unreserve <- Unship", "Unship <- CreditNote"},
			map[string]int{"CreditNote": 0, "Unship": 1, "Revoke": 1, "Unreserve": 3}},
		{"unrelated steps: no order between them", []*engine.StepRecord{a, d}, [][2]int{{2, 1}, {3, 2}},
			nil, map[string]int{"Unreserve": 0, "CreditNote": 0}},
		{"a cycle in the stored dependencies does not hang", []*engine.StepRecord{a, c}, [][2]int{{2, 1}, {1, 2}, {3, 2}},
			[]string{"Unreserve <- Revoke"}, map[string]int{"Revoke": 0, "Unreserve": 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rows := RevisionRows(cat, tt.compensate, tt.deps, engine.RevisionCancel, nil, 2, 0)
			var deps []string
			for _, d := range rows.Deps {
				deps = append(deps, d.Step.Name+" <- "+d.Prereq.Name)
			}
			sort.Strings(deps)
			if fmt.Sprint(deps) != fmt.Sprint(tt.want) {
				t.Errorf("deps %v; want %v", deps, tt.want)
			}
			if len(rows.Steps) != len(tt.pending) {
				t.Errorf("%d steps; want %d", len(rows.Steps), len(tt.pending))
			}
			for _, s := range rows.Steps {
				want, ok := tt.pending[s.Name]
				if !ok || s.Pending != want {
					t.Errorf("%s: pending %d; want %d", s.Name, s.Pending, want)
				}
				if (s.Pending == 0) != (s.Status == engine.StepReady) || (s.Pending > 0 && s.Status != engine.StepPending) {
					t.Errorf("%s: pending %d, status %s", s.Name, s.Pending, s.Status)
				}
			}
		})
	}
}

// A changed line that moves into a frozen bundle is refused like an added
// one.
func TestFrozenMovedIntoFrozenBundle(t *testing.T) {
	cat := reviseCat(t)
	lines := frozenLines()
	f := FrozenParts(cat, []*engine.StepRecord{srec(11, "Kit", engine.ScopeBundle, 0, "B1", engine.StepCompleted, 1)}, frozenItems(), lines)
	next := frozenLines()
	for _, l := range next {
		if l.ID == "L2" {
			l.ParentID, l.Bundle = "B1", "B1"
		}
	}
	if rs := f.Refusals(DiffLines(lines, next), next, false); len(rs) == 0 {
		t.Errorf("L2 moved into frozen bundle B1: no refusal")
	}
}
