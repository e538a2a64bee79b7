// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

// Package auditevent knows GitLab's audit event types: the catalogue of
// real event type names, the aliases GitLab used over the years, the
// security-team category of each type, and how to resolve the type of an
// event whatever its shape (streamed, REST, legacy). The receiver and the
// detection processor both use it, so an event is named the same way
// wherever it came from.
package auditevent // import "github.com/kyra-mdr/otelcol-gitlab/internal/auditevent"

import (
	_ "embed"
	"fmt"
	"sort"
	"strings"
	"sync"
)

// event_types.tsv started as a copy of the team's shared GitLab facts
// (shared/gitlab/event-types.tsv, read from GitLab's docs page
// doc/user/compliance/audit_event_types.md); rows added since name their
// source in the last column, GitLab's config/audit_events/types/<name>.yml
// definitions: GitLab's audit event types with their feature category and
// whether they are saved to the database. Names GitLab renamed stay as
// rows whose description starts with "Deprecated", and resolve to the
// current name (alias.go).
//
//go:embed event_types.tsv
var catalogTSV string

// TypeInfo describes one GitLab audit event type.
type TypeInfo struct {
	// Name is GitLab's event type name, e.g. "user_disable_two_factor".
	Name string
	// FeatureCategory is GitLab's feature category, e.g. "system_access".
	FeatureCategory string
	// SavedToDatabase is false for stream-only types that the REST API never returns.
	SavedToDatabase bool
	// Description is a one-line description of the event.
	Description string
	// IntroducedIn is the GitLab version that introduced the type.
	IntroducedIn string
	// Scope lists the levels the event can be recorded at (Instance, Group, Project, User).
	Scope string
	// Category is the security category derived from the feature category.
	Category Category
	// OCSF is the type's OCSF classification (ocsf.go), derived from its
	// name and feature category.
	OCSF OCSF
}

type catalog struct {
	byName map[string]TypeInfo
	sorted []TypeInfo
}

var (
	catalogOnce sync.Once
	theCatalog  catalog
)

func loadCatalog() catalog {
	catalogOnce.Do(func() {
		c, err := parseCatalog(catalogTSV)
		if err != nil {
			// The file is embedded and covered by tests: failing here is a build defect.
			panic(err)
		}
		theCatalog = c
	})
	return theCatalog
}

func parseCatalog(data string) (catalog, error) {
	c := catalog{byName: map[string]TypeInfo{}}
	lines := strings.Split(strings.TrimRight(data, "\n"), "\n")
	if len(lines) < 2 {
		return c, fmt.Errorf("event type catalogue is empty")
	}
	header := strings.Split(lines[0], "\t")
	want := []string{"name", "feature_category", "saved_to_database", "streamed", "description", "introduced_in", "scope"}
	for i, w := range want {
		if i >= len(header) || header[i] != w {
			return c, fmt.Errorf("event type catalogue: column %d is %q, want %q", i+1, header[min(i, len(header)-1)], w)
		}
	}
	for n, line := range lines[1:] {
		f := strings.Split(line, "\t")
		if len(f) < len(want) {
			return c, fmt.Errorf("event type catalogue line %d: %d columns, want at least %d", n+2, len(f), len(want))
		}
		ti := TypeInfo{
			Name:            f[0],
			FeatureCategory: f[1],
			SavedToDatabase: f[2] == "yes",
			Description:     f[4],
			IntroducedIn:    f[5],
			Scope:           f[6],
		}
		ti.Category = categorize(ti.Name, ti.FeatureCategory)
		ti.OCSF = deriveOCSF(ti.Name, ti.FeatureCategory)
		if _, dup := c.byName[ti.Name]; dup {
			return c, fmt.Errorf("event type catalogue line %d: duplicate type %q", n+2, ti.Name)
		}
		c.byName[ti.Name] = ti
		c.sorted = append(c.sorted, ti)
	}
	sort.Slice(c.sorted, func(i, j int) bool { return c.sorted[i].Name < c.sorted[j].Name })
	return c, nil
}

// Lookup returns the catalogue entry of an event type. Aliases are resolved
// to the current name first.
func Lookup(name string) (TypeInfo, bool) {
	ti, ok := loadCatalog().byName[Canonical(name)]
	return ti, ok
}

// All returns every catalogued event type, sorted by name. The slice is shared: do not modify it.
func All() []TypeInfo {
	return loadCatalog().sorted
}

// Known reports whether name (after alias resolution) is a catalogued event type.
func Known(name string) bool {
	_, ok := Lookup(name)
	return ok
}
