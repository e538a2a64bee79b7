// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package gitlabauditreceiver

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/configopaque"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/receiver/receivertest"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/kyra-mdr/otelcol-gitlab/receiver/gitlabauditreceiver/internal/metadata"
	"github.com/kyra-mdr/otelcol-gitlab/receiver/gitlabauditreceiver/internal/stream"
	"github.com/kyra-mdr/otelcol-gitlab/receiver/gitlabauditreceiver/internal/testutil"
	"github.com/kyra-mdr/otelcol-gitlab/testbed/fakeclock"
	"github.com/kyra-mdr/otelcol-gitlab/testbed/gitlabsim"
)

// With polling and streaming together, the events polling emitted first
// that the stream should have delivered are counted and reported once per
// interval; events the stream delivers late, events of kinds it does not
// deliver, and events created before it opened are not.
func TestStreamMissedCountsWhatPollingFoundFirst(t *testing.T) {
	tel := componenttest.NewTelemetry()
	defer func() { require.NoError(t, tel.Shutdown(context.Background())) }()
	clk := fakeclock.New()
	sim, srv := testutil.NewSim(t, clk.Now, gitlabsim.Options{})
	// Before the collector starts: polled first, not missed.
	sim.Generate(40, clk.Now().Add(-time.Hour), clk.Now().Add(-time.Minute))

	cfg := pollConfig(srv.URL)
	st := cfg.Stream.GetOrInsertDefault()
	st.NetAddr.Endpoint = "127.0.0.1:0"
	st.VerificationTokens = []configopaque.String{streamToken}
	set := receivertest.NewNopSettings(metadata.Type)
	set.ID = component.NewIDWithName(metadata.Type, "watch")
	set.TelemetrySettings = tel.NewTelemetrySettings()
	core, logs := observer.New(zapcore.InfoLevel)
	set.Logger = zap.New(core)
	r, err := newReceiver(cfg, set, new(consumertest.LogsSink))
	require.NoError(t, err)
	r.now = clk.Now
	startManual(t, r, newStatusHost(nil))
	url := "http://" + r.stream.Addr() + st.Path
	require.NoError(t, pollAll(t, r))

	clk.Add(time.Minute)
	insert := func(typ string, n int) []gitlabsim.StoredEvent {
		var out []gitlabsim.StoredEvent
		for range n {
			ev, err := sim.BuildEvent(typ, clk.Now().Add(-10*time.Second), false)
			require.NoError(t, err)
			ev.Entity = gitlabsim.InstanceEntity
			out = append(out, sim.Insert(ev))
		}
		return out
	}
	streamed := insert("user_created", 4)
	missed := insert("user_created", 5)
	late := insert("user_created", 2)
	otherKind := insert("user_blocked", 3) // a type this destination does not send
	for _, ev := range streamed {
		assert.Equal(t, 200, post(t, nil, url, string(ev.StreamJSON), withToken()).status)
	}
	clk.Add(5 * time.Second)
	require.NoError(t, pollAll(t, r))
	// The stream delivers two of them after polling, within the grace.
	for _, ev := range late {
		assert.Equal(t, 200, post(t, nil, url, string(ev.StreamJSON), withToken()).status)
	}

	r.watch.Report(context.Background())
	assert.Empty(t, logs.FilterMessageSnippet("should have delivered").All(), "still within the grace")

	clk.Add(stream.Grace)
	r.watch.Report(context.Background())
	warned := logs.FilterMessageSnippet("should have delivered").All()
	require.Len(t, warned, 1)
	assert.Equal(t, int64(len(missed)), warned[0].ContextMap()["missed"], "%d others: streamed, late, other kind", len(streamed)+len(late)+len(otherKind))

	m, err := tel.GetMetric("otelcol_gitlab_audit_stream_missed")
	require.NoError(t, err)
	assert.Equal(t, int64(len(missed)), m.Data.(metricdata.Sum[int64]).DataPoints[0].Value)

	clk.Add(time.Minute)
	r.watch.Report(context.Background())
	assert.Len(t, logs.FilterMessageSnippet("should have delivered").All(), 1, "counted once")
}
