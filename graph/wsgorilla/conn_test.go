package wsgorilla_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/gorilla/websocket"

	"github.com/batonhq/baton/graph/wsgorilla"
)

// serveConn accepts every request with impl and runs fn with the connection
// on the handler goroutine. The tests here exchange raw messages, not the
// GraphQL protocol, so the protocol checks are off.
func serveConn(t *testing.T, impl wsgorilla.Implementation, fn func(conn transport.WebsocketConn)) string {
	t.Helper()
	impl.SkipProtocolChecks = true
	return startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, err := impl.Accept(w, r, transport.WebsocketAcceptOptions{
			ResponseHeader: http.Header{"X-Accept": {"yes"}},
			Subprotocols:   []string{transportWS},
		})
		if err != nil {
			t.Errorf("accept: %v", err)
			return
		}
		fn(conn)
	}))
}

func TestAcceptReturnsOptionalInterfaces(t *testing.T) {
	url := serveConn(t, wsgorilla.Implementation{}, func(conn transport.WebsocketConn) {
		defer conn.Close()
		if _, ok := conn.(transport.WebsocketReadLimiter); !ok {
			t.Error("conn does not implement transport.WebsocketReadLimiter")
		}
		if _, ok := conn.(transport.WebsocketReadDeadliner); !ok {
			t.Error("conn does not implement transport.WebsocketReadDeadliner")
		}
		if conn.Subprotocol() != transportWS {
			t.Errorf("Subprotocol() = %q", conn.Subprotocol())
		}
	})
	c := dial(t, url, nil, transportWS)
	if got := c.resp.Header.Get("X-Accept"); got != "yes" {
		t.Errorf("options.ResponseHeader not sent: X-Accept=%q", got)
	}
	c.expectClose(websocket.CloseAbnormalClosure)
}

func TestConcurrentWriteJSON(t *testing.T) {
	const writers, perWriter = 8, 50
	url := serveConn(t, wsgorilla.Implementation{}, func(conn transport.WebsocketConn) {
		var wg sync.WaitGroup
		for g := range writers {
			wg.Go(func() {
				for i := range perWriter {
					if err := conn.WriteJSON(map[string]int{"g": g, "i": i}); err != nil {
						t.Errorf("WriteJSON: %v", err)
						return
					}
				}
			})
		}
		wg.Wait()
		_ = conn.WriteClose(websocket.CloseNormalClosure, "done")
		_ = conn.Close()
	})

	c := dial(t, url, nil)
	next := make([]int, writers)
	for range writers * perWriter {
		_ = c.ws.SetReadDeadline(time.Now().Add(ioTimeout))
		_, data, err := c.ws.ReadMessage()
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		var m struct{ G, I int }
		if err := json.Unmarshal(data, &m); err != nil {
			t.Fatalf("interleaved or corrupt frame %q: %v", data, err)
		}
		if m.I != next[m.G] {
			t.Fatalf("writer %d: got message %d, want %d", m.G, m.I, next[m.G])
		}
		next[m.G]++
	}
	if ce := c.expectClose(websocket.CloseNormalClosure); ce.Text != "done" {
		t.Errorf("close reason %q", ce.Text)
	}
	c.expectEOF()
}

func TestWriteTimeoutDropsStuckClient(t *testing.T) {
	type result struct {
		writeErr, readErr error
		writes            int
	}
	results := make(chan result, 1)
	url := serveConn(t, wsgorilla.Implementation{WriteTimeout: 100 * time.Millisecond}, func(conn transport.WebsocketConn) {
		defer conn.Close()
		big := strings.Repeat("x", 256<<10)
		var res result
		for res.writes = 0; res.writes < 1000; res.writes++ {
			if res.writeErr = conn.WriteJSON(big); res.writeErr != nil {
				break
			}
		}
		_, _, res.readErr = conn.NextReader()
		results <- res
	})

	dial(t, url, nil) // never reads
	select {
	case res := <-results:
		var netErr net.Error
		if !errors.As(res.writeErr, &netErr) || !netErr.Timeout() {
			t.Fatalf("after %d writes WriteJSON returned %v, want a timeout", res.writes, res.writeErr)
		}
		// The connection was dropped, so the read side ends as well (with an
		// error the transport treats as "closed by us").
		if !errors.Is(res.readErr, net.ErrClosed) {
			t.Errorf("NextReader after failed write: %v, want net.ErrClosed", res.readErr)
		}
	case <-time.After(3 * ioTimeout):
		t.Fatal("WriteJSON never timed out on a client that does not read")
	}
}

func TestReadDeadline(t *testing.T) {
	t.Run("passed deadline drops the connection", func(t *testing.T) {
		errs := make(chan error, 1)
		url := serveConn(t, wsgorilla.Implementation{}, func(conn transport.WebsocketConn) {
			defer conn.Close()
			_ = conn.(transport.WebsocketReadDeadliner).SetReadDeadline(time.Now().Add(50 * time.Millisecond))
			start := time.Now()
			_, _, err := conn.NextReader()
			if time.Since(start) < 40*time.Millisecond {
				t.Errorf("read ended after %v", time.Since(start))
			}
			errs <- err
		})
		c := dial(t, url, nil)
		c.expectClose(websocket.CloseAbnormalClosure)
		var netErr net.Error
		if err := <-errs; !errors.As(err, &netErr) || !netErr.Timeout() {
			t.Errorf("NextReader: %v, want a timeout", err)
		}
	})

	t.Run("deadline in the past", func(t *testing.T) {
		errs := make(chan error, 1)
		url := serveConn(t, wsgorilla.Implementation{}, func(conn transport.WebsocketConn) {
			defer conn.Close()
			_ = conn.(transport.WebsocketReadDeadliner).SetReadDeadline(time.Now().Add(-time.Second))
			_, _, err := conn.NextReader()
			errs <- err
		})
		c := dial(t, url, nil)
		c.expectClose(websocket.CloseAbnormalClosure)
		var netErr net.Error
		if err := <-errs; !errors.As(err, &netErr) || !netErr.Timeout() {
			t.Errorf("NextReader: %v, want a timeout", err)
		}
	})

	t.Run("zero time clears a pending deadline from another goroutine", func(t *testing.T) {
		got := make(chan string, 1)
		url := serveConn(t, wsgorilla.Implementation{}, func(conn transport.WebsocketConn) {
			defer conn.Close()
			d := conn.(transport.WebsocketReadDeadliner)
			_ = d.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
			go func() { _ = d.SetReadDeadline(time.Time{}) }() // like the transport on pong
			_, r, err := conn.NextReader()
			if err != nil {
				t.Errorf("NextReader: %v", err)
				got <- ""
				return
			}
			b, _ := io.ReadAll(r)
			got <- string(b)
		})
		c := dial(t, url, nil)
		time.Sleep(150 * time.Millisecond)
		c.sendRaw([]byte("late"))
		if s := <-got; s != "late" {
			t.Errorf("read %q", s)
		}
	})
}

func TestNextReaderPeerClose(t *testing.T) {
	cases := []struct {
		code int
		want func(error) bool
	}{
		{websocket.CloseNormalClosure, func(err error) bool { return err == transport.ErrWebsocketClosed }},
		{websocket.CloseNoStatusReceived, func(err error) bool { return err == transport.ErrWebsocketClosed }},
		{websocket.CloseGoingAway, func(err error) bool { return websocket.IsCloseError(err, websocket.CloseGoingAway) }},
		{4000, func(err error) bool { return websocket.IsCloseError(err, 4000) }},
	}
	for _, tc := range cases {
		t.Run(strconv.Itoa(tc.code), func(t *testing.T) {
			errs := make(chan [2]error, 1)
			url := serveConn(t, wsgorilla.Implementation{}, func(conn transport.WebsocketConn) {
				_, r, err := conn.NextReader()
				if err != nil {
					t.Errorf("first NextReader: %v", err)
				} else if b, _ := io.ReadAll(r); string(b) != "hello" {
					t.Errorf("read %q", b)
				}
				_, _, err1 := conn.NextReader()
				_, _, err2 := conn.NextReader()
				errs <- [2]error{err1, err2}
				_ = conn.WriteClose(websocket.CloseNormalClosure, "bye")
				_ = conn.Close()
			})
			c := dial(t, url, nil)
			c.sendRaw([]byte("hello"))
			c.closeNormally(tc.code, "")
			c.expectClose(tc.code) // gorilla's echo
			c.expectEOF()
			got := <-errs
			if !tc.want(got[0]) {
				t.Errorf("NextReader returned %v", got[0])
			}
			if got[1] != got[0] {
				t.Errorf("second NextReader returned %v, want the same error", got[1])
			}
		})
	}
}

func TestSetReadLimit(t *testing.T) {
	errs := make(chan []error, 1)
	url := serveConn(t, wsgorilla.Implementation{}, func(conn transport.WebsocketConn) {
		conn.(transport.WebsocketReadLimiter).SetReadLimit(64)
		var got []error
		for range 3 {
			_, _, err := conn.NextReader()
			got = append(got, err)
		}
		errs <- got
		_ = conn.WriteClose(websocket.CloseNormalClosure, "")
		_ = conn.Close()
	})
	c := dial(t, url, nil)
	c.sendRaw(bytes.Repeat([]byte("a"), 64))
	c.sendRaw(bytes.Repeat([]byte("a"), 65))
	c.expectClose(websocket.CloseMessageTooBig)
	c.expectEOF()
	got := <-errs
	if got[0] != nil || !errors.Is(got[1], websocket.ErrReadLimit) || got[2] != got[1] {
		t.Errorf("NextReader errors %v, want [nil ErrReadLimit ErrReadLimit]", got)
	}
}

func TestWriteClose(t *testing.T) {
	long := strings.Repeat("é", 100) // 200 bytes
	cases := []struct {
		name     string
		code     int
		reason   string
		wantCode int
		wantText string
		wantErr  bool
	}{
		{name: "application code", code: 4403, reason: "forbidden", wantCode: 4403, wantText: "forbidden"},
		{name: "duplicate id", code: 4409, reason: "Subscriber for 1 already exists", wantCode: 4409, wantText: "Subscriber for 1 already exists"},
		{name: "long reason is truncated on a rune boundary", code: 4400, reason: long, wantCode: 4400, wantText: long[:122]},
		{name: "invalid UTF-8 is replaced", code: 4400, reason: "bad\xffbyte", wantCode: 4400, wantText: "bad\uFFFDbyte"},
		{name: "no status", code: websocket.CloseNoStatusReceived, wantCode: websocket.CloseNoStatusReceived},
		{name: "1006 cannot be sent", code: websocket.CloseAbnormalClosure, reason: "x", wantCode: websocket.CloseInternalServerErr, wantErr: true},
		{name: "403 is not a close code", code: 403, wantCode: websocket.CloseInternalServerErr, wantErr: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			errs := make(chan [2]error, 1)
			url := serveConn(t, wsgorilla.Implementation{}, func(conn transport.WebsocketConn) {
				err := conn.WriteClose(tc.code, tc.reason)
				again := conn.WriteClose(4000, "second call is a no-op")
				_ = conn.Close() // must not cut the handshake short
				errs <- [2]error{err, again}
			})
			c := dial(t, url, nil)
			ce := c.expectClose(tc.wantCode)
			if ce.Text != tc.wantText || !utf8.ValidString(ce.Text) || len(ce.Text) > 123 {
				t.Errorf("close text %q, want %q", ce.Text, tc.wantText)
			}
			c.expectEOF()
			got := <-errs
			if (got[0] != nil) != tc.wantErr || got[1] != nil {
				t.Errorf("WriteClose returned %v then %v, want error: %v", got[0], got[1], tc.wantErr)
			}
		})
	}
}

func TestCloseWithoutWriteCloseIsAbrupt(t *testing.T) {
	url := serveConn(t, wsgorilla.Implementation{}, func(conn transport.WebsocketConn) {
		if err := conn.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		if err := conn.Close(); err != nil {
			t.Errorf("second Close: %v", err)
		}
		if err := conn.WriteClose(websocket.CloseNormalClosure, ""); err != nil {
			t.Errorf("WriteClose after Close: %v", err)
		}
	})
	c := dial(t, url, nil)
	c.expectClose(websocket.CloseAbnormalClosure)
}

// The client has sent a large message the server never reads. Closing the
// TCP connection right after the close frame would make the kernel send a
// reset that can destroy the close frame; the close handshake drains instead.
func TestCloseHandshakeDrainsUnreadData(t *testing.T) {
	closeNow := make(chan struct{})
	url := serveConn(t, wsgorilla.Implementation{}, func(conn transport.WebsocketConn) {
		<-closeNow
		_ = conn.WriteClose(4400, "bye")
		_ = conn.Close()
	})
	c := dial(t, url, nil)

	writeErr := make(chan error, 1)
	go func() {
		_ = c.ws.SetWriteDeadline(time.Now().Add(ioTimeout))
		writeErr <- c.ws.WriteMessage(websocket.BinaryMessage, make([]byte, 4<<20))
	}()
	time.Sleep(50 * time.Millisecond)
	close(closeNow)

	if ce := c.expectClose(4400); ce.Text != "bye" {
		t.Errorf("close reason %q", ce.Text)
	}
	// The client's write either completed (the server drained it) or was
	// cut short by gorilla echoing our close frame.
	if err := <-writeErr; err != nil && !errors.Is(err, websocket.ErrCloseSent) {
		t.Errorf("client write: %v", err)
	}
	c.expectEOF()
}

func TestCloseHandshakeTimeout(t *testing.T) {
	closed := make(chan time.Time, 1)
	url := serveConn(t, wsgorilla.Implementation{CloseTimeout: 100 * time.Millisecond}, func(conn transport.WebsocketConn) {
		// Wait for the client's go-ahead so the close frame is not read into
		// gorilla's buffer together with the handshake response.
		if _, _, err := conn.NextReader(); err != nil {
			t.Errorf("NextReader: %v", err)
		}
		_ = conn.WriteClose(4400, "bye")
		_ = conn.Close()
		closed <- time.Now()
	})
	c := dial(t, url, nil)
	c.sendRaw([]byte("go"))

	// Do not answer the close frame: read the raw TCP stream instead of
	// letting gorilla echo the close. The server must give up on its own.
	nc := c.ws.NetConn()
	_ = nc.SetReadDeadline(time.Now().Add(ioTimeout))
	data, err := io.ReadAll(nc)
	if err != nil {
		t.Fatalf("raw read: %v (server did not close the TCP connection)", err)
	}
	eof := time.Now()
	if len(data) < 2 || data[0] != 0x88 {
		t.Fatalf("raw data %x, want a close frame", data)
	}
	if d := eof.Sub(<-closed); d < 80*time.Millisecond {
		t.Errorf("TCP closed %v after WriteClose, before the 100ms close timeout", d)
	}
}
