// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package auditevent

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
)

func TestCatalogLoads(t *testing.T) {
	all := All()
	require.Len(t, all, 535)
	for _, ti := range all {
		assert.NotEmpty(t, ti.FeatureCategory, ti.Name)
		assert.Contains(t, Categories, ti.Category, ti.Name)
	}
	ti, ok := Lookup("user_disable_two_factor")
	require.True(t, ok)
	assert.Equal(t, "system_access", ti.FeatureCategory)
	assert.True(t, ti.SavedToDatabase)
	assert.Equal(t, CategoryAuthentication, ti.Category)

	ti, ok = Lookup("repository_git_operation")
	require.True(t, ok)
	assert.False(t, ti.SavedToDatabase, "stream-only type")
}

func TestParseCatalogErrors(t *testing.T) {
	_, err := parseCatalog("")
	require.Error(t, err)
	_, err = parseCatalog("nom\tfeature_category\nx\ty\n")
	require.ErrorContains(t, err, `column 1 is "nom"`)
	hdr := "name\tfeature_category\tsaved_to_database\tstreamed\tdescription\tintroduced_in\tscope\n"
	_, err = parseCatalog(hdr + "a\tb\n")
	require.ErrorContains(t, err, "line 2")
	_, err = parseCatalog(hdr + "a\tb\tyes\tyes\td\t1\tGroup\na\tb\tyes\tyes\td\t1\tGroup\n")
	require.ErrorContains(t, err, "duplicate")
}

func TestEveryTypeHasACategory(t *testing.T) {
	counts := map[Category]int{}
	for _, ti := range All() {
		counts[CategoryOf(ti.Name)]++
	}
	for _, c := range Categories {
		assert.Positive(t, counts[c], "category %s has no event type", c)
	}
}

func TestOverridesAndAliasesNameCatalogTypes(t *testing.T) {
	for name := range typeCategories {
		_, ok := loadCatalog().byName[name]
		assert.True(t, ok, "category override for unknown type %q", name)
	}
	for old, cur := range aliases {
		_, ok := loadCatalog().byName[cur]
		assert.True(t, ok, "alias %q points at unknown type %q", old, cur)
		if ti, ok := loadCatalog().byName[old]; ok {
			assert.Contains(t, ti.Description, "Deprecated", "alias %q is a current catalogued name", old)
		}
	}
	for _, p := range messagePrefixes {
		assert.True(t, Known(p.name), "message rule names unknown type %q", p.name)
	}
}

func TestCategoryExamplesFromTheGuide(t *testing.T) {
	for name, want := range map[string]Category{
		"authenticated_with_password":      CategoryAuthentication,
		"user_disable_two_factor":          CategoryAuthentication,
		"member_created":                   CategoryAuthorization,
		"member_destroyed":                 CategoryAuthorization,
		"member_updated":                   CategoryAuthorization,
		"project_created":                  CategoryRepository,
		"project_destroyed":                CategoryRepository,
		"repository_download_operation":    CategoryRepository,
		"ci_variable_created":              CategoryCICD,
		"ci_runner_registered":             CategoryCICD,
		"merge_request_approval_operation": CategoryCompliance,
		"protected_branch_created":         CategoryCompliance,
		"update_approval_rules":            CategoryCompliance,
		"deploy_key_added":                 CategorySecurity,
		"personal_access_token_created":    CategorySecurity,
		"add_ssh_key":                      CategorySecurity,
		"project_group_link_create":        CategoryAuthorization, // alias
		"some_future_runner_thing":         CategoryCICD,          // not catalogued: guessed
		"audit_operation":                  CategoryOther,
		"":                                 CategoryOther,
	} {
		assert.Equal(t, want, CategoryOf(name), name)
	}
}

func bodyOf(t *testing.T, js string) pcommon.Map {
	t.Helper()
	var raw map[string]any
	require.NoError(t, json.Unmarshal([]byte(js), &raw))
	m := pcommon.NewMap()
	require.NoError(t, m.FromRaw(raw))
	return m
}

func TestResolveType(t *testing.T) {
	tests := []struct {
		name, body, hint string
		want             string
		src              Source
	}{
		{"stream event_type", `{"event_type":"repository_git_operation","details":{}}`, "", "repository_git_operation", SourceEventType},
		{"rest event_name", `{"event_name":"member_created","details":{"event_name":"member_created"}}`, "", "member_created", SourceEventName},
		{"details event_name only", `{"details":{"event_name":"user_disable_two_factor"}}`, "", "user_disable_two_factor", SourceDetailsEventName},
		{"null event_name falls through", `{"event_name":null,"details":{"event_name":"add_ssh_key"}}`, "", "add_ssh_key", SourceDetailsEventName},
		{"alias canonicalised", `{"event_type":"project_group_link_create"}`, "", "project_group_link_created", SourceEventType},
		{"header hint", `{"details":{}}`, "deploy_key_added", "deploy_key_added", SourceHeader},
		{"audit_operation refined by message", `{"event_type":"audit_operation","details":{"custom_message":"Approved merge request","target_type":"MergeRequest"}}`, "", "merge_request_approval_operation", SourceInferred},
		{"audit_operation kept", `{"event_type":"audit_operation","details":{"custom_message":"Something new"}}`, "", "audit_operation", SourceDefault},
		{"legacy sign-in", `{"details":{"with":"standard","target_type":"User"}}`, "", "authenticated_with_password", SourceInferred},
		{"legacy ldap", `{"details":{"with":"ldapmain"}}`, "", "authenticated_with_ldap", SourceInferred},
		{"legacy 2fa sign-in", `{"details":{"with":"two-factor"}}`, "", "authenticated_with_two_factor", SourceInferred},
		{"legacy webauthn sign-in", `{"details":{"with":"two-factor-via-webauthn"}}`, "", "authenticated_with_webauthn", SourceInferred},
		{"legacy omniauth", `{"details":{"with":"github"}}`, "", "authenticated_with_oauth", SourceInferred},
		{"legacy member added", `{"entity_type":"Group","details":{"add":"user_access","as":"Owner"}}`, "", "member_created", SourceInferred},
		{"legacy member removed", `{"details":{"remove":"user_access"}}`, "", "member_destroyed", SourceInferred},
		{"legacy group added", `{"entity_type":"Group","details":{"add":"group"}}`, "", "group_created", SourceInferred},
		{"legacy project removed", `{"details":{"remove":"project"}}`, "", "project_destroyed", SourceInferred},
		{"legacy access level", `{"details":{"change":"access_level","from":"Developer","to":"Owner"}}`, "", "member_updated", SourceInferred},
		{"legacy project visibility", `{"entity_type":"Project","details":{"change":"visibility","from":"Private","to":"Public"}}`, "", "project_visibility_level_updated", SourceInferred},
		{"legacy group visibility", `{"entity_type":"Group","details":{"change":"visibility","from":"Private","to":"Public"}}`, "", "group_visibility_level_updated", SourceInferred},
		{"legacy email", `{"details":{"change":"email address","from":"a@x","to":"b@x"}}`, "", "user_email_address_updated", SourceInferred},
		{"legacy committers approval", `{"details":{"change":"prevent merge request approval from committers","from":"","to":"true"}}`, "", "project_merge_requests_disable_committers_approval_updated", SourceInferred},
		{"legacy variable protection group", `{"entity_type":"Group","details":{"change":"variable protection","from":"true","to":"false","target_type":"Ci::GroupVariable"}}`, "", "ci_group_variable_updated", SourceInferred},
		{"legacy variable added", `{"entity_type":"Project","details":{"add":"ci_variable","target_type":"Ci::Variable"}}`, "", "ci_variable_created", SourceInferred},
		{"message archived", `{"details":{"custom_message":"Project archived"}}`, "", "project_archived", SourceInferred},
		{"message group deletion", `{"details":{"custom_message":"Group marked for deletion"}}`, "", "group_deletion_marked", SourceInferred},
		{"message password reset", `{"details":{"custom_message":"Ask for password reset","target_details":"[\"a@x\",\"b@y\"]"}}`, "", "password_reset_requested", SourceInferred},
		{"message impersonation", `{"details":{"custom_message":"Started Impersonation"}}`, "", "user_impersonation", SourceInferred},
		{"message visibility", `{"entity_type":"Project","details":{"custom_message":"Changed visibility_level from Private to Public"}}`, "", "project_visibility_level_updated", SourceInferred},
		{"message instance header", `{"entity_type":"Gitlab::Audit::InstanceScope","details":{"custom_message":"Created custom HTTP header with key X-arg.","target_type":"AuditEvents::Streaming::InstanceHeader"}}`, "", "audit_events_streaming_instance_headers_create", SourceInferred},
		{"git operation object", `{"details":{"custom_message":{"protocol":"ssh","action":"git-upload-pack"}}}`, "", "repository_git_operation", SourceInferred},
		{"nothing", `{"details":{"foo":"bar"}}`, "", "audit_operation", SourceDefault},
		{"no details", `{"id":1}`, "", "audit_operation", SourceDefault},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, src := ResolveType(bodyOf(t, tt.body), tt.hint)
			assert.Equal(t, tt.want, got)
			assert.Equal(t, tt.src, src)
			assert.Equal(t, tt.src.Inferred(), src == SourceInferred || src == SourceDefault)
			if got != AuditOperation {
				assert.True(t, Known(got), "resolved to uncatalogued type %q", got)
			}
		})
	}
}

func TestAliases(t *testing.T) {
	assert.Equal(t, "project_group_link_created", Canonical("project_group_link_create"))
	assert.Equal(t, "member_created", Canonical("member_created"))
	assert.Contains(t, Aliases("user_profile_visibility_updated"), "user_profile_visiblity_updated")
}

func BenchmarkResolveType(b *testing.B) {
	m := pcommon.NewMap()
	_ = m.FromRaw(map[string]any{"id": 1, "event_name": "member_created", "details": map[string]any{"event_name": "member_created", "add": "user_access"}})
	b.ReportAllocs()
	for b.Loop() {
		_, _ = ResolveType(m, "")
	}
}
