// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package gitlabapi

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
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
// path) that the token can see: GET /groups/:id/descendant_groups, with
// offset pagination (the only one GitLab offers there).
func (c *Client) DescendantGroups(ctx context.Context, group string) ([]Entity, error) {
	q := url.Values{}
	q.Set("per_page", strconv.Itoa(maxListingPerPage))
	q.Set("page", "1")
	return c.list(ctx, listingTarget(listingDescendantGroups, group), q, false)
}

// GroupProjects lists every project in a group and its subgroups that the
// token can see: GET /groups/:id/projects?include_subgroups=true&simple=true,
// without projects shared with the group from elsewhere, and without
// archived ones unless archived is set. It pages with keyset pagination
// (pagination=keyset, order_by=id), and with offset pagination on
// instances that refuse keyset.
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
	keyset := !c.isOffsetOnly(to.String())
	if keyset {
		q.Set("pagination", "keyset")
	} else {
		q.Set("page", "1")
	}
	out, err := c.list(ctx, to, q, keyset)
	if err != nil && keyset && refusesKeyset(err) {
		c.setOffsetOnly(to.String())
		c.opts.Logger.Info("GitLab refused keyset pagination of the group projects listing; using offset pagination", zap.String("group", group))
		q.Del("pagination")
		q.Set("page", "1")
		return c.list(ctx, to, q, false)
	}
	return out, err
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

// list walks the pages of a listing, following rel="next" links (keyset)
// or X-Next-Page (offset).
func (c *Client) list(ctx context.Context, to Target, q url.Values, keyset bool) ([]Entity, error) {
	var out []Entity
	seen := map[string]bool{}
	for page := 0; q != nil; page++ {
		if page == maxListingPages {
			return out, fmt.Errorf("the %s has more than %d pages", to.what(), maxListingPages)
		}
		enc := q.Encode()
		if seen[enc] {
			return out, fmt.Errorf("GitLab sent the same next page link twice for the %s", to.what())
		}
		seen[enc] = true
		header, body, err := c.do(ctx, request{url: apiURL(c.opts.BaseURL, to.listingPath(), q), to: to})
		if err != nil {
			return out, err
		}
		var rows []listedEntity
		if err := json.Unmarshal([]byte(body), &rows); err != nil {
			return out, fmt.Errorf("page %d of the %s is not a JSON array of groups or projects: %w", page+1, to.what(), err)
		}
		for _, r := range rows {
			p := r.FullPath
			if p == "" {
				p = r.PathWithNamespace
			}
			if r.ID <= 0 || p == "" {
				return out, fmt.Errorf("page %d of the %s lists an entry without id or path", page+1, to.what())
			}
			out = append(out, Entity{ID: r.ID, FullPath: p, CreatedAt: r.CreatedAt.UTC()})
		}
		next := linkNext(header.Get("Link"))
		switch {
		case keyset && next != nil:
			q = next
		case !keyset && header.Get("X-Next-Page") != "":
			q.Set("page", header.Get("X-Next-Page"))
		case !keyset && next != nil && next.Get("page") != "":
			q.Set("page", next.Get("page"))
		default:
			q = nil
		}
	}
	return out, nil
}
