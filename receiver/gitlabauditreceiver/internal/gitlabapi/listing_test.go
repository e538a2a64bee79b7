// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package gitlabapi

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kyra-mdr/otelcol-gitlab/testbed/gitlabsim"
)

const listingToken = "glpat-listing-000000000000"

// listingSim is a GitLab with acme (3 subgroups, 250 projects, one
// archived) and other (one project the token cannot see).
func listingSim(t *testing.T) (*gitlabsim.Sim, map[int64]string) {
	t.Helper()
	sim := gitlabsim.New(gitlabsim.Options{Tokens: map[string]gitlabsim.Token{
		listingToken: {UserID: 2, Groups: map[string]gitlabsim.Role{"acme": gitlabsim.Owner}},
	}})
	t.Cleanup(func() { _ = sim.Close() })
	sim.AddGroup(10, "acme")
	sim.AddGroup(11, "other")
	want := map[int64]string{}
	for i := range 250 {
		sub := fmt.Sprintf("acme/team-%d", i%3)
		if i < 3 {
			_, err := sim.CreateGroup(sub)
			require.NoError(t, err)
		}
		p, err := sim.CreateProject(fmt.Sprintf("%s/p%03d", sub, i))
		require.NoError(t, err)
		want[p.ID] = p.FullPath
	}
	_, err := sim.CreateProject("other/not-mine")
	require.NoError(t, err)
	require.NoError(t, sim.ArchiveProject(150, true))
	return sim, want
}

func listingClient(t *testing.T, h http.Handler) *Client {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	base, _ := url.Parse(srv.URL)
	return New(Options{HTTPClient: srv.Client(), BaseURL: base, Token: listingToken, PerPage: 100, MaxConcurrent: 2})
}

func byID(es []Entity) map[int64]string {
	out := map[int64]string{}
	for _, e := range es {
		out[e.ID] = e.FullPath
	}
	return out
}

// TestListingsWalkEveryPage: GitLab pages group projects by offset only
// (lib/api/groups.rb); the walk asks for the projects after the last id
// seen (id_after, ProjectsFinder#by_ids), always page 1.
func TestListingsWalkEveryPage(t *testing.T) {
	sim, want := listingSim(t)
	c := listingClient(t, sim)

	groups, err := c.DescendantGroups(context.Background(), "acme")
	require.NoError(t, err)
	require.Len(t, groups, 3)
	assert.Equal(t, "acme/team-0", groups[0].FullPath)
	assert.False(t, groups[0].CreatedAt.IsZero())

	sim.ResetRequests()
	projects, err := c.GroupProjects(context.Background(), "acme", true)
	require.NoError(t, err)
	assert.Equal(t, want, byID(projects))
	reqs := sim.Requests()
	require.Len(t, reqs, 3, "3 pages of 100")
	for i, r := range reqs {
		q, err := url.ParseQuery(r.Query)
		require.NoError(t, err)
		assert.Equal(t, "id", q.Get("order_by"))
		assert.Equal(t, "asc", q.Get("sort"))
		assert.Equal(t, "false", q.Get("with_shared"))
		assert.Empty(t, q.Get("page"), "always the first page")
		if i == 0 {
			assert.Empty(t, q.Get("id_after"))
		} else {
			assert.NotEmpty(t, q.Get("id_after"))
		}
	}
	unarchived, err := c.GroupProjects(context.Background(), "acme", false)
	require.NoError(t, err)
	assert.Len(t, unarchived, len(want)-1)

	_, err = c.GroupProjects(context.Background(), "other", true)
	require.Error(t, err)
	assert.True(t, IsStatus(err, http.StatusNotFound))
	assert.Contains(t, err.Error(), "projects of group other")
}

// vanishing deletes the projects (or groups) with the lowest ids after the
// first page of a listing was answered: on an offset walk, the later pages
// shift, and a page-by-page walk skips survivors.
type vanishing struct {
	sim     *gitlabsim.Sim
	path    string
	remove  func() error
	answers atomic.Int32
	at      int32  // the answer before which the entries vanish
	strip   string // a query parameter the instance ignores
}

func (v *vanishing) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == v.path {
		if v.strip != "" {
			q := r.URL.Query()
			q.Del(v.strip)
			r.URL.RawQuery = q.Encode()
		}
		if v.answers.Add(1) == v.at {
			if err := v.remove(); err != nil {
				panic(err)
			}
		}
	}
	v.sim.ServeHTTP(w, r)
}

// TestListingsSkipNoSurvivorWhenEntriesVanishMidWalk: projects and
// subgroups deleted while discovery reads the pages cannot hide a survivor,
// whether GitLab honours id_after or not, and for descendant groups (which
// have no id_after) through a walk checked against GitLab's total.
func TestListingsSkipNoSurvivorWhenEntriesVanishMidWalk(t *testing.T) {
	for _, tc := range []struct {
		name   string
		groups bool
		strip  string
		at     int32
	}{
		{name: "group projects, id_after", at: 2},
		// Two id_after requests show it ignored; the offset walk's second page.
		{name: "group projects, id_after ignored", strip: "id_after", at: 4},
		{name: "descendant groups", groups: true, at: 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sim, want := listingSim(t)
			var lowest []int64
			if tc.groups {
				// 250 subgroups more, deleted: the three lowest.
				want = map[int64]string{}
				for i := range 250 {
					g, err := sim.CreateGroup(fmt.Sprintf("acme/team-0/sub-%03d", i))
					require.NoError(t, err)
					want[g.ID] = g.FullPath
				}
				for _, g := range sim.Groups() {
					if _, ok := want[g.ID]; ok || g.FullPath == "acme/team-1" || g.FullPath == "acme/team-2" {
						want[g.ID] = g.FullPath
					}
				}
				for _, g := range sim.Groups() {
					if len(lowest) < 3 && g.FullPath != "acme" && g.FullPath != "other" && g.FullPath != "acme/team-0" {
						lowest = append(lowest, g.ID)
					}
				}
			} else {
				for id := range want {
					if id != 150 && len(lowest) < 3 {
						lowest = append(lowest, id)
					}
				}
			}
			v := &vanishing{sim: sim, strip: tc.strip, at: tc.at, path: "/api/v4/groups/acme/projects", remove: func() error {
				for _, id := range lowest {
					if tc.groups {
						if err := sim.DeleteGroup(id); err != nil {
							return err
						}
					} else if err := sim.DeleteProject(id); err != nil {
						return err
					}
				}
				return nil
			}}
			if tc.groups {
				v.path = "/api/v4/groups/acme/descendant_groups"
			}
			c := listingClient(t, v)
			var got []Entity
			var err error
			if tc.groups {
				got, err = c.DescendantGroups(context.Background(), "acme")
			} else {
				got, err = c.GroupProjects(context.Background(), "acme", true)
			}
			require.NoError(t, err)
			gotIDs := byID(got)
			for id, path := range want {
				if !contains(lowest, id) {
					assert.Contains(t, gotIDs, id, "survivor %s skipped", path)
				}
			}
		})
	}
}

func contains(ids []int64, id int64) bool {
	for _, x := range ids {
		if x == id {
			return true
		}
	}
	return false
}
