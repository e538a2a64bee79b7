// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package poll

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/extension/storage/storagetest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/extension/xextension/storage"
	"go.uber.org/zap/zapcore"

	"github.com/kyra-mdr/otelcol-gitlab/receiver/gitlabauditreceiver/internal/gitlabapi"
	"github.com/kyra-mdr/otelcol-gitlab/receiver/gitlabauditreceiver/internal/metadata"
	"github.com/kyra-mdr/otelcol-gitlab/receiver/gitlabauditreceiver/internal/testutil"
	"github.com/kyra-mdr/otelcol-gitlab/testbed/fakeclock"
	"github.com/kyra-mdr/otelcol-gitlab/testbed/gitlabsim"
)

func TestPollEmitsEveryEventOnceOldestFirst(t *testing.T) {
	clk := fakeclock.New()
	sim, srv := testutil.NewSim(t, clk.Now, gitlabsim.Options{})
	start := clk.Now()
	sim.Generate(1234, start.Add(-6*time.Hour), start.Add(-time.Minute))

	sink := new(consumertest.LogsSink)
	r, logs := newTestPoller(t, pollConfig(srv.URL), sink, clk)

	sim.ResetRequests()
	require.NoError(t, pollAll(t, r))
	got := testutil.Records(sink.AllLogs())
	want := testutil.SavedIDs(sim.Events(), start.Add(-24*time.Hour), start)
	require.Len(t, want, len(got))
	assert.Equal(t, want, testutil.Sorted(testutil.IDs(got)), "every REST-visible event exactly once")
	assert.True(t, slices.IsSortedFunc(got, func(a, b testutil.Record) int { return a.TS.Compare(b.TS) }), "oldest first")
	assert.Equal(t, (len(want)+99)/100, sim.RequestCount(), "one request per page of 100, nothing more")

	// New events, including some in the same millisecond as the boundary.
	clk.Add(time.Minute)
	fresh := sim.Generate(57, start.Add(-time.Second), clk.Now().Add(-3*time.Second))
	sink.Reset()
	require.NoError(t, pollAll(t, r))
	assert.Equal(t, testutil.SavedIDs(fresh, start.Add(-time.Hour), clk.Now()), testutil.Sorted(testutil.IDs(testutil.Records(sink.AllLogs()))))

	// The first poll says so at info level, the next ones at debug level.
	require.Len(t, logs.FilterMessage("Polling GitLab audit events").All(), 1)
	assert.Equal(t, "instance", logs.FilterMessage("Polling GitLab audit events").All()[0].ContextMap()["feed"])
	assert.NotEmpty(t, logs.FilterMessage("Polled GitLab audit events").All())

	// An idle feed costs one request per poll and emits nothing.
	for range 3 {
		clk.Add(time.Minute)
		sink.Reset()
		sim.ResetRequests()
		require.NoError(t, pollAll(t, r))
		assert.Equal(t, 1, sim.RequestCount(), "%+v", sim.Requests())
		assert.Zero(t, sink.LogRecordCount())
	}
}

func TestPollLateCommitInsideOverlapIsDelivered(t *testing.T) {
	clk := fakeclock.New()
	sim, srv := testutil.NewSim(t, clk.Now, gitlabsim.Options{})
	sim.Generate(300, clk.Now().Add(-time.Hour), clk.Now().Add(-time.Minute))

	sink := new(consumertest.LogsSink)
	r, _ := newTestPoller(t, pollConfig(srv.URL), sink, clk)
	require.NoError(t, pollAll(t, r))
	first := sink.LogRecordCount()

	// A transaction commits late: a higher id, created 4 minutes before the
	// checkpoint, inside the 10-minute overlap.
	clk.Add(time.Minute)
	ev, err := sim.BuildEvent("user_disable_two_factor", clk.Now().Add(-5*time.Minute), false)
	require.NoError(t, err)
	late := sim.Insert(ev)
	sink.Reset()
	require.NoError(t, pollAll(t, r))
	got := testutil.IDs(testutil.Records(sink.AllLogs()))
	assert.Equal(t, []string{fmt.Sprint(late.ID)}, got, "the late event and nothing else (the %d earlier ones are not re-emitted)", first)
}

func TestPollRestartFromStoredCheckpoint(t *testing.T) {
	clk := fakeclock.New()
	sim, srv := testutil.NewSim(t, clk.Now, gitlabsim.Options{})
	sim.Generate(450, clk.Now().Add(-3*time.Hour), clk.Now().Add(-time.Minute))
	ext := storagetest.NewStorageHost().WithFileBackedStorageExtension("file_storage", t.TempDir()).
		GetExtensions()[storagetest.NewStorageID("file_storage")].(storage.Extension)
	openStorage := func() storage.Client {
		client, err := ext.GetClient(context.Background(), component.KindReceiver, component.NewIDWithName(metadata.Type, "test"), "")
		require.NoError(t, err)
		return client
	}

	cfg := pollConfig(srv.URL)
	cfg.Storage = openStorage()
	cfg.Groups = []string{"acme"}

	sink := new(consumertest.LogsSink)
	r1, _ := newTestPoller(t, cfg, sink, clk)
	require.NoError(t, pollAll(t, r1))
	r1.close()
	before := testutil.IDs(testutil.Records(sink.AllLogs()))
	require.NotEmpty(t, before)

	// While down: time passes and more events are recorded.
	clk.Add(30 * time.Minute)
	sim.Generate(120, clk.Now().Add(-29*time.Minute), clk.Now().Add(-5*time.Second))

	cfg.Storage = openStorage()
	r2, logs := newTestPoller(t, cfg, sink, clk)
	require.NoError(t, pollAll(t, r2))
	all := testutil.IDs(testutil.Records(sink.AllLogs()))
	assert.Len(t, logs.FilterMessage("Resuming from the stored checkpoint").All(), 2, "both feeds resume: %v", logs.All())

	seen := map[string]int{}
	for _, id := range all {
		seen[id]++
	}
	for id, n := range seen {
		assert.Equal(t, 1, n, "event %s emitted %d times", id, n)
	}
	assert.ElementsMatch(t, testutil.SavedIDs(sim.Events(), clk.Now().Add(-24*time.Hour), clk.Now()), keys(seen), "nothing lost")
}

func keys(m map[string]int) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestPollConsumerErrorDoesNotMoveTheCheckpoint(t *testing.T) {
	clk := fakeclock.New()
	sim, srv := testutil.NewSim(t, clk.Now, gitlabsim.Options{})
	sim.Generate(2500, clk.Now().Add(-2*time.Hour), clk.Now().Add(-time.Minute))
	want := testutil.SavedIDs(sim.Events(), clk.Now().Add(-24*time.Hour), clk.Now())

	// The first batch of 1000 is accepted, the next ones are refused.
	refusal := errors.New("memory limiter: data refused")
	next := &testutil.FlakyConsumer{Decide: func(call int) error {
		if call >= 1 {
			return refusal
		}
		return nil
	}}
	r, logs := newTestPoller(t, pollConfig(srv.URL), next, clk)

	f := r.feeds[0]
	err := pollAll(t, r)
	require.ErrorIs(t, err, refusal)
	accepted := testutil.Records(next.All())
	require.Len(t, accepted, maxBatchRecords)
	assert.True(t, accepted[len(accepted)-1].TS.Equal(f.cp.Watermark), "the checkpoint is the last accepted event, not beyond: %s", f.cp.Watermark)
	pipelineErrs := logs.FilterMessage("Polling GitLab audit events failed").All()
	require.Len(t, pipelineErrs, 1)
	assert.Equal(t, "pipeline", pipelineErrs[0].ContextMap()["reason"])

	// Next poll: the pipeline accepts; what was refused is delivered, what
	// was accepted is not delivered again.
	next.SetDecide(nil)
	clk.Add(time.Minute)
	require.NoError(t, pollAll(t, r))
	assert.Equal(t, want, testutil.Sorted(testutil.IDs(testutil.Records(next.All()))))
}

func TestPollWaitsWhenRateLimited(t *testing.T) {
	clk := fakeclock.New()
	sim, _ := testutil.NewSim(t, clk.Now, gitlabsim.Options{})
	sim.Generate(250, clk.Now().Add(-time.Hour), clk.Now().Add(-time.Minute))

	// The first request is answered 429 with Retry-After: 1, as GitLab's Rack::Attack does.
	var times []time.Time
	limited := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		times = append(times, time.Now())
		if limited == 0 {
			limited++
			w.Header().Set("Retry-After", "1")
			w.Header().Set("Content-Type", "text/plain")
			w.WriteHeader(http.StatusTooManyRequests)
			_, _ = w.Write([]byte("Retry later\n"))
			return
		}
		sim.ServeHTTP(w, req)
	}))
	defer srv.Close()

	sink := new(consumertest.LogsSink)
	r, _ := newTestPoller(t, pollConfig(srv.URL), sink, clk)
	require.NoError(t, pollAll(t, r))
	assert.Equal(t, testutil.SavedIDs(sim.Events(), clk.Now().Add(-2*time.Hour), clk.Now()), testutil.Sorted(testutil.IDs(testutil.Records(sink.AllLogs()))))
	require.GreaterOrEqual(t, len(times), 2)
	assert.GreaterOrEqual(t, times[1].Sub(times[0]), 900*time.Millisecond, "waited as Retry-After asked")
}

func TestPollRetriesServerErrors(t *testing.T) {
	clk := fakeclock.New()
	sim, srv := testutil.NewSim(t, clk.Now, gitlabsim.Options{})
	sim.Generate(150, clk.Now().Add(-time.Hour), clk.Now().Add(-time.Minute))
	sink := new(consumertest.LogsSink)
	r, _ := newTestPoller(t, pollConfig(srv.URL), sink, clk)

	sim.FailNext(3, http.StatusBadGateway)
	require.NoError(t, pollAll(t, r))
	assert.Equal(t, testutil.SavedIDs(sim.Events(), clk.Now().Add(-2*time.Hour), clk.Now()), testutil.Sorted(testutil.IDs(testutil.Records(sink.AllLogs()))))

	// A longer outage gives up after max_elapsed_time; the next poll catches up.
	clk.Add(time.Minute)
	fresh := sim.Generate(10, clk.Now().Add(-50*time.Second), clk.Now().Add(-10*time.Second))
	sim.FailNext(1000, http.StatusServiceUnavailable)
	err := pollAll(t, r)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "503")
	sim.FailNext(0, 0)
	clk.Add(time.Minute)
	sink.Reset()
	require.NoError(t, pollAll(t, r))
	assert.Equal(t, testutil.SavedIDs(fresh, clk.Now().Add(-time.Hour), clk.Now()), testutil.Sorted(testutil.IDs(testutil.Records(sink.AllLogs()))))
}

func TestPollErrorsAreLoggedOnceWithAdviceAndReported(t *testing.T) {
	tests := []struct {
		name   string
		cfg    func(*testConfig)
		status int
		advice string
	}{
		{"bad token", func(c *testConfig) { c.Token = "glpat-wrong" }, 401, "read_api scope"},
		{"instance without admin", func(c *testConfig) { c.Token = "glpat-developer-token-XYZ" }, 403, "administrator"},
		{"unknown group", func(c *testConfig) { c.Instance = false; c.Groups = []string{"no/such/group"} }, 404, "does not exist"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := fakeclock.New()
			sim, srv := testutil.NewSim(t, clk.Now, gitlabsim.Options{Tokens: map[string]gitlabsim.Token{
				testutil.AdminToken:         {UserID: 1, Admin: true},
				"glpat-developer-token-XYZ": {UserID: 2},
			}})
			sim.Generate(20, clk.Now().Add(-time.Hour), clk.Now().Add(-time.Minute))
			cfg := pollConfig(srv.URL)
			tt.cfg(cfg)
			r, logs := newTestPoller(t, cfg, new(consumertest.LogsSink), clk)

			for range 3 {
				err := pollAll(t, r)
				require.Error(t, err)
				assert.True(t, gitlabapi.IsStatus(err, tt.status), err.Error())
				clk.Add(time.Minute)
			}
			errs := logs.FilterMessage("Polling GitLab audit events failed").All()
			require.Len(t, errs, 1, "logged once, not at every poll")
			assert.Equal(t, zapcore.ErrorLevel, errs[0].Level)
			assert.Contains(t, errs[0].ContextMap()["what_to_do"], tt.advice)
			require.Error(t, r.status.last(), "reported as failing")
			assert.Contains(t, r.status.last().Error(), fmt.Sprint(tt.status))

			if tt.name == "bad token" {
				// The token is fixed on the GitLab side: the feed recovers.
				sim.SetToken("glpat-wrong", gitlabsim.Token{UserID: 1, Admin: true})
				require.NoError(t, pollAll(t, r))
				assert.NoError(t, r.status.last(), "reported as working again")
				assert.Len(t, logs.FilterMessage("Polling GitLab audit events works again").All(), 1)
			}
		})
	}
}

func TestPollFallsBackToOffsetPagination(t *testing.T) {
	clk := fakeclock.New()
	sim, srv := testutil.NewSim(t, clk.Now, gitlabsim.Options{NoKeyset: true})
	sim.Generate(340, clk.Now().Add(-2*time.Hour), clk.Now().Add(-time.Minute))
	sink := new(consumertest.LogsSink)
	r, logs := newTestPoller(t, pollConfig(srv.URL), sink, clk)
	require.NoError(t, pollAll(t, r))
	assert.Equal(t, testutil.SavedIDs(sim.Events(), clk.Now().Add(-3*time.Hour), clk.Now()), testutil.Sorted(testutil.IDs(testutil.Records(sink.AllLogs()))))
	require.Len(t, logs.FilterMessageSnippet("refused keyset pagination").All(), 1)

	// Later polls go straight to offset pagination.
	clk.Add(time.Minute)
	sim.ResetRequests()
	require.NoError(t, pollAll(t, r))
	reqs := sim.Requests()
	require.Len(t, reqs, 1)
	assert.NotContains(t, reqs[0].Query, "keyset")
	assert.Len(t, logs.FilterMessageSnippet("keyset pagination").All(), 1)
}

func TestPollBackfillIsCutIn30DaySlices(t *testing.T) {
	clk := fakeclock.New()
	sim, srv := testutil.NewSim(t, clk.Now, gitlabsim.Options{})
	sim.Generate(900, clk.Now().Add(-74*24*time.Hour), clk.Now().Add(-time.Minute))
	cfg := pollConfig(srv.URL)
	cfg.InitialLookback = 75 * 24 * time.Hour
	sink := new(consumertest.LogsSink)
	r, _ := newTestPoller(t, cfg, sink, clk)
	sim.ResetRequests()
	require.NoError(t, pollAll(t, r))
	assert.Equal(t, testutil.SavedIDs(sim.Events(), clk.Now().Add(-75*24*time.Hour), clk.Now()), testutil.Sorted(testutil.IDs(testutil.Records(sink.AllLogs()))))

	windows := map[string]bool{}
	for _, req := range sim.Requests() {
		q, err := url.ParseQuery(req.Query)
		require.NoError(t, err)
		after, err := time.Parse(time.RFC3339, q.Get("created_after"))
		require.NoError(t, err)
		before, err := time.Parse(time.RFC3339, q.Get("created_before"))
		require.NoError(t, err)
		assert.LessOrEqual(t, before.Sub(after), 30*24*time.Hour, "GitLab's 30-day limit")
		windows[q.Get("created_after")] = true
	}
	assert.Len(t, windows, 3, "75 days are read in three slices")
}

func TestPollLargeWindowSpillsToDisk(t *testing.T) {
	clk := fakeclock.New()
	sim, srv := testutil.NewSim(t, clk.Now, gitlabsim.Options{})
	sim.Generate(3000, clk.Now().Add(-5*time.Hour), clk.Now().Add(-time.Minute))
	sink := new(consumertest.LogsSink)
	r, logs := newTestPoller(t, pollConfig(srv.URL), sink, clk)
	r.read.spillThreshold = 64 << 10
	require.NoError(t, pollAll(t, r))
	got := testutil.Records(sink.AllLogs())
	assert.Equal(t, testutil.SavedIDs(sim.Events(), clk.Now().Add(-6*time.Hour), clk.Now()), testutil.Sorted(testutil.IDs(got)))
	assert.True(t, slices.IsSortedFunc(got, func(a, b testutil.Record) int { return a.TS.Compare(b.TS) }))
	assert.Len(t, logs.FilterMessage("Large window spilled to a temporary file").All(), 1)
}

func TestPollEventTypeFilter(t *testing.T) {
	clk := fakeclock.New()
	sim, srv := testutil.NewSim(t, clk.Now, gitlabsim.Options{})
	sim.Generate(400, clk.Now().Add(-time.Hour), clk.Now().Add(-time.Minute))
	cfg := pollConfig(srv.URL)
	cfg.EventTypes.Include = []string{"authenticated_with_*", "member_*"}
	cfg.EventTypes.Exclude = []string{"member_destroyed"}
	sink := new(consumertest.LogsSink)
	r, _ := newTestPoller(t, cfg, sink, clk)
	require.NoError(t, pollAll(t, r))
	got := testutil.Records(sink.AllLogs())
	require.NotEmpty(t, got)
	for _, rec := range got {
		assert.True(t, strings.HasPrefix(rec.Type, "authenticated_with_") || strings.HasPrefix(rec.Type, "member_"), rec.Type)
		assert.NotEqual(t, "member_destroyed", rec.Type)
	}
}

func TestPollGroupAndProjectFeedsEmitSharedEventsOnce(t *testing.T) {
	clk := fakeclock.New()
	sim, srv := testutil.NewSim(t, clk.Now, gitlabsim.Options{GroupRollup: true})
	sim.Generate(600, clk.Now().Add(-time.Hour), clk.Now().Add(-time.Minute))
	group := sim.Groups()[0]
	var project gitlabsim.Project
	for _, p := range sim.Projects() {
		if p.GroupID == group.ID {
			project = p
			break
		}
	}
	require.NotZero(t, project.ID)
	cfg := pollConfig(srv.URL)
	cfg.Instance = true
	cfg.Groups = []string{group.FullPath}
	cfg.Projects = []string{fmt.Sprint(project.ID)}
	sink := new(consumertest.LogsSink)
	r, _ := newTestPoller(t, cfg, sink, clk)
	require.NoError(t, pollAll(t, r))
	assert.Equal(t, testutil.SavedIDs(sim.Events(), clk.Now().Add(-2*time.Hour), clk.Now()), testutil.Sorted(testutil.IDs(testutil.Records(sink.AllLogs()))),
		"instance, group and project feeds overlap; each event is emitted once")
}

func TestPollHonoursTimeZoneOffsets(t *testing.T) {
	clk := fakeclock.New()
	tz := time.FixedZone("IST", 5*3600+1800)
	sim, srv := testutil.NewSim(t, clk.Now, gitlabsim.Options{Location: tz})
	evs := sim.Generate(80, clk.Now().Add(-time.Hour), clk.Now().Add(-time.Minute))
	sink := new(consumertest.LogsSink)
	r, _ := newTestPoller(t, pollConfig(srv.URL), sink, clk)
	require.NoError(t, pollAll(t, r))
	byID := map[string]time.Time{}
	for _, e := range evs {
		byID[fmt.Sprint(e.ID)] = e.CreatedAt.Truncate(time.Millisecond)
	}
	got := testutil.Records(sink.AllLogs())
	require.NotEmpty(t, got)
	for _, rec := range got {
		assert.True(t, byID[rec.ID].Equal(rec.TS), "event %s: %s vs %s", rec.ID, rec.TS, byID[rec.ID])
	}
}

func TestPollNeverLogsTheToken(t *testing.T) {
	clk := fakeclock.New()
	sim, srv := testutil.NewSim(t, clk.Now, gitlabsim.Options{})
	sim.Generate(120, clk.Now().Add(-time.Hour), clk.Now().Add(-time.Minute))
	cfg := pollConfig(srv.URL)
	cfg.Token = "glpat-SECRET-never-in-logs-1234"
	r, logs := newTestPoller(t, cfg, new(consumertest.LogsSink), clk)
	require.Error(t, pollAll(t, r)) // 401 with the wrong token
	sim.SetToken("glpat-SECRET-never-in-logs-1234", gitlabsim.Token{UserID: 1, Admin: true})
	sim.FailNext(2, http.StatusInternalServerError)
	require.NoError(t, pollAll(t, r))
	require.NotZero(t, logs.Len())
	for _, e := range logs.All() {
		line := e.Message + fmt.Sprint(e.ContextMap())
		assert.NotContains(t, line, "SECRET", "token leaked in %q", line)
	}
}

func TestPollFailingFeedDoesNotStopTheOthers(t *testing.T) {
	clk := fakeclock.New()
	sim, srv := testutil.NewSim(t, clk.Now, gitlabsim.Options{})
	sim.Generate(200, clk.Now().Add(-time.Hour), clk.Now().Add(-time.Minute))
	cfg := pollConfig(srv.URL)
	cfg.Groups = []string{"no-such-group", "acme"}
	sink := new(consumertest.LogsSink)
	r, _ := newTestPoller(t, cfg, sink, clk)
	err := pollAll(t, r)
	require.True(t, gitlabapi.IsStatus(err, http.StatusNotFound))
	assert.Equal(t, testutil.SavedIDs(sim.Events(), clk.Now().Add(-2*time.Hour), clk.Now()), testutil.Sorted(testutil.IDs(testutil.Records(sink.AllLogs()))),
		"the instance feed and the other group are read although one group fails")
}

func TestPollSharedRequestBudget(t *testing.T) {
	clk := fakeclock.New()
	sim, srv := testutil.NewSim(t, clk.Now, gitlabsim.Options{})
	sim.Generate(10, clk.Now().Add(-time.Hour), clk.Now().Add(-time.Minute))
	cfg := pollConfig(srv.URL)
	cfg.Groups = []string{sim.Groups()[0].FullPath, sim.Groups()[1].FullPath}
	cfg.Projects = []string{sim.Projects()[0].FullPath}
	cfg.MaxRequestsPerMinute = 1200 // 20 per second for every feed together
	r, _ := newTestPoller(t, cfg, new(consumertest.LogsSink), clk)
	sim.ResetRequests()
	start := time.Now()
	var wg sync.WaitGroup
	for _, f := range r.feeds { // four feeds polled concurrently
		wg.Go(func() {
			_, _, err := r.read.poll(context.Background(), f)
			assert.NoError(t, err)
		})
	}
	wg.Wait()
	assert.Equal(t, 4, sim.RequestCount())
	assert.GreaterOrEqual(t, time.Since(start), 140*time.Millisecond, "4 requests at 20/s need at least 3 intervals of 50 ms")
}
