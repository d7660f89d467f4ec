package graph_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/batonhq/baton/engine/enginetest"
	"github.com/batonhq/baton/graph"
)

const sharedQuery = `{"query":"subscription { events { cursor kind orderId at } }"}`

// Identical live subscriptions share one execution: however many
// connections subscribe with the same query, variables and scope, the hub
// serves one subscription, and every connection, on either protocol, gets
// every event once, as the same bytes. One leaving does not disturb the
// others; the last one leaving ends the group. A subscription resuming
// from a cursor runs alone, and gets the same events as the same bytes
// (live and replayed events carry the same time, to the microsecond).
func TestSharedSubscriptions(t *testing.T) {
	enginetest.EachBackend(t, func(t *testing.T, url string) {
		testSharedSubscriptions(t, newWSEnvWith(t, wsOptions{dbURL: url}))
	})
}

func testSharedSubscriptions(t *testing.T, w *wsEnv) {
	var conns []*wsConn
	for i := range 12 {
		proto, verb := "graphql-transport-ws", "subscribe"
		if i%3 == 2 {
			proto, verb = "graphql-ws", "start"
		}
		c := w.dialWS(proto)
		c.send(wsMsg{Type: verb, ID: fmt.Sprint("op", i), Payload: json.RawMessage(sharedQuery)})
		conns = append(conns, c)
	}
	waitHubSubscribers(t, w.hub, 1)

	n := w.submitCounted("shared-1")
	var first [][]byte
	for i, c := range conns {
		payloads := c.readPayloads(fmt.Sprint("op", i), n)
		if i == 0 {
			first = payloads
			continue
		}
		for k := range payloads {
			if !bytes.Equal(payloads[k], first[k]) {
				t.Fatalf("connection %d, event %d: %s; connection 0 got %s", i, k, payloads[k], first[k])
			}
		}
	}
	seen := map[string]bool{}
	for _, p := range first {
		var r struct {
			Data struct{ Events struct{ Cursor string } }
		}
		if err := json.Unmarshal(p, &r); err != nil || r.Data.Events.Cursor == "" || seen[r.Data.Events.Cursor] {
			t.Fatalf("event %s: %v (a cursor twice?)", p, err)
		}
		seen[r.Data.Events.Cursor] = true
	}

	// The same events, executed alone (a resumed subscription), are the
	// same bytes.
	alone := w.dialWS("graphql-transport-ws")
	alone.send(wsMsg{Type: "subscribe", ID: "a", Payload: json.RawMessage(`{"query":"subscription { events(after: \"0\") { cursor kind orderId at } }"}`)})
	waitHubSubscribers(t, w.hub, 2)
	replayed := alone.readPayloads("a", n)
	for k := range replayed {
		if !bytes.Equal(replayed[k], first[k]) {
			t.Fatalf("replayed event %d: %s; shared %s", k, replayed[k], first[k])
		}
	}
	alone.stop("a")
	waitHubSubscribers(t, w.hub, 1)

	// Half leave; the rest carry on with the next order.
	for i := 0; i < len(conns); i += 2 {
		conns[i].stop(fmt.Sprint("op", i))
		if conns[i].proto == "graphql-ws" {
			conns[i].expect("complete", fmt.Sprint("op", i))
		}
	}
	n = w.submitCounted("shared-2")
	for i := 1; i < len(conns); i += 2 {
		expectOnce(t, fmt.Sprint("connection ", i), conns[i].readEvents(fmt.Sprint("op", i), n))
	}
	// Nothing reached those that left (a pong is the next message).
	for i := 0; i < len(conns); i += 2 {
		if conns[i].proto == "graphql-transport-ws" {
			conns[i].send(wsMsg{Type: "ping"})
			conns[i].expect("pong", "")
		}
	}
	for i := 1; i < len(conns); i += 2 {
		conns[i].stop(fmt.Sprint("op", i))
	}
	waitHubSubscribers(t, w.hub, 0)

	// A new subscriber after the group ended starts a new one.
	again := w.dialWS("graphql-transport-ws")
	again.send(wsMsg{Type: "subscribe", ID: "1", Payload: json.RawMessage(sharedQuery)})
	waitHubSubscribers(t, w.hub, 1)
	expectOnce(t, "again", again.readEvents("1", w.submitCounted("shared-3")))
}

// Subscribers share only with those of the same scope: two principals of
// the same account share one execution, one of another account gets one
// of its own and sees none of the first account's events.
func TestSharedSubscriptionsKeepScopes(t *testing.T) {
	auth, err := graph.TokenAuth("admin:secret-admin-0123456789,ann:secret-ann-0123456789:ORDER_MANAGER@acme,bob:secret-bob-0123456789:ORDER_MANAGER@acme,gil:secret-gil-0123456789:ORDER_MANAGER@globex")
	if err != nil {
		t.Fatal(err)
	}
	w := newWSEnvWith(t, wsOptions{dbURL: enginetest.SQLiteURL(t), authenticate: auth})
	w.header.Set("Authorization", "Bearer secret-admin-0123456789")
	dial := func(secret string) *wsConn {
		c := w.dialRaw("graphql-transport-ws")
		c.send(wsMsg{Type: "connection_init", Payload: json.RawMessage(fmt.Sprintf(`{"authorization":"Bearer %s"}`, secret))})
		c.expect("connection_ack", "")
		c.send(wsMsg{Type: "subscribe", ID: "1", Payload: json.RawMessage(sharedQuery)})
		return c
	}
	ann, bob, gil := dial("secret-ann-0123456789"), dial("secret-bob-0123456789"), dial("secret-gil-0123456789")
	waitHubSubscribers(t, w.hub, 2)

	n := w.submitCountedTo("scoped-acme", "acme")
	expectOnce(t, "ann", ann.readEvents("1", n))
	expectOnce(t, "bob", bob.readEvents("1", n))
	// gil (globex) saw nothing of acme's order: a pong is the next message.
	gil.send(wsMsg{Type: "ping"})
	gil.expect("pong", "")
	n = w.submitCountedTo("scoped-globex", "globex")
	expectOnce(t, "gil", gil.readEvents("1", n))
	for _, c := range []*wsConn{ann, bob} {
		c.send(wsMsg{Type: "ping"})
		c.expect("pong", "")
	}
}

// readPayloads reads n results delivered to id (next or, on graphql-ws,
// data) and returns their payloads as sent.
func (c *wsConn) readPayloads(id string, n int) [][]byte {
	c.t.Helper()
	data := "next"
	if c.proto == "graphql-ws" {
		data = "data"
	}
	var out [][]byte
	for range n {
		out = append(out, c.expect(data, id).Payload)
	}
	return out
}
