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
	default:
		return "/api/v4/audit_events"
	}
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

// Class is what kind of request one is: requests of one class share
// their rate-limit pauses, and metrics count them apart.
type Class string

// Request classes.
const (
	// ClassAuditEvents: pages of an audit event feed.
	ClassAuditEvents Class = "audit_events"
	// ClassListings: the estate listings discovery reads.
	ClassListings Class = "listings"
	// ClassLookups: object lookups (enrichment).
	ClassLookups Class = "lookups"
	// ClassAccessCheck: who the token is and what it may read.
	ClassAccessCheck Class = "access_check"
	// ClassDestinations: the audit event streaming destinations (GraphQL).
	ClassDestinations Class = "destinations"
)

// Target names what one request reads, in callbacks, metrics, logs and
// errors: a feed's page, a listing of a group, or a lookup.
type Target struct {
	Class Class
	// Feed is the feed of an audit events page.
	Feed Feed
	// Name is the listing (descendant_groups, group_projects) or the kind
	// of lookup (user, ci_variable, ...); empty for a feed.
	Name string
	// Ref is the group a listing lists.
	Ref string
}

// FeedTarget is the target of a feed's pages.
func FeedTarget(f Feed) Target { return Target{Class: ClassAuditEvents, Feed: f} }

// String names the target: "group:acme", "descendant_groups:acme",
// "lookup:user".
func (t Target) String() string {
	switch t.Class {
	case ClassAuditEvents:
		return t.Feed.String()
	case ClassLookups:
		return "lookup:" + t.Name
	case ClassAccessCheck, ClassDestinations:
		if t.Ref == "" {
			return string(t.Class) + ":" + t.Name
		}
		return string(t.Class) + ":" + t.Name + ":" + t.Ref
	}
	return t.Name + ":" + t.Ref
}

// what names what the request reads, for error messages.
func (t Target) what() string {
	switch {
	case t.Class == ClassLookups:
		return "the " + strings.ReplaceAll(t.Name, "_", " ") + " lookup"
	case t.Class == ClassAccessCheck || t.Class == ClassDestinations:
		return strings.TrimSpace("the " + strings.ReplaceAll(t.Name, "_", " ") + " " + t.Ref)
	case t.Name == listingDescendantGroups:
		return "the subgroups of group " + t.Ref
	case t.Name == listingGroupProjects:
		return "the projects of group " + t.Ref
	}
	return "the " + t.Feed.String() + " audit events"
}
