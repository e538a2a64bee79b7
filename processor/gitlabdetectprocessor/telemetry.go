// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package gitlabdetectprocessor

import (
	"context"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/kyra-mdr/otelcol-gitlab/processor/gitlabdetectprocessor/internal/metadata"
)

// Self-observability metric names, as exposed by the collector's own
// telemetry (Prometheus adds _total to counters).
const (
	metricSuppressed = "otelcol_gitlab_detect_alerts_suppressed"
	attrRule         = "rule"
	attrReason       = "reason"
)

// telemetry holds the processor's own metrics.
type telemetry struct {
	suppressedCount metric.Int64Counter
}

func newTelemetry(set component.TelemetrySettings) (*telemetry, error) {
	m := set.MeterProvider.Meter(metadata.ScopeName)
	c, err := m.Int64Counter(metricSuppressed, metric.WithUnit("{event}"),
		metric.WithDescription("Events a windowed rule kept at LOW instead of its severity, by rule and reason (baseline: not above the author's usual peak; automation: below the automation threshold)."))
	if err != nil {
		return nil, err
	}
	return &telemetry{suppressedCount: c}, nil
}

func (t *telemetry) suppressed(ctx context.Context, rule, reason string) {
	t.suppressedCount.Add(ctx, 1, metric.WithAttributes(attribute.String(attrRule, rule), attribute.String(attrReason, reason)))
}
