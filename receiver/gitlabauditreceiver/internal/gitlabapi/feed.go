// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

// Package gitlabapi reads GitLab's audit event REST API: it builds the
// requests of the instance, group and project feeds, walks their pages
// (keyset, or offset on instances that refuse keyset), honours GitLab's
// rate limits, retries transient failures, and classifies errors.
package gitlabapi // import "github.com/kyra-mdr/otelcol-gitlab/receiver/gitlabauditreceiver/internal/gitlabapi"

import (
	"net/url"
	"strconv"
	"strings"
)

// Kind is the level of an audit event feed.
type Kind string

// Feed kinds.
const (
	KindInstance Kind = "instance"
	KindGroup    Kind = "group"
	KindProject  Kind = "project"
	// KindLookup is not a feed: it names an object lookup (Ref is the
	// lookup's kind) in callbacks, metrics and logs, e.g. "lookup:ci_variable".
	KindLookup Kind = "lookup"

	// KindDescendantGroups and KindGroupProjects are not audit event feeds
	// but the estate listings of a group that discovery reads (listing.go).
	KindDescendantGroups Kind = "descendant_groups"
	KindGroupProjects    Kind = "group_projects"
)

// Feed is one audit event list endpoint: the instance feed, or the feed of
// one group or project given by numeric id or full path.
type Feed struct {
	Kind Kind
	// Ref is the group or project as configured: a numeric id or a full
	// path. Empty for the instance feed.
	Ref string
}

// String names the feed for logs, metrics and storage keys, e.g.
// "instance", "group:acme/platform", "project:42".
func (f Feed) String() string {
	if f.Kind == KindInstance {
		return string(KindInstance)
	}
	return string(f.Kind) + ":" + f.Ref
}

// Path returns the escaped API path of the feed's event list.
func (f Feed) Path() string {
	switch f.Kind {
	case KindGroup:
		return "/api/v4/groups/" + escapeRef(f.Ref) + "/audit_events"
	case KindProject:
		return "/api/v4/projects/" + escapeRef(f.Ref) + "/audit_events"
	case KindDescendantGroups:
		return "/api/v4/groups/" + escapeRef(f.Ref) + "/descendant_groups"
	case KindGroupProjects:
		return "/api/v4/groups/" + escapeRef(f.Ref) + "/projects"
	default:
		return "/api/v4/audit_events"
	}
}

// what names what the feed's requests read, for error messages.
func (f Feed) what() string {
	switch f.Kind {
	case KindDescendantGroups:
		return "subgroups of group " + f.Ref
	case KindGroupProjects:
		return "projects of group " + f.Ref
	}
	return f.String() + " audit events"
}

// IsNumeric reports whether the feed is given by numeric id.
func (f Feed) IsNumeric() bool {
	_, err := strconv.ParseUint(f.Ref, 10, 64)
	return err == nil
}

// escapeRef URL-encodes a full path as GitLab wants it: every "/" becomes %2F.
func escapeRef(ref string) string {
	return strings.ReplaceAll(url.PathEscape(ref), "/", "%2F")
}
