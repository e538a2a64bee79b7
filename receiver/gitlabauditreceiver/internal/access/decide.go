// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package access

import (
	"github.com/kyra-mdr/otelcol-gitlab/receiver/gitlabauditreceiver/internal/gitlabapi"
)

// Access is what a feed shows the token.
type Access string

// The access a feed can give.
const (
	// AllEvents: every event of the feed.
	AllEvents Access = "all_events"
	// OwnEvents: only the events the token's user authored. GitLab answers
	// 200 without an error (filter_by_author, ee/lib/ee/api/groups.rb and
	// projects.rb): the feed looks healthy and is nearly empty.
	OwnEvents Access = "own_events"
	// Refused: GitLab refuses the feed (401, 403, 404).
	Refused Access = "refused"
	// Unknown: the check could not tell (a lookup it needs was refused or
	// failed).
	Unknown Access = "unknown"
)

// Accesses lists every access, for the gauge.
var Accesses = []Access{AllEvents, OwnEvents, Refused, Unknown}

// Verdict is what the check decided for one feed.
type Verdict struct {
	Feed   gitlabapi.Feed
	Access Access
	// Role is the token's user as GitLab sees it on the feed:
	// "administrator", "Owner", "Developer", "no role", ...
	Role string
	// Needs is what would show every event, when Access is not AllEvents.
	Needs string
	// Derived: decided from the role on the configured group above it (a
	// discovered feed), not read for the feed itself. A direct role below
	// can only be higher.
	Derived bool
}

// Complete reports whether the feed shows every event.
func (v Verdict) Complete() bool { return v.Access == AllEvents }

// needs is the role that shows every event of a feed kind.
func needs(k gitlabapi.Kind) string {
	switch k {
	case gitlabapi.KindInstance:
		return "an administrator's token (with the admin_mode scope where Admin Mode is on)"
	case gitlabapi.KindGroup:
		return "the Owner role on the group (or an administrator's token)"
	}
	return "the Maintainer or Owner role on the project (or an administrator's token)"
}

// decideByRole decides a group or project feed from the token user's
// effective access level (lib/gitlab/access.rb): a group's events need
// admin_group (Owner), a project's admin_project (Maintainer or Owner);
// below, down to Developer (read_group_audit_events,
// read_project_audit_events), GitLab shows only the user's own events;
// Reporter and Guest are refused (ee/app/policies/ee/group_policy.rb,
// project_policy.rb; app/policies/group_policy.rb, project_policy.rb).
func decideByRole(f gitlabapi.Feed, level int) Verdict {
	v := Verdict{Feed: f, Role: gitlabapi.RoleName(level), Needs: needs(f.Kind)}
	all := gitlabapi.AccessOwner
	if f.Kind == gitlabapi.KindProject {
		all = gitlabapi.AccessMaintainer
	}
	switch {
	case level >= all:
		v.Access, v.Needs = AllEvents, ""
	case level >= gitlabapi.AccessDeveloper:
		v.Access = OwnEvents
	default:
		v.Access = Refused
	}
	return v
}

// decideNotMember decides a group or project feed the token's user has no
// role on, from what the feed answered: an auditor (or anyone GitLab lets
// read the feed without a role) gets 200 with only its own events; anyone
// else is refused.
func decideNotMember(f gitlabapi.Feed, readable bool) Verdict {
	v := Verdict{Feed: f, Role: "no role", Needs: needs(f.Kind), Access: Refused}
	if readable {
		v.Access, v.Role = OwnEvents, "no role (an auditor?)"
	}
	return v
}

// decideAdmin decides any feed for an administrator's token (usable as
// one): every event, the instance's included (Group#max_member_access_for_user
// gives administrators OWNER everywhere; authenticated_as_admin!).
func decideAdmin(f gitlabapi.Feed) Verdict {
	return Verdict{Feed: f, Access: AllEvents, Role: "administrator"}
}

// decideInstanceNotAdmin: the instance feed is for administrators only,
// auditors included among the refused (ee/lib/api/audit_events.rb).
func decideInstanceNotAdmin(f gitlabapi.Feed, role string) Verdict {
	return Verdict{Feed: f, Access: Refused, Role: role, Needs: needs(f.Kind)}
}
