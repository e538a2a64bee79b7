// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kyra-mdr/otelcol-gitlab/testbed/promtext"
)

// The tests of this file run the built collector against the built
// simulator (gitlab-sim) in the modes where GitLab differs from an
// all-seeing test setup (issue 18): a token that sees only its own events
// and expires soon, header-less application 429s on author lookups,
// projects deleted while discovery walks the listing, a streaming
// destination filtered by namespace, Admin Mode. What GitLab does in each
// is written down, with the GitLab source files, in testbed/README.md
// ("The simulator's GitLab") and the simulator's tests.

// pollInterval is the poll_interval (and idle_poll_interval) of the
// collectors below: the receiver's minimum.
const pollInterval = 10 * time.Second

// simCollectorConfig runs the receiver against a gitlab-sim process: its
// own settings in %[4]s (indented by four spaces), the records to an OTLP
// sink, the collector's telemetry on a Prometheus endpoint and its logs in
// JSON.
const simCollectorConfig = `
extensions:
  health_check:
    endpoint: 127.0.0.1:%[1]d
receivers:
  gitlab_audit:
    endpoint: %[2]s
    token: %[3]s
    poll_interval: 10s
    idle_poll_interval: 10s
    initial_lookback: 1h
%[4]s
exporters:
  otlp_http:
    endpoint: %[5]s
    sending_queue:
      batch:
        flush_timeout: 100ms
service:
  extensions: [health_check]
  pipelines:
    logs: {receivers: [gitlab_audit], exporters: [otlp_http]}
  telemetry:
    logs:
      encoding: json
    metrics:
      level: normal
      readers:
        - pull:
            exporter:
              prometheus:
                host: 127.0.0.1
                port: %[6]d
                without_scope_info: true
                without_type_suffix: true
                without_units: true
`

// simCollector is a running collector of simCollectorConfig.
type simCollector struct {
	*collector
	sink    *otlpSink
	metrics telemetry
	started time.Time // when it was started
}

// startSimCollector starts the built collector against the simulator at
// simURL with token and the receiver settings.
func startSimCollector(t *testing.T, simURL, token, receiver string) *simCollector {
	t.Helper()
	bin := collectorBinary(t)
	health, metrics := freePort(t), freePort(t)
	c := &simCollector{sink: newOTLPSink(t), metrics: telemetry{url: fmt.Sprintf("http://127.0.0.1:%d/metrics", metrics)}}
	c.collector = newCollector(t, bin, fmt.Sprintf(simCollectorConfig, health, simURL, token, receiver, c.sink.srv.URL, metrics), nil, health)
	c.started = time.Now()
	c.start()
	return c
}

// metric returns the sum of a metric's samples with the labels of match;
// a failed scrape fails the test.
func (c *simCollector) metric(t *testing.T, name string, match map[string]string) float64 {
	t.Helper()
	v, err := c.metrics.sum(name, match)
	require.NoError(t, err)
	return v
}

// eventually waits for cond, showing the collector's log when it does not
// come.
func (c *simCollector) eventually(t *testing.T, what string, within time.Duration, cond func() bool) {
	t.Helper()
	require.Eventually(t, cond, within, 100*time.Millisecond, "%s; collector log:\n%s", what, c.log())
}

// waitLogged waits up to within for the collector to log msg, and returns
// its first entry.
func (c *simCollector) waitLogged(t *testing.T, msg string, within time.Duration) map[string]any {
	t.Helper()
	var entry map[string]any
	c.eventually(t, "logged "+msg, within, func() bool {
		if e := c.logged(msg); len(e) > 0 {
			entry = e[0]
			return true
		}
		return false
	})
	return entry
}

// The access check's summaries (receiver/gitlabauditreceiver/internal/access).
const (
	msgIncomplete = "The token does not see every event of these feeds: their polls succeed but miss what others did"
	msgComplete   = "The token sees every event of every feed"
	msgExpiring   = "The GitLab token expires soon; once expired, nothing is polled or looked up"
)

// TestTokenThatSeesOnlyItsOwnEvents runs the collector with the token of a
// Developer of acme that expires in five days. GitLab answers such a
// token's group and project feeds with 200 and only the events its user
// authored (filter_by_author, ee/lib/ee/api/groups.rb and projects.rb),
// and refuses it the instance feed (authenticated_as_admin!,
// ee/lib/api/audit_events.rb). Within one poll interval the collector
// warns, naming each affected feed and the role it needs, the feed access
// gauge says so, and the token's expiry is warned about at start, by the
// token's name and id, never its value.
func TestTokenThatSeesOnlyItsOwnEvents(t *testing.T) {
	const token = "glpat-e2e-developer-token-0123456789"
	sim := startSim(t, "-groups", "3", "-projects", "6", "-backfill", "400", "-backfill-span", "30m", "-rate", "2", "-seed", "18",
		"-access", token+"=developer@acme;user=3;scopes=read_api;expires-in=5d;name=kyra-e2e-collector;id=4242")
	col := startSimCollector(t, sim.url, token, `
    collect:
      instance: true
      groups: [acme]`)

	warn := col.waitLogged(t, msgIncomplete, pollInterval-time.Since(col.started))
	t.Logf("warned %s after the collector was started", time.Since(col.started).Round(100*time.Millisecond))
	assert.Equal(t, "warn", warn["level"])
	// acme has 2 subgroups and 6 projects, discovered; the group's
	// Developer is a Developer of each (inherited).
	assert.ElementsMatch(t, []any{
		"discovered:group: only the token user's own events (Developer (on acme); needs the Owner role on the group (or an administrator's token)) (2 feeds)",
		"discovered:project: only the token user's own events (Developer (on acme); needs the Maintainer or Owner role on the project (or an administrator's token)) (6 feeds)",
		"group:acme: only the token user's own events (Developer; needs the Owner role on the group (or an administrator's token))",
		"instance: refused (not an administrator; needs an administrator's token (with the admin_mode scope where Admin Mode is on))",
	}, warn["incomplete"])
	expiresAt := time.Now().UTC().AddDate(0, 0, 5).Format(time.DateOnly) // expires-in=5d
	for k, want := range map[string]any{
		"user_id": 3.0, "administrator": false, "token_id": 4242.0, "token_name": "kyra-e2e-collector",
		"scopes": []any{"read_api"}, "expires_at": expiresAt, "complete": 0.0,
	} {
		assert.Equal(t, want, warn[k], k)
	}

	expiry := col.waitLogged(t, msgExpiring, time.Second)
	assert.Equal(t, "warn", expiry["level"])
	for k, want := range map[string]any{"token_id": 4242.0, "token_name": "kyra-e2e-collector", "expires_at": expiresAt} {
		assert.Equal(t, want, expiry[k], k)
	}
	assert.Contains(t, expiry["what_to_do"], "SIGHUP")

	// The gauges: discovered feeds folded, as in every per-feed metric.
	for _, tc := range []struct {
		feed, access string
		want         float64
	}{
		{"group:acme", "own_events", 1},
		{"discovered:group", "own_events", 2},
		{"discovered:project", "own_events", 6},
		{"instance", "refused", 1},
		{"", "all_events", 0},
	} {
		match := map[string]string{"access": tc.access}
		if tc.feed != "" {
			match["feed"] = tc.feed
		}
		assert.InDelta(t, tc.want, col.metric(t, "otelcol_gitlab_audit_feed_access", match), 0, "%v", match)
	}
	left := col.metric(t, "otelcol_gitlab_audit_token_expiry_seconds", map[string]string{"token_id": "4242", "token_name": "kyra-e2e-collector"})
	assert.True(t, left > (4*24*time.Hour).Seconds() && left <= (5*24*time.Hour).Seconds(), "the token expires at 00:00 UTC in five days: %v s left", left)

	// The polls succeed and export what the token sees: its user's events.
	col.eventually(t, "the token user's own events are exported", pollInterval, func() bool { return col.sink.count() > 0 })
	for _, r := range col.sink.all() {
		assert.Equal(t, "3", fmt.Sprint(r.attrs["user.id"]), "only the token user's own events: %s", r.body)
	}
	t.Logf("%d events exported, all by the token's user", col.sink.count())
	assert.Len(t, col.logged(msgIncomplete), 1, "said once")
	assert.Empty(t, col.logged(msgComplete))
	for what, log := range map[string]string{"collector": col.log(), "gitlab-sim": sim.log()} {
		assert.NotContains(t, log, token, "the token's value is not in the %s log", what)
	}
}

// TestAdminModeNeedsTheScope runs the collector with an administrator's
// token on an instance with Admin Mode on: without the admin_mode scope
// GitLab refuses it the instance feed (lib/api/api_guard.rb: an
// administrator's token acts as one only with admin_mode), and the
// collector says so, naming admin_mode; with the scope, it sees every
// event.
func TestAdminModeNeedsTheScope(t *testing.T) {
	const admin, modeAdmin = "glpat-e2e-admin-without-admin-mode", "glpat-e2e-admin-with-admin-mode"
	sim := startSim(t, "-admin-mode", "-groups", "2", "-projects", "2", "-backfill", "100", "-backfill-span", "30m", "-rate", "0",
		"-token", admin, "-access", modeAdmin+"=admin;scopes=api,admin_mode;name=kyra-admin")
	for _, tc := range []struct {
		name, token string
		msg         string
		access      string
		check       func(t *testing.T, entry map[string]any)
	}{
		{"without admin_mode", admin, msgIncomplete, "refused", func(t *testing.T, e map[string]any) {
			assert.Equal(t, "warn", e["level"])
			assert.Equal(t, []any{"instance: refused (administrator without the admin_mode scope; needs an administrator's token (with the admin_mode scope where Admin Mode is on))"}, e["incomplete"])
			assert.Contains(t, e["admin_mode"], "add the admin_mode scope")
			assert.Equal(t, false, e["administrator"], "GitLab does not let it act as one")
		}},
		{"with admin_mode", modeAdmin, msgComplete, "all_events", func(t *testing.T, e map[string]any) {
			assert.Equal(t, "info", e["level"])
			assert.Equal(t, true, e["administrator"])
			assert.NotContains(t, e, "admin_mode")
			assert.Equal(t, []any{"api", "admin_mode"}, e["scopes"])
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			col := startSimCollector(t, sim.url, tc.token, `
    collect:
      instance: true`)
			tc.check(t, col.waitLogged(t, tc.msg, pollInterval))
			assert.InDelta(t, 1, col.metric(t, "otelcol_gitlab_audit_feed_access", map[string]string{"feed": "instance", "access": tc.access}), 0)
			assert.NotContains(t, col.log(), tc.token)
		})
	}
}

// TestAuthorLookupsRateLimitedFeedsKeepUp runs the collector with an
// Owner's token (not an administrator's: administrators and auditors are
// exempt from GitLab's users_get_by_id limit, lib/api/users.rb) while
// GitLab records events by 16 authors and allows 3 author lookups
// (GET /users/:id) per 10 minutes, answering the others 429 without any
// header (check_rate_limit!, lib/api/helpers/rate_limiter.rb). The author
// lookups are refused and stay refused; the feeds are not: for two poll
// intervals their checkpoint lag stays within 2 × poll_interval, events
// keep flowing, and no feed or listing request is rate-limited.
func TestAuthorLookupsRateLimitedFeedsKeepUp(t *testing.T) {
	const token = "glpat-e2e-owner-token-0123456789"
	sim := startSim(t, "-groups", "3", "-projects", "6", "-backfill", "300", "-backfill-span", "20m", "-rate", "4", "-seed", "7",
		"-users-limit", "3", "-access", token+"=owner@acme;user=2")
	// Four configured feeds, one per worker: all polled at once (the
	// first polls of more feeds are spread over a poll interval).
	feeds := []string{"group:acme", "group:acme/platform", "project:acme/platform/api", "project:acme/infra"}
	col := startSimCollector(t, sim.url, token, `
    collect:
      groups: [acme, acme/platform]
      projects: [acme/platform/api, acme/infra]
      discovery:
        enabled: false
    enrich:
      lookups:
        authors: true`)
	lookups := map[string]string{"class": "lookups"}
	refused := func() float64 { // author lookups that gave no answer
		return col.metric(t, "otelcol_gitlab_audit_enrichment_lookups", map[string]string{"kind": "user", "status": "skipped"}) +
			col.metric(t, "otelcol_gitlab_audit_enrichment_lookups", map[string]string{"kind": "user", "status": "timeout"})
	}
	maxLag := func() (float64, bool) {
		lags, err := col.metrics.byLabel("otelcol_gitlab_audit_checkpoint_lag", "feed")
		if err != nil || len(lags) != len(feeds) {
			return 0, false
		}
		return slices.Max(slices.Collect(maps.Values(lags))), true
	}

	// The first polls, and with them the first author lookups and 429s.
	col.eventually(t, "every feed polled once and author lookups limited", pollInterval, func() bool {
		lag, ok := maxLag()
		return ok && lag <= pollInterval.Seconds() && col.metric(t, "otelcol_gitlab_audit_api_rate_limited", lookups) > 0
	})
	refusedBefore, exportedBefore := refused(), col.sink.count()

	// Two poll intervals with the author lookups limited.
	worst := 0.0
	for end := time.Now().Add(2*pollInterval + 2*time.Second); time.Now().Before(end); time.Sleep(500 * time.Millisecond) {
		lag, ok := maxLag()
		require.True(t, ok)
		worst = max(worst, lag)
		require.LessOrEqual(t, lag, (2 * pollInterval).Seconds(), "a feed's checkpoint lag under the lookup storm; collector log:\n%s", col.log())
	}
	limited := col.metric(t, "otelcol_gitlab_audit_api_rate_limited", lookups)
	t.Logf("checkpoint lag at most %.1f s over %s; author lookups answered 429 %v times; %v author lookups refused during the watch, %d records exported during it",
		worst, 2*pollInterval+2*time.Second, limited, refused()-refusedBefore, col.sink.count()-exportedBefore)
	assert.Greater(t, refused(), refusedBefore, "the author lookups stayed refused")
	assert.Greater(t, col.sink.count(), exportedBefore, "events kept flowing")
	for _, class := range []string{"audit_events", "listings"} {
		assert.Zero(t, col.metric(t, "otelcol_gitlab_audit_api_rate_limited", map[string]string{"class": class}), "no %s request was rate-limited", class)
	}
	assert.Positive(t, col.metric(t, "otelcol_gitlab_audit_enrichment_lookups", map[string]string{"kind": "user", "status": "ok"}), "the first 3 lookups answered")
	assert.NotContains(t, col.log(), token)
}

// TestDiscoveryWhileProjectsVanish runs the collector on a group of 130
// projects (two pages of GitLab's listing) while 5 projects of the first
// page are deleted right after GitLab served it (gitlab-sim
// -vanish-mid-listing). GitLab pages that listing by offset only
// (lib/api/groups.rb ends in paginate): a page-by-page walk would skip 5
// survivors for a whole discovery interval. Every project is listed, and
// every surviving project's feed is polled within two poll intervals of
// the start (the first polls are spread over one).
func TestDiscoveryWhileProjectsVanish(t *testing.T) {
	const token = "glpat-e2e-owner-token-0123456789"
	sim := startSim(t, "-groups", "3", "-projects", "130", "-backfill", "200", "-backfill-span", "30m", "-rate", "0",
		"-vanish-mid-listing", "5", "-access", token+"=owner@acme;user=2")
	col := startSimCollector(t, sim.url, token, `
    per_feed_metrics: true
    collect:
      groups: [acme]`)

	found := col.waitLogged(t, "Discovered the subgroups and projects of the configured groups", pollInterval)
	// After the walk, the simulator's listing holds the survivors.
	survivors := listProjectIDs(t, sim.url, token, "acme")
	require.Len(t, survivors, 125, "5 of the 130 projects were deleted during the walk")
	assert.InDelta(t, 2+130, found["feeds_discovered"], 0, "2 subgroups and every project listed (the 5 deleted after the first page included)")

	// Polled: its feed's checkpoint moved from initial_lookback (1h) ago to
	// the present (per_feed_metrics gives each feed its own lag series).
	notPolled := func() []int64 {
		var lags map[string]float64
		require.NoError(t, col.metrics.scrape(func(r io.Reader) (err error) {
			lags, err = promtext.ByLabel(r, "otelcol_gitlab_audit_checkpoint_lag", "feed")
			return err
		}))
		return slices.DeleteFunc(slices.Clone(survivors), func(id int64) bool {
			lag, ok := lags[fmt.Sprintf("project:%d", id)]
			return ok && lag < 30*60
		})
	}
	// The first discovery spreads the first polls over one poll interval;
	// a survivor the walk skipped would wait for a listing triggered by a
	// deleted project's 404, at least a minute after the first.
	missing := notPolled()
	for deadline := time.Now().Add(2 * pollInterval); len(missing) > 0 && time.Now().Before(deadline); missing = notPolled() {
		time.Sleep(200 * time.Millisecond)
	}
	require.Empty(t, missing, "surviving projects whose feed was not polled; collector log:\n%s", col.log())
	t.Logf("the 125 surviving projects' feeds were polled within %s of the start", time.Since(col.started).Round(100*time.Millisecond))
}

// TestNamespaceFilteredDestination runs two collectors on the same
// GitLab and the same audit event stream, polling acme and listening,
// while GitLab streams through a group destination of acme filtered to
// the subgroup acme/platform and the project acme/platform/api: GitLab
// streams only those namespaces' events (namespace_allowed_to_stream?,
// ee/app/models/concerns/audit_events/externally_streamable.rb), the
// other events of acme are only polled. The collector told its public URL
// finds the destination, says what it streams, and counts no event of the
// other namespaces as missed by the stream; the collector without it
// (today's guess by event type and top-level group) counts them: the
// false alarm the destination check removes.
func TestNamespaceFilteredDestination(t *testing.T) {
	const token = "glpat-e2e-owner-token-0123456789"
	portA, portB := freePort(t), freePort(t)
	// GitLab's destination posts to a proxy in front of both collectors.
	tee := teeStream(t, fmt.Sprintf("http://127.0.0.1:%d/webhook/gitlab-audit", portA), fmt.Sprintf("http://127.0.0.1:%d/webhook/gitlab-audit", portB))
	sim := startSim(t, "-groups", "3", "-projects", "6", "-backfill", "100", "-backfill-span", "10m", "-rate", "6", "-seed", "4",
		"-stream-url", tee, "-stream-token", streamToken, "-stream-name", "kyra-e2e",
		"-stream-group", "acme", "-stream-namespaces", "acme/platform,acme/platform/api", "-quiet",
		"-access", token+"=owner@acme;user=2")
	receiver := func(port int, publicURL string) string {
		cfg := fmt.Sprintf(`
    collect:
      groups: [acme]
    stream:
      endpoint: 127.0.0.1:%d
      verification_tokens: [%s]`, port, streamToken)
		if publicURL != "" {
			cfg += "\n      public_url: " + publicURL
		}
		return cfg
	}
	// B first: its stream watch reports before A's (both every poll
	// interval from their start).
	colB := startSimCollector(t, sim.url, token, receiver(portB, ""))
	colA := startSimCollector(t, sim.url, token, receiver(portA, tee))
	gap := colA.started.Sub(colB.started)

	found := colA.waitLogged(t, "Found the streaming destination that delivers here; the stream watch expects what it streams", pollInterval)
	assert.Equal(t, []any{`"kyra-e2e" of group acme: every event type, namespaces acme/platform, acme/platform/api`}, found["destinations"])
	assert.InDelta(t, 1, colA.metric(t, "otelcol_gitlab_audit_stream_destination", map[string]string{"status": "found"}), 0)

	// An event is missed once it was polled, not streamed, and 30 s old
	// (stream.Grace): B counts the first ones at its report after that.
	missed := "otelcol_gitlab_audit_stream_missed"
	colB.eventually(t, "the collector without public_url counts the events of the other namespaces as missed", 8*pollInterval, func() bool {
		return colB.metric(t, missed, nil) > 0
	})
	time.Sleep(gap + 2*time.Second) // A's report after B's
	t.Logf("after %s: without public_url %v events counted missed by the stream, with it %v",
		time.Since(colB.started).Round(time.Second), colB.metric(t, missed, nil), colA.metric(t, missed, nil))
	assert.Zero(t, colA.metric(t, missed, nil), "no event of a namespace the destination does not stream is counted missed")
	assert.Empty(t, colA.logged("Polling found events that audit event streaming should have delivered and did not; GitLab does not retry failed deliveries"))

	// A received the filtered namespaces' events by the stream, and the
	// others of acme by polling.
	inFilter := func(r record) bool {
		p := fmt.Sprint(r.attrs["gitlab.audit.entity.path"])
		return r.attrs["gitlab.audit.entity.type"] == "Project" && p == "acme/platform/api" ||
			r.attrs["gitlab.audit.entity.type"] == "Group" && (p == "acme/platform" || strings.HasPrefix(p, "acme/platform/"))
	}
	bySource := map[string]map[bool]int{"poll": {}, "stream": {}}
	for _, r := range colA.sink.all() {
		if bySource[r.source] != nil {
			bySource[r.source][inFilter(r)]++
		}
	}
	t.Logf("collector with public_url: %v", bySource)
	assert.Positive(t, bySource["stream"][true], "the filtered namespaces' events were streamed")
	assert.Zero(t, bySource["stream"][false], "nothing else was streamed")
	assert.Positive(t, bySource["poll"][false], "the other namespaces' events were polled")
}

// teeStream is a proxy in front of several streaming endpoints: it sends
// every request it gets to each target (in order) and answers with the
// first target's status. It returns its URL.
func teeStream(t *testing.T, targets ...string) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		status := http.StatusBadGateway
		for i, target := range targets {
			req, err := http.NewRequestWithContext(r.Context(), r.Method, target, bytes.NewReader(body))
			if err != nil {
				continue
			}
			req.Header = r.Header.Clone()
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				continue
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
			if i == 0 {
				status = resp.StatusCode
			}
		}
		w.WriteHeader(status)
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/webhook/gitlab-audit"
}

// listProjectIDs lists the ids of a group's projects (subgroups included)
// from the simulator, as the test's own reference.
func listProjectIDs(t *testing.T, base, token, group string) []int64 {
	t.Helper()
	var ids []int64
	for after := int64(0); ; {
		var page []struct {
			ID int64 `json:"id"`
		}
		u := fmt.Sprintf("%s/api/v4/groups/%s/projects?include_subgroups=true&simple=true&order_by=id&sort=asc&per_page=100&id_after=%d",
			base, url.PathEscape(group), after)
		getJSON(t, u, token, &page)
		for _, p := range page {
			ids = append(ids, p.ID)
		}
		if len(page) < 100 {
			return ids
		}
		after = page[len(page)-1].ID
	}
}

// getJSON GETs a simulator API URL with the token and decodes the answer.
func getJSON(t *testing.T, u, token string, out any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, http.NoBody)
	require.NoError(t, err)
	req.Header.Set("PRIVATE-TOKEN", token)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer func() { _ = resp.Body.Close() }()
	require.Equal(t, http.StatusOK, resp.StatusCode, u)
	require.NoError(t, json.NewDecoder(resp.Body).Decode(out))
}
