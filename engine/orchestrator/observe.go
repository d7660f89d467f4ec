package orchestrator

import (
	"context"
	"maps"
	"slices"
	"strconv"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/batonhq/baton/engine"
	"github.com/batonhq/baton/engine/catalog"
	"github.com/batonhq/baton/engine/tracing"
)

// count updates the metrics with a committed transaction's events: only
// what committed is counted, on the replica that committed it, from what
// the transaction holds in memory (no statement of its own).
func (e *Engine) count(events []*engine.Event, st *txState) {
	m := e.metrics
	if m == nil {
		return
	}
	for _, ev := range events {
		switch ev.Kind {
		case engine.EventStepStatus:
			if ev.Step == nil {
				continue
			}
			to := engine.StepStatus(ev.To)
			m.StepTransition(ev.Step.Type, to)
			if to == engine.StepCompleted {
				if r := st.dirty[ev.StepID]; r != nil && r.ReadyAt != nil {
					m.StepCompleted(r.Type, r.Name, st.now.Sub(*r.ReadyAt))
				}
			}
		case engine.EventOrderStatus:
			switch {
			case ev.From == "" && (ev.To == string(engine.OrderSubmitted) || ev.To == string(engine.OrderAwaitingApproval)):
				m.OrderSubmitted()
			case ev.To == string(engine.OrderCancelled):
				m.OrderCancelled()
			}
		}
	}
	for _, d := range st.cycles {
		m.OrderCompleted(d)
	}
}

// SystemNames names the current catalog's systems, sorted (none before a
// catalog is imported): the metrics report each one's circuit even before
// a callout reached it.
func (e *Engine) SystemNames(ctx context.Context) ([]string, error) {
	return e.catalogNames(ctx, func(cat *catalog.Catalog) []string { return slices.Sorted(maps.Keys(cat.Systems)) })
}

// QueueNames are the queues the current catalog names, sorted (none
// before a catalog is imported): those it declares and those its tasks
// and approval rules name (escalations can only name these).
func (e *Engine) QueueNames(ctx context.Context) ([]string, error) {
	return e.catalogNames(ctx, func(cat *catalog.Catalog) []string {
		names := make(map[string]*catalog.QueueDef, len(cat.Queues))
		maps.Copy(names, cat.Queues)
		for _, s := range cat.Steps {
			if s.Task != nil && s.Task.Queue != "" {
				names[s.Task.Queue] = nil
			}
		}
		for _, a := range cat.Approvals {
			if a.Queue != "" {
				names[a.Queue] = nil
			}
		}
		return slices.Sorted(maps.Keys(names))
	})
}

func (e *Engine) catalogNames(ctx context.Context, names func(*catalog.Catalog) []string) ([]string, error) {
	cat, err := e.CurrentCatalog(ctx)
	if engine.IsCode(err, engine.CodeNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return names(cat), nil
}

// calloutSpan starts a callout attempt's client span. Its parent is the
// span of the operation that created the plan (its traceparent is kept
// with the plan), so that the attempt, made later and on any replica,
// belongs to the submission's trace, and the system it calls, which gets
// the span's traceparent, continues that trace.
func (e *Engine) calloutSpan(ctx context.Context, c *Claim) (context.Context, trace.Span) {
	if c.Ctx != nil {
		ctx = tracing.WithTraceParent(ctx, c.Ctx.TraceParent)
	}
	def := c.Def.Callout
	return e.tracer.Start(ctx, "callout "+def.System.Name, trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(attribute.String("baton.system", def.System.Name), attribute.String("baton.step.name", c.Step.Name),
			attribute.Int("baton.step.id", c.Step.ID), attribute.Int("baton.attempt", c.Attempt),
			attribute.String("http.request.method", def.Method)))
}

// endCalloutSpan ends a callout attempt's span with its outcome.
func endCalloutSpan(span trace.Span, res *Result, err error) {
	outcome, status := calloutOutcomeStatus(res, err)
	if status != 0 {
		span.SetAttributes(attribute.Int("http.response.status_code", status))
	}
	span.SetAttributes(attribute.String("baton.outcome", outcome))
	if err != nil {
		span.SetStatus(codes.Error, calloutFailure(outcome, status))
	}
	span.End()
}

// calloutOutcomeStatus is an attempt's outcome and HTTP status (0: none).
func calloutOutcomeStatus(res *Result, err error) (string, int) {
	status := 0
	if res != nil {
		status = res.HTTPStatus
	}
	if se, ok := err.(*StepError); ok {
		status = se.HTTPStatus
	}
	return calloutOutcome(res, err), status
}

// calloutFailure describes a failed attempt for spans and logs by its
// outcome and status only: the error's text may carry the request's URL
// (order data in its path, a secret in its query) and the start of the
// system's answer, which stay on the step.
func calloutFailure(outcome string, status int) string {
	if status != 0 {
		return outcome + " " + strconv.Itoa(status)
	}
	return outcome
}

// batchContext is the context of the transaction that records a batch of
// outcomes: with tracing on, a span linked to the traces of the plans whose
// steps the outcomes are (the submissions' traces).
func (r *runner) batchContext(batch []Outcome) (context.Context, func()) {
	ctx := context.WithoutCancel(r.ctx)
	if r.e.tracer == nil {
		return ctx, func() {}
	}
	var links []trace.Link
	for _, o := range batch {
		if o.traceParent != "" {
			if sc := trace.SpanContextFromContext(tracing.WithTraceParent(ctx, o.traceParent)); sc.IsValid() {
				links = append(links, trace.Link{SpanContext: sc})
			}
		}
	}
	ctx, span := r.e.tracer.Start(ctx, "baton.record_outcomes", trace.WithLinks(links...),
		trace.WithAttributes(attribute.Int("baton.batch.size", len(batch))))
	return ctx, func() { span.End() }
}
