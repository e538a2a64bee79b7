// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package gitlabauditreceiver

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componentstatus"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/receiver/receivertest"
	"go.uber.org/goleak"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/kyra-mdr/otelcol-gitlab/receiver/gitlabauditreceiver/internal/metadata"
	"github.com/kyra-mdr/otelcol-gitlab/receiver/gitlabauditreceiver/internal/testutil"
	"github.com/kyra-mdr/otelcol-gitlab/testbed/fakeclock"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const streamToken = "stream-verification-token-0123"

// pollConfig is a valid polling configuration against endpoint, without
// enrichment: tests that count API requests count the polls' (enrichment
// tests turn it on).
func pollConfig(endpoint string) *Config {
	cfg := createDefaultConfig().(*Config)
	cfg.Endpoint = endpoint
	cfg.Token = testutil.AdminToken
	cfg.Collect.Instance = true
	off := false
	cfg.Enrich.Enabled = &off
	cfg.BackOff.InitialInterval = 10 * time.Millisecond
	cfg.BackOff.MaxInterval = 50 * time.Millisecond
	cfg.BackOff.MaxElapsedTime = 2 * time.Second
	return cfg
}

// statusHost is a host with storage extensions that records status events.
type statusHost struct {
	mu     sync.Mutex
	exts   map[component.ID]component.Component
	events []*componentstatus.Event
}

func newStatusHost(exts map[component.ID]component.Component) *statusHost {
	if exts == nil {
		exts = componenttest.NewNopHost().GetExtensions()
	}
	return &statusHost{exts: exts}
}

func (h *statusHost) GetExtensions() map[component.ID]component.Component { return h.exts }

func (h *statusHost) Report(ev *componentstatus.Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.events = append(h.events, ev)
}

func (h *statusHost) last() *componentstatus.Event {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.events) == 0 {
		return nil
	}
	return h.events[len(h.events)-1]
}

// testReceiver builds a receiver whose clock is clk and whose logs are
// observed at debug level.
func testReceiver(t testing.TB, cfg *Config, next consumer.Logs, clk *fakeclock.Clock) (*auditReceiver, *observer.ObservedLogs) {
	t.Helper()
	core, logs := observer.New(zapcore.DebugLevel)
	set := receivertest.NewNopSettings(metadata.Type)
	set.ID = component.NewIDWithName(metadata.Type, "test") // stable across restarts, as in a real config
	set.Logger = zap.New(core)
	r, err := newReceiver(cfg, set, next)
	require.NoError(t, err)
	r.now = clk.Now
	return r, logs
}

// startManual starts r without its poll loops; the test polls with pollAll.
func startManual(t *testing.T, r *auditReceiver, host component.Host) {
	t.Helper()
	startWithoutPolling(t, r, host)
	t.Cleanup(func() { require.NoError(t, r.Shutdown(context.Background())) })
}

// startWithoutPolling starts r as Start does, but for the poll loops.
func startWithoutPolling(t *testing.T, r *auditReceiver, host component.Host) {
	t.Helper()
	if _, err := r.start(context.Background(), host); err != nil {
		_ = r.Shutdown(context.Background())
		require.NoError(t, err)
	}
}

// pollAll polls every feed once, and again while a backfill is behind.
func pollAll(t *testing.T, r *auditReceiver) error {
	t.Helper()
	return r.poller.PollAll(context.Background())
}
