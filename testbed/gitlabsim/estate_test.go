// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package gitlabsim

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// listAll follows rel="next" links from u and returns every id listed.
func listAll(t *testing.T, u, token string) []int64 {
	t.Helper()
	var out []int64
	for pages := 0; u != ""; pages++ {
		require.Less(t, pages, 100, "pagination does not end")
		r := get(t, u, token)
		require.Equal(t, http.StatusOK, r.status, string(r.body))
		out = append(out, r.ids(t)...)
		u = nextLink(r.header)
	}
	return out
}

func TestDescendantGroupsAndProjectsListings(t *testing.T) {
	s, srv := newSim(t, Options{})
	_, err := s.CreateGroup("acme/platform/tools")
	require.NoError(t, err)
	tools, err := s.CreateProject("acme/platform/tools/cli")
	require.NoError(t, err)
	_, err = s.CreateProject("nowhere/x")
	require.Error(t, err)

	r := get(t, srv.URL+"/api/v4/groups/acme/descendant_groups", ownerToken)
	require.Equal(t, http.StatusOK, r.status, string(r.body))
	var groups []struct {
		ID        int64  `json:"id"`
		FullPath  string `json:"full_path"`
		ParentID  *int64 `json:"parent_id"`
		CreatedAt string `json:"created_at"`
	}
	require.NoError(t, json.Unmarshal(r.body, &groups))
	require.Len(t, groups, 2)
	assert.Equal(t, "acme/platform", groups[0].FullPath)
	assert.Equal(t, "acme/platform/tools", groups[1].FullPath)
	assert.Equal(t, int64(11), *groups[1].ParentID)
	assert.Equal(t, "1", r.header.Get("X-Page"))
	assert.Equal(t, "2", r.header.Get("X-Total"))

	all := []int64{tools.ID, 101, 100}
	// Offset walk, keyset walk (order_by=id, both directions), direct projects only.
	assert.ElementsMatch(t, all, listAll(t, srv.URL+"/api/v4/groups/acme/projects?include_subgroups=true&simple=true&per_page=1", ownerToken))
	assert.Equal(t, []int64{100, 101, tools.ID}, listAll(t, srv.URL+"/api/v4/groups/acme/projects?include_subgroups=true&simple=true&per_page=1&pagination=keyset&order_by=id&sort=asc", ownerToken))
	assert.Equal(t, all, listAll(t, srv.URL+"/api/v4/groups/10/projects?include_subgroups=true&per_page=2&pagination=keyset&order_by=id", ownerToken))
	assert.Empty(t, listAll(t, srv.URL+"/api/v4/groups/acme/projects", ownerToken), "acme holds no project itself")
	assert.Equal(t, http.StatusMethodNotAllowed, get(t, srv.URL+"/api/v4/groups/acme/projects?pagination=keyset&order_by=name", ownerToken).status)

	// Permission filtering: a Maintainer of acme/platform sees it and below,
	// not acme; a project member sees only the project; admins see all.
	assert.Equal(t, http.StatusNotFound, get(t, srv.URL+"/api/v4/groups/acme/descendant_groups", maintToken).status)
	assert.Len(t, listAll(t, srv.URL+"/api/v4/groups/acme%2Fplatform/descendant_groups", maintToken), 1)
	assert.Equal(t, http.StatusNotFound, get(t, srv.URL+"/api/v4/groups/acme/projects", projDevToken).status)
	assert.Equal(t, http.StatusNotFound, get(t, srv.URL+"/api/v4/groups/acme/projects", outsiderToken).status)
	assert.ElementsMatch(t, all, listAll(t, srv.URL+"/api/v4/groups/acme/projects?include_subgroups=true", adminToken))

	// Archived projects are listed unless archived=false.
	require.NoError(t, s.ArchiveProject(101, true))
	assert.ElementsMatch(t, []int64{tools.ID, 100}, listAll(t, srv.URL+"/api/v4/groups/acme/projects?include_subgroups=true&archived=false", ownerToken))
	assert.ElementsMatch(t, all, listAll(t, srv.URL+"/api/v4/groups/acme/projects?include_subgroups=true", ownerToken))

	// Transfer out, transfer in, delete.
	require.NoError(t, s.TransferProject(100, "globex"))
	assert.ElementsMatch(t, []int64{tools.ID, 101}, listAll(t, srv.URL+"/api/v4/groups/acme/projects?include_subgroups=true", ownerToken))
	assert.Equal(t, http.StatusOK, get(t, srv.URL+"/api/v4/projects/globex%2Fapi/audit_events", adminToken).status)
	assert.Equal(t, http.StatusNotFound, get(t, srv.URL+"/api/v4/projects/acme%2Fplatform%2Fapi/audit_events", adminToken).status)
	require.NoError(t, s.TransferProject(102, "acme/platform"))
	assert.Contains(t, listAll(t, srv.URL+"/api/v4/groups/acme/projects?include_subgroups=true", ownerToken), int64(102))
	require.NoError(t, s.DeleteProject(101))
	assert.Equal(t, http.StatusNotFound, get(t, srv.URL+"/api/v4/projects/101/audit_events", adminToken).status)

	// A group moved under another keeps its id; its projects follow.
	require.NoError(t, s.TransferGroup(11, "globex"))
	assert.Equal(t, http.StatusOK, get(t, srv.URL+"/api/v4/projects/globex%2Fplatform%2Ftools%2Fcli/audit_events", adminToken).status)
	require.NoError(t, s.DeleteGroup(12))
	assert.Equal(t, http.StatusNotFound, get(t, srv.URL+"/api/v4/projects/globex%2Fplatform%2Ftools%2Fcli/audit_events", adminToken).status)
	assert.Empty(t, listAll(t, srv.URL+"/api/v4/groups/acme/descendant_groups", ownerToken))

	// Injected listing failures.
	s.DenyListing("acme", http.StatusForbidden)
	assert.Equal(t, http.StatusForbidden, get(t, srv.URL+"/api/v4/groups/acme/projects", ownerToken).status)
	s.DenyListing("acme", 0)
	assert.Equal(t, http.StatusOK, get(t, srv.URL+"/api/v4/groups/acme/projects", ownerToken).status)
}
