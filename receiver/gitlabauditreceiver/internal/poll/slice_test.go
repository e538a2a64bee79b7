// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package poll

import (
	"context"
	"net/http"
	"net/url"
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
		saved, pages, reqs, failed, len(logs.FilterMessage("Reading a failed time slice again in shorter slices").All()))
	require.NotEmpty(t, logs.FilterMessage("Reading a failed time slice again in shorter slices").All())
	// Beyond the failed requests (which retries repeat), about one request
	// per page: the last page of each slice is partial.
	assert.LessOrEqual(t, reqs-failed, pages+pages/10+2, "requests that succeeded")
	// The failed ones: the 12 % of requests hit at random, and each shrink's
	// long range, repeated by retry_on_failure until it gives up (about 7
	// attempts in 300 ms).
	shrinks := len(logs.FilterMessage("Reading a failed time slice again in shorter slices").All())
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
	assert.Len(t, logs.FilterMessage("Reading a failed time slice again in shorter slices").All(), 6, "6h, 90m, 22m30s, 5m37s, 84s and 21s shrunk, then 10s failed")
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
