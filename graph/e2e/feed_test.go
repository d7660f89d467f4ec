package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/99designs/gqlgen/client"
	"github.com/gorilla/websocket"
	"go.uber.org/goleak"

	"github.com/batonhq/baton/engine/enginetest"
	"github.com/batonhq/baton/engine/orchestrator"
)

func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 {
		// Subscriptions, hubs and runners must leave nothing behind.
		if err := goleak.Find(
			goleak.IgnoreTopFunction("net/http.(*persistConn).readLoop"),
			goleak.IgnoreTopFunction("net/http.(*persistConn).writeLoop"),
			goleak.IgnoreTopFunction("internal/poll.runtime_pollWait"),
			goleak.IgnoreTopFunction("database/sql.(*DB).connectionOpener"),
		); err != nil {
			fmt.Fprintf(os.Stderr, "goleak: %v\n", err)
			code = 1
		}
	}
	cleanupBinaries()
	os.Exit(code)
}

// wsSubscribe opens a raw graphql-transport-ws connection with gorilla and
// starts one subscription; events land in the collector. The returned
// function completes the subscription and closes the connection.
func wsSubscribe(t *testing.T, baseURL, query string, vars map[string]any) (*collector, func()) {
	t.Helper()
	url := "ws" + strings.TrimPrefix(baseURL, "http") + "/graphql"
	if !strings.HasSuffix(baseURL, "/graphql") && strings.Count(baseURL, "/") > 2 {
		url = "ws" + strings.TrimPrefix(baseURL, "http")
	}
	d := websocket.Dialer{Subprotocols: []string{"graphql-transport-ws"}, HandshakeTimeout: 5 * time.Second}
	conn, resp, err := d.Dial(url, nil)
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	resp.Body.Close()
	if conn.Subprotocol() != "graphql-transport-ws" {
		t.Fatalf("subprotocol %q; want graphql-transport-ws", conn.Subprotocol())
	}
	var wmu sync.Mutex
	write := func(v any) error {
		wmu.Lock()
		defer wmu.Unlock()
		conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
		return conn.WriteJSON(v)
	}
	if err := write(map[string]any{"type": "connection_init", "payload": map[string]any{"user": "dashboard"}}); err != nil {
		t.Fatal(err)
	}
	var ack struct{ Type string }
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if err := conn.ReadJSON(&ack); err != nil || ack.Type != "connection_ack" {
		t.Fatalf("ack: %v %+v", err, ack)
	}
	conn.SetReadDeadline(time.Time{})
	if err := write(map[string]any{"id": "1", "type": "subscribe", "payload": map[string]any{"query": query, "variables": vars}}); err != nil {
		t.Fatal(err)
	}
	c := &collector{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			var msg struct {
				Type    string          `json:"type"`
				Payload json.RawMessage `json:"payload"`
			}
			if err := conn.ReadJSON(&msg); err != nil {
				return
			}
			switch msg.Type {
			case "ping":
				write(map[string]any{"type": "pong"})
			case "next":
				var p struct {
					Data   map[string]wsEvent `json:"data"`
					Errors []json.RawMessage  `json:"errors"`
				}
				json.Unmarshal(msg.Payload, &p)
				for _, e := range p.Data {
					c.add(e)
				}
				for _, e := range p.Errors {
					c.mu.Lock()
					c.errs = append(c.errs, string(e))
					c.mu.Unlock()
				}
			case "error":
				c.mu.Lock()
				c.errs = append(c.errs, string(msg.Payload))
				c.mu.Unlock()
			case "complete":
				c.mu.Lock()
				c.done = true
				c.mu.Unlock()
			}
		}
	}()
	closeFn := func() {
		write(map[string]any{"id": "1", "type": "complete"})
		wmu.Lock()
		conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
		wmu.Unlock()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
		}
		conn.Close()
		<-done
	}
	return c, closeFn
}

const eventFields = `cursor kind orderId from to at step { id name status }`

// TestFeedHasEveryTransitionInCommitOrder: a dashboard subscribed to all
// events sees every step of an order move, in the order the table holds
// them, each once.
func TestFeedHasEveryTransitionInCommitOrder(t *testing.T) {
	t.Parallel()
	enginetest.EachBackend(t, func(t *testing.T, url string) {
		s := newStack(t, url, stackOptions{})
		c, stop := wsSubscribe(t, s.srv.URL, `subscription { events { `+eventFields+` } }`, nil)
		defer stop()
		waitSubscribers(t, s.hub, 1)
		orderID := s.submit("feed-1")
		s.completeInstall(orderID)
		enginetest.Eventually(t, 20*time.Second, func() bool {
			return c.has(func(e wsEvent) bool { return e.Kind == "ORDER_STATUS" && e.To == "COMPLETED" })
		}, "order never completed on the feed")
		got := c.snapshot()
		stored, err := s.store.EventsAfter(s.ctx, 0, 10000)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(stored) {
			t.Fatalf("feed has %d events; the table %d", len(got), len(stored))
		}
		for i, e := range got {
			if e.Cursor != stored[i].Cursor() {
				t.Fatalf("event %d: cursor %s; table has %s", i, e.Cursor, stored[i].Cursor())
			}
		}
		// Per step, the moves follow the lifecycle.
		moves := map[string][]string{}
		for _, e := range got {
			if e.Kind == "STEP_STATUS" {
				if len(moves[e.Step.Name]) == 0 {
					moves[e.Step.Name] = append(moves[e.Step.Name], e.From) // created with
				}
				moves[e.Step.Name] = append(moves[e.Step.Name], e.To)
			}
		}
		if m := strings.Join(moves["Ship"], ">"); m != "PENDING>READY>RUNNING>COMPLETED" {
			t.Errorf("Ship: %s", m)
		}
		if m := strings.Join(moves["Install"], ">"); m != "PENDING>READY>WAITING>COMPLETED" {
			t.Errorf("Install: %s", m)
		}
	})
}

// TestResumeAfterCursorNoGapNoDuplicate: a client that drops off and comes
// back with its last cursor gets exactly what it missed, then live events.
func TestResumeAfterCursorNoGapNoDuplicate(t *testing.T) {
	t.Parallel()
	enginetest.EachBackend(t, func(t *testing.T, url string) {
		s := newStack(t, url, stackOptions{noStart: true})
		c1, stop1 := wsSubscribe(t, s.srv.URL, `subscription { events { `+eventFields+` } }`, nil)
		waitSubscribers(t, s.hub, 1)
		s.submit("resume-1")
		// The submission alone (no runner) makes 8 events.
		enginetest.Eventually(t, 10*time.Second, func() bool { return len(c1.snapshot()) >= 8 }, "first events")
		stop1()
		waitSubscribers(t, s.hub, 0)
		seen := c1.snapshot()[:7] // the client processed only 7 before it dropped
		cursor := seen[len(seen)-1].Cursor
		// Changes keep happening while it is away.
		s.submit("resume-2")
		c2, stop2 := wsSubscribe(t, s.srv.URL, `subscription($a: String) { events(after: $a) { `+eventFields+` } }`, map[string]any{"a": cursor})
		defer stop2()
		waitSubscribers(t, s.hub, 1)
		s.submit("resume-3") // live, after the replay
		enginetest.Eventually(t, 10*time.Second, func() bool {
			stored, _ := s.store.EventsAfter(s.ctx, 0, 10000)
			got := c2.snapshot()
			return len(got) > 0 && got[len(got)-1].Cursor == stored[len(stored)-1].Cursor()
		}, "resumed feed never caught up")
		stored, _ := s.store.EventsAfter(s.ctx, 0, 10000)
		var want []string
		for _, e := range stored {
			if e.ID > mustInt(cursor) {
				want = append(want, e.Cursor())
			}
		}
		var got []string
		for _, e := range c2.snapshot() {
			got = append(got, e.Cursor)
		}
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("after cursor %s:\n got %v\nwant %v", cursor, got, want)
		}
	})
}

func mustInt(s string) int64 {
	n, _ := strconv.ParseInt(s, 10, 64)
	return n
}

// TestFiltersAndLegacyProtocol: gqlgen's own client (legacy graphql-ws, in
// process) on a filtered subscription gets only what matches.
func TestFiltersAndLegacyProtocol(t *testing.T) {
	t.Parallel()
	s := newStack(t, enginetest.SQLiteURL(t), stackOptions{noStart: true})
	first := s.submit("filter-1")
	c := client.New(s.srv.Config.Handler)
	sub := c.Websocket(`subscription($o: ID!) { stepStatusChanged(orderId: $o, kinds: [STEP_STATUS], after: "0") { kind orderId to step { name } } }`,
		client.Var("o", first))
	defer sub.Close()
	var resp struct {
		StepStatusChanged struct {
			Kind    string
			OrderID string
			To      string
			Step    struct{ Name string }
		}
	}
	// The submission's step events (no runner): CreditCheck and
	// WelcomeCall READY → COMPLETED, two callouts PENDING → READY.
	for range 4 {
		if err := sub.Next(&resp); err != nil {
			t.Fatalf("next: %v", err)
		}
		if resp.StepStatusChanged.Kind != "STEP_STATUS" || resp.StepStatusChanged.OrderID != first {
			t.Errorf("got %+v; want STEP_STATUS events of order %s", resp.StepStatusChanged, first)
		}
	}
}

// TestBadCursorIsRefused: a cursor that is not one is a clear error.
func TestBadCursorIsRefused(t *testing.T) {
	t.Parallel()
	s := newStack(t, enginetest.SQLiteURL(t), stackOptions{noStart: true})
	c, stop := wsSubscribe(t, s.srv.URL, `subscription { events(after: "yesterday") { cursor } }`, nil)
	defer stop()
	enginetest.Eventually(t, 5*time.Second, func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return len(c.errs) > 0
	}, "no error for a bad cursor")
	if !strings.Contains(c.errs[0], "BAD_USER_INPUT") {
		t.Errorf("error %s; want BAD_USER_INPUT", c.errs[0])
	}
}

func waitSubscribers(t *testing.T, h *orchestrator.Hub, n int) {
	t.Helper()
	enginetest.Eventually(t, 5*time.Second, func() bool { return h.Subscribers() == n }, "hub has not %d subscribers", n)
}
