package graph_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/batonhq/baton/engine"
	"github.com/batonhq/baton/engine/access"
	"github.com/batonhq/baton/engine/enginetest"
	"github.com/batonhq/baton/ent/auditrecord"
	"github.com/batonhq/baton/ent/step"
	"github.com/batonhq/baton/graph"
)

// accessCatalog: one item task in queue install, one order task in queue
// credit (both declared: only their members work them), and an approval
// rule for orders marked big.
const accessCatalog = `version: 1
queues:
  - {name: install}
  - {name: credit}
products:
  - {code: SRV, type: COMMERCIAL}
  - {code: T-SRV, type: TECHNICAL}
decomposition:
  - {name: srv, from: SRV, to: T-SRV}
approvals:
  - {name: big, when: 'order.attributes.big == true'}
scenarios:
  - name: main
    groups:
      - name: Work
        steps:
          - {name: Install, type: MANUAL_TASK, scope: ITEM, product: T-SRV, task: {queue: install}}
          - {name: Credit, type: MANUAL_TASK, task: {queue: credit}}
`

// principals is a test's set of credentials: "Bearer <token>" → who.
type principals map[string]*access.Principal

func (ps principals) auth() graph.Authenticator {
	return func(_ context.Context, authorization string) (*access.Principal, error) {
		if p, ok := ps[strings.TrimPrefix(authorization, "Bearer ")]; ok {
			return p, nil
		}
		return nil, engine.Errorf(engine.CodeUnauthenticated, "unknown token")
	}
}

// as is a header that authenticates with token.
func as(token string) http.Header {
	return http.Header{"Authorization": {"Bearer " + token}}
}

func accessPrincipals() principals {
	pol := access.DefaultPolicy()
	ps := principals{"admin": pol.All(access.Principal{Name: "admin", Method: access.MethodToken})}
	for _, r := range access.DefaultRoles {
		ps["role-"+r.Name] = pol.Principal(access.Principal{Name: "u-" + r.Name, Method: access.MethodToken, Roles: []string{r.Name}})
	}
	ps["acme"] = pol.Principal(access.Principal{Name: "acme-user", Method: access.MethodOIDC, Roles: []string{access.Customer}, Accounts: []string{"ACME"}})
	ps["installer"] = pol.Principal(access.Principal{Name: "ina", Method: access.MethodOIDC, Roles: []string{access.FulfillmentAgent}, Queues: []string{"install"}})
	ps["agent-approver"] = pol.Principal(access.Principal{Name: "aga", Method: access.MethodOIDC, Roles: []string{access.OrderAgent, access.OrderApprover}})
	ps["approver"] = pol.Principal(access.Principal{Name: "apa", Method: access.MethodOIDC, Roles: []string{access.OrderApprover}})
	return ps
}

func srvOrder(ext, account string, attrs map[string]any) map[string]any {
	return map[string]any{"externalId": ext, "accountId": account, "attributes": attrs,
		"lines": []any{map[string]any{"id": "L1", "productCode": "SRV"}}}
}

// submitAs submits an order with the token's credentials.
func (e *env) submitAs(token string, in map[string]any) string {
	e.t.Helper()
	var out struct {
		SubmitOrder struct{ ID, Status string } `json:"submitOrder"`
	}
	r := e.postWith(as(token), `mutation($in: SubmitOrderInput!) { submitOrder(input: $in) { id status } }`, map[string]any{"in": in})
	if len(r.Errors) > 0 {
		e.t.Fatalf("submitOrder as %s: %s", token, errorList(r.Errors))
	}
	if err := json.Unmarshal(r.Data, &out); err != nil {
		e.t.Fatal(err)
	}
	return out.SubmitOrder.ID
}

func stepID(t *testing.T, e *env, orderID, name string) string {
	t.Helper()
	s, err := e.client.Step.Query().Where(step.OrderID(atoi(t, orderID)), step.Name(name)).Only(e.ctx)
	if err != nil {
		t.Fatalf("step %s: %v", name, err)
	}
	return fmt.Sprint(s.ID)
}

// TestEachRoleOverHTTP walks every default role through an operation of
// every permission: FORBIDDEN naming the permission exactly when the
// role's row of the table (access.DefaultRoles, the README's) lacks it,
// and a DENIED audit record for each mutation refused.
func TestEachRoleOverHTTP(t *testing.T) {
	t.Parallel()
	enginetest.EachBackend(t, func(t *testing.T, url string) {
		ps := accessPrincipals()
		e := newEnv(t, url, envOptions{catalog: accessCatalog, authenticate: ps.auth()})
		order := e.submitAs("admin", srvOrder("o-1", "ACME", nil))
		install, credit := stepID(t, e, order, "Install"), stepID(t, e, order, "Credit")
		ops := []struct {
			perm  access.Permission
			query string
		}{
			{access.CatalogRead, `{ catalog { id } }`},
			{access.CatalogImport, `mutation { importCatalog(document: "version: 1") { id } }`},
			{access.OrderRead, `{ orders(first: 1) { totalCount } }`},
			{access.OrderSubmit, `query { previewOrder(input: {externalId: "p", accountId: "ACME", lines: [{id: "L1", productCode: "SRV"}]}) { __typename } }`},
			{access.OrderEnrich, `mutation($o: ID!) { enrichOrder(orderId: $o, attributes: {note: "x"}) { id } }`},
			{access.OrderAmend, `query($o: ID!) { previewAmendment(orderId: $o, input: {lines: []}) { __typename } }`},
			{access.OrderCancel, `query($o: ID!) { previewCancellation(orderId: $o) { __typename } }`},
			{access.OrderApprove, `mutation($o: ID!) { approveOrder(orderId: $o) { id } }`},
			{access.OrderSignal, `mutation($o: ID!) { signal(orderId: $o, event: "nothing-waits") { id } }`},
			{access.OrchestrationStart, `mutation { startOrchestration(type: "none", subjectId: "s", context: {}) { id } }`},
			{access.TaskManage, `mutation($s: ID!) { assignTask(stepId: $s, assignee: "pat") { id } }`},
			{access.CalloutRespond, `mutation($s: ID!) { respondToCallout(stepId: $s, success: true) { id } }`},
			{access.FalloutRetry, `mutation($s: ID!) { retrySteps(ids: [$s]) { id } }`},
			{access.FalloutResolve, `mutation($c: ID!) { skipStep(stepId: $c, note: "by hand") { id } }`},
			{access.SystemManage, `mutation { setSystemStatus(system: "none", status: OFFLINE) { name } }`},
			{access.AuditRead, `{ auditLog(first: 1) { totalCount } }`},
			{access.KeyManage, `{ apiKeys { id } }`},
		}
		covered := map[access.Permission]bool{access.TaskWork: true} // TestQueueTasksOverHTTP
		for _, op := range ops {
			covered[op.perm] = true
		}
		for _, p := range access.Permissions {
			if !covered[p] {
				t.Errorf("no operation tests %s", p)
			}
		}
		vars := map[string]any{"o": order, "s": install, "c": credit}
		for _, role := range access.DefaultRoles {
			token := "role-" + role.Name
			denied := 0
			for _, op := range ops {
				r := e.postWith(as(token), op.query, vars)
				var forbidden *gqlError
				for i := range r.Errors {
					if r.Errors[i].Extensions.Code == "FORBIDDEN" {
						forbidden = &r.Errors[i]
					}
				}
				want := slices.Contains(role.Permissions, op.perm)
				switch {
				case want && forbidden != nil:
					t.Errorf("%s may %s, but %s: %s", role.Name, op.perm, op.query, forbidden)
				case !want && forbidden == nil:
					t.Errorf("%s may not %s, but %s answered %s", role.Name, op.perm, op.query, r.Body)
				case !want && !strings.Contains(forbidden.Message, string(op.perm)):
					t.Errorf("%s: FORBIDDEN %q does not name %s", role.Name, forbidden.Message, op.perm)
				}
				if !want && strings.HasPrefix(op.query, "mutation") {
					denied++
				}
			}
			n := e.client.AuditRecord.Query().Where(auditrecord.Actor("u-"+role.Name), auditrecord.OutcomeEQ(auditrecord.OutcomeDENIED)).CountX(e.ctx)
			if n != denied {
				t.Errorf("%s: %d DENIED audit records; want %d", role.Name, n, denied)
			}
		}
		if s := e.client.Step.GetX(e.ctx, atoi(t, credit)); s.Status != step.StatusSKIPPED {
			t.Errorf("Credit is %s; want SKIPPED by the one role that may", s.Status)
		}
	})
}

// TestAccountScopingOverHTTP: a customer of ACME sees ACME's orders and
// nothing of GLOBEX's, on every read path, and cannot act on them.
func TestAccountScopingOverHTTP(t *testing.T) {
	t.Parallel()
	enginetest.EachBackend(t, func(t *testing.T, url string) {
		ps := accessPrincipals()
		e := newEnv(t, url, envOptions{catalog: accessCatalog, authenticate: ps.auth()})
		mine := e.submitAs("admin", srvOrder("acme-1", "ACME", nil))
		theirs := e.submitAs("admin", srvOrder("globex-1", "GLOBEX", nil))
		theirStep := stepID(t, e, theirs, "Credit")
		var got struct {
			Orders, Plans, Steps, Accounts struct{ TotalCount int }
			Order, ByExt, Step             any
			Filtered                       struct{ TotalCount int }
		}
		r := e.postWith(as("acme"), `query($t: ID!, $ts: ID!) {
			orders(first: 10) { totalCount } plans(first: 10) { totalCount } steps(first: 10) { totalCount }
			accounts(first: 10) { totalCount }
			order(id: $t) { id }
			byExt: orderByExternalId(externalId: "globex-1") { id } step(id: $ts) { id }
			filtered: steps(first: 10, where: {hasOrderWith: {externalID: "globex-1"}}) { totalCount }
		}`, map[string]any{"t": theirs, "ts": theirStep})
		if len(r.Errors) > 0 {
			t.Fatalf("customer's reads: %s", errorList(r.Errors))
		}
		if err := json.Unmarshal(r.Data, &got); err != nil {
			t.Fatal(err)
		}
		if got.Orders.TotalCount != 1 || got.Plans.TotalCount != 1 || got.Steps.TotalCount != 2 || got.Accounts.TotalCount != 1 {
			t.Errorf("customer counts %+v; want ACME's only (1 order, 1 plan, 2 steps, 1 account)", got)
		}
		// node(id) answers another account's object as it answers an id
		// that does not exist.
		for _, id := range []string{theirs, theirStep} {
			r := e.postWith(as("acme"), `query($id: ID!) { node(id: $id) { id } }`, map[string]any{"id": id})
			absent := e.postWith(as("acme"), `query($id: ID!) { node(id: $id) { id } }`, map[string]any{"id": fmt.Sprint(atoi(t, id) + 1000)})
			if len(r.Errors) != 1 || len(absent.Errors) != 1 || r.Errors[0].Extensions.Code != absent.Errors[0].Extensions.Code || r.Data == nil && absent.Data != nil {
				t.Errorf("node(%s) of GLOBEX: %s; an absent id: %s", id, r.Body, absent.Body)
			}
		}
		if got.Order != nil || got.ByExt != nil || got.Step != nil || got.Filtered.TotalCount != 0 {
			t.Errorf("customer sees GLOBEX's order: %s", r.Data)
		}
		for _, q := range []string{
			`mutation($t: ID!) { cancelOrder(orderId: $t) { revision { number } } }`,
			`mutation($t: ID!) { amendOrder(orderId: $t, input: {lines: []}) { revision { number } } }`,
		} {
			expectError(t, e.postWith(as("acme"), q, map[string]any{"t": theirs}), "NOT_FOUND")
		}
		expectError(t, e.postWith(as("acme"), `mutation($in: SubmitOrderInput!) { submitOrder(input: $in) { id } }`,
			map[string]any{"in": srvOrder("acme-for-globex", "GLOBEX", nil)}), "FORBIDDEN")
		// Its own order it may follow and change.
		var own struct{ Order struct{ ID string } }
		r = e.postWith(as("acme"), `query($m: ID!) { order(id: $m) { id } }`, map[string]any{"m": mine})
		if err := json.Unmarshal(r.Data, &own); err != nil || own.Order.ID != mine {
			t.Errorf("customer's own order: %s", r.Body)
		}
		if s := e.client.Order.GetX(e.ctx, atoi(t, theirs)); s.Status == "CANCELLING" || s.Status == "CANCELLED" {
			t.Errorf("GLOBEX's order is %s after the customer's refused cancellation", s.Status)
		}
	})
}

// TestQueueTasksOverHTTP: a fulfillment agent of queue install lists and
// completes install tasks only.
func TestQueueTasksOverHTTP(t *testing.T) {
	t.Parallel()
	enginetest.EachBackend(t, func(t *testing.T, url string) {
		ps := accessPrincipals()
		e := newEnv(t, url, envOptions{catalog: accessCatalog, authenticate: ps.auth()})
		order := e.submitAs("admin", srvOrder("q-1", "ACME", nil))
		install, credit := stepID(t, e, order, "Install"), stepID(t, e, order, "Credit")
		var got struct {
			Steps struct {
				Edges []struct{ Node struct{ Name string } }
			}
		}
		r := e.postWith(as("installer"), `{ steps(first: 10, where: {type: MANUAL_TASK}) { edges { node { name } } } }`, nil)
		if err := json.Unmarshal(r.Data, &got); err != nil || len(r.Errors) > 0 {
			t.Fatalf("agent's tasks: %s", r.Body)
		}
		if len(got.Steps.Edges) != 1 || got.Steps.Edges[0].Node.Name != "Install" {
			t.Errorf("agent of queue install lists %s; want Install only", r.Data)
		}
		complete := `mutation($s: ID!) { completeTask(stepId: $s) { status } }`
		expectError(t, e.postWith(as("installer"), complete, map[string]any{"s": credit}), "FORBIDDEN")
		r = e.postWith(as("installer"), complete, map[string]any{"s": install})
		if len(r.Errors) > 0 {
			t.Errorf("agent completing its queue's task: %s", errorList(r.Errors))
		}
		r = e.postWith(as("role-FULFILLMENT_MANAGER"), complete, map[string]any{"s": credit})
		if len(r.Errors) > 0 {
			t.Errorf("manager completing any queue's task: %s", errorList(r.Errors))
		}
	})
}

// TestApprovalOverHTTP: an order an approval rule matches waits with
// nothing started; its submitter may not approve it; an approver starts
// it; a rejected one ends REJECTED with its steps CANCELLED.
func TestApprovalOverHTTP(t *testing.T) {
	t.Parallel()
	enginetest.EachBackend(t, func(t *testing.T, url string) {
		ps := accessPrincipals()
		e := newEnv(t, url, envOptions{catalog: accessCatalog, authenticate: ps.auth()})
		big := e.submitAs("agent-approver", srvOrder("big-1", "ACME", map[string]any{"big": true}))
		o := e.client.Order.GetX(e.ctx, atoi(t, big))
		if o.Status != "AWAITING_APPROVAL" || o.ApprovalRule != "big" || o.SubmittedBy != "aga" {
			t.Fatalf("big order %s rule %q by %q; want AWAITING_APPROVAL, big, aga", o.Status, o.ApprovalRule, o.SubmittedBy)
		}
		if n := e.client.Step.Query().Where(step.OrderID(o.ID), step.StatusNEQ(step.StatusREADY), step.StatusNEQ(step.StatusPENDING)).CountX(e.ctx); n != 0 {
			t.Errorf("%d steps of the order awaiting approval moved", n)
		}
		approve := `mutation($o: ID!) { approveOrder(orderId: $o, note: "ok") { status } }`
		f := expectError(t, e.postWith(as("agent-approver"), approve, map[string]any{"o": big}), "FORBIDDEN")
		if !strings.Contains(f.Message, "four-eyes") {
			t.Errorf("four-eyes refusal %q does not say why", f.Message)
		}
		r := e.postWith(as("approver"), approve, map[string]any{"o": big})
		if len(r.Errors) > 0 {
			t.Fatalf("approve: %s", errorList(r.Errors))
		}
		if n := e.client.Step.Query().Where(step.OrderID(o.ID), step.StatusEQ(step.StatusWAITING)).CountX(e.ctx); n != 2 {
			t.Errorf("approved order: %d tasks waiting; want 2", n)
		}
		if d := e.client.Order.GetX(e.ctx, o.ID).DecidedBy; d != "apa" {
			t.Errorf("decided by %q; want apa", d)
		}
		expectError(t, e.postWith(as("approver"), approve, map[string]any{"o": big}), "INVALID_STATE")

		other := e.submitAs("admin", srvOrder("big-2", "ACME", map[string]any{"big": true}))
		reject := `mutation($o: ID!, $why: String!) { rejectOrder(orderId: $o, reason: $why) { status } }`
		expectError(t, e.postWith(as("approver"), reject, map[string]any{"o": other, "why": " "}), "BAD_USER_INPUT")
		r = e.postWith(as("approver"), reject, map[string]any{"o": other, "why": "no budget"})
		if len(r.Errors) > 0 || !strings.Contains(string(r.Data), "REJECTED") {
			t.Fatalf("reject: %s", r.Body)
		}
		if n := e.client.Step.Query().Where(step.OrderID(atoi(t, other)), step.StatusNEQ(step.StatusCANCELLED)).CountX(e.ctx); n != 0 {
			t.Errorf("rejected order: %d steps not CANCELLED", n)
		}
		expectError(t, e.postWith(as("admin"), `mutation($o: ID!) { amendOrder(orderId: $o, input: {lines: []}) { order { id } } }`,
			map[string]any{"o": other}), "INVALID_STATE")
	})
}

// TestAuditLogOverHTTP: allowed and denied mutations and failed
// authentications are recorded with who, what, how and the request;
// auditLog filters them and /audit.jsonl exports them.
func TestAuditLogOverHTTP(t *testing.T) {
	t.Parallel()
	enginetest.EachBackend(t, func(t *testing.T, url string) {
		ps := accessPrincipals()
		e := newEnv(t, url, envOptions{catalog: accessCatalog, authenticate: ps.auth()})
		h := as("admin")
		h.Set("X-Request-Id", "req-42")
		r := e.postWith(h, `mutation($in: SubmitOrderInput!) { submitOrder(input: $in) { id } }`,
			map[string]any{"in": srvOrder("a-1", "ACME", nil)})
		if len(r.Errors) > 0 {
			t.Fatal(errorList(r.Errors))
		}
		expectError(t, e.postWith(as("acme"), `mutation { importCatalog(document: "version: 1") { id } }`, nil), "FORBIDDEN")
		if r := e.postWith(as("wrong"), `{ orders(first: 1) { totalCount } }`, nil); r.Status != http.StatusUnauthorized {
			t.Errorf("bad token: HTTP %d; want 401", r.Status)
		}
		recs := e.client.AuditRecord.Query().Order(auditrecord.ByID()).AllX(e.ctx)
		if len(recs) != 3 {
			t.Fatalf("%d audit records; want 3: %v", len(recs), recs)
		}
		sub, den, authn := recs[0], recs[1], recs[2]
		if sub.Action != "submitOrder" || sub.Outcome != auditrecord.OutcomeALLOWED || sub.Actor != "admin" || sub.Method != "TOKEN" ||
			sub.RequestID != "req-42" || len(sub.InputDigest) != 64 || sub.ClientAddr == "" {
			t.Errorf("submitOrder record = %+v", sub)
		}
		if den.Action != "importCatalog" || den.Outcome != auditrecord.OutcomeDENIED || den.Code != "FORBIDDEN" ||
			den.Actor != "acme-user" || !slices.Equal(den.Roles, []string{access.Customer}) {
			t.Errorf("denied record = %+v", den)
		}
		if authn.Action != "authenticate" || authn.Outcome != auditrecord.OutcomeDENIED || authn.Code != "UNAUTHENTICATED" {
			t.Errorf("authentication record = %+v", authn)
		}
		var log struct {
			AuditLog struct {
				TotalCount int
				Edges      []struct {
					Node struct{ Action, Outcome string }
				}
			}
		}
		r = e.postWith(as("role-PROCESS_ADMIN"), `{ auditLog(first: 10, where: {outcome: DENIED}) { totalCount edges { node { action outcome } } } }`, nil)
		if err := json.Unmarshal(r.Data, &log); err != nil || len(r.Errors) > 0 {
			t.Fatalf("auditLog: %s", r.Body)
		}
		if log.AuditLog.TotalCount != 2 || log.AuditLog.Edges[0].Node.Action != "authenticate" {
			t.Errorf("auditLog(DENIED) = %+v; want the two denials, newest first", log.AuditLog)
		}
		expectError(t, e.postWith(as("acme"), `{ auditLog(first: 1) { totalCount } }`, nil), "FORBIDDEN")

		export := httptest.NewServer(graph.AuditExport(graph.Config{Client: e.client, Engine: e.eng, Authenticate: ps.auth()}))
		defer export.Close()
		get := func(token, query string) (*http.Response, []map[string]any) {
			req, _ := http.NewRequest(http.MethodGet, export.URL+"/audit.jsonl?"+query, nil)
			req.Header.Set("Authorization", "Bearer "+token)
			resp, err := export.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var lines []map[string]any
			sc := bufio.NewScanner(resp.Body)
			for sc.Scan() {
				var m map[string]any
				if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
					t.Fatalf("export line %q: %v", sc.Text(), err)
				}
				lines = append(lines, m)
			}
			return resp, lines
		}
		resp, lines := get("role-FALLOUT_MANAGER", "action=submitOrder")
		if resp.StatusCode != http.StatusOK || len(lines) != 1 || lines[0]["requestId"] != "req-42" {
			t.Errorf("export: HTTP %d %v", resp.StatusCode, lines)
		}
		if resp, _ := get("acme", ""); resp.StatusCode != http.StatusForbidden {
			t.Errorf("export by a customer: HTTP %d; want 403", resp.StatusCode)
		}
		if resp, _ := get("role-PROCESS_ADMIN", "from=yesterday"); resp.StatusCode != http.StatusBadRequest {
			t.Errorf("export with a bad time: HTTP %d; want 400", resp.StatusCode)
		}
	})
}

// TestSubscriptionScopingOverWS: a customer's feed carries its accounts'
// events only, replayed and live; credentials are required in
// connection_init; a subscription ends UNAUTHENTICATED when its token
// expires, and resumes by cursor with a fresh one.
func TestSubscriptionScopingOverWS(t *testing.T) {
	t.Parallel()
	ps := accessPrincipals()
	w := newWSEnvWith(t, wsOptions{dbURL: enginetest.SQLiteURL(t), authenticate: ps.auth(), catalog: accessCatalog})
	pol := access.DefaultPolicy()
	ps["short"] = pol.Principal(access.Principal{Name: "short", Method: access.MethodOIDC, Roles: []string{access.Customer},
		Accounts: []string{"ACME"}, Expires: w.clock.Now().Add(time.Minute)})
	e := w.env
	acme := e.submitAs("admin", srvOrder("ws-acme-1", "ACME", nil))
	e.submitAs("admin", srvOrder("ws-globex-1", "GLOBEX", nil))

	// No credentials: 4401; bad ones: 4403.
	c := w.dialRaw("graphql-transport-ws")
	c.send(wsMsg{Type: "connection_init", Payload: json.RawMessage(`{}`)})
	c.expectClose(4401)
	c = w.dialRaw("graphql-transport-ws")
	c.send(wsMsg{Type: "connection_init", Payload: json.RawMessage(`{"authorization": "Bearer wrong"}`)})
	c.expectClose(4403)

	dial := func(token string) *wsConn {
		c := w.dialRaw("graphql-transport-ws")
		c.send(wsMsg{Type: "connection_init", Payload: json.RawMessage(`{"authorization": "Bearer ` + token + `"}`)})
		c.expect("connection_ack", "")
		return c
	}
	orderOf := func(m wsMsg) string {
		var p struct {
			Data struct {
				Events struct{ Cursor, OrderID string }
			}
		}
		if err := json.Unmarshal(m.Payload, &p); err != nil {
			t.Fatalf("event %s: %v", m.Payload, err)
		}
		return p.Data.Events.OrderID
	}
	sub := func(c *wsConn, id, after string) {
		c.send(wsMsg{Type: "subscribe", ID: id, Payload: json.RawMessage(
			`{"query":"subscription($a: String) { events(after: $a) { cursor orderId } }","variables":{"a":"` + after + `"}}`)})
	}
	c = dial("acme")
	sub(c, "1", "")
	e.submitAs("admin", srvOrder("ws-globex-2", "GLOBEX", nil))
	acme2 := e.submitAs("admin", srvOrder("ws-acme-2", "ACME", nil))
	// Replayed and then live, up to the second ACME order's first event:
	// ACME's only, GLOBEX's two orders skipped.
	for n := 0; ; n++ {
		got := orderOf(c.expect("next", "1"))
		if got != acme && got != acme2 {
			t.Fatalf("the customer's feed carried an event of order %s (after %d events)", got, n)
		}
		if got == acme2 {
			break
		}
	}

	// Expiry mid-subscription.
	short := dial("short")
	sub(short, "s", "")
	short.expect("next", "s")
	w.clock.Advance(2 * time.Minute)
	for {
		m, err := short.next()
		if err != nil {
			t.Fatalf("waiting for the expiry error: %v", err)
		}
		if m.Type == "next" {
			continue
		}
		if m.Type != "error" || !strings.Contains(string(m.Payload), "UNAUTHENTICATED") {
			t.Fatalf("expired subscription got %s %s; want error UNAUTHENTICATED", m.Type, m.Payload)
		}
		break
	}
}
