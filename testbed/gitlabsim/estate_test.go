// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package gitlabsim

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
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
	// Offset walks in both id directions, the default order, direct projects only.
	assert.ElementsMatch(t, all, listAll(t, srv.URL+"/api/v4/groups/acme/projects?include_subgroups=true&simple=true&per_page=1", ownerToken))
	assert.Equal(t, []int64{100, 101, tools.ID}, listAll(t, srv.URL+"/api/v4/groups/acme/projects?include_subgroups=true&simple=true&per_page=1&order_by=id&sort=asc", ownerToken))
	assert.Equal(t, all, listAll(t, srv.URL+"/api/v4/groups/10/projects?include_subgroups=true&per_page=2&order_by=id", ownerToken))
	assert.Empty(t, listAll(t, srv.URL+"/api/v4/groups/acme/projects", ownerToken), "acme holds no project itself")
	assert.Equal(t, []int64{tools.ID}, listAll(t, srv.URL+"/api/v4/groups/acme/projects?include_subgroups=true&order_by=id&sort=asc&id_after=101", ownerToken))
	assert.Equal(t, []int64{101, 100}, listAll(t, srv.URL+"/api/v4/groups/acme/projects?include_subgroups=true&order_by=id&id_before="+itoa(tools.ID), ownerToken))

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

// TestGroupProjectsIgnoreKeyset reproduces lib/api/groups.rb GET
// /groups/:id/projects, which ends in paginate() (offset), not in
// paginate_with_strategies (lib/api/helpers/pagination_strategies.rb):
// pagination=keyset is ignored, every page is an offset page with its
// X-Page / X-Next-Page / X-Total headers, and the Link header repeats the
// parameter.
func TestGroupProjectsIgnoreKeyset(t *testing.T) {
	_, srv := newSim(t, Options{})
	for _, q := range []string{"pagination=keyset&order_by=id&sort=asc", "pagination=keyset&order_by=name"} {
		r := get(t, srv.URL+"/api/v4/groups/acme/projects?include_subgroups=true&per_page=1&"+q, ownerToken)
		require.Equal(t, http.StatusOK, r.status, q)
		assert.Equal(t, "1", r.header.Get("X-Page"), q)
		assert.Equal(t, "2", r.header.Get("X-Next-Page"), q)
		assert.Equal(t, "2", r.header.Get("X-Total"), q)
		next := links(t, r.header)["next"]
		require.NotNil(t, next, q)
		assert.Equal(t, "2", next.Query().Get("page"), q)
		assert.Equal(t, "keyset", next.Query().Get("pagination"), q)
		assert.Empty(t, next.Query().Get("cursor"), q)
		assert.Empty(t, next.Query().Get("id_after"), q)
	}
	// descendant_groups: offset only as well.
	r := get(t, srv.URL+"/api/v4/groups/acme/descendant_groups?pagination=keyset&per_page=1", ownerToken)
	require.Equal(t, http.StatusOK, r.status)
	assert.Equal(t, "1", r.header.Get("X-Page"))
}

// TestGroupProjectsWalkWhileProjectsVanish shows what GitLab's offset-only
// listing does to a walk when projects are deleted between two pages: a
// naive page-by-page walk skips survivors (each removal before the cursor
// shifts one survivor from page 2 onto page 1), while a walk ordered by id
// that asks for id_after=<last id seen> (honoured by ProjectsFinder#by_ids)
// lists every survivor.
func TestGroupProjectsWalkWhileProjectsVanish(t *testing.T) {
	// acme/platform holds projects 100, 101 and 103 .. 110 (102 is
	// globex/etl); the walk lists 4 per page.
	ids := []int64{100, 101, 103, 104, 105, 106, 107, 108, 109, 110}
	setup := func(t *testing.T) (*Sim, *httptest.Server) {
		s, srv := newSim(t, Options{})
		for i := range 8 {
			p, err := s.CreateProject("acme/platform/svc-" + itoa(int64(i)))
			require.NoError(t, err)
			require.Equal(t, ids[2+i], p.ID)
		}
		return s, srv
	}
	// Between page 1 and page 2, three projects of page 1 leave the
	// listing: two are deleted, one is archived (the walk asks archived=false).
	vanish := func(t *testing.T, s *Sim) {
		require.NoError(t, s.DeleteProject(ids[1]))
		require.NoError(t, s.ArchiveProject(ids[2], true))
		require.NoError(t, s.DeleteProject(ids[3]))
	}
	survivors := []int64{ids[0], ids[4], ids[5], ids[6], ids[7], ids[8], ids[9]}
	const base = "/api/v4/groups/acme/projects?include_subgroups=true&simple=true&archived=false&order_by=id&sort=asc&per_page=4"

	t.Run("naive offset walk skips survivors", func(t *testing.T) {
		s, srv := setup(t)
		var seen []int64
		u := srv.URL + base + "&page=1"
		for page := 1; u != ""; page++ {
			require.Less(t, page, 10)
			r := get(t, u, ownerToken)
			require.Equal(t, http.StatusOK, r.status)
			seen = append(seen, r.ids(t)...)
			if page == 1 {
				vanish(t, s)
			}
			u = nextLink(r.header)
		}
		var skipped []int64
		for _, id := range survivors {
			if !slices.Contains(seen, id) {
				skipped = append(skipped, id)
			}
		}
		assert.Equal(t, []int64{ids[4], ids[5], ids[6]}, skipped,
			"page 2 starts at the 5th survivor: the three survivors that shifted onto page 1 are never seen")
	})

	t.Run("id_after walk misses none", func(t *testing.T) {
		s, srv := setup(t)
		var seen []int64
		last := int64(0)
		for page := 1; ; page++ {
			require.Less(t, page, 10)
			r := get(t, srv.URL+base+"&id_after="+itoa(last), ownerToken)
			require.Equal(t, http.StatusOK, r.status)
			got := r.ids(t)
			seen = append(seen, got...)
			if page == 1 {
				vanish(t, s)
			}
			if len(got) < 4 {
				break
			}
			last = got[len(got)-1]
		}
		for _, id := range survivors {
			assert.Contains(t, seen, id)
		}
	})
}

// TestDescendantGroupsOrder reproduces find_groups / order_groups of
// lib/api/groups.rb: order_by name (default), path or id, sort asc
// (default) or desc, the id ascending as tie-breaker, invalid values 400.
func TestDescendantGroupsOrder(t *testing.T) {
	s, srv := newSim(t, Options{})
	for _, p := range []string{"acme/zeta", "acme/alpha", "acme/platform/beta"} {
		_, err := s.CreateGroup(p)
		require.NoError(t, err)
	}
	names := func(q string) []string {
		r := get(t, srv.URL+"/api/v4/groups/acme/descendant_groups?"+q, ownerToken)
		require.Equal(t, http.StatusOK, r.status, string(r.body))
		var gs []struct {
			Name string `json:"name"`
		}
		require.NoError(t, json.Unmarshal(r.body, &gs))
		out := []string{}
		for _, g := range gs {
			out = append(out, g.Name)
		}
		return out
	}
	assert.Equal(t, []string{"alpha", "beta", "platform", "zeta"}, names(""))
	assert.Equal(t, []string{"zeta", "platform", "beta", "alpha"}, names("sort=desc"))
	assert.Equal(t, []string{"platform", "zeta", "alpha", "beta"}, names("order_by=id&sort=asc"))
	assert.Equal(t, []string{"beta", "alpha", "zeta", "platform"}, names("order_by=id&sort=desc"))
	r := get(t, srv.URL+"/api/v4/groups/acme/descendant_groups?order_by=created_at", ownerToken)
	assert.Equal(t, http.StatusBadRequest, r.status)
	assert.JSONEq(t, `{"error":"order_by does not have a valid value"}`, string(r.body))
}

// TestVanishMidListing checks the switch behind gitlab-sim
// -vanish-mid-listing: projects deleted right after the first page of a
// group projects listing was served, before the walk asks for the next,
// as when they are deleted while a collector walks GitLab's offset-only
// listing (lib/api/groups.rb ends in paginate). An offset walk then skips
// as many survivors, a walk on id_after none; it happens once.
func TestVanishMidListing(t *testing.T) {
	// acme/platform holds projects 100, 101 and 103 .. 110 (102 is
	// globex/etl); the walks list 4 per page.
	ids := []int64{100, 101, 103, 104, 105, 106, 107, 108, 109, 110}
	const base = "/api/v4/groups/acme/projects?include_subgroups=true&simple=true&order_by=id&sort=asc&per_page=4"
	for _, tc := range []struct {
		name    string
		walk    func(t *testing.T, srv string) []int64
		skipped []int64
	}{
		{"offset walk skips survivors", func(t *testing.T, srv string) []int64 {
			return listAll(t, srv+base, ownerToken)
		}, []int64{105, 106}}, // page 2 starts at the 5th survivor: 105 and 106 shifted onto page 1
		{"id_after walk skips none", func(t *testing.T, srv string) []int64 {
			var seen []int64
			for last := int64(0); ; {
				r := get(t, srv+base+"&id_after="+itoa(last), ownerToken)
				require.Equal(t, http.StatusOK, r.status)
				got := r.ids(t)
				seen = append(seen, got...)
				if len(got) < 4 {
					return seen
				}
				last = got[len(got)-1]
			}
		}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, srv := newSim(t, Options{})
			for i := range 8 {
				p, err := s.CreateProject("acme/platform/svc-" + itoa(int64(i)))
				require.NoError(t, err)
				require.Equal(t, ids[2+i], p.ID)
			}
			s.VanishMidListing(2)
			seen := tc.walk(t, srv.URL)
			assert.Equal(t, ids[:4], seen[:4], "the first page lists the two projects deleted right after it")
			var skipped []int64
			for _, id := range ids[2:] {
				if !slices.Contains(seen, id) {
					skipped = append(skipped, id)
				}
			}
			assert.Equal(t, tc.skipped, skipped)
			for _, p := range s.Projects() {
				assert.NotContains(t, ids[:2], p.ID, "deleted")
			}
			assert.Equal(t, ids[2:], listAll(t, srv.URL+base, ownerToken), "once: the next walk deletes nothing")
		})
	}

	t.Run("not before a first page with more to follow", func(t *testing.T) {
		s, srv := newSim(t, Options{})
		s.VanishMidListing(1)
		assert.Equal(t, []int64{100, 101}, listAll(t, srv.URL+base, ownerToken), "one page only: nothing vanishes")
		assert.Len(t, s.Projects(), 3)
	})
}
