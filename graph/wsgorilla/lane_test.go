package wsgorilla_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler/testserver"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/gorilla/websocket"

	"github.com/batonhq/baton/graph/wsgorilla"
)

// laneServer runs gqlgen's test schema with lanes: every operation hands
// its lane to the test (on lanes) and runs until the test closes release
// or the operation ends; then the transport completes it.
type laneServer struct {
	url     string
	lanes   chan *wsgorilla.Lane
	release chan struct{}
}

func newLaneServer(t *testing.T, impl wsgorilla.Implementation, withLanes bool) *laneServer {
	t.Helper()
	s := &laneServer{lanes: make(chan *wsgorilla.Lane, 16), release: make(chan struct{})}
	h := testserver.New()
	h.AroundOperations(func(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
		lane := wsgorilla.LaneFor(ctx, graphql.GetOperationContext(ctx).Extensions)
		s.lanes <- lane
		if lane == nil {
			return next(ctx)
		}
		return func(context.Context) *graphql.Response {
			select {
			case <-s.release:
			case <-ctx.Done():
			}
			return nil
		}
	})
	h.AddTransport(transport.Websocket{Implementation: impl})
	s.url = startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if withLanes {
			r = wsgorilla.WithLanes(r)
		}
		h.ServeHTTP(w, r)
	}))
	return s
}

func (s *laneServer) lane(t *testing.T) *wsgorilla.Lane {
	t.Helper()
	select {
	case l := <-s.lanes:
		return l
	case <-time.After(ioTimeout):
		t.Fatal("no operation started")
		return nil
	}
}

// A lane's results reach the client under the client's id, in order,
// with the payload as given, and the transport's complete comes after
// them; on graphql-ws as data messages.
func TestLaneDeliversInOrder(t *testing.T) {
	for _, proto := range []string{transportWS, legacyWS} {
		t.Run(proto, func(t *testing.T) {
			s := newLaneServer(t, wsgorilla.Implementation{}, true)
			c := dial(t, s.url, nil, proto)
			c.initialise(proto)
			c.send(message{Type: pick(proto, "subscribe", "start"), ID: "client-7", Payload: []byte(`{"query":"subscription { name }"}`)})
			lane := s.lane(t)
			if lane == nil {
				t.Fatal("no lane on a connection with lanes")
			}
			for i := range 200 {
				if err := lane.Send(fmt.Appendf(nil, `{"data":{"name":"n%d"}}`, i)); err != nil {
					t.Fatalf("send %d: %v", i, err)
				}
			}
			close(s.release)
			for i := range 200 {
				m := c.expect(pick(proto, "next", "data"), "client-7", "ka")
				assertJSON(t, m.Payload, fmt.Sprintf(`{"data":{"name":"n%d"}}`, i))
			}
			c.expect("complete", "client-7", "ka")
		})
	}
}

// A lane's messages arrive whole at every length the frame header
// encodes differently (7-bit, 16-bit and 64-bit lengths, and their
// edges), framed by the connection itself and, with permessage-deflate,
// by gorilla.
func TestLaneFrameLengths(t *testing.T) {
	head := len(`{"id":"client-7","type":"next","payload":}`)
	body := len(`{"data":{"name":""}}`)
	var lengths []int // of the whole message
	for _, edge := range []int{125, 126, 0xffff, 0x10000} {
		for d := -3; d <= 3; d++ {
			lengths = append(lengths, edge+d)
		}
	}
	lengths = append(lengths, head+body, 1<<20)
	for _, compress := range []bool{false, true} {
		t.Run(fmt.Sprintf("compression %v", compress), func(t *testing.T) {
			s := newLaneServer(t, wsgorilla.Implementation{Upgrader: websocket.Upgrader{EnableCompression: compress},
				MaxQueuedBytes: 8 << 20}, true)
			c := dialWith(t, websocket.Dialer{Subprotocols: []string{transportWS}, EnableCompression: compress}, s.url, nil)
			c.initialise(transportWS)
			c.send(message{Type: "subscribe", ID: "client-7", Payload: []byte(`{"query":"subscription { name }"}`)})
			lane := s.lane(t)
			for _, n := range lengths {
				name := strings.Repeat("x", n-head-body)
				if err := lane.Send(fmt.Appendf(nil, `{"data":{"name":"%s"}}`, name)); err != nil {
					t.Fatalf("send %d bytes: %v", n, err)
				}
			}
			close(s.release)
			for _, n := range lengths {
				m := c.expect("next", "client-7", "ka")
				assertJSON(t, m.Payload, fmt.Sprintf(`{"data":{"name":"%s"}}`, strings.Repeat("x", n-head-body)))
			}
			c.expect("complete", "client-7", "ka")
		})
	}
}

// No data frame follows a close frame, whoever closes: here the client,
// whose close gorilla echoes while the lane keeps sending (RFC 6455
// section 5.5.1). The client's connection records every byte the server
// sent, and the frames are read back from them.
func TestNoDataFrameAfterClose(t *testing.T) {
	seen := 0 // tries whose bytes hold the server's close frame
	for try := range 20 {
		s := newLaneServer(t, wsgorilla.Implementation{}, true)
		var got recording
		d := websocket.Dialer{Subprotocols: []string{transportWS}, NetDial: func(network, addr string) (net.Conn, error) {
			nc, err := net.Dial(network, addr)
			return &recordingConn{Conn: nc, rec: &got}, err
		}}
		c := dialWith(t, d, s.url, nil)
		c.initialise(transportWS)
		c.send(message{Type: "subscribe", ID: "1", Payload: []byte(`{"query":"subscription { name }"}`)})
		lane := s.lane(t)
		done := make(chan struct{})
		go func() {
			defer close(done)
			for i := 0; ; i++ {
				if err := lane.Send(fmt.Appendf(nil, `{"data":{"name":"n%d"}}`, i)); err != nil {
					return
				}
				if i%64 == 63 {
					time.Sleep(50 * time.Microsecond)
				}
			}
		}()
		time.Sleep(time.Duration(try%5) * time.Millisecond)
		_ = c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(ioTimeout))
		_ = c.ws.SetReadDeadline(time.Now().Add(ioTimeout))
		for {
			if _, _, err := c.ws.ReadMessage(); err != nil {
				break
			}
		}
		<-done
		close(s.release)
		frames, err := serverFrames(got.bytes())
		if err != nil {
			t.Fatalf("try %d: %v", try, err)
		}
		closed := -1
		for i, op := range frames {
			switch {
			case op == websocket.CloseMessage && closed < 0:
				closed = i
			case closed >= 0 && (op == websocket.TextMessage || op == websocket.BinaryMessage || op == 0):
				t.Fatalf("try %d: frame %d (opcode %d) follows the close frame %d", try, i, op, closed)
			}
		}
		if closed >= 0 {
			seen++
		}
		// Without one the server's close frame was lost with the
		// connection (a reset can drop what the client had not read yet).
	}
	if seen < 5 {
		t.Fatalf("the server's close frame reached the client in %d of 20 tries; want 5 at least", seen)
	}
}

// recording keeps what a connection read.
type recording struct {
	mu  sync.Mutex
	buf []byte
}

func (r *recording) bytes() []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]byte(nil), r.buf...)
}

type recordingConn struct {
	net.Conn
	rec *recording
}

func (c *recordingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.rec.mu.Lock()
	c.rec.buf = append(c.rec.buf, p[:n]...)
	c.rec.mu.Unlock()
	return n, err
}

// serverFrames reads the opcodes of the unmasked frames in b, after the
// HTTP response that upgraded the connection.
func serverFrames(b []byte) ([]int, error) {
	i := bytes.Index(b, []byte("\r\n\r\n"))
	if i < 0 {
		return nil, errors.New("no HTTP response")
	}
	b = b[i+4:]
	var ops []int
	for len(b) > 0 {
		if len(b) < 2 {
			return ops, fmt.Errorf("truncated frame header after %d frames", len(ops))
		}
		op, n, h := int(b[0]&0x0f), int(b[1]&0x7f), 2
		if b[1]&0x80 != 0 {
			return ops, fmt.Errorf("frame %d is masked", len(ops))
		}
		switch n {
		case 126:
			if len(b) < 4 {
				return ops, errors.New("truncated length")
			}
			n, h = int(binary.BigEndian.Uint16(b[2:])), 4
		case 127:
			if len(b) < 10 {
				return ops, errors.New("truncated length")
			}
			n, h = int(binary.BigEndian.Uint64(b[2:])), 10
		}
		if len(b) < h+n {
			break // the connection ended inside a frame
		}
		ops = append(ops, op)
		b = b[h+n:]
	}
	return ops, nil
}

// Once the client completed the operation, its lane refuses to send and
// nothing more reaches the client.
func TestLaneClosedAfterComplete(t *testing.T) {
	s := newLaneServer(t, wsgorilla.Implementation{}, true)
	c := dial(t, s.url, nil, transportWS)
	c.initialise(transportWS)
	c.send(message{Type: "subscribe", ID: "1", Payload: []byte(`{"query":"subscription { name }"}`)})
	lane := s.lane(t)
	if err := lane.Send([]byte(`{"data":{"name":"a"}}`)); err != nil {
		t.Fatal(err)
	}
	c.expect("next", "1")
	c.send(message{Type: "complete", ID: "1"})
	deadline := time.Now().Add(ioTimeout)
	for {
		err := lane.Send([]byte(`{"data":{"name":"late"}}`))
		if errors.Is(err, wsgorilla.ErrLaneClosed) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("lane still sends after complete (%v)", err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	// Whatever was queued before the complete was read may still arrive;
	// after a ping only the pong does.
	c.send(message{Type: "ping"})
	for {
		m := c.read()
		if m.Type == "pong" {
			break
		}
		if m.Type != "next" || !strings.Contains(string(m.Payload), "late") {
			t.Fatalf("got %s %s after complete", m.Type, m.Payload)
		}
	}
}

// A client that stops reading fills its connection's queue: Send is then
// refused with ErrLaneFull at once rather than blocking or growing the
// queue without bound.
func TestLaneFull(t *testing.T) {
	s := newLaneServer(t, wsgorilla.Implementation{MaxQueuedBytes: 64 << 10, WriteTimeout: 3 * time.Second}, true)
	c := dial(t, s.url, nil, transportWS)
	c.initialise(transportWS)
	c.send(message{Type: "subscribe", ID: "1", Payload: []byte(`{"query":"subscription { name }"}`)})
	lane := s.lane(t)
	payload := []byte(`{"data":{"name":"` + strings.Repeat("x", 256<<10) + `"}}`)
	for i := range 1000 {
		start := time.Now()
		err := lane.Send(payload)
		if d := time.Since(start); d > time.Second {
			t.Fatalf("send %d blocked for %s", i, d)
		}
		if errors.Is(err, wsgorilla.ErrLaneFull) {
			return
		}
		if err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
	}
	t.Fatal("a client that reads nothing never filled its queue")
}

// Without WithLanes, operations have no lane and run as usual.
func TestNoLaneWithoutWithLanes(t *testing.T) {
	s := newLaneServer(t, wsgorilla.Implementation{}, false)
	c := dial(t, s.url, nil, transportWS)
	c.initialise(transportWS)
	c.send(message{Type: "subscribe", ID: "1", Payload: []byte(`{"query":"subscription { name }"}`)})
	if lane := s.lane(t); lane != nil {
		t.Fatal("a lane without WithLanes")
	}
}

// While results keep coming, a connection's writes are paced: with a
// budget of one write a second for all connections (so a cap of 1 s),
// results sent right after the first one (which goes out at once) wait
// for the pause and then arrive together, in order. Without pacing
// (FlushInterval < 0) they arrive at once.
func TestLanePacing(t *testing.T) {
	for _, tc := range []struct {
		name   string
		impl   wsgorilla.Implementation
		paused bool
	}{
		{"paced", wsgorilla.Implementation{WriteBudget: 1, FlushInterval: time.Second}, true},
		{"unpaced", wsgorilla.Implementation{WriteBudget: 1, FlushInterval: -1}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newLaneServer(t, tc.impl, true)
			c := dial(t, s.url, nil, transportWS)
			c.initialise(transportWS)
			c.send(message{Type: "subscribe", ID: "1", Payload: []byte(`{"query":"subscription { name }"}`)})
			lane := s.lane(t)
			// The pause counts from the connection's last write (the
			// connection_ack): the first result after a quiet interval
			// goes at once.
			time.Sleep(time.Second)
			if err := lane.Send([]byte(`{"data":{"name":"first"}}`)); err != nil {
				t.Fatal(err)
			}
			c.expect("next", "1")
			first := time.Now()
			for i := range 5 {
				if err := lane.Send(fmt.Appendf(nil, `{"data":{"name":"n%d"}}`, i)); err != nil {
					t.Fatal(err)
				}
			}
			for i := range 5 {
				m := c.expect("next", "1")
				assertJSON(t, m.Payload, fmt.Sprintf(`{"data":{"name":"n%d"}}`, i))
			}
			// The pause counts from the first write, which the client saw
			// a moment later: allow that moment (up to half a second) on
			// a slow machine.
			gap := time.Since(first)
			if tc.paused && gap < 500*time.Millisecond {
				t.Errorf("paced results arrived %s after the first: not paced", gap)
			}
			if !tc.paused && gap > 500*time.Millisecond {
				t.Errorf("unpaced results arrived %s after the first", gap)
			}
		})
	}
}
