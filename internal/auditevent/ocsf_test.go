// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package auditevent

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
)

// ocsfCase is one expected classification: the class uid, the activity id
// and its caption in that class (OCSF 1.8.0), the status id.
type ocsfCase struct {
	name     string
	class    int
	activity int
	caption  string
	status   OCSFStatus
}

func checkOCSF(t *testing.T, tc ocsfCase, got OCSF) {
	t.Helper()
	assert.Equal(t, tc.class, int(got.Class), "%s: class_uid", tc.name)
	assert.Equal(t, tc.activity, got.Activity, "%s: activity_id", tc.name)
	caption, ok := OCSFActivityCaption(got.Class, got.Activity)
	assert.True(t, ok, "%s: activity %d is not defined in class %d", tc.name, got.Activity, got.Class)
	assert.Equal(t, tc.caption, caption, "%s: activity caption", tc.name)
	assert.Equal(t, tc.status, got.Status, "%s: status_id", tc.name)
	assert.Equal(t, tc.class/1000, got.CategoryUID(), "%s: category_uid", tc.name)
	assert.Equal(t, tc.class*100+tc.activity, got.TypeUID(), "%s: type_uid", tc.name)
}

// TestOCSFByClassAndActivity covers every class and every activity the
// catalogue uses, one or more types each.
func TestOCSFByClassAndActivity(t *testing.T) {
	const (
		authentication = 3002
		accountChange  = 3001
		entity         = 3004
		userAccess     = 3005
		group          = 3006
		api            = 6003
	)
	success, failure, unknown := OCSFStatusSuccess, OCSFStatusFailure, OCSFStatusUnknown
	tests := []ocsfCase{
		// Authentication (3002): sign-ins and their failures.
		{"authenticated_with_password", authentication, 1, "Logon", success},
		{"authenticated_with_two_factor", authentication, 1, "Logon", success},
		{"authenticated_with_webauthn", authentication, 1, "Logon", success},
		{"authenticated_with_ldap", authentication, 1, "Logon", success},
		{"authenticated_with_oauth", authentication, 1, "Logon", success},
		{"authenticated_with_group_saml", authentication, 1, "Logon", success},
		{"smartcard_authentication_created", authentication, 1, "Logon", success},
		{"user_signed_in_from_unseen_ip", authentication, 1, "Logon", success},
		{"personal_access_token_used_from_unseen_ip", authentication, 1, "Logon", success},
		{"login_failed_with_standard_authentication", authentication, 1, "Logon", failure},
		{"login_failed_with_otp_authentication", authentication, 1, "Logon", failure},
		{"login_failed_with_webauthn_authentication", authentication, 1, "Logon", failure},
		{"omniauth_login_failed", authentication, 1, "Logon", failure},
		{"user_impersonation", authentication, 7, "Account Switch", unknown},
		{"user_enable_admin_mode", authentication, 99, "Other", unknown},

		// Account Change (3001): the user's own 2FA, password, keys and
		// tokens; the account lifecycle; custom roles.
		{"user_enable_two_factor", accountChange, 10, "MFA Factor Enable", unknown},
		{"user_disable_two_factor", accountChange, 11, "MFA Factor Disable", unknown},
		{"user_password_updated", accountChange, 3, "Password Change", unknown},
		{"password_reset_requested", accountChange, 4, "Password Reset", unknown},
		{"password_reset_failed", accountChange, 4, "Password Reset", failure},
		{"user_access_locked", accountChange, 9, "Lock", unknown},
		{"user_access_unlocked", accountChange, 12, "Unlock", unknown},
		{"user_created", accountChange, 1, "Create", unknown},
		{"member_role_created", accountChange, 1, "Create", unknown},
		{"inactive_scim_user_cannot_be_added", accountChange, 1, "Create", failure},
		{"user_approved", accountChange, 2, "Enable", unknown},
		{"unblock_user", accountChange, 2, "Enable", unknown},
		{"user_blocked", accountChange, 5, "Disable", unknown},
		{"ban_user", accountChange, 5, "Disable", unknown},
		{"user_destroyed", accountChange, 6, "Delete", unknown},
		{"custom_admin_role_deleted", accountChange, 6, "Delete", unknown},
		{"add_ssh_key", accountChange, 99, "Other", unknown},
		{"add_gpg_key", accountChange, 99, "Other", unknown},
		{"personal_access_token_created", accountChange, 99, "Other", unknown},
		{"personal_access_token_revoked", accountChange, 99, "Other", unknown},
		{"user_email_address_updated", accountChange, 99, "Other", unknown},

		// User Access Management (3005): a user's privileges.
		{"member_created", userAccess, 1, "Assign Privileges", unknown},
		{"member_updated", userAccess, 1, "Assign Privileges", unknown},
		{"member_destroyed", userAccess, 2, "Revoke Privileges", unknown},
		{"custom_admin_role_assigned_to_user", userAccess, 1, "Assign Privileges", unknown},
		{"admin_role_assigned_to_user", userAccess, 1, "Assign Privileges", unknown}, // alias
		{"custom_admin_role_unassigned_from_user", userAccess, 2, "Revoke Privileges", unknown},
		{"change_membership_state", userAccess, 99, "Other", unknown},

		// Group Management (3006): users added to groups, groups given
		// privileges.
		{"group_saml_member_added", group, 3, "Add User", unknown},
		{"project_group_link_created", group, 1, "Assign Privileges", unknown},
		{"project_group_link_create", group, 1, "Assign Privileges", unknown}, // alias
		{"group_share_with_group_link_updated", group, 1, "Assign Privileges", unknown},
		{"group_share_with_group_link_removed", group, 2, "Revoke Privileges", unknown},
		{"saml_group_links_removed", group, 2, "Revoke Privileges", unknown},

		// Entity Management (3004): projects, groups, variables, runners,
		// hooks, deploy keys and tokens.
		{"project_created", entity, 1, "Create", unknown},
		{"group_created", entity, 1, "Create", unknown},
		{"ci_variable_created", entity, 1, "Create", unknown},
		{"webhook_created", entity, 1, "Create", unknown},
		{"deploy_key_added", entity, 1, "Create", unknown},
		{"project_access_token_created", entity, 1, "Create", unknown},
		{"deploy_token_creation_failed", entity, 1, "Create", failure},
		{"cluster_agent_create_failed", entity, 1, "Create", failure},
		{"variable_viewed_api", entity, 2, "Read", unknown},
		{"project_export_file_download_started", entity, 2, "Read", unknown},
		{"group_export_created", entity, 2, "Read", unknown},
		{"project_visibility_level_updated", entity, 3, "Update", unknown},
		{"group_require_two_factor_authentication_updated", entity, 3, "Update", unknown},
		{"ci_group_variable_updated", entity, 3, "Update", unknown},
		{"application_setting_updated", entity, 3, "Update", unknown},
		{"emails_enabled_updated", entity, 3, "Update", unknown},
		{"project_blobs_removal", entity, 3, "Update", unknown},
		{"project_destroyed", entity, 4, "Delete", unknown},
		{"project_deletion_marked", entity, 4, "Delete", unknown},
		{"group_destroyed", entity, 4, "Delete", unknown},
		{"ci_instance_variable_deleted", entity, 4, "Delete", unknown},
		{"webhook_destroyed", entity, 4, "Delete", unknown},
		{"deploy_key_removed", entity, 4, "Delete", unknown},
		{"project_access_token_deletion_failed", entity, 4, "Delete", failure},
		{"project_path_updated", entity, 5, "Move", unknown},
		{"project_namespace_updated", entity, 5, "Move", unknown},
		{"group_name_updated", entity, 5, "Move", unknown},
		{"ci_runner_registered", entity, 6, "Enroll", unknown},
		{"ci_runner_unregistered", entity, 7, "Unenroll", unknown},
		{"project_unarchived", entity, 8, "Enable", unknown},
		{"project_archived", entity, 9, "Disable", unknown},
		{"group_archived", entity, 9, "Disable", unknown},

		// API Activity (6003): the rest.
		{"merge_request_create", api, 1, "Create", unknown},
		{"compliance_framework_added", api, 1, "Create", unknown},
		{"repository_download_operation", api, 2, "Read", unknown},
		{"job_artifact_downloaded", api, 2, "Read", unknown},
		{"secrets_manager_read_project_secret", api, 2, "Read", unknown},
		{"ip_restricted_group_accessed", api, 2, "Read", unknown},
		{"merge_request_approval_operation", api, 3, "Update", unknown},
		{"protected_branch_updated", api, 3, "Update", unknown},
		{"update_approval_rules", api, 3, "Update", unknown},
		{"protected_branch_removed", api, 4, "Delete", unknown},
		{"destroy_event_streaming_destination", api, 4, "Delete", unknown},
		{"release_deleted_audit_event", api, 4, "Delete", unknown},
		{"security_policy_violations_detected", api, 99, "Other", unknown},
		{"security_policy_pipeline_failed", api, 99, "Other", failure},
		{"request_to_compliance_external_control_successful", api, 99, "Other", success},
		{"compliance_control_status_pass", api, 99, "Other", success},
		{"compliance_control_status_fail", api, 99, "Other", failure},
		{"repository_git_operation", api, 0, "Unknown", unknown}, // refined by the event
		{AuditOperation, api, 0, "Unknown", unknown},
	}
	classes := map[int]bool{}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			checkOCSF(t, tc, OCSFOf(tc.name))
			if ti, ok := Lookup(tc.name); ok {
				assert.Equal(t, ti.OCSF, OCSFOf(tc.name), "OCSFOf reads the catalogue")
			} else {
				assert.Equal(t, AuditOperation, tc.name, "the cases name catalogued types")
			}
		})
		classes[tc.class] = true
	}
	for _, c := range OCSFClasses {
		if c != OCSFBaseEvent {
			assert.True(t, classes[int(c)], "class %d (%s) has a case", c, c)
		}
	}
}

// TestOCSFRefine covers the types whose classification depends on the
// event.
func TestOCSFRefine(t *testing.T) {
	str := pcommon.NewValueStr
	gitOp := func(action string) pcommon.Value {
		v := pcommon.NewValueMap()
		v.Map().PutStr("protocol", "ssh")
		v.Map().PutStr("action", action)
		return v
	}
	boolean := pcommon.NewValueBool
	tests := []struct {
		typ   string
		facts OCSFFacts
		want  ocsfCase
	}{
		{"member_created", OCSFFacts{EntityType: "Group"}, ocsfCase{"group member added", 3006, 3, "Add User", 0}},
		{"member_destroyed", OCSFFacts{EntityType: "Group"}, ocsfCase{"group member removed", 3006, 4, "Remove User", 0}},
		{"member_created", OCSFFacts{EntityType: "Project"}, ocsfCase{"project member added", 3005, 1, "Assign Privileges", 0}},
		{"member_destroyed", OCSFFacts{EntityType: "Project"}, ocsfCase{"project member removed", 3005, 2, "Revoke Privileges", 0}},
		{"member_created", OCSFFacts{}, ocsfCase{"member added, entity unknown", 3005, 1, "Assign Privileges", 0}},
		{"user_admin_status_updated", OCSFFacts{To: boolean(true)}, ocsfCase{"admin granted (bool)", 3005, 1, "Assign Privileges", 0}},
		{"user_admin_status_updated", OCSFFacts{To: str("true")}, ocsfCase{"admin granted (REST string)", 3005, 1, "Assign Privileges", 0}},
		{"user_admin_status_updated", OCSFFacts{To: str("false")}, ocsfCase{"admin revoked", 3005, 2, "Revoke Privileges", 0}},
		{"user_auditor_status_updated", OCSFFacts{To: boolean(false)}, ocsfCase{"auditor revoked", 3005, 2, "Revoke Privileges", 0}},
		{"user_admin_status_updated", OCSFFacts{}, ocsfCase{"admin flag, no to", 3005, 0, "Unknown", 0}},
		{"repository_git_operation", OCSFFacts{Message: gitOp("git-upload-pack")}, ocsfCase{"clone (body object)", 6003, 2, "Read", 0}},
		{"repository_git_operation", OCSFFacts{Message: gitOp("git-receive-pack")}, ocsfCase{"push (body object)", 6003, 3, "Update", 0}},
		{"repository_git_operation", OCSFFacts{Message: str(`{"protocol":"http","action":"git-upload-archive"}`)}, ocsfCase{"archive (attribute JSON text)", 6003, 2, "Read", 0}},
		{"repository_git_operation", OCSFFacts{Message: str(`{"protocol":"http","action":"git-receive-pack"}`)}, ocsfCase{"push (attribute JSON text)", 6003, 3, "Update", 0}},
		{"repository_git_operation", OCSFFacts{Message: gitOp("git-lfs-something")}, ocsfCase{"unknown git action", 6003, 99, "Other", 0}},
		{"repository_git_operation", OCSFFacts{}, ocsfCase{"no message", 6003, 0, "Unknown", 0}},
		{"personal_access_token_created", OCSFFacts{Message: str("Attempted to create personal access token but failed with message: Name can't be blank")}, ocsfCase{"failed token creation", 3001, 99, "Other", OCSFStatusFailure}},
		{"personal_access_token_created", OCSFFacts{Message: str("Created personal access token with id 12")}, ocsfCase{"token created", 3001, 99, "Other", 0}},
		{"ci_runner_registered", OCSFFacts{Message: str("Failed to register project CI runner")}, ocsfCase{"runner registration failed", 3004, 6, "Enroll", OCSFStatusFailure}},
		{"ci_runner_registered", OCSFFacts{Message: str("Registered project CI runner")}, ocsfCase{"runner registered", 3004, 6, "Enroll", 0}},
		{"user_impersonation", OCSFFacts{Message: str("Started Impersonation")}, ocsfCase{"impersonation started", 3002, 7, "Account Switch", 0}},
		{"user_impersonation", OCSFFacts{Message: str("Stopped Impersonation")}, ocsfCase{"impersonation stopped", 3002, 2, "Logoff", 0}},
		{"ip_restricted_group_accessed", OCSFFacts{Allowed: boolean(true)}, ocsfCase{"IP allowed", 6003, 2, "Read", OCSFStatusSuccess}},
		{"ip_restricted_group_accessed", OCSFFacts{Allowed: str("false")}, ocsfCase{"IP denied", 6003, 2, "Read", OCSFStatusFailure}},
		{"ip_restricted_group_accessed", OCSFFacts{}, ocsfCase{"allowed unknown", 6003, 2, "Read", 0}},
		{"project_created", OCSFFacts{EntityType: "Group", Message: str("Failed to do it")}, ocsfCase{"no refinement", 3004, 1, "Create", 0}},
	}
	for _, tc := range tests {
		t.Run(tc.want.name, func(t *testing.T) {
			o := OCSFOf(tc.typ)
			if tc.want.name != "no refinement" {
				require.NotZero(t, o.Facts(), "%s depends on the event", tc.typ)
			} else {
				require.Zero(t, o.Facts())
			}
			got := o.Refine(tc.facts)
			checkOCSF(t, tc.want, got)
			assert.Contains(t, o.Variants(), got, "Variants lists what Refine gives")
		})
	}
}

// TestOCSFEveryCatalogedType checks the classification of every catalogued
// type against the schema: a class of the mapping, an activity the class
// defines; and that the notable table names real types.
func TestOCSFEveryCatalogedType(t *testing.T) {
	perClass := map[OCSFClass]int{}
	for _, ti := range All() {
		require.Equal(t, ti.OCSF, ti.OCSF.Variants()[0], ti.Name)
		for _, o := range ti.OCSF.Variants() {
			assert.Contains(t, OCSFClasses[:len(OCSFClasses)-1], o.Class, "%s: a GitLab event is never a Base Event", ti.Name)
			_, ok := OCSFActivityCaption(o.Class, o.Activity)
			assert.True(t, ok, "%s: activity %d is not defined in %s", ti.Name, o.Activity, o.Class)
			assert.Contains(t, []int{3, 6}, o.CategoryUID(), ti.Name)
			assert.Contains(t, []OCSFStatus{OCSFStatusUnknown, OCSFStatusSuccess, OCSFStatusFailure}, o.Status, ti.Name)
		}
		perClass[ti.OCSF.Class]++
	}
	for _, c := range OCSFClasses[:len(OCSFClasses)-1] {
		assert.Positive(t, perClass[c], "no type in %s", c)
	}
	for _, name := range OCSFNotableTypes() {
		assert.True(t, name == AuditOperation || Canonical(name) == name && Known(name), "notable type %q is not a current catalogue name", name)
	}
	for _, c := range OCSFClasses {
		for id := range ocsfActivities[c] {
			assert.True(t, id > 0 && id < 99, "%s: activity %d", c, id)
		}
	}
}

// TestOCSFUncataloguedNames classifies names of newer GitLab versions by
// their words, and records that are not GitLab events as Base Events.
func TestOCSFUncataloguedNames(t *testing.T) {
	tests := []ocsfCase{
		{"", 0, 0, "Unknown", 0},
		{"authenticated_with_passkey", 3002, 1, "Logon", OCSFStatusSuccess},
		{"login_failed_with_passkey_authentication", 3002, 1, "Logon", OCSFStatusFailure},
		{"user_passkey_login_failed", 3002, 1, "Logon", OCSFStatusFailure},
		{"user_password_expired", 3001, 99, "Other", 0},
		{"project_mirror_enabled", 3004, 8, "Enable", 0},
		{"group_widget_created", 3004, 1, "Create", 0},
		{"ci_runner_paused", 3004, 99, "Other", 0},
		{"deploy_token_rotated", 3004, 99, "Other", 0},
		{"member_invited", 3005, 99, "Other", 0},
		{"some_future_thing_created", 6003, 1, "Create", 0},
		{"some_future_thing_deleted", 6003, 4, "Delete", 0},
		{"some_future_report_downloaded", 6003, 2, "Read", 0},
		{"some_future_thing", 6003, 99, "Other", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			require.False(t, Known(tc.name))
			checkOCSF(t, tc, OCSFOf(tc.name))
		})
	}
}

func TestOCSFCaptions(t *testing.T) {
	assert.Equal(t, "Authentication", OCSFAuthentication.String())
	assert.Equal(t, "User Access Management", OCSFUserAccess.String())
	assert.Equal(t, "Base Event", OCSFBaseEvent.String())
	assert.Equal(t, "Failure", OCSFStatusFailure.String())
	_, ok := OCSFActivityCaption(OCSFUserAccess, 3)
	assert.False(t, ok, "User Access Management has no activity 3")
	c, ok := OCSFActivityCaption(OCSFBaseEvent, 0)
	assert.True(t, ok)
	assert.Equal(t, "Unknown", c)
}

// The notable table is data: a row it cannot read is an error naming the
// line, never a type silently classified otherwise.
func TestParseOCSFNotable(t *testing.T) {
	const header = "# comment\ntype\tclass\tactivity\tstatus\trefine\n"
	ok, err := parseOCSFNotable(header + "\nmember_created\tUser Access Management\tAssign Privileges\t\tmembership\nx_failed\tAuthentication\tLogon\tFailure\t\ny\tAPI Activity\tOther\tSuccess\t\n")
	require.NoError(t, err)
	assert.Equal(t, map[string]OCSF{
		"member_created": {Class: OCSFUserAccess, Activity: actAssignPrivileges, refine: refineMembership},
		"x_failed":       {Class: OCSFAuthentication, Activity: actAuthLogon, Status: OCSFStatusFailure},
		"y":              {Class: OCSFAPIActivity, Activity: ActivityOther, Status: OCSFStatusSuccess},
	}, ok)

	for _, tc := range []struct{ name, data, want string }{
		{"no header", "a\tAuthentication\tLogon\t\t\n", "line 1: unexpected header"},
		{"empty", "# only a comment\n", "no header"},
		{"columns", header + "a\tAuthentication\tLogon\n", "line 3: 3 columns, want 5"},
		{"class", header + "a\tAuthentification\tLogon\t\t\n", `line 3: unknown class "Authentification"`},
		{"activity of another class", header + "a\tAuthentication\tMFA Factor Enable\t\t\n", `class Authentication has no activity "MFA Factor Enable"`},
		{"status", header + "a\tAuthentication\tLogon\tDenied\t\n", `unknown status "Denied"`},
		{"refine", header + "a\tAuthentication\tLogon\t\tmaybe\n", `unknown refinement "maybe"`},
		{"twice", header + "a\tAuthentication\tLogon\t\t\na\tAuthentication\tLogoff\t\t\n", `line 4: type "a" empty or listed twice`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseOCSFNotable(tc.data)
			require.ErrorContains(t, err, tc.want)
		})
	}
}
