// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package gitlabauditreceiver

import (
	"context"
	"net"
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

// TestStreamWatchExpectsOnlyWhatTheDestinationStreams: GitLab's
// destination for this receiver streams only acme/platform (a namespace
// filter: ee/app/models/concerns/audit_events/externally_streamable.rb).
// Polling finds events of acme/security and of users too; they are not
// missed by the stream, since it was never to send them. A streamable
// event the stream did not deliver still is.
func TestStreamWatchExpectsOnlyWhatTheDestinationStreams(t *testing.T) {
	tel := componenttest.NewTelemetry()
	defer func() { require.NoError(t, tel.Shutdown(context.Background())) }()
	clk := fakeclock.New()
	port := freePort(t)
	public := "http://127.0.0.1:" + port + "/webhook/gitlab-audit"
	dest := gitlabsim.StreamingDestination{Name: "kyra", URL: public, Group: "acme", NamespaceFilters: []string{"acme/platform"}}
	sim, srv := testutil.NewSim(t, clk.Now, gitlabsim.Options{Destinations: []gitlabsim.StreamingDestination{dest}})

	cfg := pollConfig(srv.URL)
	cfg.Collect.Groups = []string{"acme"} // its top-level group holds the destination
	st := cfg.Stream.GetOrInsertDefault()
	st.NetAddr.Endpoint = "127.0.0.1:" + port
	st.VerificationTokens = []configopaque.String{streamToken}
	st.PublicURL = public
	set := receivertest.NewNopSettings(metadata.Type)
	set.TelemetrySettings = tel.NewTelemetrySettings()
	core, logs := observer.New(zapcore.InfoLevel)
	set.Logger = zap.New(core)
	r, err := newReceiver(cfg, set, new(consumertest.LogsSink))
	require.NoError(t, err)
	r.now = clk.Now
	startManual(t, r, newStatusHost(nil))
	require.NoError(t, pollAll(t, r)) // learns GitLab's clock
	r.access.Check(context.Background(), nil)
	r.dests.Check(context.Background())
	require.Equal(t, stream.DestinationFound, r.dests.Status())
	require.Len(t, logs.FilterMessageSnippet("Found the streaming destination").All(), 1)

	clk.Add(time.Minute)
	insert := func(typ string, e gitlabsim.Entity) gitlabsim.StoredEvent {
		ev, err := sim.BuildEvent(typ, clk.Now().Add(-10*time.Second), false)
		require.NoError(t, err)
		ev.Entity = e
		return sim.Insert(ev)
	}
	var platform, security gitlabsim.Entity
	for _, g := range sim.Groups() {
		switch g.FullPath {
		case "acme/platform":
			platform = gitlabsim.Entity{Type: gitlabsim.EntityGroup, ID: g.ID}
		case "acme/security":
			security = gitlabsim.Entity{Type: gitlabsim.EntityGroup, ID: g.ID}
		}
	}
	url := "http://127.0.0.1:" + port + "/webhook/gitlab-audit"
	var streamed, notStreamed []gitlabsim.StoredEvent
	for range 3 {
		streamed = append(streamed, insert("member_created", platform))
		notStreamed = append(notStreamed, insert("member_created", security)) // same type, another namespace
		notStreamed = append(notStreamed, insert("user_created", gitlabsim.InstanceEntity))
	}
	lost := insert("member_created", platform) // GitLab should have streamed it
	for _, ev := range streamed {
		require.True(t, dest.Streams(&ev))
		assert.Equal(t, 200, post(t, nil, url, string(ev.StreamJSON), withToken()).status)
	}
	for _, ev := range notStreamed {
		require.False(t, dest.Streams(&ev), "%s %s", ev.Type, ev.Entity.Path)
	}
	clk.Add(5 * time.Second)
	require.NoError(t, pollAll(t, r))
	clk.Add(stream.Grace)
	r.watch.Report(context.Background())
	warned := logs.FilterMessageSnippet("should have delivered").All()
	require.Len(t, warned, 1)
	assert.Equal(t, int64(1), warned[0].ContextMap()["missed"], "only %s, not the %d events the destination does not stream", lost.Entity.Path, len(notStreamed))
}

// freePort returns a loopback port nobody listens on now.
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	require.NoError(t, ln.Close())
	return port
}
