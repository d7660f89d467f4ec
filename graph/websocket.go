package graph

import (
	"context"
	"errors"
	"net"
	"strings"

	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/gorilla/websocket"

	"github.com/batonhq/baton/engine"
	"github.com/batonhq/baton/engine/access"
	"github.com/batonhq/baton/graph/wsgorilla"
)

// websocketTransport serves subscriptions over gorilla/websocket, in both
// the graphql-transport-ws and the legacy graphql-ws protocol. The
// connection_init payload authenticates the connection (browsers cannot
// set headers on websockets): {"authorization": "Bearer <token>"} when
// tokens are configured, {"user": "<name>"} otherwise.
//
// wsgorilla checks the protocol before gqlgen's transport acts (see its
// package documentation): a client that breaks it is closed with the
// graphql-transport-ws codes (4400, 4401, 4409, 4429; 4408 after
// WebsocketInitTimeout without connection_init, which is why the
// transport's own InitTimeout, closing with 1002, is not set), and one
// connection runs at most WebsocketOperations operations.
func websocketTransport(cfg Config) transport.Websocket {
	return transport.Websocket{
		Implementation: wsgorilla.Implementation{
			Upgrader: websocket.Upgrader{
				CheckOrigin: wsgorilla.OriginChecker(cfg.AllowedOrigins),
				// Offer the current protocol first to clients that speak both.
				Subprotocols:    []string{"graphql-transport-ws", "graphql-ws"},
				ReadBufferSize:  4096,
				WriteBufferSize: 4096,
			},
			InitTimeout:   cfg.Limits.WebsocketInitTimeout,
			MaxOperations: cfg.Limits.WebsocketOperations,
		},
		KeepAlivePingInterval: cfg.KeepAlive,
		PingPongInterval:      cfg.KeepAlive,
		InitFunc: func(ctx context.Context, p transport.InitPayload) (context.Context, *transport.InitPayload, error) {
			if cfg.Authenticate == nil {
				if user := p.GetString("user"); user != "" {
					return access.With(ctx, access.Open(user)), nil, nil
				}
				return ctx, nil, nil // the upgrade request's X-Baton-User
			}
			authz := p.Authorization()
			code := 4403
			var err error
			var pr *access.Principal
			if strings.TrimSpace(authz) == "" {
				code, err = 4401, engine.Errorf(engine.CodeUnauthenticated, `send {"authorization": "Bearer <token>"} in connection_init`)
			} else {
				pr, err = cfg.Authenticate(ctx, authz)
			}
			if err != nil {
				auditAuthFailure(ctx, cfg, err)
				ctx = transport.WithWebsocketCloseCode(ctx, code)
				ctx = transport.AppendCloseReason(ctx, err.Error())
				return ctx, nil, err
			}
			return access.With(ctx, pr), nil, nil
		},
		ErrorFunc: func(ctx context.Context, err error) {
			if errors.Is(err, net.ErrClosed) || websocket.IsCloseError(err, websocket.CloseGoingAway, websocket.CloseAbnormalClosure, websocket.CloseNormalClosure) {
				return
			}
			cfg.Logger.Debug("graphql websocket", "err", err)
		},
	}
}
