// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package auditevent

import (
	_ "embed"
	"fmt"
	"sort"
	"strings"

	"go.opentelemetry.io/collector/pdata/pcommon"
)

// OCSF classification of GitLab audit event types, against the Open
// Cybersecurity Schema Framework 1.8.0 (github.com/ocsf/ocsf-schema, tag
// 1.8.0, commit 6fa6499a0f8c9f449d342816e90e5f687c224b0a). What was read there:
//
//   - categories.json: the category uids, Identity & Access Management 3 and
//     Application Activity 6;
//   - metaschema/event.schema.json: a class uid is unique within its category
//     (0 to 999), so class_uid = category_uid * 1000 + uid;
//   - events/iam/account_change.json (uid 1), authentication.json (2),
//     entity_management.json (4), user_access.json (5),
//     group_management.json (6), events/application/api_activity.json (3):
//     each class's activity_id enumeration, copied in ocsfActivities;
//   - events/base_event.json and dictionary.json: activity_id 0 Unknown and
//     99 Other in every class, class_uid 0 Base Event with category_uid 0
//     Uncategorized, type_uid = class_uid * 100 + activity_id, severity_id
//     (0 Unknown, 1 Informational ... 5 Critical, 6 Fatal, 99 Other),
//     status_id (0 Unknown, 1 Success, 2 Failure, 99 Other);
//   - objects/metadata.json: metadata.version, the schema version an event
//     follows.
//
// The classification is derived once per catalogued type (TypeInfo.OCSF)
// from its name and feature category, with a table of notable types
// (ocsfNotable); a few types depend on the event itself (Refine).
const OCSFVersion = "1.8.0"

// OCSF record attributes written by gitlab_detect. Each is the OCSF
// attribute of the same path under the "ocsf." prefix.
const (
	AttrOCSFClassUID     = "ocsf.class_uid"
	AttrOCSFCategoryUID  = "ocsf.category_uid"
	AttrOCSFActivityID   = "ocsf.activity_id"
	AttrOCSFActivityName = "ocsf.activity_name"
	AttrOCSFTypeUID      = "ocsf.type_uid"
	AttrOCSFSeverityID   = "ocsf.severity_id"
	AttrOCSFStatusID     = "ocsf.status_id"
	AttrOCSFVersion      = "ocsf.metadata.version"
)

// OCSFClass is an OCSF event class uid.
type OCSFClass int

// The classes GitLab audit events map to.
const (
	// OCSFBaseEvent is for records that are not GitLab audit events.
	OCSFBaseEvent        OCSFClass = 0
	OCSFAccountChange    OCSFClass = 3001
	OCSFAuthentication   OCSFClass = 3002
	OCSFEntityManagement OCSFClass = 3004
	OCSFUserAccess       OCSFClass = 3005
	OCSFGroupManagement  OCSFClass = 3006
	OCSFAPIActivity      OCSFClass = 6003
)

// OCSFClasses lists the classes in a stable order.
var OCSFClasses = []OCSFClass{
	OCSFAuthentication, OCSFAccountChange, OCSFUserAccess, OCSFGroupManagement,
	OCSFEntityManagement, OCSFAPIActivity, OCSFBaseEvent,
}

// CategoryUID is the class's category: 3 Identity & Access Management, 6
// Application Activity, 0 Uncategorized.
func (c OCSFClass) CategoryUID() int { return int(c) / 1000 }

// String is the class caption.
func (c OCSFClass) String() string {
	switch c {
	case OCSFAccountChange:
		return "Account Change"
	case OCSFAuthentication:
		return "Authentication"
	case OCSFEntityManagement:
		return "Entity Management"
	case OCSFUserAccess:
		return "User Access Management"
	case OCSFGroupManagement:
		return "Group Management"
	case OCSFAPIActivity:
		return "API Activity"
	default:
		return "Base Event"
	}
}

// OCSFStatus is an OCSF status_id.
type OCSFStatus int

// The statuses an event type or event can say.
const (
	// OCSFStatusUnknown: the event does not say; no status_id is written.
	OCSFStatusUnknown OCSFStatus = 0
	OCSFStatusSuccess OCSFStatus = 1
	OCSFStatusFailure OCSFStatus = 2
)

// String is the status caption (ECS event.outcome uses the same words, in
// lower case).
func (s OCSFStatus) String() string {
	switch s {
	case OCSFStatusSuccess:
		return "Success"
	case OCSFStatusFailure:
		return "Failure"
	default:
		return "Unknown"
	}
}

// Activity ids shared by every class (base_event.json).
const (
	ActivityUnknown = 0
	ActivityOther   = 99
)

// Activity ids of Account Change (account_change.json).
const (
	actAccountCreate         = 1
	actAccountEnable         = 2
	actAccountPasswordChange = 3
	actAccountPasswordReset  = 4
	actAccountDisable        = 5
	actAccountDelete         = 6
	actAccountLock           = 9
	actAccountMFAEnable      = 10
	actAccountMFADisable     = 11
	actAccountUnlock         = 12
)

// Activity ids of Authentication (authentication.json).
const (
	actAuthLogon         = 1
	actAuthLogoff        = 2
	actAuthAccountSwitch = 7
)

// Activity ids of Entity Management (entity_management.json).
const (
	actEntityCreate   = 1
	actEntityRead     = 2
	actEntityUpdate   = 3
	actEntityDelete   = 4
	actEntityMove     = 5
	actEntityEnroll   = 6
	actEntityUnenroll = 7
	actEntityEnable   = 8
	actEntityDisable  = 9
)

// Activity ids of User Access Management (user_access.json) and Group
// Management (group_management.json).
const (
	actAssignPrivileges = 1
	actRevokePrivileges = 2
	actGroupAddUser     = 3
	actGroupRemoveUser  = 4
)

// Activity ids of API Activity (api_activity.json).
const (
	actAPICreate = 1
	actAPIRead   = 2
	actAPIUpdate = 3
	actAPIDelete = 4
)

// ocsfActivities are the activity captions of each class, as the schema
// files above define them.
var ocsfActivities = map[OCSFClass]map[int]string{
	OCSFAccountChange: {
		1: "Create", 2: "Enable", 3: "Password Change", 4: "Password Reset", 5: "Disable", 6: "Delete",
		7: "Attach Policy", 8: "Detach Policy", 9: "Lock", 10: "MFA Factor Enable", 11: "MFA Factor Disable", 12: "Unlock",
	},
	OCSFAuthentication: {
		1: "Logon", 2: "Logoff", 3: "Authentication Ticket", 4: "Service Ticket Request", 5: "Service Ticket Renew",
		6: "Preauth", 7: "Account Switch",
	},
	OCSFEntityManagement: {
		1: "Create", 2: "Read", 3: "Update", 4: "Delete", 5: "Move", 6: "Enroll", 7: "Unenroll", 8: "Enable",
		9: "Disable", 10: "Activate", 11: "Deactivate", 12: "Suspend", 13: "Resume",
	},
	OCSFUserAccess: {1: "Assign Privileges", 2: "Revoke Privileges"},
	OCSFGroupManagement: {
		1: "Assign Privileges", 2: "Revoke Privileges", 3: "Add User", 4: "Remove User", 5: "Delete", 6: "Create",
		7: "Add Subgroup", 8: "Remove Subgroup",
	},
	OCSFAPIActivity: {1: "Create", 2: "Read", 3: "Update", 4: "Delete"},
	OCSFBaseEvent:   {},
}

// OCSFActivityCaption returns the caption of an activity of a class, and
// whether the class defines it (0 Unknown and 99 Other always are).
func OCSFActivityCaption(c OCSFClass, activity int) (string, bool) {
	switch activity {
	case ActivityUnknown:
		return "Unknown", true
	case ActivityOther:
		return "Other", true
	}
	s, ok := ocsfActivities[c][activity]
	return s, ok
}

// OCSF is the classification of an event type, or of one event.
type OCSF struct {
	Class    OCSFClass
	Activity int
	// Status is what the type (or the event) says of the outcome; Unknown
	// when it says nothing.
	Status OCSFStatus
	refine ocsfRefine
}

// CategoryUID is the OCSF category_uid.
func (o OCSF) CategoryUID() int { return o.Class.CategoryUID() }

// TypeUID is the OCSF type_uid: class_uid * 100 + activity_id.
func (o OCSF) TypeUID() int { return int(o.Class)*100 + o.Activity }

// OCSFFact names a value of OCSFFacts.
type OCSFFact uint8

// The values Refine can read.
const (
	FactEntityType OCSFFact = 1 << iota
	FactMessage
	FactTo
	FactAllowed
)

// Facts returns the values of the event that Refine reads for this type
// (none: the classification does not depend on the event); the caller
// looks up only those.
func (o OCSF) Facts() OCSFFact {
	switch o.refine {
	case refineMembership:
		return FactEntityType
	case refineGrantTo:
		return FactTo
	case refineGitAction, refineFailedMessage, refineImpersonation:
		return FactMessage
	case refineAllowed:
		return FactAllowed
	default:
		return 0
	}
}

// ocsfRefine says what of the event refines a type's classification.
type ocsfRefine uint8

const (
	_ ocsfRefine = iota // no refinement (the zero value)
	// refineMembership: member_created / member_destroyed on a Group entity
	// are Group Management Add User / Remove User; on a project (or
	// anything else), User Access Management Assign / Revoke Privileges.
	refineMembership
	// refineGrantTo: an admin or auditor flag set (to true) assigns
	// privileges, cleared (to false) revokes them.
	refineGrantTo
	// refineGitAction: repository_git_operation's custom_message object
	// names the Git service: git-upload-pack and git-upload-archive read
	// (clone, fetch, archive), git-receive-pack writes (push).
	refineGitAction
	// refineFailedMessage: GitLab records some failures under the success
	// type, with a message that says so ("Attempted to create personal
	// access token but failed with message: ...", "Failed to register ...
	// CI runner").
	refineFailedMessage
	// refineImpersonation: "Started Impersonation" switches the account,
	// "Stopped Impersonation" ends that session.
	refineImpersonation
	// refineAllowed: details.allowed says whether the access was let
	// through (ip_restricted_group_accessed, written by
	// ee/lib/gitlab/ip_restriction/enforcer.rb for allowed and denied
	// addresses alike).
	refineAllowed
)

// Refinement says, for the README, what of the event changes the type's
// classification ("" when nothing does).
func (o OCSF) Refinement() string {
	switch o.refine {
	case refineMembership:
		return "on a Group entity: Group Management (3006) Add User / Remove User"
	case refineGrantTo:
		return "details.to true: Assign Privileges, false: Revoke Privileges"
	case refineGitAction:
		return "custom_message.action git-upload-pack / git-upload-archive: Read, git-receive-pack: Update"
	case refineFailedMessage:
		return `custom_message "Attempted to ..." / "Failed to ...": status Failure`
	case refineImpersonation:
		return `"Stopped Impersonation": Logoff`
	case refineAllowed:
		return "details.allowed true: status Success, false: Failure"
	default:
		return ""
	}
}

// Variants returns every classification Refine can give for the type, the
// type's own first.
func (o OCSF) Variants() []OCSF {
	with := func(class OCSFClass, activity int, status OCSFStatus) OCSF {
		return OCSF{Class: class, Activity: activity, Status: status, refine: o.refine}
	}
	switch o.refine {
	case refineMembership:
		if o.Activity == actAssignPrivileges {
			return []OCSF{o, with(OCSFGroupManagement, actGroupAddUser, o.Status)}
		}
		return []OCSF{o, with(OCSFGroupManagement, actGroupRemoveUser, o.Status)}
	case refineGrantTo:
		return []OCSF{o, with(o.Class, actAssignPrivileges, o.Status), with(o.Class, actRevokePrivileges, o.Status)}
	case refineGitAction:
		return []OCSF{o, with(o.Class, actAPIRead, o.Status), with(o.Class, actAPIUpdate, o.Status), with(o.Class, ActivityOther, o.Status)}
	case refineFailedMessage:
		return []OCSF{o, with(o.Class, o.Activity, OCSFStatusFailure)}
	case refineImpersonation:
		return []OCSF{o, with(o.Class, actAuthLogoff, o.Status)}
	case refineAllowed:
		return []OCSF{o, with(o.Class, o.Activity, OCSFStatusSuccess), with(o.Class, o.Activity, OCSFStatusFailure)}
	default:
		return []OCSF{o}
	}
}

// OCSFFacts are the values of one event that Refine reads.
type OCSFFacts struct {
	// EntityType is the event's entity_type (Group, Project, User, ...).
	EntityType string
	// Message is the custom_message: a string, or the Git operation object
	// of repository_git_operation.
	Message pcommon.Value
	// To is details.to of a change.
	To pcommon.Value
	// Allowed is details.allowed of an access check.
	Allowed pcommon.Value
}

// Refine returns the classification of one event of the type.
// Verified against GitLab's documentation and code as recorded in the
// team's GitLab facts (shared/gitlab/audit-api.md, section 4): member_* have
// entity Group or Project (Members audit, R26); the admin flag change has
// from/to booleans; repository_git_operation carries {protocol, action};
// "Attempted to create personal access token but failed" (R58) and
// "Failed to register ... CI runner" (R29) are failures.
func (o OCSF) Refine(f OCSFFacts) OCSF {
	switch o.refine {
	case refineMembership:
		grant := o.Activity == actAssignPrivileges || o.Activity == actGroupAddUser
		if f.EntityType == "Group" {
			o.Class, o.Activity = OCSFGroupManagement, actGroupAddUser
			if !grant {
				o.Activity = actGroupRemoveUser
			}
		} else {
			o.Class, o.Activity = OCSFUserAccess, actAssignPrivileges
			if !grant {
				o.Activity = actRevokePrivileges
			}
		}
	case refineGrantTo:
		switch strings.ToLower(strings.TrimSpace(ScalarText(f.To))) {
		case "true", "1":
			o.Activity = actAssignPrivileges
		case "false", "0":
			o.Activity = actRevokePrivileges
		default:
			o.Activity = ActivityUnknown
		}
	case refineGitAction:
		// The object itself (body), or its JSON text (the receiver's
		// gitlab.audit.message attribute).
		action := ""
		switch valueType(f.Message) {
		case pcommon.ValueTypeMap:
			if v, ok := f.Message.Map().Get("action"); ok {
				action = v.AsString()
			}
		case pcommon.ValueTypeStr:
			for _, a := range [...]string{"git-upload-pack", "git-upload-archive", "git-receive-pack"} {
				if strings.Contains(f.Message.Str(), a) {
					action = a
					break
				}
			}
		}
		switch action {
		case "":
			o.Activity = ActivityUnknown
		case "git-upload-pack", "git-upload-archive":
			o.Activity = actAPIRead
		case "git-receive-pack":
			o.Activity = actAPIUpdate
		default:
			o.Activity = ActivityOther
		}
	case refineFailedMessage:
		if valueType(f.Message) == pcommon.ValueTypeStr {
			m := strings.TrimSpace(f.Message.Str())
			if hasPrefixFold(m, "attempted to ") || hasPrefixFold(m, "failed to ") {
				o.Status = OCSFStatusFailure
			}
		}
	case refineAllowed:
		switch strings.ToLower(strings.TrimSpace(ScalarText(f.Allowed))) {
		case "true":
			o.Status = OCSFStatusSuccess
		case "false":
			o.Status = OCSFStatusFailure
		}
	case refineImpersonation:
		if valueType(f.Message) == pcommon.ValueTypeStr && hasPrefixFold(strings.TrimSpace(f.Message.Str()), "stopped impersonation") {
			o.Activity = actAuthLogoff
		}
	}
	return o
}

// valueType is v's type; the zero Value (a fact not looked up) is Empty.
func valueType(v pcommon.Value) pcommon.ValueType {
	if v == (pcommon.Value{}) {
		return pcommon.ValueTypeEmpty
	}
	return v.Type()
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

// OCSFOf returns the classification of an event type name: the
// catalogue's for catalogued types (aliases resolved), else derived from
// the name alone. The empty name (a record that is not a GitLab audit
// event) is a Base Event.
func OCSFOf(name string) OCSF {
	if ti, ok := Lookup(name); ok {
		return ti.OCSF
	}
	if name == "" {
		return OCSF{Class: OCSFBaseEvent, Activity: ActivityUnknown}
	}
	return deriveOCSF(name, "")
}

// OCSFNotableTypes returns the types classified by name (ocsfNotable),
// sorted: the README lists them.
func OCSFNotableTypes() []string {
	out := make([]string, 0, len(ocsfNotable))
	for name := range ocsfNotable {
		out = append(out, name)
	}
	sort.Strings(out)
	return out
}

// OCSFFeatureClass returns the class of the types of a feature category
// that neither the notable types nor a name prefix classify.
func OCSFFeatureClass(featureCategory string) OCSFClass {
	if c, ok := ocsfFeatureClasses[featureCategory]; ok {
		return c
	}
	return OCSFAPIActivity
}

// ocsfFeatureClasses is the class of the types of a feature category that
// neither ocsfNotable nor ocsfPrefixes classify. Feature categories not
// listed are API Activity.
var ocsfFeatureClasses = map[string]OCSFClass{
	// Projects, groups and their settings.
	"groups_and_projects": OCSFEntityManagement,
	// Sign-in and access settings of the instance and groups, resource
	// access tokens (sign-ins are notable or prefixed types).
	"system_access": OCSFEntityManagement,
	// CI/CD variables, runners, webhooks, cluster agents.
	"ci_variables":          OCSFEntityManagement,
	"runner":                OCSFEntityManagement,
	"runner_core":           OCSFEntityManagement,
	"fleet_visibility":      OCSFEntityManagement,
	"webhooks":              OCSFEntityManagement,
	"deployment_management": OCSFEntityManagement,
	// OAuth applications and CI job token policies.
	"authorization": OCSFEntityManagement,
	// User accounts and profiles, custom roles.
	"user_management": OCSFAccountChange,
	"user_profile":    OCSFAccountChange,
	"permissions":     OCSFAccountChange,
}

// ocsfNotableTSV classifies the types whose class or activity cannot be
// read off their name and feature category: sign-ins and their failures, a
// user's own account (2FA, password, keys, tokens, e-mail), the user
// lifecycle, memberships, roles and shares. A table of 70 rows reads (and
// is reviewed against the OCSF schema) better as data than as Go.
//
//go:embed ocsf_notable.tsv
var ocsfNotableTSV string

// ocsfNotable is ocsfNotableTSV parsed, by type name.
var ocsfNotable = func() map[string]OCSF {
	m, err := parseOCSFNotable(ocsfNotableTSV)
	if err != nil {
		// The file is embedded and covered by tests: failing here is a build defect.
		panic(err)
	}
	return m
}()

// refineNames name the refinements in ocsf_notable.tsv.
var refineNames = map[string]ocsfRefine{
	"":               0,
	"membership":     refineMembership,
	"grant_to":       refineGrantTo,
	"git_action":     refineGitAction,
	"failed_message": refineFailedMessage,
	"impersonation":  refineImpersonation,
	"allowed":        refineAllowed,
}

// parseOCSFNotable reads the table: "#" comments, blank lines, a header,
// then type, class caption, activity caption, status, refinement.
func parseOCSFNotable(data string) (map[string]OCSF, error) {
	m := map[string]OCSF{}
	header := false
	for i, line := range strings.Split(data, "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if !header {
			if line != "type\tclass\tactivity\tstatus\trefine" {
				return nil, fmt.Errorf("ocsf_notable.tsv line %d: unexpected header %q", i+1, line)
			}
			header = true
			continue
		}
		f := strings.Split(line, "\t")
		if len(f) != 5 {
			return nil, fmt.Errorf("ocsf_notable.tsv line %d: %d columns, want 5", i+1, len(f))
		}
		o := OCSF{Class: -1}
		for _, c := range OCSFClasses {
			if c.String() == f[1] {
				o.Class = c
			}
		}
		if o.Class < 0 {
			return nil, fmt.Errorf("ocsf_notable.tsv line %d: unknown class %q", i+1, f[1])
		}
		o.Activity = -1
		for id := range ocsfActivities[o.Class] {
			if ocsfActivities[o.Class][id] == f[2] {
				o.Activity = id
			}
		}
		for _, id := range []int{ActivityUnknown, ActivityOther} {
			if caption, _ := OCSFActivityCaption(o.Class, id); caption == f[2] {
				o.Activity = id
			}
		}
		if o.Activity < 0 {
			return nil, fmt.Errorf("ocsf_notable.tsv line %d: class %s has no activity %q", i+1, f[1], f[2])
		}
		switch f[3] {
		case "":
		case OCSFStatusSuccess.String():
			o.Status = OCSFStatusSuccess
		case OCSFStatusFailure.String():
			o.Status = OCSFStatusFailure
		default:
			return nil, fmt.Errorf("ocsf_notable.tsv line %d: unknown status %q", i+1, f[3])
		}
		var ok bool
		if o.refine, ok = refineNames[f[4]]; !ok {
			return nil, fmt.Errorf("ocsf_notable.tsv line %d: unknown refinement %q", i+1, f[4])
		}
		if _, dup := m[f[0]]; dup || f[0] == "" {
			return nil, fmt.Errorf("ocsf_notable.tsv line %d: type %q empty or listed twice", i+1, f[0])
		}
		m[f[0]] = o
	}
	if !header {
		return nil, fmt.Errorf("ocsf_notable.tsv has no header")
	}
	return m, nil
}

// ocsfPrefixes classify types by the start of their name, after
// ocsfNotable: the families of sign-ins, and the managed entities of
// Entity Management (projects, groups, CI/CD variables, runners, hooks,
// deploy keys and tokens, resource access tokens, cluster agents).
var ocsfPrefixes = []struct {
	prefix string
	ocsf   OCSF
}{
	{"authenticated_with_", OCSF{Class: OCSFAuthentication, Activity: actAuthLogon, Status: OCSFStatusSuccess}},
	{"login_failed_with_", OCSF{Class: OCSFAuthentication, Activity: actAuthLogon, Status: OCSFStatusFailure}},
	{"project_", OCSF{Class: OCSFEntityManagement}},
	{"group_", OCSF{Class: OCSFEntityManagement}},
	{"inactive_project_", OCSF{Class: OCSFEntityManagement}},
	{"ci_variable_", OCSF{Class: OCSFEntityManagement}},
	{"ci_group_variable_", OCSF{Class: OCSFEntityManagement}},
	{"ci_instance_variable_", OCSF{Class: OCSFEntityManagement}},
	{"ci_runner", OCSF{Class: OCSFEntityManagement}},
	{"runner_", OCSF{Class: OCSFEntityManagement}},
	{"webhook_", OCSF{Class: OCSFEntityManagement}},
	{"deploy_key_", OCSF{Class: OCSFEntityManagement}},
	{"deploy_token_", OCSF{Class: OCSFEntityManagement}},
	{"cluster_agent_", OCSF{Class: OCSFEntityManagement}},
}

// deriveOCSF classifies an event type: ocsfNotable, then ocsfPrefixes,
// then the feature category, then API Activity; the activity, when the
// first match does not give it, and the status from the words of the name.
func deriveOCSF(name, featureCategory string) OCSF {
	if o, ok := ocsfNotable[name]; ok {
		return o
	}
	o := OCSF{Class: OCSFAPIActivity}
	matched := false
	for _, p := range ocsfPrefixes {
		if strings.HasPrefix(name, p.prefix) {
			o, matched = p.ocsf, true
			break
		}
	}
	if !matched {
		if featureCategory == "" {
			o.Class = guessOCSFClass(name)
		} else {
			o.Class = OCSFFeatureClass(featureCategory)
		}
	}
	if o.Activity == ActivityUnknown {
		o.Activity = activityOf(o.Class, verbOf(name))
	}
	if o.Status == OCSFStatusUnknown {
		o.Status = statusOf(name)
	}
	return o
}

// guessOCSFClass classifies a name missing from the catalogue (a type of a
// newer GitLab) that no prefix matched, by its words.
func guessOCSFClass(name string) OCSFClass {
	switch {
	case hasAny(name, "login", "sign_in", "signed_in"):
		return OCSFAuthentication
	case hasAny(name, "two_factor", "password", "ssh_key", "gpg_key", "personal_access_token"):
		return OCSFAccountChange
	case hasAny(name, "member"):
		return OCSFUserAccess
	case hasAny(name, "variable", "runner", "deploy_key", "deploy_token", "webhook", "access_token"):
		return OCSFEntityManagement
	}
	return OCSFAPIActivity
}

// verb is what a type name says was done.
type verb uint8

const (
	verbNone verb = iota
	verbCreate
	verbRead
	verbUpdate
	verbDelete
	verbMove
	verbEnroll
	verbUnenroll
	verbEnable
	verbDisable
)

// verbWords maps the words of GitLab's type names to a verb.
var verbWords = map[string]verb{
	"create": verbCreate, "created": verbCreate, "creation": verbCreate, "add": verbCreate, "added": verbCreate,
	"published": verbCreate, "imported": verbCreate, "fork": verbCreate, "provisioned": verbCreate,
	"read": verbRead, "accessed": verbRead, "viewed": verbRead,
	"update": verbUpdate, "updated": verbUpdate, "changed": verbUpdate, "change": verbUpdate, "set": verbUpdate,
	"reset": verbUpdate, "adjusted": verbUpdate, "applied": verbUpdate, "override": verbUpdate, "overrides": verbUpdate,
	"assigned": verbUpdate, "unassigned": verbUpdate, "attached": verbUpdate, "detached": verbUpdate,
	"merged": verbUpdate, "closed": verbUpdate, "reopened": verbUpdate, "approval": verbUpdate,
	"approved": verbUpdate, "rejected": verbUpdate, "restored": verbUpdate, "cleared": verbUpdate,
	"protected": verbUpdate, "unprotected": verbUpdate, "replacement": verbUpdate,
	"delete": verbDelete, "deleted": verbDelete, "deletion": verbDelete, "destroy": verbDelete, "destroyed": verbDelete,
	"remove": verbDelete, "removed": verbDelete, "revoked": verbDelete,
	// project_blobs_removal removes blobs from a project, which stays.
	"removal":     verbUpdate,
	"transferred": verbMove,
	"registered":  verbEnroll, "enroll": verbEnroll,
	"unregistered": verbUnenroll, "unenroll": verbUnenroll,
	"enable": verbEnable, "enabled": verbEnable, "unarchived": verbEnable,
	"disable": verbDisable, "disabled": verbDisable, "archived": verbDisable,
}

// moveSuffixes are the renames and transfers of a project or group
// (Entity Management "Move or rename an existing managed entity").
var moveSuffixes = []string{"_name_updated", "_path_updated", "_namespace_updated"}

// readWords make a type a read whatever else it says: an export or a
// download takes data out ("project_export_created" creates no project).
var readWords = []string{"export", "download"}

// verbOf reads the verb of a type name: its last word that is a verb
// ("emails_enabled_updated" is an update of the emails_enabled setting).
func verbOf(name string) verb {
	for _, s := range moveSuffixes {
		if strings.HasSuffix(name, s) && (strings.HasPrefix(name, "project_") || strings.HasPrefix(name, "group_")) {
			return verbMove
		}
	}
	if hasAny(name, readWords...) {
		return verbRead
	}
	rest := name
	for rest != "" {
		i := strings.LastIndexByte(rest, '_')
		word := rest[i+1:]
		if v, ok := verbWords[word]; ok {
			return v
		}
		if i < 0 {
			break
		}
		rest = rest[:i]
	}
	return verbNone
}

// activityOf gives the activity of a verb in a class.
func activityOf(c OCSFClass, v verb) int {
	switch c {
	case OCSFAuthentication:
		return actAuthLogon
	case OCSFEntityManagement:
		switch v {
		case verbCreate:
			return actEntityCreate
		case verbRead:
			return actEntityRead
		case verbUpdate:
			return actEntityUpdate
		case verbDelete:
			return actEntityDelete
		case verbMove:
			return actEntityMove
		case verbEnroll:
			return actEntityEnroll
		case verbUnenroll:
			return actEntityUnenroll
		case verbEnable:
			return actEntityEnable
		case verbDisable:
			return actEntityDisable
		}
	case OCSFAPIActivity:
		switch v {
		case verbCreate, verbEnroll:
			return actAPICreate
		case verbRead:
			return actAPIRead
		case verbUpdate, verbMove, verbEnable, verbDisable:
			return actAPIUpdate
		case verbDelete, verbUnenroll:
			return actAPIDelete
		}
	case OCSFAccountChange:
		switch v {
		case verbCreate:
			return actAccountCreate
		case verbDelete:
			return actAccountDelete
		case verbEnable:
			return actAccountEnable
		case verbDisable:
			return actAccountDisable
		}
	case OCSFUserAccess, OCSFGroupManagement:
		switch v {
		case verbCreate, verbUpdate:
			return actAssignPrivileges
		case verbDelete:
			return actRevokePrivileges
		}
	}
	return ActivityOther
}

// statusOf reads the outcome a type name states: "..._failed",
// "..._fail", "..._cannot_..." are failures, "..._successful" and
// "..._pass" successes. Other names say nothing.
func statusOf(name string) OCSFStatus {
	rest := name
	for rest != "" {
		i := strings.LastIndexByte(rest, '_')
		switch rest[i+1:] {
		case "failed", "fail", "failure", "cannot":
			return OCSFStatusFailure
		case "successful", "success", "pass", "succeeded":
			return OCSFStatusSuccess
		}
		if i < 0 {
			break
		}
		rest = rest[:i]
	}
	return OCSFStatusUnknown
}
