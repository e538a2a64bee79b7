// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package gitlabsim

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// received is one request a test destination got.
type received struct {
	header http.Header
	body   []byte
}

// destination is an httptest streaming destination that records requests.
type destination struct {
	*httptest.Server
	mu     sync.Mutex
	reqs   []received
	status int
}

func newDestination(t *testing.T, status int) *destination {
	t.Helper()
	d := &destination{status: status}
	d.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		d.mu.Lock()
		d.reqs = append(d.reqs, received{header: r.Header.Clone(), body: b})
		d.mu.Unlock()
		w.WriteHeader(d.status)
	}))
	t.Cleanup(d.Close)
	return d
}

func (d *destination) requests() []received {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]received(nil), d.reqs...)
}

// streamIDs returns the ids of the events of a body (object or array).
func streamIDs(t *testing.T, body []byte) []string {
	t.Helper()
	type doc struct {
		ID        any    `json:"id"`
		EventType string `json:"event_type"`
	}
	var docs []doc
	if len(body) > 0 && body[0] == '[' {
		require.NoError(t, json.Unmarshal(body, &docs))
	} else {
		var one doc
		require.NoError(t, json.Unmarshal(body, &one))
		docs = []doc{one}
	}
	var out []string
	for _, d := range docs {
		switch id := d.ID.(type) {
		case string:
			out = append(out, id)
		case float64:
			out = append(out, jsonNumber(id))
		}
		require.NotEmpty(t, d.EventType)
	}
	return out
}

func jsonNumber(f float64) string {
	b, _ := json.Marshal(f)
	return string(b)
}

func sampleEvents(t *testing.T, n int) []StoredEvent {
	t.Helper()
	s := New(Options{Seed: 21, LegacyShare: 0.2})
	evs := s.Generate(n, baseTime, baseTime.Add(time.Hour))
	var saved, streamOnly bool
	for _, e := range evs {
		saved = saved || e.SavedToDatabase
		streamOnly = streamOnly || !e.SavedToDatabase
	}
	require.True(t, saved && streamOnly, "a mix of saved and stream-only events")
	return evs
}

func TestStreamSingleMode(t *testing.T) {
	dest := newDestination(t, http.StatusOK)
	evs := sampleEvents(t, 60)
	var deliveries []Delivery
	st := &Streamer{
		URL:          dest.URL + "/logs",
		Token:        "verification-token-24chr",
		ExtraHeaders: map[string]string{"X-Panther-Gitlab": "shared"},
		OnDelivery:   func(d Delivery) { deliveries = append(deliveries, d) },
	}
	stats, err := st.Send(context.Background(), evs)
	require.NoError(t, err)
	assert.Equal(t, Stats{Events: 60, Deliveries: 60, Requests: 60, Succeeded: 60, StatusCodes: map[int]int{200: 60}}, stats)
	reqs := dest.requests()
	require.Len(t, reqs, 60)
	for i, r := range reqs {
		assert.Equal(t, "application/x-www-form-urlencoded", r.header.Get("Content-Type"))
		assert.Equal(t, "verification-token-24chr", r.header.Get(TokenHeader))
		assert.Equal(t, "shared", r.header.Get("X-Panther-Gitlab"))
		assert.Equal(t, evs[i].StreamType, r.header.Get(EventTypeHeader))
		assert.Equal(t, evs[i].StreamJSON, r.body)
		assert.Equal(t, []string{evs[i].StreamID}, streamIDs(t, r.body))
	}
	require.Len(t, deliveries, 60)
	assert.Equal(t, http.StatusOK, deliveries[0].Status)
	assert.Equal(t, evs[0].StreamType, deliveries[0].EventType)

	// A destination configured with content-type: application/json.
	st.ContentType = "application/json"
	_, err = st.Send(context.Background(), evs[:1])
	require.NoError(t, err)
	assert.Equal(t, "application/json", dest.requests()[60].header.Get("Content-Type"))
}

func TestStreamBatchMode(t *testing.T) {
	dest := newDestination(t, http.StatusOK)
	evs := sampleEvents(t, 20)
	st := &Streamer{URL: dest.URL, Token: "tok", Batch: true, BatchSize: 7}
	stats, err := st.Send(context.Background(), evs)
	require.NoError(t, err)
	assert.Equal(t, 3, stats.Requests)
	assert.Equal(t, 20, stats.Deliveries)
	var ids []string
	for _, r := range dest.requests() {
		assert.Empty(t, r.header.Values(EventTypeHeader), "no event type header in batch mode")
		assert.Equal(t, "tok", r.header.Get(TokenHeader))
		assert.Equal(t, byte('['), r.body[0])
		ids = append(ids, streamIDs(t, r.body)...)
	}
	var want []string
	for _, e := range evs {
		want = append(want, e.StreamID)
	}
	assert.Equal(t, want, ids)
}

func TestStreamDuplicates(t *testing.T) {
	evs := sampleEvents(t, 500)
	for _, batch := range []bool{false, true} {
		dest := newDestination(t, http.StatusOK)
		st := &Streamer{URL: dest.URL, Token: "tok", DuplicateRatio: 0.3, Seed: 1, Batch: batch}
		stats, err := st.Send(context.Background(), evs)
		require.NoError(t, err)
		assert.InDelta(t, 150, stats.Duplicates, 50)
		assert.Equal(t, 500+stats.Duplicates, stats.Deliveries)
		counts := map[string]int{}
		for _, r := range dest.requests() {
			for _, id := range streamIDs(t, r.body) {
				counts[id]++
			}
		}
		assert.Len(t, counts, 500, "every event arrives")
		twice := 0
		for _, c := range counts {
			require.LessOrEqual(t, c, 2)
			if c == 2 {
				twice++
			}
		}
		assert.Equal(t, stats.Duplicates, twice)

		// The same seed duplicates the same events.
		again, err := (&Streamer{URL: dest.URL, DuplicateRatio: 0.3, Seed: 1, Batch: batch}).Send(context.Background(), evs)
		require.NoError(t, err)
		assert.Equal(t, stats.Duplicates, again.Duplicates)
	}
}

func TestStreamFailuresAreNotRetried(t *testing.T) {
	evs := sampleEvents(t, 10)
	failing := newDestination(t, http.StatusInternalServerError)
	stats, err := (&Streamer{URL: failing.URL}).Send(context.Background(), evs)
	require.NoError(t, err, "like GitLab, answers are ignored")
	assert.Equal(t, 10, stats.Requests)
	assert.Equal(t, 10, stats.Failed)
	assert.Equal(t, map[int]int{500: 10}, stats.StatusCodes)
	assert.Len(t, failing.requests(), 10, "no retry")

	gone := httptest.NewServer(http.NotFoundHandler())
	url := gone.URL
	gone.Close()
	stats, err = (&Streamer{URL: url}).Send(context.Background(), evs[:3])
	require.NoError(t, err)
	assert.Equal(t, 3, stats.TransportErrors)
	assert.Equal(t, 3, stats.Failed)

	_, err = (&Streamer{URL: "ftp://example.com/x"}).Send(context.Background(), evs)
	require.Error(t, err)
	_, err = (&Streamer{URL: "::"}).Send(context.Background(), evs)
	require.Error(t, err)

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = (&Streamer{URL: failing.URL}).Send(ctx, evs)
	assert.ErrorIs(t, err, context.Canceled)
}

func TestStreamTimeout(t *testing.T) {
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	}))
	defer slow.Close()
	start := time.Now()
	stats, err := (&Streamer{URL: slow.URL, Timeout: 50 * time.Millisecond}).Send(context.Background(), sampleEvents(t, 60)[:2])
	require.NoError(t, err)
	assert.Equal(t, 2, stats.TransportErrors)
	assert.Less(t, time.Since(start), 3*time.Second)
}

func TestSimStreamsWhatItInserts(t *testing.T) {
	dest := newDestination(t, http.StatusAccepted)
	st := &Streamer{URL: dest.URL, Token: "tok"}
	s, srv := newSim(t, Options{Seed: 8, StreamTo: st})
	one := insertAt(s, "project_archived", projectE(100), 2, baseTime)
	gen := s.Generate(40, baseTime, baseTime.Add(time.Minute))
	s.GenerateWith(GenerateOptions{Count: 30, From: baseTime, To: baseTime, NoStream: true})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, s.Flush(ctx))

	want := map[string]bool{one.StreamID: true}
	for _, e := range gen {
		want[e.StreamID] = true
	}
	got := map[string]bool{}
	for _, r := range dest.requests() {
		for _, id := range streamIDs(t, r.body) {
			got[id] = true
		}
	}
	assert.Equal(t, want, got)
	stats := s.StreamStats()
	assert.Equal(t, 41, stats.Events)
	assert.Equal(t, map[int]int{http.StatusAccepted: 41}, stats.StatusCodes)

	// REST and stream carry the same id for saved events.
	r := get(t, srv.URL+"/api/v4/projects/100/audit_events", adminToken)
	assert.Contains(t, r.ids(t), one.ID)
	assert.Equal(t, "1", one.StreamID)

	require.NoError(t, s.Close())
	require.ErrorIs(t, s.Close(), ErrClosed)
	insertAt(s, "project_archived", projectE(100), 2, baseTime) // dropped, no panic
	assert.Equal(t, http.StatusOK, get(t, srv.URL+"/api/v4/audit_events", adminToken).status, "REST keeps working")

	plain := New(Options{})
	assert.NoError(t, plain.Flush(ctx))
	assert.NoError(t, plain.Close())
	assert.Zero(t, plain.StreamStats().Events)
}

func TestStatsAdd(t *testing.T) {
	var s Stats
	s.Add(Stats{Events: 1, Requests: 2, StatusCodes: map[int]int{200: 2}})
	s.Add(Stats{Events: 1, Failed: 1, TransportErrors: 1})
	assert.Equal(t, Stats{Events: 2, Requests: 2, Failed: 1, TransportErrors: 1, StatusCodes: map[int]int{200: 2}}, s)
}
