package graph_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/batonhq/baton/engine"
	"github.com/batonhq/baton/engine/enginetest"
	"github.com/batonhq/baton/engine/entstore"
	"github.com/batonhq/baton/engine/orchestrator"
	"github.com/batonhq/baton/graph"
)

// BenchmarkSubscriptionFanout is the feed's cost per event with many
// dashboards open: 200 websocket subscribers of the same query, one event
// published into the hub per op, until every subscriber has it.
//
//	go test ./graph -run '^$' -bench SubscriptionFanout
//
// shared runs each event's selection once for all of them and writes the
// same bytes to every connection (graph/shared.go, wsgorilla lanes);
// unshared is gqlgen's own path, one execution and two marshals per
// subscriber. ns/msg is the wall time per delivered message, cpu-ns/msg
// the process's CPU time per message (the clients run in the same process
// and are counted in both).
func BenchmarkSubscriptionFanout(b *testing.B) {
	for _, mode := range []struct {
		name     string
		unshared bool
	}{{"shared", false}, {"unshared", true}} {
		b.Run(mode.name, func(b *testing.B) { benchFanout(b, 200, mode.unshared) })
	}
}

func benchFanout(b *testing.B, subscribers int, unshared bool) {
	ctx := context.Background()
	log := enginetest.Logger(b)
	clock := engine.NewFakeClock(enginetest.Epoch)
	st, err := entstore.Open(ctx, enginetest.SQLiteURL(b), entstore.Options{Clock: clock, Logger: log})
	if err != nil {
		b.Fatal(err)
	}
	eng := orchestrator.New(orchestrator.Config{Store: st, Clock: clock, Logger: log})
	broker := engine.NewLocalBroker()
	hub := orchestrator.NewHub(st, orchestrator.HubConfig{Logger: log, PollInterval: time.Hour, Clock: clock, Buffer: 1 << 20})
	if err := hub.Start(ctx, broker, nil); err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(graph.NewHandler(graph.Config{Client: st.Client(), Engine: eng, Hub: hub, Logger: log, Unshared: unshared}))
	b.Cleanup(func() {
		srv.CloseClientConnections()
		srv.Close()
		hub.Close()
		broker.Close()
		st.Close()
	})

	var received atomic.Int64
	counts := make([]atomic.Int64, subscribers) // per subscriber, to say who fell behind
	ended := make([]atomic.Value, subscribers)  // why a subscriber's reads ended
	url := "ws" + strings.TrimPrefix(srv.URL, "http")
	sub, _ := json.Marshal(map[string]any{"id": "1", "type": "subscribe",
		"payload": map[string]any{"query": "subscription { events { cursor kind orderId at to step { id name status } } }"}})
	next := []byte(`"type":"next"`)
	for n := range subscribers {
		d := websocket.Dialer{Subprotocols: []string{"graphql-transport-ws"}}
		ws, resp, err := d.Dial(url, nil)
		if err != nil {
			b.Fatal(err)
		}
		resp.Body.Close()
		b.Cleanup(func() { ws.Close() })
		if err := ws.WriteMessage(websocket.TextMessage, []byte(`{"type":"connection_init","payload":{"user":"dash"}}`)); err != nil {
			b.Fatal(err)
		}
		if _, _, err := ws.ReadMessage(); err != nil { // connection_ack
			b.Fatal(err)
		}
		if err := ws.WriteMessage(websocket.TextMessage, sub); err != nil {
			b.Fatal(err)
		}
		go func() {
			for {
				_, m, err := ws.ReadMessage()
				if err != nil {
					ended[n].Store(err.Error())
					return
				}
				if bytes.Contains(m, next) {
					received.Add(1)
					counts[n].Add(1)
				} else {
					ended[n].CompareAndSwap(nil, "unexpected message: "+string(m))
				}
			}
		}()
	}
	want := 1
	if unshared {
		want = subscribers
	}
	enginetest.Eventually(b, 10*time.Second, func() bool { return hub.Subscribers() == want }, "%d subscriptions never reached the hub", want)
	id := hub.Last()
	event := func(i int) *engine.Event {
		id++
		return &engine.Event{ID: id, Kind: engine.EventStepStatus, OrderID: 7, PlanID: 7, StepID: 70 + i%5,
			From: "READY", To: "IN_PROGRESS", At: enginetest.Epoch.Add(time.Duration(i) * time.Millisecond),
			Step: &engine.EventStep{ID: 70 + i%5, Name: "Install", Type: "MANUAL_TASK", Status: "IN_PROGRESS", Jeopardy: "ON_TRACK"}}
	}
	// Shared, the hub counts one subscription as soon as the first
	// subscriber joins its group; the others join as their subscribe
	// messages are read. Events until every subscriber has had one, then
	// quiet until the last of them arrived: from there on every subscriber
	// gets every event.
	enginetest.Eventually(b, 10*time.Second, func() bool {
		hub.Ingest([]*engine.Event{event(0)})
		for n := range counts {
			if counts[n].Load() == 0 {
				return false
			}
		}
		return true
	}, "not every subscriber received an event")
	for last := int64(-1); received.Load() != last; time.Sleep(50 * time.Millisecond) {
		last = received.Load()
	}
	base := make([]int64, subscribers)
	for n := range counts {
		base[n] = counts[n].Load()
	}
	warm := received.Load()

	const window = 64
	b.ResetTimer()
	start, cpu0 := time.Now(), processCPU(b)
	for i := 0; b.Loop(); i++ {
		// At most window events in flight: b.Loop times the loop, which
		// must include the delivery, and an unbounded backlog would
		// overflow the subscribers' queues (SLOW_SUBSCRIBER).
		for received.Load()-warm < int64(i-window)*int64(subscribers) {
			time.Sleep(100 * time.Microsecond)
		}
		hub.Ingest([]*engine.Event{event(i)})
	}
	total := int64(b.N) * int64(subscribers)
	deadline := time.Now().Add(time.Minute)
	for received.Load()-warm < total {
		if time.Now().After(deadline) {
			var short []string
			for n := range counts {
				if got := counts[n].Load() - base[n]; got < int64(b.N) {
					short = append(short, fmt.Sprintf("subscriber %d: %d (%v)", n, got, ended[n].Load()))
				}
			}
			b.Fatalf("%d of %d messages delivered (%d events); short: %s", received.Load(), total, b.N, strings.Join(short, "; "))
		}
		time.Sleep(time.Millisecond)
	}
	elapsed, cpu := time.Since(start), processCPU(b)-cpu0
	b.StopTimer()
	b.ReportMetric(float64(elapsed.Nanoseconds())/float64(total), "ns/msg")
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(total), "cpu-ns/msg")
}

// processCPU is the CPU time (user + system) the process has used: with
// paced writes the wall time per message includes the last pacing wait,
// which a short run does not amortise; the CPU time does not.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
