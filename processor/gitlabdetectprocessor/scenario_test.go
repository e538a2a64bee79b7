// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package gitlabdetectprocessor

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kyra-mdr/otelcol-gitlab/testbed/detectbench"
	"github.com/kyra-mdr/otelcol-gitlab/testbed/gitlabsim"
)

// TestDetectionScenario is the fast, processor-only version of the
// detection benchmark (make bench runs the same scenario through the built
// distribution): four days of simulated benign traffic, with travelling
// and roaming users, and attack chains on the last day, streamed events in
// time order, located with a GeoIP database of the scenario's world. Every
// attack step must be tagged with its rule, indicator and severity; at
// most 0.05 % of the attack day's benign events, and 0.1 % of all days'
// (the first day has no history), may be raised to HIGH or above.
func TestDetectionScenario(t *testing.T) {
	events, rep := runScenario(t, geoConfig(t))
	t.Logf("\n%s", rep.Markdown())
	for _, s := range rep.Steps {
		assert.True(t, s.OK, "%s / %s: want %s %s %s, got %s %v", s.Step.Chain, s.Step.Name, s.Step.Severity, s.Step.Rule, s.Step.Indicator, s.Severity, s.RuleIDs)
	}
	assert.GreaterOrEqual(t, len(rep.Steps), 19)
	assert.Len(t, events, rep.Events)
	assert.LessOrEqual(t, rep.HighShare(), 0.1, "share of benign events raised to HIGH or above, in percent")
	assert.Greater(t, rep.Benign, 8000)
	assert.LessOrEqual(t, rep.LastDayHighShare(), 0.05, "share of benign events of the attack day raised to HIGH or above, in percent")
}

// Without baselines, the CI mirroring job pages every time: the scenario
// measures what the baselines are for.
func TestDetectionScenarioWithoutBaselines(t *testing.T) {
	cfg := geoConfig(t)
	cfg.Baseline.Enabled = false
	_, rep := runScenario(t, cfg)
	assert.Equal(t, len(rep.Steps), rep.StepsOK())
	assert.Greater(t, rep.LastDayHighShare(), 0.5)
}

func runScenario(t *testing.T, cfg *Config) ([]gitlabsim.ScenarioEvent, detectbench.Report) {
	sim := gitlabsim.New(gitlabsim.Options{Seed: 7})
	events := sim.Scenario(gitlabsim.ScenarioOptions{Days: 4})
	p, sink := newTestProcessor(t, cfg)
	const batch = 200
	for i := 0; i < len(events); i += batch {
		ld, lrs := newLogs()
		for _, ev := range events[i:min(i+batch, len(events))] {
			appendEvent(t, lrs, ev.StreamJSON, viaReceiver)
		}
		require.NoError(t, p.ConsumeLogs(context.Background(), ld))
	}
	records := allRecords(sink)
	require.Len(t, records, len(events))
	return events, detectbench.Evaluate(events, records)
}
