// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package emit

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/extension/xextension/storage"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/receiver/receiverhelper"
	"go.opentelemetry.io/collector/receiver/receivertest"
	"go.uber.org/zap"

	"github.com/kyra-mdr/otelcol-gitlab/receiver/gitlabauditreceiver/internal/auditlog"
	"github.com/kyra-mdr/otelcol-gitlab/receiver/gitlabauditreceiver/internal/metadata"
	"github.com/kyra-mdr/otelcol-gitlab/testbed/fakeclock"
)

// recordingEnricher marks every record it sees and counts them.
type recordingEnricher struct {
	mu   sync.Mutex
	seen int
}

func (e *recordingEnricher) Enrich(_ context.Context, records plog.LogRecordSlice) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for i := 0; i < records.Len(); i++ {
		records.At(i).Attributes().PutStr("enriched", "yes")
		e.seen++
	}
}

// newTestCore returns a core on next with an in-memory state, and the
// emitters of both paths.
func newTestCore(t *testing.T, next consumer.Logs, enricher Enricher, client storage.Client) (*Core, *Emitter, *Emitter) {
	t.Helper()
	set := receivertest.NewNopSettings(metadata.Type)
	tel, err := metadata.NewTelemetryBuilder(set.TelemetrySettings)
	require.NoError(t, err)
	clk := fakeclock.New()
	c, err := NewCore(context.Background(), Settings{
		Next: next, MaxEntries: 1000, TTL: time.Hour, Storage: client, Enricher: enricher,
		Telemetry: tel, Logger: zap.NewNop(), Now: clk.Now,
	})
	require.NoError(t, err)
	t.Cleanup(func() {
		tel.Shutdown()
		require.NoError(t, c.Close(context.Background()))
	})
	obs, err := receiverhelper.NewObsReport(receiverhelper.ObsReportSettings{ReceiverID: set.ID, Transport: "test", ReceiverCreateSettings: set})
	require.NoError(t, err)
	return c, c.Emitter(auditlog.SourceStream, obs), c.Emitter(auditlog.SourcePoll, obs)
}

func event(id int) string {
	return `{"id":` + strconv.Itoa(id) + `,"created_at":"2026-11-25T11:00:00.000Z","author_id":1,"entity_id":7,"entity_type":"Project","details":{"event_name":"project_created"}}`
}

// TestEnrichmentStageSeesOwnedRecordsOnBothPaths: the enrichment stage runs
// on every record about to be emitted, and on nothing else (no duplicate),
// on both paths, before the pipeline sees them.
func TestEnrichmentStageSeesOwnedRecordsOnBothPaths(t *testing.T) {
	sink := new(consumertest.LogsSink)
	enricher := &recordingEnricher{}
	_, stream, poll := newTestCore(t, sink, enricher, nil)
	ctx := context.Background()

	// The stream delivers event 1 twice: the second is a duplicate.
	for range 2 {
		var counts Counts
		lr := plog.NewLogRecord()
		ev, ok, err := stream.Admit(&counts, lr, event(1), "", pcommon.Timestamp(1))
		require.NoError(t, err)
		require.True(t, ok)
		_, err = stream.EmitAll(ctx, &counts, []Pending{{Key: ev.Key, Record: lr}}, time.Second)
		require.NoError(t, err)
	}
	// The poller reads events 1 to 5: 1 is a duplicate.
	var counts Counts
	b := poll.NewBatch()
	for id := 1; id <= 5; id++ {
		lr := plog.NewLogRecord()
		ev, ok, err := poll.Admit(&counts, lr, event(id), "", pcommon.Timestamp(1))
		require.NoError(t, err)
		require.True(t, ok)
		require.NotEqual(t, ClaimInFlight, poll.Offer(&counts, b, ev.Key, lr).State)
	}
	n, err := poll.Deliver(ctx, b, nil)
	require.NoError(t, err)
	assert.Equal(t, 4, n, "what the pipeline accepted")
	assert.Equal(t, 1, counts.Duplicates)

	assert.Equal(t, 5, sink.LogRecordCount())
	enricher.mu.Lock()
	assert.Equal(t, 5, enricher.seen, "once per emitted record, never for a duplicate")
	enricher.mu.Unlock()
	for _, l := range sink.AllLogs() {
		lrs := l.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords()
		for i := 0; i < lrs.Len(); i++ {
			v, ok := lrs.At(i).Attributes().Get("enriched")
			assert.True(t, ok && v.Str() == "yes")
		}
	}
}

// TestDeliverSaysWhatThePipelineAccepted: all of a batch, or none; a
// refused batch is released, so the same events can be delivered again.
func TestDeliverSaysWhatThePipelineAccepted(t *testing.T) {
	var refuse atomic.Bool
	refuse.Store(true)
	next, err := consumer.NewLogs(func(context.Context, plog.Logs) error {
		if refuse.Load() {
			return errors.New("queue full")
		}
		return nil
	})
	require.NoError(t, err)
	_, _, poll := newTestCore(t, next, nil, nil)
	ctx := context.Background()
	batch := func() *Batch {
		var counts Counts
		b := poll.NewBatch()
		for id := 1; id <= 3; id++ {
			lr := plog.NewLogRecord()
			ev, _, err := poll.Admit(&counts, lr, event(id), "", 1)
			require.NoError(t, err)
			require.Equal(t, ClaimOwned, poll.Offer(&counts, b, ev.Key, lr).State)
		}
		return b
	}
	n, err := poll.Deliver(ctx, batch(), func() []*storage.Operation { t.Fatal("not accepted"); return nil })
	assert.Zero(t, n)
	require.True(t, IsPipeline(err))

	refuse.Store(false)
	accepted := false
	n, err = poll.Deliver(ctx, batch(), func() []*storage.Operation { accepted = true; return nil })
	require.NoError(t, err)
	assert.Equal(t, 3, n)
	assert.True(t, accepted)
}
