// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package stream

import (
	"context"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/kyra-mdr/otelcol-gitlab/receiver/gitlabauditreceiver/internal/gitlabapi"
	"github.com/kyra-mdr/otelcol-gitlab/receiver/gitlabauditreceiver/internal/metadata"
	"github.com/kyra-mdr/otelcol-gitlab/testbed/gitlabsim"
)

// TestExpectationStreamsWhatGitLabStreams holds the watch's reading of a
// destination's filters against the simulator's, which follows GitLab's
// ExternallyStreamable#allowed_to_stream?
// (ee/app/models/concerns/audit_events/externally_streamable.rb): for
// thousands of events of every entity, type and namespace, both agree.
func TestExpectationStreamsWhatGitLabStreams(t *testing.T) {
	sim := gitlabsim.New(gitlabsim.Options{Seed: 7})
	defer func() { _ = sim.Close() }()
	sim.Populate(6, 24)
	events := sim.Generate(3000, time.Now().Add(-time.Hour), time.Now())
	var types []string
	for _, ev := range events[:50] {
		types = append(types, ev.StreamType)
	}
	var projects []string
	for _, p := range sim.Projects()[:3] {
		projects = append(projects, p.FullPath)
	}
	dests := []gitlabsim.StreamingDestination{
		{Group: "acme"},
		{Group: "acme", EventTypeFilters: types[:10]},
		{Group: "acme", NamespaceFilters: []string{"acme/platform"}},
		{Group: "acme", NamespaceFilters: append([]string{"acme/platform"}, projects...)},
		{Group: "globex", EventTypeFilters: types[10:20], NamespaceFilters: projects},
		{},
		{EventTypeFilters: types[:5], NamespaceFilters: []string{"acme"}},
	}
	kept := map[int]int{}
	for i, sd := range dests {
		d := gitlabapi.Destination{Category: "http", Active: true, Group: sd.Group, EventTypes: sd.EventTypeFilters, Namespaces: sd.NamespaceFilters}
		e := NewExpectation([]gitlabapi.Destination{d})
		streamed := 0
		for j := range events {
			ev := &events[j]
			want := sd.Streams(ev)
			got := e.expects(event{typ: ev.StreamType, entityType: ev.Entity.Type, entityPath: ev.Entity.Path})
			require.Equal(t, want, got, "destination %d, event %s %s %s", i, ev.StreamType, ev.Entity.Type, ev.Entity.Path)
			if want {
				streamed++
			}
		}
		kept[i] = streamed
	}
	assert.Equal(t, len(events), kept[5], "an instance destination without filters streams everything")
	assert.Positive(t, kept[0])
	assert.Less(t, kept[2], kept[0], "a namespace filter streams less than the whole group")
	assert.Less(t, kept[1], kept[0], "an event type filter streams less than every type")
	assert.False(t, NewExpectation([]gitlabapi.Destination{{Category: "http"}}).expects(event{typ: "x", entityType: "User"}), "an inactive destination streams nothing")
}

func TestSameURL(t *testing.T) {
	for _, tt := range []struct {
		a, b string
		same bool
	}{
		{"https://collector.example.com:443/webhook/gitlab-audit", "https://Collector.Example.com/webhook/gitlab-audit/", true},
		{"http://c:80/x", "http://c/x", true},
		{"https://c/x", "http://c/x", false},
		{"https://c:8443/x", "https://c/x", false},
		{"https://c/x", "https://c/y", false},
	} {
		assert.Equal(t, tt.same, sameURL(tt.a, tt.b), "%s %s", tt.a, tt.b)
	}
}

// TestDestinationCheck: the destination that posts to public_url is found
// (with its filters), or said missing or inactive; without the Owner role
// (or an administrator's token) it cannot be checked, and says so once.
func TestDestinationCheck(t *testing.T) {
	const owner, developer = "glpat-owner-0000000000000", "glpat-dev-00000000000000"
	const public = "https://collector.example.com:8443/webhook/gitlab-audit"
	tests := []struct {
		name   string
		token  string
		dests  []gitlabsim.StreamingDestination
		public string
		want   string
	}{
		{"found", owner, []gitlabsim.StreamingDestination{{Name: "kyra", URL: public, Group: "acme", NamespaceFilters: []string{"acme/platform"}}}, public, DestinationFound},
		{"inactive", owner, []gitlabsim.StreamingDestination{{Name: "kyra", URL: public, Group: "acme", Inactive: true}}, public, DestinationInactive},
		{"none posts here", owner, []gitlabsim.StreamingDestination{{Name: "other", URL: "https://siem.example.com/in", Group: "acme"}}, public, DestinationNotFound},
		{"not the Owner", developer, []gitlabsim.StreamingDestination{{Name: "kyra", URL: public, Group: "acme"}}, public, DestinationUnchecked},
		{"no public_url", owner, []gitlabsim.StreamingDestination{{Name: "kyra", URL: public, Group: "acme"}}, "", DestinationUnchecked},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sim := gitlabsim.New(gitlabsim.Options{Destinations: tt.dests, Tokens: map[string]gitlabsim.Token{
				owner:     {UserID: 2, Groups: map[string]gitlabsim.Role{"acme": gitlabsim.Owner}},
				developer: {UserID: 3, Groups: map[string]gitlabsim.Role{"acme": gitlabsim.Developer}},
			}})
			defer func() { _ = sim.Close() }()
			sim.Populate(3, 6)
			srv := httptest.NewServer(sim)
			defer srv.Close()
			base, _ := url.Parse(srv.URL)
			client := gitlabapi.New(gitlabapi.Options{HTTPClient: srv.Client(), BaseURL: base, Token: tt.token, PerPage: 100, MaxConcurrent: 2})
			tel := componenttest.NewTelemetry()
			defer func() { require.NoError(t, tel.Shutdown(context.Background())) }()
			tb, err := metadata.NewTelemetryBuilder(tel.NewTelemetrySettings())
			require.NoError(t, err)
			defer tb.Shutdown()
			core, logs := observer.New(zapcore.InfoLevel)
			watch := newWatch(client.Clock(), Grace, tb, zap.NewNop())
			d, err := NewDestinationCheck(DestinationSettings{
				Client: client, PublicURL: tt.public, Groups: []string{"acme/platform", "acme"},
				Admin: func() (bool, bool) { return false, true }, Watch: watch, Interval: time.Hour, Telemetry: tb, Logger: zap.New(core),
			})
			require.NoError(t, err)
			d.Check(context.Background())
			d.Check(context.Background())
			assert.Equal(t, tt.want, d.Status())
			assert.Equal(t, 1, logs.Len(), "said once: %v", logs.All())
			m, err := tel.GetMetric("otelcol_gitlab_audit_stream_destination")
			require.NoError(t, err)
			dps := m.Data.(metricdata.Gauge[int64]).DataPoints
			require.Len(t, dps, 1)
			status, _ := dps[0].Attributes.Value(metadata.AttrStatus)
			assert.Equal(t, tt.want, status.AsString())
			watch.mu.Lock()
			assert.Equal(t, tt.want == DestinationUnchecked, watch.expect == nil, "the watch expects what the destination streams once known")
			watch.mu.Unlock()
			assert.Zero(t, sim.SecretTokenReads())
		})
	}
}
