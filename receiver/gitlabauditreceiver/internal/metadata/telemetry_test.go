// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package metadata

import (
	"context"
	"os"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.yaml.in/yaml/v3"
)

// TestTelemetryMatchesMetadata holds the hand-written builder to the
// metrics metadata.yaml declares (what mdatagen would generate from), in
// both directions: name (otelcol_ + key), unit, description, instrument.
func TestTelemetryMatchesMetadata(t *testing.T) {
	raw, err := os.ReadFile("../../metadata.yaml")
	require.NoError(t, err)
	var md struct {
		Telemetry struct {
			Metrics map[string]struct {
				Enabled     bool   `yaml:"enabled"`
				Description string `yaml:"description"`
				Unit        string `yaml:"unit"`
				Sum         *struct {
					ValueType string `yaml:"value_type"`
					Monotonic bool   `yaml:"monotonic"`
					Async     bool   `yaml:"async"`
				} `yaml:"sum"`
				Gauge *struct {
					ValueType string `yaml:"value_type"`
					Async     bool   `yaml:"async"`
				} `yaml:"gauge"`
			} `yaml:"metrics"`
		} `yaml:"telemetry"`
	}
	require.NoError(t, yaml.Unmarshal(raw, &md))

	want := map[string]Declared{}
	for key, m := range md.Telemetry.Metrics {
		require.True(t, m.Enabled, key)
		d := Declared{Name: "otelcol_" + key, Unit: m.Unit, Description: m.Description}
		switch {
		case m.Sum != nil:
			d.Instrument, d.ValueType, d.Monotonic, d.Async = "sum", m.Sum.ValueType, m.Sum.Monotonic, m.Sum.Async
		case m.Gauge != nil:
			d.Instrument, d.ValueType, d.Async = "gauge", m.Gauge.ValueType, m.Gauge.Async
		default:
			t.Fatalf("%s: neither sum nor gauge", key)
		}
		want[d.Name] = d
	}

	b, err := NewTelemetryBuilder(componenttest.NewNopTelemetrySettings())
	require.NoError(t, err)
	defer b.Shutdown()
	got := map[string]Declared{}
	for _, d := range b.Declared() {
		got[d.Name] = d
	}
	require.Equal(t, want, got)
}

// TestAddWithCountsUnderItsAttribute checks that a counter added to with
// an attribute made once (Attribute) counts under that attribute, as Add
// does with the same one made at each call, and that nothing is added for
// n <= 0.
func TestAddWithCountsUnderItsAttribute(t *testing.T) {
	tel := componenttest.NewTelemetry()
	defer func() { require.NoError(t, tel.Shutdown(context.Background())) }()
	b, err := NewTelemetryBuilder(tel.NewTelemetrySettings())
	require.NoError(t, err)
	defer b.Shutdown()
	ctx := context.Background()
	stream := Attribute(AttrSource, "stream")
	AddWith(ctx, b.GitlabAuditEventsEmitted, 3, stream)
	AddWith(ctx, b.GitlabAuditEventsEmitted, 0, stream)
	AddWith(ctx, b.GitlabAuditEventsEmitted, 2, stream)
	Add(ctx, b.GitlabAuditEventsEmitted, 4, AttrSource, "stream")
	Add(ctx, b.GitlabAuditEventsEmitted, 1, AttrSource, "poll")
	m, err := tel.GetMetric("otelcol_gitlab_audit_events_emitted")
	require.NoError(t, err)
	got := map[string]int64{}
	for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
		v, ok := dp.Attributes.Value(attribute.Key(AttrSource))
		require.True(t, ok)
		require.Equal(t, 1, dp.Attributes.Len())
		got[v.AsString()] = dp.Value
	}
	require.Equal(t, map[string]int64{"stream": 9, "poll": 1}, got)
}
