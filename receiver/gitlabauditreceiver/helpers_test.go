// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package gitlabauditreceiver

import (
	"context"
	"net/http/httptest"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componentstatus"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/receiver/receivertest"
	"go.uber.org/goleak"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/kyra-mdr/otelcol-gitlab/receiver/gitlabauditreceiver/internal/auditlog"
	"github.com/kyra-mdr/otelcol-gitlab/receiver/gitlabauditreceiver/internal/metadata"
	"github.com/kyra-mdr/otelcol-gitlab/testbed/gitlabsim"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const (
	adminToken  = "glpat-admin-0123456789abcdefABCDEF"
	streamToken = "stream-verification-token-0123"
)

// newTestSim starts a simulated GitLab on loopback whose clock is clk.
func newTestSim(t *testing.T, clk *fakeClock, opts gitlabsim.Options) (*gitlabsim.Sim, *httptest.Server) {
	t.Helper()
	if opts.Tokens == nil {
		opts.Tokens = map[string]gitlabsim.Token{adminToken: {UserID: 1, Admin: true}}
	}
	if opts.Now == nil {
		opts.Now = clk.Now
	}
	if opts.Seed == 0 {
		opts.Seed = 42
	}
	sim := gitlabsim.New(opts)
	sim.Populate(3, 6)
	srv := httptest.NewServer(sim)
	t.Cleanup(func() {
		srv.Close()
		_ = sim.Close()
	})
	return sim, srv
}

// pollConfig is a valid polling configuration against endpoint, without
// enrichment: tests that count API requests count the polls' (enrichment
// tests turn it on).
func pollConfig(endpoint string) *Config {
	cfg := createDefaultConfig().(*Config)
	cfg.Endpoint = endpoint
	cfg.Token = adminToken
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
func testReceiver(t testing.TB, cfg *Config, next consumer.Logs, clk *fakeClock) (*auditReceiver, *observer.ObservedLogs) {
	t.Helper()
	core, logs := observer.New(zapcore.DebugLevel)
	set := receivertest.NewNopSettings(metadata.Type)
	set.ID = component.NewIDWithName(metadata.Type, "test") // stable across restarts, as in a real config
	set.Logger = zap.New(core)
	r, err := newReceiver(cfg, set, next)
	require.NoError(t, err)
	r.now = clk.Now
	r.dedup.now = clk.Now
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
	var firstErr error
	for _, f := range r.poller.feeds {
		for {
			behind, err := f.poll(context.Background())
			if err != nil {
				f.failed(context.Background(), err)
				if firstErr == nil {
					firstErr = err
				}
				break
			}
			f.succeeded()
			if !behind {
				break
			}
		}
	}
	return firstErr
}

// emitted lists the records a sink received, in order.
type emittedRecord struct {
	id, typ, source string
	ts              time.Time
}

func records(all []plog.Logs) []emittedRecord {
	var out []emittedRecord
	for _, l := range all {
		for i := 0; i < l.ResourceLogs().Len(); i++ {
			sls := l.ResourceLogs().At(i).ScopeLogs()
			for j := 0; j < sls.Len(); j++ {
				lrs := sls.At(j).LogRecords()
				for k := 0; k < lrs.Len(); k++ {
					lr := lrs.At(k)
					id, _ := lr.Attributes().Get(auditlog.AttrEventID)
					typ, _ := lr.Attributes().Get(auditlog.AttrEventType)
					src, _ := lr.Attributes().Get(auditlog.AttrSource)
					out = append(out, emittedRecord{id: id.Str(), typ: typ.Str(), source: src.Str(), ts: lr.Timestamp().AsTime()})
				}
			}
		}
	}
	return out
}

func ids(recs []emittedRecord) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = r.id
	}
	return out
}

// savedIDs are the ids of the REST-visible events created in [from, to].
func savedIDs(evs []gitlabsim.StoredEvent, from, to time.Time) []string {
	var out []string
	for _, e := range evs {
		if e.SavedToDatabase && !e.CreatedAt.Before(from) && !e.CreatedAt.After(to) {
			out = append(out, strconv.FormatInt(e.ID, 10))
		}
	}
	slices.Sort(out)
	return out
}

func sorted(s []string) []string {
	c := slices.Clone(s)
	slices.Sort(c)
	return c
}

// flakyConsumer accepts a batch into its sink unless decide, given the
// call number (from 0), returns an error.
type flakyConsumer struct {
	mu     sync.Mutex
	decide func(call int) error
	calls  int
	sink   []plog.Logs
}

func (c *flakyConsumer) Capabilities() consumer.Capabilities { return consumer.Capabilities{} }

func (c *flakyConsumer) ConsumeLogs(_ context.Context, l plog.Logs) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.calls
	c.calls++
	if c.decide != nil {
		if err := c.decide(n); err != nil {
			return err
		}
	}
	c.sink = append(c.sink, l)
	return nil
}

func (c *flakyConsumer) setDecide(f func(int) error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.decide = f
}

func (c *flakyConsumer) all() []plog.Logs {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.sink)
}
