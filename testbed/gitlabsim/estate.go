// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package gitlabsim

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The estate: groups and projects that change during a run (created,
// deleted, transferred, archived), and the two listings GitLab offers to
// discover them, both offset-paginated only (lib/api/groups.rb ends both
// in paginate(), never paginate_with_strategies, so pagination=keyset is
// ignored and a removal mid-walk shifts the later pages):
//
//   - GET /api/v4/groups/:id/descendant_groups: order_by name (default),
//     path or id, sort asc (default) or desc, always with the id ascending
//     as tie-breaker (group_without_similarity_options);
//   - GET /api/v4/groups/:id/projects: include_subgroups, simple, archived,
//     with_shared; order_by id, name, path, created_at (default),
//     updated_at, last_activity_at, similarity, star_count; sort desc
//     (default) or asc; and id_after / id_before, which the endpoint does
//     not document but honours (project_finder_params reads them from the
//     raw parameters and GroupProjectsFinder inherits ProjectsFinder#by_ids).
//     Walking order_by=id&sort=asc&id_after=<last id> cannot skip a
//     project when others vanish.
//
// Both list only what the token can see, as GitLab does: administrators
// and auditors see everything, others the groups and projects they hold a
// role on (directly or through an ancestor group).

// Estate listing routes.
const (
	routeDescendantGroups routeKind = iota + 50
	routeGroupProjects
)

// registeredAt is the creation time of groups and projects registered
// with AddGroup, AddProject or Populate: long before any generated event.
func (s *Sim) registeredAt() time.Time {
	return s.now().AddDate(-1, 0, 0).Truncate(time.Millisecond).UTC()
}

// matchEstateRoute matches /groups/:id/descendant_groups and /groups/:id/projects.
func matchEstateRoute(seg []string) (route, bool) {
	if len(seg) != 3 || seg[0] != "groups" {
		return route{}, false
	}
	id, err := url.PathUnescape(seg[1])
	if err != nil || id == "" {
		return route{}, false
	}
	switch seg[2] {
	case "descendant_groups":
		return route{kind: routeDescendantGroups, id: id}, true
	case "projects":
		return route{kind: routeGroupProjects, id: id}, true
	}
	return route{}, false
}

// CreateGroup creates a group now, with the next free id, under the
// existing parent its full path names ("acme/new-team").
func (s *Sim) CreateGroup(fullPath string) (Group, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fullPath = strings.Trim(fullPath, "/")
	if s.groupsByPath[strings.ToLower(fullPath)] != nil {
		return Group{}, fmt.Errorf("gitlabsim: group %q exists", fullPath)
	}
	if i := strings.LastIndexByte(fullPath, '/'); i > 0 && s.groupsByPath[strings.ToLower(fullPath[:i])] == nil {
		return Group{}, fmt.Errorf("gitlabsim: no parent group %q", fullPath[:i])
	}
	id := int64(10)
	for _, g := range s.groups {
		id = max(id, g.ID+1)
	}
	s.addGroupLocked(id, fullPath)
	g := s.groupsByID[id]
	g.CreatedAt = s.now().Truncate(time.Microsecond).UTC()
	return *g, nil
}

// CreateProject creates a project now, with the next free id, in the
// existing group its full path names ("acme/platform/new-service").
func (s *Sim) CreateProject(fullPath string) (Project, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fullPath = strings.Trim(fullPath, "/")
	i := strings.LastIndexByte(fullPath, '/')
	if i <= 0 {
		return Project{}, fmt.Errorf("gitlabsim: project %q must be in a group", fullPath)
	}
	g := s.groupsByPath[strings.ToLower(fullPath[:i])]
	if g == nil {
		return Project{}, fmt.Errorf("gitlabsim: no group %q", fullPath[:i])
	}
	if s.projectsByPath[strings.ToLower(fullPath)] != nil {
		return Project{}, fmt.Errorf("gitlabsim: project %q exists", fullPath)
	}
	id := int64(100)
	for _, p := range s.projects {
		id = max(id, p.ID+1)
	}
	s.addProjectLocked(id, fullPath, g.ID)
	p := s.projectsByID[id]
	p.CreatedAt = s.now().Truncate(time.Microsecond).UTC()
	return *p, nil
}

// DeleteProject deletes a project: its feed answers 404 from now on (its
// events stay in the instance feed, as in GitLab).
func (s *Sim) DeleteProject(id int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.projectsByID[id]
	if p == nil {
		return fmt.Errorf("gitlabsim: no project %d", id)
	}
	s.deleteProjectLocked(p)
	return nil
}

func (s *Sim) deleteProjectLocked(p *Project) {
	delete(s.projectsByID, p.ID)
	delete(s.projectsByPath, strings.ToLower(p.FullPath))
	s.projects = slices.DeleteFunc(s.projects, func(o *Project) bool { return o == p })
}

// DeleteGroup deletes a group with its subgroups and projects.
func (s *Sim) DeleteGroup(id int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	g := s.groupsByID[id]
	if g == nil {
		return fmt.Errorf("gitlabsim: no group %d", id)
	}
	prefix := strings.ToLower(g.FullPath) + "/"
	for _, p := range slices.Clone(s.projects) {
		if p.GroupID == g.ID || strings.HasPrefix(strings.ToLower(p.FullPath), prefix) {
			s.deleteProjectLocked(p)
		}
	}
	s.groups = slices.DeleteFunc(s.groups, func(o *Group) bool {
		if o == g || strings.HasPrefix(strings.ToLower(o.FullPath), prefix) {
			delete(s.groupsByID, o.ID)
			delete(s.groupsByPath, strings.ToLower(o.FullPath))
			return true
		}
		return false
	})
	return nil
}

// TransferProject moves a project to another existing group. Its id and
// its events stay; its full path changes.
func (s *Sim) TransferProject(id int64, groupPath string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.projectsByID[id]
	g := s.groupsByPath[strings.ToLower(strings.Trim(groupPath, "/"))]
	switch {
	case p == nil:
		return fmt.Errorf("gitlabsim: no project %d", id)
	case g == nil:
		return fmt.Errorf("gitlabsim: no group %q", groupPath)
	}
	newPath := g.FullPath + "/" + p.Name
	if o := s.projectsByPath[strings.ToLower(newPath)]; o != nil && o != p {
		return fmt.Errorf("gitlabsim: project %q exists", newPath)
	}
	delete(s.projectsByPath, strings.ToLower(p.FullPath))
	p.FullPath, p.GroupID = newPath, g.ID
	s.projectsByPath[strings.ToLower(newPath)] = p
	return nil
}

// TransferGroup moves a group, with its subgroups and projects, under
// another existing group ("" makes it a top-level group).
func (s *Sim) TransferGroup(id int64, parentPath string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	g := s.groupsByID[id]
	if g == nil {
		return fmt.Errorf("gitlabsim: no group %d", id)
	}
	var parent *Group
	newPath := g.Name
	if parentPath = strings.Trim(parentPath, "/"); parentPath != "" {
		parent = s.groupsByPath[strings.ToLower(parentPath)]
		if parent == nil {
			return fmt.Errorf("gitlabsim: no group %q", parentPath)
		}
		if parent == g || strings.HasPrefix(strings.ToLower(parent.FullPath)+"/", strings.ToLower(g.FullPath)+"/") {
			return fmt.Errorf("gitlabsim: cannot move %q under itself", g.FullPath)
		}
		newPath = parent.FullPath + "/" + g.Name
	}
	if s.groupsByPath[strings.ToLower(newPath)] != nil {
		return fmt.Errorf("gitlabsim: group %q exists", newPath)
	}
	old := g.FullPath
	rename := func(p string) (string, bool) {
		if strings.EqualFold(p, old) {
			return newPath, true
		}
		if len(p) > len(old) && strings.EqualFold(p[:len(old)+1], old+"/") {
			return newPath + p[len(old):], true
		}
		return p, false
	}
	for _, o := range s.groups {
		if np, ok := rename(o.FullPath); ok {
			delete(s.groupsByPath, strings.ToLower(o.FullPath))
			o.FullPath = np
			s.groupsByPath[strings.ToLower(np)] = o
		}
	}
	for _, p := range s.projects {
		if np, ok := rename(p.FullPath); ok {
			delete(s.projectsByPath, strings.ToLower(p.FullPath))
			p.FullPath = np
			s.projectsByPath[strings.ToLower(np)] = p
		}
	}
	g.ParentID = 0
	if parent != nil {
		g.ParentID = parent.ID
	}
	return nil
}

// ArchiveProject archives (or unarchives) a project. Archived projects
// keep their audit events and feed; listings leave them out when asked
// archived=false.
func (s *Sim) ArchiveProject(id int64, archived bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.projectsByID[id]
	if p == nil {
		return fmt.Errorf("gitlabsim: no project %d", id)
	}
	p.Archived = archived
	return nil
}

// DenyListing makes the estate listings of a group (descendant_groups
// and projects, by full path) answer status, as GitLab does for a group
// the token lost access to (403) or a failing database query (500); 0
// lifts it.
func (s *Sim) DenyListing(groupPath string, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.deniedListings == nil {
		s.deniedListings = map[string]int{}
	}
	key := strings.ToLower(strings.Trim(groupPath, "/"))
	if status == 0 {
		delete(s.deniedListings, key)
		return
	}
	s.deniedListings[key] = status
}

// VanishMidListing deletes n projects the next time a group projects
// listing's first page is served (page 1, no id_after or id_before, more
// projects to follow), right after the page was written and before the
// client can ask for the next: the projects of that page with the lowest
// ids, as when they are deleted while a collector walks the listing.
// GitLab pages this listing by offset only (lib/api/groups.rb ends in
// paginate), so an offset walk then skips as many survivors (they shift
// onto the page already read), and a walk on id_after skips none
// (TestVanishMidListing). It happens once; 0 cancels it. -churn changes
// the estate at random moments instead.
func (s *Sim) VanishMidListing(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.vanishMidWalk = max(n, 0)
}

// vanishAfterFirstPage deletes the projects VanishMidListing asked for,
// from the first page just served (its ids, in order).
func (s *Sim) vanishAfterFirstPage(page []int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := min(s.vanishMidWalk, len(page))
	if n == 0 {
		return
	}
	s.vanishMidWalk = 0
	for _, id := range page[:n] {
		if p := s.projectsByID[id]; p != nil {
			s.deleteProjectLocked(p)
		}
	}
}

// groupJSON is the group entity GitLab's listings answer.
type groupJSON struct {
	ID          int64   `json:"id"`
	WebURL      string  `json:"web_url"`
	Name        string  `json:"name"`
	Path        string  `json:"path"`
	Description string  `json:"description"`
	Visibility  string  `json:"visibility"`
	FullName    string  `json:"full_name"`
	FullPath    string  `json:"full_path"`
	CreatedAt   string  `json:"created_at"`
	ParentID    *int64  `json:"parent_id"`
	AvatarURL   *string `json:"avatar_url"`
}

// projectJSON is the project entity of simple=true.
type projectJSON struct {
	ID                int64         `json:"id"`
	Description       *string       `json:"description"`
	Name              string        `json:"name"`
	NameWithNamespace string        `json:"name_with_namespace"`
	Path              string        `json:"path"`
	PathWithNamespace string        `json:"path_with_namespace"`
	CreatedAt         string        `json:"created_at"`
	DefaultBranch     string        `json:"default_branch"`
	TagList           []string      `json:"tag_list"`
	Topics            []string      `json:"topics"`
	WebURL            string        `json:"web_url"`
	LastActivityAt    string        `json:"last_activity_at"`
	Namespace         namespaceJSON `json:"namespace"`
	Archived          *bool         `json:"archived,omitempty"` // full entity only
}

type namespaceJSON struct {
	ID       int64  `json:"id"`
	Name     string `json:"name"`
	Path     string `json:"path"`
	Kind     string `json:"kind"`
	FullPath string `json:"full_path"`
	ParentID *int64 `json:"parent_id"`
	WebURL   string `json:"web_url"`
}

const apiTime = "2006-01-02T15:04:05.000Z"

// listGroupEstate checks that the token may list the group's estate and
// returns the group, or answers the error.
func (s *Sim) listGroupEstate(w http.ResponseWriter, rt route, t Token) (*Group, bool) {
	g := s.findGroup(rt.id)
	if g == nil || (!t.Admin && !t.Auditor && groupRole(t, g.FullPath) == 0) {
		writeMessage(w, http.StatusNotFound, "404 Group Not Found")
		return nil, false
	}
	if status := s.deniedListings[strings.ToLower(g.FullPath)]; status != 0 {
		writeMessage(w, status, fmt.Sprintf("%d %s", status, http.StatusText(status)))
		return nil, false
	}
	return g, true
}

func (s *Sim) serveDescendantGroups(w http.ResponseWriter, r *http.Request, rt route, t Token) {
	p, errs := s.parseList(r.URL.Query(), false)
	if p.orderBy != "" && !slices.Contains([]string{"name", "path", "id", "similarity"}, p.orderBy) {
		errs = append(errs, "order_by does not have a valid value")
	}
	if p.sort != "" && p.sort != "asc" && p.sort != "desc" {
		errs = append(errs, "sort does not have a valid value")
	}
	if len(errs) > 0 {
		writeError(w, http.StatusBadRequest, strings.Join(errs, ", "))
		return
	}
	base := s.webBase(r)
	s.mu.RLock()
	g, ok := s.listGroupEstate(w, rt, t)
	var rows []groupJSON
	if ok {
		prefix := strings.ToLower(g.FullPath) + "/"
		for _, o := range s.groups {
			if !strings.HasPrefix(strings.ToLower(o.FullPath), prefix) {
				continue
			}
			if !t.Admin && !t.Auditor && groupRole(t, o.FullPath) == 0 {
				continue
			}
			rows = append(rows, s.groupEntity(o, base))
		}
	}
	s.mu.RUnlock()
	if !ok {
		return
	}
	desc := p.sort == "desc"
	slices.SortStableFunc(rows, func(a, b groupJSON) int {
		c := 0
		switch p.orderBy {
		case "path":
			c = strings.Compare(a.Path, b.Path)
		case "id":
		default: // name, and similarity without a search
			c = strings.Compare(a.Name, b.Name)
		}
		if desc {
			c = -c
		}
		if c == 0 { // the id tie-breaker: ascending, unless ordering by id
			c = cmpInt64(a.ID, b.ID)
			if p.orderBy == "id" && desc {
				c = -c
			}
		}
		return c
	})
	writeOffsetRows(s, w, r, rt, p, rows)
}

func cmpInt64(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func (s *Sim) serveGroupProjects(w http.ResponseWriter, r *http.Request, rt route, t Token) {
	q := r.URL.Query()
	p, errs := s.parseList(q, false)
	subgroups := boolParam(q, "include_subgroups", &errs)
	simple := boolParam(q, "simple", &errs)
	withShared := true
	if _, ok := q["with_shared"]; ok {
		withShared = boolParam(q, "with_shared", &errs)
	}
	var archived *bool
	if _, ok := q["archived"]; ok {
		a := boolParam(q, "archived", &errs)
		archived = &a
	}
	var idAfter, idBefore int64
	for _, k := range []string{"id_after", "id_before"} {
		if v, ok := lastValue(q, k); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				errs = append(errs, k+" is invalid")
			} else if k == "id_after" {
				idAfter = n
			} else {
				idBefore = n
			}
		}
	}
	if p.orderBy != "" && !slices.Contains([]string{"id", "name", "path", "created_at", "updated_at", "last_activity_at", "similarity", "star_count"}, p.orderBy) {
		errs = append(errs, "order_by does not have a valid value")
	}
	if p.sort != "" && p.sort != "asc" && p.sort != "desc" {
		errs = append(errs, "sort does not have a valid value")
	}
	if len(errs) > 0 {
		writeError(w, http.StatusBadRequest, strings.Join(errs, ", "))
		return
	}
	desc := p.sort != "asc"
	base := s.webBase(r)
	s.mu.RLock()
	g, ok := s.listGroupEstate(w, rt, t)
	var rows []projectJSON
	if ok {
		prefix := strings.ToLower(g.FullPath) + "/"
		for _, pr := range s.projects {
			in := pr.GroupID == g.ID || (subgroups && strings.HasPrefix(strings.ToLower(pr.FullPath), prefix))
			if !in || (archived != nil && pr.Archived != *archived) {
				continue
			}
			if !t.Admin && !t.Auditor && projectRole(t, pr.FullPath) == 0 {
				continue
			}
			if idAfter != 0 && pr.ID <= idAfter || idBefore != 0 && pr.ID >= idBefore {
				continue
			}
			rows = append(rows, s.projectEntity(pr, base, simple))
		}
	}
	s.mu.RUnlock()
	if !ok {
		return
	}
	_ = withShared // the simulator has no group sharing: nothing is shared in
	// Default order: created_at desc, then id (GitLab adds the id tie-breaker).
	slices.SortStableFunc(rows, func(a, b projectJSON) int {
		c := 0
		switch p.orderBy {
		case "name":
			c = strings.Compare(a.Name, b.Name)
		case "path":
			c = strings.Compare(a.PathWithNamespace, b.PathWithNamespace)
		case "id":
		default:
			c = strings.Compare(a.CreatedAt, b.CreatedAt)
		}
		if c == 0 {
			c = cmpInt64(a.ID, b.ID)
		}
		if desc {
			return -c
		}
		return c
	})
	// Offset pages only: pagination=keyset is ignored (and repeated in the
	// Link header like every other parameter).
	writeOffsetRows(s, w, r, rt, p, rows)
	if p.page == 1 && idAfter == 0 && idBefore == 0 && len(rows) > p.perPage {
		ids := make([]int64, 0, p.perPage)
		for _, row := range rows[:p.perPage] {
			ids = append(ids, row.ID)
		}
		s.vanishAfterFirstPage(ids)
	}
}

// writeOffsetRows answers one offset page of rows with GitLab's headers.
func writeOffsetRows[T any](s *Sim, w http.ResponseWriter, r *http.Request, rt route, p listParams, rows []T) {
	skip := len(rows)
	if p.page-1 <= len(rows)/p.perPage {
		skip = min(len(rows), (p.page-1)*p.perPage)
	}
	page := rows[skip:min(len(rows), skip+p.perPage)]
	s.setOffsetHeaders(w, r, rt, p.page, p.perPage, len(rows), skip+len(page) < len(rows), len(page) == 0)
	writeRows(w, page)
}

func writeRows[T any](w http.ResponseWriter, rows []T) {
	if rows == nil {
		rows = []T{}
	}
	body, err := json.Marshal(rows)
	if err != nil {
		writeMessage(w, http.StatusInternalServerError, "500 Internal Server Error")
		return
	}
	writeJSON(w, http.StatusOK, body)
}

// boolParam reads a Grape Boolean parameter (true/false/1/0/yes/no).
func boolParam(q url.Values, key string, errs *[]string) bool {
	v, ok := lastValue(q, key)
	if !ok {
		return false
	}
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "true", "1", "t", "yes", "y":
		return true
	case "false", "0", "f", "no", "n":
		return false
	}
	*errs = append(*errs, key+" is invalid")
	return false
}

// webBase is the instance's external URL for web_url fields.
func (s *Sim) webBase(r *http.Request) string {
	if s.opts.ExternalURL != "" {
		return strings.TrimRight(s.opts.ExternalURL, "/")
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// groupEntity renders a group. mu must be held.
func (s *Sim) groupEntity(g *Group, base string) groupJSON {
	out := groupJSON{
		ID: g.ID, WebURL: base + "/groups/" + g.FullPath, Name: g.Name, Path: g.Name,
		Visibility: "private", FullName: s.fullName(g.FullPath), FullPath: g.FullPath,
		CreatedAt: g.CreatedAt.UTC().Format(apiTime),
	}
	if g.ParentID != 0 {
		pid := g.ParentID
		out.ParentID = &pid
	}
	return out
}

// projectEntity renders a project. mu must be held.
func (s *Sim) projectEntity(p *Project, base string, simple bool) projectJSON {
	out := projectJSON{
		ID: p.ID, Name: p.Name, NameWithNamespace: s.fullName(p.FullPath), Path: p.Name,
		PathWithNamespace: p.FullPath, CreatedAt: p.CreatedAt.UTC().Format(apiTime),
		DefaultBranch: "main", TagList: []string{}, Topics: []string{},
		WebURL: base + "/" + p.FullPath, LastActivityAt: p.CreatedAt.UTC().Format(apiTime),
	}
	if g := s.groupsByID[p.GroupID]; g != nil {
		out.Namespace = namespaceJSON{ID: g.ID, Name: g.Name, Path: g.Name, Kind: "group", FullPath: g.FullPath, WebURL: base + "/groups/" + g.FullPath}
		if g.ParentID != 0 {
			pid := g.ParentID
			out.Namespace.ParentID = &pid
		}
	}
	if !simple {
		a := p.Archived
		out.Archived = &a
	}
	return out
}

// fullName is GitLab's "Acme / Platform / Api" display path.
func (s *Sim) fullName(fullPath string) string {
	return strings.ReplaceAll(fullPath, "/", " / ")
}
