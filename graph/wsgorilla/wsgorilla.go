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

	ws, err := upgrader.Upgrade(w, r, header)
	if err != nil {
		return nil, err
	}
	return newConn(ws, orDefault(i.WriteTimeout, DefaultWriteTimeout), orDefault(i.CloseTimeout, DefaultCloseTimeout)), nil
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
