// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package gitlabdetectprocessor

import (
	"context"
	"sync"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/kyra-mdr/otelcol-gitlab/processor/gitlabdetectprocessor/internal/metadata"
)

// Self-observability metric names, as the collector's own telemetry
// exposes them (its Prometheus reader, as our configurations set it up,
// adds neither _total nor a unit suffix; deploy/monitoring queries them).
const (
	metricSuppressed = "otelcol_gitlab_detect_alerts_suppressed"
	metricDetections = "otelcol_gitlab_detect_detections"
	attrRule         = "rule"
	attrReason       = "reason"
	attrSeverityName = "severity"
	attrIndicatorKey = "indicator"
)

// telemetry holds the processor's own metrics.
type telemetry struct {
	suppressedCount metric.Int64Counter
	detectionCount  metric.Int64Counter

	// detectionAttrs holds, per indicator, the attribute sets of the
	// detections counter for each severity, made once: counting a tagged
	// record then allocates nothing.
	mu             sync.RWMutex
	detectionAttrs map[string]*[len(severityNames)]metric.AddOption
}

func newTelemetry(set component.TelemetrySettings) (*telemetry, error) {
	m := set.MeterProvider.Meter(metadata.ScopeName)
	c, err := m.Int64Counter(metricSuppressed, metric.WithUnit("{event}"),
		metric.WithDescription("Events a windowed rule kept at LOW instead of its severity, by rule and reason (baseline: not above the author's usual peak; automation: below the automation threshold)."))
	if err != nil {
		return nil, err
	}
	d, err := m.Int64Counter(metricDetections, metric.WithUnit("{record}"),
		metric.WithDescription("Records tagged by at least one rule, by the severity and indicator written on the record (gitlab.detect.severity, gitlab.detect.indicator: those of its top rule)."))
	if err != nil {
		return nil, err
	}
	return &telemetry{suppressedCount: c, detectionCount: d, detectionAttrs: map[string]*[len(severityNames)]metric.AddOption{}}, nil
}

// detected counts one tagged record. Severities and indicators are few
// (five levels; the indicators of the built-in and configured rules).
func (t *telemetry) detected(ctx context.Context, severity Severity, indicator string) {
	if !severity.valid() {
		return
	}
	t.mu.RLock()
	opts := t.detectionAttrs[indicator]
	t.mu.RUnlock()
	if opts == nil {
		t.mu.Lock()
		if opts = t.detectionAttrs[indicator]; opts == nil {
			opts = new([len(severityNames)]metric.AddOption)
			for s := SeverityInfo; s <= SeverityCritical; s++ {
				opts[s] = metric.WithAttributeSet(attribute.NewSet(attribute.String(attrSeverityName, s.String()), attribute.String(attrIndicatorKey, indicator)))
			}
			t.detectionAttrs[indicator] = opts
		}
		t.mu.Unlock()
	}
	t.detectionCount.Add(ctx, 1, opts[severity])
}

func (t *telemetry) suppressed(ctx context.Context, rule, reason string) {
	t.suppressedCount.Add(ctx, 1, metric.WithAttributes(attribute.String(attrRule, rule), attribute.String(attrReason, reason)))
}
