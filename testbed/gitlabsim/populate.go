// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package gitlabsim

import (
	"fmt"
	"strings"
)

// Default sizes used when Generate finds no groups or projects.
const (
	DefaultGroups   = 5
	DefaultProjects = 12
)

// defaultUsers is the fixed cast of the simulated instance. Emails use the
// reserved example domains.
var defaultUsers = []User{
	{ID: 1, Username: "root", Name: "Administrator", Email: "admin@example.com", Admin: true},
	{ID: 2, Username: "alice", Name: "Alice Nakamura", Email: "alice@example.com"},
	{ID: 3, Username: "bob", Name: "Bob Okafor", Email: "bob@example.com"},
	{ID: 4, Username: "carol", Name: "Carol Jensen", Email: "carol@example.com"},
	{ID: 5, Username: "dave", Name: "Dave Moreau", Email: "dave@example.com"},
	{ID: 6, Username: "erin", Name: "Erin Kowalski", Email: "erin@example.com"},
	{ID: 7, Username: "frank", Name: "Frank Schulz", Email: "frank@example.com"},
	{ID: 8, Username: "grace", Name: "Grace Lindqvist", Email: "grace@example.com", Admin: true},
	{ID: 9, Username: "heidi", Name: "Heidi Fischer", Email: "heidi@example.com"},
	{ID: 10, Username: "ivan", Name: "Ivan Petrov", Email: "ivan@example.com"},
	{ID: 11, Username: "judy", Name: "Judy Alvarez", Email: "judy@example.com"},
	{ID: 12, Username: "mallory", Name: "Mallory Quinn", Email: "mallory@example.org"},
	{ID: 13, Username: "oscar", Name: "Oscar Dubois", Email: "oscar@example.com"},
	{ID: 14, Username: "peggy", Name: "Peggy Tanaka", Email: "peggy@example.com"},
	{ID: 15, Username: "trent", Name: "Trent Walker", Email: "trent@example.com"},
	{ID: 16, Username: "victor", Name: "Victor Costa", Email: "victor@example.com"},
}

// groupPaths is the order in which groups are created: top-level groups and
// their subgroups, interleaved so that any prefix is a plausible instance.
var groupPaths = []string{
	"acme", "acme/platform", "acme/security", "globex", "globex/data",
	"acme/mobile", "initech", "initech/infra", "globex/web", "acme/platform/tooling",
	"umbrella", "umbrella/research", "initech/payments", "hooli", "hooli/ml",
	"acme/devops", "globex/data/analytics", "hooli/search", "umbrella/labs", "initech/docs",
}

// projectNames are used in turn for the projects of each group.
var projectNames = []string{
	"api", "web", "infra", "scanners", "warehouse", "ios", "terraform", "frontend",
	"gateway", "etl", "auth-service", "billing", "helm-charts", "android", "ml-models",
	"cli", "docs", "sdk", "backend", "pipelines",
}

// Populate registers a realistic instance: the default users (root and 15
// others, if no user is registered yet), the given number of groups
// ("acme", "acme/platform", "globex", ...) and projects spread over them
// ("acme/platform/api", ...). Ids continue after the highest registered
// ones (groups from 10, projects from 100).
func (s *Sim) Populate(groups, projects int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.populateLocked(groups, projects)
}

func (s *Sim) populateLocked(groups, projects int) {
	if len(s.users) == 0 {
		for _, u := range defaultUsers {
			s.addUserLocked(u)
		}
	}
	nextGroup, nextProject := int64(10), int64(100)
	for _, g := range s.groups {
		nextGroup = max(nextGroup, g.ID+1)
	}
	for _, p := range s.projects {
		nextProject = max(nextProject, p.ID+1)
	}
	for i := 0; i < groups; i++ {
		var path string
		if i < len(groupPaths) {
			path = groupPaths[i]
		} else {
			path = fmt.Sprintf("team-%02d", i-len(groupPaths)+1)
		}
		for s.groupsByPath[path] != nil {
			path += "-x"
		}
		s.addGroupLocked(nextGroup, path)
		nextGroup++
	}
	if projects > 0 && len(s.groups) == 0 {
		s.addGroupLocked(nextGroup, groupPaths[0])
	}
	// Projects go preferably to leaf groups, then to every group, round robin.
	var order []*Group
	for _, g := range s.groups {
		if !s.hasSubgroupLocked(g) {
			order = append(order, g)
		}
	}
	for _, g := range s.groups {
		if s.hasSubgroupLocked(g) {
			order = append(order, g)
		}
	}
	for i := 0; i < projects; i++ {
		g := order[i%len(order)]
		name := projectNames[(i/len(order)+i)%len(projectNames)]
		path := g.FullPath + "/" + name
		for n := 2; s.projectsByPath[strings.ToLower(path)] != nil; n++ {
			path = fmt.Sprintf("%s/%s-%d", g.FullPath, name, n)
		}
		s.addProjectLocked(nextProject, path, g.ID)
		nextProject++
	}
}

func (s *Sim) hasSubgroupLocked(g *Group) bool {
	for _, o := range s.groups {
		if o.ParentID == g.ID {
			return true
		}
	}
	return false
}
