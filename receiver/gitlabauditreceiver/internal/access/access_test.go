// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package access

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.uber.org/goleak"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/kyra-mdr/otelcol-gitlab/receiver/gitlabauditreceiver/internal/gitlabapi"
	"github.com/kyra-mdr/otelcol-gitlab/receiver/gitlabauditreceiver/internal/metadata"
	"github.com/kyra-mdr/otelcol-gitlab/testbed/fakeclock"
	"github.com/kyra-mdr/otelcol-gitlab/testbed/gitlabsim"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestDecideByRole: who sees every event of a feed, and who only their own
// (ee/lib/ee/api/groups.rb, projects.rb filter_by_author; admin_group is
// Owner, admin_project Maintainer and Owner; read_*_audit_events from
// Developer).
func TestDecideByRole(t *testing.T) {
	group := gitlabapi.Feed{Kind: gitlabapi.KindGroup, Ref: "acme"}
	project := gitlabapi.Feed{Kind: gitlabapi.KindProject, Ref: "acme/api"}
	tests := []struct {
		feed  gitlabapi.Feed
		level int
		want  Access
	}{
		{group, gitlabapi.AccessOwner, AllEvents},
		{group, gitlabapi.AccessMaintainer, OwnEvents},
		{group, gitlabapi.AccessDeveloper, OwnEvents},
		{group, gitlabapi.AccessReporter, Refused},
		{group, gitlabapi.AccessGuest, Refused},
		{project, gitlabapi.AccessOwner, AllEvents},
		{project, gitlabapi.AccessMaintainer, AllEvents},
		{project, gitlabapi.AccessDeveloper, OwnEvents},
		{project, gitlabapi.AccessReporter, Refused},
	}
	for _, tt := range tests {
		v := decideByRole(tt.feed, tt.level)
		assert.Equal(t, tt.want, v.Access, "%s as %s", tt.feed, gitlabapi.RoleName(tt.level))
		if tt.want != AllEvents {
			assert.NotEmpty(t, v.Needs)
		}
	}
	assert.Equal(t, OwnEvents, decideNotMember(group, true).Access, "an auditor reads the feed: its own events only")
	assert.Equal(t, Refused, decideNotMember(group, false).Access)
	assert.Equal(t, AllEvents, decideAdmin(gitlabapi.Feed{Kind: gitlabapi.KindInstance}).Access)
	assert.Equal(t, Refused, decideInstanceNotAdmin(gitlabapi.Feed{Kind: gitlabapi.KindInstance}, "auditor").Access)
}

// checkerFor is a checker against a simulated GitLab where token is the
// only token, with logs observed and metrics collected.
func checkerFor(t *testing.T, opts gitlabsim.Options, token string) (*Checker, *observer.ObservedLogs, *componenttest.Telemetry, *statusLog, *gitlabsim.Sim) {
	t.Helper()
	clk := fakeclock.New()
	if opts.Now == nil {
		opts.Now = clk.Now
	}
	sim := gitlabsim.New(opts)
	sim.Populate(3, 6)
	srv := httptest.NewServer(sim)
	t.Cleanup(func() {
		srv.Close()
		_ = sim.Close()
	})
	base, _ := url.Parse(srv.URL)
	core, logs := observer.New(zapcore.DebugLevel)
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
	tb, err := metadata.NewTelemetryBuilder(tel.NewTelemetrySettings())
	require.NoError(t, err)
	t.Cleanup(tb.Shutdown)
	client := gitlabapi.New(gitlabapi.Options{HTTPClient: srv.Client(), BaseURL: base, Token: token, PerPage: 100, MaxConcurrent: 2,
		Clock: gitlabapi.NewClock(opts.Now)})
	status := &statusLog{}
	c, err := New(Settings{Client: client, Telemetry: tb, Logger: zap.New(core), Status: status.set,
		Label: func(f gitlabapi.Feed) string { return f.String() }, ExpiryWarning: 14 * 24 * time.Hour})
	require.NoError(t, err)
	return c, logs, tel, status, sim
}

type statusLog struct {
	mu   sync.Mutex
	errs map[string]error
}

func (s *statusLog) set(part string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.errs == nil {
		s.errs = map[string]error{}
	}
	if err == nil {
		delete(s.errs, part)
	} else {
		s.errs[part] = err
	}
}

func (s *statusLog) get(part string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.errs[part]
}

var (
	instance   = gitlabapi.Feed{Kind: gitlabapi.KindInstance}
	acme       = gitlabapi.Feed{Kind: gitlabapi.KindGroup, Ref: "acme"}
	acmeAPI    = gitlabapi.Feed{Kind: gitlabapi.KindProject, Ref: "acme/platform/api"}
	globex     = gitlabapi.Feed{Kind: gitlabapi.KindGroup, Ref: "globex"} // no such group
	configured = []Feed{{Feed: instance}, {Feed: acme}, {Feed: acmeAPI}, {Feed: globex}}
)

// TestCheckDecidesEachFeedFromWhatGitLabSays: the verdict for each feed,
// for tokens of every kind of user, read from GitLab's own answers (GET
// /user, /personal_access_tokens/self, members/all/:user_id, a probe).
func TestCheckDecidesEachFeedFromWhatGitLabSays(t *testing.T) {
	const tok = "glpat-under-test-0123456789"
	tests := []struct {
		name      string
		token     gitlabsim.Token
		adminMode bool
		want      map[string]Access
	}{
		{"administrator", gitlabsim.Token{UserID: 1, Admin: true},
			false, map[string]Access{"instance": AllEvents, "group:acme": AllEvents, "project:acme/platform/api": AllEvents, "group:globex": AllEvents}},
		{"administrator, Admin Mode on, no admin_mode scope", gitlabsim.Token{UserID: 1, Admin: true, Scopes: []string{gitlabsim.ScopeReadAPI}},
			true, map[string]Access{"instance": Refused, "group:acme": Refused, "project:acme/platform/api": Refused, "group:globex": Refused}},
		{"administrator, Admin Mode on, admin_mode scope", gitlabsim.Token{UserID: 1, Admin: true, Scopes: []string{gitlabsim.ScopeReadAPI, gitlabsim.ScopeAdminMode}},
			true, map[string]Access{"instance": AllEvents, "group:acme": AllEvents, "project:acme/platform/api": AllEvents, "group:globex": AllEvents}},
		{"Owner of acme", gitlabsim.Token{UserID: 3, Groups: map[string]gitlabsim.Role{"acme": gitlabsim.Owner}},
			false, map[string]Access{"instance": Refused, "group:acme": AllEvents, "project:acme/platform/api": AllEvents, "group:globex": Refused}},
		{"Maintainer of acme", gitlabsim.Token{UserID: 3, Groups: map[string]gitlabsim.Role{"acme": gitlabsim.Maintainer}},
			false, map[string]Access{"instance": Refused, "group:acme": OwnEvents, "project:acme/platform/api": AllEvents, "group:globex": Refused}},
		{"Developer of acme", gitlabsim.Token{UserID: 3, Groups: map[string]gitlabsim.Role{"acme": gitlabsim.Developer}},
			false, map[string]Access{"instance": Refused, "group:acme": OwnEvents, "project:acme/platform/api": OwnEvents, "group:globex": Refused}},
		{"Reporter of acme", gitlabsim.Token{UserID: 3, Groups: map[string]gitlabsim.Role{"acme": gitlabsim.Reporter}},
			false, map[string]Access{"instance": Refused, "group:acme": Refused, "project:acme/platform/api": Refused, "group:globex": Refused}},
		{"auditor", gitlabsim.Token{UserID: 3, Auditor: true},
			false, map[string]Access{"instance": Refused, "group:acme": OwnEvents, "project:acme/platform/api": OwnEvents, "group:globex": Refused}}, // globex does not exist
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, logs, _, status, _ := checkerFor(t, gitlabsim.Options{AdminMode: tt.adminMode, Tokens: map[string]gitlabsim.Token{tok: tt.token}}, tok)
			c.Check(context.Background(), configured)
			got := map[string]Access{}
			for k, v := range c.Verdicts() {
				got[k] = v.Access
			}
			assert.Equal(t, tt.want, got)
			incomplete := 0
			for _, a := range tt.want {
				if a != AllEvents {
					incomplete++
				}
			}
			if incomplete == 0 {
				assert.Len(t, logs.FilterMessage("The token sees every event of every feed").All(), 1)
				assert.Empty(t, logs.FilterLevelExact(zapcore.WarnLevel).All())
			} else {
				warned := logs.FilterMessageSnippet("does not see every event").All()
				require.Len(t, warned, 1)
				lines := warned[0].ContextMap()["incomplete"].([]any)
				assert.Len(t, lines, incomplete, "one line per incomplete feed")
				for _, l := range lines {
					assert.Contains(t, l.(string), "needs ", "the role it needs")
				}
			}
			if tt.want["group:acme"] == OwnEvents {
				require.Error(t, status.get("access:group:acme"), "degraded in the component status")
			} else {
				require.NoError(t, status.get("access:group:acme"))
			}
			// Said once: a second check that finds the same says nothing.
			said := func() int {
				return logs.FilterLevelExact(zapcore.InfoLevel).Len() + logs.FilterLevelExact(zapcore.WarnLevel).Len()
			}
			n := said()
			c.Check(context.Background(), configured)
			assert.Equal(t, n, said())
		})
	}
}

// TestFeedAccessGauge: one series per feed and access.
func TestFeedAccessGauge(t *testing.T) {
	const tok = "glpat-dev-0000000000000000"
	c, _, tel, _, _ := checkerFor(t, gitlabsim.Options{Tokens: map[string]gitlabsim.Token{
		tok: {UserID: 3, Groups: map[string]gitlabsim.Role{"acme": gitlabsim.Developer}},
	}}, tok)
	c.Check(context.Background(), append(configured,
		Feed{Feed: gitlabapi.Feed{Kind: gitlabapi.KindProject, Ref: "101"}, Root: "acme"},
		Feed{Feed: gitlabapi.Feed{Kind: gitlabapi.KindGroup, Ref: "11"}, Root: "acme"}))
	m, err := tel.GetMetric("otelcol_gitlab_audit_feed_access")
	require.NoError(t, err)
	got := map[string]int64{}
	for _, dp := range m.Data.(metricdata.Gauge[int64]).DataPoints {
		feed, _ := dp.Attributes.Value(metadata.AttrFeed)
		acc, _ := dp.Attributes.Value(metadata.AttrAccess)
		got[feed.AsString()+" "+acc.AsString()] = dp.Value
	}
	assert.Equal(t, map[string]int64{
		"instance refused": 1, "group:acme own_events": 1, "project:acme/platform/api own_events": 1, "group:globex refused": 1,
		"project:101 own_events": 1, "group:11 own_events": 1, // derived from Developer on acme
	}, got)
}

// TestTokenExpiry: the gauge says how long the token has; a warning at
// start when it expires within the warning period, once a day.
func TestTokenExpiry(t *testing.T) {
	const tok = "glpat-expiring-00000000000"
	clk := fakeclock.New()
	c, logs, tel, _, _ := checkerFor(t, gitlabsim.Options{Now: clk.Now, Tokens: map[string]gitlabsim.Token{
		tok: {UserID: 1, Admin: true, ID: 77, Name: "kyra-collector", Scopes: []string{gitlabsim.ScopeReadAPI},
			ExpiresAt: time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)},
	}}, tok)
	c.Check(context.Background(), configured)
	m, err := tel.GetMetric("otelcol_gitlab_audit_token_expiry_seconds")
	require.NoError(t, err)
	dps := m.Data.(metricdata.Gauge[float64]).DataPoints
	require.Len(t, dps, 1)
	assert.InDelta(t, (4*24*time.Hour + 12*time.Hour).Seconds(), dps[0].Value, 5, "2026-11-30 00:00 UTC is 4.5 days after the clock")
	id, _ := dps[0].Attributes.Value(metadata.AttrTokenID)
	name, _ := dps[0].Attributes.Value(metadata.AttrTokenName)
	assert.Equal(t, "77", id.AsString())
	assert.Equal(t, "kyra-collector", name.AsString())

	warned := logs.FilterMessageSnippet("expires soon").All()
	require.Len(t, warned, 1)
	assert.Equal(t, "kyra-collector", warned[0].ContextMap()["token_name"])
	assert.Contains(t, warned[0].ContextMap()["what_to_do"], "SIGHUP")
	for _, e := range logs.All() {
		assert.NotContains(t, e.Message+fieldsText(e), tok, "the token's value is never logged")
	}
	c.Check(context.Background(), configured)
	assert.Len(t, logs.FilterMessageSnippet("expires soon").All(), 1, "once a day")
	clk.Add(24 * time.Hour)
	c.Check(context.Background(), configured)
	assert.Len(t, logs.FilterMessageSnippet("expires soon").All(), 2, "again the next day")
}

func fieldsText(e observer.LoggedEntry) string {
	var b strings.Builder
	for k, v := range e.ContextMap() {
		b.WriteString(k)
		b.WriteString("=")
		b.WriteString(strings.TrimSpace(strings.ReplaceAll(fmtAny(v), "\n", " ")))
	}
	return b.String()
}

func fmtAny(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case []any:
		var parts []string
		for _, p := range x {
			parts = append(parts, fmtAny(p))
		}
		return strings.Join(parts, ",")
	}
	return ""
}

// TestRefusedTokenIsOneClearError: an expired token gets GitLab's 401
// invalid_token (lib/api/api_guard.rb); the check says it once, with the
// token's facts and how to rotate it, however many feeds fail.
func TestRefusedTokenIsOneClearError(t *testing.T) {
	const tok = "glpat-expired-0000000000000"
	c, logs, _, status, _ := checkerFor(t, gitlabsim.Options{Tokens: map[string]gitlabsim.Token{
		tok: {UserID: 1, Admin: true, ExpiresAt: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)},
	}}, tok)
	c.Check(context.Background(), configured)
	for range 5 {
		c.Answered(context.Background(), Feed{Feed: acme}, &gitlabapi.APIError{Target: gitlabapi.FeedTarget(acme), Status: http.StatusUnauthorized,
			Message: "invalid_token: Token is expired. You can either do re-authorization or token refresh."})
	}
	errs := logs.FilterMessageSnippet("GitLab refuses the token (401)").All()
	require.Len(t, errs, 1)
	assert.Contains(t, errs[0].ContextMap()["what_to_do"], "expired")
	require.Error(t, status.get("token"))
}

// TestAnsweredCorrectsADerivedVerdict: a discovered project decided from a
// Reporter role on its group is refused by derivation; when it answers (a
// direct Maintainer role below), it is decided again, directly.
func TestAnsweredCorrectsADerivedVerdict(t *testing.T) {
	const tok = "glpat-mixed-000000000000000"
	c, logs, _, _, sim := checkerFor(t, gitlabsim.Options{Tokens: map[string]gitlabsim.Token{
		tok: {UserID: 3, Groups: map[string]gitlabsim.Role{"acme": gitlabsim.Reporter},
			Projects: map[string]gitlabsim.Role{"acme/platform/api": gitlabsim.Maintainer}},
	}}, tok)
	var api gitlabapi.Feed
	for _, p := range sim.Projects() {
		if p.FullPath == "acme/platform/api" {
			api = gitlabapi.Feed{Kind: gitlabapi.KindProject, Ref: strconv.FormatInt(p.ID, 10)}
		}
	}
	feeds := []Feed{{Feed: acme}, {Feed: api, Root: "acme"}}
	c.Check(context.Background(), feeds)
	assert.Equal(t, Refused, c.Verdicts()[api.String()].Access)
	c.Answered(context.Background(), feeds[1], nil)
	assert.Equal(t, AllEvents, c.Verdicts()[api.String()].Access, "Maintainer of the project")
	assert.Len(t, logs.FilterMessageSnippet("does not see every event").All(), 2, "said again when it changed")
}
