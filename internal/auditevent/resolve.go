// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package auditevent

import (
	"strconv"
	"strings"

	"go.opentelemetry.io/collector/pdata/pcommon"
)

// AuditOperation is the name GitLab gives to streamed events created
// without a type (legacy AuditEventService); it is also the last fallback
// of ResolveType.
const AuditOperation = "audit_operation"

// Source tells where the event type of an event was found.
type Source string

// The places an event type is read from, in the order ResolveType tries them.
const (
	// SourceEventType: the top-level "event_type" key (streamed events).
	SourceEventType Source = "event_type"
	// SourceEventName: the top-level "event_name" key (REST, GitLab 17.0+).
	SourceEventName Source = "event_name"
	// SourceDetailsEventName: "details.event_name" (REST, events written by Gitlab::Audit::Auditor).
	SourceDetailsEventName Source = "details.event_name"
	// SourceHeader: the X-Gitlab-Audit-Event-Type header of a streamed request.
	SourceHeader Source = "header"
	// SourceInferred: inferred from the legacy details keys (add, remove, change, with, custom_message, target_type).
	SourceInferred Source = "inferred"
	// SourceDefault: nothing named the event; it is called audit_operation, as GitLab does.
	SourceDefault Source = "default"
)

// Inferred reports whether the name was not given by GitLab but inferred or defaulted.
func (s Source) Inferred() bool { return s == SourceInferred || s == SourceDefault }

// ResolveType returns the canonical event type of a GitLab audit event body
// (the event object as GitLab sent it), and where it was found. It tries, in
// order: top-level event_type, top-level event_name, details.event_name,
// the streaming header value hint (may be empty), and legacy inference from
// the details keys. A name of "audit_operation" is only kept when inference
// finds nothing better.
func ResolveType(body pcommon.Map, hint string) (string, Source) {
	for _, c := range [...]struct {
		key string
		src Source
	}{{"event_type", SourceEventType}, {"event_name", SourceEventName}} {
		if v, ok := body.Get(c.key); ok {
			if s := ScalarText(v); s != "" {
				if s != AuditOperation {
					return Canonical(s), c.src
				}
			}
		}
	}
	details, hasDetails := mapValue(body, "details")
	if hasDetails {
		if v, ok := details.Get("event_name"); ok {
			if s := ScalarText(v); s != "" && s != AuditOperation {
				return Canonical(s), SourceDetailsEventName
			}
		}
	}
	if hint != "" && hint != AuditOperation {
		return Canonical(hint), SourceHeader
	}
	if hasDetails {
		entityType := stringAt(body, "entity_type")
		if name, ok := InferLegacy(details, entityType); ok {
			return name, SourceInferred
		}
	}
	return AuditOperation, SourceDefault
}

// InferLegacy infers the modern event type of an event that carries no
// name, from the keys of its details (the shape of the legacy
// AuditEventService, of old instances and of audit_json.log):
//
//   - with: a successful sign-in; the provider gives the authenticated_with_* type;
//   - custom_message: well-known messages ("Ask for password reset",
//     "Started Impersonation", "Added deploy key", a git operation object, ...);
//   - add / remove: the kind of object added or removed (user_access,
//     deploy_key, project, group, user, ci_variable);
//   - change: the attribute changed (access_level, visibility, email address, ...).
//
// target_type and the entity type choose between project, group and
// instance variants. It returns false when nothing matches.
func InferLegacy(details pcommon.Map, entityType string) (string, bool) {
	targetType := stringAt(details, "target_type")
	if with := stringAt(details, "with"); with != "" {
		return signInType(with), true
	}
	if v, ok := details.Get("custom_message"); ok {
		if v.Type() == pcommon.ValueTypeMap {
			if _, hasAction := v.Map().Get("action"); hasAction {
				return "repository_git_operation", true
			}
		} else if name, ok := messageType(v.AsString(), entityType, targetType); ok {
			return name, true
		}
	}
	if add := stringAt(details, "add"); add != "" {
		if name, ok := addRemoveType(add, true, entityType, targetType); ok {
			return name, true
		}
	}
	if rm := stringAt(details, "remove"); rm != "" {
		if name, ok := addRemoveType(rm, false, entityType, targetType); ok {
			return name, true
		}
	}
	if change := stringAt(details, "change"); change != "" {
		if name, ok := changeType(change, entityType, targetType); ok {
			return name, true
		}
	}
	return "", false
}

func signInType(with string) string {
	w := strings.ToLower(with)
	switch {
	case w == "standard" || w == "password":
		return "authenticated_with_password"
	case strings.Contains(w, "webauthn"):
		return "authenticated_with_webauthn"
	case strings.HasPrefix(w, "two-factor") || strings.HasPrefix(w, "two_factor") || w == "otp":
		return "authenticated_with_two_factor"
	case strings.HasPrefix(w, "ldap"):
		return "authenticated_with_ldap"
	case w == "group_saml":
		return "authenticated_with_group_saml"
	default:
		// Every other provider is an OmniAuth one (github, google_oauth2, saml, openid_connect, ...).
		return "authenticated_with_oauth"
	}
}

// messagePrefixes maps the start of well-known custom messages to a type.
// Matching is case-insensitive. Entries that need the entity or target type
// are handled in messageType.
var messagePrefixes = []struct{ prefix, name string }{
	{"ask for password reset", "password_reset_requested"},
	{"started impersonation", "user_impersonation"},
	{"stopped impersonation", "user_impersonation"},
	{"project archived", "project_archived"},
	{"project unarchived", "project_unarchived"},
	{"project destroyed", "project_destroyed"},
	{"project marked for deletion", "project_deletion_marked"},
	{"group marked for deletion", "group_deletion_marked"},
	{"group destroyed", "group_destroyed"},
	{"added deploy key", "deploy_key_added"},
	{"removed deploy key", "deploy_key_removed"},
	{"added ssh key", "add_ssh_key"},
	{"removed ssh key", "remove_ssh_key"},
	{"added gpg key", "add_gpg_key"},
	{"removed gpg key", "remove_gpg_key"},
	{"disabled two-factor authentication", "user_disable_two_factor"},
	{"disabled one-time password authenticator", "user_disable_two_factor"},
	{"deleted webauthn device", "user_disable_two_factor"},
	{"created personal access token", "personal_access_token_created"},
	{"revoked personal access token", "personal_access_token_revoked"},
	{"membership created", "member_created"},
	{"membership updated", "member_updated"},
	{"membership destroyed", "member_destroyed"},
	{"membership expired", "member_destroyed"},
	{"approved merge request", "merge_request_approval_operation"},
	{"repository download started", "repository_download_operation"},
	{"added project", "project_created"},
	{"registered instance ci runner", "ci_runner_registered"},
	{"registered group ci runner", "ci_runner_registered"},
	{"registered project ci runner", "ci_runner_registered"},
	{"user access locked", "user_access_locked"},
	{"group saml sso configuration changed", "group_saml_provider_update"},
	{"created custom http header", "audit_events_streaming_headers_create"},
	{"changed project group link", "project_group_link_updated"},
}

func messageType(msg, entityType, targetType string) (string, bool) {
	m := strings.ToLower(strings.TrimSpace(msg))
	if m == "" {
		return "", false
	}
	if strings.HasPrefix(m, "changed visibility_level from ") || strings.HasPrefix(m, "changed visibility from ") {
		return visibilityType(entityType), true
	}
	if strings.HasPrefix(m, "added ci variable") || strings.HasPrefix(m, "added ci group variable") || strings.HasPrefix(m, "added ci instance variable") {
		return variableType(targetType, entityType, "created"), true
	}
	if strings.HasPrefix(m, "created custom http header") && (strings.Contains(targetType, "Instance") || entityType == "Gitlab::Audit::InstanceScope") {
		return "audit_events_streaming_instance_headers_create", true
	}
	for _, p := range messagePrefixes {
		if strings.HasPrefix(m, p.prefix) {
			return p.name, true
		}
	}
	return moreMessageType(m, entityType)
}

func addRemoveType(obj string, add bool, entityType, targetType string) (string, bool) {
	pick := func(a, r string) (string, bool) {
		if add {
			return a, true
		}
		return r, true
	}
	switch strings.ToLower(obj) {
	case "user_access":
		return pick("member_created", "member_destroyed")
	case "deploy_key":
		return pick("deploy_key_added", "deploy_key_removed")
	case "project":
		return pick("project_created", "project_destroyed")
	case "group":
		return pick("group_created", "group_destroyed")
	case "user":
		return pick("user_created", "user_destroyed")
	case "ci_variable", "ci_group_variable", "ci_instance_variable":
		if add {
			return variableType(targetType, entityType, "created"), true
		}
		return variableType(targetType, entityType, "deleted"), true
	case "protected_branch":
		return pick("protected_branch_created", "protected_branch_removed")
	}
	return "", false
}

func changeType(change, entityType, targetType string) (string, bool) {
	c := strings.ToLower(strings.TrimSpace(change))
	switch c {
	case "access_level", "access level":
		return "member_updated", true
	case "visibility", "visibility_level", "visibility level":
		return visibilityType(entityType), true
	case "email address", "email":
		return "user_email_address_updated", true
	case "username":
		return "user_username_updated", true
	case "admin", "admin status":
		return "user_admin_status_updated", true
	case "password":
		return "user_password_updated", true
	case "number of required approvals":
		return "update_approval_rules", true
	case "prevent merge request approval from committers":
		return "project_merge_requests_disable_committers_approval_updated", true
	case "prevent merge request approval from authors", "prevent merge request approval from reviewers":
		return "project_merge_requests_author_approval_updated", true
	case "require user password to approve", "require new password to approve":
		return "project_require_password_to_approve_updated", true
	case "reset approvals on push":
		return "project_reset_approvals_on_push_updated", true
	case "variable protection", "variable masking", "environment scope", "name of key", "value(hidden)", "variable type":
		return variableType(targetType, entityType, "updated"), true
	}
	if c == "name" && targetType == "User" {
		return "user_name_updated", true
	}
	if name, ok := moreChangeLabels[c]; ok {
		return name, true
	}
	return "", false
}

func visibilityType(entityType string) string {
	if entityType == "Group" {
		return "group_visibility_level_updated"
	}
	return "project_visibility_level_updated"
}

// variableType picks the project, group or instance CI/CD variable type.
func variableType(targetType, entityType, verb string) string {
	switch {
	case strings.Contains(targetType, "InstanceVariable") || entityType == "Gitlab::Audit::InstanceScope":
		return "ci_instance_variable_" + verb
	case strings.Contains(targetType, "GroupVariable") || entityType == "Group":
		return "ci_group_variable_" + verb
	default:
		return "ci_variable_" + verb
	}
}

// ScalarText renders a scalar value as text, as it reads in GitLab's JSON
// (numbers, true/false); unset, empty, map and slice values give "".
func ScalarText(v pcommon.Value) string {
	if v == (pcommon.Value{}) {
		return ""
	}
	switch v.Type() {
	case pcommon.ValueTypeStr:
		return v.Str()
	case pcommon.ValueTypeInt:
		return strconv.FormatInt(v.Int(), 10)
	case pcommon.ValueTypeBool:
		return strconv.FormatBool(v.Bool())
	case pcommon.ValueTypeDouble:
		return v.AsString()
	default:
		return ""
	}
}

func stringAt(m pcommon.Map, key string) string {
	if v, ok := m.Get(key); ok {
		return ScalarText(v)
	}
	return ""
}

func mapValue(m pcommon.Map, key string) (pcommon.Map, bool) {
	if v, ok := m.Get(key); ok && v.Type() == pcommon.ValueTypeMap {
		return v.Map(), true
	}
	return pcommon.Map{}, false
}
