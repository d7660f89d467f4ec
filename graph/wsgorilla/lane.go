package wsgorilla

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// Lanes: results written straight to the connection.
//
// gqlgen's transport writes every result of a subscription through
// WriteJSON after marshalling it twice (the result, then the message), and
// each write is a TCP write of its own. For a server that sends the same
// result to many subscribers (see graph's shared subscriptions) that is
// most of what a delivered message costs. A Lane sends an operation's
// already encoded results instead: the frame around the payload is built
// from a prefix computed once per operation, the payload bytes may be
// shared by any number of connections, and the frames a connection has
// waiting go out in one TCP write by the connection's writer goroutine.
//
// Lanes are enabled per request with WithLanes (before the transport sees
// the request); the operation then finds its lane with LaneFor, from the
// extensions of its OperationContext, where the connection puts the
// operation's own id under LaneExtension. Messages written by the
// transport (WriteJSON) and by lanes share one queue, so an operation's
// last message (complete or error) written by the transport follows the
// results its lane queued.

// LaneExtension is the key, in an operation's extensions, under which a
// connection with lanes puts the operation's id.
const LaneExtension = "wsgorilla.lane"

// DefaultMaxQueuedBytes is how many bytes may wait in a connection's queue
// before a lane's Send is refused with ErrLaneFull.
const DefaultMaxQueuedBytes = 4 << 20

var (
	// ErrLaneClosed: the operation was completed by the client or has
	// ended, or its connection is closing.
	ErrLaneClosed = errors.New("wsgorilla: the operation or its connection has ended")
	// ErrLaneFull: the client does not read as fast as its results come;
	// more than the connection's queue limit waits to be written.
	ErrLaneFull = errors.New("wsgorilla: the connection's queue is full: the client reads too slowly")
)

type lanesKey struct{}

// laneSlot carries the connection from Accept to LaneFor: the transport
// accepts with the request it was given and runs operations with a
// context derived from that request's.
type laneSlot struct {
	mu sync.Mutex
	c  *conn
}

// WithLanes returns r with a context in which the connection Accept makes
// offers lanes to its operations (LaneFor).
func WithLanes(r *http.Request) *http.Request {
	return r.WithContext(context.WithValue(r.Context(), lanesKey{}, &laneSlot{}))
}

func lanesOf(ctx context.Context) *laneSlot {
	s, _ := ctx.Value(lanesKey{}).(*laneSlot)
	return s
}

// Lane writes one operation's results to its connection.
type Lane struct {
	c    *conn
	id   string
	head []byte
}

// LaneFor returns the lane of the operation whose context is ctx and
// whose extensions are given (graphql.OperationContext.Extensions), or
// nil when its connection has no lanes or the operation is no longer
// running.
func LaneFor(ctx context.Context, extensions map[string]any) *Lane {
	slot := lanesOf(ctx)
	id, _ := extensions[LaneExtension].(string)
	if slot == nil || id == "" {
		return nil
	}
	slot.mu.Lock()
	c := slot.c
	slot.mu.Unlock()
	if c == nil {
		return nil
	}
	c.qmu.Lock()
	if c.proto == nil {
		c.qmu.Unlock()
		return nil
	}
	clientID, ok := c.proto.lane(id)
	legacy := c.proto.legacy
	c.qmu.Unlock()
	if !ok {
		return nil
	}
	typ := "next"
	if legacy {
		typ = "data"
	}
	quoted, _ := json.Marshal(clientID)
	head := make([]byte, 0, len(quoted)+40)
	head = append(head, `{"id":`...)
	head = append(head, quoted...)
	head = append(head, `,"type":"`+typ+`","payload":`...)
	return &Lane{c: c, id: id, head: head}
}

// Send queues a "next" message (legacy graphql-ws: "data") whose payload
// is the encoded result (a JSON object: data, errors, extensions) and
// returns at once; the connection's writer goroutine writes it. payload is
// not copied and must not change afterwards. It fails with ErrLaneClosed
// when the operation or the connection has ended, and with ErrLaneFull
// when the connection's queue holds more than its limit.
func (l *Lane) Send(payload []byte) error {
	c := l.c
	if !c.isOpen() {
		return ErrLaneClosed
	}
	c.qmu.Lock()
	if _, ok := c.proto.lane(l.id); !ok {
		c.qmu.Unlock()
		return ErrLaneClosed
	}
	if c.queued > c.maxQueued {
		c.qmu.Unlock()
		return ErrLaneFull
	}
	c.enqueueLocked(frame{head: l.head, body: payload})
	c.qmu.Unlock()
	c.writer.Do(func() { go c.writeLoop() })
	select {
	case c.kick <- struct{}{}:
	default: // the writer is already due to run
	}
	return nil
}

// Write pacing. Every write to a connection is a system call that costs
// the server (and the client reading it) a few microseconds whatever it
// carries, and a result shared by a thousand subscribers is a thousand
// writes. So while results keep coming, a connection's writer spaces its
// writes and each write takes all that arrived meanwhile: the interval
// grows with the number of connections receiving lanes' results (one
// write budget per second shared among them: the transport's WriteBudget),
// up to its FlushInterval. A server with a few subscribers writes at
// once; one with a thousand dashboards makes about WriteBudget writes a
// second, several messages each, for at most FlushInterval more latency.
// The first result after a quiet interval is written at once.

// DefaultFlushInterval is the longest a connection's writer waits after
// its previous write while results keep coming.
const DefaultFlushInterval = 25 * time.Millisecond

// DefaultWriteBudget is the writes per second that the pacing aims at for
// all connections together.
const DefaultWriteBudget = 20000

// laneConns counts the connections whose writer goroutine runs.
var laneConns atomic.Int64

// pace is how far apart this connection's writes are to be now.
func (c *conn) pace() time.Duration {
	return min(c.flushEvery, time.Duration(laneConns.Load())*time.Second/time.Duration(c.budget))
}

// writeLoop writes the queue whenever a lane adds to it, until the
// connection closes, paced as above.
func (c *conn) writeLoop() {
	laneConns.Add(1)
	defer laneConns.Add(-1)
	pause := time.NewTimer(time.Hour)
	pause.Stop()
	defer pause.Stop()
	for {
		select {
		case <-c.kick:
		case <-c.closed:
			return
		}
		// The pause counts from the connection's last write, whoever
		// made it (a control message's flush may have taken results too).
		c.writeMu.Lock()
		last := c.lastWrite
		c.writeMu.Unlock()
		if wait := c.pace() - time.Since(last); wait > 0 {
			pause.Reset(wait)
			select {
			case <-pause.C:
			case <-c.closed:
				return
			}
		}
		// A failed write drops the connection; its operations end with it.
		_, _ = c.flushBatches(1)
	}
}

// corkingWriter hands gorilla the hijacked TCP connection wrapped in a
// corkConn.
type corkingWriter struct {
	http.ResponseWriter
}

func (w corkingWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	nc, brw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	return &corkConn{Conn: nc}, brw, nil
}

// corkConn gathers what is written between hold and release into one
// write. All writes to the TCP connection go through it under mu, so
// frames written by other goroutines meanwhile (gorilla's control frames)
// follow the held ones in order.
type corkConn struct {
	net.Conn
	mu      sync.Mutex
	holding bool
	buf     []byte
	// raw: the connection frames its data messages (appendFrames), so
	// what gorilla writes through Write is control frames, one per call;
	// closeSent: one of them was a close frame.
	raw, closeSent bool
}

// frameData makes the connection's data frames appendFrames' only.
func (c *corkConn) frameData() {
	c.mu.Lock()
	c.raw = true
	c.mu.Unlock()
}

func (c *corkConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.raw && len(p) > 0 && p[0] == 0x80|websocket.CloseMessage {
		c.closeSent = true
	}
	if c.holding {
		c.buf = append(c.buf, p...)
		return len(p), nil
	}
	return c.Conn.Write(p)
}

func (c *corkConn) hold() {
	c.mu.Lock()
	c.holding = true
	c.mu.Unlock()
}

// appendFrames adds frames to what is to be written, each a final text
// frame from server to client (unmasked): head, then body and "}" when body
// is set. It holds the connection until release, so that a frame written
// meanwhile (a close frame) follows them. After a close frame it adds
// nothing and returns false: no data frame may follow one (RFC 6455
// section 5.5.1).
func (c *corkConn) appendFrames(frames []frame) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closeSent {
		return false
	}
	c.holding = true
	for _, f := range frames {
		n := len(f.head)
		if f.body != nil {
			n += len(f.body) + len(frameTail)
		}
		c.buf = appendFrameHeader(c.buf, n)
		c.buf = append(c.buf, f.head...)
		if f.body != nil {
			c.buf = append(c.buf, f.body...)
			c.buf = append(c.buf, frameTail...)
		}
	}
	return true
}

// appendFrameHeader appends the header of a final, unmasked text frame
// of n payload bytes (RFC 6455 section 5.2).
func appendFrameHeader(b []byte, n int) []byte {
	const finText = 0x80 | websocket.TextMessage
	switch {
	case n <= 125:
		return append(b, finText, byte(n))
	case n <= 0xffff:
		return append(b, finText, 126, byte(n>>8), byte(n))
	default:
		return append(b, finText, 127, byte(n>>56), byte(n>>48), byte(n>>40), byte(n>>32), byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
}

// release writes what was held (hold, appendFrames), in one write, with
// the given deadline unless it is zero. Frames other goroutines write
// meanwhile (gorilla's control frames) wait for it under mu.
func (c *corkConn) release(deadline time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.holding = false
	if len(c.buf) == 0 {
		return nil
	}
	if !deadline.IsZero() {
		if err := c.Conn.SetWriteDeadline(deadline); err != nil {
			return err
		}
	}
	_, err := c.Conn.Write(c.buf)
	if cap(c.buf) > 256<<10 {
		c.buf = nil // don't keep a burst's buffer for the connection's life
	} else {
		c.buf = c.buf[:0]
	}
	return err
}
