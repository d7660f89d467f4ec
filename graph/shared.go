package graph

import (
	"context"
	"encoding/json"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/batonhq/baton/engine"
	"github.com/batonhq/baton/engine/access"
	"github.com/batonhq/baton/engine/orchestrator"
	"github.com/batonhq/baton/graph/wsgorilla"
)

// Shared subscriptions: one execution per event for every subscriber with
// the same query.
//
// A thousand dashboards following the same feed would otherwise cost a
// thousand executions of the same selection set on every event, each
// marshalled twice and written with a system call of its own. Instead,
// websocket subscriptions to the event feeds (events, orderStatusChanged,
// stepStatusChanged, jeopardyChanged) that start live (no `after`) join a
// group keyed by their query, operation name, variables and the
// principal's scope (access.Principal.ScopeKey: roles, accounts, queues —
// what decides which events a subscriber sees). The group runs the
// operation once, with one subscription to the hub; each result is
// encoded once and the same bytes are queued on every member's
// connection (wsgorilla.Lane), whose writer sends all frames waiting in
// one write.
//
// A member that joins a running group gets the events from then on, as a
// new subscription would. A member whose connection cannot keep up (its
// queue is over the limit) is ended with SLOW_SUBSCRIBER and the cursor
// to resume from, without slowing the others; a group that falls behind
// the hub is dropped by the hub like any subscriber, and every member
// gets that error. A member's credentials expire on their own (the group
// itself runs without an expiry). Subscriptions with `after` replay the
// stored feed from their own cursor and run alone.
type sharing struct {
	log   *slog.Logger
	clock engine.Clock

	mu     sync.Mutex
	groups map[string]*group
}

func newSharing(log *slog.Logger, clock engine.Clock) *sharing {
	return &sharing{log: log, clock: clock, groups: map[string]*group{}}
}

// sharedFields are the subscriptions whose result depends only on the
// event, the selection and the subscriber's scope.
var sharedFields = map[string]bool{"events": true, "orderStatusChanged": true, "stepStatusChanged": true, "jeopardyChanged": true}

// middleware is the operation middleware that sends shareable
// subscriptions through their group; everything else passes.
func (s *sharing) middleware(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
	oc := graphql.GetOperationContext(ctx)
	if oc == nil || oc.Operation == nil || oc.Operation.Operation != ast.Subscription {
		return next(ctx)
	}
	key, ok := s.shareKey(ctx, oc)
	if !ok {
		return next(ctx)
	}
	lane := wsgorilla.LaneFor(ctx, oc.Extensions)
	if lane == nil {
		return next(ctx)
	}
	p := access.From(ctx)
	joined := false
	// The transport calls the handler until it returns nil, with the
	// context DispatchOperation returned, which is nil here (next is not
	// called); ctx, the operation's, is the one its errors belong to.
	return func(context.Context) *graphql.Response {
		if joined {
			return nil
		}
		joined = true
		g, m := s.join(ctx, key, lane, next)
		var expiry <-chan struct{}
		if !p.Expires.IsZero() {
			stop := make(chan struct{})
			expiry = stop
			go func() {
				select {
				case <-s.clock.After(p.Expires.Sub(s.clock.Now())):
					close(stop)
				case <-ctx.Done():
				case <-m.ended:
				}
			}()
		}
		select {
		case <-ctx.Done():
		case <-m.ended:
			for _, e := range m.errs {
				transport.AddSubscriptionError(ctx, e)
			}
		case <-expiry:
			transport.AddSubscriptionError(ctx, ErrorPresenter(s.log)(ctx, orchestrator.CredentialsExpired(p)))
		}
		s.leave(g, m)
		return nil
	}
}

// shareKey is the group of a subscription, or false when it runs alone:
// not one of sharedFields, resuming from a cursor, or asked by a principal
// who may not read the feed (it fails as usual, alone) or whose
// credentials have expired.
func (s *sharing) shareKey(ctx context.Context, oc *graphql.OperationContext) (string, bool) {
	if len(oc.Operation.SelectionSet) != 1 {
		return "", false
	}
	field, ok := oc.Operation.SelectionSet[0].(*ast.Field)
	if !ok || !sharedFields[field.Name] || len(field.Directives) > 0 {
		return "", false
	}
	args := field.ArgumentMap(oc.Variables)
	if args["after"] != nil {
		return "", false
	}
	p := access.From(ctx)
	if !p.Can(access.OrderRead) || (!p.Expires.IsZero() && !p.Expires.After(s.clock.Now())) {
		return "", false
	}
	vars, err := json.Marshal(oc.Variables) // maps marshal with sorted keys
	if err != nil {
		return "", false
	}
	return oc.RawQuery + "\x00" + oc.OperationName + "\x00" + string(vars) + "\x00" + p.ScopeKey(), true
}

// group is the one execution of a shared subscription.
type group struct {
	s      *sharing
	key    string
	ctx    context.Context
	cancel context.CancelFunc
	sink   *groupSink

	// Guarded by s.mu.
	members map[*member]struct{}
	ended   bool
	// view is the members the fan-out sends to, replaced (not changed)
	// when one joins or leaves.
	view atomic.Pointer[[]*member]
}

type member struct {
	lane   *wsgorilla.Lane
	ended  chan struct{}     // closed when the group ends the member
	errs   []*gqlerror.Error // why, set before ended closes
	cursor string            // the last event queued for it (fan-out only)
	once   sync.Once
}

func (m *member) end(errs []*gqlerror.Error) {
	m.once.Do(func() {
		m.errs = errs
		close(m.ended)
	})
}

// join returns the running group of key, or starts one with the
// operation of ctx, and a new member of it, sent to from the next result.
func (s *sharing) join(ctx context.Context, key string, lane *wsgorilla.Lane, next graphql.OperationHandler) (*group, *member) {
	m := &member{lane: lane, ended: make(chan struct{})}
	s.mu.Lock()
	defer s.mu.Unlock()
	if g := s.groups[key]; g != nil && !g.ended {
		g.members[m] = struct{}{}
		g.refreshView()
		return g, m
	}
	// The group outlives the member that started it: its context keeps
	// the operation's values but not its end, and its principal has no
	// expiry (each member's own is watched by the member).
	p := *access.From(ctx)
	p.Expires = time.Time{}
	sink := &groupSink{}
	gctx, cancel := context.WithCancel(withGroupSink(access.With(context.WithoutCancel(ctx), &p), sink))
	g := &group{s: s, key: key, ctx: gctx, cancel: cancel, sink: sink, members: map[*member]struct{}{m: {}}}
	g.refreshView()
	s.groups[key] = g
	go g.run(next)
	return g, m
}

// refreshView rebuilds the fan-out's list of members; the caller holds
// s.mu.
func (g *group) refreshView() {
	view := make([]*member, 0, len(g.members))
	for m := range g.members {
		view = append(view, m)
	}
	g.view.Store(&view)
}

// leave removes m; the last member to leave stops the group.
func (s *sharing) leave(g *group, m *member) {
	s.mu.Lock()
	delete(g.members, m)
	g.refreshView()
	last := len(g.members) == 0 && !g.ended
	if last {
		g.ended = true
		delete(s.groups, g.key)
	}
	s.mu.Unlock()
	if last {
		g.cancel()
	}
}

// run executes the operation once and queues each result on every member.
func (g *group) run(next graphql.OperationHandler) {
	defer g.cancel()
	responses := next(g.ctx)
	for {
		resp := responses(g.ctx)
		if resp == nil {
			break
		}
		cursor := g.sink.pop()
		payload, err := json.Marshal(resp)
		if err != nil {
			g.s.log.Error("shared subscription: encode result", "err", err)
			continue
		}
		view := g.view.Load()
		if view == nil {
			continue
		}
		for _, m := range *view {
			switch err := m.lane.Send(payload); err {
			case nil:
				m.cursor = cursor
			case wsgorilla.ErrLaneFull:
				m.end([]*gqlerror.Error{ErrorPresenter(g.s.log)(g.ctx, slowMember(m.cursor))})
			default:
				// The operation or its connection ended; the member leaves
				// through its own context.
			}
		}
	}
	// The feed ended (the hub dropped the group, the server stops) or
	// the last member left.
	g.s.mu.Lock()
	if !g.ended {
		g.ended = true
		delete(g.s.groups, g.key)
	}
	members := make([]*member, 0, len(g.members))
	for m := range g.members {
		members = append(members, m)
	}
	g.s.mu.Unlock()
	errs := g.sink.errors()
	for _, m := range members {
		m.end(errs)
	}
}

func slowMember(cursor string) error {
	if cursor == "" {
		return engine.Errorf(engine.CodeSlowSubscriber, "subscription dropped: the connection does not read its messages as fast as they come; resubscribe")
	}
	return engine.Errorf(engine.CodeSlowSubscriber,
		"subscription dropped: the connection does not read its messages as fast as they come; resubscribe with after: %q to continue without a gap", cursor)
}

// groupSink collects, for a group's execution, what the subscription's
// feed would tell the transport: the errors that end it, and the cursor
// of each event handed to the execution (in order, one per result).
type groupSink struct {
	mu      sync.Mutex
	errs    []*gqlerror.Error
	cursors []string
}

type groupSinkKey struct{}

func withGroupSink(ctx context.Context, s *groupSink) context.Context {
	return context.WithValue(ctx, groupSinkKey{}, s)
}

func sinkOf(ctx context.Context) *groupSink {
	s, _ := ctx.Value(groupSinkKey{}).(*groupSink)
	return s
}

func (s *groupSink) add(e *gqlerror.Error) {
	s.mu.Lock()
	s.errs = append(s.errs, e)
	s.mu.Unlock()
}

func (s *groupSink) errors() []*gqlerror.Error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.errs
}

func (s *groupSink) push(cursor string) {
	s.mu.Lock()
	s.cursors = append(s.cursors, cursor)
	s.mu.Unlock()
}

func (s *groupSink) pop() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.cursors) == 0 {
		return ""
	}
	c := s.cursors[0]
	s.cursors = s.cursors[1:]
	return c
}
