package engine

import "context"

// Broker carries committed events and work signals between replicas.
// Delivery may lose, repeat or reorder messages (Redis pub/sub is
// at-most-once); the Hub makes the feed exact by event id, reading what it
// missed from the events table.
type Broker interface {
	// Publish sends a committed batch of events to the other replicas.
	Publish(ctx context.Context, events []*Event) error
	// Signal tells the other replicas there are READY steps to claim.
	Signal(ctx context.Context) error
	// Messages delivers what other replicas publish; the channel closes
	// when the broker closes.
	Messages() <-chan BrokerMessage
	// Close stops the broker.
	Close() error
}

// BrokerMessage is one delivery from a broker.
type BrokerMessage struct {
	// Events is a committed batch, in id order.
	Events []*Event
	// Work: another replica left READY steps.
	Work bool
	// Reset: the connection was (re)established; messages may have been
	// lost before it, so the hub reads the table for what it missed.
	Reset bool
}

// LocalBroker is the in-process broker of a single replica (the embedded
// default): the hub gets its own events directly, and there is no one else
// to tell.
type LocalBroker struct {
	ch chan BrokerMessage
}

// NewLocalBroker returns an in-process broker.
func NewLocalBroker() *LocalBroker { return &LocalBroker{ch: make(chan BrokerMessage)} }

// Publish does nothing: the hub of this process ingests its events directly.
func (*LocalBroker) Publish(context.Context, []*Event) error { return nil }

// Signal does nothing: there is no other replica.
func (*LocalBroker) Signal(context.Context) error { return nil }

// Messages never delivers.
func (b *LocalBroker) Messages() <-chan BrokerMessage { return b.ch }

// Close closes Messages.
func (b *LocalBroker) Close() error {
	close(b.ch)
	return nil
}
