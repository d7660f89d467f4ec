package wsgorilla_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/99designs/gqlgen/graphql/handler/testserver"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/gorilla/websocket"
	"go.uber.org/goleak"
)

// TestMain fails the package if any test leaves a goroutine behind: server
// handlers, the transport's keep-alive/ping goroutines, subscriptions and
// the adapter's close-handshake goroutines must all have finished.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const ioTimeout = 5 * time.Second

// message is a frame of either GraphQL websocket protocol.
type message struct {
	Type    string          `json:"type"`
	ID      string          `json:"id,omitempty"`
	Payload json.RawMessage `json:"payload,omitempty"`
}

// startServer serves h on an httptest server and returns its ws:// URL. At
// cleanup it closes the server and waits until every handler invocation has
// returned (httptest does not wait for hijacked connections).
func startServer(t *testing.T, h http.Handler) string {
	t.Helper()
	var active atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		active.Add(1)
		defer active.Add(-1)
		h.ServeHTTP(w, r)
	}))
	// Refused upgrades make net/http log "superfluous WriteHeader" because
	// the transport writes its own error after gorilla's.
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.Start()
	t.Cleanup(func() {
		srv.Close()
		deadline := time.Now().Add(ioTimeout)
		for active.Load() != 0 {
			if time.Now().After(deadline) {
				t.Errorf("%d websocket handler(s) still running after the test", active.Load())
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
	})
	return "ws" + strings.TrimPrefix(srv.URL, "http")
}

// gqlServer runs gqlgen's test schema with the given websocket transport.
func gqlServer(t *testing.T, ws transport.Websocket) (*testserver.TestServer, string) {
	t.Helper()
	h := testserver.New()
	h.AddTransport(ws)
	return h, startServer(t, h)
}

type client struct {
	t    *testing.T
	ws   *websocket.Conn
	resp *http.Response
}

func dial(t *testing.T, url string, header http.Header, subprotocols ...string) *client {
	t.Helper()
	return dialWith(t, websocket.Dialer{Subprotocols: subprotocols}, url, header)
}

func dialWith(t *testing.T, d websocket.Dialer, url string, header http.Header) *client {
	t.Helper()
	d.HandshakeTimeout = ioTimeout
	ws, resp, err := d.Dial(url, header)
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		t.Fatalf("dial %s: %v (HTTP %d)", url, err, status)
	}
	t.Cleanup(func() { _ = ws.Close() })
	return &client{t: t, ws: ws, resp: resp}
}

func (c *client) send(m message) {
	c.t.Helper()
	_ = c.ws.SetWriteDeadline(time.Now().Add(ioTimeout))
	if err := c.ws.WriteJSON(m); err != nil {
		c.t.Fatalf("send %s: %v", m.Type, err)
	}
}

func (c *client) sendRaw(data []byte) {
	c.t.Helper()
	_ = c.ws.SetWriteDeadline(time.Now().Add(ioTimeout))
	if err := c.ws.WriteMessage(websocket.TextMessage, data); err != nil {
		c.t.Fatalf("send raw: %v", err)
	}
}

func (c *client) read() message {
	c.t.Helper()
	_ = c.ws.SetReadDeadline(time.Now().Add(ioTimeout))
	_, data, err := c.ws.ReadMessage()
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	var m message
	if err := json.Unmarshal(data, &m); err != nil {
		c.t.Fatalf("read: %q is not a protocol message: %v", data, err)
	}
	return m
}

// expect reads the next message, skipping the given types (e.g. "ka"), and
// checks its type and id.
func (c *client) expect(typ, id string, skip ...string) message {
	c.t.Helper()
	for {
		m := c.read()
		if contains(skip, m.Type) {
			continue
		}
		if m.Type != typ || m.ID != id {
			c.t.Fatalf("got message type=%q id=%q payload=%s, want type=%q id=%q", m.Type, m.ID, m.Payload, typ, id)
		}
		return m
	}
}

// expectClose reads, skipping data messages of the given types, until the
// connection ends and returns the close error; it fails unless the close
// code is want.
func (c *client) expectClose(want int, skip ...string) *websocket.CloseError {
	c.t.Helper()
	_ = c.ws.SetReadDeadline(time.Now().Add(ioTimeout))
	for {
		_, data, err := c.ws.ReadMessage()
		if err == nil {
			var m message
			_ = json.Unmarshal(data, &m)
			if contains(skip, m.Type) {
				continue
			}
			c.t.Fatalf("got message %s, want close %d", data, want)
		}
		var ce *websocket.CloseError
		if !errors.As(err, &ce) {
			c.t.Fatalf("got error %v, want close %d", err, want)
		}
		if ce.Code != want {
			c.t.Fatalf("got close %d %q, want close %d", ce.Code, ce.Text, want)
		}
		return ce
	}
}

// expectEOF checks that the server has closed the TCP connection (after any
// websocket-level close has been read).
func (c *client) expectEOF() {
	c.t.Helper()
	nc := c.ws.NetConn()
	_ = nc.SetReadDeadline(time.Now().Add(ioTimeout))
	buf := make([]byte, 512)
	for {
		_, err := nc.Read(buf)
		if err == nil {
			continue
		}
		if !errors.Is(err, io.EOF) {
			c.t.Fatalf("want EOF from server, got %v", err)
		}
		return
	}
}

func (c *client) closeNormally(code int, text string) {
	c.t.Helper()
	err := c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, text), time.Now().Add(ioTimeout))
	if err != nil {
		c.t.Fatalf("write close: %v", err)
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func assertJSON(t *testing.T, got json.RawMessage, want string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("payload %q: %v", got, err)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("want %q: %v", want, err)
	}
	gb, _ := json.Marshal(g)
	wb, _ := json.Marshal(w)
	if string(gb) != string(wb) {
		t.Fatalf("payload %s, want %s", gb, wb)
	}
}

// recorder collects ErrorFunc and CloseFunc calls of a transport.
type recorder struct {
	mu     sync.Mutex
	errs   []error
	closed chan int
}

func newRecorder() *recorder { return &recorder{closed: make(chan int, 1)} }

func (r *recorder) errorFunc(_ context.Context, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errs = append(r.errs, err)
}

func (r *recorder) closeFunc(_ context.Context, code int) {
	select {
	case r.closed <- code:
	default:
		panic("CloseFunc called twice")
	}
}

func (r *recorder) errors() []error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]error(nil), r.errs...)
}

// reported returns the errors a production ErrorFunc should act on: those
// not wrapping net.ErrClosed. The transport reports a write error wrapping
// net.ErrClosed when it writes (typically a subscription's final "complete")
// to a connection that is already closing; the coder implementation does the
// same.
func (r *recorder) reported(t *testing.T) []error {
	t.Helper()
	var out []error
	for _, err := range r.errors() {
		if errors.Is(err, net.ErrClosed) {
			var wsErr transport.WebsocketError
			if !errors.As(err, &wsErr) || wsErr.IsReadError {
				t.Errorf("unexpected error wrapping net.ErrClosed: %v", err)
			}
			continue
		}
		out = append(out, err)
	}
	return out
}

// waitClosed waits for CloseFunc and returns the code it was given.
func (r *recorder) waitClosed(t *testing.T) int {
	t.Helper()
	select {
	case code := <-r.closed:
		return code
	case <-time.After(ioTimeout):
		t.Fatal("CloseFunc was not called")
		return 0
	}
}
