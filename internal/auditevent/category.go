// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package auditevent

import "strings"

// Category is the security-team grouping of an event type, the one the
// KYRA integration guide uses for GitLab audit events.
type Category string

// The categories, as shown in the gitlab.audit.category attribute.
const (
	CategoryAuthentication Category = "Authentication"
	CategoryAuthorization  Category = "Authorization"
	CategoryRepository     Category = "Repository"
	CategoryCICD           Category = "CI/CD"
	CategoryCompliance     Category = "Compliance"
	CategorySecurity       Category = "Security"
	CategoryOther          Category = "Other"
)

// Categories lists every category in a stable order.
var Categories = []Category{
	CategoryAuthentication, CategoryAuthorization, CategoryRepository,
	CategoryCICD, CategoryCompliance, CategorySecurity, CategoryOther,
}

// featureCategories maps GitLab's feature categories to a security category.
// Feature categories not listed here map to Other.
var featureCategories = map[string]Category{
	// Who signs in, and how.
	"system_access": CategoryAuthentication,

	// Who may do what.
	"user_management": CategoryAuthorization,
	"authorization":   CategoryAuthorization,
	"permissions":     CategoryAuthorization,

	// Code, projects and groups.
	"source_code_management": CategoryRepository,
	"groups_and_projects":    CategoryRepository,
	"code_review_workflow":   CategoryRepository,
	"code_review":            CategoryRepository,
	"importers":              CategoryRepository,
	"wiki":                   CategoryRepository,
	"pages":                  CategoryRepository,
	"container_registry":     CategoryRepository,
	"package_registry":       CategoryRepository,
	"virtual_registry":       CategoryRepository,

	// Pipelines, runners, deployments.
	"continuous_integration": CategoryCICD,
	"continuous_delivery":    CategoryCICD,
	"ci_variables":           CategoryCICD,
	"runner":                 CategoryCICD,
	"runner_core":            CategoryCICD,
	"fleet_visibility":       CategoryCICD,
	"environment_management": CategoryCICD,
	"deployment_management":  CategoryCICD,
	"build_artifacts":        CategoryCICD,
	"merge_trains":           CategoryCICD,
	"feature_flags":          CategoryCICD,
	"delivery":               CategoryCICD,

	// Compliance controls and the audit trail itself.
	"compliance_management":      CategoryCompliance,
	"audit_events":               CategoryCompliance,
	"security_policy_management": CategoryCompliance,

	// Secrets, keys, scanners.
	"secret_detection":                     CategorySecurity,
	"secrets_management":                   CategorySecurity,
	"dynamic_application_security_testing": CategorySecurity,
	"vulnerability_management":             CategorySecurity,
	"security_risk_management":             CategorySecurity,
	"verify_security":                      CategorySecurity,
	"security_testing_configuration":       CategorySecurity,
	"fuzz_testing":                         CategorySecurity,
	"user_profile":                         CategorySecurity,
	"webhooks":                             CategorySecurity,
}

// typeCategories overrides the feature-category mapping for types whose
// GitLab feature category says little about their security meaning. They
// follow the examples of the integration guide our users know: sign-ins and
// 2FA are Authentication, memberships are Authorization, project lifecycle
// and downloads are Repository, approvals and protected branches are
// Compliance, keys and tokens are Security.
var typeCategories = map[string]Category{
	"member_created":                      CategoryAuthorization,
	"member_updated":                      CategoryAuthorization,
	"member_destroyed":                    CategoryAuthorization,
	"group_saml_member_added":             CategoryAuthorization,
	"project_group_link_created":          CategoryAuthorization,
	"project_group_link_updated":          CategoryAuthorization,
	"project_group_link_deleted":          CategoryAuthorization,
	"group_share_with_group_link_created": CategoryAuthorization,
	"group_share_with_group_link_updated": CategoryAuthorization,
	"group_share_with_group_link_removed": CategoryAuthorization,
	"saml_group_links_created":            CategoryAuthorization,
	"saml_group_links_removed":            CategoryAuthorization,
	"user_admin_status_updated":           CategoryAuthorization,
	"user_auditor_status_updated":         CategoryAuthorization,

	"omniauth_login_failed":            CategoryAuthentication,
	"smartcard_authentication_created": CategoryAuthentication,
	"authenticated_with_group_saml":    CategoryAuthentication,
	"password_reset_requested":         CategoryAuthentication,
	"password_reset_failed":            CategoryAuthentication,
	"user_password_updated":            CategoryAuthentication,
	"user_impersonation":               CategoryAuthentication,

	"project_created":                         CategoryRepository,
	"project_destroyed":                       CategoryRepository,
	"project_deletion_marked":                 CategoryRepository,
	"inactive_project_scheduled_for_deletion": CategoryRepository,
	"project_export_file_download_started":    CategoryRepository,
	"repository_download_operation":           CategoryRepository,
	"public_repository_download_operation":    CategoryRepository,
	"repository_git_operation":                CategoryRepository,
	"release_deleted_audit_event":             CategoryRepository,

	"merge_request_approval_operation":                           CategoryCompliance,
	"project_merge_requests_author_approval_updated":             CategoryCompliance,
	"project_merge_requests_disable_committers_approval_updated": CategoryCompliance,
	"project_require_password_to_approve_updated":                CategoryCompliance,
	"project_reset_approvals_on_push_updated":                    CategoryCompliance,
	"protected_branch_created":                                   CategoryCompliance,
	"protected_branch_removed":                                   CategoryCompliance,
	"protected_branch_updated":                                   CategoryCompliance,
	"protected_branch_allow_force_push_updated":                  CategoryCompliance,
	"protected_branch_code_owner_approval_required_updated":      CategoryCompliance,
	"approval_rule_created":                                      CategoryCompliance,
	"approval_rule_deleted":                                      CategoryCompliance,

	"personal_access_token_created": CategorySecurity,
	"personal_access_token_revoked": CategorySecurity,
	"add_gpg_key":                   CategorySecurity,
	"remove_gpg_key":                CategorySecurity,
	"deploy_key_added":              CategorySecurity,
	"deploy_key_removed":            CategorySecurity,
	"deploy_token_created":          CategorySecurity,
	"deploy_token_revoked":          CategorySecurity,
	"deploy_token_destroyed":        CategorySecurity,
	"group_deploy_token_created":    CategorySecurity,
	"group_deploy_token_revoked":    CategorySecurity,
	"group_deploy_token_destroyed":  CategorySecurity,
	"group_access_token_created":    CategorySecurity,
	"group_access_token_deleted":    CategorySecurity,
	"project_access_token_created":  CategorySecurity,
	"project_access_token_deleted":  CategorySecurity,
	"cluster_agent_token_created":   CategorySecurity,
	"cluster_agent_token_revoked":   CategorySecurity,
	"create_ssh_certificate":        CategorySecurity,
	"delete_ssh_certificate":        CategorySecurity,
	"oauth_application_created":     CategorySecurity,
	"skip_secret_push_protection":   CategorySecurity,
	"ip_restrictions_changed":       CategorySecurity,
}

// categorize derives the category of a catalogued type.
func categorize(name, featureCategory string) Category {
	if c, ok := typeCategories[name]; ok {
		return c
	}
	if c, ok := featureCategories[featureCategory]; ok {
		return c
	}
	return CategoryOther
}

// CategoryOf returns the category of an event type name. Names missing from
// the catalogue (newer GitLab versions, legacy shapes) are categorised by
// their wording, and fall back to Other.
func CategoryOf(name string) Category {
	if ti, ok := Lookup(name); ok {
		return ti.Category
	}
	if c, ok := typeCategories[name]; ok {
		return c
	}
	return guessCategory(name)
}

// guessCategory categorises an uncatalogued name by its words.
func guessCategory(name string) Category {
	switch {
	case name == "" || name == AuditOperation:
		return CategoryOther
	case hasAny(name, "authenticated_with", "login", "sign_in", "signed_in", "two_factor", "otp", "webauthn", "password"):
		return CategoryAuthentication
	case hasAny(name, "member", "role", "admin", "impersonat", "group_link"):
		return CategoryAuthorization
	case hasAny(name, "ci_", "runner", "pipeline", "deploy", "environment", "job_"):
		return CategoryCICD
	case hasAny(name, "audit_event", "streaming", "compliance", "approval", "protected_branch", "policy"):
		return CategoryCompliance
	case hasAny(name, "token", "ssh", "gpg", "key", "secret", "vulnerab", "oauth"):
		return CategorySecurity
	case hasAny(name, "project", "repository", "merge_request", "branch", "group"):
		return CategoryRepository
	}
	return CategoryOther
}

func hasAny(s string, subs ...string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}
