package wsgorilla_test

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/gorilla/websocket"

	"github.com/batonhq/baton/graph/wsgorilla"
)

const (
	transportWS = "graphql-transport-ws"
	legacyWS    = "graphql-ws"
)

var (
	subscribeName = json.RawMessage(`{"query":"subscription { name }"}`)
	queryName     = json.RawMessage(`{"query":"query { name }"}`)
)

func TestGraphQLTransportWSSubscriptionLifecycle(t *testing.T) {
	rec := newRecorder()
	gql, url := gqlServer(t, transport.Websocket{
		Implementation: wsgorilla.Implementation{},
		ErrorFunc:      rec.errorFunc,
		CloseFunc:      rec.closeFunc,
	})
	c := dial(t, url, nil, transportWS)
	if got := c.ws.Subprotocol(); got != transportWS {
		t.Fatalf("negotiated subprotocol %q, want %q", got, transportWS)
	}

	c.send(message{Type: "connection_init"})
	c.expect("connection_ack", "")

	// Server-side completion.
	c.send(message{Type: "subscribe", ID: "1", Payload: subscribeName})
	for range 2 {
		gql.SendNextSubscriptionMessage()
		assertJSON(t, c.expect("next", "1").Payload, `{"data":{"name":"test"}}`)
	}
	gql.SendCompleteSubscriptionMessage()
	c.expect("complete", "1")

	// Client-side completion: nothing more for the id, not even gqlgen's
	// own complete (the ping's pong comes after the complete was handled).
	c.send(message{Type: "subscribe", ID: "2", Payload: subscribeName})
	gql.SendNextSubscriptionMessage()
	c.expect("next", "2")
	c.send(message{Type: "complete", ID: "2"})
	c.send(message{Type: "ping"})
	c.expect("pong", "")

	// Queries work over the socket too.
	c.send(message{Type: "subscribe", ID: "3", Payload: queryName})
	assertJSON(t, c.expect("next", "3").Payload, `{"data":{"name":"test"}}`)
	c.expect("complete", "3")

	c.closeNormally(websocket.CloseNormalClosure, "")
	c.expectClose(websocket.CloseNormalClosure)
	if code := rec.waitClosed(t); code != websocket.CloseNormalClosure {
		t.Errorf("CloseFunc code %d, want 1000", code)
	}
	if errs := rec.reported(t); len(errs) != 0 {
		t.Errorf("ErrorFunc called: %v", errs)
	}
}

func TestGraphQLTransportWSServerPingPong(t *testing.T) {
	rec := newRecorder()
	gql, url := gqlServer(t, transport.Websocket{
		Implementation:   wsgorilla.Implementation{},
		PingPongInterval: 60 * time.Millisecond,
		ErrorFunc:        rec.errorFunc,
	})
	c := dial(t, url, nil, transportWS)
	c.send(message{Type: "connection_init"})
	c.expect("connection_ack", "")

	// Answering every ping keeps the connection alive well past the
	// 2*PingPongInterval read deadline.
	start := time.Now()
	pings := 0
	for time.Since(start) < 8*60*time.Millisecond {
		c.expect("ping", "")
		pings++
		c.send(message{Type: "pong"})
	}
	if pings < 4 {
		t.Fatalf("got %d pings in %v, want at least 4", pings, time.Since(start))
	}

	c.send(message{Type: "subscribe", ID: "1", Payload: subscribeName})
	gql.SendNextSubscriptionMessage()
	c.expect("next", "1", "ping")

	if errs := rec.errors(); len(errs) != 0 {
		t.Errorf("ErrorFunc called: %v", errs)
	}
}

func TestGraphQLTransportWSMissingPongDropsConnection(t *testing.T) {
	rec := newRecorder()
	_, url := gqlServer(t, transport.Websocket{
		Implementation:   wsgorilla.Implementation{},
		PingPongInterval: 50 * time.Millisecond,
		ErrorFunc:        rec.errorFunc,
		CloseFunc:        rec.closeFunc,
	})
	c := dial(t, url, nil, transportWS)
	c.send(message{Type: "connection_init"})
	c.expect("connection_ack", "")
	start := time.Now()

	// Never answer: after 2*PingPongInterval the server drops the TCP
	// connection without a close frame, which gorilla reports as 1006.
	c.expectClose(websocket.CloseAbnormalClosure, "ping")
	if elapsed := time.Since(start); elapsed < 90*time.Millisecond {
		t.Errorf("connection dropped after %v, before the 100ms deadline", elapsed)
	}

	// The transport still reports 1000 to CloseFunc.
	if code := rec.waitClosed(t); code != websocket.CloseNormalClosure {
		t.Errorf("CloseFunc code %d, want 1000", code)
	}
	// The ping goroutine may also have failed to write to the dropped
	// connection (an error wrapping net.ErrClosed, filtered by reported).
	errs := rec.reported(t)
	if len(errs) != 1 {
		t.Fatalf("ErrorFunc calls %v, want one read timeout", errs)
	}
	var wsErr transport.WebsocketError
	var netErr net.Error
	if !errors.As(errs[0], &wsErr) || !wsErr.IsReadError || !errors.As(errs[0], &netErr) || !netErr.Timeout() {
		t.Errorf("ErrorFunc got %v, want a read timeout", errs[0])
	}
}

func TestGraphQLTransportWSMissingPongOk(t *testing.T) {
	gql, url := gqlServer(t, transport.Websocket{
		Implementation:   wsgorilla.Implementation{},
		PingPongInterval: 40 * time.Millisecond,
		MissingPongOk:    true,
	})
	c := dial(t, url, nil, transportWS)
	c.send(message{Type: "connection_init"})
	c.expect("connection_ack", "")

	for range 6 { // 240ms, three times the deadline that would otherwise apply
		c.expect("ping", "")
	}
	c.send(message{Type: "subscribe", ID: "1", Payload: subscribeName})
	gql.SendNextSubscriptionMessage()
	c.expect("next", "1", "ping")
}

func TestGraphQLTransportWSClientPing(t *testing.T) {
	_, url := gqlServer(t, transport.Websocket{Implementation: wsgorilla.Implementation{}})
	c := dial(t, url, nil, transportWS)
	c.send(message{Type: "connection_init"})
	c.expect("connection_ack", "")

	c.send(message{Type: "ping", Payload: json.RawMessage(`{"seq":7}`)})
	assertJSON(t, c.expect("pong", "").Payload, `{"seq":7}`)
	c.send(message{Type: "ping"})
	c.expect("pong", "")
}

func TestGraphQLWSLegacy(t *testing.T) {
	for _, offered := range [][]string{nil, {legacyWS}} {
		name := "no subprotocol"
		if offered != nil {
			name = legacyWS
		}
		t.Run(name, func(t *testing.T) {
			rec := newRecorder()
			gql, url := gqlServer(t, transport.Websocket{
				Implementation:        wsgorilla.Implementation{},
				KeepAlivePingInterval: 30 * time.Millisecond,
				ErrorFunc:             rec.errorFunc,
				CloseFunc:             rec.closeFunc,
			})
			c := dial(t, url, nil, offered...)
			// A client offering nothing gets the legacy protocol without a
			// Sec-WebSocket-Protocol header.
			if want := strings.Join(offered, ""); c.ws.Subprotocol() != want {
				t.Fatalf("negotiated %q, want %q", c.ws.Subprotocol(), want)
			}

			c.send(message{Type: "connection_init"})
			c.expect("connection_ack", "")
			c.expect("ka", "") // sent right after the ack
			for range 3 {      // then every KeepAlivePingInterval
				c.expect("ka", "")
			}

			c.send(message{Type: "start", ID: "1", Payload: subscribeName})
			for range 2 {
				gql.SendNextSubscriptionMessage()
				assertJSON(t, c.expect("data", "1", "ka").Payload, `{"data":{"name":"test"}}`)
			}
			c.send(message{Type: "stop", ID: "1"})
			c.expect("complete", "1", "ka")

			c.send(message{Type: "connection_terminate"})
			if ce := c.expectClose(websocket.CloseNormalClosure, "ka"); ce.Text != "terminated" {
				t.Errorf("close reason %q, want %q", ce.Text, "terminated")
			}
			c.expectEOF()
			if code := rec.waitClosed(t); code != websocket.CloseNormalClosure {
				t.Errorf("CloseFunc code %d, want 1000", code)
			}
			if errs := rec.errors(); len(errs) != 0 {
				t.Errorf("ErrorFunc called: %v", errs)
			}
		})
	}
}

func TestInitFuncRefusal(t *testing.T) {
	for _, proto := range []string{transportWS, legacyWS} {
		for _, reason := range []string{"", "missing token"} {
			t.Run(proto+"/reason="+reason, func(t *testing.T) {
				rec := newRecorder()
				_, url := gqlServer(t, transport.Websocket{
					Implementation: wsgorilla.Implementation{},
					CloseFunc:      rec.closeFunc,
					InitFunc: func(ctx context.Context, _ transport.InitPayload) (context.Context, *transport.InitPayload, error) {
						ctx = transport.WithWebsocketCloseCode(ctx, 4403)
						if reason != "" {
							ctx = transport.AppendCloseReason(ctx, reason)
						}
						// The returned ctx must not be nil even on error: the
						// transport reads the close code and reason from it.
						return ctx, nil, errors.New("forbidden")
					},
				})
				c := dial(t, url, nil, proto)
				c.send(message{Type: "connection_init", Payload: json.RawMessage(`{"Authorization":"nope"}`)})

				if proto == legacyWS {
					// Only the legacy protocol has connection_error.
					assertJSON(t, c.expect("connection_error", "").Payload, `{"message":"forbidden"}`)
				}
				wantReason := reason
				if wantReason == "" {
					wantReason = "terminated"
				}
				if ce := c.expectClose(4403); ce.Text != wantReason {
					t.Errorf("close reason %q, want %q", ce.Text, wantReason)
				}
				c.expectEOF()
				if code := rec.waitClosed(t); code != 4403 {
					t.Errorf("CloseFunc code %d, want 4403", code)
				}
			})
		}
	}
}

func TestInitPayloadReachesInitFunc(t *testing.T) {
	for _, proto := range []string{transportWS, legacyWS} {
		t.Run(proto, func(t *testing.T) {
			got := make(chan transport.InitPayload, 1)
			_, url := gqlServer(t, transport.Websocket{
				Implementation: wsgorilla.Implementation{},
				InitFunc: func(ctx context.Context, p transport.InitPayload) (context.Context, *transport.InitPayload, error) {
					got <- p
					return ctx, &transport.InitPayload{"server": "baton"}, nil
				},
			})
			c := dial(t, url, nil, proto)
			c.send(message{Type: "connection_init", Payload: json.RawMessage(`{"Authorization":"Bearer tok","tenant":"acme","n":3}`)})
			assertJSON(t, c.expect("connection_ack", "").Payload, `{"server":"baton"}`)

			p := <-got
			if p.Authorization() != "Bearer tok" || p.GetString("tenant") != "acme" || p["n"] != float64(3) {
				t.Errorf("InitFunc got payload %v", p)
			}
		})
	}
}

func TestReadLimit(t *testing.T) {
	limit := int64(1024)
	cases := []struct {
		name     string
		limit    *int64
		compress bool
		size     int
	}{
		{name: "explicit limit", limit: &limit, size: 4 * 1024},
		// 2MB against the default 1MB limit: the server never reads the
		// payload, so the close handshake must drain it for the client to see
		// the 1009 close frame instead of a connection reset.
		{name: "default limit", size: 2 << 20},
		// 64KB of 'x' compresses to a few hundred bytes: the limit must also
		// apply to the decompressed size.
		{name: "compressed", limit: &limit, compress: true, size: 64 * 1024},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec := newRecorder()
			_, url := gqlServer(t, transport.Websocket{
				Implementation:   wsgorilla.Implementation{Upgrader: websocket.Upgrader{EnableCompression: tc.compress}},
				PayloadReadLimit: tc.limit,
				ErrorFunc:        rec.errorFunc,
				CloseFunc:        rec.closeFunc,
			})
			c := dialWith(t, websocket.Dialer{Subprotocols: []string{transportWS}, EnableCompression: tc.compress}, url, nil)
			if ext := c.resp.Header.Get("Sec-Websocket-Extensions"); tc.compress != strings.Contains(ext, "permessage-deflate") {
				t.Fatalf("Sec-WebSocket-Extensions %q, compression wanted: %v", ext, tc.compress)
			}
			c.send(message{Type: "connection_init"})
			c.expect("connection_ack", "")

			// A message just under the limit is fine.
			c.send(message{Type: "ping", Payload: json.RawMessage(`{"pad":"` + strings.Repeat("x", 900) + `"}`)})
			c.expect("pong", "")

			c.sendRaw([]byte(`{"type":"ping","payload":{"pad":"` + strings.Repeat("x", tc.size) + `"}}`))
			c.expectClose(websocket.CloseMessageTooBig)
			c.expectEOF()

			rec.waitClosed(t)
			errs := rec.errors()
			if len(errs) != 1 || !errors.Is(errs[0], websocket.ErrReadLimit) {
				t.Errorf("ErrorFunc got %v, want websocket.ErrReadLimit", errs)
			}
		})
	}
}

func TestOriginRefusedByUpgrader(t *testing.T) {
	_, url := gqlServer(t, transport.Websocket{
		Implementation: wsgorilla.Implementation{Upgrader: websocket.Upgrader{
			CheckOrigin: wsgorilla.OriginChecker([]string{"https://dash.example.com"}),
		}},
	})

	d := websocket.Dialer{Subprotocols: []string{transportWS}, HandshakeTimeout: ioTimeout}
	ws, resp, err := d.Dial(url, http.Header{"Origin": {"https://evil.example.com"}})
	if ws != nil {
		_ = ws.Close()
	}
	if !errors.Is(err, websocket.ErrBadHandshake) || resp == nil || resp.StatusCode != http.StatusForbidden {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		t.Fatalf("dial with foreign Origin: err=%v status=%d, want bad handshake with 403", err, status)
	}
	_ = resp.Body.Close()

	for _, origin := range []string{"", "https://dash.example.com", "http://localhost:5173", "http://127.0.0.1:3000", "http://[::1]:8080"} {
		h := http.Header{}
		if origin != "" {
			h.Set("Origin", origin)
		}
		c := dial(t, url, h, transportWS)
		c.send(message{Type: "connection_init"})
		c.expect("connection_ack", "")
		c.closeNormally(websocket.CloseNormalClosure, "")
		c.expectClose(websocket.CloseNormalClosure)
	}
}

func TestClientClose(t *testing.T) {
	cases := []struct {
		name          string
		code          int
		wantErrorFunc bool
	}{
		{"normal closure", websocket.CloseNormalClosure, false},
		{"no status", websocket.CloseNoStatusReceived, false},
		// Anything else (e.g. a browser tab going away) reaches ErrorFunc
		// as a read error, exactly as with the coder implementation.
		{"going away", websocket.CloseGoingAway, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec := newRecorder()
			gql, url := gqlServer(t, transport.Websocket{
				Implementation:   wsgorilla.Implementation{},
				PingPongInterval: time.Minute,
				ErrorFunc:        rec.errorFunc,
				CloseFunc:        rec.closeFunc,
			})
			c := dial(t, url, nil, transportWS)
			c.send(message{Type: "connection_init"})
			c.expect("connection_ack", "")
			c.send(message{Type: "subscribe", ID: "1", Payload: subscribeName})
			gql.SendNextSubscriptionMessage()
			c.expect("next", "1")

			// Closing with an active subscription: the subscription is
			// cancelled and the server echoes the close.
			c.closeNormally(tc.code, "")
			c.expectClose(tc.code)
			c.expectEOF()
			if code := rec.waitClosed(t); code != websocket.CloseNormalClosure {
				t.Errorf("CloseFunc code %d, want 1000", code)
			}
			errs := rec.reported(t)
			if tc.wantErrorFunc {
				if len(errs) != 1 || !hasCloseCode(errs[0], tc.code) {
					t.Errorf("ErrorFunc got %v, want the close error", errs)
				}
			} else if len(errs) != 0 {
				t.Errorf("ErrorFunc called: %v", errs)
			}
		})
	}
}

func TestClientDisconnectWithoutClose(t *testing.T) {
	rec := newRecorder()
	gql, url := gqlServer(t, transport.Websocket{
		Implementation: wsgorilla.Implementation{},
		ErrorFunc:      rec.errorFunc,
		CloseFunc:      rec.closeFunc,
	})
	c := dial(t, url, nil, transportWS)
	c.send(message{Type: "connection_init"})
	c.expect("connection_ack", "")
	c.send(message{Type: "subscribe", ID: "1", Payload: subscribeName})
	gql.SendNextSubscriptionMessage()
	c.expect("next", "1")

	_ = c.ws.Close() // TCP close, no close frame
	rec.waitClosed(t)
	errs := rec.reported(t)
	if len(errs) != 1 || !hasCloseCode(errs[0], websocket.CloseAbnormalClosure) {
		t.Errorf("ErrorFunc got %v, want a 1006 read error", errs)
	}
}

func TestInitTimeout(t *testing.T) {
	rec := newRecorder()
	_, url := gqlServer(t, transport.Websocket{
		Implementation: wsgorilla.Implementation{},
		InitTimeout:    50 * time.Millisecond,
		CloseFunc:      rec.closeFunc,
	})
	c := dial(t, url, nil, transportWS)
	// The transport closes while its init read is still blocked in
	// NextReader; the close handshake must not race with it.
	if ce := c.expectClose(websocket.CloseProtocolError); ce.Text != "connection initialisation timeout" {
		t.Errorf("close reason %q", ce.Text)
	}
	c.expectEOF()
	if code := rec.waitClosed(t); code != websocket.CloseProtocolError {
		t.Errorf("CloseFunc code %d, want 1002", code)
	}
}

func TestUnsupportedNegotiatedSubprotocol(t *testing.T) {
	_, url := gqlServer(t, transport.Websocket{
		Implementation: wsgorilla.Implementation{Upgrader: websocket.Upgrader{Subprotocols: []string{"baton-v1"}}},
	})
	c := dial(t, url, nil, "baton-v1")
	if ce := c.expectClose(websocket.CloseProtocolError); ce.Text != "unsupported negotiated subprotocol baton-v1" {
		t.Errorf("close reason %q", ce.Text)
	}
	// The transport calls WriteClose but never Close here: the close
	// handshake must still close the TCP connection.
	c.expectEOF()
}

func TestSubprotocolNegotiation(t *testing.T) {
	t.Run("default prefers graphql-ws", func(t *testing.T) {
		_, url := gqlServer(t, transport.Websocket{Implementation: wsgorilla.Implementation{}})
		c := dial(t, url, nil, transportWS, legacyWS)
		if got := c.ws.Subprotocol(); got != legacyWS {
			t.Errorf("negotiated %q, want %q", got, legacyWS)
		}
	})

	t.Run("upgrader order first, upgrader not mutated", func(t *testing.T) {
		// Spare capacity would let a careless append write into the shared
		// backing array; the race detector and the check below catch that.
		subprotocols := make([]string, 1, 8)
		subprotocols[0] = transportWS
		impl := wsgorilla.Implementation{Upgrader: websocket.Upgrader{Subprotocols: subprotocols}}
		_, url := gqlServer(t, transport.Websocket{Implementation: impl})

		var wg sync.WaitGroup
		negotiated := make(chan string, 16)
		for range cap(negotiated) {
			wg.Go(func() {
				d := websocket.Dialer{Subprotocols: []string{legacyWS, transportWS}, HandshakeTimeout: ioTimeout}
				ws, _, err := d.Dial(url, nil)
				if err != nil {
					t.Errorf("dial: %v", err)
					return
				}
				negotiated <- ws.Subprotocol()
				_ = ws.Close()
			})
		}
		wg.Wait()
		close(negotiated)
		for got := range negotiated {
			if got != transportWS {
				t.Errorf("negotiated %q, want %q", got, transportWS)
			}
		}
		for i, v := range subprotocols[:cap(subprotocols)] {
			if (i == 0 && v != transportWS) || (i > 0 && v != "") {
				t.Fatalf("Upgrader.Subprotocols backing array modified: %q", subprotocols[:cap(subprotocols)])
			}
		}
	})
}

func TestResponseHeaders(t *testing.T) {
	srv, _ := gqlServer(t, transport.Websocket{Implementation: wsgorilla.Implementation{}})
	url := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Request-Id", "req-1")
		w.Header().Add("Set-Cookie", "session=abc")
		w.Header().Set("Content-Length", "12") // must not reach the 101 response
		srv.ServeHTTP(w, r)
	}))
	c := dial(t, url, nil, transportWS)
	if got := c.resp.Header.Get("X-Request-Id"); got != "req-1" {
		t.Errorf("X-Request-Id %q", got)
	}
	if got := c.resp.Header.Get("Set-Cookie"); got != "session=abc" {
		t.Errorf("Set-Cookie %q", got)
	}
	if got := c.resp.Header.Values("Content-Length"); len(got) != 0 {
		t.Errorf("Content-Length %q leaked into the 101 response", got)
	}
	c.send(message{Type: "connection_init"})
	c.expect("connection_ack", "")
}

// hasCloseCode reports whether err wraps a gorilla close error with code.
func hasCloseCode(err error, code int) bool {
	var ce *websocket.CloseError
	return errors.As(err, &ce) && ce.Code == code
}
