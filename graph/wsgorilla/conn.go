package wsgorilla

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/gorilla/websocket"
)

// maxCloseReason is the longest close reason that fits in a close control
// frame (125 bytes of payload minus the 2-byte status code).
const maxCloseReason = 123

type connState int

const (
	stateOpen    connState = iota
	stateClosing           // a close frame was sent; closeHandshake owns the TCP connection
	stateClosed            // the TCP connection is closed (or being closed)
)

// conn adapts a *websocket.Conn to transport.WebsocketConn.
//
// Locking: readMu is held for the whole of every read (NextReader and the
// close handshake), which gives gorilla the single reader it requires.
// Every data message goes out through the queue, in the order it entered
// it: qmu guards the queue and the protocol state (and is never held
// while blocking on the network); writeMu is held by whoever writes the
// queue to the network (flush), which gives gorilla the single writer it
// requires and puts all frames that wait into one TCP write. Control
// frames go through gorilla's WriteControl, which is safe to call
// concurrently. mu guards state and is never held while blocking on the
// network.
type conn struct {
	ws   *websocket.Conn
	cork *corkConn // the TCP connection under ws; nil when not hijacked through Accept
	// rawFrames: data frames are framed here, straight into cork, instead
	// of through gorilla's writer (one NextWriter, copy, deadline and
	// frame flush per message). Only without permessage-deflate, whose
	// frames gorilla must compress.
	rawFrames    bool
	writeTimeout time.Duration
	closeTimeout time.Duration

	limit atomic.Int64 // requested read limit; applied by the next read

	readMu  sync.Mutex
	readErr error  // guarded by readMu; sticky once set
	pending []byte // guarded by readMu; a message for the next read (see protocol.start)

	qmu sync.Mutex
	// proto checks the GraphQL protocol in both directions; nil for a
	// subprotocol the transport refuses anyway. Guarded by qmu.
	proto      *protocol
	queue      []frame       // guarded by qmu: messages not yet written, in order
	queued     int           // guarded by qmu: their bytes
	maxQueued  int           // lanes' messages are refused beyond this many queued bytes
	flushEvery time.Duration // the longest pause between lanes' writes (writeLoop)
	budget     int           // writes per second of all lanes' connections (pace)
	writer     sync.Once
	kick       chan struct{} // wakes the writer goroutine of lanes
	initTimer  *time.Timer   // closes with 4408 unless connection_init arrives; nil without InitTimeout
	writeMu    sync.Mutex
	lastWrite  time.Time     // when flush last wrote frames; under writeMu
	closed     chan struct{} // closed when the connection stops being open
	closedOnce sync.Once

	mu    sync.Mutex
	state connState
}

// frame is one data message: head, then body and "}" when body is set
// (a lane's message around a payload shared by many connections).
type frame struct {
	head, body []byte
}

func (f frame) size() int { return len(f.head) + len(f.body) + 1 }

var (
	_ transport.WebsocketConn          = (*conn)(nil)
	_ transport.WebsocketReadLimiter   = (*conn)(nil)
	_ transport.WebsocketReadDeadliner = (*conn)(nil)
)

func newConn(ws *websocket.Conn, writeTimeout, closeTimeout time.Duration) *conn {
	c := &conn{ws: ws, writeTimeout: writeTimeout, closeTimeout: closeTimeout,
		kick: make(chan struct{}, 1), closed: make(chan struct{}), maxQueued: DefaultMaxQueuedBytes,
		flushEvery: DefaultFlushInterval, budget: DefaultWriteBudget}
	c.cork, _ = ws.NetConn().(*corkConn)
	return c
}

// checkProtocol makes the connection check the GraphQL messages of its
// subprotocol (see protocol) and, with initTimeout, close with 4408 unless
// connection_init arrives in time.
func (c *conn) checkProtocol(maxOps int, initTimeout time.Duration) {
	c.proto = newProtocol(c.ws.Subprotocol(), maxOps)
	if c.proto != nil && initTimeout > 0 {
		c.initTimer = time.AfterFunc(initTimeout, c.initExpired)
	}
}

func (c *conn) initExpired() {
	c.qmu.Lock()
	received := c.proto.initReceived
	c.qmu.Unlock()
	if !received {
		c.refuse(CloseInitTimeout, "Connection initialisation timeout")
	}
}

func (c *conn) stopInitTimer() {
	if c.initTimer != nil {
		c.initTimer.Stop()
	}
}

// NextReader reads the next complete data message and returns a reader over
// it (the whole message is read so that reads never overlap with the close
// handshake).
//
// A close frame from the peer with status 1000 or without a status (1005)
// yields transport.ErrWebsocketClosed; other close statuses yield the
// *websocket.CloseError. Once WriteClose or Close has been called, any other
// read error wraps net.ErrClosed. If a read deadline set with
// SetReadDeadline passes, the connection is dropped and a timeout error is
// returned. A message larger than the read limit (see SetReadLimit) makes the
// connection send a 1009 (message too big) close frame and return
// websocket.ErrReadLimit. Errors are permanent: later calls return the same
// error.
//
// Unless Implementation.SkipProtocolChecks is set, each message is first
// checked against the GraphQL protocol (see "Protocol checks" in the package
// documentation): what the transport reads is the checked message,
// re-encoded, with the operation id rewritten; some messages are answered or
// ignored here and never returned; a violation closes the connection and
// returns a *ProtocolError.
func (c *conn) NextReader() (int, io.Reader, error) {
	c.readMu.Lock()
	defer c.readMu.Unlock()

	for {
		if c.readErr != nil {
			return 0, nil, c.readErr
		}
		if data := c.pending; data != nil {
			c.pending = nil
			return websocket.TextMessage, bytes.NewReader(data), nil
		}
		messageType, data, err := c.readMessage()
		if err != nil {
			c.readErr = c.readError(err)
			return messageType, nil, c.readErr
		}
		if c.proto == nil {
			return messageType, bytes.NewReader(data), nil
		}
		if data = c.receive(data); data != nil {
			return messageType, bytes.NewReader(data), nil
		}
		// Swallowed (answered here, or nothing to do), or refused: then
		// readErr is set.
	}
}

// readMessage reads the next data message whole, within the read limit.
func (c *conn) readMessage() (int, []byte, error) {
	limit := c.limit.Load()
	messageType, r, err := c.ws.NextReader()
	if err != nil {
		return messageType, nil, err
	}
	if limit <= 0 || limit == math.MaxInt64 {
		data, err := io.ReadAll(r)
		return messageType, data, err
	}
	// The limit is enforced here rather than with gorilla's SetReadLimit:
	// gorilla's limit counts compressed bytes and makes its read error
	// permanent, which would leave the close handshake unable to find the
	// peer's close frame behind the oversized message.
	data, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err == nil && int64(len(data)) > limit {
		_ = c.ws.WriteControl(websocket.CloseMessage,
			websocket.FormatCloseMessage(websocket.CloseMessageTooBig, ""),
			time.Now().Add(c.writeTimeout))
		err = websocket.ErrReadLimit
	}
	return messageType, data, err
}

// receive runs a message from the client through the protocol check (under
// qmu, see protocol) and returns what the transport is to read, or nil.
// A refusal closes the connection and sets readErr. Called with readMu held.
func (c *conn) receive(data []byte) []byte {
	c.qmu.Lock()
	v := c.proto.receive(data)
	if c.proto.initReceived {
		c.stopInitTimer()
	}
	if v.reply != nil {
		c.enqueueLocked(frame{head: v.reply})
	}
	c.qmu.Unlock()
	if v.reply != nil {
		_, _ = c.flush()
	}

	if v.close != 0 {
		c.refuse(v.close, v.reason)
		c.readErr = &ProtocolError{Code: v.close, Reason: v.reason}
		return nil
	}
	c.pending = v.pending
	return v.deliver
}

// refuse closes the connection for a protocol violation: legacy graphql-ws
// clients, whose protocol has no close codes for it, first get the reason
// in a connection_error message.
func (c *conn) refuse(code int, reason string) {
	c.qmu.Lock()
	legacy := c.proto.legacy
	if legacy {
		c.enqueueLocked(frame{head: connectionError(reason)})
	}
	c.qmu.Unlock()
	if legacy {
		_, _ = c.flush()
	}
	_ = c.WriteClose(code, reason)
}

func (c *conn) readError(err error) error {
	if websocket.IsCloseError(err, websocket.CloseNormalClosure, websocket.CloseNoStatusReceived) {
		return transport.ErrWebsocketClosed
	}

	c.mu.Lock()
	state := c.state
	c.mu.Unlock()
	if state != stateOpen {
		// We are closing the connection ourselves; the transport ignores
		// net.ErrClosed.
		return fmt.Errorf("%w: %w", net.ErrClosed, err)
	}

	var netErr net.Error
	if errors.As(err, &netErr) && netErr.Timeout() {
		// Match the coder implementation (and gqlgen's documentation of
		// PingPongInterval): a passed read deadline kills the connection
		// without a close frame, the peer sees 1006.
		c.abort()
		return fmt.Errorf("wsgorilla: read deadline exceeded: %w", err)
	}
	return err
}

// WriteJSON marshals v and sends it as one text message. Calls are
// serialised, so it is safe to call from several goroutines. The write must
// complete within the write timeout; if it fails or times out the connection
// is dropped (the peer sees 1006) and the error is returned. Once the
// connection is closing (a close frame was sent, or it was closed or dropped)
// the message is not sent and the error wraps net.ErrClosed, as with the coder
// implementation. With the protocol checks, an operation's messages go out
// under the client's id, and those of an operation the client completed (or
// that already sent its last message) are dropped without an error.
func (c *conn) WriteJSON(v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}

	c.qmu.Lock()
	if c.proto != nil {
		var ok bool
		if data, ok = c.proto.send(data); !ok {
			// For an operation the client completed or that has finished.
			c.qmu.Unlock()
			return nil
		}
	}
	c.enqueueLocked(frame{head: data})
	c.qmu.Unlock()
	_, err = c.flush()
	return err
}

// enqueueLocked appends a message to the queue; the caller holds qmu.
func (c *conn) enqueueLocked(f frame) {
	c.queue = append(c.queue, f)
	c.queued += f.size()
}

// flush writes what the queue holds, in order, in as few TCP writes as
// the frames fit (one for all frames that were waiting): a connection
// with many operations and a burst of events costs one system call per
// burst, not per message. When a write fails or times out the connection
// is dropped (the frame stream is corrupt) and the rest of the queue is
// discarded.
func (c *conn) flush() (written int, err error) {
	return c.flushBatches(-1)
}

// flushBatches is flush, taking what the queue holds at most batches times
// (negative: until it is empty); the paced writer takes one batch, so that
// what arrives while it writes waits for the next pause.
func (c *conn) flushBatches(batches int) (written int, err error) {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	var batch []frame
	for ; batches != 0; batches-- {
		c.qmu.Lock()
		batch, c.queue = c.queue, batch[:0]
		c.queued = 0
		c.qmu.Unlock()
		if len(batch) == 0 {
			return written, nil
		}
		if err := c.writeFrames(batch); err != nil {
			c.qmu.Lock()
			c.queue, c.queued = nil, 0
			c.qmu.Unlock()
			return written, err
		}
		written += len(batch)
		c.lastWrite = time.Now()
		clear(batch) // drop the references to shared payloads
	}
	return written, nil
}

var frameTail = []byte("}")

// writeFrames sends frames as text messages; the caller holds writeMu.
// With rawFrames the connection frames them itself into the cork, which
// refuses them once a close frame went out, whoever sent it (WriteClose,
// or gorilla echoing the peer's close or refusing an oversized message),
// as gorilla's writer does; a close frame sent meanwhile follows them.
// Either way they leave in one write.
func (c *conn) writeFrames(frames []frame) error {
	if !c.isOpen() {
		return fmt.Errorf("wsgorilla: write on closing connection: %w", net.ErrClosed)
	}
	var err error
	if c.rawFrames {
		if !c.cork.appendFrames(frames) {
			return fmt.Errorf("wsgorilla: write on closing connection: %w", net.ErrClosed)
		}
		err = c.cork.release(time.Now().Add(c.writeTimeout))
	} else {
		_ = c.ws.SetWriteDeadline(time.Now().Add(c.writeTimeout))
		if c.cork != nil {
			c.cork.hold()
		}
		err = c.writeEach(frames)
		if c.cork != nil {
			// gorilla set the connection's deadline for each frame.
			if ferr := c.cork.release(time.Time{}); err == nil {
				err = ferr
			}
		}
	}
	if err != nil {
		if errors.Is(err, websocket.ErrCloseSent) || !c.isOpen() {
			return fmt.Errorf("wsgorilla: write on closing connection: %w (%w)", net.ErrClosed, err)
		}
		// A failed or timed-out write leaves the frame stream corrupt.
		c.abort()
		return err
	}
	return nil
}

func (c *conn) writeEach(frames []frame) error {
	for _, f := range frames {
		if f.body == nil {
			if err := c.ws.WriteMessage(websocket.TextMessage, f.head); err != nil {
				return err
			}
			continue
		}
		w, err := c.ws.NextWriter(websocket.TextMessage)
		if err != nil {
			return err
		}
		_, _ = w.Write(f.head)
		_, _ = w.Write(f.body)
		_, _ = w.Write(frameTail)
		if err := w.Close(); err != nil {
			return err
		}
	}
	return nil
}

func (c *conn) isOpen() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.state == stateOpen
}

// WriteClose sends a close frame with closeCode and message and starts the
// close handshake: in the background the connection waits up to the close
// timeout for the peer's close frame (discarding data messages meanwhile)
// and then closes the TCP connection. Close does not interrupt the
// handshake. Only the first call (and only on an open connection) has an
// effect; later calls return nil.
//
// message is made valid UTF-8 and truncated to the 123 bytes a close frame
// can carry. Status 1005 sends a close frame without a status. A status that
// may not be sent on the wire (below 1000, 1004, 1006, 1015 and above, apart
// from 3000-4999) is replaced by 1011 (internal error) and an error is
// returned, as the coder implementation does.
func (c *conn) WriteClose(closeCode int, message string) error {
	c.mu.Lock()
	if c.state != stateOpen {
		c.mu.Unlock()
		return nil
	}
	c.state = stateClosing
	c.mu.Unlock()
	c.markClosed()

	payload, payloadErr := closePayload(closeCode, message)
	err := c.ws.WriteControl(websocket.CloseMessage, payload, time.Now().Add(c.writeTimeout))
	if err != nil && !errors.Is(err, websocket.ErrCloseSent) {
		c.abort()
		return err
	}
	// ErrCloseSent: gorilla already sent a close frame (echoing the peer's
	// close, or 1009 for an oversized message); the handshake is under way.
	go c.closeHandshake()
	return payloadErr
}

// closeHandshake waits, bounded by closeTimeout, for the peer's close frame
// and then closes the TCP connection. Reading up to the peer's close frame
// also drains what the peer sent before it: closing a socket with unread data
// makes the kernel send a reset, which can destroy our close frame before the
// peer has read it.
func (c *conn) closeHandshake() {
	c.stopInitTimer()
	defer func() {
		c.mu.Lock()
		c.state = stateClosed
		c.mu.Unlock()
		_ = c.ws.Close()
	}()

	// Also bounds a read still in progress in NextReader (SetReadDeadline is
	// ignored from now on), so the lock below is acquired in time.
	_ = c.ws.NetConn().SetReadDeadline(time.Now().Add(c.closeTimeout))

	c.readMu.Lock()
	defer c.readMu.Unlock()
	for {
		// Discards data messages (including the rest of one cut short by the
		// read limit) until the peer's close frame, an error, or the deadline.
		if _, _, err := c.ws.NextReader(); err != nil {
			return
		}
	}
}

// abort drops the TCP connection without a close frame.
func (c *conn) abort() {
	c.stopInitTimer()
	c.mu.Lock()
	if c.state == stateClosed {
		c.mu.Unlock()
		return
	}
	c.state = stateClosed
	c.mu.Unlock()
	c.markClosed()
	_ = c.ws.Close()
}

// markClosed tells the lanes' writer that the connection is no longer open.
func (c *conn) markClosed() {
	c.closedOnce.Do(func() { close(c.closed) })
}

// Close releases the connection. If WriteClose has started the close
// handshake, the handshake finishes closing the connection and Close returns
// nil; otherwise the TCP connection is closed at once without a close frame
// (the peer sees 1006). Close is idempotent.
func (c *conn) Close() error {
	c.stopInitTimer()
	c.mu.Lock()
	if c.state != stateOpen {
		c.mu.Unlock()
		return nil
	}
	c.state = stateClosed
	c.mu.Unlock()
	c.markClosed()
	return c.ws.Close()
}

// Subprotocol returns the subprotocol negotiated during the upgrade, or ""
// if the client offered none the server supports.
func (c *conn) Subprotocol() string {
	return c.ws.Subprotocol()
}

// SetReadLimit sets the maximum size in bytes of a message read from the
// peer (after permessage-deflate decompression, if negotiated).
// A limit <= 0 removes the limit. It is safe to call concurrently with
// NextReader and takes effect from the next message.
func (c *conn) SetReadLimit(limit int64) {
	if limit < 0 {
		limit = 0
	}
	c.limit.Store(limit)
}

// SetReadDeadline sets the time by which the next message must have arrived;
// the zero time removes the deadline. It is safe to call concurrently with
// NextReader and applies to a read already in progress. If the deadline
// passes, the connection is dropped without a close frame (the peer sees
// 1006) and NextReader returns a timeout error. Once the connection is
// closing, calls are ignored.
func (c *conn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state != stateOpen {
		return nil
	}
	return c.ws.NetConn().SetReadDeadline(t)
}

// closePayload builds a close frame payload, replacing codes that may not be
// sent on the wire by 1011 and fitting the reason into the frame.
func closePayload(code int, reason string) ([]byte, error) {
	if code == websocket.CloseNoStatusReceived {
		return []byte{}, nil
	}
	if !validWireCloseCode(code) {
		return websocket.FormatCloseMessage(websocket.CloseInternalServerErr, ""),
			fmt.Errorf("wsgorilla: close code %d cannot be sent, sent %d instead", code, websocket.CloseInternalServerErr)
	}
	return websocket.FormatCloseMessage(code, truncateUTF8(strings.ToValidUTF8(reason, "\uFFFD"), maxCloseReason)), nil
}

// validWireCloseCode reports whether code may appear in a close frame
// (RFC 6455 section 7.4, same rule as coder/websocket).
func validWireCloseCode(code int) bool {
	switch code {
	case 1004, websocket.CloseNoStatusReceived, websocket.CloseAbnormalClosure, websocket.CloseTLSHandshake:
		return false
	}
	return (code >= websocket.CloseNormalClosure && code <= 1014) || (code >= 3000 && code <= 4999)
}

// truncateUTF8 shortens s to at most n bytes without splitting a rune.
func truncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
