package graph_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/batonhq/baton/engine/access"
	"github.com/batonhq/baton/engine/enginetest"
)

// peopleCatalog: each SRV line needs an Install (queue install, round
// robin over ina and ivo) and a Survey with a form (queue field, which
// no catalog declares).
const peopleCatalog = `version: 1
products:
  - {code: SRV, type: COMMERCIAL}
  - {code: T-SRV, type: TECHNICAL}
decomposition:
  - {name: srv, from: SRV, to: T-SRV}
queues:
  - {name: install, members: [ina, ivo], strategy: ROUND_ROBIN}
scenarios:
  - name: main
    groups:
      - name: Work
        steps:
          - {name: Install, type: MANUAL_TASK, scope: ITEM, product: T-SRV, task: {queue: install}}
          - name: Survey
            type: MANUAL_TASK
            task:
              queue: field
              instructions: 'Visit {{ order.attributes.site }}'
              fields: [{name: rooms, type: number, required: true}]
`

func peoplePrincipals() principals {
	pol := access.DefaultPolicy()
	ps := principals{"admin": pol.All(access.Principal{Name: "admin", Method: access.MethodToken})}
	for _, n := range []string{"ina", "ivo", "fred"} {
		ps[n] = pol.Principal(access.Principal{Name: n, Method: access.MethodOIDC, Roles: []string{access.FulfillmentAgent}})
	}
	ps["max"] = pol.Principal(access.Principal{Name: "max", Method: access.MethodOIDC, Roles: []string{access.FulfillmentManager}})
	ps["cust"] = pol.Principal(access.Principal{Name: "cust", Method: access.MethodOIDC, Roles: []string{access.Customer}, Accounts: []string{"ACME"}})
	return ps
}

type inbox struct {
	MyTasks struct {
		TotalCount int
		Edges      []struct {
			Node struct {
				ID, Name, Instructions string
				Queue, Assignee        *string
				Fields                 []struct{ Name, Type string }
				Order                  struct{ ExternalID string }
			}
		}
	}
}

// TestInboxOverHTTP: each person's myTasks holds its own tasks and the
// claimable ones of queues it works, with the order, instructions and
// form; queues counts them; claiming moves a task between inboxes; a
// customer has no inbox.
func TestInboxOverHTTP(t *testing.T) {
	t.Parallel()
	enginetest.EachBackend(t, func(t *testing.T, url string) {
		ps := peoplePrincipals()
		e := newEnv(t, url, envOptions{catalog: peopleCatalog, authenticate: ps.auth()})
		in := srvOrder("in-1", "ACME", map[string]any{"site": "Hall 3"})
		e.submitAs("admin", in)
		q := `{ myTasks(first: 10) { totalCount edges { node { id name queue assignee instructions fields { name type } order { externalId } } } } }`
		box := func(token string) inbox {
			t.Helper()
			var b inbox
			r := e.postWith(as(token), q, nil)
			if len(r.Errors) > 0 || json.Unmarshal(r.Data, &b) != nil {
				t.Fatalf("myTasks as %s: %s", token, r.Body)
			}
			return b
		}
		names := func(b inbox) string {
			var out []string
			for _, ed := range b.MyTasks.Edges {
				who := "-"
				if ed.Node.Assignee != nil {
					who = *ed.Node.Assignee
				}
				out = append(out, ed.Node.Name+":"+who)
			}
			return strings.Join(out, " ")
		}
		if got := names(box("ina")); got != "Install:ina Survey:-" {
			t.Errorf("ina's inbox: %s; want her Install and the claimable Survey", got)
		}
		if got := names(box("fred")); got != "Survey:-" {
			t.Errorf("fred's inbox (no member of install): %s; want the Survey only", got)
		}
		b := box("fred")
		survey := b.MyTasks.Edges[0].Node
		if survey.Instructions != "Visit Hall 3" || len(survey.Fields) != 1 || survey.Fields[0].Type != "number" || survey.Order.ExternalID != "in-1" {
			t.Errorf("the survey as fred sees it: %+v", survey)
		}
		claim := `mutation($s: ID!) { claimTask(stepId: $s) { assignee } }`
		if r := e.postWith(as("fred"), claim, map[string]any{"s": survey.ID}); len(r.Errors) > 0 {
			t.Fatalf("fred claims: %s", errorList(r.Errors))
		}
		expectError(t, e.postWith(as("ina"), claim, map[string]any{"s": survey.ID}), "CONFLICT")
		if got := names(box("ina")); got != "Install:ina" {
			t.Errorf("ina's inbox after fred claimed the survey: %s", got)
		}
		complete := `mutation($s: ID!, $o: JSON) { completeTask(stepId: $s, output: $o) { status } }`
		expectError(t, e.postWith(as("fred"), complete, map[string]any{"s": survey.ID, "o": map[string]any{"rooms": "many"}}), "BAD_USER_INPUT")
		if r := e.postWith(as("fred"), complete, map[string]any{"s": survey.ID, "o": map[string]any{"rooms": 4}}); len(r.Errors) > 0 {
			t.Errorf("fred completes: %s", errorList(r.Errors))
		}
		var qs struct {
			Queues []struct {
				Name     string
				Declared bool
				Open     int
				Members  []struct {
					Name string
					Load int
				}
			}
		}
		r := e.postWith(as("max"), `{ queues { name declared open members { name load } } }`, nil)
		if len(r.Errors) > 0 || json.Unmarshal(r.Data, &qs) != nil {
			t.Fatalf("queues: %s", r.Body)
		}
		if len(qs.Queues) != 1 || qs.Queues[0].Name != "install" || !qs.Queues[0].Declared || qs.Queues[0].Open != 1 ||
			len(qs.Queues[0].Members) != 2 || qs.Queues[0].Members[0].Load != 1 || qs.Queues[0].Members[1].Load != 0 {
			t.Errorf("queues as a manager: %s", r.Data)
		}
		expectError(t, e.postWith(as("cust"), q, nil), "FORBIDDEN")
		expectError(t, e.postWith(as("ina"), `mutation { setQueueMembers(queue: "install", members: ["ina"]) { name } }`, nil), "FORBIDDEN")
	})
}

// TestInboxOverWS: myTasksChanged carries what enters and leaves a
// person's inbox: its new tasks and claimable ones, and a task
// reassigned away from it; not other people's tasks.
func TestInboxOverWS(t *testing.T) {
	t.Parallel()
	ps := peoplePrincipals()
	w := newWSEnvWith(t, wsOptions{dbURL: enginetest.SQLiteURL(t), authenticate: ps.auth(), catalog: peopleCatalog})
	e := w.env
	c := w.dialRaw("graphql-transport-ws")
	c.send(wsMsg{Type: "connection_init", Payload: json.RawMessage(`{"authorization": "Bearer ivo"}`)})
	c.expect("connection_ack", "")
	c.send(wsMsg{Type: "subscribe", ID: "1", Payload: json.RawMessage(
		`{"query":"subscription { myTasksChanged { kind from to step { name assignee } } }"}`)})
	// Two orders: Install goes to ina, then ivo (round robin).
	e.submitAs("admin", srvOrder("ws-1", "ACME", nil))
	o2 := e.submitAs("admin", srvOrder("ws-2", "ACME", nil))
	type ev struct {
		Data struct {
			MyTasksChanged struct {
				Kind, From, To string
				Step           struct {
					Name     string
					Assignee *string
				}
			}
		}
	}
	next := func() string {
		t.Helper()
		var v ev
		m := c.expect("next", "1")
		if err := json.Unmarshal(m.Payload, &v); err != nil {
			t.Fatal(err)
		}
		x := v.Data.MyTasksChanged
		who := "-"
		if x.Step.Assignee != nil {
			who = *x.Step.Assignee
		}
		return x.Kind + " " + x.Step.Name + ":" + who
	}
	var seen []string
	for len(seen) == 0 || seen[len(seen)-1] != "STEP_ASSIGNED Install:ivo" {
		if len(seen) > 20 {
			t.Fatalf("ivo's Install never arrived: %v", seen)
		}
		seen = append(seen, next())
	}
	joined := strings.Join(seen, ", ")
	// The Surveys (claimable, in an undeclared queue), the Installs while
	// unassigned in his queue, and his Install; ina's Install is not ivo's
	// business.
	if strings.Contains(joined, ":ina") || !strings.Contains(joined, "Survey:-") {
		t.Errorf("ivo's inbox feed: %s", joined)
	}
	// A manager takes ivo's Install away: ivo hears of it.
	install := stepID(t, e, o2, "Install")
	if r := e.postWith(as("max"), `mutation($s: ID!) { assignTask(stepId: $s, assignee: "ina") { assignee } }`, map[string]any{"s": install}); len(r.Errors) > 0 {
		t.Fatal(errorList(r.Errors))
	}
	for {
		got := next()
		if got == "STEP_ASSIGNED Install:ina" {
			break
		}
		if !strings.Contains(got, "Survey") {
			t.Fatalf("unexpected inbox event %s", got)
		}
	}
}
