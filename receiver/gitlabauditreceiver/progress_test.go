// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package gitlabauditreceiver

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/receiver/receivertest"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/kyra-mdr/otelcol-gitlab/receiver/gitlabauditreceiver/internal/metadata"
	"github.com/kyra-mdr/otelcol-gitlab/testbed/gitlabsim"
)

func TestCatchUpProgressIsLoggedLikeAProgressBar(t *testing.T) {
	clk := newFakeClock()
	sim, srv := newTestSim(t, clk, gitlabsim.Options{})
	sim.Generate(500, clk.Now().Add(-20*time.Hour), clk.Now().Add(-time.Minute))
	cfg := pollConfig(srv.URL)
	cfg.Collect.Projects = []string{"acme/platform/api"}
	r, logs := testReceiver(t, cfg, new(consumertest.LogsSink), clk)
	startManual(t, r, newStatusHost(nil))

	p := r.poller
	p.progress.report()
	l := logs.FilterMessage("Catching up with GitLab's audit events").All()
	require.Len(t, l, 1)
	assert.EqualValues(t, 0, l[0].ContextMap()["feeds_caught_up"])
	assert.EqualValues(t, 2, l[0].ContextMap()["feeds"])
	assert.Equal(t, 24*time.Hour, l[0].ContextMap()["behind"], "the oldest checkpoint is initial_lookback ago")

	feeds := p.snapshot()
	p.pollOnce(context.Background(), feeds[0])
	p.progress.report()
	l = logs.FilterMessage("Catching up with GitLab's audit events").All()
	require.Len(t, l, 2)
	assert.EqualValues(t, 1, l[1].ContextMap()["feeds_caught_up"])
	assert.Positive(t, l[1].ContextMap()["events_read"])
	assert.Contains(t, l[1].ContextMap(), "estimated_time_left")

	p.pollOnce(context.Background(), feeds[1])
	p.progress.report()
	p.progress.report()
	require.Len(t, logs.FilterMessage("Every feed has caught up with GitLab's audit events").All(), 1, "said once")
	assert.Len(t, logs.FilterMessage("Catching up with GitLab's audit events").All(), 2)
}

func TestEstateMetrics(t *testing.T) {
	for _, perFeed := range []bool{false, true} {
		tel := componenttest.NewTelemetry()
		sim, srv := estateSim(t, 20, gitlabsim.Options{})
		cfg := estateConfig(srv.URL, "acme")
		cfg.PerFeedMetrics = perFeed
		core, logs := observer.New(zapcore.InfoLevel)
		set := receivertest.NewNopSettings(metadata.Type)
		set.TelemetrySettings = tel.NewTelemetrySettings()
		set.Logger = zap.New(core)
		r, err := newReceiver(cfg, set, new(consumertest.LogsSink))
		require.NoError(t, err)
		require.NoError(t, r.Start(context.Background(), newStatusHost(nil)))
		require.Eventually(t, func() bool {
			done, total, _, _ := r.poller.progress.state()
			return len(logs.FilterMessage("Discovered the subgroups and projects of the configured groups").All()) == 1 && done == total
		}, 10*time.Second, 20*time.Millisecond)

		gauge := func(name string, kv ...string) int64 {
			m, err := tel.GetMetric(name)
			require.NoError(t, err, name)
			for _, dp := range m.Data.(metricdata.Gauge[int64]).DataPoints {
				match := true
				for i := 0; i < len(kv); i += 2 {
					v, _ := dp.Attributes.Value(attribute.Key(kv[i]))
					match = match && v.AsString() == kv[i+1]
				}
				if match {
					return dp.Value
				}
			}
			return -1
		}
		projects := int64(projectsUnder(sim, "acme"))
		assert.Equal(t, projects, gauge(metricFeeds, attrKind, "project", attrOrigin, originDiscovered))
		assert.Equal(t, int64(16), gauge(metricFeeds, attrKind, "group", attrOrigin, originDiscovered))
		assert.Equal(t, int64(1), gauge(metricFeeds, attrKind, "group", attrOrigin, originConfigured))
		assert.Equal(t, 17+projects, gauge(metricFeedsCaughtUp))
		runs, err := tel.GetMetric(metricDiscoveryRuns)
		require.NoError(t, err)
		assert.Positive(t, runs.Data.(metricdata.Sum[int64]).DataPoints[0].Value)

		lag, err := tel.GetMetric(metricCheckpointLag)
		require.NoError(t, err)
		series := len(lag.Data.(metricdata.Gauge[float64]).DataPoints)
		requests, err := tel.GetMetric(metricAPIRequests)
		require.NoError(t, err)
		feedsSeen := map[string]bool{}
		for _, dp := range requests.Data.(metricdata.Sum[int64]).DataPoints {
			v, _ := dp.Attributes.Value(attrFeed)
			feedsSeen[v.AsString()] = true
		}
		if perFeed {
			assert.Equal(t, 17+int(projects), series, "one lag series per feed")
			assert.Contains(t, feedsSeen, "project:100")
		} else {
			assert.Equal(t, 3, series, "group:acme, discovered:group, discovered:project")
			assert.Equal(t, map[string]bool{"group:acme": true, "discovered:group": true, "discovered:project": true,
				"descendant_groups:acme": true, "group_projects:acme": true}, feedsSeen)
		}
		require.NoError(t, r.Shutdown(context.Background()))
		require.NoError(t, tel.Shutdown(context.Background()))
	}
}
