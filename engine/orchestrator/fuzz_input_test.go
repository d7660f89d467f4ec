package orchestrator

import (
	"encoding/json"
	"errors"
	"github.com/batonhq/baton/engine"
	"github.com/batonhq/baton/engine/catalog"
	"github.com/batonhq/baton/engine/plan"
	"os"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// fuzzEpoch is the fake clock's time in the fuzz tests.
var fuzzEpoch = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

// FuzzOrderInput sends arbitrary orders through what submitOrder does
// before it writes: normalisation, the input rules (input.go), the
// catalog's rules (ValidateOrder), the input hash, decomposition and
// planning, against the example catalog. Nothing may panic; every refusal
// is BAD_USER_INPUT; and what is accepted is storable on every backend: no
// NUL, valid UTF-8, ids within IDLength, values within ValueDepth.
//
// The order comes as the fuzzer's strings and bytes: externalId and
// accountId as they are, attributes as a JSON object (ignored when the
// bytes are not one) and lines as a JSON list of OrderLineInput-shaped
// objects (when the bytes are not one, they become the id of one line).
//
//	go test -run '^$' -fuzz '^FuzzOrderInput$' -fuzztime 20s ./engine
func FuzzOrderInput(f *testing.F) {
	doc, err := os.ReadFile("../../examples/pro-server-package.yaml")
	if err != nil {
		f.Fatal(err)
	}
	e := New(Config{Clock: engine.NewFakeClock(fuzzEpoch)})
	cat, err := catalog.CompileCatalog(string(doc), e.catalogOptions())
	if err != nil {
		f.Fatalf("compile the example catalog: %v", err)
	}
	lim := e.limits

	f.Add("ext-1", "acme", []byte(`{"shipTo":"1 Main St"}`), []byte(`[{"id":"L1","productCode":"PRO-SERVER-PKG","quantity":1}]`))
	f.Add("ext-2", "acme", []byte(`{}`), []byte(`[{"id":"L1","productCode":"PRO-SERVER-PKG"},{"id":"L2","productCode":"SW-LIC","parentId":"L1","attributes":{"seats":5}}]`))
	f.Add("ext-3", "acme", []byte(`{"region":"a\u0000b"}`), []byte(`[{"id":"L1","productCode":"SRV-HW","quantity":2147483648}]`))
	f.Add("e\x00", "a\xff", []byte(`{"k\u0000":{"x":[1,2,{"y":null}]}}`), []byte("L\x00"))
	f.Add("ext-4", "acme", []byte(`{"a":{"a":{"a":{"a":{"a":{"a":{"a":{"a":{"a":{"a":{"a":{"a":{"a":{"a":{"a":{"a":{"a":{"a":{"a":{"a":{"a":{"a":{"a":{"a":{"a":{"a":{"a":{"a":{"a":{"a":{"a":{"a":{"a":1}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}`), []byte(`[]`))
	f.Add("ext-5", "acme", []byte(`{"n":1e308,"m":-0.5}`), []byte(`[{"id":"A","productCode":"PRO-SERVER-PKG","parentId":"B"},{"id":"B","productCode":"SRV-HW","parentId":"A"}]`))
	f.Add("ext-6", "acme", []byte(`null`), []byte(`[{"id":"L1","productCode":"SRV-HW","action":"CHANGE","assetId":7},{"id":"L1","productCode":"SRV-HW","action":"BOGUS"}]`))
	f.Add(strings.Repeat("x", 300), "", []byte(`{"seats":"many"}`), []byte(`[{"id":"L1","productCode":"SW-LIC","quantity":-1,"attributes":{"seats":"x"}}]`))

	f.Fuzz(func(t *testing.T, externalID, accountID string, attrs, lines []byte) {
		in := engine.OrderInput{ExternalID: externalID, AccountID: accountID}
		if m, err := engine.DecodeJSONObject(attrs); err == nil {
			in.Attributes = m
		}
		if err := json.Unmarshal(lines, &in.Lines); err != nil {
			in.Lines = []engine.LineInput{{ID: string(lines), ProductCode: "PRO-SERVER-PKG", Quantity: 1}}
		}
		normalize(&in)
		if err := checkOrderInput(&in, lim); err != nil {
			wantBadInput(t, "checkOrderInput", err)
			return
		}
		storable(t, &in, lim)
		if err := plan.ValidateOrder(cat, &in); err != nil {
			wantBadInput(t, "ValidateOrder", err)
			return
		}
		_ = inputHash(&in) // panics on a value JSON cannot encode
		if _, _, err := e.decomposeAndPlan(cat, &in, &engine.AccountState{ID: in.AccountID}); err != nil {
			wantBadInput(t, "decomposeAndPlan", err)
		}
	})
}

func wantBadInput(t *testing.T, what string, err error) {
	t.Helper()
	var e *engine.Error
	if !errors.As(err, &e) || e.Code != engine.CodeBadUserInput {
		t.Fatalf("%s: err = %v (code %s); want BAD_USER_INPUT", what, err, engine.ErrorCode(err))
	}
	if len(err.Error()) > 4096 {
		t.Fatalf("%s: the error is %d bytes long", what, len(err.Error()))
	}
}

// storable checks, independently of input.go, that an accepted order is
// what PostgreSQL stores as SQLite does.
func storable(t *testing.T, in *engine.OrderInput, lim engine.Limits) {
	t.Helper()
	str := func(what, s string, max int) {
		if strings.IndexByte(s, 0) >= 0 || !utf8.ValidString(s) || len(s) > max {
			t.Fatalf("accepted %s %q: NUL, invalid UTF-8 or longer than %d", what, s, max)
		}
	}
	var value func(what string, v any, depth int)
	value = func(what string, v any, depth int) {
		switch x := v.(type) {
		case string:
			str(what, x, lim.TextLength)
		case map[string]any:
			if depth > lim.ValueDepth {
				t.Fatalf("accepted %s nested %d deep", what, depth)
			}
			for k, e := range x {
				str(what+" key", k, lim.IDLength)
				value(what, e, depth+1)
			}
		case []any:
			if depth > lim.ValueDepth {
				t.Fatalf("accepted %s nested %d deep", what, depth)
			}
			for _, e := range x {
				value(what, e, depth+1)
			}
		}
	}
	str("externalId", in.ExternalID, lim.IDLength)
	str("accountId", in.AccountID, lim.IDLength)
	value("attributes", in.Attributes, 1)
	if len(in.Lines) > lim.OrderLines {
		t.Fatalf("accepted %d lines", len(in.Lines))
	}
	for _, l := range in.Lines {
		str("line id", l.ID, lim.IDLength)
		str("product code", l.ProductCode, lim.IDLength)
		str("parent id", l.ParentID, lim.IDLength)
		value("line attributes", l.Attributes, 1)
		if l.Quantity > QuantityMax {
			t.Fatalf("accepted quantity %d", l.Quantity)
		}
	}
	if _, err := json.Marshal(in); err != nil {
		t.Fatalf("accepted an order JSON cannot encode: %v", err)
	}
}
