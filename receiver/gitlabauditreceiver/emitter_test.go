// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package gitlabauditreceiver

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/kyra-mdr/otelcol-gitlab/testbed/gitlabsim"
)

// TestBeforeConsumeSeesOwnedRecordsOnBothPaths: the enrichment hook runs on
// every record about to be emitted, and on nothing else (no duplicate), on
// both paths, before the pipeline sees them.
func TestBeforeConsumeSeesOwnedRecordsOnBothPaths(t *testing.T) {
	clk := newFakeClock()
	sim, srv := newTestSim(t, clk, gitlabsim.Options{})
	sim.Generate(30, clk.Now().Add(-time.Hour), clk.Now().Add(-time.Minute))

	cfg := pollConfig(srv.URL)
	s := cfg.Stream.GetOrInsertDefault()
	s.NetAddr.Endpoint = "127.0.0.1:0"
	s.VerificationTokens = streamConfig().Stream.Get().VerificationTokens
	sink := new(consumertest.LogsSink)
	r, _ := testReceiver(t, cfg, sink, clk)
	startManual(t, r, newStatusHost(nil))

	var mu sync.Mutex
	seen := 0
	hook := func(_ context.Context, records plog.LogRecordSlice) {
		mu.Lock()
		defer mu.Unlock()
		for i := 0; i < records.Len(); i++ {
			records.At(i).Attributes().PutStr("enriched", "yes")
			seen++
		}
	}
	r.stream.emit.beforeConsume = hook
	r.poller.emit.beforeConsume = hook

	url := "http://" + r.stream.addr + cfg.Stream.Get().Path
	ev := streamEvent("424242", "Project", "2026-11-25T11:00:00.000Z", 1)
	for range 2 { // the second delivery is a duplicate
		a := post(t, nil, url, ev, withToken())
		require.Equal(t, http.StatusOK, a.status, a.raw)
	}
	require.NoError(t, pollAll(t, r))

	total := sink.LogRecordCount()
	assert.Equal(t, 1+len(savedIDs(sim.Events(), clk.Now().Add(-24*time.Hour), clk.Now())), total)
	mu.Lock()
	assert.Equal(t, total, seen, "once per emitted record, never for a duplicate")
	mu.Unlock()
	for _, l := range sink.AllLogs() {
		lrs := l.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords()
		for i := 0; i < lrs.Len(); i++ {
			v, ok := lrs.At(i).Attributes().Get("enriched")
			assert.True(t, ok && v.Str() == "yes")
		}
	}
}
