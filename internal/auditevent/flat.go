// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package auditevent

import (
	"strings"

	"go.opentelemetry.io/collector/pdata/pcommon"
)

// ResolveTypeFlat is ResolveType for bodies that may also come in the flat
// shape of GitLab's audit_json.log (self-managed file log), where the keys
// that the API nests under "details" (add, remove, change, from, to, with,
// custom_message, target_type, ...) sit at the top level of the event.
// Bodies with a "details" object, or that name their type, resolve exactly
// as with ResolveType.
func ResolveTypeFlat(body pcommon.Map, hint string) (string, Source) {
	name, src := ResolveType(body, hint)
	if src != SourceDefault {
		return name, src
	}
	if _, hasDetails := mapValue(body, "details"); hasDetails {
		return name, src
	}
	if inferred, ok := InferLegacy(body, stringAt(body, "entity_type")); ok {
		return inferred, SourceInferred
	}
	return name, src
}

// moreChangeLabels maps further "change" labels (lower case) written by
// GitLab's changes auditors (Audit::GroupChangesAuditor,
// Audit::ProjectChangesAuditor, Audit::ProtectedBranchesChangesAuditor) to
// their event type, for events that carry no name.
var moreChangeLabels = map[string]string{
	// Audit::GroupChangesAuditor uses the column name as label.
	"require_two_factor_authentication": "group_require_two_factor_authentication_updated",
	"two_factor_grace_period":           "group_two_factor_grace_period_updated",
	// Audit::ProjectChangesAuditor labels.
	"require new approvals when new commits are added to an mr":        "project_reset_approvals_on_push_updated",
	"prevent users from modifying mr approval rules in merge requests": "project_disable_overriding_approvers_per_merge_request_updated",
	"require user password for approvals":                              "project_require_password_to_approve_updated",
	// Audit::ProtectedBranchesChangesAuditor labels.
	"allow force push":             "protected_branch_allow_force_push_updated",
	"code owner approval required": "protected_branch_code_owner_approval_required_updated",
	"allowed to push":              "protected_branch_updated",
	"allowed to merge":             "protected_branch_updated",
}

// moreMessageType recognises further custom messages (already lower case
// and trimmed) whose type depends on the entity.
func moreMessageType(m, entityType string) (string, bool) {
	// Security::Configuration::Set*SecretPushProtectionService:
	// "Secret push protection has been enabled|disabled[ for group ...]".
	if strings.HasPrefix(m, "secret push protection has been ") {
		if entityType == "Group" || strings.Contains(m, " for group ") {
			return "group_secret_push_protection_updated", true
		}
		return "project_security_setting_updated", true
	}
	return "", false
}
