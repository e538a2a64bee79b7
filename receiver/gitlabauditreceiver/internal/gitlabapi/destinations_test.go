// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package gitlabapi

import (
	"context"
	"net/http/httptest"
	"net/url"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kyra-mdr/otelcol-gitlab/testbed/gitlabsim"
)

// TestStreamingDestinations reads the destinations as current GitLab
// serves them, through GraphQL only (ee/app/graphql/ee/types/group_type.rb
// externalAuditEventStreamingDestinations, for the group's Owner or an
// administrator; ee/app/graphql/ee/types/query_type.rb
// auditEventsInstanceStreamingDestinations, for administrators), never
// asking for the verification token.
func TestStreamingDestinations(t *testing.T) {
	const owner, developer, admin = "glpat-owner-0000000000000", "glpat-dev-00000000000000", "glpat-admin-000000000000"
	sim := gitlabsim.New(gitlabsim.Options{
		Tokens: map[string]gitlabsim.Token{
			owner:     {UserID: 2, Groups: map[string]gitlabsim.Role{"acme": gitlabsim.Owner}},
			developer: {UserID: 3, Groups: map[string]gitlabsim.Role{"acme": gitlabsim.Developer}},
			admin:     {UserID: 1, Admin: true},
		},
		Destinations: []gitlabsim.StreamingDestination{
			{Name: "kyra", URL: "https://collector.example.com:8443/webhook/gitlab-audit", Group: "acme",
				EventTypeFilters: []string{"user_disable_two_factor"}, NamespaceFilters: []string{"acme/platform"}},
			{Name: "siem", URL: "https://siem.example.com/in", Group: "acme", Inactive: true},
			{Name: "all", URL: "https://collector.example.com:8443/webhook/gitlab-audit"},
		},
	})
	defer func() { _ = sim.Close() }()
	sim.Populate(3, 6)
	srv := httptest.NewServer(sim)
	defer srv.Close()
	base, _ := url.Parse(srv.URL)
	client := func(token string) *Client {
		return New(Options{HTTPClient: srv.Client(), BaseURL: base, Token: token, PerPage: 100, MaxConcurrent: 2})
	}
	ctx := context.Background()

	ds, err := client(owner).GroupDestinations(ctx, "acme")
	require.NoError(t, err)
	require.Len(t, ds, 2)
	assert.Equal(t, Destination{ID: ds[0].ID, Name: "kyra", Category: "http", Active: true, URL: "https://collector.example.com:8443/webhook/gitlab-audit",
		EventTypes: []string{"user_disable_two_factor"}, Namespaces: []string{"acme/platform"}, Group: "acme"}, ds[0])
	assert.False(t, ds[1].Active)

	acmeID := ""
	for _, g := range sim.Groups() {
		if g.FullPath == "acme" {
			acmeID = strconv.FormatInt(g.ID, 10)
		}
	}
	byID, err := client(owner).GroupDestinations(ctx, acmeID)
	require.NoError(t, err)
	assert.Equal(t, ds, byID, "a group configured by id is read by its path")

	_, err = client(developer).GroupDestinations(ctx, "acme")
	require.ErrorIs(t, err, ErrNotAllowed, "null for anyone but the Owner")

	inst, err := client(admin).InstanceDestinations(ctx)
	require.NoError(t, err)
	require.Len(t, inst, 1)
	assert.Equal(t, "all", inst[0].Name)
	assert.Empty(t, inst[0].Group)
	none, err := client(developer).InstanceDestinations(ctx)
	require.NoError(t, err)
	assert.Empty(t, none, "an empty list for a non-administrator")

	assert.Zero(t, sim.SecretTokenReads(), "the verification token is never asked for")
}
