// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package stream

import (
	"context"
	"net/http"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/config/confighttp/xconfighttp"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/semconv/v1.43.0/httpconv"
	"go.opentelemetry.io/otel/trace"
)

// confighttp wraps every request in otelhttp's middleware, which starts a
// server span and records the http.server.* metrics. When neither would
// reach anything, the collector's own tracing being off and its metrics
// level dropping otelhttp's metrics (below detailed), the middleware
// still extracts the propagated context, computes the span's and the
// metrics' attributes, wraps the body and the response writer, and starts
// a span that is thrown away: a tenth of the stream endpoint's CPU and a
// quarter of its allocations per request (BENCHMARKS.md, section 5). The
// endpoint then tells the middleware, through its filter, to leave the
// requests alone. What the middleware would record then is nothing either
// way: the telemetry an operator sees does not change.

// instrumentationOptions are the ToServer options of the endpoint: none
// when the middleware's spans or metrics are recorded, otherwise a filter
// that passes every request by the middleware.
func instrumentationOptions(set component.TelemetrySettings) []confighttp.ToServerOption {
	if tracesRecorded(set.TracerProvider) || httpMetricsRecorded(set.MeterProvider) {
		return nil
	}
	return []confighttp.ToServerOption{
		xconfighttp.WithOtelHTTPOptions(otelhttp.WithFilter(func(*http.Request) bool { return false })),
	}
}

// tracesRecorded reports whether tp may record spans: whether it is
// anything but a no-op provider (otel's noop package, or the collector's
// own when service::telemetry::traces has no processor). It starts a probe
// span under a remote parent that is not sampled: a no-op tracer gives
// back the parent's span or an empty one, an SDK a span of its own, which
// its default (parent-based) sampler does not record either.
func tracesRecorded(tp trace.TracerProvider) bool {
	if tp == nil {
		return false
	}
	parent := trace.NewSpanContext(trace.SpanContextConfig{TraceID: trace.TraceID{1}, SpanID: trace.SpanID{1}, Remote: true})
	ctx := trace.ContextWithRemoteSpanContext(context.Background(), parent)
	_, span := tp.Tracer(otelhttp.ScopeName).Start(ctx, "gitlab_audit stream: is tracing on")
	defer span.End()
	sc := span.SpanContext()
	return sc.IsValid() && sc.SpanID() != parent.SpanID()
}

// httpMetricsRecorded reports whether mp records any of the metrics
// otelhttp's server middleware records, created the way otelhttp creates
// them (same scope, version and definitions): the collector's views drop
// them below the detailed level, and an instrument tells whether it is
// dropped (Enabled).
func httpMetricsRecorded(mp metric.MeterProvider) bool {
	if mp == nil {
		return false
	}
	meter := mp.Meter(otelhttp.ScopeName, metric.WithInstrumentationVersion(otelhttp.Version))
	ctx := context.Background()
	reqSize, err1 := httpconv.NewServerRequestBodySize(meter)
	respSize, err2 := httpconv.NewServerResponseBodySize(meter)
	duration, err3 := httpconv.NewServerRequestDuration(meter, metric.WithExplicitBucketBoundaries(
		// otelhttp's boundaries (internal/semconv/server.go): another
		// definition of the same instrument would be reported as a
		// conflict by the SDK.
		0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10))
	if err1 != nil || err2 != nil || err3 != nil {
		return true // cannot tell: keep the middleware
	}
	return reqSize.Inst().Enabled(ctx) || respSize.Inst().Enabled(ctx) || duration.Inst().Enabled(ctx)
}
