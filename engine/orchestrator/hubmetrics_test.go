package orchestrator_test

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/batonhq/baton/engine"
	"github.com/batonhq/baton/engine/enginetest"
	"github.com/batonhq/baton/engine/metrics"
	"github.com/batonhq/baton/engine/orchestrator"
)

// The hub counts each event it hands to a subscription, and each live
// subscription it drops for falling Buffer events behind.
func TestHubCountsDeliveriesAndDrops(t *testing.T) {
	t.Parallel()
	m := metrics.New()
	reg := prometheus.NewRegistry()
	if err := m.Register(reg); err != nil {
		t.Fatal(err)
	}
	h := orchestrator.NewHub(openStore(t, enginetest.SQLiteURL(t), nil), orchestrator.HubConfig{Logger: enginetest.Logger(t),
		Buffer: 3, PollInterval: time.Hour, Metrics: m})
	defer h.Close()
	reg.MustRegister(metrics.FeedSubscriptions(h.Subscribers))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// reader takes every event; stuck never reads (its goroutine fills the
	// 64-event channel, then its queue of 3); orders sees order events only.
	reader, err := h.Subscribe(ctx, orchestrator.EventFilter{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	stuckCtx, stop := context.WithCancel(ctx)
	defer stop()
	if _, err := h.Subscribe(stuckCtx, orchestrator.EventFilter{Kinds: []engine.EventKind{engine.EventStepStatus}}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Subscribe(ctx, orchestrator.EventFilter{Kinds: []engine.EventKind{engine.EventOrderStatus}}, nil); err != nil {
		t.Fatal(err)
	}
	if got := testutil.ToFloat64(metrics.FeedSubscriptions(h.Subscribers)); got != 3 {
		t.Fatalf("baton_feed_subscriptions = %v; want 3", got)
	}
	got := make(chan int64)
	go func() {
		for e := range reader.C {
			got <- e.ID
		}
	}()
	// Each event is read before the next is ingested: reader never falls
	// behind, whatever the scheduling.
	ingest := func(e *engine.Event) {
		h.Ingest([]*engine.Event{e})
		select {
		case n := <-got:
			if n != e.ID {
				t.Fatalf("reader got event %d; want %d", n, e.ID)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("reader never got event %d", e.ID)
		}
	}
	// One order event (to reader and orders), then step events one at a
	// time, which stuck takes until its channel and its queue are full.
	id := int64(1)
	ingest(&engine.Event{ID: id, Kind: engine.EventOrderStatus})
	delivered := 2.0
	for h.Subscribers() == 3 {
		id++
		ingest(&engine.Event{ID: id, Kind: engine.EventStepStatus})
		delivered += 2 // reader and stuck
		if id > 1000 {
			t.Fatal("the stuck subscription was never dropped")
		}
	}
	delivered-- // the event that found stuck's queue full was not handed to it
	if got := reg2counter(t, reg, "baton_feed_subscriptions_dropped_total"); got != 1 {
		t.Errorf("baton_feed_subscriptions_dropped_total = %v; want 1", got)
	}
	if got := reg2counter(t, reg, "baton_feed_events_delivered_total"); got != delivered {
		t.Errorf("baton_feed_events_delivered_total = %v; want %v", got, delivered)
	}
}

func reg2counter(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() == name {
			return f.Metric[0].GetCounter().GetValue()
		}
	}
	t.Fatalf("%s not gathered", name)
	return 0
}
