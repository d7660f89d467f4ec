package graph_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	neturl "net/url"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/batonhq/baton/engine/enginetest"
	"github.com/batonhq/baton/ent"
	"github.com/batonhq/baton/ent/event"
	"github.com/batonhq/baton/graph"
)

// ---------------------------------------------------------------- catalog

const catalogQuery = `{ catalog { id version current checksum
	summary { systems products scenarios steps } } }`

type catalogVersion struct {
	ID       string
	Version  int
	Current  bool
	Checksum string
	Summary  struct {
		Systems, Products, Scenarios []string
		Steps                        int
	}
}

func TestImportCatalog(t *testing.T) {
	t.Parallel()
	enginetest.EachBackend(t, func(t *testing.T, url string) {
		e := newEnv(t, url, envOptions{catalog: "-"})
		var none struct{ Catalog *catalogVersion }
		e.do(catalogQuery, nil, &none)
		if none.Catalog != nil {
			t.Errorf("catalog before any import = %+v; want null", none.Catalog)
		}

		// Orders need a catalog.
		r := e.post(submitMutation, map[string]any{"in": proServerInput("too-early", "acme")})
		expectError(t, r, "NOT_FOUND")
		e.expectNothingWritten("after submitOrder without a catalog")

		const mutation = `mutation($doc: String!) { importCatalog(document: $doc) { id version current
			summary { systems products scenarios steps } } }`
		doc := enginetest.ExampleCatalog(t)
		var first, second struct{ ImportCatalog catalogVersion }
		e.do(mutation, map[string]any{"doc": doc}, &first)
		if first.ImportCatalog.Version != 1 || !first.ImportCatalog.Current {
			t.Errorf("first import = version %d current %v; want version 1, current", first.ImportCatalog.Version, first.ImportCatalog.Current)
		}
		e.do(mutation, map[string]any{"doc": doc}, &second)
		if second.ImportCatalog.Version != 2 || !second.ImportCatalog.Current {
			t.Errorf("second import = version %d current %v; want version 2, current", second.ImportCatalog.Version, second.ImportCatalog.Current)
		}
		if second.ImportCatalog.ID == first.ImportCatalog.ID {
			t.Errorf("both imports have id %s", first.ImportCatalog.ID)
		}

		var cur struct{ Catalog *catalogVersion }
		e.do(catalogQuery, nil, &cur)
		c := cur.Catalog
		if c == nil {
			t.Fatal("catalog = null after two imports")
		}
		if c.ID != second.ImportCatalog.ID || c.Version != 2 || !c.Current {
			t.Errorf("catalog = id %s version %d current %v; want id %s version 2 current", c.ID, c.Version, c.Current, second.ImportCatalog.ID)
		}
		if len(c.Checksum) != 64 {
			t.Errorf("checksum %q; want a sha256 hex digest", c.Checksum)
		}
		s := c.Summary
		wantSystems := []string{"billing", "erp", "fieldservice", "licensing", "shipping"}
		got := slices.Sorted(slices.Values(s.Systems))
		if !slices.Equal(got, wantSystems) {
			t.Errorf("summary.systems = %v; want %v", s.Systems, wantSystems)
		}
		if len(s.Products) != 8 || !slices.Contains(s.Products, "PRO-SERVER-PKG") || !slices.Contains(s.Products, "TP-SUPPORT") {
			t.Errorf("summary.products = %v; want the 8 products of the example", s.Products)
		}
		if !slices.Equal(s.Scenarios, []string{"server-fulfillment"}) {
			t.Errorf("summary.scenarios = %v; want [server-fulfillment]", s.Scenarios)
		}
		if s.Steps != 12 {
			t.Errorf("summary.steps = %d; want 12", s.Steps)
		}

		// The older version is no longer current.
		var old struct {
			Node struct {
				Version int
				Current bool
			}
		}
		e.do(`query($id: ID!) { node(id: $id) { ... on CatalogVersion { version current } } }`,
			map[string]any{"id": first.ImportCatalog.ID}, &old)
		if old.Node.Version != 1 || old.Node.Current {
			t.Errorf("version 1 after importing version 2: version %d current %v; want not current", old.Node.Version, old.Node.Current)
		}
	})
}

// invalidCatalog has several independent problems; every one must be
// reported with its path.
const invalidCatalog = `
version: 1
systems:
  erp: {url: "http://127.0.0.1:9/erp", timeout: 1s}
products:
  - {code: BUNDLE, type: COMMERCIAL, components: [{product: NO-SUCH-PART}]}
  - {code: T-SHIP, type: TECHNICAL}
  - {code: ODD, type: WEIRD}
scenarios:
  - name: main
    when: 'hasProduct("BUNDLE")'
    groups:
      - name: G
        steps:
          - {name: Reserve, type: CALLOUT, callout: {system: nowhere, path: /reserve}}
          - {name: Pack, type: AUTO_TASK, auto: {action: no-such-action}}
          - {name: Done, type: MILESTONE}
    dependencies:
      - {step: Done, after: [Ghost]}
`

func TestImportCatalogInvalid(t *testing.T) {
	t.Parallel()
	enginetest.EachBackend(t, func(t *testing.T, url string) {
		e := newEnv(t, url, envOptions{})
		var before struct{ Catalog *catalogVersion }
		e.do(catalogQuery, nil, &before)

		const mutation = `mutation($doc: String!) { importCatalog(document: $doc) { id version } }`
		r := e.post(mutation, map[string]any{"doc": invalidCatalog})
		ge := expectError(t, r, "INVALID_CATALOG")
		if !r.fieldNull("importCatalog") {
			t.Errorf("data = %s; want no catalog version", r.Data)
		}
		// One problem per mistake, each with a path into the document.
		wants := []struct{ pathPrefix, msg string }{
			{"products[0].components[0]", "NO-SUCH-PART"},
			{"products[2].type", "WEIRD"},
			{"scenarios[0].groups[0].steps[0].callout.system", "nowhere"},
			{"scenarios[0].groups[0].steps[1].auto.action", "no-such-action"},
			{"scenarios[0].dependencies[0]", "Ghost"},
		}
		for _, w := range wants {
			found := false
			for _, p := range ge.Extensions.Problems {
				if strings.HasPrefix(p.Path, w.pathPrefix) && strings.Contains(p.Message, w.msg) {
					found = true
				}
			}
			if !found {
				t.Errorf("no problem at %s mentioning %q; problems:\n%s", w.pathPrefix, w.msg, ge)
			}
		}
		for _, p := range ge.Extensions.Problems {
			if p.Path == "" || p.Message == "" {
				t.Errorf("problem without path or message: %+v", p)
			}
		}

		// A document that is not YAML at all is INVALID_CATALOG too.
		e.fail("INVALID_CATALOG", mutation, map[string]any{"doc": "products: [unclosed"})
		e.fail("INVALID_CATALOG", mutation, map[string]any{"doc": ""})

		var after struct{ Catalog *catalogVersion }
		e.do(catalogQuery, nil, &after)
		if after.Catalog == nil || before.Catalog == nil || after.Catalog.ID != before.Catalog.ID || after.Catalog.Version != 1 {
			t.Errorf("catalog after invalid imports = %+v; want unchanged %+v", after.Catalog, before.Catalog)
		}
		if n := e.client.CatalogVersion.Query().CountX(e.ctx); n != 1 {
			t.Errorf("catalog versions stored = %d; want 1 (nothing stored for an invalid document)", n)
		}
	})
}

// ---------------------------------------------------------------- submitOrder

const orderFields = `id externalId accountId status attributes
	lines { lineId productCode quantity status generated parentLineId }
	fulfillmentLines { key productCode scope }
	plan { id status
		groups { name }
		steps { id name type scope status dependsOn { name } } }
	jeopardy falloutCount`

type orderData struct {
	ID         string
	ExternalID string `json:"externalId"`
	AccountID  string `json:"accountId"`
	Status     string
	Attributes map[string]any
	Lines      []struct {
		LineID       string `json:"lineId"`
		ProductCode  string
		Quantity     int
		Status       string
		Generated    bool
		ParentLineID *string `json:"parentLineId"`
	}
	FulfillmentLines []struct {
		Key         string
		ProductCode string
		Scope       string
	} `json:"fulfillmentLines"`
	Plan *struct {
		ID     string
		Status string
		Groups []struct{ Name string }
		Steps  []stepData
	}
	Jeopardy     string
	FalloutCount int `json:"falloutCount"`
}

type stepData struct {
	ID        string
	Name      string
	Type      string
	Scope     string
	Status    string
	DependsOn []struct{ Name string } `json:"dependsOn"`
}

func TestSubmitOrderProServer(t *testing.T) {
	t.Parallel()
	enginetest.EachBackend(t, func(t *testing.T, url string) {
		e := newEnv(t, url, envOptions{})
		var out struct{ SubmitOrder orderData }
		e.do(`mutation($in: SubmitOrderInput!) { submitOrder(input: $in) { `+orderFields+` } }`,
			map[string]any{"in": proServerInput("ext-1", "acme")}, &out)
		o := out.SubmitOrder
		if o.ID == "" || o.ExternalID != "ext-1" || o.AccountID != "acme" {
			t.Errorf("order id %q externalId %q accountId %q; want an id, ext-1, acme", o.ID, o.ExternalID, o.AccountID)
		}
		// CreditCheck ran at submit, so the order is under way.
		if o.Status != "IN_PROGRESS" || o.Plan == nil || o.Plan.Status != "IN_PROGRESS" {
			t.Errorf("order status = %s, plan %+v; want both IN_PROGRESS", o.Status, o.Plan)
		}
		if o.Attributes["shipTo"] != "1 Main St" || o.Attributes["region"] != "EU" {
			t.Errorf("attributes = %v; want shipTo as submitted and region enriched to EU", o.Attributes)
		}
		if len(o.Lines) != 4 {
			t.Errorf("lines = %d; want 4 (bundle + 3 generated components)", len(o.Lines))
		}
		generated := 0
		for _, l := range o.Lines {
			if l.Generated {
				generated++
				if l.ParentLineID == nil || *l.ParentLineID != "L1" {
					t.Errorf("generated line %s has parent %v; want L1", l.LineID, l.ParentLineID)
				}
			}
			if l.Status != "DECOMPOSED" {
				t.Errorf("line %s is %s; want DECOMPOSED", l.LineID, l.Status)
			}
		}
		if generated != 3 {
			t.Errorf("generated lines = %d; want 3", generated)
		}
		if len(o.FulfillmentLines) != 4 {
			t.Errorf("fulfillment lines = %d; want 4", len(o.FulfillmentLines))
		}
		if o.Plan == nil {
			t.Fatal("order has no plan")
		}
		if len(o.Plan.Groups) != 5 {
			t.Errorf("groups = %d; want 5", len(o.Plan.Groups))
		}
		if len(o.Plan.Steps) != 12 {
			t.Errorf("steps = %d; want 12", len(o.Plan.Steps))
		}
		edges := 0
		status := map[string]string{}
		for _, s := range o.Plan.Steps {
			edges += len(s.DependsOn)
			status[s.Name] = s.Status
		}
		if edges != 13 {
			t.Errorf("dependency edges = %d; want 13", edges)
		}
		for name, want := range map[string]string{
			"CreditCheck": "COMPLETED", "WelcomeCall": "COMPLETED",
			"ReserveInventory": "READY", "ActivateLicense": "READY", "ScheduleTechnician": "READY",
			"Pick": "PENDING", "Install": "PENDING", "OrderComplete": "PENDING",
		} {
			if status[name] != want {
				t.Errorf("%s is %s; want %s", name, status[name], want)
			}
		}
		if o.Jeopardy != "ON_TRACK" || o.FalloutCount != 0 {
			t.Errorf("jeopardy %s falloutCount %d; want ON_TRACK 0", o.Jeopardy, o.FalloutCount)
		}
	})
}

const submitMutation = `mutation($in: SubmitOrderInput!) { submitOrder(input: $in) { id } }`

func TestSubmitOrderValidation(t *testing.T) {
	t.Parallel()
	enginetest.EachBackend(t, func(t *testing.T, url string) {
		e := newEnv(t, url, envOptions{})
		line := func(id, product string, extra ...any) map[string]any {
			l := map[string]any{"id": id, "productCode": product}
			for i := 0; i+1 < len(extra); i += 2 {
				l[extra[i].(string)] = extra[i+1]
			}
			return l
		}
		order := func(ext string, lines ...any) map[string]any {
			return map[string]any{"externalId": ext, "accountId": "acme", "lines": append([]any{}, lines...)}
		}
		cases := []struct {
			name  string
			input map[string]any
			path  string
			msg   string
		}{
			{"unknown product", order("x1", line("L1", "NOPE")), "lines[0].productCode", `line "L1": unknown product "NOPE"`},
			{"quantity zero", order("x2", line("L1", "SRV-HW", "quantity", 0)), "lines[0].quantity", `line "L1": quantity must be 1 or more, got 0`},
			{"quantity negative", order("x3", line("L1", "SRV-HW", "quantity", -2)), "lines[0].quantity", `line "L1": quantity must be 1 or more, got -2`},
			{"unknown parent", order("x4", line("L1", "SRV-HW", "parentId", "P")), "lines[0].parentId", `line "L1": unknown parentId "P"`},
			{"duplicate line id", order("x5", line("L1", "SRV-HW"), line("L1", "SW-LIC")), "lines[1].id", `duplicate line id "L1" (also lines[0])`},
			{"technical product", order("x6", line("L1", "TP-SHIPMENT")), "lines[0].productCode", `"TP-SHIPMENT" is a TECHNICAL product`},
			{"empty order", order("x7"), "lines", "an order needs at least one line"},
			{"empty externalId", order("", line("L1", "SRV-HW")), "externalId", "externalId must not be empty"},
			{"blank externalId", order("   ", line("L1", "SRV-HW")), "externalId", "externalId must not be empty"},
		}
		for _, c := range cases {
			t.Run(strings.ReplaceAll(c.name, " ", "_"), func(t *testing.T) {
				r := e.post(submitMutation, map[string]any{"in": c.input})
				ge := expectError(t, r, "BAD_USER_INPUT")
				if !hasProblem(ge, c.path, c.msg) {
					t.Errorf("problems do not include %s: %s; got:\n%s", c.path, c.msg, ge)
				}
				if !r.fieldNull("submitOrder") {
					t.Errorf("data = %s; want no order", r.Data)
				}
				if len(ge.Path) != 1 || ge.Path[0] != "submitOrder" {
					t.Errorf("error path = %v; want [submitOrder]", ge.Path)
				}
				e.expectNothingWritten("after " + c.name)
				// previewOrder rejects it the same way.
				pr := e.post(`query($in: SubmitOrderInput!) { previewOrder(input: $in) { lines { id } } }`, map[string]any{"in": c.input})
				pe := expectError(t, pr, "BAD_USER_INPUT")
				if !hasProblem(pe, c.path, c.msg) {
					t.Errorf("previewOrder problems do not include %s: %s; got:\n%s", c.path, c.msg, pe)
				}
			})
		}

		// Every problem of an order is reported at once.
		r := e.post(submitMutation, map[string]any{"in": order("x9", line("L1", "NOPE"), line("L2", "SRV-HW", "quantity", 0))})
		ge := expectError(t, r, "BAD_USER_INPUT")
		if !hasProblem(ge, "lines[0].productCode", "NOPE") || !hasProblem(ge, "lines[1].quantity", "got 0") {
			t.Errorf("want both problems reported; got:\n%s", ge)
		}
		e.expectNothingWritten("after an order with two problems")
	})
}

func TestSubmitOrderMalformedVariable(t *testing.T) {
	t.Parallel()
	enginetest.EachBackend(t, func(t *testing.T, url string) {
		e := newEnv(t, url, envOptions{})
		in := proServerInput("bad-var", "acme")
		in["lines"] = []any{map[string]any{"id": "L1", "productCode": "PRO-SERVER-PKG", "quantity": "abc"}}
		r := e.post(submitMutation, map[string]any{"in": in})
		if len(r.Errors) == 0 {
			t.Fatalf("quantity \"abc\" accepted: %s", r.Body)
		}
		if code := r.Errors[0].Extensions.Code; code != "GRAPHQL_VALIDATION_FAILED" && code != "BAD_USER_INPUT" {
			t.Errorf("code = %q; want a validation error:\n%s", code, errorList(r.Errors))
		}
		if !strings.Contains(r.Errors[0].Message, "quantity") && !strings.Contains(r.Errors[0].Message, "Int") {
			t.Errorf("message %q does not say what is wrong", r.Errors[0].Message)
		}
		if !r.fieldNull("submitOrder") {
			t.Errorf("data = %s; want nothing", r.Data)
		}
		// A missing required field and a wrong type of lines are refused too.
		delete(in, "accountId")
		if r := e.post(submitMutation, map[string]any{"in": in}); len(r.Errors) == 0 {
			t.Errorf("input without accountId accepted: %s", r.Body)
		}
		if r := e.post(submitMutation, map[string]any{"in": map[string]any{"externalId": "x", "accountId": "a", "lines": "L1"}}); len(r.Errors) == 0 {
			t.Errorf("lines: \"L1\" accepted: %s", r.Body)
		}
		e.expectNothingWritten("after malformed variables")
	})
}

func TestSubmitOrderIdempotent(t *testing.T) {
	t.Parallel()
	enginetest.EachBackend(t, func(t *testing.T, url string) {
		e := newEnv(t, url, envOptions{})
		first := e.submit(proServerInput("ext-1", "acme"))
		counts := e.rowCounts()
		again := e.submit(proServerInput("ext-1", "acme"))
		if again != first {
			t.Errorf("resubmission returned order %s; want the same order %s", again, first)
		}
		e.expectCounts("after resubmitting the same input", counts)

		// The same input with the documented defaults spelled out is the same input.
		explicit := proServerInput("ext-1", "acme")
		explicit["lines"] = []any{map[string]any{"id": "L1", "productCode": "PRO-SERVER-PKG", "quantity": 1, "action": "ADD"}}
		if id := e.submit(explicit); id != first {
			t.Errorf("resubmission with defaults spelled out returned order %s; want %s", id, first)
		}

		for name, in := range map[string]map[string]any{
			"other quantity": func() map[string]any {
				in := proServerInput("ext-1", "acme")
				in["lines"] = []any{map[string]any{"id": "L1", "productCode": "PRO-SERVER-PKG", "quantity": 2}}
				return in
			}(),
			"other account": proServerInput("ext-1", "globex"),
			"other attributes": func() map[string]any {
				in := proServerInput("ext-1", "acme")
				in["attributes"] = map[string]any{"shipTo": "elsewhere"}
				return in
			}(),
		} {
			r := e.post(submitMutation, map[string]any{"in": in})
			expectError(t, r, "CONFLICT")
			if !r.fieldNull("submitOrder") {
				t.Errorf("%s: data = %s; want no order", name, r.Data)
			}
			e.expectCounts("after a conflicting "+name, counts)
		}
		var o struct {
			OrderByExternalID struct{ ID, AccountID string }
		}
		e.do(`{ orderByExternalId(externalId: "ext-1") { id accountId } }`, nil, &o)
		if o.OrderByExternalID.ID != first || o.OrderByExternalID.AccountID != "acme" {
			t.Errorf("order after conflicts = %+v; want %s of acme", o.OrderByExternalID, first)
		}
	})
}

// ---------------------------------------------------------------- previewOrder

func TestPreviewOrder(t *testing.T) {
	t.Parallel()
	enginetest.EachBackend(t, func(t *testing.T, url string) {
		e := newEnv(t, url, envOptions{})
		var out struct {
			PreviewOrder struct {
				Attributes map[string]any
				Lines      []struct {
					ID, ProductCode, Status string
					ParentID                *string
					Generated               bool
				}
				FulfillmentLines []struct {
					Key, ProductCode, Scope string
					SourceLineIds           []string `json:"sourceLineIds"`
				} `json:"fulfillmentLines"`
				Groups []struct{ Name, Scenario string }
				Steps  []struct {
					Key, Name, Group, Type, Scope, Status string
					DependsOn                             []string `json:"dependsOn"`
					Queue, System                         *string
				}
			}
		}
		e.do(`query($in: SubmitOrderInput!) { previewOrder(input: $in) {
			attributes
			lines { id productCode status parentId generated }
			fulfillmentLines { key productCode scope sourceLineIds }
			groups { name scenario }
			steps { key name group type scope status dependsOn queue system } } }`,
			map[string]any{"in": proServerInput("preview-1", "acme")}, &out)
		p := out.PreviewOrder
		if len(p.Lines) != 4 || len(p.FulfillmentLines) != 4 || len(p.Groups) != 5 || len(p.Steps) != 12 {
			t.Errorf("preview has %d lines, %d fulfillment lines, %d groups, %d steps; want 4, 4, 5, 12",
				len(p.Lines), len(p.FulfillmentLines), len(p.Groups), len(p.Steps))
		}
		if p.Attributes["region"] != "EU" {
			t.Errorf("attributes = %v; want region enriched", p.Attributes)
		}
		keys := map[string]bool{}
		for _, s := range p.Steps {
			if keys[s.Key] {
				t.Errorf("step key %q twice", s.Key)
			}
			keys[s.Key] = true
		}
		edges := 0
		for _, s := range p.Steps {
			edges += len(s.DependsOn)
			for _, d := range s.DependsOn {
				if !keys[d] {
					t.Errorf("step %s depends on %q, which is no step key of the preview", s.Key, d)
				}
			}
			want := "PENDING"
			if len(s.DependsOn) == 0 {
				want = "READY"
			}
			if s.Status != want {
				t.Errorf("step %s (%d prerequisites) is %s; want %s", s.Key, len(s.DependsOn), s.Status, want)
			}
			if s.Name == "Install" && (s.Queue == nil || *s.Queue != "field-ops") {
				t.Errorf("Install queue = %v; want field-ops", s.Queue)
			}
			if s.Name == "ReserveInventory" && (s.System == nil || *s.System != "erp") {
				t.Errorf("ReserveInventory system = %v; want erp", s.System)
			}
		}
		if edges != 13 {
			t.Errorf("dependency edges = %d; want 13", edges)
		}
		e.expectNothingWritten("after previewOrder")
	})
}

// ---------------------------------------------------------------- queries

func TestQueries(t *testing.T) {
	t.Parallel()
	enginetest.EachBackend(t, func(t *testing.T, url string) {
		e := newEnv(t, url, envOptions{})
		id := e.submit(proServerInput("ext-q", "acme"))

		var byID struct{ Order orderData }
		e.do(`query($id: ID!) { order(id: $id) { `+orderFields+` } }`, map[string]any{"id": id}, &byID)
		o := byID.Order
		if o.ID != id || o.ExternalID != "ext-q" || o.Plan == nil || len(o.Plan.Steps) != 12 {
			t.Fatalf("order(%s) = %+v", id, o)
		}
		var byExt struct {
			OrderByExternalID *struct{ ID string } `json:"orderByExternalId"`
		}
		e.do(`{ orderByExternalId(externalId: "ext-q") { id } }`, nil, &byExt)
		if byExt.OrderByExternalID == nil || byExt.OrderByExternalID.ID != id {
			t.Errorf("orderByExternalId(ext-q) = %+v; want %s", byExt.OrderByExternalID, id)
		}
		e.do(`{ orderByExternalId(externalId: "nope") { id } }`, nil, &byExt)
		if byExt.OrderByExternalID != nil {
			t.Errorf("orderByExternalId(nope) = %+v; want null", byExt.OrderByExternalID)
		}

		var install stepData
		for _, s := range o.Plan.Steps {
			if s.Name == "Install" {
				install = s
			}
		}
		var st struct {
			Step *struct {
				ID, Name, Type, Status, Jeopardy string
				Queue                            *string
				Group                            struct{ Name string }
				DependsOn                        []struct{ Name string } `json:"dependsOn"`
				Dependents                       []struct{ Name string }
				Order                            struct{ ID string }
				Plan                             struct{ ID string }
			}
		}
		e.do(`query($id: ID!) { step(id: $id) { id name type status jeopardy queue group { name }
			dependsOn { name } dependents { name } order { id } plan { id } } }`, map[string]any{"id": install.ID}, &st)
		s := st.Step
		if s == nil || s.ID != install.ID || s.Name != "Install" || s.Type != "MANUAL_TASK" || s.Status != "PENDING" {
			t.Fatalf("step(%s) = %+v", install.ID, s)
		}
		if s.Queue == nil || *s.Queue != "field-ops" || s.Group.Name != "Field Service" || s.Order.ID != id || s.Plan.ID != o.Plan.ID {
			t.Errorf("step(%s): queue %v group %q order %s plan %s", install.ID, s.Queue, s.Group.Name, s.Order.ID, s.Plan.ID)
		}
		names := func(ns []struct{ Name string }) []string {
			var out []string
			for _, n := range ns {
				out = append(out, n.Name)
			}
			sort.Strings(out)
			return out
		}
		if got := names(s.DependsOn); !slices.Equal(got, []string{"HardwareDelivered", "ScheduleTechnician"}) {
			t.Errorf("Install dependsOn = %v", got)
		}
		if got := names(s.Dependents); !slices.Equal(got, []string{"ActivateSupport", "SetupBilling"}) {
			t.Errorf("Install dependents = %v", got)
		}

		var pl struct {
			Plan *struct {
				ID, Status, Usage, Jeopardy string
				Order                       struct{ ID string }
				Steps                       []struct{ ID string }
			}
		}
		e.do(`query($id: ID!) { plan(id: $id) { id status usage jeopardy order { id } steps { id } } }`,
			map[string]any{"id": o.Plan.ID}, &pl)
		if pl.Plan == nil || pl.Plan.ID != o.Plan.ID || pl.Plan.Order.ID != id || len(pl.Plan.Steps) != 12 ||
			pl.Plan.Usage != "SALES" || pl.Plan.Jeopardy != "ON_TRACK" {
			t.Errorf("plan(%s) = %+v", o.Plan.ID, pl.Plan)
		}

		var nodes struct {
			O *struct {
				ID, ExternalID string
				Typ            string `json:"__typename"`
			}
			S *struct {
				ID, Name, Status string
				Typ              string `json:"__typename"`
			}
		}
		e.do(`query($o: ID!, $s: ID!) {
			o: node(id: $o) { id __typename ... on Order { externalId } ... on Step { name } }
			s: node(id: $s) { id __typename ... on Step { name status } ... on Order { externalId } } }`,
			map[string]any{"o": id, "s": install.ID}, &nodes)
		if nodes.O == nil || nodes.O.Typ != "Order" || nodes.O.ID != id || nodes.O.ExternalID != "ext-q" {
			t.Errorf("node(order) = %+v", nodes.O)
		}
		if nodes.S == nil || nodes.S.Typ != "Step" || nodes.S.ID != install.ID || nodes.S.Name != "Install" || nodes.S.Status != "PENDING" {
			t.Errorf("node(step) = %+v", nodes.S)
		}
		var many struct {
			Nodes []*struct {
				Typ string `json:"__typename"`
			}
		}
		e.do(`query($ids: [ID!]!) { nodes(ids: $ids) { __typename } }`, map[string]any{"ids": []string{id, install.ID, o.Plan.ID}}, &many)
		if len(many.Nodes) != 3 || many.Nodes[0] == nil || many.Nodes[0].Typ != "Order" || many.Nodes[1] == nil || many.Nodes[1].Typ != "Step" ||
			many.Nodes[2] == nil || many.Nodes[2].Typ != "Plan" {
			t.Errorf("nodes(order, step, plan) = %+v", many.Nodes)
		}
	})
}

func TestQueryUnknownAndBadIDs(t *testing.T) {
	t.Parallel()
	enginetest.EachBackend(t, func(t *testing.T, url string) {
		e := newEnv(t, url, envOptions{})
		id := e.submit(proServerInput("ext-u", "acme"))
		unknown := fmt.Sprint(atoi(t, id) + 1000)
		for _, field := range []string{"order", "step", "plan"} {
			r := e.post(fmt.Sprintf(`query($id: ID!) { %s(id: $id) { id } }`, field), map[string]any{"id": unknown})
			if len(r.Errors) > 0 {
				t.Errorf("%s(unknown id): errors\n%s; want null without errors", field, errorList(r.Errors))
			}
			if !r.fieldNull(field) {
				t.Errorf("%s(unknown id) = %s; want null", field, r.Data)
			}
		}
		// An id of another type is no order either.
		var plan struct {
			Order *struct{ Plan struct{ ID string } }
		}
		e.do(`query($id: ID!) { order(id: $id) { plan { id } } }`, map[string]any{"id": id}, &plan)
		r := e.post(`query($id: ID!) { order(id: $id) { id } }`, map[string]any{"id": plan.Order.Plan.ID})
		if len(r.Errors) > 0 || !r.fieldNull("order") {
			t.Errorf("order(id of a plan) = %s %v; want null", r.Data, errorList(r.Errors))
		}

		// A non-numeric ID is an error, as a variable and as a literal,
		// and a client error, not an internal one.
		for name, r := range map[string]*gqlResponse{
			"variable": e.post(`query($id: ID!) { order(id: $id) { id } }`, map[string]any{"id": "abc"}),
			"literal":  e.post(`{ order(id: "abc") { id } }`, nil),
		} {
			if len(r.Errors) == 0 {
				t.Errorf("order(id: \"abc\") as a %s: no error; data %s", name, r.Data)
				continue
			}
			if !r.fieldNull("order") {
				t.Errorf("order(id: \"abc\") as a %s: data %s", name, r.Data)
			}
		}
	})
}

// TestNonNumericIDIsClientError: order(id: "abc") is a mistake of the
// client, so its error must not be presented as an internal one.
func TestNonNumericIDIsClientError(t *testing.T) {
	t.Parallel()
	enginetest.EachBackend(t, func(t *testing.T, url string) {
		e := newEnv(t, url, envOptions{})
		for name, r := range map[string]*gqlResponse{
			"variable": e.post(`query($id: ID!) { order(id: $id) { id } }`, map[string]any{"id": "abc"}),
			"literal":  e.post(`{ order(id: "abc") { id } }`, nil),
		} {
			for _, ge := range r.Errors {
				if ge.Extensions.Code == "INTERNAL_SERVER_ERROR" || ge.Message == "internal error" {
					t.Errorf("order(id: \"abc\") as a %s: error %s; want a client error (BAD_USER_INPUT or GRAPHQL_VALIDATION_FAILED)", name, ge)
				}
			}
		}
	})
}

// TestDatabaseFailureIsInternal: a query the database cannot answer is
// the server's failure: INTERNAL_SERVER_ERROR, "internal error", nothing
// of the SQL error shown. (gqlgen wraps every resolver error; unmarked,
// this one once came out as BAD_USER_INPUT with the driver's message.)
func TestDatabaseFailureIsInternal(t *testing.T) {
	t.Parallel()
	enginetest.EachBackend(t, func(t *testing.T, url string) {
		e := newEnv(t, url, envOptions{})
		id := e.submit(proServerInput("o1", "acme"))
		e.client.Close() // GraphQL's read pool: every query now fails
		for _, q := range []string{
			`query($id: ID!) { order(id: $id) { id status } }`,
			`query($id: ID!) { node(id: $id) { id } }`,
		} {
			r := e.post(q, map[string]any{"id": id})
			g := expectError(t, r, "INTERNAL_SERVER_ERROR")
			if g.Message != "internal error" {
				t.Errorf("%s: message %q; want \"internal error\"", q, g.Message)
			}
		}
	})
}

// TestRequestBodyLimit: a body over the limit is refused before anything
// runs.
func TestRequestBodyLimit(t *testing.T) {
	t.Parallel()
	e := newEnv(t, enginetest.SQLiteURL(t), envOptions{})
	big := strings.Repeat("x", 33<<20)
	body, _ := json.Marshal(map[string]any{"query": `mutation($in: SubmitOrderInput!) { submitOrder(input: $in) { id } }`,
		"variables": map[string]any{"in": map[string]any{"externalId": big, "accountId": "a",
			"lines": []any{map[string]any{"id": "L1", "productCode": "PRO-SERVER-PKG"}}}}})
	for _, chunked := range []bool{false, true} {
		var r *gqlResponse
		if chunked {
			r = e.postReader(nil, io.MultiReader(bytes.NewReader(body))) // no Content-Length
		} else {
			r = e.postRaw(nil, body)
		}
		if r.Status != http.StatusRequestEntityTooLarge {
			t.Errorf("chunked %v: HTTP %d; want 413", chunked, r.Status)
		}
		expectError(t, r, "REQUEST_TOO_LARGE")
		if n := e.client.Order.Query().CountX(e.ctx); n != 0 {
			t.Errorf("chunked %v: %d orders stored; want none", chunked, n)
		}
	}
}

func TestConnections(t *testing.T) {
	t.Parallel()
	enginetest.EachBackend(t, func(t *testing.T, url string) {
		e := newEnv(t, url, envOptions{})
		var ids []string
		for i := range 3 {
			ids = append(ids, e.submit(proServerInput(fmt.Sprint("ext-c", i), "acme")))
		}
		var one struct{ Order struct{ Status string } }
		e.do(`query($id: ID!) { order(id: $id) { status } }`, map[string]any{"id": ids[0]}, &one)
		status := one.Order.Status

		type conn struct {
			TotalCount int `json:"totalCount"`
			PageInfo   struct {
				HasNextPage bool    `json:"hasNextPage"`
				EndCursor   *string `json:"endCursor"`
			} `json:"pageInfo"`
			Edges []struct {
				Cursor string
				Node   struct{ ID, Status, ExternalID, Name string }
			}
		}
		const ordersQ = `query($first: Int, $after: Cursor, $status: OrderStatus) {
			orders(first: $first, after: $after, where: {status: $status}) {
				totalCount pageInfo { hasNextPage endCursor } edges { cursor node { id status externalId } } } }`
		var page1, page2 struct{ Orders conn }
		e.do(ordersQ, map[string]any{"first": 2, "status": status}, &page1)
		if page1.Orders.TotalCount != 3 || len(page1.Orders.Edges) != 2 || !page1.Orders.PageInfo.HasNextPage || page1.Orders.PageInfo.EndCursor == nil {
			t.Fatalf("orders page 1 = %+v; want 2 of 3 with a next page", page1.Orders)
		}
		e.do(ordersQ, map[string]any{"first": 2, "after": *page1.Orders.PageInfo.EndCursor, "status": status}, &page2)
		if page2.Orders.TotalCount != 3 || len(page2.Orders.Edges) != 1 || page2.Orders.PageInfo.HasNextPage {
			t.Errorf("orders page 2 = %+v; want the last 1 of 3", page2.Orders)
		}
		var seen []string
		for _, p := range []conn{page1.Orders, page2.Orders} {
			for _, ed := range p.Edges {
				seen = append(seen, ed.Node.ID)
				if ed.Node.Status != status {
					t.Errorf("order %s is %s; filter asked for %s", ed.Node.ID, ed.Node.Status, status)
				}
			}
		}
		if !slices.Equal(slices.Sorted(slices.Values(seen)), slices.Sorted(slices.Values(ids))) {
			t.Errorf("orders over both pages = %v; want %v", seen, ids)
		}
		other := "COMPLETED"
		if status == "COMPLETED" {
			other = "CANCELLED"
		}
		var none struct{ Orders conn }
		e.do(ordersQ, map[string]any{"first": 2, "status": other}, &none)
		if none.Orders.TotalCount != 0 || len(none.Orders.Edges) != 0 || none.Orders.PageInfo.HasNextPage {
			t.Errorf("orders where status %s = %+v; want none", other, none.Orders)
		}

		// The work queue: READY steps of one order.
		const stepsQ = `query($first: Int, $after: Cursor, $order: ID!) {
			steps(first: $first, after: $after, where: {orderID: $order, status: READY}) {
				totalCount pageInfo { hasNextPage endCursor } edges { cursor node { id name status } } } }`
		var s1, s2 struct{ Steps conn }
		e.do(stepsQ, map[string]any{"first": 2, "order": ids[1]}, &s1)
		if s1.Steps.TotalCount != 3 || len(s1.Steps.Edges) != 2 || !s1.Steps.PageInfo.HasNextPage {
			t.Fatalf("steps page 1 = %+v; want 2 of 3 READY steps", s1.Steps)
		}
		e.do(stepsQ, map[string]any{"first": 2, "after": *s1.Steps.PageInfo.EndCursor, "order": ids[1]}, &s2)
		if s2.Steps.TotalCount != 3 || len(s2.Steps.Edges) != 1 || s2.Steps.PageInfo.HasNextPage {
			t.Errorf("steps page 2 = %+v; want the last of 3", s2.Steps)
		}
		var names []string
		for _, p := range []conn{s1.Steps, s2.Steps} {
			for _, ed := range p.Edges {
				names = append(names, ed.Node.Name)
				if ed.Node.Status != "READY" {
					t.Errorf("step %s is %s", ed.Node.Name, ed.Node.Status)
				}
			}
		}
		sort.Strings(names)
		if !slices.Equal(names, []string{"ActivateLicense", "ReserveInventory", "ScheduleTechnician"}) {
			t.Errorf("READY steps = %v", names)
		}
		// The steps really belong to that order.
		for _, p := range []conn{s1.Steps, s2.Steps} {
			for _, ed := range p.Edges {
				var st struct {
					Step struct{ Order struct{ ID string } }
				}
				e.do(`query($id: ID!) { step(id: $id) { order { id } } }`, map[string]any{"id": ed.Node.ID}, &st)
				if st.Step.Order.ID != ids[1] {
					t.Errorf("step %s belongs to order %s; filter asked for %s", ed.Node.ID, st.Step.Order.ID, ids[1])
				}
			}
		}
		// Across all orders.
		var all struct{ Steps conn }
		e.do(`{ steps(where: {status: READY}) { totalCount } }`, nil, &all)
		if all.Steps.TotalCount != 9 {
			t.Errorf("READY steps of 3 orders = %d; want 9", all.Steps.TotalCount)
		}
		// A bad cursor is an error, not a crash.
		r := e.post(stepsQ, map[string]any{"first": 2, "after": "not-a-cursor", "order": ids[1]})
		if len(r.Errors) == 0 {
			t.Errorf("after: not-a-cursor accepted: %s", r.Body)
		}
	})
}

// ---------------------------------------------------------------- enrichOrder / startOrchestration

// stagingCatalog has a rule that waits for a serial number and a GENERIC
// dunning orchestration. Its sales steps are manual tasks and a milestone,
// so a test can drive an order to completion through completeTask without
// a runner.
const stagingCatalog = `
version: 1
systems:
  erp: {url: "http://127.0.0.1:9/erp", timeout: 1s}
products:
  - {code: ROUTER, name: Router, type: COMMERCIAL}
  - {code: T-SHIP, name: Router shipment, type: TECHNICAL}
decomposition:
  - {name: router, from: ROUTER, to: T-SHIP, scope: LINE, requires: [serial], attributes: {sku: '"ROUTER-" + line.attributes.serial'}}
scenarios:
  - name: main
    when: 'hasProduct("ROUTER")'
    groups:
      - name: Core
        steps:
          - {name: Approve, type: MANUAL_TASK, task: {queue: ops}}
      - name: Items
        steps:
          - {name: Reserve, type: MANUAL_TASK, scope: ITEM, product: T-SHIP, task: {queue: warehouse}}
          - {name: Ship, type: MANUAL_TASK, scope: ITEM, product: T-SHIP, task: {queue: warehouse}}
      - name: End
        steps:
          - {name: Done, type: MILESTONE}
    dependencies:
      - {step: Ship, after: Reserve, scope: ITEM}
      - {step: Done, after: [Approve, Ship]}
  - name: dunning
    usage: GENERIC
    type: dunning
    items: 'context.invoices'
    groups:
      - name: Collect
        steps:
          - {name: Remind, type: MANUAL_TASK, task: {queue: collections}}
          - {name: Charge, type: CALLOUT, scope: ITEM, callout: {system: erp, path: /charge, body: '{"invoice": item.key, "amount": item.attributes.amount}'}}
          - {name: Close, type: MILESTONE}
    dependencies:
      - {step: Charge, after: Remind}
      - {step: Close, after: Charge}
`

const enrichFields = `id
	lines { lineId status missing attributes }
	fulfillmentLines { key productCode attributes }
	plan { id steps { name status dependsOn { name } fulfillmentLine { key } } }`

type enrichedOrder struct {
	ID    string
	Lines []struct {
		LineID     string `json:"lineId"`
		Status     string
		Missing    []string
		Attributes map[string]any
	}
	FulfillmentLines []struct {
		Key         string
		ProductCode string
		Attributes  map[string]any
	} `json:"fulfillmentLines"`
	Plan struct {
		ID    string
		Steps []struct {
			Name            string
			Status          string
			DependsOn       []struct{ Name string } `json:"dependsOn"`
			FulfillmentLine *struct{ Key string }   `json:"fulfillmentLine"`
		}
	}
}

func TestEnrichOrder(t *testing.T) {
	t.Parallel()
	enginetest.EachBackend(t, func(t *testing.T, url string) {
		e := newEnv(t, url, envOptions{catalog: stagingCatalog})
		var sub struct{ SubmitOrder enrichedOrder }
		e.do(`mutation($in: SubmitOrderInput!) { submitOrder(input: $in) { `+enrichFields+` } }`, map[string]any{"in": map[string]any{
			"externalId": "stag-1", "accountId": "acme",
			"lines": []any{
				map[string]any{"id": "R1", "productCode": "ROUTER", "attributes": map[string]any{"serial": "S1"}},
				map[string]any{"id": "R2", "productCode": "ROUTER"},
			},
		}}, &sub)
		o := sub.SubmitOrder
		lineStatus := func(o enrichedOrder) map[string]string {
			m := map[string]string{}
			for _, l := range o.Lines {
				m[l.LineID] = l.Status
			}
			return m
		}
		if st := lineStatus(o); st["R1"] != "DECOMPOSED" || st["R2"] != "AWAITING_DATA" {
			t.Fatalf("line statuses = %v; want R1 DECOMPOSED, R2 AWAITING_DATA", st)
		}
		for _, l := range o.Lines {
			if l.LineID == "R2" && !slices.Equal(l.Missing, []string{"serial"}) {
				t.Errorf("R2 missing = %v; want [serial]", l.Missing)
			}
		}
		if len(o.FulfillmentLines) != 1 || len(o.Plan.Steps) != 4 {
			t.Fatalf("before enrichment: %d fulfillment lines, %d steps; want 1 and 4 (no steps for R2)", len(o.FulfillmentLines), len(o.Plan.Steps))
		}
		before := e.rowCounts()

		const enrich = `mutation($id: ID!, $la: [LineAttributesInput!]) { enrichOrder(orderId: $id, lineAttributes: $la) { ` + enrichFields + ` } }`
		// An unknown line id is refused and changes nothing.
		r := e.post(enrich, map[string]any{"id": o.ID, "la": []any{
			map[string]any{"lineId": "R2", "attributes": map[string]any{"serial": "S2"}},
			map[string]any{"lineId": "NOPE", "attributes": map[string]any{"serial": "X"}},
		}})
		ge := expectError(t, r, "BAD_USER_INPUT")
		if !hasProblem(ge, "lineAttributes", `"NOPE"`) {
			t.Errorf("problems do not name the unknown line; got:\n%s", ge)
		}
		e.expectCounts("after enrichOrder with an unknown line", before)
		var still struct{ Order enrichedOrder }
		e.do(`query($id: ID!) { order(id: $id) { `+enrichFields+` } }`, map[string]any{"id": o.ID}, &still)
		if st := lineStatus(still.Order); st["R2"] != "AWAITING_DATA" {
			t.Errorf("R2 after a refused enrichment is %s; want AWAITING_DATA", st["R2"])
		}
		// An unknown order is NOT_FOUND.
		e.fail("NOT_FOUND", enrich, map[string]any{"id": fmt.Sprint(atoi(t, o.ID) + 1000),
			"la": []any{map[string]any{"lineId": "R2", "attributes": map[string]any{"serial": "S2"}}}})

		var out struct{ EnrichOrder enrichedOrder }
		e.do(enrich, map[string]any{"id": o.ID, "la": []any{
			map[string]any{"lineId": "R2", "attributes": map[string]any{"serial": "X"}},
		}}, &out)
		n := out.EnrichOrder
		if st := lineStatus(n); st["R1"] != "DECOMPOSED" || st["R2"] != "DECOMPOSED" {
			t.Errorf("line statuses after enrichment = %v; want both DECOMPOSED", st)
		}
		if len(n.FulfillmentLines) != 2 {
			t.Errorf("fulfillment lines after enrichment = %d; want 2", len(n.FulfillmentLines))
		}
		found := false
		for _, fl := range n.FulfillmentLines {
			if fl.Attributes["sku"] == "ROUTER-X" {
				found = true
			}
		}
		if !found {
			t.Errorf("no fulfillment line with sku ROUTER-X: %+v", n.FulfillmentLines)
		}
		if n.Plan.ID != o.Plan.ID {
			t.Errorf("plan %s after enrichment; want the same plan %s", n.Plan.ID, o.Plan.ID)
		}
		if len(n.Plan.Steps) != 6 {
			t.Errorf("steps after enrichment = %d; want 6 (Reserve and Ship for R2 added)", len(n.Plan.Steps))
		}
		count := map[string]int{}
		for _, s := range n.Plan.Steps {
			count[s.Name]++
			if (s.Name == "Reserve" || s.Name == "Ship") && s.FulfillmentLine == nil {
				t.Errorf("%s has no fulfillment line", s.Name)
			}
		}
		if count["Reserve"] != 2 || count["Ship"] != 2 {
			t.Errorf("steps by name = %v; want 2 Reserve and 2 Ship", count)
		}
		after := e.rowCounts()
		if after["steps"] != 6 || after["fulfillment lines"] != 2 || after["orders"] != 1 || after["plans"] != 1 || after["order lines"] != 2 {
			t.Errorf("rows after enrichment = %v", after)
		}
		if after["events"] <= before["events"] {
			t.Errorf("events after enrichment = %d; want more than %d (the new steps' creation)", after["events"], before["events"])
		}
	})
}

// enrichStaged submits the staging order (R1 with a serial, R2 without)
// and enriches R2, returning the order id.
func enrichStaged(t *testing.T, e *env) string {
	t.Helper()
	id := e.submit(map[string]any{
		"externalId": "stag-1", "accountId": "acme",
		"lines": []any{
			map[string]any{"id": "R1", "productCode": "ROUTER", "attributes": map[string]any{"serial": "S1"}},
			map[string]any{"id": "R2", "productCode": "ROUTER"},
		},
	})
	e.do(`mutation($id: ID!, $la: [LineAttributesInput!]) { enrichOrder(orderId: $id, lineAttributes: $la) { id } }`,
		map[string]any{"id": id, "la": []any{map[string]any{"lineId": "R2", "attributes": map[string]any{"serial": "X"}}}}, nil)
	return id
}

// TestEnrichOrderKeepsStepGroups: enrichment extends the plan; it must
// not give the plan a second copy of its groups.
func TestEnrichOrderKeepsStepGroups(t *testing.T) {
	t.Parallel()
	enginetest.EachBackend(t, func(t *testing.T, url string) {
		e := newEnv(t, url, envOptions{catalog: stagingCatalog})
		id := enrichStaged(t, e)
		var out struct {
			Order struct {
				Plan struct {
					Groups []struct{ ID, Name string }
					Steps  []struct {
						Name  string
						Group struct{ ID, Name string }
					}
				}
			}
		}
		e.do(`query($id: ID!) { order(id: $id) { plan { groups { id name } steps { name group { id name } } } } }`,
			map[string]any{"id": id}, &out)
		var names []string
		for _, g := range out.Order.Plan.Groups {
			names = append(names, g.Name)
		}
		sort.Strings(names)
		if !slices.Equal(names, []string{"Core", "End", "Items"}) {
			t.Errorf("plan groups after enrichment = %v; want [Core End Items] (each once)", names)
		}
		groupOf := map[string]map[string]bool{}
		for _, s := range out.Order.Plan.Steps {
			if groupOf[s.Name] == nil {
				groupOf[s.Name] = map[string]bool{}
			}
			groupOf[s.Name][s.Group.ID] = true
		}
		for name, ids := range groupOf {
			if len(ids) != 1 {
				t.Errorf("the %s steps are in %d different groups; want the one group of the plan", name, len(ids))
			}
		}
	})
}

// TestEnrichOrderLateItemIsPrerequisite: a step that has not started takes
// the steps of a late-decomposed item as prerequisites (Done waits for
// both Ship steps), and the order completes once every step is done.
func TestEnrichOrderLateItemIsPrerequisite(t *testing.T) {
	t.Parallel()
	enginetest.EachBackend(t, func(t *testing.T, url string) {
		e := newEnv(t, url, envOptions{catalog: stagingCatalog})
		id := enrichStaged(t, e)
		var out struct {
			Order struct {
				Plan struct {
					Steps []struct {
						Name      string
						DependsOn []struct{ Name string } `json:"dependsOn"`
					}
				}
			}
		}
		e.do(`query($id: ID!) { order(id: $id) { plan { steps { name dependsOn { name } } } } }`, map[string]any{"id": id}, &out)
		for _, s := range out.Order.Plan.Steps {
			if s.Name != "Done" {
				continue
			}
			ships := 0
			for _, d := range s.DependsOn {
				if d.Name == "Ship" {
					ships++
				}
			}
			if ships != 2 {
				t.Errorf("Done depends on %d Ship steps after enrichment; want 2 (R1's and the late R2's)", ships)
			}
		}

		// Complete every manual task as it comes; the milestone then
		// completes and with it the order.
		const waiting = `query($id: ID!) { steps(first: 50, where: {orderID: $id, status: WAITING, type: MANUAL_TASK}) {
			edges { node { id name } } } }`
		completed := 0
		for range 10 {
			var w struct {
				Steps struct {
					Edges []struct{ Node struct{ ID, Name string } }
				}
			}
			e.do(waiting, map[string]any{"id": id}, &w)
			if len(w.Steps.Edges) == 0 {
				break
			}
			for _, ed := range w.Steps.Edges {
				e.do(`mutation($id: ID!) { completeTask(stepId: $id, note: "done") { id status } }`, map[string]any{"id": ed.Node.ID}, nil)
				completed++
			}
		}
		if completed != 5 {
			t.Errorf("completed %d manual tasks; want 5 (Approve, Reserve and Ship for R1 and R2)", completed)
		}
		var final struct {
			Order struct {
				Status string
				Plan   struct {
					Status string
					Steps  []struct{ Name, Status string }
				}
			}
		}
		e.do(`query($id: ID!) { order(id: $id) { status plan { status steps { name status } } } }`, map[string]any{"id": id}, &final)
		for _, s := range final.Order.Plan.Steps {
			if s.Status != "COMPLETED" {
				t.Errorf("after every task was done, %s is %s; want COMPLETED", s.Name, s.Status)
			}
		}
		// What Done still waits for, by the store's own count.
		var pending, edges int
		row := e.store.DB().QueryRowContext(e.ctx, fmt.Sprintf(`SELECT s.pending,
			(SELECT count(*) FROM step_dependencies d WHERE d.step_id = s.id)
			FROM steps s WHERE s.order_id = %d AND s.name = 'Done'`, atoi(t, id)))
		if err := row.Scan(&pending, &edges); err != nil {
			t.Fatalf("read Done: %v", err)
		}
		if pending != 0 {
			t.Errorf("Done still waits for %d prerequisites (it has %d dependency rows); want 0", pending, edges)
		}
		if final.Order.Status != "COMPLETED" || final.Order.Plan.Status != "COMPLETED" {
			t.Errorf("after every task was done, order is %s and plan %s; want COMPLETED", final.Order.Status, final.Order.Plan.Status)
		}
	})
}

func TestStartOrchestration(t *testing.T) {
	t.Parallel()
	enginetest.EachBackend(t, func(t *testing.T, url string) {
		e := newEnv(t, url, envOptions{catalog: stagingCatalog})
		const start = `mutation($type: String!, $subject: String!, $ctx: JSON!) {
			startOrchestration(type: $type, subjectId: $subject, context: $ctx) {
				id usage type subjectID status context
				items { key attributes }
				groups { name }
				steps { name scope status dependsOn { name } } } }`
		ctx := map[string]any{"total": 150, "invoices": []any{
			map[string]any{"id": "inv-1", "amount": 100}, map[string]any{"id": "inv-2", "amount": 50}}}
		type planOut struct {
			StartOrchestration struct {
				ID, Usage, Type, Status string
				SubjectID               *string `json:"subjectID"`
				Context                 map[string]any
				Items                   []struct {
					Key        string
					Attributes map[string]any
				}
				Groups []struct{ Name string }
				Steps  []struct {
					Name, Scope, Status string
					DependsOn           []struct{ Name string } `json:"dependsOn"`
				}
			}
		}
		var first planOut
		e.do(start, map[string]any{"type": "dunning", "subject": "cust-42", "ctx": ctx}, &first)
		p := first.StartOrchestration
		if p.ID == "" || p.Usage != "GENERIC" || p.Type != "dunning" || p.SubjectID == nil || *p.SubjectID != "cust-42" {
			t.Errorf("plan = %+v", p)
		}
		count := map[string]int{}
		for _, s := range p.Steps {
			count[s.Name]++
		}
		if len(p.Steps) != 4 || count["Charge"] != 2 || count["Remind"] != 1 || count["Close"] != 1 {
			t.Errorf("steps = %v; want Remind, Charge per invoice (2), Close", count)
		}
		if len(p.Items) != 2 {
			t.Errorf("items = %+v; want one per invoice", p.Items)
		}
		counts := e.rowCounts()

		var again planOut
		e.do(start, map[string]any{"type": "dunning", "subject": "cust-42", "ctx": ctx}, &again)
		if again.StartOrchestration.ID != p.ID {
			t.Errorf("same orchestration again gave plan %s; want %s", again.StartOrchestration.ID, p.ID)
		}
		e.expectCounts("after starting the same orchestration again", counts)

		other := map[string]any{"total": 150, "invoices": []any{map[string]any{"id": "inv-9", "amount": 150}}}
		r := e.post(start, map[string]any{"type": "dunning", "subject": "cust-42", "ctx": other})
		expectError(t, r, "CONFLICT")
		e.expectCounts("after a conflicting orchestration", counts)

		ge := e.fail("BAD_USER_INPUT", start, map[string]any{"type": "no-such-type", "subject": "cust-42", "ctx": ctx})
		if !strings.Contains(ge.String(), "no-such-type") {
			t.Errorf("unknown type error does not name the type: %s", ge)
		}
		e.fail("BAD_USER_INPUT", start, map[string]any{"type": "dunning", "subject": "", "ctx": ctx})
		e.expectCounts("after refused orchestrations", counts)

		// Another subject gets its own plan.
		var third planOut
		e.do(start, map[string]any{"type": "dunning", "subject": "cust-43", "ctx": ctx}, &third)
		if third.StartOrchestration.ID == p.ID {
			t.Errorf("another subject got the same plan %s", p.ID)
		}
	})
}

// ---------------------------------------------------------------- query counts

// orderReadQuery reads an order with everything a dashboard shows.
const orderReadQuery = `query($id: ID!) { order(id: $id) {
	lines { lineId }
	fulfillmentLines { key }
	plan { groups { name } steps { name status dependsOn { name } attempts { number } fulfillmentLine { key } } }
	jeopardy falloutCount } }`

// measurement is the SQL a request cost the read client over several runs.
type measurement struct {
	worst int64    // the most statements one run cost
	runs  []int64  // every run's count
	sql   []string // the statements of the worst run
}

// queriesFor runs a request several times and measures the SQL each run
// sends. A constant cost must hold on every run, so tests compare the
// worst run: a batch that a timer splits shows up there.
func (e *env) queriesFor(query string, vars map[string]any, check func(*gqlResponse)) measurement {
	e.t.Helper()
	var m measurement
	for range 10 {
		e.queries.reset()
		r := e.post(query, vars)
		n := e.queries.count()
		if len(r.Errors) > 0 {
			e.t.Fatalf("errors:\n%s", errorList(r.Errors))
		}
		if check != nil {
			check(r)
		}
		m.runs = append(m.runs, n)
		if n > m.worst {
			m.worst, m.sql = n, e.queries.statements()
		}
	}
	return m
}

// logSQL logs the statements of a measurement, shortened.
func logSQL(t *testing.T, what string, m measurement) {
	t.Helper()
	var b strings.Builder
	for _, q := range m.sql {
		if len(q) > 160 {
			q = q[:160] + "..."
		}
		b.WriteString("\n\t" + q)
	}
	t.Logf("%s: %d statements:%s", what, m.worst, b.String())
}

func TestQueryCountOrderIsConstant(t *testing.T) {
	t.Parallel()
	enginetest.EachBackend(t, func(t *testing.T, url string) {
		e := newEnv(t, url, envOptions{})
		small := e.submit(proServerInput("small", "acme"))
		var lines []any
		for i := range 20 {
			lines = append(lines, map[string]any{"id": fmt.Sprint("B", i), "productCode": "PRO-SERVER-PKG"})
		}
		big := e.submit(map[string]any{"externalId": "big", "accountId": "globex", "attributes": map[string]any{"shipTo": "2 Main St"}, "lines": lines})

		stepsOf := func(want int) func(*gqlResponse) {
			return func(r *gqlResponse) {
				var out struct {
					Order struct {
						Plan struct{ Steps []struct{ DependsOn []any } }
					}
				}
				if err := jsonUnmarshal(r.Data, &out); err != nil {
					t.Fatal(err)
				}
				if len(out.Order.Plan.Steps) != want {
					t.Fatalf("order has %d steps; want %d", len(out.Order.Plan.Steps), want)
				}
			}
		}
		small1 := e.queriesFor(orderReadQuery, map[string]any{"id": small}, stepsOf(12))
		big20 := e.queriesFor(orderReadQuery, map[string]any{"id": big}, stepsOf(107))
		t.Logf("order read: 1 bundle (12 steps) %d queries %v; 20 bundles (107 steps) %d queries %v",
			small1.worst, small1.runs, big20.worst, big20.runs)
		if small1.worst != big20.worst {
			t.Errorf("reading an order cost %d SQL queries with 1 bundle and %d with 20; want the same", small1.worst, big20.worst)
			logSQL(t, "1 bundle", small1)
			logSQL(t, "20 bundles", big20)
		}
		if big20.worst > 12 {
			t.Errorf("reading an order cost %d SQL queries; want at most 12", big20.worst)
			logSQL(t, "20 bundles", big20)
		}
	})
}

// ordersEnvs returns a server with 1 order and one with 20 (of 4
// accounts), on the same backend.
func ordersEnvs(t *testing.T, url string) (one, many *env) {
	t.Helper()
	one = newEnv(t, url, envOptions{})
	one.submit(proServerInput("o-0", "acme"))
	url2 := enginetest.SQLiteURL(t)
	if strings.HasPrefix(url, "postgres") {
		url2 = enginetest.PostgresURL(t)
	}
	many = newEnv(t, url2, envOptions{})
	for i := range 20 {
		many.submit(proServerInput(fmt.Sprint("o-", i), fmt.Sprint("acct-", i%4)))
	}
	return one, many
}

func ordersCount(t *testing.T, n int) func(*gqlResponse) {
	return func(r *gqlResponse) {
		var out struct {
			Orders struct{ Edges []any }
		}
		if err := jsonUnmarshal(r.Data, &out); err != nil {
			t.Fatal(err)
		}
		if len(out.Orders.Edges) != n {
			t.Fatalf("orders = %d; want %d", len(out.Orders.Edges), n)
		}
	}
}

// TestQueryCountOrdersIsConstant: a page of orders with their jeopardy and
// fallout count costs the same number of queries for 1 order as for 20
// (the health of all of them in one batched query).
func TestQueryCountOrdersIsConstant(t *testing.T) {
	t.Parallel()
	enginetest.EachBackend(t, func(t *testing.T, url string) {
		one, many := ordersEnvs(t, url)
		const q = `{ orders(first: 50) { edges { node { jeopardy falloutCount plan { status } } } } }`
		m1 := one.queriesFor(q, nil, ordersCount(t, 1))
		m20 := many.queriesFor(q, nil, ordersCount(t, 20))
		t.Logf("orders list: 1 order %d queries %v; 20 orders %d queries %v", m1.worst, m1.runs, m20.worst, m20.runs)
		if m1.worst != m20.worst {
			t.Errorf("listing orders cost %d SQL queries for 1 order and up to %d for 20 (runs %v); want the same", m1.worst, m20.worst, m20.runs)
			logSQL(t, "1 order", m1)
			logSQL(t, "20 orders, worst run", m20)
		}
	})
}

// TestQueryCountOrdersWithPlansIsConstant: the same with the total count,
// each plan's jeopardy and its steps with their prerequisites.
func TestQueryCountOrdersWithPlansIsConstant(t *testing.T) {
	t.Parallel()
	enginetest.EachBackend(t, func(t *testing.T, url string) {
		one, many := ordersEnvs(t, url)
		const q = `{ orders(first: 50) { totalCount edges { node { id jeopardy falloutCount
			plan { status jeopardy steps { name dependsOn { name } } } } } } }`
		m1 := one.queriesFor(q, nil, ordersCount(t, 1))
		m20 := many.queriesFor(q, nil, ordersCount(t, 20))
		t.Logf("orders list with plans: 1 order %d queries %v; 20 orders %d queries %v", m1.worst, m1.runs, m20.worst, m20.runs)
		if m1.worst != m20.worst {
			t.Errorf("listing orders with plans cost %d SQL queries for 1 order and up to %d for 20 (runs %v); want the same", m1.worst, m20.worst, m20.runs)
			logSQL(t, "1 order", m1)
			logSQL(t, "20 orders, worst run", m20)
		}
	})
}

// TestQueryCountTimelinesAreBatched: the timelines of a page of plans read
// their steps in batched queries, not one per plan (it was 20 for 20). The
// 20 plans' resolvers start over a few milliseconds, more than the loaders'
// batch window now and then, so two or three batches are allowed.
func TestQueryCountTimelinesAreBatched(t *testing.T) {
	t.Parallel()
	enginetest.EachBackend(t, func(t *testing.T, url string) {
		_, many := ordersEnvs(t, url)
		const q = `{ orders(first: 20) { edges { node { plan { timeline { critical step { id name status } } } } } } }`
		m := many.queriesFor(q, nil, ordersCount(t, 20))
		worst := 0
		for _, q := range m.sql {
			if strings.Contains(q, "FROM `steps`") || strings.Contains(q, `FROM "steps"`) {
				worst++
			}
		}
		t.Logf("timelines of 20 plans: %d statements, %d of them on steps (runs %v)", m.worst, worst, m.runs)
		if worst > 3 {
			t.Errorf("the timelines of 20 plans read their steps in %d statements; want at most 3 (batched)", worst)
			logSQL(t, "20 orders, worst run", m)
		}
	})
}

func TestQueryCountSystemsHeldStepsIsOne(t *testing.T) {
	t.Parallel()
	e := newEnv(t, enginetest.SQLiteURL(t), envOptions{})
	for _, sys := range []string{"erp", "billing"} {
		e.do(`mutation($s: String!) { setSystemStatus(system: $s, status: OFFLINE) { name } }`, map[string]any{"s": sys}, nil)
	}
	m := e.queriesFor(`{ systems { edges { node { name heldSteps } } } }`, nil, nil)
	held := 0
	for _, q := range m.sql {
		if strings.Contains(q, "COUNT(") && strings.Contains(q, "steps") {
			held++
		}
	}
	if held != 1 {
		t.Errorf("heldSteps of every system cost %d queries; want 1", held)
		logSQL(t, "systems with heldSteps", m)
	}
}

// ---------------------------------------------------------------- limits

// nested returns a step selection nested depth levels deep in total:
// order { plan { steps { dependsOn { dependents { ... { id } } } } } }.
func nested(depth int) string {
	// order, plan, steps and the final id are 4 levels.
	inner := "id"
	for i := range depth - 4 {
		f := "dependsOn"
		if i%2 == 1 {
			f = "dependents"
		}
		inner = f + " { " + inner + " }"
	}
	return `query($id: ID!) { order(id: $id) { plan { steps { ` + inner + ` } } } }`
}

func TestDepthLimit(t *testing.T) {
	t.Parallel()
	enginetest.EachBackend(t, func(t *testing.T, url string) {
		e := newEnv(t, url, envOptions{})
		id := e.submit(proServerInput("deep", "acme"))
		vars := map[string]any{"id": id}
		if r := e.post(nested(15), vars); len(r.Errors) > 0 {
			t.Errorf("a query 15 levels deep was refused:\n%s", errorList(r.Errors))
		}
		for _, depth := range []int{16, 40} {
			r := e.post(nested(depth), vars)
			expectError(t, r, "DEPTH_LIMIT_EXCEEDED")
			if !r.fieldNull("order") {
				t.Errorf("depth %d: data = %s; want none", depth, r.Data)
			}
		}
		// Fragments and inline fragments count too.
		frag := `query($id: ID!) { order(id: $id) { plan { steps { ...S } } } }
			fragment S on Step { dependsOn { ...D } }
			fragment D on Step { dependents { ... on Step { dependsOn { dependents { dependsOn { dependents {
				dependsOn { dependents { dependsOn { dependents { dependsOn { dependents { id } } } } } } } } } } } } }`
		expectError(t, e.post(frag, vars), "DEPTH_LIMIT_EXCEEDED")
	})
}

func TestComplexityLimit(t *testing.T) {
	t.Parallel()
	enginetest.EachBackend(t, func(t *testing.T, url string) {
		e := newEnv(t, url, envOptions{})
		e.submit(proServerInput("cx", "acme"))
		e.queries.reset()
		r := e.post(`{ steps(first: 100000) { edges { node { id name dependsOn { id name } dependents { id } } } } }`, nil)
		if len(r.Errors) == 0 {
			t.Fatalf("steps(first: 100000) with a nested selection was accepted")
		}
		if code := r.Errors[0].Extensions.Code; code != "COMPLEXITY_LIMIT_EXCEEDED" {
			t.Errorf("code = %q; want COMPLEXITY_LIMIT_EXCEEDED:\n%s", code, errorList(r.Errors))
		}
		if n := e.queries.count(); n != 0 {
			t.Errorf("a refused query ran %d SQL queries; want 0", n)
		}
		// first as a variable is limited the same way.
		r = e.post(`query($n: Int) { orders(first: $n) { edges { node { id plan { steps { id } } } } } }`, map[string]any{"n": 100000})
		expectError(t, r, "COMPLEXITY_LIMIT_EXCEEDED")
		// A reasonable page is fine.
		e.do(`{ steps(first: 50) { edges { node { id name dependsOn { id name } } } } }`, nil, nil)
	})
}

// introspectionQuery is graphql-js 16's getIntrospectionQuery() with
// GraphiQL's options (what the playground sends).
const introspectionQuery = `
    query IntrospectionQuery {
      __schema {
        
        queryType { name kind }
        mutationType { name kind }
        subscriptionType { name kind }
        types {
          ...FullType
        }
        directives {
          name
          description
          
          locations
          args {
            ...InputValue
          }
        }
      }
    }

    fragment FullType on __Type {
      kind
      name
      description
      
      
      fields(includeDeprecated: true) {
        name
        description
        args {
          ...InputValue
        }
        type {
          ...TypeRef
        }
        isDeprecated
        deprecationReason
      }
      inputFields {
        ...InputValue
      }
      interfaces {
        ...TypeRef
      }
      enumValues(includeDeprecated: true) {
        name
        description
        isDeprecated
        deprecationReason
      }
      possibleTypes {
        ...TypeRef
      }
    }

    fragment InputValue on __InputValue {
      name
      description
      type { ...TypeRef }
      defaultValue
      
      
    }

    fragment TypeRef on __Type {
      kind
      name
      ofType {
        kind
        name
        ofType {
          kind
          name
          ofType {
            kind
            name
            ofType {
              kind
              name
              ofType {
                kind
                name
                ofType {
                  kind
                  name
                  ofType {
                    kind
                    name
                    ofType {
                      kind
                      name
                      ofType {
                        kind
                        name
                      }
                    }
                  }
                }
              }
            }
          }
        }
      }
    }
  `

// fullIntrospectionQuery adds what client generators ask for
// (introspectionFromSchema's options, without oneOf).
var fullIntrospectionQuery = strings.NewReplacer(
	"__schema {\n        \n", "__schema {\n        description\n",
	"args {", "args(includeDeprecated: true) {",
	"inputFields {", "inputFields(includeDeprecated: true) {",
	"defaultValue\n      \n      \n", "defaultValue\n      isDeprecated\n      deprecationReason\n",
	"description\n          \n          locations", "description\n          isRepeatable\n          locations",
	"description\n      \n      \n      fields", "description\n      specifiedByURL\n      \n      fields",
).Replace(introspectionQuery)

func TestIntrospection(t *testing.T) {
	t.Parallel()
	enginetest.EachBackend(t, func(t *testing.T, url string) {
		e := newEnv(t, url, envOptions{})
		for name, q := range map[string]string{"graphiql": introspectionQuery, "full": fullIntrospectionQuery} {
			r := e.post(q, nil)
			if len(r.Errors) > 0 || r.Status != http.StatusOK {
				t.Errorf("%s introspection query refused (HTTP %d):\n%s", name, r.Status, errorList(r.Errors))
				continue
			}
			var out struct {
				Schema struct {
					QueryType    struct{ Name string } `json:"queryType"`
					MutationType struct{ Name string } `json:"mutationType"`
					Types        []struct{ Name string }
				} `json:"__schema"`
			}
			if err := jsonUnmarshal(r.Data, &out); err != nil {
				t.Fatal(err)
			}
			types := map[string]bool{}
			for _, ty := range out.Schema.Types {
				types[ty.Name] = true
			}
			if out.Schema.QueryType.Name != "Query" || out.Schema.MutationType.Name != "Mutation" {
				t.Errorf("%s: query type %q mutation type %q", name, out.Schema.QueryType.Name, out.Schema.MutationType.Name)
			}
			for _, ty := range []string{"Order", "Step", "Plan", "SubmitOrderInput", "OrderPreview", "StepConnection", "Node"} {
				if !types[ty] {
					t.Errorf("%s: introspection lacks type %s", name, ty)
				}
			}
		}
		for _, want := range []string{"__schema {\n        description", "isRepeatable", "specifiedByURL",
			"args(includeDeprecated: true)", "inputFields(includeDeprecated: true)", "defaultValue\n      isDeprecated"} {
			if !strings.Contains(fullIntrospectionQuery, want) {
				t.Errorf("the full introspection query lacks %q", want)
			}
		}
	})
}

// TestGetCannotMutate: mutations over GET (which a cross-site page can
// send) are refused and write nothing; queries over GET work.
func TestGetCannotMutate(t *testing.T) {
	t.Parallel()
	enginetest.EachBackend(t, func(t *testing.T, url string) {
		e := newEnv(t, url, envOptions{})
		vars, _ := json.Marshal(map[string]any{"in": proServerInput("via-get", "acme")})
		q := neturl.Values{"query": {submitMutation}, "variables": {string(vars)}}
		resp, err := e.srv.Client().Get(e.srv.URL + "?" + q.Encode())
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK && !strings.Contains(string(body), `"errors"`) {
			t.Errorf("mutation over GET: HTTP %d %s; want it refused", resp.StatusCode, body)
		}
		e.expectNothingWritten("after a mutation over GET")

		resp, err = e.srv.Client().Get(e.srv.URL + "?" + neturl.Values{"query": {`{ catalog { version } }`}}.Encode())
		if err != nil {
			t.Fatal(err)
		}
		body, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"version":1`) {
			t.Errorf("query over GET: HTTP %d %s", resp.StatusCode, body)
		}
	})
}

// ---------------------------------------------------------------- authentication

func TestAuthentication(t *testing.T) {
	t.Parallel()
	enginetest.EachBackend(t, func(t *testing.T, url string) {
		auth, err := graph.TokenAuth("ops:0123456789abcdef")
		if err != nil || auth == nil {
			t.Fatalf("TokenAuth: %v", err)
		}
		e := newEnv(t, url, envOptions{authenticate: auth})
		in := map[string]any{"in": proServerInput("auth-1", "acme")}
		for name, h := range map[string]http.Header{
			"no header":     {},
			"wrong token":   {"Authorization": {"Bearer fedcba9876543210"}},
			"not bearer":    {"Authorization": {"Basic 0123456789abcdef"}},
			"token as user": {"X-Baton-User": {"0123456789abcdef"}},
			"prefix":        {"Authorization": {"Bearer 0123456789abcde"}},
		} {
			r := e.postWith(h, submitMutation, in)
			if r.Status != http.StatusUnauthorized {
				t.Errorf("%s: HTTP %d; want 401", name, r.Status)
			}
			if len(r.Errors) != 1 || r.Errors[0].Extensions.Code != "UNAUTHENTICATED" {
				t.Errorf("%s: errors %v; want one UNAUTHENTICATED", name, r.Body)
			}
			if len(r.Data) != 0 && string(r.Data) != "null" {
				t.Errorf("%s: data %s; want none", name, r.Data)
			}
		}
		// Queries are refused too, introspection included.
		if r := e.postWith(http.Header{}, `{ catalog { version } }`, nil); r.Status != http.StatusUnauthorized {
			t.Errorf("unauthenticated query: HTTP %d; want 401", r.Status)
		}
		if r := e.postWith(http.Header{}, `{ __schema { queryType { name } } }`, nil); r.Status != http.StatusUnauthorized {
			t.Errorf("unauthenticated introspection: HTTP %d; want 401", r.Status)
		}
		e.expectNothingWritten("after unauthenticated requests")

		e.header.Set("Authorization", "Bearer 0123456789abcdef")
		id := e.submit(proServerInput("auth-1", "acme"))
		var out struct{ Order struct{ ExternalID string } }
		e.do(`query($id: ID!) { order(id: $id) { externalId } }`, map[string]any{"id": id}, &out)
		if out.Order.ExternalID != "auth-1" {
			t.Errorf("authenticated read = %+v", out.Order)
		}

		// An empty spec is no authentication; a short token is refused.
		if fn, err := graph.TokenAuth(""); fn != nil || err != nil {
			t.Errorf("TokenAuth(\"\") = %v, %v; want nil, nil", fn != nil, err)
		}
		if _, err := graph.TokenAuth("ops:short"); err == nil {
			t.Error("TokenAuth accepted a token shorter than 16 characters")
		}
	})
}

// TestEnrichOrderPlanEventKeepsStatus: when enrichment adds steps to a
// plan that has not started (its only line was waiting for data), the
// plan's event says PENDING → PENDING; the plan's start, if the new steps
// start it, is an event of its own.
func TestEnrichOrderPlanEventKeepsStatus(t *testing.T) {
	t.Parallel()
	enginetest.EachBackend(t, func(t *testing.T, url string) {
		// Approve a callout: READY, never claimed (no runner), so the plan
		// stays PENDING until enrichment's manual tasks start it.
		cat := strings.Replace(stagingCatalog, "{name: Approve, type: MANUAL_TASK, task: {queue: ops}}",
			"{name: Approve, type: CALLOUT, callout: {system: erp, path: /approve}}", 1)
		e := newEnv(t, url, envOptions{catalog: cat})
		id := e.submit(map[string]any{"externalId": "stag-only", "accountId": "acme",
			"lines": []any{map[string]any{"id": "R2", "productCode": "ROUTER"}}})
		e.do(`mutation($id: ID!, $la: [LineAttributesInput!]) { enrichOrder(orderId: $id, lineAttributes: $la) { id } }`,
			map[string]any{"id": id, "la": []any{map[string]any{"lineId": "R2", "attributes": map[string]any{"serial": "X"}}}}, nil)
		evs := e.client.Event.Query().Where(event.OrderID(atoi(t, id)), event.KindEQ(event.KindPLAN_STATUS)).
			Order(ent.Asc(event.FieldID)).AllX(e.ctx)
		var trail []string
		for _, ev := range evs {
			trail = append(trail, ev.From+"→"+ev.To)
		}
		prev := ""
		for _, ev := range evs {
			if ev.From != "" && prev != "" && ev.From != prev {
				t.Errorf("plan events %v: one starts from %s after the plan was %s", trail, ev.From, prev)
			}
			prev = ev.To
		}
		if want := []string{"→PENDING", "PENDING→PENDING", "PENDING→IN_PROGRESS"}; !slices.Equal(trail, want) {
			t.Errorf("plan events %v; want %v", trail, want)
		}
	})
}
