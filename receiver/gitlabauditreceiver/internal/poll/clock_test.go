// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package poll

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/kyra-mdr/otelcol-gitlab/receiver/gitlabauditreceiver/internal/testutil"
	"github.com/kyra-mdr/otelcol-gitlab/testbed/fakeclock"
	"github.com/kyra-mdr/otelcol-gitlab/testbed/gitlabsim"
)

// With GitLab's clock set apart from the collector's, in both directions,
// every event GitLab writes while the collector polls is emitted exactly
// once: windows and checkpoints follow GitLab's clock.
func TestPollFollowsGitLabsClockWhateverTheSkew(t *testing.T) {
	for _, skew := range []time.Duration{
		-20*time.Minute - 300*time.Millisecond, 20*time.Minute + 700*time.Millisecond,
		-time.Hour - 450*time.Millisecond, time.Hour + 50*time.Millisecond,
	} {
		t.Run(fmt.Sprint(skew), func(t *testing.T) {
			tel := componenttest.NewTelemetry()
			defer func() { require.NoError(t, tel.Shutdown(context.Background())) }()

			clk := fakeclock.New() // the collector's clock
			gitlabNow := func() time.Time { return clk.Now().Add(skew) }
			sim, srv := testutil.NewSim(t, clk.Now, gitlabsim.Options{Now: gitlabNow})
			sim.Generate(300, gitlabNow().Add(-3*time.Hour), gitlabNow().Add(-time.Minute))

			cfg := pollConfig(srv.URL)
			cfg.Groups = []string{"acme"}
			cfg.InitialLookback = 6 * time.Hour // covers the history either way
			cfg.Telemetry = tel
			sink := new(consumertest.LogsSink)
			r, logs := newTestPoller(t, cfg, sink, clk)

			// Live traffic: events written at GitLab's now and a few
			// seconds late, polled every 20.37 s (the fraction moves the
			// collector's clock across GitLab's one-second Date ticks).
			for i := range 40 {
				for k := range 5 {
					ev, err := sim.BuildEvent("user_created", gitlabNow().Add(-time.Duration(k*(i%3))*time.Second), false)
					require.NoError(t, err)
					sim.Insert(ev)
				}
				require.NoError(t, pollAll(t, r))
				clk.Add(20*time.Second + 370*time.Millisecond)
			}
			// Quiet: whatever was written reaches the checkpoint.
			for range 3 {
				clk.Add(time.Minute)
				require.NoError(t, pollAll(t, r))
			}

			seen := map[string]int{}
			for _, id := range testutil.IDs(testutil.Records(sink.AllLogs())) {
				seen[id]++
			}
			var lost []string
			for _, e := range sim.Events() {
				id := strconv.FormatInt(e.ID, 10)
				if seen[id] == 0 {
					lost = append(lost, id+"@"+e.CreatedAt.Format(time.RFC3339Nano))
				}
			}
			assert.Empty(t, lost, "events never emitted")
			for id, n := range seen {
				assert.Equal(t, 1, n, "event %s emitted %d times", id, n)
			}

			m, err := tel.GetMetric("otelcol_gitlab_audit_clock_skew_seconds")
			require.NoError(t, err)
			dps := m.Data.(metricdata.Gauge[float64]).DataPoints
			require.Len(t, dps, 1)
			assert.InDelta(t, skew.Seconds(), dps[0].Value, 0.5, "the measured skew")
			m, err = tel.GetMetric("otelcol_gitlab_audit_poll_slice_seconds")
			require.NoError(t, err)
			slices := m.Data.(metricdata.Gauge[float64]).DataPoints
			require.Len(t, slices, 2, "one per feed")
			assert.InDelta(t, MaxWindow.Seconds(), slices[0].Value, 0, "no failure: one query per poll")
			assert.Len(t, logs.FilterMessageSnippet("clock and the collector's differ").All(), 1, "warned once")
		})
	}
}
