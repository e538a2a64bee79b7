// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package gitlabsim

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestDestinationFilters reproduces what GitLab streams to a destination:
// root_group_entity (group destinations receive their top-level group's
// group and project events only) and allowed_to_stream? of
// ee/app/models/concerns/audit_events/externally_streamable.rb (event type
// filters; namespace filters: a group event needs a filter on the group or
// an ancestor, a project event a filter on that very project, other
// entities are not restricted; an inactive destination gets nothing).
func TestDestinationFilters(t *testing.T) {
	ev := func(typ, entityType, path string) *StoredEvent {
		return &StoredEvent{StreamType: typ, Entity: Entity{Type: entityType, Path: path}}
	}
	groupTop := ev("group_created", EntityGroup, "acme")
	groupSub := ev("group_created", EntityGroup, "acme/platform")
	groupDeep := ev("group_created", EntityGroup, "acme/platform/tools")
	projectIn := ev("project_archived", EntityProject, "acme/platform/api")
	projectOther := ev("project_archived", EntityProject, "acme/mobile/ios")
	elsewhere := ev("project_archived", EntityProject, "globex/etl")
	user := ev("user_created", EntityUser, "bob")
	instance := ev("application_setting_updated", EntityInstance, "gitlab_instance")
	untyped := ev("", EntityProject, "acme/mobile/ios")
	events := []*StoredEvent{groupTop, groupSub, groupDeep, projectIn, projectOther, elsewhere, user, instance, untyped}

	tests := []struct {
		name string
		d    StreamingDestination
		want []*StoredEvent
	}{
		{"instance destination streams everything", StreamingDestination{}, events},
		{"group destination: its top-level group's namespaces only", StreamingDestination{Group: "acme"},
			[]*StoredEvent{groupTop, groupSub, groupDeep, projectIn, projectOther, untyped}},
		{"event type filter (an untyped event passes)", StreamingDestination{Group: "acme", EventTypeFilters: []string{"project_archived"}},
			[]*StoredEvent{projectIn, projectOther, untyped}},
		{"subgroup filter: the subgroup and below, not its projects", StreamingDestination{Group: "acme", NamespaceFilters: []string{"acme/platform"}},
			[]*StoredEvent{groupSub, groupDeep}},
		{"project filter: exactly that project", StreamingDestination{Group: "acme", NamespaceFilters: []string{"ACME/Platform/API"}},
			[]*StoredEvent{projectIn}},
		{"instance destination with a namespace filter keeps user and instance events", StreamingDestination{NamespaceFilters: []string{"globex/etl"}},
			[]*StoredEvent{elsewhere, user, instance}},
		{"filters combine", StreamingDestination{Group: "acme", EventTypeFilters: []string{"group_created"}, NamespaceFilters: []string{"acme/platform", "acme/platform/api"}},
			[]*StoredEvent{groupSub, groupDeep}},
		{"inactive destination gets nothing", StreamingDestination{Inactive: true}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []*StoredEvent
			for _, e := range events {
				if tt.d.Streams(e) {
					got = append(got, e)
				}
			}
			assert.Equal(t, tt.want, got)
		})
	}
	bad := StreamingDestination{Group: "acme/platform"}
	require.ErrorContains(t, bad.Validate(), "must not be a subgroup")
	bad = StreamingDestination{NamespaceFilters: []string{"a", "b", "c", "d", "e", "f"}}
	require.ErrorContains(t, bad.Validate(), "limited to 5")
}

// TestStreamerHonoursDestinationFilters: the simulator's stream sender
// delivers, over real HTTP, only what GitLab would stream to a
// namespace- and type-filtered group destination, and counts the rest.
func TestStreamerHonoursDestinationFilters(t *testing.T) {
	dest := newDestination(t, http.StatusOK)
	d := &StreamingDestination{Group: "acme", NamespaceFilters: []string{"acme/platform", "acme/platform/api"}}
	s, _ := newSim(t, Options{Seed: 7, StreamTo: &Streamer{URL: dest.URL, Token: "stream-token-000000000000", Destination: d}})
	evs := s.Generate(400, baseTime, baseTime.Add(time.Hour))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, s.Flush(ctx))

	var want []string
	for i := range evs {
		if d.Streams(&evs[i]) {
			want = append(want, evs[i].StreamID)
		}
	}
	var got []string
	for _, r := range dest.requests() {
		got = append(got, streamIDs(t, r.body)...)
	}
	require.NotEmpty(t, want)
	assert.ElementsMatch(t, want, got)
	stats := s.StreamStats()
	assert.Equal(t, len(want), stats.Events)
	assert.Equal(t, len(evs)-len(want), stats.Filtered)
	assert.Positive(t, stats.Filtered)
	for _, id := range got {
		i := slices.IndexFunc(evs, func(e StoredEvent) bool { return e.StreamID == id })
		require.GreaterOrEqual(t, i, 0)
		e := evs[i]
		if e.Entity.Type == EntityProject {
			assert.Equal(t, "acme/platform/api", e.Entity.Path, "a project event needs a filter on that project")
		}
	}
}

// graphql posts a GraphQL query and decodes the answer.
func graphql(t *testing.T, base, token, query string, vars map[string]any) (int, map[string]any) {
	t.Helper()
	body, err := json.Marshal(map[string]any{"query": query, "variables": vars})
	require.NoError(t, err)
	req, err := http.NewRequest(http.MethodPost, base+"/api/graphql", bytes.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	r := do(t, req)
	var out map[string]any
	require.NoError(t, json.Unmarshal(r.body, &out), string(r.body))
	return r.status, out
}

const groupDestinationsQuery = `query($fullPath: ID!) { group(fullPath: $fullPath) {
  fullPath
  externalAuditEventStreamingDestinations {
    nodes { id name category active eventTypeFilters config
            namespaceFilters { namespace { id fullPath } } } } } }`

// TestGraphQLStreamingDestinations reproduces the GraphQL fields current
// GitLab serves destinations through: Group.externalAuditEventStreamingDestinations
// (ee/app/graphql/ee/types/group_type.rb, authorize
// :admin_external_audit_events: Owner or administrator, else null) and
// Query.auditEventsInstanceStreamingDestinations (administrators; an
// empty list otherwise), with the fields of
// AuditEventStreamingDestinationInterface; a token that does not
// authenticate makes the request anonymous (find_sessionless_user).
func TestGraphQLStreamingDestinations(t *testing.T) {
	tokens := testTokens()
	tokens["glpat-expired"] = Token{UserID: 2, Groups: map[string]Role{"acme": Owner}, ExpiresAt: baseTime.AddDate(0, 0, -1)}
	tokens["glpat-auditor"] = Token{UserID: 11, Auditor: true}
	clock := &fakeClock{t: baseTime}
	s, srv := newSim(t, Options{
		Tokens: tokens, Now: clock.Now,
		StreamTo: &Streamer{URL: "https://collector.example.com/gitlab", Token: "stream-token-000000000000",
			Destination: &StreamingDestination{Name: "collector", Group: "acme", EventTypeFilters: []string{"user_created"},
				NamespaceFilters: []string{"acme/platform", "acme/platform/api"}}},
		Destinations: []StreamingDestination{
			{Name: "siem", Category: CategoryHTTP, URL: "https://siem.example.com", Inactive: true},
			{Name: "other-group", Group: "globex", URL: "https://other.example.com"},
		},
	})
	defer func() { require.NoError(t, s.Close()) }()

	status, out := graphql(t, srv.URL, ownerToken, groupDestinationsQuery, map[string]any{"fullPath": "acme"})
	require.Equal(t, http.StatusOK, status)
	want := `{"data":{"group":{"fullPath":"acme","externalAuditEventStreamingDestinations":{"nodes":[
	  {"id":"gid://gitlab/AuditEvents::Group::ExternalStreamingDestination/1","name":"collector","category":"http","active":true,
	   "eventTypeFilters":["user_created"],"config":{"url":"https://collector.example.com/gitlab"},
	   "namespaceFilters":[{"namespace":{"id":"gid://gitlab/Group/11","fullPath":"acme/platform"}},
	                       {"namespace":{"id":"gid://gitlab/Namespaces::ProjectNamespace/100","fullPath":"acme/platform/api"}}]}]}}}}`
	got, err := json.Marshal(out)
	require.NoError(t, err)
	assert.JSONEq(t, want, string(got))

	tests := []struct {
		name  string
		token string
		group any // the group field: nil (null) or a map
		dests any // its externalAuditEventStreamingDestinations
	}{
		{"administrator reads them", adminToken, "object", "object"},
		{"Developer: group readable, destinations null", devToken, "object", nil},
		{"auditor: group readable, destinations null", "glpat-auditor", "object", nil},
		{"non-member: group null", outsiderToken, nil, nil},
		{"expired token is anonymous", "glpat-expired", nil, nil},
		{"no token is anonymous", "", nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, out := graphql(t, srv.URL, tt.token, groupDestinationsQuery, map[string]any{"fullPath": "acme"})
			require.Equal(t, http.StatusOK, status)
			assert.NotContains(t, out, "errors")
			g := out["data"].(map[string]any)["group"]
			if tt.group == nil {
				assert.Nil(t, g)
				return
			}
			require.NotNil(t, g)
			d := g.(map[string]any)["externalAuditEventStreamingDestinations"]
			if tt.dests == nil {
				assert.Nil(t, d)
			} else {
				assert.Len(t, d.(map[string]any)["nodes"], 1)
			}
		})
	}

	const instanceQuery = `{ auditEventsInstanceStreamingDestinations { nodes { name active config } pageInfo { hasNextPage } } }`
	_, out = graphql(t, srv.URL, adminToken, instanceQuery, nil)
	got, _ = json.Marshal(out)
	assert.JSONEq(t, `{"data":{"auditEventsInstanceStreamingDestinations":{"nodes":[
	  {"name":"siem","active":false,"config":{"url":"https://siem.example.com"}}],"pageInfo":{"hasNextPage":false}}}}`, string(got))
	_, out = graphql(t, srv.URL, ownerToken, instanceQuery, nil)
	got, _ = json.Marshal(out)
	assert.JSONEq(t, `{"data":{"auditEventsInstanceStreamingDestinations":{"nodes":[],"pageInfo":{"hasNextPage":false}}}}`, string(got), "not an administrator: an empty list")

	// GraphQL itself: unknown fields are errors, fragments on the
	// interface, aliases, __typename, paging with first/after.
	status, out = graphql(t, srv.URL, adminToken, `{ group(fullPath: "acme") { auditEventDestinations { nodes { id } } } }`, nil)
	assert.Equal(t, http.StatusOK, status)
	require.Contains(t, out, "errors")
	assert.Contains(t, out["errors"].([]any)[0].(map[string]any)["message"], "Cannot query field \"auditEventDestinations\"")
	_, out = graphql(t, srv.URL, adminToken, `query { g: group(fullPath: "globex") { d: externalAuditEventStreamingDestinations(first: 1) {
	  nodes { __typename ...dest } pageInfo { hasNextPage endCursor } } } }
	  fragment dest on AuditEventStreamingDestinationInterface { name }`, nil)
	got, _ = json.Marshal(out)
	assert.JSONEq(t, `{"data":{"g":{"d":{"nodes":[{"__typename":"GroupAuditEventStreamingDestination","name":"other-group"}],
	  "pageInfo":{"hasNextPage":false,"endCursor":"MA=="}}}}}`, string(got))

	// The verification token is a secret: the simulator counts who asks.
	assert.Zero(t, s.SecretTokenReads())
	_, out = graphql(t, srv.URL, ownerToken, `{ group(fullPath: "acme") { externalAuditEventStreamingDestinations { nodes { secretToken } } } }`, nil)
	assert.Equal(t, 1, s.SecretTokenReads())
	got, _ = json.Marshal(out)
	assert.Contains(t, string(got), "stream-token-000000000000")
}
