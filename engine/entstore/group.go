package entstore

import (
	"context"
	"fmt"
	"math/rand/v2"
	"runtime/debug"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/batonhq/baton/engine"
)

// Group commit. Writes queue for a few writer loops (one on SQLite, the
// database's single writer; Options.Writers on PostgreSQL); each loop runs
// whatever is queued, up to maxGroup writes, in one database transaction,
// each write in a savepoint of its own so that one write's error undoes
// only that write. Every write still commits atomically with its events;
// a group just shares the commit (one fsync, one turn at the events lock)
// and the database sees a few busy connections instead of many.

const maxGroup = 32 // PostgreSQL keeps up to 64 subtransactions cheap

type writeReq struct {
	ctx    context.Context
	fn     func(engine.Tx) error
	events []*engine.Event
	err    error
	done   chan struct{}
}

func (s *Store) startWriters(n int) {
	s.queue = make(chan *writeReq, 4096)
	s.writersDone = make(chan struct{})
	s.writersExited = make(chan struct{})
	s.writers.Add(n)
	for range n {
		go s.writer()
	}
	go func() {
		s.writers.Wait()
		close(s.writersExited)
	}()
}

// errStoreClosed is what a write gets once Close has begun: the server is
// shutting down, so the client may try again (another replica, or this
// one once it is back).
var errStoreClosed = engine.Errorf(engine.CodeUnavailable, "the store is closed: the server is shutting down")

func (s *Store) stopWriters() {
	if s.queue == nil {
		return
	}
	s.stopOnce.Do(func() {
		close(s.writersDone)
		s.writers.Wait()
	})
}

func (s *Store) writer() {
	defer s.writers.Done()
	for {
		var first *writeReq
		select {
		case first = <-s.queue:
		case <-s.writersDone:
			// Fail what is still queued rather than leave callers waiting.
			for {
				select {
				case r := <-s.queue:
					r.err = errStoreClosed
					close(r.done)
				default:
					return
				}
			}
		}
		group := []*writeReq{first}
	more:
		for len(group) < maxGroup {
			select {
			case r := <-s.queue:
				group = append(group, r)
			default:
				break more
			}
		}
		s.runGroup(group)
	}
}

// runGroup commits a group, retrying it whole when the database reports a
// conflict (deadlock, serialization failure, busy); writes whose context
// ended before their turn are dropped.
func (s *Store) runGroup(group []*writeReq) {
	live := group[:0]
	for _, r := range group {
		if err := r.ctx.Err(); err != nil {
			r.err = err
			close(r.done)
			continue
		}
		live = append(live, r)
	}
	group = live
	if len(group) == 0 {
		return
	}
	var span trace.Span
	if s.tracer != nil {
		span = s.groupSpan(group)
		defer span.End()
	}
	for attempt := 1; ; attempt++ {
		if span != nil {
			span.SetAttributes(attribute.Int("baton.attempts", attempt))
		}
		err := s.commitGroup(group)
		if err == nil {
			for _, r := range group {
				close(r.done)
			}
			return
		}
		if retryable(err) && attempt < 8 {
			s.log.Debug("retrying group", "attempt", attempt, "writes", len(group), "err", err)
			time.Sleep(time.Duration(rand.IntN(attempt*2000)+500) * time.Microsecond)
			continue
		}
		if len(group) > 1 {
			// Something failed the group as a whole: run each write on its
			// own, so that only the culprit fails.
			for _, r := range group {
				s.runGroup([]*writeReq{r})
			}
			return
		}
		group[0].err = err
		if span != nil {
			span.SetStatus(codes.Error, err.Error())
		}
		close(group[0].done)
		return
	}
}

// groupSpan starts the span of a group's transaction, linked to the span
// of every write it serves; a group of one write is that write's child
// (a lone mutation shows its transaction inside its trace).
func (s *Store) groupSpan(group []*writeReq) trace.Span {
	parent := context.Background()
	if len(group) == 1 {
		parent = group[0].ctx
	}
	links := make([]trace.Link, 0, len(group))
	for _, r := range group {
		if sc := trace.SpanContextFromContext(r.ctx); sc.IsValid() {
			links = append(links, trace.Link{SpanContext: sc})
		}
	}
	system := "sqlite"
	if s.d.postgres {
		system = "postgresql"
	}
	_, span := s.tracer.Start(parent, "baton.transaction", trace.WithLinks(links...),
		trace.WithAttributes(attribute.Int("baton.batch.size", len(group)), attribute.String("db.system.name", system)))
	return span
}

// commitGroup runs the writes in one transaction. A write's own error is
// recorded on it (and its savepoint rolled back); an error of the
// transaction is returned.
func (s *Store) commitGroup(group []*writeReq) error {
	ctx := context.Background()
	sqlTx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	now := s.clock.Now().UTC()
	single := len(group) == 1
	var all []*engine.Event
	var audits [][]any   // of the writes that released their savepoints
	reserved := idPool{} // id blocks of the writes that released their savepoints
	for _, r := range group {
		r.events, r.err = nil, nil
		if !single {
			if _, err := sqlTx.ExecContext(ctx, "SAVEPOINT w"); err != nil {
				sqlTx.Rollback()
				return fmt.Errorf("savepoint: %w", err)
			}
		}
		t := &txn{s: s, tx: cachedTx{sqlTx, s.wstmts}, now: now, group: reserved}
		if err := s.runWrite(r, t); err != nil {
			if retryable(err) || single {
				sqlTx.Rollback()
				if single && !retryable(err) {
					r.err = err
					return nil
				}
				return err
			}
			if _, rerr := sqlTx.ExecContext(ctx, "ROLLBACK TO SAVEPOINT w"); rerr != nil {
				sqlTx.Rollback()
				return fmt.Errorf("rollback to savepoint: %w (after %v)", rerr, err)
			}
			r.err = err
			continue
		}
		if !single {
			if _, err := sqlTx.ExecContext(ctx, "RELEASE SAVEPOINT w"); err != nil {
				sqlTx.Rollback()
				return fmt.Errorf("release savepoint: %w", err)
			}
		}
		t.own.moveTo(reserved)
		r.events = t.events
		all = append(all, t.events...)
		audits = append(audits, t.audits...)
	}
	t := &txn{s: s, tx: cachedTx{sqlTx, s.wstmts}, now: now, events: all, audits: audits}
	if err := t.flushAudits(ctx); err != nil {
		sqlTx.Rollback()
		return err
	}
	if err := t.flushEvents(ctx); err != nil {
		sqlTx.Rollback()
		return err
	}
	if err := sqlTx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	s.idBlocks.add(reserved)
	return nil
}

// runWrite runs one write's function. It runs on a writer goroutine, not
// the caller's: a panic becomes that write's error (and is logged with its
// stack) instead of ending the process and the group with it.
func (s *Store) runWrite(r *writeReq, t *txn) (err error) {
	defer func() {
		if p := recover(); p != nil {
			s.log.Error("panic in a write", "panic", p, "stack", string(debug.Stack()))
			// Refused: the same write panics again (a value the store
			// cannot encode, a bug), so it is not worth retrying as is.
			err = refused(engine.Errorf(engine.CodeInternal, "internal error: %v", p))
		}
	}()
	return r.fn(t)
}
