// Package tracing holds what Baton's OpenTelemetry traces share: the
// tracer's name, the W3C trace context carried with a plan and sent to
// external systems, and the log handler that puts trace ids in log lines.
//
// Tracing is off unless a tracer provider is configured (server.go reads
// the OTEL_* variables): every component takes a trace.TracerProvider and
// treats nil as off, with no spans built and nothing propagated.
package tracing

import (
	"context"
	"log/slog"
	"net/http"

	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// Name is the instrumentation scope of Baton's spans.
const Name = "github.com/batonhq/baton"

// Tracer is tp's tracer for Baton, nil when tp is nil (tracing off).
func Tracer(tp trace.TracerProvider) trace.Tracer {
	if tp == nil {
		return nil
	}
	return tp.Tracer(Name)
}

// w3c is the W3C Trace Context propagator (traceparent, tracestate).
var w3c = propagation.TraceContext{}

// TraceParent renders ctx's span context as a W3C traceparent header value,
// "" when ctx carries no valid span context.
func TraceParent(ctx context.Context) string {
	if !trace.SpanContextFromContext(ctx).IsValid() {
		return ""
	}
	c := propagation.MapCarrier{}
	w3c.Inject(ctx, c)
	return c["traceparent"]
}

// WithTraceParent returns ctx with the remote span context a traceparent
// names (ctx itself when traceparent is "" or malformed).
func WithTraceParent(ctx context.Context, traceparent string) context.Context {
	if traceparent == "" {
		return ctx
	}
	return w3c.Extract(ctx, propagation.MapCarrier{"traceparent": traceparent})
}

// FromHeader returns ctx with the span context of an incoming request's
// traceparent header, if it has a valid one.
func FromHeader(ctx context.Context, h http.Header) context.Context {
	return w3c.Extract(ctx, propagation.HeaderCarrier(h))
}

// Inject writes ctx's span context to an outgoing request's headers as
// traceparent (and tracestate); nothing when ctx carries none.
func Inject(ctx context.Context, h http.Header) {
	if trace.SpanContextFromContext(ctx).IsValid() {
		w3c.Inject(ctx, propagation.HeaderCarrier(h))
	}
}

// LogHandler wraps h so that a record logged with a context that carries a
// span (InfoContext(ctx, ...) and the like) gets trace_id and span_id
// attributes: a log line can be found from a trace and the other way round.
func LogHandler(h slog.Handler) slog.Handler { return logHandler{h} }

type logHandler struct{ slog.Handler }

func (h logHandler) Handle(ctx context.Context, r slog.Record) error {
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		r = r.Clone()
		r.AddAttrs(slog.String("trace_id", sc.TraceID().String()), slog.String("span_id", sc.SpanID().String()))
	}
	return h.Handler.Handle(ctx, r)
}

func (h logHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return logHandler{h.Handler.WithAttrs(as)}
}

func (h logHandler) WithGroup(name string) slog.Handler { return logHandler{h.Handler.WithGroup(name)} }
