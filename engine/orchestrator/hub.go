package orchestrator

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/batonhq/baton/engine"
	"github.com/batonhq/baton/engine/access"
	"github.com/batonhq/baton/engine/metrics"
)

// EventFilter selects events for a subscription. Zero fields match
// everything.
type EventFilter struct {
	OrderID int
	PlanID  int
	Queue   string
	Kinds   []engine.EventKind
	// Accounts, when not nil, selects the events of these accounts'
	// orders only (Subscribe sets it for a principal limited to accounts;
	// events of no order, such as a system's, are left out then).
	Accounts []string
	// Tasks, when set, selects the events of a principal's inbox.
	Tasks *TaskFilter
}

// Match reports whether the filter selects the event.
func (f EventFilter) Match(e *engine.Event) bool {
	if f.OrderID != 0 && e.OrderID != f.OrderID {
		return false
	}
	if f.PlanID != 0 && e.PlanID != f.PlanID {
		return false
	}
	if f.Queue != "" && (e.Step == nil || e.Step.Queue != f.Queue) {
		return false
	}
	if f.Accounts != nil && (e.Account == "" || !slices.Contains(f.Accounts, e.Account)) {
		return false
	}
	if f.Tasks != nil && !f.Tasks.match(e) {
		return false
	}
	return len(f.Kinds) == 0 || slices.Contains(f.Kinds, e.Kind)
}

// HubConfig tunes a Hub. Zero values pick defaults.
type HubConfig struct {
	// PollInterval is how often the hub reads the events table for what it
	// did not receive (default 1s).
	PollInterval time.Duration
	// Buffer is how many events a live subscriber may fall behind before it
	// is dropped (default 4096).
	Buffer int
	// Logger (default slog.Default()).
	Logger *slog.Logger
	// Clock paces the poll (default SystemClock).
	Clock engine.Clock
	// GapWait is how long events that arrive ahead of a missing id wait
	// for it to arrive too before the hub reads the table for it
	// (default 20ms). The transactions of one group commit publish their
	// events from their own goroutines, and replicas' events interleave,
	// so ids often arrive a little out of order; reading the table at
	// once for each such gap cost a query per commit.
	GapWait time.Duration
	// OnSystemChange, when set, is called after events of system status
	// changes (offline, online, circuit) arrive, from any replica: the
	// engine's cached system states are stale (Engine.SystemsChanged).
	OnSystemChange func()
	// Metrics counts deliveries and dropped subscriptions (nil: not
	// counted).
	Metrics *metrics.Metrics
}

// Hub is one process's live event feed. It receives committed events from
// this process directly and from other replicas through the broker, and
// delivers each event to local subscribers exactly once and in id order
// (which is commit order): a batch that arrives ahead of a missing id, or a
// broker that was disconnected, makes the hub read the events table for
// what it missed; a slow poll of the table catches events whose publisher
// died between commit and publish. Subscribers resume after any cursor:
// replay from the table, then live events, with no gap and no duplicate.
type Hub struct {
	store engine.Store
	cfg   HubConfig
	log   *slog.Logger

	ingestMu sync.Mutex // one ingest at a time: gap reads happen under it
	// Guarded by ingestMu: events that arrived ahead of a missing id, and
	// the timer that fills the gap from the table if it stays open.
	early   map[int64]*engine.Event
	gapTime *time.Timer

	mu     sync.Mutex
	last   int64 // newest id delivered; everything up to it was delivered
	subs   map[*subscriber]struct{}
	closed bool
	done   chan struct{}
	wg     sync.WaitGroup
}

// NewHub returns a hub reading missed events from store.
func NewHub(store engine.Store, cfg HubConfig) *Hub {
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = time.Second
	}
	if cfg.Buffer <= 0 {
		cfg.Buffer = 4096
	}
	if cfg.GapWait <= 0 {
		cfg.GapWait = 20 * time.Millisecond
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Clock == nil {
		cfg.Clock = engine.SystemClock{}
	}
	return &Hub{store: store, cfg: cfg, log: cfg.Logger, subs: map[*subscriber]struct{}{}, done: make(chan struct{})}
}

// Start positions the hub at the newest stored event and runs its
// consumer of broker messages and its poll of the table until Close.
// onWork is called when another replica signals work.
func (h *Hub) Start(ctx context.Context, b engine.Broker, onWork func()) error {
	last, err := h.store.LastEventID(ctx)
	if err != nil {
		return err
	}
	h.mu.Lock()
	h.last = last
	h.mu.Unlock()
	h.wg.Add(2)
	go h.consume(b, onWork)
	go h.poll()
	return nil
}

// consume delivers the broker's messages until Close: events to
// subscribers, a reset as a catch-up from the table, work to onWork.
func (h *Hub) consume(b engine.Broker, onWork func()) {
	defer h.wg.Done()
	for {
		select {
		case <-h.done:
			return
		case m, ok := <-b.Messages():
			if !ok {
				return
			}
			switch {
			case m.Reset:
				h.catchUp()
			case m.Work:
				if onWork != nil {
					onWork()
				}
			default:
				h.Ingest(m.Events)
			}
		}
	}
}

// poll catches up from the table every PollInterval until Close.
func (h *Hub) poll() {
	defer h.wg.Done()
	for {
		select {
		case <-h.done:
			return
		case <-h.cfg.Clock.After(h.cfg.PollInterval):
			h.catchUp()
		}
	}
}

// Close ends every subscription and stops the hub.
func (h *Hub) Close() {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return
	}
	h.closed = true
	subs := h.subs
	h.subs = map[*subscriber]struct{}{}
	h.mu.Unlock()
	close(h.done)
	for s := range subs {
		s.fail(engine.Errorf(engine.CodeUnavailable, "the server is shutting down; resubscribe (elsewhere) with after: your last cursor"))
	}
	h.wg.Wait()
}

// Last is the id of the newest event delivered.
func (h *Hub) Last() int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.last
}

// catchUp reads the table for events the hub has not delivered.
func (h *Hub) catchUp() {
	for {
		evs, err := h.store.EventsAfter(context.Background(), h.Last(), 1000)
		if err != nil {
			h.log.Warn("hub: read missed events", "err", err)
			return
		}
		if len(evs) == 0 {
			return
		}
		h.Ingest(evs)
		if len(evs) < 1000 {
			return
		}
	}
}

// Ingest delivers committed events (in id order within the batch). Ids
// already delivered are skipped. Events after a gap wait up to GapWait
// for the missing ids to arrive (from another publisher of this process
// or the broker); then the gap is filled from the table (everything below
// a committed id is committed, since ids follow commit order).
func (h *Hub) Ingest(events []*engine.Event) {
	if len(events) == 0 {
		return
	}
	h.ingestMu.Lock()
	defer h.ingestMu.Unlock()
	last := h.Last()
	for _, e := range events {
		if e.ID > last {
			if h.early == nil {
				h.early = map[int64]*engine.Event{}
			}
			h.early[e.ID] = e
		}
	}
	add := h.takeEarly(last)
	if len(h.early) > h.cfg.Buffer {
		// Far ahead: don't hold more; read the gap now.
		add = append(add, h.fillGap(last+int64(len(add)))...)
	}
	h.armGap()
	h.deliverIngested(add)
}

// takeEarly removes and returns the early events that follow last
// without a gap. The caller holds ingestMu.
func (h *Hub) takeEarly(last int64) []*engine.Event {
	var add []*engine.Event
	for {
		e, ok := h.early[last+1]
		if !ok {
			return add
		}
		delete(h.early, last+1)
		add = append(add, e)
		last++
	}
}

// fillGap reads from the table the events between last and the first
// early one, and returns them with the early events that then follow
// without a gap. The caller holds ingestMu.
func (h *Hub) fillGap(last int64) []*engine.Event {
	if len(h.early) == 0 {
		return nil
	}
	first := int64(math.MaxInt64)
	for id := range h.early {
		first = min(first, id)
	}
	missing, err := h.fill(last, first)
	if err != nil {
		// The table poll brings the rest, in order, once the database
		// answers.
		h.log.Warn("hub: fill gap", "after", last, "before", first, "err", err)
		return nil
	}
	// Every id below first that is not in the table was never committed
	// (a sequence skips what a rollback used): first follows.
	return append(missing, h.takeEarly(first-1)...)
}

// armGap starts the timer that fills an open gap, or stops it when none
// is open. The caller holds ingestMu.
func (h *Hub) armGap() {
	if len(h.early) == 0 {
		if h.gapTime != nil {
			h.gapTime.Stop()
			h.gapTime = nil
		}
		return
	}
	if h.gapTime == nil {
		h.gapTime = time.AfterFunc(h.cfg.GapWait, h.gapExpired)
	}
}

// gapExpired fills the gap that stayed open for GapWait.
func (h *Hub) gapExpired() {
	h.ingestMu.Lock()
	defer h.ingestMu.Unlock()
	h.gapTime = nil
	h.mu.Lock()
	closed := h.closed
	h.mu.Unlock()
	if closed {
		return
	}
	add := h.fillGap(h.Last())
	h.armGap()
	h.deliverIngested(add)
}

// deliverIngested delivers what Ingest took in order. The caller holds
// ingestMu.
func (h *Hub) deliverIngested(add []*engine.Event) {
	h.deliver(add)
	if h.cfg.OnSystemChange != nil && slices.ContainsFunc(add, func(e *engine.Event) bool { return e.Kind == engine.EventSystemStatus }) {
		h.cfg.OnSystemChange()
	}
}

// fill reads the committed events with after < id < before.
func (h *Hub) fill(after, before int64) ([]*engine.Event, error) {
	var out []*engine.Event
	for {
		evs, err := h.store.EventsAfter(context.Background(), after, 1000)
		if err != nil {
			return nil, err
		}
		for _, e := range evs {
			if e.ID >= before {
				return out, nil
			}
			out = append(out, e)
			after = e.ID
		}
		if len(evs) < 1000 {
			return out, nil
		}
	}
}

// deliver hands events (in id order, all new) to the subscribers whose
// filter matches.
func (h *Hub) deliver(events []*engine.Event) {
	if len(events) == 0 {
		return
	}
	h.mu.Lock()
	h.last = events[len(events)-1].ID
	var notify []*subscriber
	delivered, dropped := 0, 0
	for s := range h.subs {
		n := 0
		for _, e := range events {
			if s.filter.Match(e) {
				if !s.push(e) {
					delete(h.subs, s)
					if engine.IsCode(s.error(), engine.CodeSlowSubscriber) {
						dropped++
					}
					break
				}
				n++
			}
		}
		if n > 0 {
			notify = append(notify, s)
		}
		delivered += n
	}
	h.mu.Unlock()
	h.cfg.Metrics.FeedDelivered(delivered)
	for range dropped {
		h.cfg.Metrics.FeedDropped()
	}
	for _, s := range notify {
		s.wake()
	}
}

// ErrSlowSubscriber ends a subscription that fell too far behind.
var ErrSlowSubscriber = errors.New("slow subscriber")

// Subscribe returns the events that match the filter: first those after
// the cursor `after` (nil: from now) from the table, then live ones, in id
// order, each once. The channel closes when ctx ends or the subscription
// is dropped; Err tells why.
func (h *Hub) Subscribe(ctx context.Context, f EventFilter, after *int64) (*Feed, error) {
	if err := access.Require(ctx, access.OrderRead); err != nil {
		return nil, err
	}
	p := access.From(ctx)
	if p.Scoped() {
		f.Accounts = slices.Clone(p.Accounts)
	}
	if !p.Expires.IsZero() && !p.Expires.After(h.cfg.Clock.Now()) {
		return nil, expired(p)
	}
	s := &subscriber{filter: f, notify: make(chan struct{}, 1), limit: h.cfg.Buffer}
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil, engine.Errorf(engine.CodeUnavailable, "the server is shutting down")
	}
	start := h.last
	if after != nil {
		if *after > h.last {
			// A cursor from the future (another replica ahead of us):
			// start there; the events up to it arrive live and are skipped.
			start = *after
		}
	}
	s.catchingUp = after != nil && *after < start
	h.subs[s] = struct{}{}
	h.mu.Unlock()
	out := make(chan *engine.Event, 64)
	feed := &Feed{C: out, sub: s}
	if !p.Expires.IsZero() {
		// The credentials' end is the subscription's: it ends with
		// UNAUTHENTICATED, and the client resubscribes by cursor with
		// fresh ones.
		go func() {
			select {
			case <-h.cfg.Clock.After(p.Expires.Sub(h.cfg.Clock.Now())):
				s.fail(expired(p))
			case <-ctx.Done():
			}
		}()
	}
	go func() {
		defer close(out)
		defer h.unsubscribe(s)
		pos := start
		if after != nil && *after < start {
			var err error
			pos, err = h.replay(ctx, f, *after, start, out)
			if err != nil {
				s.fail(err)
				return
			}
		}
		s.mu.Lock()
		s.catchingUp = false
		s.mu.Unlock()
		for {
			evs, err := s.take()
			if err != nil {
				feed.setErr(err)
				return
			}
			for _, e := range evs {
				if e.ID <= pos {
					continue
				}
				pos = e.ID
				select {
				case out <- e:
				case <-ctx.Done():
					return
				}
			}
			if len(evs) > 0 {
				continue
			}
			select {
			case <-s.notify:
			case <-ctx.Done():
				return
			}
		}
	}()
	return feed, nil
}

// replay sends the stored events after..upTo that match, and returns the
// position reached.
func (h *Hub) replay(ctx context.Context, f EventFilter, after, upTo int64, out chan<- *engine.Event) (int64, error) {
	pos := after
	for pos < upTo {
		evs, err := h.store.EventsFor(ctx, engine.EventQuery{After: pos, OrderID: f.OrderID, PlanID: f.PlanID, Limit: 500})
		if err != nil {
			return pos, fmt.Errorf("replay events after %d: %w", pos, err)
		}
		for _, e := range evs {
			if e.ID > upTo {
				return upTo, nil
			}
			pos = e.ID
			if !f.Match(e) {
				continue
			}
			select {
			case out <- e:
			case <-ctx.Done():
				return pos, ctx.Err()
			}
		}
		if len(evs) < 500 {
			break
		}
	}
	return upTo, nil
}

func (h *Hub) unsubscribe(s *subscriber) {
	h.mu.Lock()
	delete(h.subs, s)
	h.mu.Unlock()
}

// Subscribers is how many subscriptions the hub serves.
func (h *Hub) Subscribers() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.subs)
}

// Feed is a subscription's stream of events.
type Feed struct {
	C   <-chan *engine.Event
	sub *subscriber
	mu  sync.Mutex
	err error
}

// Err tells why the feed ended (nil when its context ended).
func (f *Feed) Err() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return f.err
	}
	return f.sub.error()
}

func (f *Feed) setErr(err error) {
	f.mu.Lock()
	f.err = err
	f.mu.Unlock()
}

// subscriber is one subscription's queue: the hub pushes matching events,
// the subscription's goroutine takes them. A live subscriber whose queue
// is full is dropped (it can resume by cursor); one that is catching up
// may queue more.
type subscriber struct {
	filter     EventFilter
	notify     chan struct{}
	limit      int
	mu         sync.Mutex
	queue      []*engine.Event
	catchingUp bool
	err        error
}

func (s *subscriber) push(e *engine.Event) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return false
	}
	limit := s.limit
	if s.catchingUp {
		limit *= 16
	}
	if len(s.queue) >= limit {
		first := s.queue[0].ID - 1
		s.err = engine.Errorf(engine.CodeSlowSubscriber, "subscription dropped: it fell %d events behind the live feed; resubscribe with after: %q to continue without a gap",
			len(s.queue), engine.FormatCursor(first))
		s.queue = nil
		return false
	}
	s.queue = append(s.queue, e)
	return true
}

func (s *subscriber) wake() {
	select {
	case s.notify <- struct{}{}:
	default:
	}
}

func (s *subscriber) take() ([]*engine.Event, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return nil, s.err
	}
	q := s.queue
	s.queue = nil
	return q, nil
}

func (s *subscriber) fail(err error) {
	s.mu.Lock()
	if s.err == nil {
		s.err = err
	}
	s.mu.Unlock()
	s.wake()
}

func (s *subscriber) error() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// CredentialsExpired is the error that ends a subscription whose
// principal's credentials expired.
func CredentialsExpired(p *access.Principal) error { return expired(p) }

// expired is the error of a subscription whose credentials expired.
func expired(p *access.Principal) error {
	return engine.Errorf(engine.CodeUnauthenticated,
		"the credentials of %s expired at %s: subscribe again with fresh ones, passing after: the cursor of the last event you saw",
		p.Name, p.Expires.UTC().Format(time.RFC3339))
}
