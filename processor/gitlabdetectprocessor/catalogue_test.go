// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package gitlabdetectprocessor

import (
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/kyra-mdr/otelcol-gitlab/internal/auditevent"
)

// Why an event type GitLab introduced in 18.0 or later has no built-in
// rule. TestNewerTypesDecided makes every such type either a rule's or
// listed here, so that a catalogue update forces a decision; the README
// shows the list.
const (
	whyAI           = "AI feature settings and catalogue items: no access, credential or protection changes"
	whyCollab       = "collaboration content (comments), high volume"
	whyCompliance   = "compliance bookkeeping: the settings a failing control checks have rules of their own"
	whyAudit        = "a setting of AI audit event storage; streaming destinations and filters are GLD-016 to GLD-019"
	whyAdminRole    = "defining or withdrawing a custom admin role grants nobody anything; the assignment is GLD-043"
	whyExportDirect = "Direct Transfer (group migration) exports between GitLab instances, started by an Owner; a mass download is GLD-101"
	whyGroupState   = "archiving a group is reversible and keeps its data; deletions are GLD-082/083"
	whySettingsPage = "stream-only page views of the CI/CD settings; reading a variable's value is GLD-073"
	whySeat         = "billing and seat management"
	whySAMLMember   = "membership provisioned by the identity provider; roles granted are GLD-040/041"
	whyValidity     = "validity checks only rank secret detection findings; no secret is let through when they are off"
	whyIPDenied     = "the IP restriction worked (access refused); stream-only and frequent for users off the VPN"
	whyOAuthChange  = "changing or deleting an OAuth application takes access away; its registration is GLD-058"
	whyIAMOAuth     = "IAM OAuth consent of a user; a user's OAuth authorisation is GLD-059 (INFO), a rejection changes nothing"
	whyPolicyEval   = "the policy did its job (violation detected or resolved, warn mode reporting what it would block); bypasses and merges despite violations are GLD-021"
	whyPolicyFailed = "a policy job failed or a scheduled scan could not be created: an operational failure, not a user's change"
	whyPolicyCreate = "a new security policy tightens, not weakens; changes are GLD-020, skipped pipelines GLD-024"
	whyStatusCheck  = "external status check responses are set by the external service through the API as a matter of course; the event does not say the previous status"
	whyStepUp       = "the event does not carry the direction of the change in a form verified against GitLab's source; a custom rule on details.from/to can report removals"
	whyPushRegex    = "a regular-expression push rule (branch names, commit messages, file names, author emails) or the file size limit: policy conventions, not protections; the protection switches are GLD-027"
	whyRunnerCache  = "clearing a runner cache deletes build caches only"
	whyFileAccess   = "stream-only, one event per file viewed: far too frequent to tag; mass access is better counted by GLD-101's clones"
	whyRequireSHA   = "a merge safeguard setting whose weaker direction could not be verified against GitLab's source"
	whySecretsOn    = "enrolling in the secrets manager or enabling its add-on adds a capability; unenrolling is GLD-077"
	whySecurityAttr = "security attributes and categories label projects for reporting; they change no protection"
	whyTwoFactorOn  = "enabling two-factor authentication hardens the account"
	whyUserState    = "user lifecycle bookkeeping (external flag, records moved to the ghost user after deletion)"
	whyVirtualReg   = "deleting an entry of a virtual registry cache; the upstream keeps the artefact"
	whyVuln         = "removing a false-positive flag re-opens a finding: the stricter direction"
	whySSHKeysOff   = "a group setting that disables SSH keys for enterprise users; SSH keys added are GLD-052"
)

var noRule = map[string]string{
	"ai_audit_events_storage_enabled_updated":                    whyAudit,
	"comment_created":                                            whyCollab,
	"comment_deleted":                                            whyCollab,
	"comment_updated":                                            whyCollab,
	"create_ai_catalog_agent":                                    whyAI,
	"create_ai_catalog_flow":                                     whyAI,
	"create_ai_catalog_third_party_flow":                         whyAI,
	"delete_ai_catalog_agent":                                    whyAI,
	"delete_ai_catalog_flow":                                     whyAI,
	"delete_ai_catalog_third_party_flow":                         whyAI,
	"disable_ai_catalog_agent":                                   whyAI,
	"disable_ai_catalog_flow":                                    whyAI,
	"disable_ai_catalog_third_party_flow":                        whyAI,
	"enable_ai_catalog_agent":                                    whyAI,
	"enable_ai_catalog_flow":                                     whyAI,
	"enable_ai_catalog_third_party_flow":                         whyAI,
	"update_ai_catalog_agent":                                    whyAI,
	"update_ai_catalog_flow":                                     whyAI,
	"update_ai_catalog_third_party_flow":                         whyAI,
	"duo_cli_session_blocked":                                    whyAI,
	"feature_access_rules_updated":                               whyAI,
	"namespace_feature_access_rules_updated":                     whyAI,
	"lock_duo_features_enabled_updated":                          whyAI,
	"model_selection_feature_changed":                            whyAI,
	"custom_admin_role_created":                                  whyAdminRole,
	"custom_admin_role_deleted":                                  whyAdminRole,
	"custom_admin_role_unassigned_from_user":                     whyAdminRole,
	"custom_admin_role_updated":                                  whyAdminRole,
	"direct_transfer_relation_export_batch_downloaded":           whyExportDirect,
	"direct_transfer_relation_export_downloaded":                 whyExportDirect,
	"direct_transfer_relations_export_initiated":                 whyExportDirect,
	"disable_ssh_keys_updated":                                   whySSHKeysOff,
	"group_archived":                                             whyGroupState,
	"group_unarchived":                                           whyGroupState,
	"group_ci_cd_settings_accessed":                              whySettingsPage,
	"project_ci_cd_settings_accessed":                            whySettingsPage,
	"group_minimal_access_role_adjusted_seat_limit":              whySeat,
	"usage_billing_updated":                                      whySeat,
	"group_saml_member_added":                                    whySAMLMember,
	"group_validity_checks_updated":                              whyValidity,
	"ip_restricted_group_accessed":                               whyIPDenied,
	"oauth_application_deleted":                                  whyOAuthChange,
	"oauth_application_updated":                                  whyOAuthChange,
	"user_authorized_iam_oauth_application":                      whyIAMOAuth,
	"user_rejected_iam_oauth_application":                        whyIAMOAuth,
	"security_policy_violations_detected":                        whyPolicyEval,
	"security_policy_violations_resolved":                        whyPolicyEval,
	"policy_warn_mode_merge_request_approval":                    whyPolicyEval,
	"policy_warn_mode_merge_request_approval_settings_overrides": whyPolicyEval,
	"policy_warn_mode_push_settings_overrides":                   whyPolicyEval,
	"security_policy_pipeline_failed":                            whyPolicyFailed,
	"security_policy_scheduled_scans_not_enforced":               whyPolicyFailed,
	"security_policy_create":                                     whyPolicyCreate,
	"status_check_response_update":                               whyStatusCheck,
	"step_up_auth_required_oauth_provider_updated":               whyStepUp,
	"project_push_rules_author_email_regex_updated":              whyPushRegex,
	"project_push_rules_branch_name_regex_updated":               whyPushRegex,
	"project_push_rules_commit_message_negative_regex_updated":   whyPushRegex,
	"project_push_rules_commit_message_regex_updated":            whyPushRegex,
	"project_push_rules_file_name_regex_updated":                 whyPushRegex,
	"project_push_rules_max_file_size_updated":                   whyPushRegex,
	"project_runner_cache_cleared":                               whyRunnerCache,
	"repository_file_accessed_api":                               whyFileAccess,
	"repository_file_accessed_web":                               whyFileAccess,
	"require_sha_for_merge_updated":                              whyRequireSHA,
	"secrets_manager_add_on_enable":                              whySecretsOn,
	"secrets_manager_instance_enroll":                            whySecretsOn,
	"secrets_manager_instance_trial_start":                       whySecretsOn,
	"secrets_manager_namespace_enroll":                           whySecretsOn,
	"security_attribute_attached_to_project":                     whySecurityAttr,
	"security_attribute_created":                                 whySecurityAttr,
	"security_attribute_deleted":                                 whySecurityAttr,
	"security_attribute_detached_from_project":                   whySecurityAttr,
	"security_attribute_updated":                                 whySecurityAttr,
	"security_category_created":                                  whySecurityAttr,
	"security_category_deleted":                                  whySecurityAttr,
	"security_category_updated":                                  whySecurityAttr,
	"update_project_compliance_violation":                        whyCompliance,
	"user_enable_two_factor":                                     whyTwoFactorOn,
	"user_external_status_updated":                               whyUserState,
	"user_records_migrated_to_ghost":                             whyUserState,
	"virtual_registries_container_cache_entry_deleted":           whyVirtualReg,
	"virtual_registries_packages_maven_cache_entry_deleted":      whyVirtualReg,
	"remove_vulnerability_false_positive_flag":                   whyVuln,
}

// decidedSince is the GitLab version from which every catalogued type has
// a rule or a reason in noRule.
const decidedSince = 18

// introducedMajor returns the major version a type was introduced in.
func introducedMajor(ti auditevent.TypeInfo) int {
	major, _, _ := strings.Cut(ti.IntroducedIn, ".")
	n, err := strconv.Atoi(major)
	if err != nil {
		return 0
	}
	return n
}

func ruledTypes() map[string][]string {
	out := map[string][]string{}
	for _, d := range builtinRules {
		for _, t := range d.EventTypes {
			out[t] = append(out[t], d.ID)
		}
	}
	return out
}

// TestNewerTypesDecided: every event type GitLab introduced in 18.0 or
// later has a built-in rule or a reason for having none.
func TestNewerTypesDecided(t *testing.T) {
	ruled := ruledTypes()
	for _, ti := range auditevent.All() {
		if introducedMajor(ti) < decidedSince {
			continue
		}
		name := auditevent.Canonical(ti.Name)
		_, hasRule := ruled[name]
		_, hasReason := noRule[name]
		assert.True(t, hasRule || hasReason, "%s (GitLab %s): add it to a rule or give the reason for none in noRule", ti.Name, ti.IntroducedIn)
		assert.False(t, hasRule && hasReason, "%s has a rule and a reason for none", name)
	}
	for name := range noRule {
		ti, ok := auditevent.Lookup(name)
		assert.True(t, ok, "noRule names an uncatalogued type %q", name)
		assert.Equal(t, name, ti.Name, "noRule names an alias %q", name)
		assert.GreaterOrEqual(t, introducedMajor(ti), decidedSince, "%s is older than %d.0", name, decidedSince)
	}
	// The types the issue named arrive tagged, whatever GitLab version named them.
	for _, name := range []string{
		"project_text_replacement", "project_blobs_removal", "secrets_manager_read_project_secret",
		"secrets_manager_delete_project_secret", "policy_pipeline_skipped", "merge_request_merged_with_policy_violations",
	} {
		assert.NotEmpty(t, ruled[auditevent.Canonical(name)], "%s has no rule", name)
	}
}

func generateNoRule() string {
	var b strings.Builder
	b.WriteString("| Event type | Introduced | Why no rule |\n|---|---|---|\n")
	for _, name := range sortedKeys(noRule) {
		ti, _ := auditevent.Lookup(name)
		fmt.Fprintf(&b, "| `%s` | %s | %s |\n", name, ti.IntroducedIn, cell(noRule[name]))
	}
	return b.String()
}
