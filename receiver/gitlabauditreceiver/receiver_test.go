// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package gitlabauditreceiver

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/extension/storage/storagetest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/configopaque"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pipeline"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/collector/receiver/receivertest"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/kyra-mdr/otelcol-gitlab/receiver/gitlabauditreceiver/internal/auditlog"
	"github.com/kyra-mdr/otelcol-gitlab/receiver/gitlabauditreceiver/internal/metadata"
	"github.com/kyra-mdr/otelcol-gitlab/receiver/gitlabauditreceiver/internal/stream"
	"github.com/kyra-mdr/otelcol-gitlab/receiver/gitlabauditreceiver/internal/testutil"
	"github.com/kyra-mdr/otelcol-gitlab/testbed/fakeclock"
	"github.com/kyra-mdr/otelcol-gitlab/testbed/gitlabsim"
)

func TestFactory(t *testing.T) {
	f := NewFactory()
	assert.Equal(t, metadata.Type, f.Type())
	assert.Equal(t, metadata.LogsStability, f.LogsStability())
	require.NoError(t, componenttest.CheckConfigStruct(f.CreateDefaultConfig()))
	_, err := f.CreateTraces(context.Background(), receivertest.NewNopSettings(metadata.Type), f.CreateDefaultConfig(), consumertest.NewNop())
	require.ErrorIs(t, err, pipeline.ErrSignalNotSupported)
}

// TestLifecycle follows mdatagen's generated lifecycle test: Shutdown
// without Start, then Start and Shutdown twice.
func TestLifecycle(t *testing.T) {
	f := NewFactory()
	cfg := f.CreateDefaultConfig().(*Config)
	cfg.Endpoint = "http://127.0.0.1:1" // nothing listens: polls fail, which is fine here
	cfg.Token = "t"
	cfg.Collect.Instance = true
	s := cfg.Stream.GetOrInsertDefault()
	s.NetAddr.Endpoint = "127.0.0.1:0"
	s.VerificationTokens = []configopaque.String{"t"}

	r, err := f.CreateLogs(context.Background(), receivertest.NewNopSettings(metadata.Type), cfg, consumertest.NewNop())
	require.NoError(t, err)
	require.NoError(t, r.Shutdown(context.Background()), "Shutdown without Start")

	for range 2 {
		r, err := f.CreateLogs(context.Background(), receivertest.NewNopSettings(metadata.Type), cfg, consumertest.NewNop())
		require.NoError(t, err)
		require.NoError(t, r.Start(context.Background(), componenttest.NewNopHost()))
		require.NoError(t, r.Shutdown(context.Background()))
	}
}

func TestStartErrors(t *testing.T) {
	missing := component.MustNewID("file_storage")
	cfg := streamConfig()
	cfg.Storage = &missing
	r, err := newReceiver(cfg, receivertest.NewNopSettings(metadata.Type), consumertest.NewNop())
	require.NoError(t, err)
	require.ErrorContains(t, r.Start(context.Background(), componenttest.NewNopHost()), `storage: extension "file_storage" is not configured`)

	notStorage := storagetest.NewNonStorageID("other")
	cfg.Storage = &notStorage
	host := storagetest.NewStorageHost().WithNonStorageExtension("other")
	r, err = newReceiver(cfg, receivertest.NewNopSettings(metadata.Type), consumertest.NewNop())
	require.NoError(t, err)
	require.ErrorContains(t, r.Start(context.Background(), host), "is not a storage extension")

	// A busy port fails Start, and nothing is left running.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer func() { _ = ln.Close() }()
	cfg = streamConfig()
	cfg.Stream.Get().NetAddr.Endpoint = ln.Addr().String()
	r, err = newReceiver(cfg, receivertest.NewNopSettings(metadata.Type), consumertest.NewNop())
	require.NoError(t, err)
	require.ErrorContains(t, r.Start(context.Background(), componenttest.NewNopHost()), "stream: listening on")
}

// TestPollLoopRunsOnItsOwn starts the receiver for real: it polls at once,
// then every poll_interval, and Shutdown stops it.
func TestPollLoopRunsOnItsOwn(t *testing.T) {
	clk := fakeclock.New()
	sim, srv := testutil.NewSim(t, clk.Now, gitlabsim.Options{Now: time.Now})
	sim.Generate(150, time.Now().Add(-time.Hour), time.Now().Add(-time.Minute))
	cfg := pollConfig(srv.URL)
	cfg.PollInterval = 50 * time.Millisecond // below the validated minimum, for the test only
	sink := new(consumertest.LogsSink)
	r, err := newReceiver(cfg, receivertest.NewNopSettings(metadata.Type), sink)
	require.NoError(t, err)
	require.NoError(t, r.Start(context.Background(), componenttest.NewNopHost()))
	want := len(testutil.SavedIDs(sim.Events(), time.Now().Add(-2*time.Hour), time.Now()))
	require.Eventually(t, func() bool { return sink.LogRecordCount() == want }, 10*time.Second, 10*time.Millisecond)
	require.Eventually(t, func() bool { return sim.RequestCount() >= 4 }, 10*time.Second, 10*time.Millisecond, "keeps polling")
	require.NoError(t, r.Shutdown(context.Background()))
	n := sim.RequestCount()
	time.Sleep(150 * time.Millisecond)
	assert.Equal(t, n, sim.RequestCount(), "no poll after Shutdown")
	assert.Equal(t, want, sink.LogRecordCount())
}

func TestResourceAndScope(t *testing.T) {
	clk := fakeclock.New()
	sim, srv := testutil.NewSim(t, clk.Now, gitlabsim.Options{})
	sim.Generate(5, clk.Now().Add(-time.Hour), clk.Now().Add(-time.Minute))
	sink := new(consumertest.LogsSink)
	r, _ := testReceiver(t, pollConfig(srv.URL), sink, clk)
	r.set.BuildInfo.Version = "1.2.3"
	startManual(t, r, newStatusHost(nil))
	require.NoError(t, pollAll(t, r))
	require.NotEmpty(t, sink.AllLogs())
	rl := sink.AllLogs()[0].ResourceLogs().At(0)
	assert.Equal(t, map[string]any{"vcs.provider.name": "gitlab", "server.address": "127.0.0.1"}, rl.Resource().Attributes().AsRaw())
	sl := rl.ScopeLogs().At(0)
	assert.Equal(t, metadata.ScopeName, sl.Scope().Name())
	assert.Equal(t, "1.2.3", sl.Scope().Version())
}

func TestTelemetry(t *testing.T) {
	tel := componenttest.NewTelemetry()
	defer func() { require.NoError(t, tel.Shutdown(context.Background())) }()

	clk := fakeclock.New()
	sim, srv := testutil.NewSim(t, clk.Now, gitlabsim.Options{})
	sim.Generate(250, clk.Now().Add(-2*time.Hour), clk.Now().Add(-time.Minute))
	cfg := pollConfig(srv.URL)
	s := cfg.Stream.GetOrInsertDefault()
	s.NetAddr.Endpoint = "127.0.0.1:0"
	s.VerificationTokens = []configopaque.String{streamToken}
	sink := new(consumertest.LogsSink)
	set := receivertest.NewNopSettings(metadata.Type)
	set.TelemetrySettings = tel.NewTelemetrySettings()
	r, err := newReceiver(cfg, set, sink)
	require.NoError(t, err)
	r.now = clk.Now
	startManual(t, r, newStatusHost(nil))
	sim.FailNext(1, http.StatusBadGateway)
	require.NoError(t, pollAll(t, r))
	url := "http://" + r.stream.Addr() + s.Path
	post(t, nil, url, `{}`, nil)             // auth
	post(t, nil, url, `{"id":`, withToken()) // malformed
	polled := sim.Events()[0]
	post(t, nil, url, string(polled.StreamJSON), withToken()) // duplicate of a polled event

	sum := func(name string, match func(metricdata.DataPoint[int64]) bool) int64 {
		m, err := tel.GetMetric(name)
		require.NoError(t, err, name)
		var n int64
		for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
			if match == nil || match(dp) {
				n += dp.Value
			}
		}
		return n
	}
	attr := func(k, v string) func(metricdata.DataPoint[int64]) bool {
		return func(dp metricdata.DataPoint[int64]) bool {
			got, ok := dp.Attributes.Value(attribute.Key(k))
			return ok && got.String() == v
		}
	}
	pages := (len(sim.Events()) + 99) / 100
	assert.Equal(t, int64(pages+1), sum("otelcol_gitlab_audit_api_requests", nil), "pages plus the failed attempt")
	assert.Equal(t, int64(1), sum("otelcol_gitlab_audit_api_requests", attr(metadata.AttrStatusCode, "502")))
	assert.Equal(t, int64(1), sum("otelcol_gitlab_audit_stream_requests_rejected", attr(metadata.AttrReason, "auth")))
	assert.Equal(t, int64(1), sum("otelcol_gitlab_audit_stream_requests_rejected", attr(metadata.AttrReason, "malformed")))
	assert.Equal(t, int64(1), sum("otelcol_gitlab_audit_duplicates_dropped", attr(metadata.AttrSource, "stream")))

	lag, err := tel.GetMetric("otelcol_gitlab_audit_checkpoint_lag")
	require.NoError(t, err)
	dps := lag.Data.(metricdata.Gauge[float64]).DataPoints
	require.Len(t, dps, 1)
	assert.InDelta(t, 2.0, dps[0].Value, 0.5, "the checkpoint is a poll lag behind now")
	clk.Add(time.Minute)
	lag, err = tel.GetMetric("otelcol_gitlab_audit_checkpoint_lag")
	require.NoError(t, err)
	assert.InDelta(t, 60+2.0, lag.Data.(metricdata.Gauge[float64]).DataPoints[0].Value, 0.5)

	accepted, err := tel.GetMetric("otelcol_receiver_accepted_log_records")
	require.NoError(t, err)
	var n int64
	for _, dp := range accepted.Data.(metricdata.Sum[int64]).DataPoints {
		n += dp.Value
	}
	assert.Equal(t, int64(len(sim.Events())), n, "obsreport counts the accepted records")
}

// contractGenerator posts uniquely identified events to the stream and,
// like a careful sender, retries them while the receiver answers 503.
type contractGenerator struct {
	url    string
	mu     sync.Mutex
	next   int
	client *http.Client
	t      *testing.T
}

func (g *contractGenerator) Start() { g.client = &http.Client{} }
func (g *contractGenerator) Stop()  { g.client.CloseIdleConnections() }

func (g *contractGenerator) Generate() []receivertest.UniqueIDAttrVal {
	g.mu.Lock()
	g.next++
	id := g.next
	g.mu.Unlock()
	body := fmt.Sprintf(`{"id":%d,"created_at":"2024-01-01T00:00:00Z","entity_type":"Project","event_type":"add_ssh_key","details":{}}`, id)
	for {
		req, _ := http.NewRequest(http.MethodPost, g.url, strings.NewReader(body))
		req.Header.Set(stream.TokenHeader, streamToken)
		resp, err := g.client.Do(req)
		require.NoError(g.t, err)
		resp.Body.Close()
		if resp.StatusCode != http.StatusServiceUnavailable {
			require.Contains(g.t, []int{http.StatusOK, http.StatusBadRequest}, resp.StatusCode)
			return []receivertest.UniqueIDAttrVal{receivertest.UniqueIDAttrVal(fmt.Sprint(id))}
		}
	}
}

// idCopier copies the event id into the attribute the contract checker reads.
type idCopier struct{ next consumer.Logs }

func (idCopier) Capabilities() consumer.Capabilities { return consumer.Capabilities{MutatesData: true} }

func (c idCopier) ConsumeLogs(ctx context.Context, l plog.Logs) error {
	for i := 0; i < l.ResourceLogs().Len(); i++ {
		for j := 0; j < l.ResourceLogs().At(i).ScopeLogs().Len(); j++ {
			lrs := l.ResourceLogs().At(i).ScopeLogs().At(j).LogRecords()
			for k := 0; k < lrs.Len(); k++ {
				id, _ := lrs.At(k).Attributes().Get(auditlog.AttrEventID)
				lrs.At(k).Attributes().PutStr(receivertest.UniqueIDAttrName, id.Str())
			}
		}
	}
	return c.next.ConsumeLogs(ctx, l)
}

// TestStreamConsumeContract runs the collector's contract checker: with
// random permanent and non-permanent pipeline errors, every event is
// either accepted once or reported to the sender, never lost silently.
func TestStreamConsumeContract(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	cfg := streamConfig()
	cfg.Stream.Get().NetAddr.Endpoint = addr

	f := NewFactory()
	wrapped := receiver.NewFactory(f.Type(), f.CreateDefaultConfig, receiver.WithLogs(
		func(ctx context.Context, set receiver.Settings, c component.Config, next consumer.Logs) (receiver.Logs, error) {
			return f.CreateLogs(ctx, set, c, idCopier{next: next})
		}, f.LogsStability()))
	receivertest.CheckConsumeContract(receivertest.CheckConsumeContractParams{
		T:             t,
		Factory:       wrapped,
		Signal:        pipeline.SignalLogs,
		Config:        cfg,
		Generator:     &contractGenerator{url: "http://" + addr + "/webhook/gitlab-audit", t: t},
		GenerateCount: 500,
	})
}
