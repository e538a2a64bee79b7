// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package gitlabapi

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kyra-mdr/otelcol-gitlab/testbed/gitlabsim"
)

func TestListingsWalkEveryPage(t *testing.T) {
	for _, noKeyset := range []bool{false, true} {
		t.Run(fmt.Sprint("no_keyset=", noKeyset), func(t *testing.T) {
			const token = "glpat-listing-000000000000"
			sim := gitlabsim.New(gitlabsim.Options{NoKeyset: noKeyset, Tokens: map[string]gitlabsim.Token{
				token: {UserID: 2, Groups: map[string]gitlabsim.Role{"acme": gitlabsim.Owner}},
			}})
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
			srv := httptest.NewServer(sim)
			defer srv.Close()
			defer func() { _ = sim.Close() }()
			base, _ := url.Parse(srv.URL)
			c := New(Options{HTTPClient: srv.Client(), BaseURL: base, Token: token, PerPage: 100, MaxConcurrent: 2})

			groups, err := c.DescendantGroups(context.Background(), "acme")
			require.NoError(t, err)
			require.Len(t, groups, 3)
			assert.Equal(t, "acme/team-0", groups[0].FullPath)
			assert.False(t, groups[0].CreatedAt.IsZero())

			sim.ResetRequests()
			projects, err := c.GroupProjects(context.Background(), "acme", true)
			require.NoError(t, err)
			got := map[int64]string{}
			for _, p := range projects {
				got[p.ID] = p.FullPath
			}
			assert.Equal(t, want, got)
			reqs := sim.Requests()
			if noKeyset {
				assert.Len(t, reqs, 4, "one refused keyset request, then 3 offset pages")
			} else {
				require.Len(t, reqs, 3, "3 keyset pages of 100")
				for _, r := range reqs {
					assert.Contains(t, r.Query, "pagination=keyset")
					assert.Contains(t, r.Query, "with_shared=false")
				}
			}
			unarchived, err := c.GroupProjects(context.Background(), "acme", false)
			require.NoError(t, err)
			assert.Len(t, unarchived, len(want)-1)

			_, err = c.GroupProjects(context.Background(), "other", true)
			require.Error(t, err)
			assert.True(t, IsStatus(err, http.StatusNotFound))
			assert.Contains(t, err.Error(), "projects of group other")
		})
	}
}
