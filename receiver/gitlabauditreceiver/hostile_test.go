// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package gitlabauditreceiver

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/extension/storage/storagetest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/consumer/consumertest"

	"github.com/kyra-mdr/otelcol-gitlab/receiver/gitlabauditreceiver/internal/auditlog"
	"github.com/kyra-mdr/otelcol-gitlab/receiver/gitlabauditreceiver/internal/testutil"
	"github.com/kyra-mdr/otelcol-gitlab/testbed/fakeclock"
	"github.com/kyra-mdr/otelcol-gitlab/testbed/gitlabsim"
)

// streamEvent is a streamed event as JSON; id is written as given (a JSON
// number or string).
func streamEvent(id, entityType, createdAt string, authorID int) string {
	return fmt.Sprintf(`{"id":%s,"created_at":%q,"entity_type":%q,"entity_id":7,"author_id":%d,"event_type":"add_ssh_key","details":{}}`,
		id, createdAt, entityType, authorID)
}

// TestStreamRefusesForgedIDs sends the ids of the forged-state attack
// (issue 10.2): they are refused with a 400 naming the id, and after a
// restart with file_storage the genuine events they aimed at are emitted.
func TestStreamRefusesForgedIDs(t *testing.T) {
	storageID := storagetest.NewStorageID("file_storage")
	host := newStatusHost(storagetest.NewStorageHost().WithFileBackedStorageExtension("file_storage", t.TempDir()).GetExtensions())
	cfg := streamConfig()
	cfg.Storage = &storageID
	const at = "2026-11-25T11:00:00.000Z"

	forged := []string{
		`"zz\t1\nP:985001\t9223372036854775807\nqq"`,
		`"bad\nnotab"`,
		`"1:2"`,
		`"-5"`,
		`"1.5"`,
		`"` + strings.Repeat("9", 40) + `"`,
		`"5d9b1c1e-3f0a-4a8e-9a57-8f3c0e7c2b1z"`,
	}
	for round := range 2 {
		sink := new(consumertest.LogsSink)
		r, _ := testReceiver(t, cfg, sink, fakeclock.New())
		r.now = time.Now
		require.NoError(t, r.Start(context.Background(), host))
		url := "http://" + r.stream.Addr() + cfg.Stream.Get().Path
		if round == 0 {
			for _, id := range forged {
				a := post(t, nil, url, streamEvent(id, "Project", at, 1), withToken())
				require.Equal(t, http.StatusBadRequest, a.status, "%s: %s", id, a.raw)
				assert.Contains(t, a.body.Refused[0], "is neither a GitLab event number nor a UUID", id)
				assert.Zero(t, a.body.Accepted)
			}
			assert.Zero(t, sink.LogRecordCount())
		} else {
			a := post(t, nil, url, streamEvent("985001", "Project", at, 1), withToken())
			require.Equal(t, http.StatusOK, a.status, a.raw)
			assert.Equal(t, 1, a.body.Accepted, "the genuine event is not taken for a duplicate")
		}
		require.NoError(t, r.Shutdown(context.Background()))
	}
}

// TestStreamKeysDoNotCollide: an entity type cannot take another's key
// ("P" and "Project"), nor can the split between type and id move.
func TestStreamKeysDoNotCollide(t *testing.T) {
	sink := new(consumertest.LogsSink)
	_, url := startStream(t, streamConfig(), sink)
	const at = "2026-11-25T11:00:00.000Z"
	for _, ev := range []string{
		streamEvent("1", "Project", at, 1),
		streamEvent("1", "P", at, 1),
		streamEvent("1", "~P", at, 1),
		streamEvent("2", "X:Y", at, 1),
		streamEvent("2", "X", at, 1),
	} {
		a := post(t, nil, url, ev, withToken())
		require.Equal(t, http.StatusOK, a.status, a.raw)
		assert.Equal(t, 1, a.body.Accepted, ev)
	}
	assert.Equal(t, 5, sink.LogRecordCount())
}

// TestStreamSameIDOtherContentIsEmittedAndMarked: a later delivery of an
// id with another created_at or author is not a duplicate (issue 10.3): it
// is emitted, marked gitlab.audit.id_conflict, counted and logged once; a
// true redelivery of either content is still a duplicate.
func TestStreamSameIDOtherContentIsEmittedAndMarked(t *testing.T) {
	sink := new(consumertest.LogsSink)
	cfg := streamConfig()
	r, logs := testReceiver(t, cfg, sink, fakeclock.New())
	r.now = time.Now
	require.NoError(t, r.Start(context.Background(), newStatusHost(nil)))
	t.Cleanup(func() { require.NoError(t, r.Shutdown(context.Background())) })
	url := "http://" + r.stream.Addr() + cfg.Stream.Get().Path

	preclaim := streamEvent("985002", "Project", "2026-11-25T10:00:00.000Z", 666)
	genuine := streamEvent("985002", "Project", "2026-11-25T11:00:00.000Z", 1)
	other := streamEvent("985002", "Project", "2026-11-25T11:00:00.000Z", 2)
	for i, c := range []struct {
		body           string
		accepted, dups int
	}{
		{preclaim, 1, 0},
		{genuine, 1, 0},
		{other, 1, 0},
		{genuine, 0, 1},
		{preclaim, 0, 1},
		// The same content in another time zone is the same event.
		{strings.Replace(genuine, "11:00:00.000Z", "12:00:00.000+01:00", 1), 0, 1},
	} {
		a := post(t, nil, url, c.body, withToken())
		require.Equal(t, http.StatusOK, a.status, a.raw)
		assert.Equal(t, c.accepted, a.body.Accepted, "delivery %d", i)
		assert.Equal(t, c.dups, a.body.Duplicates, "delivery %d", i)
	}
	var marked []bool
	for _, l := range sink.AllLogs() {
		lr := l.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0)
		v, ok := lr.Attributes().Get(auditlog.AttrIDConflict)
		marked = append(marked, ok && v.Bool())
	}
	assert.Equal(t, []bool{false, true, true}, marked)
	assert.Len(t, logs.FilterMessageSnippet("delivered again with other content").All(), 1, "logged once")
}

// TestStreamCannotFlushTheDedupSet: a request holding more events than
// half the set is refused whole (413); the set never holds more than
// max_entries; ids evicted before they expire are counted (issue 10.6).
func TestStreamCannotFlushTheDedupSet(t *testing.T) {
	sink := new(consumertest.LogsSink)
	cfg := streamConfig()
	cfg.Dedup.MaxEntries = 100
	r, url := startStream(t, cfg, sink)

	batch := func(from, n int) string {
		evs := make([]string, n)
		for i := range evs {
			evs[i] = streamEvent(fmt.Sprint(from+i), "Project", "2026-11-25T11:00:00.000Z", 1)
		}
		return "[" + strings.Join(evs, ",") + "]"
	}
	a := post(t, nil, url, batch(0, 51), withToken())
	require.Equal(t, http.StatusRequestEntityTooLarge, a.status, a.raw)
	assert.Contains(t, a.body.Error, "at most 50")
	assert.Zero(t, sink.LogRecordCount())

	a = post(t, nil, url, batch(0, 50), withToken())
	require.Equal(t, http.StatusOK, a.status, a.raw)
	assert.Equal(t, 50, a.body.Accepted)
	for i := 1; i < 4; i++ {
		a = post(t, nil, url, batch(50*i, 50), withToken())
		require.Equal(t, http.StatusOK, a.status, a.raw)
		entries, _ := r.core.DedupStats()
		assert.LessOrEqual(t, entries, 100)
	}
	entries, evicted := r.core.DedupStats()
	assert.Equal(t, 100, entries)
	assert.Equal(t, int64(100), evicted, "the 100 oldest ids were evicted before they expired")
	a = post(t, nil, url, batch(150, 50), withToken())
	assert.Equal(t, 50, a.body.Duplicates, "the newest 100 are remembered")
}

// TestPollSkipsInvalidIDs: an event GitLab returned with an id that is
// neither a number nor a UUID is skipped, counted invalid and logged; the
// others are emitted.
func TestPollSkipsInvalidIDs(t *testing.T) {
	clk := fakeclock.New()
	sim, _ := testutil.NewSim(t, clk.Now, gitlabsim.Options{})
	sim.Generate(20, clk.Now().Add(-time.Hour), clk.Now().Add(-time.Minute))
	// The simulator's answer, with the first event's id made a string
	// holding a tab and a newline.
	forgedID := regexp.MustCompile(`^\[\{"id":\d+`)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		rec := httptest.NewRecorder()
		sim.ServeHTTP(rec, req)
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.Header().Del("Content-Length")
		w.WriteHeader(rec.Code)
		_, _ = w.Write(forgedID.ReplaceAll(rec.Body.Bytes(), []byte(`[{"id":"P:1\t9\nx"`)))
	}))
	t.Cleanup(srv.Close)

	sink := new(consumertest.LogsSink)
	r, logs := testReceiver(t, pollConfig(srv.URL), sink, clk)
	startManual(t, r, newStatusHost(nil))
	require.NoError(t, pollAll(t, r))
	want := testutil.SavedIDs(sim.Events(), clk.Now().Add(-24*time.Hour), clk.Now())
	assert.Len(t, testutil.IDs(testutil.Records(sink.AllLogs())), len(want)-1)
	skipped := logs.FilterMessage("Skipping an event GitLab returned that cannot be read").All()
	require.Len(t, skipped, 1)
	assert.Contains(t, skipped[0].ContextMap()["error"], "neither a GitLab event number nor a UUID")
}
