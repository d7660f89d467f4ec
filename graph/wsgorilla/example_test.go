package wsgorilla_test

import (
	"context"
	"errors"
	"log"
	"net"
	"time"

	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/gorilla/websocket"

	"github.com/batonhq/baton/graph/wsgorilla"
)

// Wiring the gorilla implementation into gqlgen's websocket transport.
func ExampleImplementation() {
	ws := transport.Websocket{
		Implementation: wsgorilla.Implementation{
			Upgrader: websocket.Upgrader{
				CheckOrigin: wsgorilla.OriginChecker([]string{"https://dash.example.com"}),
			},
			// Without it a client that never sends connection_init holds
			// its connection forever; on timeout the connection closes with
			// 4408 (the transport's own InitTimeout closes with 1002).
			InitTimeout: 10 * time.Second,
			// Bounds what one connection may make the server run.
			MaxOperations: 100,
		},
		// Legacy graphql-ws clients only get "ka" messages (no liveness check).
		KeepAlivePingInterval: 15 * time.Second,
		// graphql-transport-ws clients get pings and are dropped (1006) if
		// they have not answered within 2*PingPongInterval.
		PingPongInterval: 15 * time.Second,
		InitFunc: func(ctx context.Context, p transport.InitPayload) (context.Context, *transport.InitPayload, error) {
			if p.Authorization() == "" {
				// Always return a non-nil ctx: the transport reads the close
				// code and reason from it (and panics on nil).
				ctx = transport.WithWebsocketCloseCode(ctx, 4403)
				ctx = transport.AppendCloseReason(ctx, "missing authorization")
				return ctx, nil, errors.New("missing authorization")
			}
			return ctx, nil, nil
		},
		ErrorFunc: func(ctx context.Context, err error) {
			// Writes to a connection that is already closing (e.g. the final
			// "complete" of a subscription) are not worth logging.
			if errors.Is(err, net.ErrClosed) {
				return
			}
			log.Printf("graphql websocket: %v", err)
		},
	}
	_ = ws // srv.AddTransport(ws)
}

// Admitting the production dashboard in addition to same-origin requests,
// non-browser clients and local development origins.
func ExampleOriginChecker() {
	upgrader := websocket.Upgrader{
		CheckOrigin: wsgorilla.OriginChecker([]string{"https://dash.example.com", "https://admin.example.com"}),
	}
	_ = wsgorilla.Implementation{Upgrader: upgrader}
}
