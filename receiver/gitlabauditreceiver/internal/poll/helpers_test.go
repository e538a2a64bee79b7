// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package poll

import (
	"context"
	"net/http"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/configretry"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/extension/xextension/storage"
	"go.opentelemetry.io/collector/receiver/receiverhelper"
	"go.opentelemetry.io/collector/receiver/receivertest"
	"go.uber.org/goleak"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/kyra-mdr/otelcol-gitlab/receiver/gitlabauditreceiver/internal/auditlog"
	"github.com/kyra-mdr/otelcol-gitlab/receiver/gitlabauditreceiver/internal/emit"
	"github.com/kyra-mdr/otelcol-gitlab/receiver/gitlabauditreceiver/internal/gitlabapi"
	"github.com/kyra-mdr/otelcol-gitlab/receiver/gitlabauditreceiver/internal/metadata"
	"github.com/kyra-mdr/otelcol-gitlab/receiver/gitlabauditreceiver/internal/testutil"
	"github.com/kyra-mdr/otelcol-gitlab/testbed/fakeclock"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// testConfig is what the poll tests vary: the receiver's options that
// reach the poll path, with its defaults (pollConfig).
type testConfig struct {
	Endpoint, Token      string
	Instance             bool
	Groups, Projects     []string
	InitialLookback      time.Duration
	Overlap              time.Duration
	Timeout              time.Duration
	MaxRequestsPerMinute int
	PerFeedMetrics       bool
	EventTypes           emit.EventTypes
	BackOff              configretry.BackOffConfig
	// Storage keeps checkpoints and the de-duplication state; nil: memory.
	Storage storage.Client
	// Telemetry, when set, receives the metrics.
	Telemetry *componenttest.Telemetry
}

// pollConfig polls the instance feed of endpoint with the admin token and
// the receiver's defaults, retries shortened for tests.
func pollConfig(endpoint string) *testConfig {
	backOff := configretry.NewDefaultBackOffConfig()
	backOff.InitialInterval = 10 * time.Millisecond
	backOff.MaxInterval = 50 * time.Millisecond
	backOff.MaxElapsedTime = 2 * time.Second
	return &testConfig{
		Endpoint: endpoint, Token: testutil.AdminToken, Instance: true,
		InitialLookback: 24 * time.Hour, Overlap: 10 * time.Minute, Timeout: 30 * time.Second,
		BackOff: backOff,
	}
}

func (c *testConfig) feeds() []gitlabapi.Feed {
	var feeds []gitlabapi.Feed
	if c.Instance {
		feeds = append(feeds, gitlabapi.Feed{Kind: gitlabapi.KindInstance})
	}
	for _, g := range c.Groups {
		feeds = append(feeds, gitlabapi.Feed{Kind: gitlabapi.KindGroup, Ref: g})
	}
	for _, p := range c.Projects {
		feeds = append(feeds, gitlabapi.Feed{Kind: gitlabapi.KindProject, Ref: p})
	}
	return feeds
}

// statusRecorder records what the poller reports of each part's health.
type statusRecorder struct {
	mu   sync.Mutex
	errs []error // every report in order; nil when a part works again
}

func (s *statusRecorder) set(_ string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.errs = append(s.errs, err)
}

// last returns the last report: nil when the last part reported works.
func (s *statusRecorder) last() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.errs) == 0 {
		return nil
	}
	return s.errs[len(s.errs)-1]
}

// testPoller is a poller over a real API client and emitting stage, as the
// receiver wires them, whose clock is clk and whose logs are observed.
type testPoller struct {
	*Poller
	status *statusRecorder
	close  func()
}

// newTestPoller builds the poll path of cfg to next; it is closed when the
// test ends (or earlier, with close, to restart on the same storage).
func newTestPoller(t testing.TB, cfg *testConfig, next consumer.Logs, clk *fakeclock.Clock) (*testPoller, *observer.ObservedLogs) {
	t.Helper()
	core, logs := observer.New(zapcore.DebugLevel)
	logger := zap.New(core)
	set := receivertest.NewNopSettings(metadata.Type)
	if cfg.Telemetry != nil {
		set.TelemetrySettings = cfg.Telemetry.NewTelemetrySettings()
	}
	tel, err := metadata.NewTelemetryBuilder(set.TelemetrySettings)
	require.NoError(t, err)
	base, err := url.Parse(cfg.Endpoint)
	require.NoError(t, err)
	labels := NewLabels(cfg.PerFeedMetrics, cfg.feeds())
	client := gitlabapi.New(gitlabapi.Options{
		HTTPClient: &http.Client{Timeout: cfg.Timeout}, BaseURL: base, Token: cfg.Token, PerPage: 100,
		RequestsPerMinute: cfg.MaxRequestsPerMinute, MaxConcurrent: 4, BackOff: cfg.BackOff, Logger: logger,
		Clock: gitlabapi.NewClock(clk.Now),
	})
	ec, err := emit.NewCore(context.Background(), emit.Settings{
		Next: next, MaxEntries: 100_000, TTL: time.Hour, Storage: cfg.Storage, EventTypes: cfg.EventTypes,
		Telemetry: tel, Logger: logger, Now: clk.Now,
	})
	require.NoError(t, err)
	obs, err := receiverhelper.NewObsReport(receiverhelper.ObsReportSettings{ReceiverID: set.ID, Transport: "http", ReceiverCreateSettings: set})
	require.NoError(t, err)
	status := &statusRecorder{}
	p, err := New(context.Background(), Settings{
		Client: client, Emitter: ec.Emitter(auditlog.SourcePoll, obs), Store: ec.Store(), Telemetry: tel,
		Logger: logger, Status: status.set, Now: clk.Now,
		Feeds: cfg.feeds(), Groups: cfg.Groups, Projects: cfg.Projects,
		PollInterval: time.Minute, IdlePollInterval: 5 * time.Minute, InitialLookback: cfg.InitialLookback,
		Overlap: cfg.Overlap, RequestsPerMinute: cfg.MaxRequestsPerMinute, Workers: 4, Labels: labels,
	})
	require.NoError(t, err)
	var once sync.Once
	closeAll := func() {
		once.Do(func() {
			tel.Shutdown()
			require.NoError(t, ec.Close(context.Background()))
		})
	}
	t.Cleanup(closeAll)
	return &testPoller{Poller: p, status: status, close: closeAll}, logs
}

// pollAll polls every feed once, and again while a backfill is behind.
func pollAll(_ testing.TB, p *testPoller) error {
	return p.PollAll(context.Background())
}
