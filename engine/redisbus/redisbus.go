// Package redisbus is the engine.Broker over Redis pub/sub (go-redis v9):
// one subscription per process on two coarse channels, events published
// in batches (one message per committed transaction) by a background
// publisher so that committing transactions never wait on Redis.
//
// Pub/sub is at-most-once: what is published while a replica's connection
// is down never reaches it. The broker reports every (re)subscription as a
// Reset, and the engine's hub then reads what it missed from the events
// table.
package redisbus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/batonhq/baton/engine"
)

// Channel names: baton:<deployment>:events and baton:<deployment>:work.
// Redis pub/sub ignores the database number, so two deployments on one
// Redis would otherwise hear each other.
func channels(deployment string) (events, work string) {
	prefix := "baton:" + deployment
	return prefix + ":events", prefix + ":work"
}

// Bus implements engine.Broker.
type Bus struct {
	events string
	work   string
	client *redis.Client
	ps     *redis.PubSub
	origin string
	log    *slog.Logger
	clock  engine.Clock // stamps messages' Sent
	msgs   chan engine.BrokerMessage
	out    chan []byte // encoded event batches to publish
	done   chan struct{}
	wg     sync.WaitGroup
	closed sync.Once
}

var _ engine.Broker = (*Bus)(nil)

// message is the wire format: one committed batch.
type message struct {
	Origin string      `json:"o"`
	Events []wireEvent `json:"e"`
	Sent   int64       `json:"t"` // unix nanos, for latency diagnostics
}

type wireEvent struct {
	ID      int64             `json:"i"`
	Kind    engine.EventKind  `json:"k"`
	OrderID int               `json:"o,omitempty"`
	PlanID  int               `json:"p,omitempty"`
	StepID  int               `json:"s,omitempty"`
	From    string            `json:"f,omitempty"`
	To      string            `json:"t"`
	At      time.Time         `json:"a"`
	Actor   string            `json:"u,omitempty"`
	Note    string            `json:"n,omitempty"`
	Step    *engine.EventStep `json:"d,omitempty"`
	System  string            `json:"y,omitempty"`
	Account string            `json:"c,omitempty"`
}

// Open connects to Redis (redis://host:port/db) and subscribes to the
// deployment's channels. origin names this process: its own messages,
// which its hub already has, are not delivered back to it.
func Open(ctx context.Context, url, deployment, origin string, log *slog.Logger) (*Bus, error) {
	opt, err := redis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("REDIS_URL: %w", err)
	}
	if log == nil {
		log = slog.Default()
	}
	client := redis.NewClient(opt)
	if err := client.Ping(ctx).Err(); err != nil {
		client.Close()
		return nil, fmt.Errorf("connect to redis: %w", err)
	}
	b := &Bus{client: client, origin: origin, log: log, clock: engine.SystemClock{}, msgs: make(chan engine.BrokerMessage, 1024),
		out: make(chan []byte, 4096), done: make(chan struct{})}
	b.events, b.work = channels(deployment)
	b.ps = client.Subscribe(ctx, b.events, b.work)
	// The first subscription confirmation arrives as a *redis.Subscription
	// on the channel below, like every resubscription after a reconnect.
	ch := b.ps.ChannelWithSubscriptions(redis.WithChannelSize(4096), redis.WithChannelHealthCheckInterval(3*time.Second))
	b.wg.Add(2)
	go b.receive(ch)
	go b.publish()
	return b, nil
}

// Client is the Redis client (readiness checks).
func (b *Bus) Client() *redis.Client { return b.client }

func (b *Bus) receive(ch <-chan any) {
	defer b.wg.Done()
	defer close(b.msgs)
	for {
		select {
		case <-b.done:
			return
		case v, ok := <-ch:
			if !ok {
				return
			}
			var m engine.BrokerMessage
			switch v := v.(type) {
			case *redis.Subscription:
				if v.Kind != "subscribe" {
					continue
				}
				m.Reset = true
			case *redis.Message:
				switch v.Channel {
				case b.work:
					if v.Payload == b.origin {
						continue
					}
					m.Work = true
				case b.events:
					var wm message
					if err := json.Unmarshal([]byte(v.Payload), &wm); err != nil {
						b.log.Warn("redisbus: undecodable message", "err", err)
						continue
					}
					if wm.Origin == b.origin {
						continue
					}
					m.Events = make([]*engine.Event, len(wm.Events))
					for i, e := range wm.Events {
						m.Events[i] = &engine.Event{ID: e.ID, Kind: e.Kind, OrderID: e.OrderID, PlanID: e.PlanID, StepID: e.StepID,
							From: e.From, To: e.To, At: e.At, Actor: e.Actor, Note: e.Note, Step: e.Step, System: e.System, Account: e.Account}
					}
				default:
					continue
				}
			default:
				continue
			}
			select {
			case b.msgs <- m:
			case <-b.done:
				return
			}
		}
	}
}

// publish sends queued batches, several per round trip when they pile up.
func (b *Bus) publish() {
	defer b.wg.Done()
	ctx := context.Background()
	for {
		var first []byte
		select {
		case first = <-b.out:
		case <-b.done:
			return
		}
		batch := [][]byte{first}
	more:
		for len(batch) < 128 {
			select {
			case p := <-b.out:
				batch = append(batch, p)
			default:
				break more
			}
		}
		var err error
		if len(batch) == 1 {
			err = b.client.Publish(ctx, b.events, batch[0]).Err()
		} else {
			pipe := b.client.Pipeline()
			for _, p := range batch {
				pipe.Publish(ctx, b.events, p)
			}
			_, err = pipe.Exec(ctx)
		}
		if err != nil {
			// The events are committed; replicas read what they missed
			// from the table.
			b.log.Warn("redisbus: publish failed; other replicas will read the events from the table", "batches", len(batch), "err", err)
		}
	}
}

// Publish implements engine.Broker. It queues the batch and returns at
// once; when the queue is full (Redis unreachable for long) the batch is
// dropped, which costs other replicas a read of the table, not an event.
func (b *Bus) Publish(_ context.Context, events []*engine.Event) error {
	wm := message{Origin: b.origin, Events: make([]wireEvent, len(events)), Sent: b.clock.Now().UnixNano()}
	for i, e := range events {
		wm.Events[i] = wireEvent{ID: e.ID, Kind: e.Kind, OrderID: e.OrderID, PlanID: e.PlanID, StepID: e.StepID,
			From: e.From, To: e.To, At: e.At, Actor: e.Actor, Note: e.Note, Step: e.Step, System: e.System, Account: e.Account}
	}
	p, err := json.Marshal(wm)
	if err != nil {
		return fmt.Errorf("encode events: %w", err)
	}
	select {
	case b.out <- p:
		return nil
	default:
		return errors.New("redisbus: publish queue full")
	}
}

// Signal implements engine.Broker. It returns at once: a Redis that does
// not answer must not hold up the transaction that left work behind
// (the other replicas' slow poll finds it anyway).
func (b *Bus) Signal(context.Context) error {
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if err := b.client.Publish(ctx, b.work, b.origin).Err(); err != nil {
			b.log.Debug("redisbus: signal work", "err", err)
		}
	}()
	return nil
}

// Messages implements engine.Broker.
func (b *Bus) Messages() <-chan engine.BrokerMessage { return b.msgs }

// Close implements engine.Broker.
func (b *Bus) Close() error {
	var err error
	b.closed.Do(func() {
		close(b.done)
		err = errors.Join(b.ps.Close(), func() error { b.wg.Wait(); return nil }(), b.client.Close())
	})
	return err
}
