package wsgorilla_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/gorilla/websocket"

	"github.com/batonhq/baton/graph/wsgorilla"
)

// initialise sends connection_init and reads the ack (and, on the legacy
// protocol, the "ka" gqlgen sends right after it).
func (c *client) initialise(proto string) {
	c.t.Helper()
	c.send(message{Type: "connection_init"})
	c.expect("connection_ack", "")
	if proto == legacyWS {
		c.expect("ka", "")
	}
}

// pick returns the graphql-transport-ws or the legacy graphql-ws name of a
// message type.
func pick(proto, transportWSName, legacyName string) string {
	if proto == legacyWS {
		return legacyName
	}
	return transportWSName
}

// expectRefusal checks that the server closes the connection with code and
// a reason containing reason (on the legacy protocol after a
// connection_error saying the same), and then drops the TCP connection.
func (c *client) expectRefusal(proto string, code int, reason string) {
	c.t.Helper()
	if proto == legacyWS {
		var p struct{ Message string }
		if err := json.Unmarshal(c.expect("connection_error", "", "ka").Payload, &p); err != nil || !strings.Contains(p.Message, reason) {
			c.t.Errorf("connection_error %q (%v), want one containing %q", p.Message, err, reason)
		}
	}
	if ce := c.expectClose(code, "ka"); !strings.Contains(ce.Text, reason) {
		c.t.Errorf("close reason %q, want one containing %q", ce.Text, reason)
	}
	c.expectEOF()
}

// Every message the protocol does not allow closes the connection with the
// code graphql-transport-ws prescribes, before the transport acts on it
// (gqlgen alone closes with 1002 or 1000, or leaves the connection open).
func TestProtocolViolationsClose(t *testing.T) {
	const sub = `{"query":"subscription { name }"}`
	cases := []struct {
		name   string
		protos []string
		init   bool
		send   string
		code   int
		reason string
	}{
		{"not JSON before init", []string{transportWS, legacyWS}, false, `{`, 4400, "not a JSON object"},
		{"not JSON after init", []string{transportWS, legacyWS}, true, `{"type":`, 4400, "not a JSON object"},
		{"trailing garbage", []string{transportWS, legacyWS}, true, `{"type":"ping"} x`, 4400, "not a JSON object"},
		{"array", []string{transportWS, legacyWS}, true, `[{"type":"ping"}]`, 4400, "not a JSON object"},
		{"null", []string{transportWS, legacyWS}, true, `null`, 4400, "type must be a string"},
		{"no type", []string{transportWS, legacyWS}, true, `{"id":"1"}`, 4400, "type must be a string"},
		{"numeric type", []string{transportWS, legacyWS}, true, `{"type":7}`, 4400, "type must be a string"},
		{"unknown type", []string{transportWS, legacyWS}, true, `{"type":"bogus"}`, 4400, `unexpected type "bogus"`},
		{"server message from the client", []string{transportWS}, true, `{"type":"next","id":"1","payload":{}}`, 4400, `unexpected type "next"`},
		{"legacy message on graphql-transport-ws", []string{transportWS}, true, `{"type":"start","id":"1","payload":` + sub + `}`, 4400, `unexpected type "start"`},
		{"graphql-transport-ws message on legacy", []string{legacyWS}, true, `{"type":"subscribe","id":"1","payload":` + sub + `}`, 4400, `unexpected type "subscribe"`},
		{"ping on legacy", []string{legacyWS}, true, `{"type":"ping"}`, 4400, `unexpected type "ping"`},
		{"numeric id", []string{transportWS}, true, `{"type":"subscribe","id":1,"payload":` + sub + `}`, 4400, "id must be a string"},
		{"subscribe without id", []string{transportWS}, true, `{"type":"subscribe","payload":` + sub + `}`, 4400, "needs an id"},
		{"start without id", []string{legacyWS}, true, `{"type":"start","id":"","payload":` + sub + `}`, 4400, "needs an id"},
		{"complete without id", []string{transportWS}, true, `{"type":"complete"}`, 4400, "needs an id"},
		{"subscribe without payload", []string{transportWS}, true, `{"type":"subscribe","id":"1"}`, 4400, "payload must be an object"},
		{"payload a string", []string{transportWS}, true, `{"type":"subscribe","id":"1","payload":"subscription { name }"}`, 4400, "payload must be an object"},
		{"query a number", []string{transportWS}, true, `{"type":"subscribe","id":"1","payload":{"query":1}}`, 4400, "query must be a string"},
		{"variables a list", []string{transportWS, legacyWS}, true, `{"type":"%s","id":"1","payload":{"query":"subscription { name }","variables":[1]}}`, 4400, "variables must be an object"},
		{"operationName an object", []string{transportWS}, true, `{"type":"subscribe","id":"1","payload":{"query":"subscription { name }","operationName":{}}}`, 4400, "operationName must be a string"},
		{"extensions a string", []string{transportWS}, true, `{"type":"subscribe","id":"1","payload":{"query":"subscription { name }","extensions":"x"}}`, 4400, "extensions must be an object"},
		// gqlgen returns from its handler without closing anything: the
		// connection stayed open until the client left.
		{"connection_init payload a list", []string{transportWS, legacyWS}, false, `{"type":"connection_init","payload":[1]}`, 4400, "payload must be an object"},
		{"ping payload a string", []string{transportWS}, true, `{"type":"ping","payload":"x"}`, 4400, "payload must be an object"},
		{"subscribe before init", []string{transportWS, legacyWS}, false, `{"type":"%s","id":"1","payload":` + sub + `}`, 4401, "Unauthorized"},
		{"second connection_init", []string{transportWS, legacyWS}, true, `{"type":"connection_init"}`, 4429, "Too many initialisation requests"},
	}
	for _, tc := range cases {
		for _, proto := range tc.protos {
			t.Run(proto+"/"+tc.name, func(t *testing.T) {
				rec := newRecorder()
				_, url := gqlServer(t, transport.Websocket{
					Implementation: wsgorilla.Implementation{},
					ErrorFunc:      rec.errorFunc,
					CloseFunc:      rec.closeFunc,
				})
				c := dial(t, url, nil, proto)
				if tc.init {
					c.initialise(proto)
				}
				c.sendRaw([]byte(strings.Replace(tc.send, "%s", pick(proto, "subscribe", "start"), 1)))
				c.expectRefusal(proto, tc.code, tc.reason)

				rec.waitClosed(t)
				// The transport reports read errors of initialised
				// connections: it must be told what happened.
				for _, err := range rec.reported(t) {
					var pe *wsgorilla.ProtocolError
					if !errors.As(err, &pe) || pe.Code != tc.code {
						t.Errorf("ErrorFunc got %v, want a ProtocolError with code %d", err, tc.code)
					}
				}
			})
		}
	}
}

// A subscribe with the id of a running operation closes with 4409; gqlgen
// alone ran both under the same id, and the client's complete then stopped
// only one of them.
func TestProtocolDuplicateSubscribeID(t *testing.T) {
	rec := newRecorder()
	gql, url := gqlServer(t, transport.Websocket{Implementation: wsgorilla.Implementation{}, ErrorFunc: rec.errorFunc})
	c := dial(t, url, nil, transportWS)
	c.initialise(transportWS)
	c.send(message{Type: "subscribe", ID: "1", Payload: subscribeName})
	gql.SendNextSubscriptionMessage()
	c.expect("next", "1")

	c.send(message{Type: "subscribe", ID: "1", Payload: subscribeName})
	c.expectRefusal(transportWS, wsgorilla.CloseSubscriberExists, "Subscriber for 1 already exists")
	// TestMain's goleak check and startServer's cleanup prove that the
	// first subscription ended with the connection.
}

// After the client's complete nothing more of that operation is sent (not
// even the transport's own complete), and the id may be used again at once,
// even before the stopped operation has wound down.
func TestProtocolCompleteEndsOperationAndFreesID(t *testing.T) {
	gql, url := gqlServer(t, transport.Websocket{Implementation: wsgorilla.Implementation{}})
	c := dial(t, url, nil, transportWS)
	c.initialise(transportWS)

	c.send(message{Type: "subscribe", ID: "a", Payload: subscribeName})
	gql.SendNextSubscriptionMessage()
	c.expect("next", "a")
	c.send(message{Type: "complete", ID: "a"})
	// The pong is written after the complete was handled: had anything of
	// "a" followed the complete, it would come first.
	c.send(message{Type: "ping"})
	c.expect("pong", "")

	// Pipelined: the second subscribe is read right after the complete,
	// while the first operation may still be winding down; what "a" gets
	// now is the new operation's. (A query: the test server hands its
	// subscription events to whichever subscription takes them first.)
	c.send(message{Type: "subscribe", ID: "a", Payload: subscribeName})
	c.send(message{Type: "complete", ID: "a"})
	c.send(message{Type: "subscribe", ID: "a", Payload: queryName})
	assertJSON(t, c.expect("next", "a").Payload, `{"data":{"name":"test"}}`)
	c.expect("complete", "a")
	c.send(message{Type: "ping"})
	c.expect("pong", "")

	// A complete for an id not in use is ignored, as the protocol allows.
	c.send(message{Type: "complete", ID: "a"})
	c.send(message{Type: "complete", ID: "never-used"})
	c.send(message{Type: "subscribe", ID: "q", Payload: queryName})
	c.expect("next", "q")
	c.expect("complete", "q")
}

// An operation the transport refuses (here: an invalid query) ends with
// one error message; graphql-transport-ws has no complete after an error.
func TestProtocolErrorEndsOperation(t *testing.T) {
	_, url := gqlServer(t, transport.Websocket{Implementation: wsgorilla.Implementation{}})
	c := dial(t, url, nil, transportWS)
	c.initialise(transportWS)
	c.send(message{Type: "subscribe", ID: "1", Payload: json.RawMessage(`{"query":"subscription { nope }"}`)})
	c.expect("error", "1")
	c.send(message{Type: "ping"})
	c.expect("pong", "")
	// And the id is free again.
	c.send(message{Type: "subscribe", ID: "1", Payload: queryName})
	c.expect("next", "1")
	c.expect("complete", "1")
}

// Ping (and pong, and complete) may come before connection_init; the
// transport alone closed the connection.
func TestProtocolPingBeforeInit(t *testing.T) {
	_, url := gqlServer(t, transport.Websocket{Implementation: wsgorilla.Implementation{}})
	c := dial(t, url, nil, transportWS)
	c.send(message{Type: "ping", Payload: json.RawMessage(`{"n":1}`)})
	assertJSON(t, c.expect("pong", "").Payload, `{"n":1}`)
	c.send(message{Type: "pong"})
	c.send(message{Type: "complete", ID: "1"})
	c.initialise(transportWS)
	c.send(message{Type: "subscribe", ID: "1", Payload: queryName})
	c.expect("next", "1")
}

// The legacy protocol's reference server replaces the operation running
// under an id that a new start reuses; only the new one is heard of.
func TestProtocolLegacyStartReplaces(t *testing.T) {
	gql, url := gqlServer(t, transport.Websocket{Implementation: wsgorilla.Implementation{}})
	c := dial(t, url, nil, legacyWS)
	c.initialise(legacyWS)
	c.send(message{Type: "start", ID: "1", Payload: subscribeName})
	gql.SendNextSubscriptionMessage()
	c.expect("data", "1")

	// The replacement (a query: the test server hands subscription events
	// to whichever subscription takes them first) is all "1" hears of: one
	// data, one complete, and not the replaced operation's complete.
	c.send(message{Type: "start", ID: "1", Payload: queryName})
	assertJSON(t, c.expect("data", "1").Payload, `{"data":{"name":"test"}}`)
	c.expect("complete", "1")

	// A stop is confirmed with a complete; a second one is ignored.
	c.send(message{Type: "start", ID: "2", Payload: subscribeName})
	c.send(message{Type: "stop", ID: "2"})
	c.expect("complete", "2")
	c.send(message{Type: "stop", ID: "2"})
	c.send(message{Type: "connection_terminate"})
	c.expectClose(websocket.CloseNormalClosure)
}

// MaxOperations refuses an operation beyond it with an error for its id;
// the connection and its other operations carry on.
func TestProtocolMaxOperations(t *testing.T) {
	for _, proto := range []string{transportWS, legacyWS} {
		t.Run(proto, func(t *testing.T) {
			start, stop, data := pick(proto, "subscribe", "start"), pick(proto, "complete", "stop"), pick(proto, "next", "data")
			_, url := gqlServer(t, transport.Websocket{Implementation: wsgorilla.Implementation{MaxOperations: 2}})
			c := dial(t, url, nil, proto)
			c.initialise(proto)
			c.send(message{Type: start, ID: "1", Payload: subscribeName})
			c.send(message{Type: start, ID: "2", Payload: subscribeName})
			c.send(message{Type: start, ID: "3", Payload: queryName})
			var errs []struct {
				Message    string
				Extensions struct{ Code string }
			}
			if err := json.Unmarshal(c.expect("error", "3", "ka").Payload, &errs); err != nil || len(errs) != 1 || errs[0].Extensions.Code != wsgorilla.OperationLimitCode {
				t.Fatalf("error payload %+v (%v), want one %s error", errs, err, wsgorilla.OperationLimitCode)
			}

			c.send(message{Type: stop, ID: "1"})
			if proto == legacyWS {
				c.expect("complete", "1", "ka")
			}
			c.send(message{Type: start, ID: "3", Payload: queryName})
			assertJSON(t, c.expect(data, "3", "ka").Payload, `{"data":{"name":"test"}}`)
			c.expect("complete", "3", "ka")
		})
	}
}

// InitTimeout closes with 4408 when connection_init does not come in time,
// and leaves a connection that sent it alone.
func TestProtocolInitTimeout(t *testing.T) {
	for _, proto := range []string{transportWS, legacyWS} {
		t.Run(proto, func(t *testing.T) {
			_, url := gqlServer(t, transport.Websocket{Implementation: wsgorilla.Implementation{InitTimeout: 50 * time.Millisecond}})
			c := dial(t, url, nil, proto)
			c.expectRefusal(proto, wsgorilla.CloseInitTimeout, "Connection initialisation timeout")

			c = dial(t, url, nil, proto)
			c.initialise(proto)
			time.Sleep(150 * time.Millisecond)
			c.send(message{Type: pick(proto, "subscribe", "start"), ID: "1", Payload: queryName})
			c.expect(pick(proto, "next", "data"), "1", "ka")
		})
	}
}
