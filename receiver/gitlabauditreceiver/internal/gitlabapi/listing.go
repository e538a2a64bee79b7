// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package gitlabapi

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"

	"go.uber.org/zap"
)

// maxListingPages bounds one listing walk (100,000 groups or projects at
// 100 per page): a guard against a pagination loop, far above real estates.
const maxListingPages = 1000

// Entity is a group or project found by a listing.
type Entity struct {
	ID int64
	// FullPath is the path with its ancestors, e.g. "acme/platform/api".
	FullPath string
	// CreatedAt is when GitLab created the group or project.
	CreatedAt time.Time
}

// listedEntity is what both listings answer, as far as discovery needs it:
// groups carry full_path, projects path_with_namespace.
type listedEntity struct {
	ID                int64     `json:"id"`
	FullPath          string    `json:"full_path"`
	PathWithNamespace string    `json:"path_with_namespace"`
	CreatedAt         time.Time `json:"created_at"`
}

// DescendantGroups lists every subgroup below a group (given by id or full
// path) that the token can see: GET /groups/:id/descendant_groups, offset
// pagination ordered by id (the only pagination GitLab offers there,
// lib/api/groups.rb; it has no id_after filter). A group deleted while the
// pages are read shifts the later pages and could hide a survivor, so the
// walk is checked: when GitLab's total (X-Total) changed during the walk,
// or is not given, the listing is walked again, up to maxListingWalks
// times, and the walks' union is returned (a survivor missed by one walk
// is found by the next; a deleted group found by one is retired later).
func (c *Client) DescendantGroups(ctx context.Context, group string) ([]Entity, error) {
	to := listingTarget(listingDescendantGroups, group)
	q := url.Values{}
	q.Set("per_page", strconv.Itoa(maxListingPerPage))
	q.Set("order_by", "id")
	q.Set("sort", "asc")
	return c.checkedWalk(ctx, to, q)
}

// GroupProjects lists every project in a group and its subgroups that the
// token can see: GET /groups/:id/projects?include_subgroups=true&simple=true,
// without projects shared with the group from elsewhere, and without
// archived ones unless archived is set. GitLab pages this listing by
// offset only (lib/api/groups.rb ends in paginate; pagination=keyset is
// ignored), so a project deleted mid-walk would shift the later pages. The
// listing is therefore read ordered by id, always its first page, each
// request asking for the projects after the last id seen (id_after, which
// GitLab's ProjectsFinder#by_ids honours there though the docs do not list
// it: lib/api/helpers.rb project_finder_params_ce): a removal cannot hide
// a survivor. An instance that ignores id_after is walked by offset and
// checked as DescendantGroups is.
func (c *Client) GroupProjects(ctx context.Context, group string, archived bool) ([]Entity, error) {
	to := listingTarget(listingGroupProjects, group)
	q := url.Values{}
	q.Set("include_subgroups", "true")
	q.Set("simple", "true")
	q.Set("with_shared", "false")
	if !archived {
		q.Set("archived", "false")
	}
	q.Set("per_page", strconv.Itoa(maxListingPerPage))
	q.Set("order_by", "id")
	q.Set("sort", "asc")
	if !c.isOffsetOnly(to.String()) {
		out, ok, err := c.walkAfterIDs(ctx, to, q)
		if err != nil || ok {
			return out, err
		}
		c.setOffsetOnly(to.String())
		c.opts.Logger.Info("GitLab ignored id_after in the group projects listing; walking it by offset, checked against its total", zap.String("group", group))
	}
	return c.checkedWalk(ctx, to, q)
}

// maxListingWalks bounds the walks of a listing that changes while read.
const maxListingWalks = 3

// checkedWalk reads an offset-paged listing until a walk is stable (its
// total unchanged and complete), at most maxListingWalks times, and returns
// the union of the walks, ordered by id.
func (c *Client) checkedWalk(ctx context.Context, to Target, q url.Values) ([]Entity, error) {
	seen := map[int64]bool{}
	var out []Entity
	for walk := 0; walk < maxListingWalks; walk++ {
		entities, stable, err := c.walkPages(ctx, to, q)
		if err != nil {
			return out, err
		}
		for _, e := range entities {
			if !seen[e.ID] {
				seen[e.ID] = true
				out = append(out, e)
			}
		}
		if stable {
			break
		}
	}
	slices.SortFunc(out, func(a, b Entity) int { return cmp.Compare(a.ID, b.ID) })
	return out, nil
}

// walkAfterIDs reads a listing ordered by id, each request the first page
// of what comes after the last id seen. ok is false when GitLab ignored
// id_after (a page starts at or below it).
func (c *Client) walkAfterIDs(ctx context.Context, to Target, base url.Values) (out []Entity, ok bool, err error) {
	var after int64
	for page := 1; ; page++ {
		if page > maxListingPages {
			return out, true, fmt.Errorf("%s has more than %d pages", to.what(), maxListingPages)
		}
		q := maps.Clone(base)
		if after > 0 {
			q.Set("id_after", strconv.FormatInt(after, 10))
		}
		_, rows, err := c.listPage(ctx, to, q, page)
		if err != nil {
			return out, true, err
		}
		if len(rows) > 0 && after > 0 && rows[0].ID <= after {
			return nil, false, nil
		}
		out = append(out, rows...)
		if len(rows) < maxListingPerPage {
			return out, true, nil
		}
		after = rows[len(rows)-1].ID
	}
}

// walkPages reads every offset page of a listing once. stable is true when
// GitLab's total (X-Total) was given and did not change during the walk
// and matches what was read: nothing was removed or added meanwhile.
func (c *Client) walkPages(ctx context.Context, to Target, base url.Values) (out []Entity, stable bool, err error) {
	q := maps.Clone(base)
	total := ""
	stable = true
	for page := 1; ; {
		if page > maxListingPages {
			return out, false, fmt.Errorf("%s has more than %d pages", to.what(), maxListingPages)
		}
		q.Set("page", strconv.Itoa(page))
		header, rows, err := c.listPage(ctx, to, q, page)
		if err != nil {
			return out, false, err
		}
		out = append(out, rows...)
		t := header.Get("X-Total")
		if page == 1 {
			total = t
		}
		stable = stable && t != "" && t == total
		np, err := strconv.Atoi(header.Get("X-Next-Page"))
		if err != nil || np <= page {
			break
		}
		page = np
	}
	if stable && total != strconv.Itoa(len(out)) {
		stable = false
	}
	return out, stable, nil
}

// listPage reads one page of a listing.
func (c *Client) listPage(ctx context.Context, to Target, q url.Values, page int) (http.Header, []Entity, error) {
	header, body, err := c.do(ctx, request{url: apiURL(c.opts.BaseURL, to.listingPath(), q), to: to})
	if err != nil {
		return nil, nil, err
	}
	var rows []listedEntity
	if err := json.Unmarshal([]byte(body), &rows); err != nil {
		return nil, nil, fmt.Errorf("page %d of %s is not a JSON array of groups or projects: %w", page, to.what(), err)
	}
	out := make([]Entity, 0, len(rows))
	for _, r := range rows {
		p := r.FullPath
		if p == "" {
			p = r.PathWithNamespace
		}
		if r.ID <= 0 || p == "" {
			return nil, nil, fmt.Errorf("page %d of %s lists an entry without id or path", page, to.what())
		}
		out = append(out, Entity{ID: r.ID, FullPath: p, CreatedAt: r.CreatedAt.UTC()})
	}
	return header, out, nil
}

// The listings.
const (
	listingDescendantGroups = "descendant_groups"
	listingGroupProjects    = "group_projects"
)

func listingTarget(name, group string) Target {
	return Target{Class: ClassListings, Name: name, Ref: group}
}

// listingPath is the escaped API path of a listing.
func (t Target) listingPath() string {
	if t.Name == listingGroupProjects {
		return "/api/v4/groups/" + escapeRef(t.Ref) + "/projects"
	}
	return "/api/v4/groups/" + escapeRef(t.Ref) + "/descendant_groups"
}

// maxListingPerPage is GitLab's largest page.
const maxListingPerPage = 100
