// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package gitlabauditreceiver

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/extension/storage/storagetest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/receiver/receivertest"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/kyra-mdr/otelcol-gitlab/receiver/gitlabauditreceiver/internal/metadata"
	"github.com/kyra-mdr/otelcol-gitlab/receiver/gitlabauditreceiver/internal/poll"
	"github.com/kyra-mdr/otelcol-gitlab/receiver/gitlabauditreceiver/internal/testutil"
	"github.com/kyra-mdr/otelcol-gitlab/testbed/gitlabsim"
)

const ownerToken = "glpat-owner-0123456789abcdefABCD"

// estateSim is a simulator on the real clock holding a three-level tree:
// acme > acme/team-N > acme/team-N/sub-M, with projects spread over every
// level, and globex beside it. ownerToken is an Owner of both.
func estateSim(t *testing.T, projects int, opts gitlabsim.Options) (*gitlabsim.Sim, *httptest.Server) {
	t.Helper()
	opts.Tokens = map[string]gitlabsim.Token{
		ownerToken:          {UserID: 2, Groups: map[string]gitlabsim.Role{"acme": gitlabsim.Owner, "globex": gitlabsim.Owner}},
		testutil.AdminToken: {UserID: 1, Admin: true},
	}
	opts.Seed = 7
	sim := gitlabsim.New(opts)
	sim.Populate(0, 0) // the default users
	sim.AddGroup(10, "acme")
	sim.AddGroup(11, "globex")
	var groups []string
	for i := range 4 {
		g := fmt.Sprintf("acme/team-%d", i)
		_, err := sim.CreateGroup(g)
		require.NoError(t, err)
		groups = append(groups, g)
		for j := range 3 {
			sg := fmt.Sprintf("%s/sub-%d", g, j)
			_, err := sim.CreateGroup(sg)
			require.NoError(t, err)
			groups = append(groups, sg)
		}
	}
	groups = append(groups, "globex")
	for i := range projects {
		_, err := sim.CreateProject(fmt.Sprintf("%s/p%03d", groups[i%len(groups)], i))
		require.NoError(t, err)
	}
	srv := httptest.NewServer(sim)
	t.Cleanup(func() {
		srv.Close()
		_ = sim.Close()
	})
	return sim, srv
}

// estateConfig polls the given groups with discovery, fast enough for tests.
func estateConfig(endpoint string, groups ...string) *Config {
	cfg := pollConfig(endpoint)
	cfg.Token = ownerToken
	cfg.Collect.Instance = false
	cfg.Collect.Groups = groups
	cfg.PollInterval = 100 * time.Millisecond
	cfg.IdlePollInterval = 400 * time.Millisecond
	cfg.InitialLookback = time.Hour
	cfg.Collect.Discovery.Interval = 300 * time.Millisecond
	cfg.MaxConcurrentRequests = 8
	return cfg
}

// runReceiver starts a receiver with its real poll loops on the real clock.
func runReceiver(t *testing.T, cfg *Config, sink *consumertest.LogsSink, host component.Host) (*auditReceiver, *observer.ObservedLogs) {
	t.Helper()
	core, logs := observer.New(zapcore.DebugLevel)
	set := receivertest.NewNopSettings(metadata.Type)
	set.ID = component.NewIDWithName(metadata.Type, "estate")
	set.Logger = zap.New(core)
	r, err := newReceiver(cfg, set, sink)
	require.NoError(t, err)
	require.NoError(t, r.Start(context.Background(), host))
	stopped := false
	var once sync.Once
	t.Cleanup(func() {
		once.Do(func() {
			if !stopped {
				require.NoError(t, r.Shutdown(context.Background()))
			}
		})
	})
	return r, logs
}

// visibleUnder returns the REST ids of the events recorded on the groups
// and projects under (and including) the given top-level groups.
func visibleUnder(sim *gitlabsim.Sim, tops ...string) []string {
	groups, projects := map[int64]bool{}, map[int64]bool{}
	under := func(p string) bool {
		for _, top := range tops {
			if p == top || strings.HasPrefix(p, top+"/") {
				return true
			}
		}
		return false
	}
	for _, g := range sim.Groups() {
		groups[g.ID] = under(g.FullPath)
	}
	for _, p := range sim.Projects() {
		projects[p.ID] = under(p.FullPath)
	}
	var out []string
	for _, e := range sim.Events() {
		if (e.Entity.Type == gitlabsim.EntityGroup && groups[e.Entity.ID]) || (e.Entity.Type == gitlabsim.EntityProject && projects[e.Entity.ID]) {
			out = append(out, strconv.FormatInt(e.ID, 10))
		}
	}
	slices.Sort(out)
	return out
}

func projectsUnder(sim *gitlabsim.Sim, top string) int {
	n := 0
	for _, p := range sim.Projects() {
		if strings.HasPrefix(p.FullPath, top+"/") {
			n++
		}
	}
	return n
}

// insertFor records an event on a project (or group) at a time.
func insertFor(t *testing.T, sim *gitlabsim.Sim, entity gitlabsim.Entity, at time.Time) string {
	t.Helper()
	ev, err := sim.BuildEvent("ci_variable_created", at, false)
	require.NoError(t, err)
	ev.Entity = entity
	ev.Target = gitlabsim.Target{}
	return strconv.FormatInt(sim.Insert(ev).ID, 10)
}

func projectEntity(id int64) gitlabsim.Entity {
	return gitlabsim.Entity{Type: gitlabsim.EntityProject, ID: id}
}

// waitFor waits until the sink holds every id of want.
func waitFor(t *testing.T, sink *consumertest.LogsSink, want []string, within time.Duration) {
	t.Helper()
	if !assert.Eventually(t, func() bool {
		got := map[string]bool{}
		for _, id := range testutil.IDs(testutil.Records(sink.AllLogs())) {
			got[id] = true
		}
		for _, w := range want {
			if !got[w] {
				return false
			}
		}
		return true
	}, within, 50*time.Millisecond) {
		got := map[string]bool{}
		for _, id := range testutil.IDs(testutil.Records(sink.AllLogs())) {
			got[id] = true
		}
		var missing []string
		for _, w := range want {
			if !got[w] {
				missing = append(missing, w)
			}
		}
		t.Fatalf("%d of %d events missing, e.g. %v", len(missing), len(want), missing[:min(5, len(missing))])
	}
}

// warnings are the warnings logged, but for the one at start about
// persistent state (it depends on the pipeline, not on discovery).
func warnings(logs *observer.ObservedLogs) []observer.LoggedEntry {
	return logs.FilterLevelExact(zapcore.WarnLevel).Filter(func(e observer.LoggedEntry) bool {
		return !strings.HasPrefix(e.Message, "The receiver persists its checkpoints")
	}).All()
}

func assertOnce(t *testing.T, got []string) {
	t.Helper()
	seen := map[string]bool{}
	for _, id := range got {
		assert.False(t, seen[id], "event %s emitted twice", id)
		seen[id] = true
	}
}

func TestDiscoveryEveryEventOfAThreeLevelTreeOnce(t *testing.T) {
	for _, tt := range []struct {
		projects int
		rollup   bool
	}{{300, false}, {60, true}} {
		t.Run(fmt.Sprintf("projects=%d,rollup=%t", tt.projects, tt.rollup), func(t *testing.T) {
			// With the roll-up, group feeds repeat their descendants' events:
			// still emitted once.
			sim, srv := estateSim(t, tt.projects, gitlabsim.Options{GroupRollup: tt.rollup})
			now := time.Now()
			sim.Generate(10*tt.projects, now.Add(-50*time.Minute), now.Add(-3*time.Second))
			want := visibleUnder(sim, "acme")
			require.Greater(t, len(want), tt.projects)

			sink := new(consumertest.LogsSink)
			r, logs := runReceiver(t, estateConfig(srv.URL, "acme"), sink, newStatusHost(nil))
			waitFor(t, sink, want, 30*time.Second)
			time.Sleep(300 * time.Millisecond)
			got := testutil.IDs(testutil.Records(sink.AllLogs()))
			assertOnce(t, got)
			assert.Equal(t, want, testutil.Sorted(got), "every event of the tree, nothing from outside it")

			found := logs.FilterMessage("Discovered the subgroups and projects of the configured groups").All()
			require.Len(t, found, 1)
			ctx := found[0].ContextMap()
			assert.EqualValues(t, 16, ctx["subgroups_found"])
			assert.EqualValues(t, projectsUnder(sim, "acme"), ctx["projects_found"])
			assert.Len(t, r.poller.Feeds(), 1+16+projectsUnder(sim, "acme"), "the group, its subgroups and projects")
			assert.Empty(t, logs.FilterLevelExact(zapcore.ErrorLevel).All())
			assert.Empty(t, warnings(logs))
		})
	}
}

func TestDiscoveryNewProjectLosesNoEvent(t *testing.T) {
	sim, srv := estateSim(t, 20, gitlabsim.Options{})
	sink := new(consumertest.LogsSink)
	cfg := estateConfig(srv.URL, "acme")
	cfg.Collect.Discovery.Interval = time.Second
	r, logs := runReceiver(t, cfg, sink, newStatusHost(nil))
	require.Eventually(t, func() bool {
		return len(logs.FilterMessage("Discovered the subgroups and projects of the configured groups").All()) == 1
	}, 10*time.Second, 20*time.Millisecond)

	// Created between two discoveries, with events from its first second
	// (some before the next listing finds it).
	p, err := sim.CreateProject("acme/team-1/new-service")
	require.NoError(t, err)
	var want []string
	for i := range 5 {
		want = append(want, insertFor(t, sim, projectEntity(p.ID), p.CreatedAt.Add(time.Duration(i)*time.Millisecond)))
	}
	// Moved in from outside the estate, with an old creation date.
	i := slices.IndexFunc(sim.Projects(), func(p gitlabsim.Project) bool { return strings.HasPrefix(p.FullPath, "globex/") })
	require.GreaterOrEqual(t, i, 0)
	moved := sim.Projects()[i]
	before := insertFor(t, sim, projectEntity(moved.ID), time.Now().Add(-30*time.Minute))
	require.NoError(t, sim.TransferProject(moved.ID, "acme/team-2/sub-1"))
	want = append(want, insertFor(t, sim, projectEntity(moved.ID), time.Now()))

	waitFor(t, sink, want, 15*time.Second)
	assert.NotContains(t, testutil.IDs(testutil.Records(sink.AllLogs())), before,
		"events of a project moved in are read from the previous listing (minus overlap), not its whole history")
	assert.Len(t, logs.FilterMessage("The estate changed").All(), 1)
	assertOnce(t, testutil.IDs(testutil.Records(sink.AllLogs())))
	_ = r
}

func TestDiscoveryDeletedProjectStopsQuietly(t *testing.T) {
	sim, srv := estateSim(t, 10, gitlabsim.Options{})
	storageID := storagetest.NewStorageID("file_storage")
	host := newStatusHost(storagetest.NewStorageHost().WithFileBackedStorageExtension("file_storage", t.TempDir()).GetExtensions())
	cfg := estateConfig(srv.URL, "acme")
	cfg.Storage = &storageID
	cfg.Collect.Discovery.ForgetAfter = 500 * time.Millisecond
	victim := sim.Projects()[0]
	key := "project:" + strconv.FormatInt(victim.ID, 10)
	first := insertFor(t, sim, projectEntity(victim.ID), time.Now().Add(-time.Minute))
	sink := new(consumertest.LogsSink)
	r, logs := runReceiver(t, cfg, sink, host)
	waitFor(t, sink, []string{first}, 10*time.Second)

	require.NoError(t, sim.DeleteProject(victim.ID))
	defer func() {
		if t.Failed() {
			for _, l := range logs.All() {
				t.Log(l.Level, l.Message, l.ContextMap())
			}
		}
	}()
	require.Eventually(t, func() bool {
		return !slices.ContainsFunc(r.poller.Feeds(), func(f poll.Feed) bool { return f.Feed.String() == key })
	}, 10*time.Second, 20*time.Millisecond, "the feed stops")
	// Its checkpoint is removed once forget_after has passed.
	require.Eventually(t, func() bool {
		raw, err := r.core.Store().Get(context.Background(), "checkpoint/project:"+strconv.FormatInt(victim.ID, 10))
		return err == nil && raw == nil
	}, 10*time.Second, 50*time.Millisecond)
	assert.Empty(t, logs.FilterLevelExact(zapcore.ErrorLevel).All(), "a deleted project is no error")
	assert.Empty(t, warnings(logs))
	assert.NotEmpty(t, logs.FilterMessage("The estate changed").All())
	assert.Nil(t, host.last(), "no component status error: %v", host.last())
}

func TestDiscoveryRespectsTheRequestBudget(t *testing.T) {
	sim, srv := estateSim(t, 40, gitlabsim.Options{})
	cfg := estateConfig(srv.URL, "acme")
	cfg.MaxRequestsPerMinute = 1200 // 20 per second
	cfg.MaxConcurrentRequests = 4
	sink := new(consumertest.LogsSink)
	r, logs := runReceiver(t, cfg, sink, newStatusHost(nil))
	time.Sleep(4 * time.Second)
	require.NoError(t, r.Shutdown(context.Background()))

	reqs := sim.Requests()
	require.NotEmpty(t, reqs)
	// The limiter grants one request every 50 ms: over the whole run and
	// in every second of it (allowing for requests delayed on their way,
	// at most max_concurrent_requests), never more than the cap.
	span := reqs[len(reqs)-1].Time.Sub(reqs[0].Time)
	assert.LessOrEqual(t, float64(len(reqs)), 1+span.Seconds()*20+1, "%d requests in %s", len(reqs), span)
	assert.Greater(t, float64(len(reqs)), span.Seconds()*20*0.7, "the budget is used")
	for i := range reqs {
		n := 0
		for j := i; j < len(reqs) && reqs[j].Time.Sub(reqs[i].Time) < time.Second; j++ {
			n++
		}
		require.LessOrEqual(t, n, 21+cfg.MaxConcurrentRequests, "requests in the second after %s", reqs[i].Time)
	}
	// No feed starves: every feed was polled, most overdue first.
	polled := map[string]int{}
	for _, q := range reqs {
		polled[q.Path]++
	}
	for _, f := range r.poller.Feeds() {
		assert.NotZero(t, polled[f.Feed.Path()], "feed %s never polled", f.Feed)
	}
	// 1 + 16 + 38 feeds every 400 ms would need 8,250 requests a minute.
	warn := logs.FilterMessage("The request budget cannot poll every feed every idle_poll_interval; every feed is still polled in turn, less often").All()
	require.Len(t, warn, 1)
	assert.EqualValues(t, 1200, warn[0].ContextMap()["max_requests_per_minute"])
	assert.NotEmpty(t, warn[0].ContextMap()["achievable_interval"])
}

func TestDiscoveryRestartResumesEveryFeedFromStorage(t *testing.T) {
	sim, srv := estateSim(t, 30, gitlabsim.Options{})
	now := time.Now()
	sim.Generate(400, now.Add(-30*time.Minute), now.Add(-3*time.Second))
	storageID := storagetest.NewStorageID("file_storage")
	host := newStatusHost(storagetest.NewStorageHost().WithFileBackedStorageExtension("file_storage", t.TempDir()).GetExtensions())
	cfg := estateConfig(srv.URL, "acme")
	cfg.Storage = &storageID
	cfg.Collect.Discovery.Interval = time.Hour // the restart must not need a listing

	sink := new(consumertest.LogsSink)
	r1, _ := runReceiver(t, cfg, sink, host)
	waitFor(t, sink, visibleUnder(sim, "acme"), 20*time.Second)
	feeds := len(r1.poller.Feeds())
	time.Sleep(500 * time.Millisecond) // checkpoints move past the pollLag
	require.NoError(t, r1.Shutdown(context.Background()))

	var fresh []string
	for _, p := range sim.Projects()[:10] {
		if strings.HasPrefix(p.FullPath, "acme/") {
			fresh = append(fresh, insertFor(t, sim, projectEntity(p.ID), time.Now().Add(-time.Second)))
		}
	}
	sim.DenyListing("acme", http.StatusServiceUnavailable) // no listing: storage alone
	r2, logs := runReceiver(t, cfg, sink, host)
	resumed := logs.FilterMessage("Resuming the discovered feeds from storage").All()
	require.Len(t, resumed, 1)
	assert.EqualValues(t, feeds-1, resumed[0].ContextMap()["feeds"])
	assert.Len(t, r2.poller.Feeds(), feeds)
	waitFor(t, sink, fresh, 15*time.Second)
	assertOnce(t, testutil.IDs(testutil.Records(sink.AllLogs())))
}

func TestDiscoveryFailureKeepsPollingKnownFeeds(t *testing.T) {
	sim, srv := estateSim(t, 30, gitlabsim.Options{})
	cfg := estateConfig(srv.URL, "acme", "globex")
	sink := new(consumertest.LogsSink)
	host := newStatusHost(nil)
	r, logs := runReceiver(t, cfg, sink, host)
	require.Eventually(t, func() bool {
		return len(logs.FilterMessage("Discovered the subgroups and projects of the configured groups").All()) == 1
	}, 10*time.Second, 20*time.Millisecond)
	feeds := len(r.poller.Feeds())

	sim.DenyListing("acme", http.StatusInternalServerError)
	sim.DenyListing("globex", http.StatusForbidden)
	var want []string
	for _, p := range sim.Projects() {
		want = append(want, insertFor(t, sim, projectEntity(p.ID), time.Now().Add(-time.Second)))
	}
	waitFor(t, sink, want, 15*time.Second)
	require.Eventually(t, func() bool {
		return len(logs.FilterMessage("Discovering the subgroups and projects of a group failed; the feeds already known are still polled").All()) >= 2
	}, 10*time.Second, 20*time.Millisecond)
	assert.Len(t, r.poller.Feeds(), feeds, "no feed retired while its group cannot be listed")
	require.NotNil(t, host.last())
	assert.Contains(t, fmt.Sprint(host.last().Err()), "discovery of group globex")

	sim.DenyListing("acme", 0)
	sim.DenyListing("globex", 0)
	require.Eventually(t, func() bool { return host.last().Err() == nil }, 10*time.Second, 20*time.Millisecond, "healthy again")
}

func TestShardsPollEveryFeedOnceAndReshardLosesNothing(t *testing.T) {
	sim, srv := estateSim(t, 60, gitlabsim.Options{})
	now := time.Now()
	sim.Generate(600, now.Add(-30*time.Minute), now.Add(-3*time.Second))
	storageID := storagetest.NewStorageID("file_storage")
	dirs := []string{t.TempDir(), t.TempDir(), t.TempDir()}
	start := func(index, count int, sink *consumertest.LogsSink) *auditReceiver {
		cfg := estateConfig(srv.URL, "acme")
		cfg.Collect.Shard = ShardConfig{Index: index, Count: count}
		cfg.Storage = &storageID
		host := newStatusHost(storagetest.NewStorageHost().WithFileBackedStorageExtension("file_storage", dirs[index]).GetExtensions())
		r, logs := runReceiver(t, cfg, sink, host)
		require.Eventually(t, func() bool {
			return len(logs.FilterMessage("Discovered the subgroups and projects of the configured groups").All()) == 1
		}, 10*time.Second, 20*time.Millisecond)
		return r
	}

	sink := new(consumertest.LogsSink)
	var replicas []*auditReceiver
	owner := map[string]int{}
	for i := range 3 {
		r := start(i, 3, sink)
		replicas = append(replicas, r)
		for _, f := range r.poller.Feeds() {
			owner[f.Feed.String()]++
		}
	}
	assert.Len(t, owner, 1+16+projectsUnder(sim, "acme"), "together the shards poll the whole estate")
	for feed, n := range owner {
		assert.Equal(t, 1, n, "feed %s is polled by %d shards", feed, n)
	}
	waitFor(t, sink, visibleUnder(sim, "acme"), 20*time.Second)
	time.Sleep(500 * time.Millisecond)
	assertOnce(t, testutil.IDs(testutil.Records(sink.AllLogs())))
	for _, r := range replicas {
		require.NoError(t, r.Shutdown(context.Background()))
	}

	// Down to two shards: events written meanwhile in every project arrive.
	var want []string
	for _, p := range sim.Projects() {
		if strings.HasPrefix(p.FullPath, "acme/") {
			want = append(want, insertFor(t, sim, projectEntity(p.ID), time.Now().Add(-2*time.Second)))
		}
	}
	sink2 := new(consumertest.LogsSink)
	start(0, 2, sink2)
	start(1, 2, sink2)
	waitFor(t, sink2, want, 20*time.Second)
}

func TestDiscoveryExcludesAndArchived(t *testing.T) {
	sim, srv := estateSim(t, 40, gitlabsim.Options{})
	var archived gitlabsim.Project
	for _, p := range sim.Projects() {
		if strings.HasPrefix(p.FullPath, "acme/team-0/") {
			archived = p
			break
		}
	}
	require.NoError(t, sim.ArchiveProject(archived.ID, true))
	cfg := estateConfig(srv.URL, "acme")
	cfg.Collect.Discovery.Exclude = []string{"acme/team-1/**", "**/sub-2"}
	cfg.Collect.Discovery.Archived = false
	cfg.Collect.Projects = []string{sim.Projects()[1].FullPath} // also found by discovery: polled once, as configured
	r, logs := runReceiver(t, cfg, new(consumertest.LogsSink), newStatusHost(nil))
	require.Eventually(t, func() bool {
		return len(logs.FilterMessage("Discovered the subgroups and projects of the configured groups").All()) == 1
	}, 10*time.Second, 20*time.Millisecond)
	polled := map[string]bool{}
	for _, f := range r.poller.Feeds() {
		assert.False(t, polled[f.Feed.String()], "feed %s twice", f.Feed)
		polled[f.Feed.String()] = true
		if f.Origin == "discovered" {
			assert.NotRegexp(t, `^acme/team-1(/|$)|/sub-2$`, f.Path)
		}
	}
	assert.False(t, polled["project:"+strconv.FormatInt(archived.ID, 10)], "archived projects left out")
	assert.False(t, polled["project:"+strconv.FormatInt(sim.Projects()[1].ID, 10)], "the configured project is not discovered again")
	assert.True(t, polled["project:"+cfg.Collect.Projects[0]])
	ctx := logs.FilterMessage("Discovered the subgroups and projects of the configured groups").All()[0].ContextMap()
	assert.Positive(t, ctx["excluded"])
}

func TestEstateMetrics(t *testing.T) {
	for _, perFeed := range []bool{false, true} {
		tel := componenttest.NewTelemetry()
		sim, srv := estateSim(t, 20, gitlabsim.Options{})
		cfg := estateConfig(srv.URL, "acme")
		cfg.PerFeedMetrics = perFeed
		core, logs := observer.New(zapcore.InfoLevel)
		set := receivertest.NewNopSettings(metadata.Type)
		set.TelemetrySettings = tel.NewTelemetrySettings()
		set.Logger = zap.New(core)
		r, err := newReceiver(cfg, set, new(consumertest.LogsSink))
		require.NoError(t, err)
		require.NoError(t, r.Start(context.Background(), newStatusHost(nil)))
		gauge := func(name string, kv ...string) int64 {
			m, err := tel.GetMetric(name)
			require.NoError(t, err, name)
			for _, dp := range m.Data.(metricdata.Gauge[int64]).DataPoints {
				match := true
				for i := 0; i < len(kv); i += 2 {
					v, _ := dp.Attributes.Value(attribute.Key(kv[i]))
					match = match && v.AsString() == kv[i+1]
				}
				if match {
					return dp.Value
				}
			}
			return -1
		}
		require.Eventually(t, func() bool {
			return len(logs.FilterMessage("Discovered the subgroups and projects of the configured groups").All()) == 1 &&
				gauge("otelcol_gitlab_audit_feeds_caught_up") == int64(len(r.poller.Feeds()))
		}, 10*time.Second, 20*time.Millisecond)
		projects := int64(projectsUnder(sim, "acme"))
		assert.Equal(t, projects, gauge("otelcol_gitlab_audit_feeds", metadata.AttrKind, "project", metadata.AttrOrigin, "discovered"))
		assert.Equal(t, int64(16), gauge("otelcol_gitlab_audit_feeds", metadata.AttrKind, "group", metadata.AttrOrigin, "discovered"))
		assert.Equal(t, int64(1), gauge("otelcol_gitlab_audit_feeds", metadata.AttrKind, "group", metadata.AttrOrigin, "configured"))
		assert.Equal(t, 17+projects, gauge("otelcol_gitlab_audit_feeds_caught_up"))
		runs, err := tel.GetMetric("otelcol_gitlab_audit_discovery_runs")
		require.NoError(t, err)
		assert.Positive(t, runs.Data.(metricdata.Sum[int64]).DataPoints[0].Value)

		lag, err := tel.GetMetric("otelcol_gitlab_audit_checkpoint_lag")
		require.NoError(t, err)
		series := len(lag.Data.(metricdata.Gauge[float64]).DataPoints)
		requests, err := tel.GetMetric("otelcol_gitlab_audit_api_requests")
		require.NoError(t, err)
		feedsSeen := map[string]bool{}
		for _, dp := range requests.Data.(metricdata.Sum[int64]).DataPoints {
			v, _ := dp.Attributes.Value(metadata.AttrFeed)
			feedsSeen[v.AsString()] = true
		}
		if perFeed {
			assert.Equal(t, 17+int(projects), series, "one lag series per feed")
		} else {
			assert.Equal(t, 3, series, "group:acme, discovered:group, discovered:project")
		}
		// Request counts stay folded either way: 2,000 feeds' series cost
		// the collector memory at every collection.
		assert.Equal(t, map[string]bool{"group:acme": true, "discovered:group": true, "discovered:project": true,
			"descendant_groups:acme": true, "group_projects:acme": true,
			"access_check:current_user": true, "access_check:token": true, "access_check:membership": true}, feedsSeen)
		require.NoError(t, r.Shutdown(context.Background()))
		require.NoError(t, tel.Shutdown(context.Background()))
	}
}
