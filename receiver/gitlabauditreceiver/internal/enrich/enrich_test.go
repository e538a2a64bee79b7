// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package enrich

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/config/configretry"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.uber.org/goleak"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/kyra-mdr/otelcol-gitlab/internal/auditevent"
	"github.com/kyra-mdr/otelcol-gitlab/receiver/gitlabauditreceiver/internal/auditlog"
	"github.com/kyra-mdr/otelcol-gitlab/receiver/gitlabauditreceiver/internal/gitlabapi"
	"github.com/kyra-mdr/otelcol-gitlab/testbed/gitlabsim"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const (
	adminToken = "glpat-enrich-admin-000000000"
	devToken   = "glpat-enrich-dev-00000000000"
)

var (
	t0  = time.Date(2026, 5, 4, 10, 0, 0, 0, time.UTC)
	all = Switches{PersonalAccessTokens: true, ResourceAccessTokens: true, CIVariables: true, DeployKeys: true, DeployTokens: true, Authors: true}
)

// env is a simulated GitLab with objects, and a client to it.
type env struct {
	sim *gitlabsim.Sim
	srv *httptest.Server
}

func newEnv(t *testing.T) *env {
	t.Helper()
	sim := gitlabsim.New(gitlabsim.Options{
		Seed: 5, Now: func() time.Time { return t0.Add(time.Hour) },
		Tokens: map[string]gitlabsim.Token{
			adminToken: {UserID: 1, Admin: true},
			devToken:   {UserID: 2, Groups: map[string]gitlabsim.Role{"acme": gitlabsim.Developer}},
		},
	})
	sim.AddUser(gitlabsim.User{ID: 1, Username: "root", Admin: true})
	sim.AddUser(gitlabsim.User{ID: 2, Username: "dev"})
	sim.AddGroup(10, "acme")
	sim.AddProject(100, "acme/api", 10)
	srv := httptest.NewServer(sim)
	t.Cleanup(func() {
		srv.Close()
		_ = sim.Close()
	})
	return &env{sim: sim, srv: srv}
}

func (e *env) client(t *testing.T, token string, rpm int) *gitlabapi.Client {
	t.Helper()
	u, err := url.Parse(e.srv.URL)
	require.NoError(t, err)
	return gitlabapi.New(gitlabapi.Options{
		HTTPClient: e.srv.Client(), BaseURL: u, Token: token, PerPage: 100,
		RequestsPerMinute: rpm, MaxConcurrent: 4,
		BackOff: configretry.BackOffConfig{Enabled: true, InitialInterval: 5 * time.Millisecond, MaxInterval: 10 * time.Millisecond, MaxElapsedTime: 50 * time.Millisecond},
	})
}

// requests counts the simulator's requests whose path contains part.
func (e *env) requests(part string) int {
	n := 0
	for _, r := range e.sim.Requests() {
		if strings.Contains(r.Path, part) {
			n++
		}
	}
	return n
}

// records turns simulator events into records, as the receiver does.
func records(t *testing.T, evs ...gitlabsim.StoredEvent) plog.LogRecordSlice {
	t.Helper()
	s := plog.NewLogRecordSlice()
	for _, ev := range evs {
		_, err := auditlog.Fill(s.AppendEmpty(), string(ev.StreamJSON), auditlog.SourceStream, "", pcommon.NewTimestampFromTime(t0))
		require.NoError(t, err)
	}
	return s
}

func newEnricher(t *testing.T, s Settings) *Enricher {
	t.Helper()
	if s.Timeout == 0 {
		s.Timeout = 2 * time.Second
	}
	if s.CacheEntries == 0 {
		s.CacheEntries = 100
	}
	if s.CacheTTL == 0 {
		s.CacheTTL = time.Minute
	}
	if s.Switches == (Switches{}) {
		s.Switches = all
	}
	en := New(s)
	t.Cleanup(en.Shutdown)
	return en
}

func attrs(lr plog.LogRecord) map[string]any { return lr.Attributes().AsRaw() }

// Events naming objects.
func patEvent(id int64) gitlabsim.Event {
	return gitlabsim.Event{Type: "personal_access_token_created", Entity: gitlabsim.Entity{Type: gitlabsim.EntityUser, ID: 2},
		Author: gitlabsim.Author{ID: 2}, Target: gitlabsim.Target{ID: int64(2), Type: "User", Details: "dev"},
		CustomMessage: fmt.Sprintf("Created personal access token with id %d", id), CreatedAt: t0}
}

func variableEvent(typ string, entity gitlabsim.Entity, key string) gitlabsim.Event {
	return gitlabsim.Event{Type: typ, Entity: entity, Author: gitlabsim.Author{ID: 1},
		Target: gitlabsim.Target{ID: int64(9), Type: "Ci::Variable", Details: key}, Details: map[string]any{"add": "ci_variable"},
		CustomMessage: "Added ci variable", CreatedAt: t0}
}

var project = gitlabsim.Entity{Type: gitlabsim.EntityProject, ID: 100}

// TestLookups looks up each kind of object and checks the facts written.
func TestLookups(t *testing.T) {
	e := newEnv(t)
	e.sim.AddAccessToken(gitlabsim.AccessToken{ID: 501, UserID: 2, Scopes: []string{"api", "write_repository"}, CreatedAt: t0, ExpiresAt: t0.AddDate(2, 0, 0)})
	e.sim.AddAccessToken(gitlabsim.AccessToken{ID: 502, UserID: 2, Scopes: []string{"read_api"}, CreatedAt: t0})
	e.sim.AddAccessToken(gitlabsim.AccessToken{ID: 503, UserID: 7001, Project: 100, Scopes: []string{"api"}, AccessLevel: gitlabsim.Owner, CreatedAt: t0, ExpiresAt: t0.AddDate(0, 0, 30)})
	e.sim.AddAccessToken(gitlabsim.AccessToken{ID: 504, UserID: 7002, Group: 10, Scopes: []string{"read_registry"}, AccessLevel: gitlabsim.Developer, CreatedAt: t0})
	e.sim.AddVariable(gitlabsim.Variable{Scope: gitlabsim.VariableProject, Owner: 100, Key: "NPM_TOKEN", Value: "v", Masked: true})
	e.sim.AddVariable(gitlabsim.Variable{Scope: gitlabsim.VariableGroup, Owner: 10, Key: "KUBE_CONFIG", Value: "v", Protected: true, VariableType: "file", EnvironmentScope: "production"})
	e.sim.AddVariable(gitlabsim.Variable{Scope: gitlabsim.VariableInstance, Key: "SONAR_TOKEN", Value: "v", Protected: true, Raw: true})
	e.sim.AddDeployKey(gitlabsim.DeployKey{ID: 61, Project: 100, Title: "ci", CanPush: true, CreatedAt: t0})
	e.sim.AddDeployKey(gitlabsim.DeployKey{ID: 62, Project: 100, Title: "ro", CreatedAt: t0, ExpiresAt: t0.AddDate(1, 0, 0)})
	e.sim.AddDeployToken(gitlabsim.DeployToken{ID: 71, Project: 100, Name: "k8s", Scopes: []string{"read_registry", "write_registry"}, ExpiresAt: t0.AddDate(0, 1, 0)})
	e.sim.AddDeployToken(gitlabsim.DeployToken{ID: 72, Group: 10, Name: "mirror", Scopes: []string{"read_repository"}})

	group := gitlabsim.Entity{Type: gitlabsim.EntityGroup, ID: 10}
	tokenMsg := func(kind string, id int) string {
		return fmt.Sprintf("Created %s access token with token_id: %d with scopes: [:api] and Owner access level.", kind, id)
	}
	tests := []struct {
		name string
		ev   gitlabsim.Event
		want map[string]any
	}{
		{"personal access token, two years", patEvent(501), map[string]any{
			auditevent.AttrTokenExpiresAt: "2028-05-04", auditevent.AttrTokenScopes: []any{"api", "write_repository"},
			auditevent.AttrTokenActive: true, auditevent.AttrTokenRevoked: false}},
		{"personal access token, no expiry", patEvent(502), map[string]any{
			auditevent.AttrTokenScopes: []any{"read_api"}, auditevent.AttrTokenActive: true, auditevent.AttrTokenRevoked: false}},
		{"project access token", gitlabsim.Event{Type: "project_access_token_created", Entity: project, Author: gitlabsim.Author{ID: 1},
			Target: gitlabsim.Target{ID: int64(503), Type: "PersonalAccessToken", Details: "bot"}, CustomMessage: tokenMsg("project", 503)},
			map[string]any{auditevent.AttrTokenExpiresAt: "2026-06-03", auditevent.AttrTokenScopes: []any{"api"}, auditevent.AttrTokenAccessLevel: int64(50),
				auditevent.AttrTokenActive: true, auditevent.AttrTokenRevoked: false}},
		{"group access token", gitlabsim.Event{Type: "group_access_token_created", Entity: group, Author: gitlabsim.Author{ID: 1},
			Target: gitlabsim.Target{ID: int64(7002), Type: "User", Details: "bot"}, CustomMessage: "Created group token with token_id: 504 with scopes: [:read_registry]."},
			map[string]any{auditevent.AttrTokenScopes: []any{"read_registry"}, auditevent.AttrTokenAccessLevel: int64(30),
				auditevent.AttrTokenActive: true, auditevent.AttrTokenRevoked: false}},
		{"project variable", variableEvent("ci_variable_created", project, "NPM_TOKEN"), map[string]any{
			auditevent.AttrCIVariableProtected: false, auditevent.AttrCIVariableMasked: true, auditevent.AttrCIVariableHidden: false,
			auditevent.AttrCIVariableRaw: false, auditevent.AttrCIVariableEnvironmentScope: "*", auditevent.AttrCIVariableType: "env_var"}},
		{"group variable", variableEvent("ci_group_variable_updated", group, "KUBE_CONFIG"), map[string]any{
			auditevent.AttrCIVariableProtected: true, auditevent.AttrCIVariableMasked: false, auditevent.AttrCIVariableHidden: false,
			auditevent.AttrCIVariableRaw: false, auditevent.AttrCIVariableEnvironmentScope: "production", auditevent.AttrCIVariableType: "file"}},
		{"instance variable", variableEvent("ci_instance_variable_created", gitlabsim.InstanceEntity, "SONAR_TOKEN"), map[string]any{
			auditevent.AttrCIVariableProtected: true, auditevent.AttrCIVariableMasked: false, auditevent.AttrCIVariableHidden: false,
			auditevent.AttrCIVariableRaw: true, auditevent.AttrCIVariableType: "env_var"}},
		{"deploy key with write access", gitlabsim.Event{Type: "deploy_key_added", Entity: project, Author: gitlabsim.Author{ID: 1},
			Target: gitlabsim.Target{ID: int64(61), Type: "DeployKey", Details: "ci"}, CustomMessage: "Added deploy key"},
			map[string]any{auditevent.AttrDeployKeyCanPush: true}},
		{"deploy key with expiry", gitlabsim.Event{Type: "deploy_key_added", Entity: project, Author: gitlabsim.Author{ID: 1},
			Target: gitlabsim.Target{ID: int64(62), Type: "DeployKey", Details: "ro"}, CustomMessage: "Added deploy key"},
			map[string]any{auditevent.AttrDeployKeyCanPush: false, auditevent.AttrDeployKeyExpiresAt: "2027-05-04T10:00:00.000Z"}},
		{"project deploy token", gitlabsim.Event{Type: "deploy_token_created", Entity: project, Author: gitlabsim.Author{ID: 1},
			Target:        gitlabsim.Target{ID: int64(71), Type: "DeployToken", Details: "k8s"},
			CustomMessage: "Created project deploy token with name: k8s with token_id: 71 with scopes: [:read_registry, :write_registry]."},
			map[string]any{auditevent.AttrDeployTokenScopes: []any{"read_registry", "write_registry"}, auditevent.AttrDeployTokenExpiresAt: "2026-06-04T10:00:00.000Z"}},
		{"group deploy token", gitlabsim.Event{Type: "group_deploy_token_created", Entity: group, Author: gitlabsim.Author{ID: 1},
			Target:        gitlabsim.Target{ID: int64(72), Type: "DeployToken", Details: "mirror"},
			CustomMessage: "Created group deploy token with name: mirror with token_id: 72 with scopes: [:read_repository]."},
			map[string]any{auditevent.AttrDeployTokenScopes: []any{"read_repository"}}},
	}
	en := newEnricher(t, Settings{Client: e.client(t, adminToken, 0), Now: func() time.Time { return t0.Add(2 * time.Hour) }})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.ev.CreatedAt = t0
			recs := records(t, e.sim.Insert(tt.ev))
			en.Enrich(context.Background(), recs)
			got := attrs(recs.At(0))
			assert.Equal(t, "ok", got[auditevent.AttrEnrichmentStatus], got[auditevent.AttrEnrichmentReason])
			assert.Equal(t, "2026-05-04T12:00:00Z", got[auditevent.AttrEnrichmentTime])
			assert.NotContains(t, got, auditevent.AttrEnrichmentReason)
			for k, v := range tt.want {
				assert.Equal(t, v, got[k], k)
			}
			for k := range got {
				if strings.HasPrefix(k, "gitlab.token.") || strings.HasPrefix(k, "gitlab.ci_variable.") || strings.HasPrefix(k, "gitlab.deploy_") {
					assert.Contains(t, tt.want, k, "unexpected fact")
				}
			}
			// The author is a human user.
			assert.Equal(t, false, got[auditevent.AttrAuthorBot])
		})
	}
}

// TestStatuses covers every status other than ok.
func TestStatuses(t *testing.T) {
	e := newEnv(t)
	e.sim.AddAccessToken(gitlabsim.AccessToken{ID: 801, UserID: 1, Scopes: []string{"api"}, CreatedAt: t0})
	e.sim.AddAccessToken(gitlabsim.AccessToken{ID: 999, UserID: 2, State: gitlabsim.ObjectDeleted})
	e.sim.AddVariable(gitlabsim.Variable{Scope: gitlabsim.VariableProject, Owner: 100, Key: "HIDDEN_ONE", Value: "v", State: gitlabsim.ObjectRestricted})
	admin := e.client(t, adminToken, 0)
	tests := []struct {
		name       string
		settings   Settings
		ev         gitlabsim.Event
		setup      func()
		status     string
		reason     string // substring
		answeredAt bool
	}{
		{"not found (deleted since)", Settings{Client: admin}, patEvent(999), nil, "not_found", "", true},
		{"forbidden: another user's token", Settings{Client: e.client(t, devToken, 0)}, patEvent(801), nil, "forbidden", "only administrators", true},
		{"forbidden: restricted variable", Settings{Client: admin}, variableEvent("ci_variable_created", project, "HIDDEN_ONE"), nil, "forbidden", "Maintainer role on the project", true},
		{"error: GitLab fails", Settings{Client: admin}, patEvent(801), func() { e.sim.FailNext(100, http.StatusInternalServerError) }, "error", "500", false},
		{"timeout: GitLab is slow", Settings{Client: admin, Timeout: 150 * time.Millisecond}, patEvent(801), func() { e.sim.SetLookupDelay(2 * time.Second) }, "timeout", "", false},
		{"skipped: enrichment off", Settings{Off: "enrichment needs endpoint and token"}, patEvent(801), nil, "skipped", "enrichment needs endpoint and token", false},
		{"skipped: kind off", Settings{Client: admin, Switches: Switches{CIVariables: true}}, patEvent(801), nil, "skipped", "enrich::lookups::personal_access_tokens is off", false},
		{"skipped: failed creation", Settings{Client: admin}, gitlabsim.Event{Type: "personal_access_token_created", Entity: gitlabsim.Entity{Type: gitlabsim.EntityUser, ID: 2},
			Author: gitlabsim.Author{ID: 2}, CustomMessage: "Attempted to create personal access token but failed with message: Expiration date is required"}, nil, "skipped", "names no token", false},
		{"skipped: legacy deploy key event without id", Settings{Client: admin}, gitlabsim.Event{Type: "deploy_key_added", Entity: project, Author: gitlabsim.Author{ID: 1},
			Target: gitlabsim.Target{ID: "ci-key", Type: "DeployKey", Details: "ci-key"}}, nil, "skipped", "deploy key's id", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.setup != nil {
				tt.setup()
				defer e.sim.FailNext(0, 0)
				defer e.sim.SetLookupDelay(0)
			}
			tt.settings.Switches = cmpOr(tt.settings.Switches, all)
			en := newEnricher(t, tt.settings)
			tt.ev.CreatedAt = t0
			recs := records(t, e.sim.Insert(tt.ev))
			start := time.Now()
			en.Enrich(context.Background(), recs)
			got := attrs(recs.At(0))
			assert.Equal(t, tt.status, got[auditevent.AttrEnrichmentStatus], got[auditevent.AttrEnrichmentReason])
			if tt.reason != "" {
				assert.Contains(t, got[auditevent.AttrEnrichmentReason], tt.reason)
			}
			_, hasTime := got[auditevent.AttrEnrichmentTime]
			assert.Equal(t, tt.answeredAt, hasTime)
			assert.NotContains(t, got, auditevent.AttrTokenScopes)
			if tt.status == "timeout" {
				assert.Less(t, time.Since(start), time.Second, "the time box holds")
			}
		})
	}
}

func cmpOr(s, def Switches) Switches {
	if s == (Switches{}) {
		return def
	}
	return s
}

// twoFactorEvent is a user_disable_two_factor event about user 2, with one
// of GitLab's three messages.
func twoFactorEvent(msg string) gitlabsim.Event {
	return gitlabsim.Event{Type: "user_disable_two_factor", Entity: gitlabsim.Entity{Type: gitlabsim.EntityUser, ID: 2},
		Author: gitlabsim.Author{ID: 2}, Target: gitlabsim.Target{ID: int64(2), Type: "User", Details: "dev"},
		CustomMessage: msg, CreatedAt: t0}
}

// TestTwoFactorLookup: a two-factor removal is followed by a look at the
// user, with an administrator's token, and the answer given after each
// event decides that event (never a cached one from before it).
func TestTwoFactorLookup(t *testing.T) {
	const otp, webauthn = "Disabled One-time password authenticator", "Deleted WebAuthn device"
	tests := []struct {
		name    string
		factors gitlabsim.TwoFactor
		token   string
		msgs    []string
		want    []any // gitlab.target_user.two_factor_enabled per event; nil: absent
		status  string
		reason  string
	}{
		{"the only authenticator removed", gitlabsim.TwoFactor{OTP: true}, adminToken, []string{otp}, []any{false}, "ok", ""},
		{"a WebAuthn device remains", gitlabsim.TwoFactor{OTP: true, WebAuthnDevices: 1}, adminToken, []string{otp}, []any{true}, "ok", ""},
		{"one device, then the other", gitlabsim.TwoFactor{WebAuthnDevices: 2}, adminToken, []string{webauthn, webauthn}, []any{true, false}, "ok", ""},
		{"a developer's token is not shown the flag", gitlabsim.TwoFactor{OTP: true}, devToken, []string{otp}, []any{nil}, "forbidden", "only administrators and auditors"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			e.sim.SetTwoFactor(2, tt.factors)
			en := newEnricher(t, Settings{Client: e.client(t, tt.token, 0)})
			// The user's author lookup, before the removals, is cached: it
			// must not answer for them.
			en.Enrich(context.Background(), records(t, e.sim.Insert(patEvent(1))))
			for i, msg := range tt.msgs {
				recs := records(t, e.sim.Insert(twoFactorEvent(msg)))
				en.Enrich(context.Background(), recs)
				got := attrs(recs.At(0))
				assert.Equal(t, tt.status, got[auditevent.AttrEnrichmentStatus], got[auditevent.AttrEnrichmentReason])
				assert.Equal(t, tt.want[i], got[auditevent.AttrTargetUserTwoFactorEnabled], "event %d", i)
				if tt.reason != "" {
					assert.Contains(t, got[auditevent.AttrEnrichmentReason], tt.reason)
				}
			}
			assert.Equal(t, 1+len(tt.msgs), e.requests("/users/2"), "one author lookup, then one lookup per removal")
		})
	}
}

// TestCacheOneRequestPerObject: a burst of events about one token costs
// one request, within a batch, across batches and across concurrent batches.
func TestCacheOneRequestPerObject(t *testing.T) {
	e := newEnv(t)
	e.sim.AddAccessToken(gitlabsim.AccessToken{ID: 901, UserID: 2, Scopes: []string{"api"}, CreatedAt: t0})
	e.sim.SetLookupDelay(50 * time.Millisecond) // so that concurrent batches overlap
	en := newEnricher(t, Settings{Client: e.client(t, adminToken, 0)})
	ev := e.sim.Insert(patEvent(901))
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			recs := records(t, ev, ev, ev, ev, ev)
			en.Enrich(context.Background(), recs)
			for i := range recs.Len() {
				assert.Equal(t, "ok", attrs(recs.At(i))[auditevent.AttrEnrichmentStatus])
			}
		})
	}
	wg.Wait()
	assert.Equal(t, 1, e.requests("/personal_access_tokens/901"))
	assert.Equal(t, 1, e.requests("/users/2"), "the author is looked up once too")

	// Expired entries are looked up again.
	clock := t0
	var mu sync.Mutex
	en2 := newEnricher(t, Settings{Client: e.client(t, adminToken, 0), CacheTTL: time.Minute, Switches: Switches{PersonalAccessTokens: true},
		Now: func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }})
	en2.Enrich(context.Background(), records(t, ev))
	en2.Enrich(context.Background(), records(t, ev))
	assert.Equal(t, 2, e.requests("/personal_access_tokens/901"))
	mu.Lock()
	clock = clock.Add(2 * time.Minute)
	mu.Unlock()
	en2.Enrich(context.Background(), records(t, ev))
	assert.Equal(t, 3, e.requests("/personal_access_tokens/901"))
}

// TestCacheBounded: the cache never holds more than its size.
func TestCacheBounded(t *testing.T) {
	e := newEnv(t)
	en := newEnricher(t, Settings{Client: e.client(t, adminToken, 0), CacheEntries: 3, Switches: Switches{PersonalAccessTokens: true}})
	for i := range 10 {
		e.sim.AddAccessToken(gitlabsim.AccessToken{ID: int64(1000 + i), UserID: 2, CreatedAt: t0})
		en.Enrich(context.Background(), records(t, e.sim.Insert(patEvent(int64(1000+i)))))
		assert.LessOrEqual(t, en.CacheLen(), 3)
	}
	// The most recent is still cached; the first was evicted.
	en.Enrich(context.Background(), records(t, e.sim.Insert(patEvent(1009))))
	assert.Equal(t, 1, e.requests("/personal_access_tokens/1009"))
	en.Enrich(context.Background(), records(t, e.sim.Insert(patEvent(1000))))
	assert.Equal(t, 2, e.requests("/personal_access_tokens/1000"))
}

// TestBudgetSharedWithPolling: lookups and feed pages draw on one request
// budget: after a page took the only request of the moment, a lookup that
// cannot wait for the next one is skipped at once, saying why.
func TestBudgetSharedWithPolling(t *testing.T) {
	e := newEnv(t)
	e.sim.AddAccessToken(gitlabsim.AccessToken{ID: 911, UserID: 2, CreatedAt: t0})
	client := e.client(t, adminToken, 6) // one request every 10 s
	_, _, err := client.Pages(gitlabapi.Feed{Kind: gitlabapi.KindInstance}, gitlabapi.Window{After: t0, Before: t0.Add(time.Hour)}).Next(context.Background())
	require.NoError(t, err)
	en := newEnricher(t, Settings{Client: client, Timeout: 500 * time.Millisecond})
	recs := records(t, e.sim.Insert(patEvent(911)))
	start := time.Now()
	en.Enrich(context.Background(), recs)
	got := attrs(recs.At(0))
	assert.Equal(t, "skipped", got[auditevent.AttrEnrichmentStatus])
	assert.Contains(t, got[auditevent.AttrEnrichmentReason], "max_requests_per_minute")
	assert.Less(t, time.Since(start), 400*time.Millisecond, "skipped at once, not at the end of the time box")
	assert.Equal(t, 0, e.requests("/personal_access_tokens/"))
}

// TestRateLimitPausesLookups: a 429 pauses lookups like polls; a lookup
// that cannot wait for the pause to end is skipped at once.
func TestRateLimitPausesLookups(t *testing.T) {
	e := newEnv(t)
	e.sim.AddAccessToken(gitlabsim.AccessToken{ID: 921, UserID: 2, CreatedAt: t0})
	client := e.client(t, adminToken, 0)
	e.sim.FailNext(1, http.StatusTooManyRequests)
	en := newEnricher(t, Settings{Client: client, Timeout: 300 * time.Millisecond, Switches: Switches{PersonalAccessTokens: true}})
	recs := records(t, e.sim.Insert(patEvent(921)))
	en.Enrich(context.Background(), recs)
	got := attrs(recs.At(0))
	// The 429 carries no Retry-After here: the client pauses for its backoff
	// and tries again within the time box, or gives up saying why.
	assert.Contains(t, []any{"ok", "skipped", "timeout"}, got[auditevent.AttrEnrichmentStatus])
	assert.Equal(t, 1, e.requests("/personal_access_tokens/921")-boolInt(got[auditevent.AttrEnrichmentStatus] == "ok"))
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// TestSecretNeverKept looks up variables whose values are unique markers
// and checks the markers appear nowhere: not in the records, not in the
// logs at debug level, not in the cache.
func TestSecretNeverKept(t *testing.T) {
	e := newEnv(t)
	const marker = "SIMSECRET-only-in-gitlab-7f3a9c"
	e.sim.AddVariable(gitlabsim.Variable{Scope: gitlabsim.VariableProject, Owner: 100, Key: "AWS_SECRET_ACCESS_KEY", Value: marker, Masked: true})
	e.sim.AddVariable(gitlabsim.Variable{Scope: gitlabsim.VariableGroup, Owner: 10, Key: "DATABASE_URL", Value: marker + "-g"})
	e.sim.AddVariable(gitlabsim.Variable{Scope: gitlabsim.VariableInstance, Key: "DEPLOY_PASSWORD", Value: marker + "-i", Protected: true})
	core, logs := observer.New(zapcore.DebugLevel)
	u, err := url.Parse(e.srv.URL)
	require.NoError(t, err)
	client := gitlabapi.New(gitlabapi.Options{HTTPClient: e.srv.Client(), BaseURL: u, Token: adminToken, PerPage: 100, MaxConcurrent: 2,
		Logger: zap.New(core), BackOff: configretry.BackOffConfig{Enabled: true, InitialInterval: time.Millisecond, MaxElapsedTime: 20 * time.Millisecond}})
	en := newEnricher(t, Settings{Client: client, Logger: zap.New(core)})

	recs := records(t,
		e.sim.Insert(variableEvent("ci_variable_created", project, "AWS_SECRET_ACCESS_KEY")),
		e.sim.Insert(variableEvent("ci_group_variable_created", gitlabsim.Entity{Type: gitlabsim.EntityGroup, ID: 10}, "DATABASE_URL")),
		e.sim.Insert(variableEvent("ci_instance_variable_updated", gitlabsim.InstanceEntity, "DEPLOY_PASSWORD")))
	// Failures too: an error answer and a retry must not leak it either.
	e.sim.FailNext(1, http.StatusBadGateway)
	en.Enrich(context.Background(), recs)
	en.Enrich(context.Background(), recs) // from the cache

	for i := range recs.Len() {
		require.Equal(t, "ok", attrs(recs.At(i))[auditevent.AttrEnrichmentStatus])
	}
	var dump strings.Builder
	for i := range recs.Len() {
		fmt.Fprintf(&dump, "%v %v\n", recs.At(i).Body().AsRaw(), recs.At(i).Attributes().AsRaw())
	}
	for _, l := range logs.All() {
		fmt.Fprintf(&dump, "%s %v\n", l.Message, l.ContextMap())
	}
	en.cache.mu.Lock()
	for k, el := range en.cache.entries {
		m := pcommon.NewMap()
		el.Value.(*entry).res.apply(m) // every fact and the reason, by value
		fmt.Fprintf(&dump, "%s %v\n", k, m.AsRaw())
	}
	en.cache.mu.Unlock()
	require.NotEmpty(t, logs.FilterMessage("GitLab object looked up").All(), "lookups are logged at debug level")
	assert.NotContains(t, dump.String(), "SIMSECRET", "a variable's value was kept")
	assert.Contains(t, dump.String(), "AWS_SECRET_ACCESS_KEY", "the dump holds what was looked up")
}

// TestTimeBoxNeverDelays: a batch returns within the time box however slow
// GitLab is, and the lookup, answered later, fills the cache.
func TestTimeBoxNeverDelays(t *testing.T) {
	e := newEnv(t)
	e.sim.AddAccessToken(gitlabsim.AccessToken{ID: 931, UserID: 2, CreatedAt: t0})
	e.sim.SetLookupDelay(400 * time.Millisecond)
	en := newEnricher(t, Settings{Client: e.client(t, adminToken, 0), Timeout: time.Second, Switches: Switches{PersonalAccessTokens: true}})
	// A batch with a shorter deadline of its own (a stream request about to be abandoned).
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	recs := records(t, e.sim.Insert(patEvent(931)))
	start := time.Now()
	en.Enrich(ctx, recs)
	assert.Less(t, time.Since(start), 300*time.Millisecond)
	assert.Equal(t, "timeout", attrs(recs.At(0))[auditevent.AttrEnrichmentStatus])
	// The flight goes on and its answer serves the next event.
	require.Eventually(t, func() bool {
		recs := records(t, e.sim.Insert(patEvent(931)))
		en.Enrich(context.Background(), recs)
		return attrs(recs.At(0))[auditevent.AttrEnrichmentStatus] == "ok"
	}, 3*time.Second, 50*time.Millisecond)
	assert.Equal(t, 1, e.requests("/personal_access_tokens/931"))
	e.sim.SetLookupDelay(0)
}

// TestPlanTable checks how each event type names its object.
func TestPlanTable(t *testing.T) {
	rec := func(kv ...string) pcommon.Map {
		m := pcommon.NewMap()
		for i := 0; i < len(kv); i += 2 {
			m.PutStr(kv[i], kv[i+1])
		}
		return m
	}
	P := func(kv ...string) pcommon.Map {
		return rec(append([]string{auditlog.AttrEntityType, "Project", auditlog.AttrEntityID, "100"}, kv...)...)
	}
	G := func(kv ...string) pcommon.Map {
		return rec(append([]string{auditlog.AttrEntityType, "Group", auditlog.AttrEntityID, "30"}, kv...)...)
	}
	tests := []struct {
		kind Kind
		m    pcommon.Map
		path string
		ok   bool
	}{
		{KindPersonalAccessToken, rec(auditlog.AttrMessage, "Created personal access token with id 42"), "/personal_access_tokens/42", true},
		{KindPersonalAccessToken, rec(auditlog.AttrMessage, "Created personal access token with id 42; and more"), "", false},
		{KindProjectAccessToken, P(auditlog.AttrMessage, "Created project access token with token_id: 7 with scopes: [:api] and Maintainer access level."), "/projects/100/access_tokens/7", true},
		{KindProjectAccessToken, P(auditlog.AttrTargetType, "PersonalAccessToken", auditlog.AttrTargetID, "8"), "/projects/100/access_tokens/8", true},
		{KindProjectAccessToken, P(auditlog.AttrTargetType, "User", auditlog.AttrTargetID, "8"), "", false},
		{KindGroupAccessToken, P(auditlog.AttrMessage, "token_id: 7"), "", false}, // a project entity
		{KindGroupAccessToken, G(auditlog.AttrMessage, "token_id: 7"), "/groups/30/access_tokens/7", true},
		{KindGroupVariable, G(auditlog.AttrTargetDetails, "NPM_TOKEN"), "/groups/30/variables/NPM_TOKEN", true},
		{KindGroupVariable, P(auditlog.AttrTargetDetails, "NPM_TOKEN"), "", false}, // a project entity
		{KindGroupDeployToken, G(auditlog.AttrTargetID, "5", auditlog.AttrTargetType, "DeployToken"), "/groups/30/deploy_tokens/5", true},
		{KindDeployKey, G(auditlog.AttrTargetID, "12"), "", false}, // deploy keys belong to projects
		{KindProjectVariable, P(auditlog.AttrTargetDetails, "NPM_TOKEN"), "/projects/100/variables/NPM_TOKEN", true},
		{KindProjectVariable, P(auditlog.AttrTargetDetails, "../admin"), "", false},
		{KindInstanceVariable, rec(auditlog.AttrTargetDetails, "K"), "/admin/ci/variables/K", true},
		{KindDeployKey, P(auditlog.AttrTargetID, "12"), "/projects/100/deploy_keys/12", true},
		{KindDeployKey, P(auditlog.AttrTargetID, "my key"), "", false},
		{KindProjectDeployToken, P(auditlog.AttrTargetID, "5", auditlog.AttrTargetType, "DeployToken"), "/projects/100/deploy_tokens/5", true},
		{KindProjectDeployToken, P(auditlog.AttrMessage, "Created project deploy token with name: x with token_id: 6 with scopes: []."), "/projects/100/deploy_tokens/6", true},
		{KindUserTwoFactor, rec(auditlog.AttrTargetType, "User", auditlog.AttrTargetID, "51", auditlog.AttrEventID, "9"), "/users/51", true},
		{KindUserTwoFactor, rec(auditlog.AttrTargetType, "User", auditlog.AttrTargetID, "Andreas"), "", false},
		{KindUserTwoFactor, rec(auditlog.AttrTargetType, "Group", auditlog.AttrTargetID, "51"), "", false},
	}
	for _, tt := range tests {
		obj, why, ok := plan(tt.kind, tt.m)
		assert.Equal(t, tt.ok, ok, "%s %v: %s", tt.kind, tt.m.AsRaw(), why)
		if ok {
			assert.Equal(t, tt.path, obj.path)
		} else {
			assert.NotEmpty(t, why)
		}
	}
	_, ok := authorObject(rec(auditlog.AttrUserID, "-1"))
	assert.False(t, ok, "no lookup for special authors")
	o, ok := authorObject(rec(auditlog.AttrUserID, "12"))
	assert.True(t, ok)
	assert.Equal(t, "/users/12", o.pathOf())
}
