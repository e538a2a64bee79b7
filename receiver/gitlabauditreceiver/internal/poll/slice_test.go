// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package poll

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/consumer/consumertest"

	"github.com/kyra-mdr/otelcol-gitlab/receiver/gitlabauditreceiver/internal/gitlabapi"
	"github.com/kyra-mdr/otelcol-gitlab/receiver/gitlabauditreceiver/internal/testutil"
	"github.com/kyra-mdr/otelcol-gitlab/testbed/fakeclock"
	"github.com/kyra-mdr/otelcol-gitlab/testbed/gitlabsim"
)

// A backfill against a slow and flaky GitLab, whose audit queries fail
// beyond a 6-hour range, completes with every event emitted once and about
// one request per page: failed slices are read again in shorter slices,
// completed ones are never read again.
func TestPollBackfillProgressesUnderAFlakyGitLab(t *testing.T) {
	// The full 100,000 events without -short and -race (about 15 s);
	// 20,000 otherwise, to keep make test fast.
	count := 100_000
	if testing.Short() || testutil.RaceEnabled {
		count = 20_000
	}
	clk := fakeclock.New()
	sim, srv := testutil.NewSim(t, clk.Now, gitlabsim.Options{})
	sim.GenerateWith(gitlabsim.GenerateOptions{Count: count, From: clk.Now().Add(-71 * time.Hour), To: clk.Now().Add(-time.Minute), NoStream: true})
	sim.SetFaults(gitlabsim.Faults{
		FailShare: 0.1,                          // 500s
		SlowShare: 0.02, SlowDelay: time.Second, // beyond the client's timeout
		MaxRange: 6 * time.Hour, // statement timeouts on long ranges
		Seed:     3,
	})

	cfg := pollConfig(srv.URL)
	cfg.InitialLookback = 72 * time.Hour
	// Slow answers outlast the timeout and are retried; retries give up on
	// the long ranges that always fail.
	cfg.Timeout = 100 * time.Millisecond
	cfg.BackOff.InitialInterval = 20 * time.Millisecond
	cfg.BackOff.MaxInterval = 50 * time.Millisecond
	cfg.BackOff.MaxElapsedTime = 300 * time.Millisecond
	sink := new(consumertest.LogsSink)
	r, logs := newTestPoller(t, cfg, sink, clk)
	sim.ResetRequests()

	for i := 0; ; i++ {
		require.Less(t, i, 20, "the backfill does not complete")
		if pollAll(t, r) == nil {
			break
		}
	}

	saved := 0
	for _, e := range sim.Events() {
		if e.SavedToDatabase {
			saved++
		}
	}
	seen := map[string]int{}
	for _, id := range testutil.IDs(testutil.Records(sink.AllLogs())) {
		seen[id]++
	}
	require.Len(t, seen, saved, "every event")
	for id, n := range seen {
		require.Equal(t, 1, n, "event %s emitted %d times", id, n)
	}

	pages := (saved + 99) / 100
	reqs := sim.RequestCount()
	failed := 0
	for _, rq := range sim.Requests() {
		if rq.Status != http.StatusOK {
			failed++
		}
	}
	t.Logf("%d events, %d pages needed, %d requests (%d failed or slow, %d slices shrunk)",
		saved, pages, reqs, failed, len(logs.FilterMessage("A page of a time slice failed; reading the rest of the slice at once in shorter slices").All()))
	require.NotEmpty(t, logs.FilterMessage("A page of a time slice failed; reading the rest of the slice at once in shorter slices").All())
	// Beyond the failed requests (which retries repeat), about one request
	// per page: the last page of each slice is partial.
	assert.LessOrEqual(t, reqs-failed, pages+pages/10+2, "requests that succeeded")
	// The failed ones: the 12 % of requests hit at random, and each shrink's
	// long range, repeated by retry_on_failure until it gives up (about 7
	// attempts in 300 ms).
	shrinks := len(logs.FilterMessage("A page of a time slice failed; reading the rest of the slice at once in shorter slices").All())
	assert.LessOrEqual(t, failed, reqs*15/100+shrinks*8, "failed requests")
}

// After a slice fails for good, the next poll starts at that slice:
// completed slices of a backfill (long settled) are not read again, not
// even the overlap before the checkpoint.
func TestPollResumesAtTheFailedSlice(t *testing.T) {
	clk := fakeclock.New()
	sim, srv := testutil.NewSim(t, clk.Now, gitlabsim.Options{})
	sim.GenerateWith(gitlabsim.GenerateOptions{Count: 3000, From: clk.Now().Add(-47 * time.Hour), To: clk.Now().Add(-time.Minute), NoStream: true})
	cfg := pollConfig(srv.URL)
	cfg.InitialLookback = 48 * time.Hour
	cfg.BackOff.Enabled = false
	// GitLab starts failing for good once the second slice is emitted.
	next := &testutil.FlakyConsumer{Decide: func(call int) error {
		if call == 1 {
			sim.FailNext(1000, http.StatusServiceUnavailable)
		}
		return nil
	}}
	r, logs := newTestPoller(t, cfg, next, clk)
	f := r.feeds[0]
	f.slice.Store(int64(6 * time.Hour))

	_, _, err := r.read.poll(context.Background(), f)
	require.Error(t, err)
	assert.Equal(t, int64(minSlice), f.slice.Load(), "shrunk down to the shortest slice")
	assert.Len(t, logs.FilterMessage("A page of a time slice failed; reading the rest of the slice at once in shorter slices").All(), 6, "6h, 90m, 22m30s, 5m37s, 84s and 21s shrunk, then 10s failed")
	checkpoint := f.cp.Watermark
	assert.Equal(t, clk.Now().Add(-48*time.Hour-cfg.Overlap+12*time.Hour), checkpoint, "two 6-hour slices done")

	sim.FailNext(0, 0)
	sim.ResetRequests()
	require.NoError(t, pollAll(t, r))
	first, err := url.ParseQuery(sim.Requests()[0].Query)
	require.NoError(t, err)
	assert.Equal(t, checkpoint.Format(gitlabapi.TimeFormat), first.Get("created_after"), "resumes at the failed slice")

	seen := map[string]int{}
	for _, id := range testutil.IDs(testutil.Records(next.All())) {
		seen[id]++
	}
	assert.ElementsMatch(t, testutil.SavedIDs(sim.Events(), clk.Now().Add(-49*time.Hour), clk.Now()), keys(seen), "nothing lost")
	for id, n := range seen {
		assert.Equal(t, 1, n, "event %s emitted %d times", id, n)
	}
}

// A page that GitLab is slow to answer costs neither the request timeout
// nor a second read of what completed pages proved. Random stalls are
// hedged (the same request again, the first answer wins); a range too long
// for GitLab times out every time, and the rest of the slice is read at
// once in shorter slices that continue after the pages read (keyset
// cursor), never the same long range again.
func TestPollSlowGitLab(t *testing.T) {
	for _, tt := range []struct {
		name   string
		faults gitlabsim.Faults
		splits bool
	}{
		{"random stalls", gitlabsim.Faults{SlowShare: 0.2, SlowDelay: 3 * time.Second, Seed: 7}, false},
		{"ranges too long", gitlabsim.Faults{SlowRange: 40 * time.Minute, SlowDelay: 3 * time.Second}, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			clk := fakeclock.New()
			sim, srv := testutil.NewSim(t, clk.Now, gitlabsim.Options{})
			sim.GenerateWith(gitlabsim.GenerateOptions{Count: 3000, From: clk.Now().Add(-3 * time.Hour), To: clk.Now().Add(-time.Minute), NoStream: true})
			sim.SetFaults(tt.faults)

			cfg := pollConfig(srv.URL)
			cfg.InitialLookback = 4 * time.Hour
			cfg.Timeout = 500 * time.Millisecond
			sink := new(consumertest.LogsSink)
			r, logs := newTestPoller(t, cfg, sink, clk)
			sim.ResetRequests()
			for i := 0; ; i++ {
				require.Less(t, i, 10, "the backlog does not complete")
				if pollAll(t, r) == nil {
					break
				}
			}

			seen := map[string]int{}
			for _, id := range testutil.IDs(testutil.Records(sink.AllLogs())) {
				seen[id]++
			}
			assert.ElementsMatch(t, testutil.SavedIDs(sim.Events(), clk.Now().Add(-5*time.Hour), clk.Now()), keys(seen), "nothing lost")
			for id, n := range seen {
				require.Equal(t, 1, n, "event %s emitted %d times", id, n)
			}

			type read struct {
				cursor        string
				after, before time.Time
			}
			var ok, slow []read
			for _, rq := range sim.Requests() {
				if !strings.HasSuffix(rq.Path, "/audit_events") {
					continue
				}
				q, err := url.ParseQuery(rq.Query)
				require.NoError(t, err)
				after, err := time.Parse(time.RFC3339Nano, q.Get("created_after"))
				require.NoError(t, err)
				before, err := time.Parse(time.RFC3339Nano, q.Get("created_before"))
				require.NoError(t, err)
				rd := read{q.Get("cursor"), after, before}
				switch rq.Status {
				case http.StatusOK:
					ok = append(ok, rd)
				case gitlabsim.StatusClientClosedRequest:
					slow = append(slow, rd)
				}
			}
			require.NotEmpty(t, slow, "the faults hit")
			splits := logs.FilterMessage("A page of a time slice failed; reading the rest of the slice at once in shorter slices").Len()
			t.Logf("%d pages read, %d given up (timed out or hedged), %d splits", len(ok), len(slow), splits)
			if tt.splits {
				assert.Positive(t, splits)
				// A long range timed out: the same request (cursor and
				// range) was never sent again, except for the shortest
				// slices, which are retried.
				for i, s := range slow {
					if s.before.Sub(s.after) <= minSlice {
						continue
					}
					for _, later := range ok {
						assert.NotEqual(t, s, later, "timed-out request %d sent again with the same range", i)
					}
				}
			}
			// A completed page is never read again: two successful reads of
			// the same cursor cover ranges that meet at most at their bounds.
			for i, a := range ok {
				for _, b := range ok[i+1:] {
					if a.cursor == b.cursor {
						assert.False(t, a.after.Before(b.before) && b.after.Before(a.before), "the same page read twice: %+v and %+v", a, b)
					}
				}
			}
		})
	}
}

// GitLab (or a proxy in front of it) that sends the same next page link
// twice: the walk cannot go on. The poll fails and says so; it must not
// take the loop for the end of the window, emit what it read and move the
// checkpoint past the events it never read.
func TestPollFailsOnAPaginationLoop(t *testing.T) {
	clk := fakeclock.New()
	sim, _ := testutil.NewSim(t, clk.Now, gitlabsim.Options{})
	event := func(id int, ago time.Duration) string {
		return fmt.Sprintf(`{"id":%d,"created_at":%q,"entity_type":"User","entity_id":1,"author_id":1,"details":{}}`,
			id, clk.Now().Add(-ago).UTC().Format(time.RFC3339Nano))
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if !strings.HasSuffix(req.URL.Path, "/audit_events") {
			sim.ServeHTTP(w, req)
			return
		}
		q := req.URL.Query()
		page := event(2, time.Minute)
		if q.Get("cursor") != "" {
			page = event(1, 2*time.Minute) // and the same link again
		}
		q.Set("cursor", "A")
		w.Header().Set("Link", fmt.Sprintf(`<http://%s%s?%s>; rel="next"`, req.Host, req.URL.Path, q.Encode()))
		_, _ = w.Write([]byte("[" + page + "]"))
	}))
	t.Cleanup(srv.Close)

	sink := new(consumertest.LogsSink)
	r, _ := newTestPoller(t, pollConfig(srv.URL), sink, clk)
	f := r.feeds[0]
	before := f.cp.Watermark
	err := pollAll(t, r)
	require.ErrorIs(t, err, gitlabapi.ErrPaginationLoop)
	assert.Zero(t, sink.LogRecordCount(), "nothing of the window is emitted")
	assert.Equal(t, before, f.cp.Watermark, "the checkpoint stays")
}
