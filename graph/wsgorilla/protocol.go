package wsgorilla

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
)

// The subprotocols whose messages the connection checks.
const (
	subprotocolTransportWS = "graphql-transport-ws"
	subprotocolLegacyWS    = "graphql-ws"
)

// Close codes of the graphql-transport-ws protocol
// (https://github.com/enisdenjo/graphql-ws/blob/master/PROTOCOL.md). The
// connection closes with them on both protocols: the legacy graphql-ws
// protocol has no codes of its own for these cases, and its clients are
// told the reason in a connection_error message first.
const (
	// CloseBadRequest: a message that is not valid JSON, has an unknown
	// type, lacks a required id or carries a payload of the wrong shape.
	CloseBadRequest = 4400
	// CloseUnauthorized: subscribe (start) before the server acknowledged
	// the connection.
	CloseUnauthorized = 4401
	// CloseInitTimeout: no connection_init within Implementation.InitTimeout.
	CloseInitTimeout = 4408
	// CloseSubscriberExists: subscribe with the id of an operation still
	// running (graphql-transport-ws only; see Implementation).
	CloseSubscriberExists = 4409
	// CloseTooManyInit: a second connection_init.
	CloseTooManyInit = 4429
)

// ProtocolError is the read error NextReader returns after it closed the
// connection because the client broke the protocol. The transport passes
// it to ErrorFunc (as a transport.WebsocketError) when the connection was
// already initialised.
type ProtocolError struct {
	Code   int    // the close code sent, one of the Close* constants
	Reason string // the close reason sent
}

func (e *ProtocolError) Error() string {
	return fmt.Sprintf("wsgorilla: client broke the protocol, closed with %d: %s", e.Code, e.Reason)
}

// OperationLimitCode is the extensions.code of the error that refuses an
// operation beyond Implementation.MaxOperations.
const OperationLimitCode = "TOO_MANY_OPERATIONS"

// wireMessage is a message of either protocol in the field order gqlgen
// writes.
type wireMessage struct {
	Payload json.RawMessage `json:"payload,omitempty"`
	ID      string          `json:"id,omitempty"`
	Type    string          `json:"type"`
}

// protocol is one connection's view of the GraphQL websocket protocol. It
// sees every message in both directions before gqlgen's transport (reads)
// or the client (writes) does, so it can refuse what the transport would
// mishandle, with the protocol's close codes, before the transport acts.
//
// Operation ids are the client's to choose, and the transport keys its
// running operations by them: a second subscribe with an id in use runs
// twice, and the first one can no longer be stopped. So the transport never
// sees a client's id: every operation gets an id of its own (a counter),
// mapped back on every message written. An operation the client completed
// (stopped) loses its mapping at once, so nothing it still writes reaches
// the client and its id is free for the client to use again.
//
// A protocol is guarded by its connection's qmu: a message written for
// an operation is queued, or dropped, atomically with the decision, so
// nothing for an operation is queued once the client's complete has been
// read.
type protocol struct {
	legacy bool // graphql-ws rather than graphql-transport-ws
	maxOps int  // running operations allowed; 0: no limit
	// lanes: each operation's payload carries its transport id in
	// extensions[LaneExtension], for LaneFor.
	lanes bool

	initReceived bool // a connection_init was passed to the transport
	acked        bool // the transport sent connection_ack

	seq      uint64
	byClient map[string]string     // client id -> transport id, while the client may still hear of it
	ops      map[string]*operation // transport id -> operation, until its last message
}

type operation struct {
	clientID string
	// stopping (legacy graphql-ws): the client sent stop; only the final
	// complete (or error) is still passed on, as the legacy protocol has
	// the server confirm a stop.
	stopping bool
}

func newProtocol(subprotocol string, maxOps int) *protocol {
	p := &protocol{maxOps: maxOps, byClient: map[string]string{}, ops: map[string]*operation{}}
	switch subprotocol {
	case subprotocolTransportWS:
	case subprotocolLegacyWS, "":
		// gqlgen speaks graphql-ws to a client that offered no subprotocol.
		p.legacy = true
	default:
		// The transport refuses other subprotocols by itself.
		return nil
	}
	return p
}

// verdict is what to do with one message read from the client.
type verdict struct {
	deliver []byte // message for the transport; nil: none (the message is swallowed)
	pending []byte // a second message for the transport, for the next read
	reply   []byte // message to send the client at once
	close   int    // non-zero: close the connection with this code ...
	reason  string // ... and reason
}

func refuse(code int, format string, args ...any) verdict {
	return verdict{close: code, reason: fmt.Sprintf(format, args...)}
}

// receive checks a message from the client against the protocol and the
// connection's state and decides what becomes of it. Messages passed to the
// transport are re-encoded, so the transport decodes exactly what was
// checked.
func (p *protocol) receive(data []byte) verdict {
	var raw struct {
		Type    json.RawMessage `json:"type"`
		ID      json.RawMessage `json:"id"`
		Payload json.RawMessage `json:"payload"`
	}
	if err := json.Unmarshal(data, &raw); err != nil {
		return refuse(CloseBadRequest, "Invalid message received: not a JSON object")
	}
	var m wireMessage
	if err := json.Unmarshal(raw.Type, &m.Type); err != nil {
		return refuse(CloseBadRequest, "Invalid message received: type must be a string")
	}
	if !isNull(raw.ID) {
		if err := json.Unmarshal(raw.ID, &m.ID); err != nil {
			return refuse(CloseBadRequest, "Invalid message received: id must be a string")
		}
	}
	if !isNull(raw.Payload) {
		m.Payload = raw.Payload
	}

	switch m.Type {
	case "connection_init":
		if p.initReceived {
			return refuse(CloseTooManyInit, "Too many initialisation requests")
		}
		if m.Payload != nil && !isObject(m.Payload) {
			return refuse(CloseBadRequest, "Invalid message received: connection_init payload must be an object")
		}
		p.initReceived = true
		return verdict{deliver: encode(m)}

	case "subscribe", "start":
		if (m.Type == "start") != p.legacy {
			break
		}
		if !p.acked {
			return refuse(CloseUnauthorized, "Unauthorized")
		}
		if m.ID == "" {
			return refuse(CloseBadRequest, "Invalid message received: %s needs an id", m.Type)
		}
		if problem := checkOperationPayload(m.Payload); problem != "" {
			return refuse(CloseBadRequest, "Invalid message received: %s payload %s", m.Type, problem)
		}
		return p.start(m)

	case "complete", "stop":
		if (m.Type == "stop") != p.legacy {
			break
		}
		if m.ID == "" {
			return refuse(CloseBadRequest, "Invalid message received: %s needs an id", m.Type)
		}
		return p.stop(m)

	case "ping", "pong":
		if p.legacy {
			break
		}
		if m.Payload != nil && !isObject(m.Payload) {
			return refuse(CloseBadRequest, "Invalid message received: %s payload must be an object", m.Type)
		}
		if !p.initReceived {
			// Pings may come at any time, but the transport reads nothing
			// but connection_init until it has acknowledged one.
			if m.Type == "ping" {
				return verdict{reply: encode(wireMessage{Type: "pong", Payload: m.Payload})}
			}
			return verdict{}
		}
		return verdict{deliver: encode(m)}

	case "connection_terminate":
		if !p.legacy {
			break
		}
		return verdict{deliver: encode(m)}
	}
	return refuse(CloseBadRequest, "Invalid message received: unexpected type %q", shorten(m.Type, 32))
}

// start admits a new operation under an id of the transport's own.
func (p *protocol) start(m wireMessage) verdict {
	clientID := m.ID
	var v verdict
	if old, inUse := p.byClient[clientID]; inUse {
		if !p.legacy {
			return refuse(CloseSubscriberExists, "Subscriber for %s already exists", shorten(clientID, 64))
		}
		// The legacy protocol's reference server (subscriptions-transport-ws)
		// stops the operation running under the id and starts the new one;
		// nothing more of the old one reaches the client.
		if op := p.ops[old]; op != nil && !op.stopping {
			v.deliver = encode(wireMessage{Type: "stop", ID: old})
		}
		delete(p.ops, old)
		delete(p.byClient, clientID)
	}
	if p.maxOps > 0 && len(p.ops) >= p.maxOps {
		// Refused like an operation the transport cannot run: an error for
		// this id; the connection and its other operations carry on.
		errs, _ := json.Marshal([]map[string]any{{
			"message":    fmt.Sprintf("this connection already runs %d operations, the limit", p.maxOps),
			"extensions": map[string]any{"code": OperationLimitCode},
		}})
		v.reply = encode(wireMessage{Type: "error", ID: clientID, Payload: errs})
		return v
	}
	p.seq++
	id := strconv.FormatUint(p.seq, 10)
	p.ops[id] = &operation{clientID: clientID}
	p.byClient[clientID] = id
	m.ID = id
	if p.lanes {
		m.Payload = withLaneID(m.Payload, id)
	}
	if v.deliver != nil {
		v.pending = encode(m)
	} else {
		v.deliver = encode(m)
	}
	return v
}

// stop passes the client's complete (stop) on for the operation it names;
// one for an id not in use is ignored, as the protocol allows.
func (p *protocol) stop(m wireMessage) verdict {
	id, ok := p.byClient[m.ID]
	op := p.ops[id]
	if !ok || op == nil || op.stopping {
		return verdict{}
	}
	if p.legacy {
		op.stopping = true
	} else {
		// graphql-transport-ws: the client hears nothing more of it, not
		// even a complete, and may use the id again at once.
		delete(p.ops, id)
		delete(p.byClient, m.ID)
	}
	return verdict{deliver: encode(wireMessage{Type: m.Type, ID: id})}
}

// send decides what the client gets of a message the transport writes:
// the message with the client's id, or nothing (ok false) when it belongs
// to an operation the client has completed or that has finished.
func (p *protocol) send(data []byte) (out []byte, ok bool) {
	var m wireMessage
	if err := json.Unmarshal(data, &m); err != nil {
		return data, true // not ours to judge; the transport only writes its own messages
	}
	if m.ID == "" {
		if m.Type == "connection_ack" {
			p.acked = true
		}
		return data, true
	}
	op := p.ops[m.ID]
	if op == nil {
		return nil, false
	}
	switch m.Type {
	case "complete", "error":
		// The operation's last message (the transport may add a complete
		// after an error; graphql-transport-ws ends an operation with
		// either, never both).
		delete(p.ops, m.ID)
		if p.byClient[op.clientID] == m.ID {
			delete(p.byClient, op.clientID)
		}
	default:
		if op.stopping {
			return nil, false
		}
	}
	m.ID = op.clientID
	return encode(m), true
}

// checkOperationPayload checks a subscribe (start) payload's shape as the
// protocol defines it, and returns what is wrong, or "".
// withLaneID adds the transport id of an operation to its payload's
// extensions (the payload was checked: an object, extensions an object or
// absent).
func withLaneID(payload json.RawMessage, id string) json.RawMessage {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(payload, &fields); err != nil {
		return payload
	}
	ext := map[string]json.RawMessage{}
	if e := fields["extensions"]; !isNull(e) {
		if err := json.Unmarshal(e, &ext); err != nil {
			return payload
		}
	}
	ext[LaneExtension], _ = json.Marshal(id)
	fields["extensions"], _ = json.Marshal(ext)
	out, err := json.Marshal(fields)
	if err != nil {
		return payload
	}
	return out
}

// lane reports the client's id of a running operation and whether the
// client may still hear from it.
func (p *protocol) lane(id string) (clientID string, ok bool) {
	op := p.ops[id]
	if op == nil || op.stopping {
		return "", false
	}
	return op.clientID, true
}

func checkOperationPayload(payload json.RawMessage) string {
	if !isObject(payload) {
		return "must be an object"
	}
	var fields struct {
		Query         json.RawMessage `json:"query"`
		OperationName json.RawMessage `json:"operationName"`
		Variables     json.RawMessage `json:"variables"`
		Extensions    json.RawMessage `json:"extensions"`
	}
	if err := json.Unmarshal(payload, &fields); err != nil {
		return "must be an object"
	}
	switch {
	case fields.Query != nil && !isString(fields.Query):
		// A missing query is left to the transport: automatic persisted
		// queries send only a hash in extensions.
		return "query must be a string"
	case !isNull(fields.OperationName) && !isString(fields.OperationName):
		return "operationName must be a string"
	case !isNull(fields.Variables) && !isObject(fields.Variables):
		return "variables must be an object"
	case !isNull(fields.Extensions) && !isObject(fields.Extensions):
		return "extensions must be an object"
	}
	return ""
}

func isNull(v json.RawMessage) bool {
	v = bytes.TrimSpace(v)
	return len(v) == 0 || string(v) == "null"
}

func isObject(v json.RawMessage) bool {
	v = bytes.TrimSpace(v)
	return len(v) > 0 && v[0] == '{'
}

func isString(v json.RawMessage) bool {
	v = bytes.TrimSpace(v)
	return len(v) > 0 && v[0] == '"'
}

// encode marshals a message; it cannot fail, as its payload is JSON
// already checked by the decoder.
func encode(m wireMessage) []byte {
	data, err := json.Marshal(m)
	if err != nil {
		panic(fmt.Sprintf("wsgorilla: encode %s message: %v", m.Type, err))
	}
	return data
}

// connectionError is the legacy protocol's message telling the client why
// the connection is being closed.
func connectionError(reason string) []byte {
	payload, _ := json.Marshal(map[string]string{"message": reason})
	return encode(wireMessage{Type: "connection_error", Payload: payload})
}

// shorten keeps client-chosen text in close reasons and logs short.
func shorten(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return truncateUTF8(s, n) + "…"
}
