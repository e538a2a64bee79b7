// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package gitlabdetectprocessor

import (
	"regexp"
	"strings"
	"time"
)

// The indicators of the built-in rules, written as security_rule.category
// and gitlab.detect.indicator.
const (
	IndicatorSecurityDowngrade   = "security_downgrade"
	IndicatorDataExposure        = "data_exposure"
	IndicatorPrivilegeEscalation = "privilege_escalation"
	IndicatorPersistentAccess    = "persistent_access"
	IndicatorSecretExposure      = "secret_exposure"
	IndicatorDataDestruction     = "data_destruction"
	IndicatorCredentialRisk      = "credential_risk"
)

// Reference pages written as security_rule.reference.
const (
	refAuditTypes        = "https://docs.gitlab.com/user/compliance/audit_event_types/"
	refStreaming         = "https://docs.gitlab.com/user/compliance/audit_event_streaming/"
	refDetecting         = "https://docs.gitlab.com/security/detecting_security_incidents/"
	ref2FA               = "https://docs.gitlab.com/user/profile/account/two_factor_authentication/"
	refSAML              = "https://docs.gitlab.com/user/group/saml_sso/"
	refApprovals         = "https://docs.gitlab.com/user/project/merge_requests/approvals/settings/"
	refProtectedBranches = "https://docs.gitlab.com/user/project/repository/branches/protected/"
	refPushProtection    = "https://docs.gitlab.com/user/application_security/secret_detection/secret_push_protection/"
	refVisibility        = "https://docs.gitlab.com/user/public_access/"
	refPermissions       = "https://docs.gitlab.com/user/permissions/"
	refDeployKeys        = "https://docs.gitlab.com/user/project/deploy_keys/"
	refDeployTokens      = "https://docs.gitlab.com/user/project/deploy_tokens/"
	refSSH               = "https://docs.gitlab.com/user/ssh/"
	refCIVariables       = "https://docs.gitlab.com/ci/variables/"
	refPAT               = "https://docs.gitlab.com/user/profile/personal_access_tokens/"
	refCVE20237028       = "https://about.gitlab.com/releases/2024/01/11/critical-security-release-gitlab-16-7-2-released/"
	refPolicies          = "https://docs.gitlab.com/user/application_security/policies/"
	refPushRules         = "https://docs.gitlab.com/user/project/repository/push_rules/"
	refSecretsManager    = "https://docs.gitlab.com/ci/secrets/secrets_manager/"
	refRewriteHistory    = "https://docs.gitlab.com/user/project/repository/repository_size/"
)

// ruleEnv holds the configuration the rule conditions read.
type ruleEnv struct {
	privilegedRoles    map[string]struct{} // lower case
	privilegedAccounts []string            // compared case-insensitively
	tokenMaxLifetime   time.Duration
}

// matchFunc is the condition of a stateless rule. It is only called for
// the event types the rule lists. A nil matchFunc matches every event of
// those types. The note, when not empty, is written as gitlab.detect.note.
type matchFunc func(e *event, env *ruleEnv) (matched bool, note string)

// gradeFunc is the condition of a rule whose severity depends on facts of
// the event: gradeRaise asks for one step above the rule's severity (after
// severity overrides), capped at CRITICAL; gradeLower for LOW.
type gradeFunc func(e *event, env *ruleEnv) (matched bool, g grade, note string)

// grade is how a graded rule's facts move its severity on one event.
type grade int8

const (
	gradeSame grade = iota
	gradeRaise
	gradeLower
)

// apply returns the severity a rule of severity s has on the event.
func (g grade) apply(s Severity) Severity {
	switch g {
	case gradeRaise:
		return s.raised()
	case gradeLower:
		return min(s, SeverityLow)
	}
	return s
}

// windowKind identifies the windowed rules.
type windowKind int

const (
	windowNone windowKind = iota
	windowBruteForce
	windowMassDownload
	windowMassDeletion
	windowTokenBurst
	windowNewCountry
	windowImpossibleTravel
	windowGeoSensitive
)

// geo reports whether a windowed rule is a geo rule (geo.go): it needs
// geoip::databases and shares the users' place profiles.
func (k windowKind) geo() bool {
	return k == windowNewCountry || k == windowImpossibleTravel || k == windowGeoSensitive
}

// ruleDef is one built-in rule. The README rule catalogue is generated from
// this table (see readme_test.go).
type ruleDef struct {
	ID        string
	Name      string
	Indicator string
	Severity  Severity
	// Techniques are ATT&CK technique ids (attack.go); Tactics holds the
	// tactic each is mapped under for this rule, in the same order.
	Techniques  []string
	Tactics     []string
	Description string
	// Fields lists what the condition reads besides the event type.
	Fields []string
	// EventTypes are canonical GitLab event types; the rule is indexed under
	// each of them and never evaluated for other events.
	EventTypes []string
	// Condition is the condition in words, for the README.
	Condition string
	Reference string
	// NoLegacy says why events without an event name (legacy shape) cannot
	// be matched; empty when they can.
	NoLegacy string
	// Raised says when a graded rule raises its severity one step, for the README.
	Raised string
	// Lowered says when a graded rule lowers its severity to LOW, for the README.
	Lowered string
	// Enrichment lists the enrichment attributes the rule reads (see
	// auditevent/enrichattrs.go); without them it falls back as its
	// condition says.
	Enrichment []string
	// Baseline marks a windowed rule that learns each author's usual peak
	// (baseline.go) and has a separate threshold for automation accounts.
	Baseline bool
	// Window marks a windowed rule; match and grade are nil for those.
	Window windowKind
	match  matchFunc
	grade  gradeFunc
}

const (
	noLegacyNoWording = "no wording of this event without an event name is known"
	noLegacyStream    = "stream-only event type, introduced with its event name"
)

// Event type lists shared by several rules.
var (
	loginFailureTypes = []string{
		"login_failed_with_standard_authentication", "login_failed_with_otp_authentication",
		"login_failed_with_webauthn_authentication", "omniauth_login_failed",
	}
	loginSuccessTypes = []string{
		"authenticated_with_password", "authenticated_with_two_factor", "authenticated_with_webauthn",
		"authenticated_with_ldap", "authenticated_with_oauth", "authenticated_with_group_saml",
	}
	downloadTypes = []string{
		"repository_download_operation", "project_export_file_download_started",
		"public_repository_download_operation", "repository_git_operation",
	}
	deletionTypes = []string{
		"project_destroyed", "project_deletion_marked", "group_destroyed", "group_deletion_marked",
	}
	tokenTypes = []string{
		"personal_access_token_created", "project_access_token_created", "group_access_token_created",
		"deploy_token_created", "group_deploy_token_created", "cluster_agent_token_created",
	}
	streamingDeletedTypes = []string{
		"destroy_event_streaming_destination", "destroy_instance_event_streaming_destination",
		"deleted_group_audit_event_streaming_destination", "deleted_instance_audit_event_streaming_destination",
		"amazon_s3_configuration_deleted", "instance_amazon_s3_configuration_deleted",
		"google_cloud_logging_configuration_deleted", "instance_google_cloud_logging_configuration_deleted",
	}
	streamingUpdatedTypes = []string{
		"update_event_streaming_destination", "update_instance_event_streaming_destination",
		"updated_group_audit_event_streaming_destination", "updated_instance_audit_event_streaming_destination",
		"amazon_s3_configuration_updated", "instance_amazon_s3_configuration_updated",
		"google_cloud_logging_configuration_updated", "instance_google_cloud_logging_configuration_updated",
	}
	memberTypes = []string{
		"member_created", "member_updated",
		"project_group_link_created", "project_group_link_updated",
		"group_share_with_group_link_created", "group_share_with_group_link_updated",
	}
	// pushRuleProtectionTypes are the push rule settings that block a risky
	// push when true (ee/lib/ee/audit/group_push_rules_changes_auditor.rb
	// maps each PushRule column to its event name and records from/to).
	pushRuleProtectionTypes = []string{
		"group_push_rules_prevent_secrets_updated", "project_push_rules_prevent_secrets_updated",
		"group_push_rules_reject_unsigned_commits_updated", "project_push_rules_reject_unsigned_commits_updated",
		"group_push_rules_commit_committer_check_updated", "project_push_rules_commit_committer_check_updated",
		"group_push_rules_reject_member_check_updated", "project_push_rules_reject_member_check_updated",
		"group_push_rules_reject_non_dco_commits_updated", "project_push_rules_reject_non_dco_commits_updated",
		"group_push_rules_reject_deny_delete_tag_updated", "project_push_rules_reject_deny_delete_tag_updated",
	}
	variableCreatedTypes = []string{"ci_variable_created", "ci_group_variable_created", "ci_instance_variable_created"}
	variableUpdatedTypes = []string{"ci_variable_updated", "ci_group_variable_updated", "ci_instance_variable_updated"}
)

// weakerApprovalSetting gives, per event type, the "to" value that weakens
// a merge request approval safeguard. The project settings are GitLab's
// project columns (merge_requests_author_approval: authors may approve;
// merge_requests_disable_committers_approval: committers may not approve;
// reset_approvals_on_push; disable_overriding_approvers_per_merge_request);
// the group settings are the columns of group_merge_request_approval_settings
// (allow_author_approval, allow_committer_approval,
// allow_overrides_to_approver_list_per_merge_request, retain_approvals_on_push).
var weakerApprovalSetting = map[string]bool{
	"project_merge_requests_author_approval_updated":                 true,
	"project_merge_requests_disable_committers_approval_updated":     false,
	"project_reset_approvals_on_push_updated":                        false,
	"project_disable_overriding_approvers_per_merge_request_updated": false,
	"allow_author_approval_updated":                                  true,
	"allow_committer_approval_updated":                               true,
	"allow_overrides_to_approver_list_per_merge_request_updated":     true,
	"retain_approvals_on_push_updated":                               true,
}

// builtinRules is the catalogue of built-in rules. Ids are stable: a rule
// that is withdrawn keeps its id unused.
var builtinRules = []ruleDef{
	// ---- security_downgrade ----
	{
		ID: "GLD-001", Name: "Two-factor authentication disabled for a user",
		Indicator: IndicatorSecurityDowngrade, Severity: SeverityHigh, Techniques: []string{"T1556.006"}, Tactics: []string{"TA0003"},
		Description: "A user's two-factor authentication was turned off, by the user, a group owner or an administrator. The account is left with a password only.",
		Fields:      []string{"custom_message"},
		EventTypes:  []string{"user_disable_two_factor"},
		Condition:   "custom_message is not the removal of one authenticator (see GLD-002)",
		Reference:   ref2FA,
		match: func(e *event, _ *ruleEnv) (bool, string) {
			return !isAuthenticatorRemoval(e.message()), ""
		},
	},
	{
		ID: "GLD-002", Name: "Two-factor authenticator removed from a user",
		Indicator: IndicatorSecurityDowngrade, Severity: SeverityHigh, Techniques: []string{"T1556.006"}, Tactics: []string{"TA0003"},
		Description: "One authenticator of a user was removed (the one-time password app, or a WebAuthn device). When it was the user's only one, the account is left with a password only: HIGH unless the receiver looked the user up after the event and GitLab said two-factor authentication is still on.",
		Fields:      []string{"custom_message", "gitlab.target_user.two_factor_enabled"},
		EventTypes:  []string{"user_disable_two_factor"},
		Condition:   `custom_message starts with "Disabled One-time password authenticator" or "Deleted WebAuthn device"`,
		Reference:   ref2FA,
		Lowered:     "enrichment status ok and gitlab.target_user.two_factor_enabled is true (another factor remains)",
		Enrichment:  []string{"gitlab.target_user.two_factor_enabled"},
		grade:       authenticatorRemoved,
	},
	{
		ID: "GLD-003", Name: "Group two-factor requirement turned off",
		Indicator: IndicatorSecurityDowngrade, Severity: SeverityHigh, Techniques: []string{"T1556.006"}, Tactics: []string{"TA0003"},
		Description: "A group stopped requiring two-factor authentication from its members.",
		Fields:      []string{"details.to"},
		EventTypes:  []string{"group_require_two_factor_authentication_updated"},
		Condition:   "to is false",
		Reference:   ref2FA,
		match:       toIs(false),
	},
	{
		ID: "GLD-004", Name: "Group two-factor grace period extended",
		Indicator: IndicatorSecurityDowngrade, Severity: SeverityMedium, Techniques: []string{"T1556.006"}, Tactics: []string{"TA0003"},
		Description: "The grace period members of a group get before two-factor authentication is enforced was lengthened.",
		Fields:      []string{"details.from", "details.to"},
		EventTypes:  []string{"group_two_factor_grace_period_updated"},
		Condition:   "to (hours) is greater than from",
		Reference:   ref2FA,
		match: func(e *event, _ *ruleEnv) (bool, string) {
			from, to := e.changeValues()
			f, okF := parseInt(from)
			t, okT := parseInt(to)
			return okF && okT && t > f, ""
		},
	},
	{
		ID: "GLD-005", Name: "SAML SSO enforcement turned off",
		Indicator: IndicatorSecurityDowngrade, Severity: SeverityHigh, Techniques: []string{"T1556"}, Tactics: []string{"TA0003"},
		Description: "Group SAML single sign-on stopped being enforced (enforced_sso) or SAML was disabled for the group (enabled), so members can reach the group without the identity provider.",
		Fields:      []string{"custom_message", "details.change", "details.to"},
		EventTypes:  []string{"group_saml_provider_update"},
		Condition:   `custom_message contains "enforced_sso changed from true to false" or "enabled changed from true to false", or change is enforced_sso/enabled and to is false`,
		Reference:   refSAML,
		match:       samlEnforcementOff,
	},
	{
		ID: "GLD-006", Name: "Re-authentication to approve merge requests turned off",
		Indicator: IndicatorSecurityDowngrade, Severity: SeverityMedium, Techniques: []string{"T1556"}, Tactics: []string{"TA0003"},
		Description: "Approvers no longer have to re-enter their password (or re-authenticate with SAML) to approve a merge request.",
		Fields:      []string{"details.to"},
		EventTypes:  []string{"project_require_password_to_approve_updated", "require_password_to_approve_updated", "require_reauthentication_to_approve_updated"},
		Condition:   "to is false",
		Reference:   refApprovals,
		match:       toIs(false),
	},
	{
		ID: "GLD-007", Name: "Merge request approval safeguard weakened",
		Indicator: IndicatorSecurityDowngrade, Severity: SeverityMedium, Techniques: []string{"T1195.002"}, Tactics: []string{"TA0001"},
		Description: "A project or group approval setting was changed in the weaker direction: authors or committers may approve their own changes, approvals survive new commits, or approval rules may be overridden per merge request.",
		Fields:      []string{"details.to"},
		EventTypes:  sortedKeys(weakerApprovalSetting),
		Condition:   "to is true for the author/committer approval, allow_* and retain_approvals_on_push settings; to is false for disable_committers_approval, reset_approvals_on_push and disable_overriding_approvers",
		Reference:   refApprovals,
		match: func(e *event, _ *ruleEnv) (bool, string) {
			want, ok := weakerApprovalSetting[e.typ]
			if !ok {
				return false, ""
			}
			_, to := e.changeValues()
			b, ok := parseBool(to)
			return ok && b == want, ""
		},
	},
	{
		ID: "GLD-008", Name: "Required approvals reduced",
		Indicator: IndicatorSecurityDowngrade, Severity: SeverityMedium, Techniques: []string{"T1195.002"}, Tactics: []string{"TA0001"},
		Description: "An approval rule now requires fewer approvals than before.",
		Fields:      []string{"details.change", "details.from", "details.to"},
		EventTypes:  []string{"update_approval_rules"},
		Condition:   `change is "number of required approvals" and to < from`,
		Reference:   refApprovals,
		match: func(e *event, _ *ruleEnv) (bool, string) {
			c := strings.ToLower(e.detailStr("change"))
			if c != "number of required approvals" && c != "approvals_required" {
				return false, ""
			}
			from, to := e.changeValues()
			f, okF := parseInt(from)
			t, okT := parseInt(to)
			return okF && okT && t < f, ""
		},
	},
	{
		ID: "GLD-009", Name: "Approval rule deleted",
		Indicator: IndicatorSecurityDowngrade, Severity: SeverityLow, Techniques: []string{"T1195.002"}, Tactics: []string{"TA0001"},
		Description: "A merge request approval rule was deleted.",
		EventTypes:  []string{"approval_rule_deleted"},
		Condition:   "always",
		Reference:   refApprovals,
		NoLegacy:    noLegacyNoWording,
	},
	{
		ID: "GLD-010", Name: "Protected branch removed",
		Indicator: IndicatorSecurityDowngrade, Severity: SeverityMedium, Techniques: []string{"T1195.002"}, Tactics: []string{"TA0001"},
		Description: "A branch lost its protection: anyone with push access can push, force push or delete it.",
		EventTypes:  []string{"protected_branch_removed"},
		Condition:   "always",
		Reference:   refProtectedBranches,
	},
	{
		ID: "GLD-011", Name: "Force push allowed on a protected branch",
		Indicator: IndicatorSecurityDowngrade, Severity: SeverityHigh, Techniques: []string{"T1195.002"}, Tactics: []string{"TA0001"},
		Description: "Force pushes were allowed on a protected branch, so its history can be rewritten.",
		Fields:      []string{"details.to"},
		EventTypes:  []string{"protected_branch_allow_force_push_updated"},
		Condition:   "to is true",
		Reference:   refProtectedBranches,
		match:       toIs(true),
	},
	{
		ID: "GLD-012", Name: "Code owner approval no longer required",
		Indicator: IndicatorSecurityDowngrade, Severity: SeverityMedium, Techniques: []string{"T1195.002"}, Tactics: []string{"TA0001"},
		Description: "A protected branch stopped requiring approval from code owners.",
		Fields:      []string{"details.to"},
		EventTypes:  []string{"protected_branch_code_owner_approval_required_updated"},
		Condition:   "to is false",
		Reference:   refProtectedBranches,
		match:       toIs(false),
	},
	{
		ID: "GLD-013", Name: "Secret push protection skipped",
		Indicator: IndicatorSecurityDowngrade, Severity: SeverityHigh, Techniques: []string{"T1685", "T1552.001"}, Tactics: []string{"TA0112", "TA0006"},
		Description: "A user pushed with secret push protection skipped; the push may contain credentials.",
		EventTypes:  []string{"skip_secret_push_protection"},
		Condition:   "always",
		Reference:   refPushProtection,
		NoLegacy:    noLegacyNoWording,
	},
	{
		ID: "GLD-014", Name: "Secret push protection disabled",
		Indicator: IndicatorSecurityDowngrade, Severity: SeverityHigh, Techniques: []string{"T1685"}, Tactics: []string{"TA0112"},
		Description: "Secret push protection was disabled for a project, or for a group and its projects.",
		Fields:      []string{"custom_message"},
		EventTypes:  []string{"group_secret_push_protection_updated", "project_security_setting_updated"},
		Condition:   `custom_message starts with "Secret push protection has been disabled"`,
		Reference:   refPushProtection,
		match: func(e *event, _ *ruleEnv) (bool, string) {
			return hasPrefixFold(strings.TrimSpace(e.message()), "secret push protection has been disabled"), ""
		},
	},
	{
		ID: "GLD-015", Name: "IP restrictions changed",
		Indicator: IndicatorSecurityDowngrade, Severity: SeverityMedium, Techniques: []string{"T1686.001"}, Tactics: []string{"TA0112"},
		Description: "The IP address ranges allowed to reach a group were changed (an attacker may add their own range or remove the restriction).",
		EventTypes:  []string{"ip_restrictions_changed"},
		Condition:   "always",
		Reference:   refAuditTypes,
		NoLegacy:    noLegacyNoWording,
	},
	{
		ID: "GLD-016", Name: "Audit event streaming destination deleted",
		Indicator: IndicatorSecurityDowngrade, Severity: SeverityHigh, Techniques: []string{"T1685.002"}, Tactics: []string{"TA0112"},
		Description: "An audit event streaming destination (HTTP, Amazon S3 or Google Cloud Logging; group or instance; all three generations of GitLab's names) was deleted: audit events stop reaching the SIEM.",
		EventTypes:  streamingDeletedTypes,
		Condition:   "always",
		Reference:   refStreaming,
		NoLegacy:    noLegacyNoWording,
	},
	{
		ID: "GLD-017", Name: "Audit event streaming destination changed",
		Indicator: IndicatorSecurityDowngrade, Severity: SeverityMedium, Techniques: []string{"T1685.002"}, Tactics: []string{"TA0112"},
		Description: "An audit event streaming destination was changed (URL, credentials, name): audit events may be redirected.",
		EventTypes:  streamingUpdatedTypes,
		Condition:   "always",
		Reference:   refStreaming,
		NoLegacy:    noLegacyNoWording,
	},
	{
		ID: "GLD-018", Name: "Audit event streaming header changed or deleted",
		Indicator: IndicatorSecurityDowngrade, Severity: SeverityMedium, Techniques: []string{"T1685.002"}, Tactics: []string{"TA0112"},
		Description: "A custom HTTP header of a streaming destination was changed or removed; the receiving side may start rejecting GitLab's events.",
		EventTypes: []string{
			"audit_events_streaming_headers_update", "audit_events_streaming_headers_destroy",
			"audit_events_streaming_instance_headers_update", "audit_events_streaming_instance_headers_destroy",
		},
		Condition: "always",
		Reference: refStreaming,
		NoLegacy:  noLegacyNoWording,
	},
	{
		ID: "GLD-019", Name: "Audit event streaming filter added",
		Indicator: IndicatorSecurityDowngrade, Severity: SeverityLow, Techniques: []string{"T1685.002"}, Tactics: []string{"TA0112"},
		Description: "An event type or namespace filter was added to a streaming destination; events outside the filter are no longer streamed.",
		EventTypes: []string{
			"event_type_filters_created", "create_http_namespace_filter",
			"created_group_namespace_filter", "created_instance_namespace_filter",
		},
		Condition: "always",
		Reference: refStreaming,
		NoLegacy:  noLegacyNoWording,
	},
	{
		ID: "GLD-020", Name: "Security policy project or policy changed",
		Indicator: IndicatorSecurityDowngrade, Severity: SeverityInfo, Techniques: []string{"T1685"}, Tactics: []string{"TA0112"},
		Description: "The security policy project linked to a group or project, or a security policy, was changed; the policies that apply may be different.",
		EventTypes:  []string{"policy_project_updated", "security_policy_update"},
		Condition:   "always",
		Reference:   refAuditTypes,
		NoLegacy:    noLegacyNoWording,
	},
	{
		ID: "GLD-021", Name: "Security policy deleted or bypassed",
		Indicator: IndicatorSecurityDowngrade, Severity: SeverityMedium, Techniques: []string{"T1685"}, Tactics: []string{"TA0112"},
		Description: "A security policy was deleted, a push or merge request bypassed one, or a merge request was merged despite policy violations.",
		EventTypes: []string{
			"security_policy_delete", "security_policy_access_token_push_bypass",
			"security_policy_service_account_push_bypass", "security_policy_user_push_bypass",
			"security_policy_merge_request_bypass", "merge_request_branch_bypassed_by_security_policy",
			"security_policy_merge_request_merged_with_policy_violations",
			"merge_request_merged_with_dismissed_security_policy",
		},
		Condition: "always",
		Reference: refAuditTypes,
		NoLegacy:  noLegacyNoWording,
	},
	{
		ID: "GLD-022", Name: "Privileged account signed in with a password only",
		Indicator: IndicatorSecurityDowngrade, Severity: SeverityLow, Techniques: []string{"T1078"}, Tactics: []string{"TA0001"},
		Description: "An account listed in privileged_accounts signed in with a password and no second factor (GitLab records authenticated_with_two_factor when one is used).",
		Fields:      []string{"author_name", "target_details"},
		EventTypes:  []string{"authenticated_with_password"},
		Condition:   "author_name or target_details is one of privileged_accounts",
		Reference:   ref2FA,
		match: func(e *event, env *ruleEnv) (bool, string) {
			for _, s := range [...]string{e.str(fieldAuthorName), e.str(fieldTargetDetails)} {
				s = strings.TrimSpace(s)
				for _, a := range env.privilegedAccounts {
					if s != "" && strings.EqualFold(s, a) {
						return true, ""
					}
				}
			}
			return false, ""
		},
	},

	{
		ID: "GLD-023", Name: "Inbound CI/CD job token restriction disabled",
		Indicator: IndicatorSecurityDowngrade, Severity: SeverityMedium, Techniques: []string{"T1550.001"}, Tactics: []string{"TA0008"},
		Description: "A project stopped limiting which projects' CI/CD job tokens may access it: jobs of any project can use their token against it.",
		EventTypes:  []string{"secure_ci_job_token_inbound_disabled"},
		Condition:   "always",
		Reference:   "https://docs.gitlab.com/ci/jobs/ci_job_token/",
		NoLegacy:    noLegacyNoWording,
	},
	{
		ID: "GLD-024", Name: "Security policy pipeline skipped",
		Indicator: IndicatorSecurityDowngrade, Severity: SeverityMedium, Techniques: []string{"T1685"}, Tactics: []string{"TA0112"},
		Description: "A pipeline ran without the jobs a pipeline execution or scan execution policy enforces (GitLab's PipelineSkippedAuditor: \"Pipeline: N with security policy jobs skipped\"): the scans or compliance jobs the policy requires did not run for it. GitLab 18.2 named the event policy_pipeline_skipped.",
		EventTypes:  []string{"security_policy_pipeline_skipped"},
		Condition:   "always",
		Reference:   refPolicies,
		NoLegacy:    noLegacyStream,
	},
	{
		ID: "GLD-025", Name: "Security policies no longer enforced",
		Indicator: IndicatorSecurityDowngrade, Severity: SeverityMedium, Techniques: []string{"T1685"}, Tactics: []string{"TA0112"},
		Description: "The policy YAML of a security policy project became invalid, or more policies are enabled than GitLab enforces for their type: the policies it no longer reads stop applying. A push of broken YAML to the policy project switches every policy off at once.",
		EventTypes:  []string{"security_policy_yaml_invalidated", "security_policy_limit_exceeded"},
		Condition:   "always",
		Reference:   refPolicies,
		NoLegacy:    noLegacyNoWording,
	},
	{
		ID: "GLD-026", Name: "Security scanner exclusion added or changed",
		Indicator: IndicatorSecurityDowngrade, Severity: SeverityLow, Techniques: []string{"T1685"}, Tactics: []string{"TA0112"},
		Description: "A project security exclusion (a path, rule or raw value secret detection and secret push protection ignore) was created or changed: a secret matching it is no longer blocked or reported.",
		EventTypes:  []string{"project_security_exclusion_created", "project_security_exclusion_updated"},
		Condition:   "always",
		Reference:   refPushProtection,
		NoLegacy:    noLegacyNoWording,
	},
	{
		ID: "GLD-027", Name: "Push rule protection turned off",
		Indicator: IndicatorSecurityDowngrade, Severity: SeverityMedium, Techniques: []string{"T1685"}, Tactics: []string{"TA0112"},
		Description: "A group or project push rule that blocks risky pushes was switched off: files that look like secrets, unsigned or unverified commits, commits by authors who are not GitLab users, commits without a DCO sign-off, or tag deletion by push.",
		Fields:      []string{"details.to"},
		EventTypes:  pushRuleProtectionTypes,
		Condition:   "to is false (GitLab's push rules auditors write the boolean column's from/to)",
		Reference:   refPushRules,
		NoLegacy:    noLegacyNoWording,
		match:       toIs(false),
	},
	// ---- data_exposure ----
	{
		ID: "GLD-030", Name: "Project made public",
		Indicator: IndicatorDataExposure, Severity: SeverityHigh, Techniques: []string{"T1213.003"}, Tactics: []string{"TA0009"},
		Description: "A project's visibility was changed to public: its code is readable without signing in.",
		Fields:      []string{"details.from", "details.to", "custom_message"},
		EventTypes:  []string{"project_visibility_level_updated"},
		Condition:   "to is Public (any case, or level 20) and from is not",
		Reference:   refVisibility,
		match:       visibilityTo(visPublic),
	},
	{
		ID: "GLD-031", Name: "Group made public",
		Indicator: IndicatorDataExposure, Severity: SeverityHigh, Techniques: []string{"T1213.003"}, Tactics: []string{"TA0009"},
		Description: "A group's visibility was changed to public.",
		Fields:      []string{"details.from", "details.to", "custom_message"},
		EventTypes:  []string{"group_visibility_level_updated"},
		Condition:   "to is Public and from is not",
		Reference:   refVisibility,
		match:       visibilityTo(visPublic),
	},
	{
		ID: "GLD-032", Name: "Project or group made internal",
		Indicator: IndicatorDataExposure, Severity: SeverityLow, Techniques: []string{"T1213.003"}, Tactics: []string{"TA0009"},
		Description: "A private project or group became internal: every signed-in user of the instance can read it.",
		Fields:      []string{"details.from", "details.to", "custom_message"},
		EventTypes:  []string{"project_visibility_level_updated", "group_visibility_level_updated"},
		Condition:   "to is Internal and from is Private (or unknown)",
		Reference:   refVisibility,
		match: func(e *event, _ *ruleEnv) (bool, string) {
			from, to := e.changeValues()
			if parseVisibility(to) != visInternal {
				return false, ""
			}
			f := parseVisibility(from)
			return f == visPrivate || f == visUnknown, ""
		},
	},
	{
		ID: "GLD-033", Name: "Project export downloaded",
		Indicator: IndicatorDataExposure, Severity: SeverityMedium, Techniques: []string{"T1567", "T1213.003"}, Tactics: []string{"TA0010", "TA0009"},
		Description: "The export file of a project (repository, issues, merge requests, ...) was downloaded.",
		EventTypes:  []string{"project_export_file_download_started"},
		Condition:   "always",
		Reference:   refAuditTypes,
		NoLegacy:    noLegacyNoWording,
	},
	{
		ID: "GLD-034", Name: "Project or group export created",
		Indicator: IndicatorDataExposure, Severity: SeverityLow, Techniques: []string{"T1213.003"}, Tactics: []string{"TA0009"},
		Description: "A project or group export file was created; it can then be downloaded.",
		EventTypes:  []string{"project_export_created", "group_export_created"},
		Condition:   "always",
		Reference:   refAuditTypes,
		NoLegacy:    noLegacyNoWording,
	},

	// ---- privilege_escalation ----
	{
		ID: "GLD-040", Name: "Member added or promoted to Owner",
		Indicator: IndicatorPrivilegeEscalation, Severity: SeverityHigh, Techniques: []string{"T1098"}, Tactics: []string{"TA0004"},
		Description: "A user or group was given the Owner role on a group or project, as a new member or by promotion.",
		Fields:      []string{"details.as", "details.from", "details.to", "custom_message"},
		EventTypes:  memberTypes,
		Condition:   `the new role (to, else as; "Default role: Owner", bare "Owner" or level 50) is Owner and the previous role (from, if any) was lower`,
		Reference:   refPermissions,
		match: func(e *event, env *ruleEnv) (bool, string) {
			to, ok := grantedRole(e)
			return ok && !to.custom && to.name == "owner", ""
		},
	},
	{
		ID: "GLD-041", Name: "Member added or promoted to a privileged role",
		Indicator: IndicatorPrivilegeEscalation, Severity: SeverityMedium, Techniques: []string{"T1098"}, Tactics: []string{"TA0004"},
		Description: "A user or group was given a role listed in privileged_roles (default: Maintainer; custom role names allowed), other than Owner.",
		Fields:      []string{"details.as", "details.from", "details.to", "custom_message"},
		EventTypes:  memberTypes,
		Condition:   `the new role ("Default role: X", "Custom role: X", bare "X") is in privileged_roles, is not Owner, and differs from the previous role without lowering the access level`,
		Reference:   refPermissions,
		match: func(e *event, env *ruleEnv) (bool, string) {
			to, ok := grantedRole(e)
			if !ok || (!to.custom && to.name == "owner") {
				return false, ""
			}
			_, privileged := env.privilegedRoles[to.name]
			return privileged, ""
		},
	},
	{
		ID: "GLD-042", Name: "Administrator access granted",
		Indicator: IndicatorPrivilegeEscalation, Severity: SeverityCritical, Techniques: []string{"T1098", "T1078"}, Tactics: []string{"TA0004", "TA0004"},
		Description: "A user was made an instance administrator.",
		Fields:      []string{"details.to"},
		EventTypes:  []string{"user_admin_status_updated"},
		Condition:   "to is true",
		Reference:   refPermissions,
		match:       toIs(true),
	},
	{
		ID: "GLD-043", Name: "Custom admin role assigned",
		Indicator: IndicatorPrivilegeEscalation, Severity: SeverityHigh, Techniques: []string{"T1098"}, Tactics: []string{"TA0004"},
		Description: "A custom administrator role was assigned to a user (Datadog's admin_role_assigned_to_user is an alias).",
		EventTypes:  []string{"custom_admin_role_assigned_to_user"},
		Condition:   "always",
		Reference:   refPermissions,
		NoLegacy:    noLegacyNoWording,
	},
	{
		ID: "GLD-044", Name: "User impersonation started",
		Indicator: IndicatorPrivilegeEscalation, Severity: SeverityMedium, Techniques: []string{"T1078"}, Tactics: []string{"TA0004"},
		Description: "An administrator started impersonating a user; actions until the stop are made as that user.",
		Fields:      []string{"custom_message"},
		EventTypes:  []string{"user_impersonation"},
		Condition:   `custom_message is not "Stopped Impersonation"`,
		Reference:   refAuditTypes,
		match: func(e *event, _ *ruleEnv) (bool, string) {
			return !hasPrefixFold(strings.TrimSpace(e.message()), "stopped impersonation"), ""
		},
	},
	{
		ID: "GLD-045", Name: "Auditor access granted",
		Indicator: IndicatorPrivilegeEscalation, Severity: SeverityLow, Techniques: []string{"T1098"}, Tactics: []string{"TA0004"},
		Description: "A user was made an auditor: read access to every group and project of the instance.",
		Fields:      []string{"details.to"},
		EventTypes:  []string{"user_auditor_status_updated"},
		Condition:   "to is true",
		Reference:   refPermissions,
		NoLegacy:    noLegacyNoWording,
		match:       toIs(true),
	},

	// ---- persistent_access ----
	{
		ID: "GLD-050", Name: "Deploy key added",
		Indicator: IndicatorPersistentAccess, Severity: SeverityMedium, Techniques: []string{"T1098.004"}, Tactics: []string{"TA0003"},
		Description: "An SSH deploy key was added to a project; deploy keys do not expire by default and may have write access.",
		EventTypes:  []string{"deploy_key_added"},
		Condition:   "always",
		Reference:   refDeployKeys,
	},
	{
		ID: "GLD-051", Name: "Deploy token created",
		Indicator: IndicatorPersistentAccess, Severity: SeverityMedium, Techniques: []string{"T1098.001"}, Tactics: []string{"TA0003"},
		Description: "A project or group deploy token was created.",
		EventTypes:  []string{"deploy_token_created", "group_deploy_token_created"},
		Condition:   "always",
		Reference:   refDeployTokens,
		NoLegacy:    noLegacyNoWording,
	},
	{
		ID: "GLD-061", Name: "Deploy key or deploy token with write access",
		Indicator: IndicatorPersistentAccess, Severity: SeverityHigh, Techniques: []string{"T1098.001", "T1098.004"}, Tactics: []string{"TA0003", "TA0003"},
		Description: "A deploy key that can push, or a deploy token with a write scope, was added: a credential not tied to a person that can change code, images or packages.",
		Fields:      []string{"gitlab.deploy_key.can_push", "gitlab.deploy_token.scopes"},
		EventTypes:  []string{"deploy_key_added", "deploy_token_created", "group_deploy_token_created"},
		Condition:   "enrichment status ok and gitlab.deploy_key.can_push is true, or gitlab.deploy_token.scopes holds write_repository, write_registry or write_package_registry; unknown: no match (GLD-050/GLD-051 stay)",
		Reference:   refDeployKeys,
		Enrichment:  []string{"gitlab.deploy_key.can_push", "gitlab.deploy_token.scopes"},
		match:       writeAccessDeployCredential,
	},
	{
		ID: "GLD-052", Name: "SSH key added",
		Indicator: IndicatorPersistentAccess, Severity: SeverityLow, Techniques: []string{"T1098.004"}, Tactics: []string{"TA0003"},
		Description: "An SSH key was added to a user account.",
		EventTypes:  []string{"add_ssh_key"},
		Condition:   "always",
		Reference:   refSSH,
	},
	{
		ID: "GLD-053", Name: "Group SSH certificate added",
		Indicator: IndicatorPersistentAccess, Severity: SeverityMedium, Techniques: []string{"T1098.004"}, Tactics: []string{"TA0003"},
		Description: "An SSH certificate authority was added to a group; certificates it signs grant Git access.",
		EventTypes:  []string{"create_ssh_certificate"},
		Condition:   "always",
		Reference:   refSSH,
		NoLegacy:    noLegacyNoWording,
	},
	{
		ID: "GLD-054", Name: "GPG key added",
		Indicator: IndicatorPersistentAccess, Severity: SeverityLow, Techniques: []string{"T1098"}, Tactics: []string{"TA0003"},
		Description: "A GPG key was added to a user account; commits it signs are shown as verified for that user.",
		EventTypes:  []string{"add_gpg_key"},
		Condition:   "always",
		Reference:   refAuditTypes,
	},
	{
		ID: "GLD-055", Name: "Cluster agent token created",
		Indicator: IndicatorPersistentAccess, Severity: SeverityMedium, Techniques: []string{"T1098.001"}, Tactics: []string{"TA0003"},
		Description: "A token for a Kubernetes cluster agent was created.",
		EventTypes:  []string{"cluster_agent_token_created"},
		Condition:   "always",
		Reference:   refAuditTypes,
		NoLegacy:    noLegacyNoWording,
	},
	{
		ID: "GLD-056", Name: "Runner registered or created",
		Indicator: IndicatorPersistentAccess, Severity: SeverityMedium, Techniques: []string{"T1195.002"}, Tactics: []string{"TA0001"},
		Description: "A CI/CD runner was registered or created; it will run jobs, and see their variables and code.",
		Fields:      []string{"custom_message", "details.errors"},
		EventTypes:  []string{"ci_runner_registered", "ci_runner_created"},
		Condition:   `custom_message does not start with "Failed to" and details.errors is empty`,
		Reference:   refAuditTypes,
		match: func(e *event, _ *ruleEnv) (bool, string) {
			if hasPrefixFold(strings.TrimSpace(e.message()), "failed to") {
				return false, ""
			}
			_, hasErrors := e.detail("errors")
			return !hasErrors, ""
		},
	},
	{
		ID: "GLD-057", Name: "Webhook created",
		Indicator: IndicatorPersistentAccess, Severity: SeverityLow, Techniques: []string{"T1567"}, Tactics: []string{"TA0010"},
		Description: "A webhook was created; it sends event data (possibly with code and secrets in payloads) to an external URL.",
		EventTypes:  []string{"webhook_created"},
		Condition:   "always",
		Reference:   refAuditTypes,
		NoLegacy:    noLegacyNoWording,
	},
	{
		ID: "GLD-058", Name: "OAuth application registered",
		Indicator: IndicatorPersistentAccess, Severity: SeverityLow, Techniques: []string{"T1098.001"}, Tactics: []string{"TA0003"},
		Description: "An OAuth application was registered; its credentials can obtain tokens for users who authorize it.",
		EventTypes:  []string{"oauth_application_created"},
		Condition:   "always",
		Reference:   refAuditTypes,
		NoLegacy:    noLegacyNoWording,
	},
	{
		ID: "GLD-059", Name: "OAuth application authorized by a user",
		Indicator: IndicatorPersistentAccess, Severity: SeverityInfo, Techniques: []string{"T1528"}, Tactics: []string{"TA0006"},
		Description: "A user granted an OAuth application access to their account (consent phishing leads here).",
		EventTypes:  []string{"user_authorized_oauth_application"},
		Condition:   "always",
		Reference:   refAuditTypes,
		NoLegacy:    noLegacyNoWording,
	},
	{
		ID: "GLD-060", Name: "User account created",
		Indicator: IndicatorPersistentAccess, Severity: SeverityLow, Techniques: []string{"T1136.003"}, Tactics: []string{"TA0003"},
		Description: "A user account was created by an administrator or by sign-up.",
		EventTypes:  []string{"user_created", "registration_created"},
		Condition:   "always",
		Reference:   refAuditTypes,
	},

	// ---- secret_exposure ----
	{
		ID: "GLD-070", Name: "CI/CD variable protection turned off",
		Indicator: IndicatorSecretExposure, Severity: SeverityHigh, Techniques: []string{"T1552"}, Tactics: []string{"TA0006"},
		Description: "A project, group or instance CI/CD variable stopped being protected: pipelines on unprotected branches (any developer's branch) can read it.",
		Fields:      []string{"details.change", "details.to"},
		EventTypes:  variableUpdatedTypes,
		Condition:   `change is "variable protection" and to is false`,
		Reference:   refCIVariables,
		match:       variableFlagOff("variable protection", "protected"),
	},
	{
		ID: "GLD-071", Name: "CI/CD variable masking turned off",
		Indicator: IndicatorSecretExposure, Severity: SeverityHigh, Techniques: []string{"T1552"}, Tactics: []string{"TA0006"},
		Description: "A project, group or instance CI/CD variable stopped being masked: its value appears in job logs.",
		Fields:      []string{"details.change", "details.to"},
		EventTypes:  variableUpdatedTypes,
		Condition:   `change is "variable masking" and to is false`,
		Reference:   refCIVariables,
		match:       variableFlagOff("variable masking", "masked"),
	},
	{
		ID: "GLD-072", Name: "CI/CD variable created (protection unknown)",
		Indicator: IndicatorSecretExposure, Severity: SeverityLow, Techniques: []string{"T1552"}, Tactics: []string{"TA0006"},
		Description: "A CI/CD variable was created. GitLab's event does not say whether it is protected or masked, and the receiver could not look the variable up, so an unprotected secret cannot be told apart; check the variable.",
		Fields:      []string{"gitlab.enrichment.status"},
		EventTypes:  variableCreatedTypes,
		Condition:   "the variable's protected flag is not known (enrichment status is not ok, or the fact is absent); the note says so, with the status. With the fact, GLD-074 decides",
		Reference:   refCIVariables,
		Enrichment:  []string{"gitlab.ci_variable.protected (fallback when unknown)"},
		match:       variableProtectionUnknown,
	},
	{
		ID: "GLD-074", Name: "CI/CD variable created or left unprotected",
		Indicator: IndicatorSecretExposure, Severity: SeverityHigh, Techniques: []string{"T1552"}, Tactics: []string{"TA0006"},
		Description: "A project, group or instance CI/CD variable was created or updated and is not protected: pipelines on any branch, including a developer's, can read it (the KYRA guide's ci_variable_created with protected: false). Raised when it is not masked either, so its value can also appear in job logs.",
		Fields:      []string{"gitlab.ci_variable.protected", "gitlab.ci_variable.masked"},
		EventTypes:  append(append([]string{}, variableCreatedTypes...), variableUpdatedTypes...),
		Condition:   "enrichment status ok and gitlab.ci_variable.protected is false; unknown: no match (GLD-072 covers creations)",
		Reference:   refCIVariables,
		Raised:      "gitlab.ci_variable.masked is false too",
		Enrichment:  []string{"gitlab.ci_variable.protected", "gitlab.ci_variable.masked"},
		grade:       unprotectedVariable,
	},
	{
		ID: "GLD-073", Name: "CI/CD variable read through the API",
		Indicator: IndicatorSecretExposure, Severity: SeverityLow, Techniques: []string{"T1552"}, Tactics: []string{"TA0006"},
		Description: "The value of a CI/CD variable was read through the API.",
		EventTypes:  []string{"variable_viewed_api"},
		Condition:   "always",
		Reference:   refCIVariables,
		NoLegacy:    noLegacyStream,
	},

	{
		ID: "GLD-075", Name: "Secrets manager secret read by a job",
		Indicator: IndicatorSecretExposure, Severity: SeverityInfo, Techniques: []string{"T1555.006"}, Tactics: []string{"TA0006"},
		Description: "A CI/CD job (or another workload) read the value of a project or group secret from GitLab's secrets manager (OpenBao). Routine for pipelines that use it; informational, for hunting the jobs and branches that read a secret.",
		EventTypes:  []string{"secrets_manager_read_project_secret", "secrets_manager_read_group_secret"},
		Condition:   "always",
		Reference:   refSecretsManager,
		NoLegacy:    noLegacyStream,
	},
	{
		ID: "GLD-076", Name: "Secrets manager secret created or changed",
		Indicator: IndicatorSecretExposure, Severity: SeverityLow, Techniques: []string{"T1565.001"}, Tactics: []string{"TA0040"},
		Description: "A project or group secret was created or its value or settings changed in GitLab's secrets manager: the jobs that read it now get the new value (a deploy credential swapped for one the attacker controls redirects deployments).",
		EventTypes: []string{
			"secrets_manager_create_project_secret", "secrets_manager_update_project_secret",
			"secrets_manager_create_group_secret", "secrets_manager_update_group_secret",
		},
		Condition: "always",
		Reference: refSecretsManager,
		NoLegacy:  noLegacyNoWording,
	},
	{
		ID: "GLD-077", Name: "Secrets manager secret deleted or secrets manager turned off",
		Indicator: IndicatorDataDestruction, Severity: SeverityMedium, Techniques: []string{"T1485"}, Tactics: []string{"TA0040"},
		Description: "A project or group secret was deleted from GitLab's secrets manager, or a namespace or the instance was unenrolled from it: pipelines that read the secrets fail, and the values are gone.",
		EventTypes: []string{
			"secrets_manager_delete_project_secret", "secrets_manager_delete_group_secret",
			"secrets_manager_namespace_unenroll", "secrets_manager_instance_unenroll",
		},
		Condition: "always",
		Reference: refSecretsManager,
		NoLegacy:  noLegacyNoWording,
	},

	// ---- data_destruction ----
	{
		ID: "GLD-080", Name: "Project permanently deleted",
		Indicator: IndicatorDataDestruction, Severity: SeverityHigh, Techniques: []string{"T1485"}, Tactics: []string{"TA0040"},
		Description: "A project was permanently deleted (the event is recorded on the parent group).",
		EventTypes:  []string{"project_destroyed"},
		Condition:   "always",
		Reference:   refAuditTypes,
	},
	{
		ID: "GLD-081", Name: "Project scheduled for deletion",
		Indicator: IndicatorDataDestruction, Severity: SeverityMedium, Techniques: []string{"T1485"}, Tactics: []string{"TA0040"},
		Description: "A project was marked for deletion; it is deleted after the retention period unless restored.",
		EventTypes:  []string{"project_deletion_marked"},
		Condition:   "always",
		Reference:   refAuditTypes,
	},
	{
		ID: "GLD-082", Name: "Group permanently deleted",
		Indicator: IndicatorDataDestruction, Severity: SeverityHigh, Techniques: []string{"T1485"}, Tactics: []string{"TA0040"},
		Description: "A group, with its subgroups and projects, was permanently deleted.",
		EventTypes:  []string{"group_destroyed"},
		Condition:   "always",
		Reference:   refAuditTypes,
	},
	{
		ID: "GLD-083", Name: "Group scheduled for deletion",
		Indicator: IndicatorDataDestruction, Severity: SeverityMedium, Techniques: []string{"T1485"}, Tactics: []string{"TA0040"},
		Description: "A group was marked for deletion.",
		EventTypes:  []string{"group_deletion_marked"},
		Condition:   "always",
		Reference:   refAuditTypes,
	},

	{
		ID: "GLD-084", Name: "Repository history rewritten",
		Indicator: IndicatorDataDestruction, Severity: SeverityHigh, Techniques: []string{"T1485", "T1070"}, Tactics: []string{"TA0040", "TA0005"},
		Description: "Text was replaced throughout a repository's history, or blobs were removed from it (GitLab's repository cleanup: \"Project text replaced\", \"Project blobs removed\" with the blob ids). Irreversible: every commit that held them is rewritten, which also removes the evidence of what was pushed. Legitimate after a leaked secret or an oversized file; otherwise destruction or a cover-up.",
		EventTypes:  []string{"project_text_replacement", "project_blobs_removal"},
		Condition:   "always",
		Reference:   refRewriteHistory,
		NoLegacy:    noLegacyNoWording,
	},

	// ---- credential_risk ----
	{
		ID: "GLD-090", Name: "Personal access token created",
		Indicator: IndicatorCredentialRisk, Severity: SeverityLow, Techniques: []string{"T1098.001"}, Tactics: []string{"TA0003"},
		Description: "A personal access token was created. GitLab's event carries neither the expiry nor the scopes; GLD-099 adds them when the receiver looked the token up.",
		Fields:      []string{"custom_message"},
		EventTypes:  []string{"personal_access_token_created"},
		Condition:   `custom_message does not start with "Attempted to create" (a failed creation)`,
		Reference:   refPAT,
		match: func(e *event, _ *ruleEnv) (bool, string) {
			return !hasPrefixFold(strings.TrimSpace(e.message()), "attempted to create"), ""
		},
	},
	{
		ID: "GLD-091", Name: "Project or group access token created",
		Indicator: IndicatorCredentialRisk, Severity: SeverityLow, Techniques: []string{"T1098.001"}, Tactics: []string{"TA0003"},
		Description: "A project or group access token (a bot user with a role) was created. The note gives the scopes and role GitLab writes in the message.",
		Fields:      []string{"custom_message"},
		EventTypes:  []string{"project_access_token_created", "group_access_token_created"},
		Condition:   "always; scopes and role read from custom_message (\"with scopes: [:api, ...] and Maintainer access level\") go to the note",
		Reference:   refPAT,
		NoLegacy:    noLegacyNoWording,
		match:       resourceTokenNote,
	},
	{
		ID: "GLD-092", Name: "Password reset sent to several emails (CVE-2023-7028)",
		Indicator: IndicatorCredentialRisk, Severity: SeverityCritical, Techniques: []string{"T1190", "T1098"}, Tactics: []string{"TA0001", "TA0003"},
		Description: "A password reset was requested with more than one email address, the exploitation pattern of CVE-2023-7028 (the reset link also goes to the attacker's address).",
		Fields:      []string{"target_details", "custom_message", "details.email"},
		EventTypes:  []string{"password_reset_requested"},
		Condition:   "target_details (or the message) holds two or more distinct email addresses",
		Reference:   refCVE20237028,
		match: func(e *event, _ *ruleEnv) (bool, string) {
			n := distinctEmails(e.str(fieldTargetDetails), e.message(), e.detailStr("email"))
			return n >= 2, ""
		},
	},
	{
		ID: "GLD-093", Name: "Administrator changed another user's password",
		Indicator: IndicatorCredentialRisk, Severity: SeverityMedium, Techniques: []string{"T1098"}, Tactics: []string{"TA0003"},
		Description: "A user's password was changed by someone else (an administrator): the account can be taken over.",
		Fields:      []string{"author_id", "target_id", "author_name", "target_details"},
		EventTypes:  []string{"user_password_updated"},
		Condition:   "the author is not the target user (ids, else names)",
		Reference:   refAuditTypes,
		match: func(e *event, _ *ruleEnv) (bool, string) {
			a, t := e.str(fieldAuthorID), e.str(fieldTargetID)
			if a != "" && t != "" {
				return a != t, ""
			}
			an, tn := e.str(fieldAuthorName), e.str(fieldTargetDetails)
			return an != "" && tn != "" && !strings.EqualFold(an, tn), ""
		},
	},
	{
		ID: "GLD-094", Name: "Account locked",
		Indicator: IndicatorCredentialRisk, Severity: SeverityMedium, Techniques: []string{"T1110"}, Tactics: []string{"TA0006"},
		Description: "A user's account was locked after too many failed sign-in attempts.",
		EventTypes:  []string{"user_access_locked"},
		Condition:   "always",
		Reference:   refAuditTypes,
	},
	{
		ID: "GLD-095", Name: "Failed sign-in",
		Indicator: IndicatorCredentialRisk, Severity: SeverityInfo, Techniques: []string{"T1110"}, Tactics: []string{"TA0006"},
		Description: "A sign-in failed (password, one-time password, WebAuthn or OmniAuth). Single failures are informational; GLD-100 correlates them.",
		EventTypes:  loginFailureTypes,
		Condition:   "always",
		Reference:   refAuditTypes,
		NoLegacy:    "failed sign-ins are written to the application log, not as audit events without a name",
	},
	{
		ID: "GLD-096", Name: "User email address changed",
		Indicator: IndicatorCredentialRisk, Severity: SeverityLow, Techniques: []string{"T1098"}, Tactics: []string{"TA0003"},
		Description: "A user's email address was changed, or a secondary address added; password resets go to the new address.",
		EventTypes:  []string{"user_email_address_updated", "email_created"},
		Condition:   "always",
		Reference:   refAuditTypes,
	},
	{
		ID: "GLD-097", Name: "Personal access token used from a new IP address",
		Indicator: IndicatorCredentialRisk, Severity: SeverityMedium, Techniques: []string{"T1078"}, Tactics: []string{"TA0001"},
		Description: "GitLab saw a personal access token used from an IP address it had not seen for that token: a stolen token is often used from elsewhere.",
		EventTypes:  []string{"personal_access_token_used_from_unseen_ip"},
		Condition:   "always",
		Reference:   refPAT,
		NoLegacy:    noLegacyStream,
	},
	{
		ID: "GLD-098", Name: "Sign-in from a new IP address",
		Indicator: IndicatorCredentialRisk, Severity: SeverityLow, Techniques: []string{"T1078"}, Tactics: []string{"TA0001"},
		Description: "A user signed in from an IP address GitLab had not seen for them.",
		EventTypes:  []string{"user_signed_in_from_unseen_ip"},
		Condition:   "always",
		Reference:   refAuditTypes,
		NoLegacy:    noLegacyNoWording,
	},

	{
		ID: "GLD-099", Name: "Access token with long or no expiry",
		Indicator: IndicatorCredentialRisk, Severity: SeverityMedium, Techniques: []string{"T1098.001"}, Tactics: []string{"TA0003"},
		Description: "A personal, project or group access token was created that expires more than token_max_lifetime after its creation, or never (the KYRA guide's personal_access_token_created with long expiry). Raised when it also carries a scope that writes code or packages or acts as an administrator, or, for project and group tokens, the Owner or Maintainer role.",
		Fields:      []string{"gitlab.token.expires_at", "gitlab.token.scopes", "gitlab.token.access_level", "custom_message", "Timestamp"},
		EventTypes:  []string{"personal_access_token_created", "project_access_token_created", "group_access_token_created"},
		Condition:   "enrichment status ok and gitlab.token.expires_at later than created_at + token_max_lifetime, or absent (never expires); failed creations excluded; unknown expiry: no match (GLD-090/GLD-091 stay)",
		Reference:   refPAT,
		Raised:      "a scope among api, sudo, admin_mode, write_repository, write_registry (looked up, or read from the resource token message), or an Owner/Maintainer access level",
		Enrichment:  []string{"gitlab.token.expires_at", "gitlab.token.scopes", "gitlab.token.access_level"},
		grade:       longLivedToken,
	},

	// ---- windowed rules ----
	{
		ID: "GLD-100", Name: "Brute force: failed sign-ins followed by a success",
		Indicator: IndicatorCredentialRisk, Severity: SeverityHigh, Techniques: []string{"T1110"}, Tactics: []string{"TA0006"},
		Description: "An account had windows.brute_force.failures failed sign-ins within windows.brute_force.window, then signed in successfully. The successful sign-in is tagged.",
		Fields:      []string{"author_id", "author_name", "target_id", "Timestamp"},
		EventTypes:  append(append([]string{}, loginFailureTypes...), loginSuccessTypes...),
		Condition:   "per account: at least failures login_failed_* / omniauth_login_failed events within window before an authenticated_with_* event",
		Reference:   refDetecting,
		Window:      windowBruteForce,
	},
	{
		ID: "GLD-101", Name: "Mass repository download or export",
		Indicator: IndicatorDataExposure, Severity: SeverityHigh, Techniques: []string{"T1213.003", "T1567"}, Tactics: []string{"TA0009", "TA0010"},
		Description: "One author downloaded, exported or cloned windows.mass_download.count distinct repositories within windows.mass_download.window. Every event from the threshold on is tagged.",
		Fields:      []string{"author_id", "author_name", "entity_path", "custom_message", "Timestamp"},
		EventTypes:  downloadTypes,
		Condition:   "per author: count distinct repositories (entity_path) of download/export events, and of git-upload-pack operations when include_git_clones, within window; fires at count (automation_count for automation accounts) when also above the author's usual peak × baseline.factor or without history; otherwise LOW",
		Reference:   refDetecting,
		Baseline:    true,
		Window:      windowMassDownload,
	},
	{
		ID: "GLD-102", Name: "Mass deletion of projects or groups",
		Indicator: IndicatorDataDestruction, Severity: SeverityHigh, Techniques: []string{"T1485"}, Tactics: []string{"TA0040"},
		Description: "One author deleted or scheduled for deletion windows.mass_deletion.count distinct projects or groups within windows.mass_deletion.window.",
		Fields:      []string{"author_id", "author_name", "target_details", "entity_path", "Timestamp"},
		EventTypes:  deletionTypes,
		Condition:   "per author: count distinct deleted projects/groups (target_details) within window; fires at count (automation_count for automation accounts) when also above the author's usual peak × baseline.factor or without history; otherwise LOW",
		Reference:   refDetecting,
		Baseline:    true,
		Window:      windowMassDeletion,
	},
	{
		ID: "GLD-103", Name: "Burst of token creation",
		Indicator: IndicatorCredentialRisk, Severity: SeverityMedium, Techniques: []string{"T1098.001"}, Tactics: []string{"TA0003"},
		Description: "One author created windows.token_burst.count access, deploy or agent tokens within windows.token_burst.window.",
		Fields:      []string{"author_id", "author_name", "custom_message", "Timestamp"},
		EventTypes:  tokenTypes,
		Condition:   "per author: count successful token creations within window; fires at count (automation_count for automation accounts) when also above the author's usual peak × baseline.factor or without history; otherwise LOW",
		Reference:   refDetecting,
		Baseline:    true,
		Window:      windowTokenBurst,
	},
	{
		ID: "GLD-104", Name: "Sign-in from a new country",
		Indicator: IndicatorCredentialRisk, Severity: SeverityMedium, Techniques: []string{"T1078"}, Tactics: []string{"TA0001"},
		Description: "A user signed in from a country none of their events came from in the last baseline.days days. The note gives both places and times. Needs geoip::databases.",
		Fields:      []string{"author_id", "target_id", "client.geo.country.iso_code", "client.geo.locality.name", "client.as.number", "Timestamp"},
		EventTypes:  loginSuccessTypes,
		Condition:   "per user: the sign-in's country is not among the countries of the user's places within baseline.days, and the user has a place from an earlier day; kept at LOW when the network (AS number) is one the user has used before (another exit of the user's VPN); users without an earlier day are not judged",
		Reference:   refDetecting,
		Baseline:    true,
		Window:      windowNewCountry,
	},
	{
		ID: "GLD-105", Name: "Impossible travel between two sign-ins",
		Indicator: IndicatorCredentialRisk, Severity: SeverityHigh, Techniques: []string{"T1078"}, Tactics: []string{"TA0001"},
		Description: "Two sign-ins of one user came from places farther apart than geoip::impossible_travel::max_speed_kmh (default 900 km/h, an airliner) allows in the time between them. Private and unknown addresses are ignored. The note gives both places, both times, the distance and the speed. Needs geoip::databases.",
		Fields:      []string{"author_id", "target_id", "client.geo.location.lat", "client.geo.location.lon", "client.as.number", "Timestamp"},
		EventTypes:  loginSuccessTypes,
		Condition:   "per user: distance to the previous located sign-in above min_distance_km and speed above max_speed_kmh; kept at LOW when the user has no earlier day, when the new place is one the user has been seen at (two offices), or when its network is one the user has used before (VPN exits)",
		Reference:   refDetecting,
		Baseline:    true,
		Window:      windowImpossibleTravel,
	},
	{
		ID: "GLD-106", Name: "Admin Mode or repository operation from a new country",
		Indicator: IndicatorCredentialRisk, Severity: SeverityMedium, Techniques: []string{"T1078"}, Tactics: []string{"TA0001"},
		Description: "A user enabled Admin Mode, or cloned, pushed or downloaded a repository, from a country none of their events came from in the last baseline.days days (Falco's two rules, against the user's own places instead of a fixed country list). A stolen token used from abroad shows here without any sign-in. Needs geoip::databases.",
		Fields:      []string{"author_id", "client.geo.country.iso_code", "client.geo.locality.name", "client.as.number", "Timestamp"},
		EventTypes:  geoSensitiveTypes,
		Condition:   "per user: the event's country is not among the user's places within baseline.days, and the user has a place from an earlier day; kept at LOW when the network is one the user has used before",
		Reference:   refDetecting,
		NoLegacy:    noLegacyNoWording,
		Raised:      "the event is user_enable_admin_mode",
		Baseline:    true,
		Window:      windowGeoSensitive,
	},
}

// --- condition helpers ---

func isAuthenticatorRemoval(msg string) bool {
	msg = strings.TrimSpace(msg)
	return hasPrefixFold(msg, "disabled one-time password authenticator") || hasPrefixFold(msg, "deleted webauthn device")
}

// toIs matches change events whose new value is the boolean want.
func toIs(want bool) matchFunc {
	return func(e *event, _ *ruleEnv) (bool, string) {
		_, to := e.changeValues()
		b, ok := parseBool(to)
		return ok && b == want, ""
	}
}

// visibilityTo matches visibility changes to want from another level.
func visibilityTo(want visibility) matchFunc {
	return func(e *event, _ *ruleEnv) (bool, string) {
		from, to := e.changeValues()
		return parseVisibility(to) == want && parseVisibility(from) != want, ""
	}
}

// variableFlagOff matches a CI/CD variable change turning one of its flags off.
func variableFlagOff(labels ...string) matchFunc {
	return func(e *event, _ *ruleEnv) (bool, string) {
		c := strings.ToLower(strings.TrimSpace(e.detailStr("change")))
		for _, l := range labels {
			if c == l {
				_, to := e.changeValues()
				b, ok := parseBool(to)
				return ok && !b, ""
			}
		}
		return false, ""
	}
}

var samlChangeRE = regexp.MustCompile(`(?i)\b(enforced_sso|enabled) changed from (\S+?) to (\S+?)(?:[,.;]|\s|$)`)

func samlEnforcementOff(e *event, _ *ruleEnv) (bool, string) {
	for _, m := range samlChangeRE.FindAllStringSubmatch(e.message(), -1) {
		if strings.EqualFold(m[2], "true") && strings.EqualFold(m[3], "false") {
			return true, ""
		}
	}
	switch strings.ToLower(e.detailStr("change")) {
	case "enforced_sso", "enabled":
		_, to := e.changeValues()
		b, ok := parseBool(to)
		return ok && !b, ""
	}
	return false, ""
}

var groupAccessRE = regexp.MustCompile(`(?i)group_access from (.+?) to (.+?)\.?$`)

// grantedRole returns the role a member event grants when it is a grant
// or a promotion. The new role is read from "to", else "as" (member
// events write "Default role: X" there, custom roles "Custom role: X",
// older events a bare name), else from the group link message ("Changed
// ... group_access from Developer to Maintainer"). The previous role comes
// from "from" (a bare name) and must be different and, for default roles,
// lower.
func grantedRole(e *event) (role, bool) {
	if !e.roleDone {
		e.roleDone = true
		e.role, e.roleOK = computeGrantedRole(e)
	}
	return e.role, e.roleOK
}

func computeGrantedRole(e *event) (role, bool) {
	toText, fromText := e.detailStr("to"), e.detailStr("from")
	if toText == "" {
		toText = e.detailStr("as")
	}
	if toText == "" {
		if m := groupAccessRE.FindStringSubmatch(strings.TrimSpace(e.message())); m != nil {
			fromText, toText = m[1], m[2]
		}
	}
	to, ok := parseRole(toText)
	if !ok {
		return role{}, false
	}
	from, hadFrom := parseRole(fromText)
	if strings.HasSuffix(e.typ, "_created") {
		hadFrom = false
	}
	if !promotedTo(from, hadFrom, to) {
		return role{}, false
	}
	return to, true
}
