// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package auditevent

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestResolveTypeFlat(t *testing.T) {
	tests := []struct {
		name, body string
		want       string
		src        Source
	}{
		{"flat visibility", `{"entity_type":"Project","change":"visibility","from":"Private","to":"Public","target_type":"Project"}`, "project_visibility_level_updated", SourceInferred},
		{"flat sign-in", `{"author_id":1,"with":"standard","target_type":"User"}`, "authenticated_with_password", SourceInferred},
		{"flat remove project", `{"entity_type":"Group","remove":"project"}`, "project_destroyed", SourceInferred},
		{"flat with event_name", `{"event_name":"add_ssh_key","custom_message":"Added SSH key"}`, "add_ssh_key", SourceEventName},
		{"nested wins", `{"details":{"custom_message":"Project archived"},"change":"visibility"}`, "project_archived", SourceInferred},
		{"nested unknown stays default", `{"details":{"foo":1},"change":"visibility"}`, AuditOperation, SourceDefault},
		{"flat unknown", `{"severity":"INFO","message":"hello"}`, AuditOperation, SourceDefault},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, src := ResolveTypeFlat(bodyOf(t, tt.body), "")
			assert.Equal(t, tt.want, got)
			assert.Equal(t, tt.src, src)
		})
	}
}

func TestMoreLegacyLabels(t *testing.T) {
	tests := []struct {
		name, body string
		want       string
	}{
		{"group 2fa requirement", `{"entity_type":"Group","details":{"change":"require_two_factor_authentication","from":"true","to":"false"}}`, "group_require_two_factor_authentication_updated"},
		{"group 2fa grace", `{"entity_type":"Group","details":{"change":"two_factor_grace_period","from":"48","to":"720"}}`, "group_two_factor_grace_period_updated"},
		{"reset approvals label", `{"entity_type":"Project","details":{"change":"require new approvals when new commits are added to an MR","from":"true","to":"false"}}`, "project_reset_approvals_on_push_updated"},
		{"overriding approvers", `{"entity_type":"Project","details":{"change":"prevent users from modifying MR approval rules in merge requests","from":"true","to":"false"}}`, "project_disable_overriding_approvers_per_merge_request_updated"},
		{"password for approvals", `{"entity_type":"Project","details":{"change":"require user password for approvals","from":"true","to":"false"}}`, "project_require_password_to_approve_updated"},
		{"force push", `{"entity_type":"Project","details":{"change":"allow force push","from":"false","to":"true","target_type":"ProtectedBranch"}}`, "protected_branch_allow_force_push_updated"},
		{"code owner", `{"entity_type":"Project","details":{"change":"code owner approval required","from":"true","to":"false"}}`, "protected_branch_code_owner_approval_required_updated"},
		{"push access", `{"entity_type":"Project","details":{"change":"allowed to push","from":"[\"Maintainers\"]","to":"[\"Developers + Maintainers\"]"}}`, "protected_branch_updated"},
		{"group secret push protection", `{"entity_type":"Group","details":{"custom_message":"Secret push protection has been disabled for group acme and all of its inherited groups/projects"}}`, "group_secret_push_protection_updated"},
		{"project secret push protection", `{"entity_type":"Project","details":{"custom_message":"Secret push protection has been disabled"}}`, "project_security_setting_updated"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, src := ResolveType(bodyOf(t, tt.body), "")
			assert.Equal(t, tt.want, got)
			assert.Equal(t, SourceInferred, src)
		})
	}
	for label, name := range moreChangeLabels {
		assert.True(t, Known(name), "label %q names unknown type %q", label, name)
	}
}
