package main

import (
	"context"
	"fmt"

	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

// newSpanExporter makes the span exporter when tracing is on: OTLP over
// HTTP, configured by the OTEL_EXPORTER_OTLP_* variables, which the
// exporter reads itself (tests replace it with an in-memory exporter).
var newSpanExporter = func(ctx context.Context) (sdktrace.SpanExporter, error) {
	return otlptracehttp.New(ctx)
}

// newTracerProvider returns the tracer provider the OTEL_* variables ask
// for, or nil (tracing off, nothing built, nothing exported) unless an
// OTLP endpoint is set or OTEL_TRACES_EXPORTER is otlp. The SDK reads
// OTEL_SERVICE_NAME (default baton), OTEL_RESOURCE_ATTRIBUTES,
// OTEL_TRACES_SAMPLER(_ARG) and OTEL_BSP_* itself. shutdown flushes what
// is buffered.
func newTracerProvider(ctx context.Context, getenv func(string) string) (tp trace.TracerProvider, shutdown func(context.Context) error, err error) {
	off := func(context.Context) error { return nil }
	if getenv("OTEL_SDK_DISABLED") == "true" {
		return nil, off, nil
	}
	switch exp := getenv("OTEL_TRACES_EXPORTER"); exp {
	case "none":
		return nil, off, nil
	case "":
		if getenv("OTEL_EXPORTER_OTLP_ENDPOINT") == "" && getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") == "" {
			return nil, off, nil
		}
	case "otlp":
	default:
		return nil, off, fmt.Errorf("OTEL_TRACES_EXPORTER: %q is not supported (otlp or none)", exp)
	}
	for _, name := range []string{"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"} {
		if p := getenv(name); p != "" && p != "http/protobuf" {
			return nil, off, fmt.Errorf("%s: %q is not supported (http/protobuf)", name, p)
		}
	}
	exporter, err := newSpanExporter(ctx)
	if err != nil {
		return nil, off, fmt.Errorf("OTLP trace exporter: %w", err)
	}
	res, err := resource.New(ctx, resource.WithAttributes(semconv.ServiceName("baton")), resource.WithFromEnv(),
		resource.WithTelemetrySDK(), resource.WithHost())
	if err != nil {
		return nil, off, fmt.Errorf("trace resource: %w", err)
	}
	sdk := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exporter), sdktrace.WithResource(res))
	return sdk, sdk.Shutdown, nil
}
