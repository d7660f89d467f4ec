package orchestrator

import (
	"context"
	"slices"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/batonhq/baton/engine"
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
	cat, err := e.CurrentCatalog(ctx)
	if engine.IsCode(err, engine.CodeNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(cat.Systems))
	for name := range cat.Systems {
		names = append(names, name)
	}
	slices.Sort(names)
	return names, nil
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
	status := 0
	if res != nil {
		status = res.HTTPStatus
	}
	if se, ok := err.(*StepError); ok {
		status = se.HTTPStatus
	}
	if status != 0 {
		span.SetAttributes(attribute.Int("http.response.status_code", status))
	}
	span.SetAttributes(attribute.String("baton.outcome", calloutOutcome(res, err)))
	if err != nil {
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
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
