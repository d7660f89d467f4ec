// Package wsgorilla adapts github.com/gorilla/websocket to gqlgen's websocket
// transport (github.com/99designs/gqlgen/graphql/handler/transport).
//
// Since gqlgen v0.17.92 the transport is written against the
// transport.WebsocketImplementation / transport.WebsocketConn interfaces and
// ships only a coder/websocket adapter. This package provides the gorilla
// adapter:
//
//	srv.AddTransport(transport.Websocket{
//		Implementation: wsgorilla.Implementation{
//			Upgrader: websocket.Upgrader{
//				CheckOrigin: wsgorilla.OriginChecker([]string{"https://dash.example.com"}),
//			},
//		},
//		KeepAlivePingInterval: 10 * time.Second, // legacy graphql-ws clients
//		PingPongInterval:      10 * time.Second, // graphql-transport-ws clients
//	})
//
// The connections it returns follow the semantics of gqlgen's
// CoderWebsocketImplementation:
//
//   - a close frame from the peer with status 1000 (normal closure) or without
//     a status (1005) is reported as transport.ErrWebsocketClosed;
//
//   - WriteClose starts a close handshake that owns the rest of the connection's
//     life: it sends the close frame, waits (in the background, at most
//     CloseTimeout) for the peer's close frame and then closes the TCP
//     connection, so a later Close does not cut the handshake short;
//
//   - Close without a prior WriteClose drops the TCP connection at once (the
//     peer observes 1006, abnormal closure);
//
//   - when a read deadline set through SetReadDeadline passes (the transport
//     does this when a graphql-transport-ws client does not answer a ping, see
//     transport.Websocket.PingPongInterval and MissingPongOk) the TCP
//     connection is dropped at once, so the peer observes 1006, as gqlgen
//     documents.
//
//   - once the connection is closing, WriteJSON sends nothing and returns an
//     error wrapping net.ErrClosed. The transport passes such errors to
//     ErrorFunc (typically a subscription's final "complete" written after the
//     client went away), so ErrorFunc should ignore errors.Is(err, net.ErrClosed);
//
//   - a message larger than the transport's PayloadReadLimit (1 MB by default)
//     is answered with a 1009 (message too big) close frame.
//
// In addition, every write has a deadline (WriteTimeout), and a write that
// fails or times out drops the connection, so a client that stops reading
// cannot pin a connection, its subscriptions and the transport's lock forever.
// The read limit applies to the decompressed size when permessage-deflate is
// enabled with Upgrader.EnableCompression.
//
// # Protocol checks
//
// gqlgen's transport trusts the client to follow the protocol. It runs a
// second subscribe with an id already in use next to the first, both
// delivering under that id, and a complete then stops only one of them: the
// other keeps sending until the connection ends. It closes with 1002 or 1000
// (or not at all, for a connection_init payload that is not an object) where
// graphql-transport-ws prescribes its own codes. So the connection checks
// every message against the protocol before the transport reads it and
// closes, before the transport acts, with:
//
//   - 4400 for a message that is not a JSON object, has no or an unknown
//     type, or lacks the id or the payload shape its type needs;
//   - 4401 for subscribe before the connection was acknowledged;
//   - 4409 "Subscriber for <id> already exists" for subscribe with the id of
//     an operation still running;
//   - 4429 "Too many initialisation requests" for a second connection_init;
//   - 4408 when InitTimeout passes without connection_init.
//
// The transport never sees the client's operation ids: each operation runs
// under an id of its own, mapped back on every message written. So after the
// client's complete nothing more of that operation is sent (not even the
// transport's own complete, which graphql-transport-ws does not send for an
// operation the client completed), and the client may use the id again at
// once. A complete for an id not in use is ignored, and ping before
// connection_init is answered, as the protocol allows (the transport would
// close).
//
// The legacy graphql-ws protocol has no close codes for these cases; its
// clients get a connection_error with the reason, then the same close codes.
// A start with an id in use replaces the operation running under it, as the
// protocol's reference server does; a stop is confirmed with a complete.
//
// The transport's CloseFunc is still told the transport's own code (1002
// or 1000) for connections closed by these checks; the ErrorFunc of an
// initialised connection receives a *ProtocolError with the code sent.
package wsgorilla

import (
	"net/http"
	"slices"
	"time"

	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/gorilla/websocket"
)

const (
	// DefaultWriteTimeout is the write deadline used when
	// Implementation.WriteTimeout is zero.
	DefaultWriteTimeout = 10 * time.Second

	// DefaultCloseTimeout is how long, when Implementation.CloseTimeout is
	// zero, a connection waits for the peer's close frame after sending its
	// own before closing the TCP connection.
	DefaultCloseTimeout = 5 * time.Second
)

// Implementation accepts HTTP requests as gorilla websocket connections for
// gqlgen's websocket transport. Set it as transport.Websocket.Implementation.
//
// The zero value is usable: it upgrades with a zero gorilla Upgrader, whose
// nil CheckOrigin only admits same-origin requests (or requests without an
// Origin header); use OriginChecker to admit more origins.
//
// An Implementation is safe for concurrent use and is never modified by
// Accept, so one value may serve any number of requests.
type Implementation struct {
	// Upgrader performs the HTTP upgrade. Accept works on a copy of it; its
	// Subprotocols are tried first, in order, followed by the GraphQL
	// subprotocols offered by the transport (graphql-ws, then
	// graphql-transport-ws). A client offering both therefore gets the legacy
	// graphql-ws unless Subprotocols lists "graphql-transport-ws".
	Upgrader websocket.Upgrader

	// WriteTimeout bounds every write to the peer (messages and close
	// frames). If a write does not complete in time the connection is
	// dropped. Zero means DefaultWriteTimeout.
	WriteTimeout time.Duration

	// CloseTimeout bounds the close handshake started by WriteClose: how long
	// to wait for the peer's close frame before closing the TCP connection.
	// Zero means DefaultCloseTimeout.
	CloseTimeout time.Duration

	// InitTimeout, if positive, closes a connection with 4408 (connection
	// initialisation timeout) unless connection_init arrives within it. Use
	// it instead of the transport's InitTimeout, which closes with 1002.
	InitTimeout time.Duration

	// MaxOperations, if positive, caps the operations one connection may
	// run at once; a subscribe (start) beyond it is answered with an error
	// message for its id (extensions.code OperationLimitCode) and the
	// connection carries on.
	MaxOperations int

	// MaxQueuedBytes caps the bytes waiting in a connection's queue
	// beyond which a lane's Send is refused (ErrLaneFull). Zero means
	// DefaultMaxQueuedBytes.
	MaxQueuedBytes int

	// FlushInterval is the longest a connection's writes of lanes'
	// results are paced apart while results keep coming (see "Write
	// pacing" in lane.go). Zero means DefaultFlushInterval; negative,
	// every result is written as soon as the writer runs.
	FlushInterval time.Duration

	// WriteBudget is the writes per second the pacing of lanes' results
	// aims at for all connections together. Zero means DefaultWriteBudget.
	WriteBudget int

	// SkipProtocolChecks passes every message to the transport as read,
	// unchecked, as gqlgen's coder implementation does (see "Protocol
	// checks" in the package documentation for what is lost).
	SkipProtocolChecks bool
}

var _ transport.WebsocketImplementation = Implementation{}

// Accept upgrades the request to a websocket connection.
//
// The subprotocols offered by the transport in options.Subprotocols are
// appended (without duplicates) to a copy of Upgrader.Subprotocols; the
// shared Upgrader is never modified. The 101 response carries the headers
// already set on w.Header() (as the coder implementation does; handshake and
// framing headers such as Upgrade, Connection, Content-Length and
// Sec-WebSocket-* are skipped) plus options.ResponseHeader.
//
// If the upgrade fails (for example because Upgrader.CheckOrigin refused the
// Origin, which yields 403 Forbidden) the gorilla Upgrader has already written
// the HTTP error response and the error is returned.
//
// The returned connection also implements transport.WebsocketReadLimiter and
// transport.WebsocketReadDeadliner.
func (i Implementation) Accept(
	w http.ResponseWriter,
	r *http.Request,
	options transport.WebsocketAcceptOptions,
) (transport.WebsocketConn, error) {
	upgrader := i.Upgrader // copy: never touch the shared value
	upgrader.Subprotocols = slices.Clone(i.Upgrader.Subprotocols)
	for _, p := range options.Subprotocols {
		if !slices.Contains(upgrader.Subprotocols, p) {
			upgrader.Subprotocols = append(upgrader.Subprotocols, p)
		}
	}

	// gorilla writes its own 101 response from scratch and ignores
	// w.Header(), so carry over what middleware has set there.
	header := http.Header{}
	for key, values := range w.Header() {
		if skipResponseHeader(key) {
			continue
		}
		header[key] = slices.Clone(values)
	}
	for key, values := range options.ResponseHeader {
		for _, v := range values {
			header.Add(key, v)
		}
	}

	slot := lanesOf(r.Context())
	if slot != nil {
		w = corkingWriter{w}
	}
	ws, err := upgrader.Upgrade(w, r, header)
	if err != nil {
		return nil, err
	}
	c := newConn(ws, orDefault(i.WriteTimeout, DefaultWriteTimeout), orDefault(i.CloseTimeout, DefaultCloseTimeout))
	if c.cork != nil && !upgrader.EnableCompression {
		c.rawFrames = true
		c.cork.frameData()
	}
	if i.MaxQueuedBytes > 0 {
		c.maxQueued = i.MaxQueuedBytes
	}
	if i.FlushInterval != 0 {
		c.flushEvery = max(i.FlushInterval, 0)
	}
	if i.WriteBudget > 0 {
		c.budget = i.WriteBudget
	}
	if !i.SkipProtocolChecks {
		c.checkProtocol(i.MaxOperations, i.InitTimeout)
	}
	if slot != nil && c.proto != nil {
		c.proto.lanes = true
		slot.mu.Lock()
		slot.c = c
		slot.mu.Unlock()
	}
	return c, nil
}

// skipResponseHeader reports whether a header set on the ResponseWriter must
// not be copied into the 101 response because gorilla writes it itself, it
// would break the handshake, or it describes a body the response does not
// have.
func skipResponseHeader(key string) bool {
	switch http.CanonicalHeaderKey(key) {
	case "Upgrade", "Connection", "Content-Length", "Transfer-Encoding", "Content-Encoding",
		"Sec-Websocket-Accept", "Sec-Websocket-Protocol", "Sec-Websocket-Extensions", "Sec-Websocket-Version":
		return true
	}
	return false
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}
