// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package auditevent

// aliases maps event type names that GitLab renamed, or that other tools
// use, to the current name in the catalogue.
var aliases = map[string]string{
	// Older streaming docs and instances.
	"project_group_link_create":  "project_group_link_created",
	"project_group_link_update":  "project_group_link_updated",
	"project_group_link_destroy": "project_group_link_deleted",
	// Misspelled twin kept by GitLab for compatibility.
	"user_profile_visiblity_updated": "user_profile_visibility_updated",
	// Security policy events renamed in the security_policy_* family.
	"policy_violations_detected":                   "security_policy_violations_detected",
	"policy_violations_resolved":                   "security_policy_violations_resolved",
	"policies_limit_exceeded":                      "security_policy_limit_exceeded",
	"policy_pipeline_skipped":                      "security_policy_pipeline_skipped",
	"policy_yaml_invalidated":                      "security_policy_yaml_invalidated",
	"merge_request_merged_with_policy_violations":  "security_policy_merge_request_merged_with_policy_violations",
	"policy_warn_mode_approval_settings_overrides": "policy_warn_mode_merge_request_approval_settings_overrides",
	// Name used by Datadog's "new administrator" rule; GitLab's type is custom_admin_role_assigned_to_user.
	"admin_role_assigned_to_user": "custom_admin_role_assigned_to_user",
}

// Canonical returns the current catalogue name of an event type name,
// resolving renamed types. Unknown names are returned unchanged.
func Canonical(name string) string {
	if c, ok := aliases[name]; ok {
		return c
	}
	return name
}

// Aliases returns the old names that resolve to name, for documentation.
func Aliases(name string) []string {
	var out []string
	for old, cur := range aliases {
		if cur == name {
			out = append(out, old)
		}
	}
	return out
}
