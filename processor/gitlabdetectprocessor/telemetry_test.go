// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package gitlabdetectprocessor

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/processor/processortest"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/kyra-mdr/otelcol-gitlab/processor/gitlabdetectprocessor/internal/metadata"
)

// TestDetectionsMetric runs every case of every stateless rule's fixtures
// through one processor: the detections counter counts each tagged record
// once, under the severity and indicator written on it, and no untagged
// record.
func TestDetectionsMetric(t *testing.T) {
	tel := componenttest.NewTelemetry()
	defer func() { require.NoError(t, tel.Shutdown(context.Background())) }()
	set := processortest.NewNopSettings(metadata.Type)
	set.TelemetrySettings = tel.NewTelemetrySettings()
	sink := new(consumertest.LogsSink)
	p, err := NewFactory().CreateLogs(context.Background(), set, defaultConfig(), sink)
	require.NoError(t, err)
	require.NoError(t, p.Start(context.Background(), componenttest.NewNopHost()))
	defer func() { require.NoError(t, p.Shutdown(context.Background())) }()

	ld, lrs := newLogs()
	matches, misses := 0, 0
	for _, d := range builtinRules {
		if d.Window != windowNone {
			continue
		}
		for _, c := range loadFixture(t, d.ID).Cases {
			lr := appendEvent(t, lrs, c.Event, viaReceiver)
			for k, v := range c.Enrichment {
				require.NoError(t, lr.Attributes().PutEmpty(k).FromRaw(v))
			}
			if c.Match {
				matches++
			} else {
				misses++
			}
		}
	}
	require.NotZero(t, matches)
	require.NotZero(t, misses)
	require.NoError(t, p.ConsumeLogs(context.Background(), ld))

	want := map[string]int64{}
	untagged := 0
	for _, lr := range allRecords(sink) {
		sev := attrStr(lr, attrSeverity)
		if sev == "" {
			untagged++
			continue
		}
		want[sev+"/"+attrStr(lr, attrIndicator)]++
	}
	require.NotZero(t, untagged, "some fixture events are tagged by no rule")

	m, err := tel.GetMetric(metricDetections)
	require.NoError(t, err)
	assert.Equal(t, "{record}", m.Unit)
	sum, ok := m.Data.(metricdata.Sum[int64])
	require.True(t, ok, "a counter")
	assert.True(t, sum.IsMonotonic)
	got := map[string]int64{}
	for _, dp := range sum.DataPoints {
		sev, _ := dp.Attributes.Value(attribute.Key(attrSeverityName))
		ind, _ := dp.Attributes.Value(attribute.Key(attrIndicatorKey))
		assert.Equal(t, 2, dp.Attributes.Len(), "only severity and indicator")
		got[sev.AsString()+"/"+ind.AsString()] += dp.Value
	}
	assert.Equal(t, want, got)
	assert.GreaterOrEqual(t, len(got), 4, "several severities and indicators")
}
