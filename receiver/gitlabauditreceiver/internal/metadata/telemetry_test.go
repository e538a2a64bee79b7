// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package metadata

import (
	"os"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
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
