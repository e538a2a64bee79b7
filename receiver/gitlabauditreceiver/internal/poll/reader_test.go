// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package poll

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/kyra-mdr/otelcol-gitlab/receiver/gitlabauditreceiver/internal/emit"
	"github.com/kyra-mdr/otelcol-gitlab/testbed/fakeclock"
)

// A spilled window that cannot be read on (its temporary file fails) ends
// the poll with an error; the events already claimed for the batch not yet
// handed over are released with it. Held, they would make the next poll
// of the feed, and the stream, wait for a delivery that never comes.
func TestWindowReadErrorReleasesItsClaims(t *testing.T) {
	clk := fakeclock.New()
	sink := new(consumertest.LogsSink)
	p, _ := newTestPoller(t, pollConfig("http://127.0.0.1:1"), sink, clk)
	f := p.feeds[0]
	base := clk.Now().Add(-time.Hour)
	event := func(id int, at time.Duration) string {
		return `{"id":` + strconv.Itoa(id) + `,"created_at":"` + base.Add(at).UTC().Format(time.RFC3339Nano) +
			`","entity_type":"Project","entity_id":1,"author_id":1,"details":{}}`
	}

	// Two pages, newest first as GitLab serves them; a threshold of one
	// byte spills both to the window's temporary file.
	w := newWindowBuffer(1, base)
	defer w.close()
	_, err := w.addPage(`[` + event(2, 2*time.Minute) + `]`)
	require.NoError(t, err)
	older := event(1, time.Minute)
	_, err = w.addPage(`[` + older + `]`)
	require.NoError(t, err)
	require.True(t, w.spilled())
	// The newer page no longer reads back as JSON: the older event is
	// claimed for the batch, then reading on fails.
	_, err = w.file.WriteAt([]byte("{"), w.pages[0].off)
	require.NoError(t, err)
	require.NoError(t, w.sort())

	n, err := p.read.emitWindow(context.Background(), f, w)
	require.Error(t, err)
	require.Zero(t, n)
	require.Zero(t, sink.LogRecordCount())

	// The next poll offers the older event again: it is free to emit.
	var counts emit.Counts
	lr := plog.NewLogRecord()
	ev, ok, err := p.read.emit.Admit(&counts, lr, older, "", pcommon.NewTimestampFromTime(clk.Now()))
	require.NoError(t, err)
	require.True(t, ok)
	b := p.read.emit.NewBatch()
	require.Equal(t, emit.ClaimOwned, p.read.emit.Offer(&counts, b, ev.Key, lr).State)
	accepted, err := p.read.emit.Deliver(context.Background(), b, nil)
	require.NoError(t, err)
	require.Equal(t, 1, accepted)
	require.Equal(t, 1, sink.LogRecordCount())
}
