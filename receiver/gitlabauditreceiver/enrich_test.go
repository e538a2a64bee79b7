// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package gitlabauditreceiver

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/extension/storage/storagetest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/configopaque"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/receiver/receivertest"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/kyra-mdr/otelcol-gitlab/internal/auditevent"
	"github.com/kyra-mdr/otelcol-gitlab/receiver/gitlabauditreceiver/internal/auditlog"
	"github.com/kyra-mdr/otelcol-gitlab/receiver/gitlabauditreceiver/internal/metadata"
	"github.com/kyra-mdr/otelcol-gitlab/receiver/gitlabauditreceiver/internal/testutil"
	"github.com/kyra-mdr/otelcol-gitlab/testbed/fakeclock"
	"github.com/kyra-mdr/otelcol-gitlab/testbed/gitlabsim"
)

// enrichConfig polls the instance feed of endpoint and listens, with
// enrichment on.
func enrichConfig(endpoint string) *Config {
	cfg := pollConfig(endpoint)
	cfg.Enrich.Enabled = nil // on by default with endpoint and token
	s := cfg.Stream.GetOrInsertDefault()
	s.NetAddr.Endpoint = "127.0.0.1:0"
	s.VerificationTokens = []configopaque.String{streamToken}
	return cfg
}

// byType returns the attributes of the emitted records of a type.
func byType(all []plog.Logs, typ string) []map[string]any {
	var out []map[string]any
	for _, l := range all {
		for i := 0; i < l.ResourceLogs().Len(); i++ {
			sls := l.ResourceLogs().At(i).ScopeLogs()
			for j := 0; j < sls.Len(); j++ {
				lrs := sls.At(j).LogRecords()
				for k := 0; k < lrs.Len(); k++ {
					a := lrs.At(k).Attributes().AsRaw()
					if a[auditlog.AttrEventType] == typ {
						out = append(out, a)
					}
				}
			}
		}
	}
	return out
}

func patCreated(id int64, owner gitlabsim.User, at time.Time) gitlabsim.Event {
	return gitlabsim.Event{Type: "personal_access_token_created", Entity: gitlabsim.Entity{Type: gitlabsim.EntityUser, ID: owner.ID},
		Author: gitlabsim.Author{ID: owner.ID}, Target: gitlabsim.Target{ID: owner.ID, Type: "User", Details: owner.Name},
		CustomMessage: fmt.Sprintf("Created personal access token with id %d", id), CreatedAt: at}
}

func variableCreated(project gitlabsim.Project, key string, author int64, at time.Time) gitlabsim.Event {
	return gitlabsim.Event{Type: "ci_variable_created", Entity: gitlabsim.Entity{Type: gitlabsim.EntityProject, ID: project.ID},
		Author: gitlabsim.Author{ID: author}, Target: gitlabsim.Target{ID: int64(77), Type: "Ci::Variable", Details: key},
		Details: map[string]any{"add": "ci_variable"}, CustomMessage: "Added ci variable", CreatedAt: at}
}

// TestEnrichBothPaths: a polled and a streamed event are enriched alike,
// before the pipeline sees them.
func TestEnrichBothPaths(t *testing.T) {
	clk := fakeclock.New()
	sim, srv := testutil.NewSim(t, clk.Now, gitlabsim.Options{})
	user, project := sim.Users()[1], sim.Projects()[0]
	sim.AddAccessToken(gitlabsim.AccessToken{ID: 4242, UserID: user.ID, Scopes: []string{"api"}, CreatedAt: clk.Now(), ExpiresAt: clk.Now().AddDate(2, 0, 0)})
	sim.AddVariable(gitlabsim.Variable{Scope: gitlabsim.VariableProject, Owner: project.ID, Key: "NPM_TOKEN", Value: "SIMSECRET-a", Masked: true})

	sink := new(consumertest.LogsSink)
	cfg := enrichConfig(srv.URL)
	r, _ := testReceiver(t, cfg, sink, clk)
	startManual(t, r, newStatusHost(nil))

	sim.Insert(patCreated(4242, user, clk.Now().Add(-10*time.Minute)))
	streamed := sim.Insert(variableCreated(project, "NPM_TOKEN", user.ID, clk.Now().Add(-5*time.Minute)))
	a := post(t, nil, "http://"+r.stream.Addr()+cfg.Stream.Get().Path, string(streamed.StreamJSON), withToken())
	require.Equal(t, http.StatusOK, a.status, a.raw)
	require.NoError(t, pollAll(t, r))

	pats := byType(sink.AllLogs(), "personal_access_token_created")
	require.Len(t, pats, 1)
	assert.Equal(t, "poll", pats[0][auditlog.AttrSource])
	assert.Equal(t, "ok", pats[0][auditevent.AttrEnrichmentStatus])
	assert.Equal(t, clk.Now().AddDate(2, 0, 0).Format("2006-01-02"), pats[0][auditevent.AttrTokenExpiresAt])
	assert.Equal(t, []any{"api"}, pats[0][auditevent.AttrTokenScopes])
	assert.Equal(t, false, pats[0][auditevent.AttrAuthorBot])

	vars := byType(sink.AllLogs(), "ci_variable_created")
	require.Len(t, vars, 1, "the streamed event is not emitted again by the poll")
	assert.Equal(t, "stream", vars[0][auditlog.AttrSource])
	assert.Equal(t, "ok", vars[0][auditevent.AttrEnrichmentStatus])
	assert.Equal(t, false, vars[0][auditevent.AttrCIVariableProtected])
	assert.Equal(t, true, vars[0][auditevent.AttrCIVariableMasked])
	assert.Equal(t, clk.Now().UTC().Format(time.RFC3339), vars[0][auditevent.AttrEnrichmentTime])
}

// TestEnrichStreamTimeBox: however slow GitLab's API, the answer to a
// streamed request comes within the time box, and the event carries the
// status timeout.
func TestEnrichStreamTimeBox(t *testing.T) {
	clk := fakeclock.New()
	sim, srv := testutil.NewSim(t, clk.Now, gitlabsim.Options{})
	user := sim.Users()[1]
	sim.AddAccessToken(gitlabsim.AccessToken{ID: 555, UserID: user.ID, CreatedAt: clk.Now()})
	sim.SetLookupDelay(10 * time.Second)
	defer sim.SetLookupDelay(0)

	sink := new(consumertest.LogsSink)
	cfg := enrichConfig(srv.URL)
	cfg.Collect.Instance = false // stream only, with a token: lookups on
	cfg.Enrich.Timeout = 300 * time.Millisecond
	require.NoError(t, cfg.Validate())
	r, _ := testReceiver(t, cfg, sink, clk)
	startManual(t, r, newStatusHost(nil))

	ev := sim.Insert(patCreated(555, user, clk.Now()))
	start := time.Now()
	a := post(t, nil, "http://"+r.stream.Addr()+cfg.Stream.Get().Path, string(ev.StreamJSON), withToken())
	elapsed := time.Since(start)
	require.Equal(t, http.StatusOK, a.status, a.raw)
	assert.Less(t, elapsed, cfg.Enrich.Timeout+time.Second, "answered within the time box and a margin")
	assert.GreaterOrEqual(t, elapsed, cfg.Enrich.Timeout, "the lookup had its time box")
	pats := byType(sink.AllLogs(), "personal_access_token_created")
	require.Len(t, pats, 1)
	assert.Equal(t, "timeout", pats[0][auditevent.AttrEnrichmentStatus])
	assert.NotContains(t, pats[0], auditevent.AttrTokenScopes)
}

// TestEnrichStreamOnlyWithoutToken: no token, no lookups; the receiver says
// so once at start, and the records say why.
func TestEnrichStreamOnlyWithoutToken(t *testing.T) {
	sink := new(consumertest.LogsSink)
	cfg := streamConfig()
	r, logs := testReceiver(t, cfg, sink, fakeclock.New())
	r.now = time.Now
	require.NoError(t, r.Start(context.Background(), newStatusHost(nil)))
	t.Cleanup(func() { require.NoError(t, r.Shutdown(context.Background())) })
	url := "http://" + r.stream.Addr() + cfg.Stream.Get().Path

	sim := gitlabsim.New(gitlabsim.Options{Seed: 3})
	sim.Populate(1, 2)
	for i := range 3 {
		ev := sim.Insert(variableCreated(sim.Projects()[0], "DEPLOY_PASSWORD", sim.Users()[0].ID, time.Now().Add(time.Duration(i)*time.Second)))
		require.Equal(t, http.StatusOK, post(t, nil, url, string(ev.StreamJSON), withToken()).status)
	}
	msgs := logs.FilterMessageSnippet("Not enriching security events").All()
	require.Len(t, msgs, 1, "said once")
	assert.Equal(t, "info", msgs[0].Level.String())
	vars := byType(sink.AllLogs(), "ci_variable_created")
	require.Len(t, vars, 3)
	for _, v := range vars {
		assert.Equal(t, "skipped", v[auditevent.AttrEnrichmentStatus])
		assert.Contains(t, v[auditevent.AttrEnrichmentReason], "set endpoint and token")
		assert.NotContains(t, v, auditevent.AttrAuthorBot)
	}
}

// TestEnrichSecretNeverKept streams and polls variable events whose values
// are unique markers, with storage and debug logs, and finds the markers
// nowhere: not in the records, the logs or the stored state.
func TestEnrichSecretNeverKept(t *testing.T) {
	clk := fakeclock.New()
	sim, srv := testutil.NewSim(t, clk.Now, gitlabsim.Options{})
	dir := t.TempDir()
	storageID := storagetest.NewStorageID("file_storage")
	host := newStatusHost(storagetest.NewStorageHost().WithFileBackedStorageExtension("file_storage", dir).GetExtensions())
	user := sim.Users()[1]
	var streamedJSON []string
	for i, p := range sim.Projects() {
		key := fmt.Sprintf("SECRET_%d", i)
		sim.AddVariable(gitlabsim.Variable{Scope: gitlabsim.VariableProject, Owner: p.ID, Key: key, Value: fmt.Sprintf("SIMSECRET-marker-%d", i)})
		ev := sim.Insert(variableCreated(p, key, user.ID, clk.Now().Add(-time.Duration(10+i)*time.Second)))
		if i%2 == 0 {
			streamedJSON = append(streamedJSON, string(ev.StreamJSON))
		}
	}
	for _, v := range sim.Variables() {
		require.True(t, strings.HasPrefix(v.Value, "SIMSECRET-"))
	}

	sink := new(consumertest.LogsSink)
	cfg := enrichConfig(srv.URL)
	cfg.Storage = &storageID
	r, logs := testReceiver(t, cfg, sink, clk)
	startWithoutPolling(t, r, host)
	for _, body := range streamedJSON {
		require.Equal(t, http.StatusOK, post(t, nil, "http://"+r.stream.Addr()+cfg.Stream.Get().Path, body, withToken()).status)
	}
	require.NoError(t, pollAll(t, r))
	require.NoError(t, r.Shutdown(context.Background()))

	vars := byType(sink.AllLogs(), "ci_variable_created")
	require.Len(t, vars, len(sim.Projects()))
	var dump strings.Builder
	for _, l := range sink.AllLogs() {
		for i := 0; i < l.ResourceLogs().Len(); i++ {
			lrs := l.ResourceLogs().At(i).ScopeLogs().At(0).LogRecords()
			for k := 0; k < lrs.Len(); k++ {
				fmt.Fprintf(&dump, "%v %v\n", lrs.At(k).Body().AsRaw(), lrs.At(k).Attributes().AsRaw())
			}
		}
	}
	for _, e := range logs.All() {
		fmt.Fprintf(&dump, "%s %v\n", e.Message, e.ContextMap())
	}
	require.NotEmpty(t, logs.FilterMessage("GitLab object looked up").All(), "debug logs were recorded")
	okCount := 0
	for _, v := range vars {
		if v[auditevent.AttrEnrichmentStatus] == "ok" {
			okCount++
		}
	}
	assert.Equal(t, len(vars), okCount)
	assert.NotContains(t, dump.String(), "SIMSECRET", "a value reached a record or a log")
	// The stored state: every file the storage extension wrote.
	files := 0
	require.NoError(t, filepath.Walk(dir, func(path string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return err
		}
		files++
		b, err := os.ReadFile(path)
		require.NoError(t, err)
		assert.NotContains(t, string(b), "SIMSECRET", "a value reached %s", path)
		return nil
	}))
	assert.Positive(t, files, "the storage extension wrote its file")
}

// TestEnrichTelemetry counts the enriched records by kind and status, and
// the lookups' requests with the feed's.
func TestEnrichTelemetry(t *testing.T) {
	tel := componenttest.NewTelemetry()
	defer func() { require.NoError(t, tel.Shutdown(context.Background())) }()
	clk := fakeclock.New()
	sim, srv := testutil.NewSim(t, clk.Now, gitlabsim.Options{})
	user := sim.Users()[1]
	sim.AddAccessToken(gitlabsim.AccessToken{ID: 31, UserID: user.ID, CreatedAt: clk.Now()})
	sim.AddAccessToken(gitlabsim.AccessToken{ID: 32, UserID: user.ID, State: gitlabsim.ObjectDeleted})
	sim.Insert(patCreated(31, user, clk.Now().Add(-3*time.Minute)))
	sim.Insert(patCreated(31, user, clk.Now().Add(-2*time.Minute)))
	sim.Insert(patCreated(32, user, clk.Now().Add(-time.Minute)))

	cfg := enrichConfig(srv.URL)
	set := receivertest.NewNopSettings(metadata.Type)
	set.TelemetrySettings = tel.NewTelemetrySettings()
	r, err := newReceiver(cfg, set, new(consumertest.LogsSink))
	require.NoError(t, err)
	r.now = clk.Now
	startManual(t, r, newStatusHost(nil))
	require.NoError(t, pollAll(t, r))

	sum := func(name string, kv ...string) int64 {
		m, err := tel.GetMetric(name)
		require.NoError(t, err, name)
		var n int64
	points:
		for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
			for i := 0; i < len(kv); i += 2 {
				if v, ok := dp.Attributes.Value(attribute.Key(kv[i])); !ok || v.String() != kv[i+1] {
					continue points
				}
			}
			n += dp.Value
		}
		return n
	}
	assert.Equal(t, int64(2), sum("otelcol_gitlab_audit_enrichment_lookups", metadata.AttrKind, "personal_access_token", metadata.AttrStatus, "ok"))
	assert.Equal(t, int64(1), sum("otelcol_gitlab_audit_enrichment_lookups", metadata.AttrKind, "personal_access_token", metadata.AttrStatus, "not_found"))
	assert.Equal(t, int64(3), sum("otelcol_gitlab_audit_enrichment_lookups", metadata.AttrKind, "user", metadata.AttrStatus, "ok"))
	assert.Equal(t, int64(2), sum("otelcol_gitlab_audit_api_requests", metadata.AttrFeed, "lookup:personal_access_token"), "one request per token")
	assert.Equal(t, int64(1), sum("otelcol_gitlab_audit_api_requests", metadata.AttrFeed, "lookup:user"), "one request per author")
}
