// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package stream

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/sdk/instrumentation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/kyra-mdr/otelcol-gitlab/testbed/benchevents"
)

// dropHTTPMetrics is the view the collector applies below the detailed
// metrics level (service/internal/metricviews): otelhttp's metrics dropped.
var dropHTTPMetrics = sdkmetric.NewView(
	sdkmetric.Instrument{Scope: instrumentation.Scope{Name: otelhttp.ScopeName}},
	sdkmetric.Stream{Aggregation: sdkmetric.AggregationDrop{}},
)

// TestInstrumentationFollowsTelemetry starts the endpoint with the
// collector's telemetry in each state and checks what otelhttp's
// middleware records of a request: nothing is lost by leaving it out when
// nothing would be recorded.
func TestInstrumentationFollowsTelemetry(t *testing.T) {
	for _, tc := range []struct {
		name           string
		traces         bool // an SDK tracer provider
		metricsDropped bool // the view the collector applies below detailed
		wantSkipped    bool
	}{
		{name: "tracing off, metrics below detailed", metricsDropped: true, wantSkipped: true},
		{name: "tracing off, metrics detailed"},
		{name: "tracing on, metrics below detailed", traces: true, metricsDropped: true},
		{name: "tracing on, metrics detailed", traces: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			set := componenttest.NewNopTelemetrySettings()
			set.TracerProvider = tracenoop.NewTracerProvider()
			spans := tracetest.NewSpanRecorder()
			if tc.traces {
				tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
				defer func() { require.NoError(t, tp.Shutdown(context.Background())) }()
				set.TracerProvider = tp
			}
			reader := sdkmetric.NewManualReader()
			opts := []sdkmetric.Option{sdkmetric.WithReader(reader)}
			if tc.metricsDropped {
				opts = append(opts, sdkmetric.WithView(dropHTTPMetrics))
			}
			mp := sdkmetric.NewMeterProvider(opts...)
			defer func() { require.NoError(t, mp.Shutdown(context.Background())) }()
			set.MeterProvider = mp

			assert.Equal(t, tc.wantSkipped, len(instrumentationOptions(set)) == 1)

			addr := startTestServer(t, set)
			postEvent(t, "http://"+addr+testPath)

			var rm metricdata.ResourceMetrics
			require.NoError(t, reader.Collect(context.Background(), &rm))
			httpMetrics := 0
			for _, sm := range rm.ScopeMetrics {
				if sm.Scope.Name == otelhttp.ScopeName {
					httpMetrics += len(sm.Metrics)
				}
			}
			assert.Equal(t, !tc.metricsDropped, httpMetrics > 0, "otelhttp's metrics")
			var names []string
			for _, s := range spans.Ended() {
				names = append(names, s.Name())
			}
			if tc.traces {
				assert.Contains(t, names, "POST "+testPath, "the middleware's server span")
			}
			for _, n := range names {
				assert.NotContains(t, n, "is tracing on", "the probe span is not sampled")
			}
		})
	}
}

func TestTracesRecorded(t *testing.T) {
	assert.False(t, tracesRecorded(nil))
	assert.False(t, tracesRecorded(tracenoop.NewTracerProvider()))
	assert.False(t, tracesRecorded(componenttest.NewNopTelemetrySettings().TracerProvider))
	tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.NeverSample()))
	assert.True(t, tracesRecorded(tp), "an SDK decides per span: the middleware stays")
	require.NoError(t, tp.Shutdown(context.Background()))
}

// startTestServer starts an endpoint on a loopback port with set as the
// collector's telemetry, and returns its address.
func startTestServer(t *testing.T, set component.TelemetrySettings) string {
	t.Helper()
	s := newTestServer(t, consumertest.NewNop())
	s.cfg.Server.NetAddr.Endpoint = "127.0.0.1:0"
	require.NoError(t, s.Start(context.Background(), componenttest.NewNopHost(), set))
	t.Cleanup(func() { require.NoError(t, s.Shutdown(context.Background())) })
	return s.Addr()
}

// postEvent posts one event as GitLab does and requires it accepted.
func postEvent(t *testing.T, url string) {
	t.Helper()
	templates, err := benchevents.Events(1, 1)
	require.NoError(t, err)
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(string(templates[0].AppendStream(nil, 77))))
	require.NoError(t, err)
	req.Header.Set(TokenHeader, testToken)
	req.Header.Set(headerEventType, templates[0].Type)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	require.Equal(t, http.StatusOK, resp.StatusCode)
}
