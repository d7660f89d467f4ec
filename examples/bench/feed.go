package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// feed is one graphql-transport-ws subscription to orderStatusChanged on
// one replica. Completions are routed to the goroutine waiting for that
// order; every event's commit-to-here latency is recorded.
type feed struct {
	conn *websocket.Conn
	wmu  sync.Mutex

	mu      sync.Mutex
	waiting map[string]chan struct{}
	done    map[string]bool           // completed before anyone waited
	hist    atomic.Pointer[histogram] // commit (event time) to receipt, while recording
	closed  chan struct{}
}

func dialFeed(base string, route bool) (*feed, error) {
	url := "ws" + strings.TrimPrefix(base, "http") + "/graphql"
	d := websocket.Dialer{Subprotocols: []string{"graphql-transport-ws"}, HandshakeTimeout: 10 * time.Second, ReadBufferSize: 64 << 10}
	conn, resp, err := d.Dial(url, http.Header{"Origin": []string{base}})
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", url, err)
	}
	resp.Body.Close()
	f := &feed{conn: conn, waiting: map[string]chan struct{}{}, done: map[string]bool{}, closed: make(chan struct{})}
	if err := f.start(); err != nil {
		conn.Close()
		return nil, err
	}
	go f.read(route)
	return f, nil
}

// start says connection_init, waits for the ack, and subscribes.
func (f *feed) start() error {
	if err := f.write(map[string]any{"type": "connection_init", "payload": map[string]any{"user": "bench"}}); err != nil {
		return err
	}
	var ack struct{ Type string }
	f.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	if err := f.conn.ReadJSON(&ack); err != nil || ack.Type != "connection_ack" {
		return fmt.Errorf("connection_ack: %v %v", err, ack.Type)
	}
	f.conn.SetReadDeadline(time.Time{})
	q := `subscription { orderStatusChanged { orderId to at } }`
	return f.write(map[string]any{"id": "1", "type": "subscribe", "payload": map[string]any{"query": q}})
}

func (f *feed) write(v any) error {
	f.wmu.Lock()
	defer f.wmu.Unlock()
	f.conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
	return f.conn.WriteJSON(v)
}

func (f *feed) read(route bool) {
	defer close(f.closed)
	var buf bytes.Buffer
	for {
		_, r, err := f.conn.NextReader()
		if err != nil {
			return
		}
		buf.Reset()
		if _, err := buf.ReadFrom(r); err != nil {
			return
		}
		b, now := buf.Bytes(), time.Now()
		if !route {
			// A dashboard: only the event's time matters; don't spend the
			// driver's CPU (which shares the machine) decoding the rest.
			f.dashboard(b, now)
			continue
		}
		var msg struct {
			Type    string `json:"type"`
			Payload struct {
				Data struct {
					E struct {
						OrderID string    `json:"orderId"`
						To      string    `json:"to"`
						At      time.Time `json:"at"`
					} `json:"orderStatusChanged"`
				} `json:"data"`
			} `json:"payload"`
		}
		if err := json.Unmarshal(b, &msg); err != nil {
			continue
		}
		switch msg.Type {
		case "ping":
			f.write(map[string]any{"type": "pong"})
			continue
		case "next":
		default:
			continue
		}
		e := msg.Payload.Data.E
		if h := f.hist.Load(); h != nil {
			h.add(now.Sub(e.At).Microseconds())
		}
		f.mu.Lock()
		if e.To == "COMPLETED" {
			if ch := f.waiting[e.OrderID]; ch != nil {
				close(ch)
				delete(f.waiting, e.OrderID)
			} else {
				f.done[e.OrderID] = true
			}
		}
		f.mu.Unlock()
	}
}

var (
	nextType = []byte(`"type":"next"`)
	pingType = []byte(`"type":"ping"`)
	atField  = []byte(`"at":"`)
)

// dashboard counts one message of a subscriber that does not route
// completions.
func (f *feed) dashboard(b []byte, now time.Time) {
	if bytes.Contains(b, pingType) {
		f.write(map[string]any{"type": "pong"})
		return
	}
	if !bytes.Contains(b, nextType) {
		return
	}
	var at time.Time
	if i := bytes.Index(b, atField); i >= 0 {
		rest := b[i+len(atField):]
		if j := bytes.IndexByte(rest, '"'); j > 0 {
			at, _ = time.Parse(time.RFC3339Nano, string(rest[:j]))
		}
	}
	if h := f.hist.Load(); h != nil && !at.IsZero() {
		h.add(now.Sub(at).Microseconds())
	}
}

// wait returns a channel closed when the order completes.
func (f *feed) wait(orderID string) <-chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	ch := make(chan struct{})
	if f.done[orderID] {
		delete(f.done, orderID)
		close(ch)
		return ch
	}
	f.waiting[orderID] = ch
	return ch
}

// forget drops an order that will not be waited for.
func (f *feed) forget(orderID string) {
	f.mu.Lock()
	delete(f.waiting, orderID)
	f.mu.Unlock()
}

// startRecording makes the feed count each event it receives, with its
// latency, in h.
func (f *feed) startRecording(h *histogram) { f.hist.Store(h) }

func (f *feed) Close() {
	f.write(map[string]any{"id": "1", "type": "complete"})
	f.wmu.Lock()
	f.conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
	f.wmu.Unlock()
	select {
	case <-f.closed:
	case <-time.After(2 * time.Second):
	}
	f.conn.Close()
}
