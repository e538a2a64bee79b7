// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package gitlabsim

import (
	"encoding/json"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/kyra-mdr/otelcol-gitlab/internal/auditevent"
)

func TestDeterministicBySeed(t *testing.T) {
	run := func(seed uint64) []StoredEvent {
		s := New(Options{Seed: seed, LegacyShare: 0.2, SecurityShare: 0.1})
		out := s.Generate(3000, baseTime, baseTime.Add(time.Hour))
		out = append(out, s.Generate(10_000, baseTime.Add(time.Hour), baseTime.Add(2*time.Hour))...)
		se, err := s.GenerateType("member_created", baseTime.Add(3*time.Hour))
		require.NoError(t, err)
		return append(out, se)
	}
	a, b, c := run(42), run(42), run(43)
	require.Len(t, b, len(a))
	for i := range a {
		require.Equal(t, a[i], b[i], "event %d", i)
	}
	differ := 0
	for i := range min(len(a), len(c)) {
		if string(a[i].StreamJSON) != string(c[i].StreamJSON) {
			differ++
		}
	}
	assert.Greater(t, differ, len(a)/2)
}

func TestGenerateOrderAndSpread(t *testing.T) {
	s := New(Options{Seed: 1})
	from, to := baseTime, baseTime.Add(24*time.Hour)
	evs := s.Generate(20_000, from, to)
	require.Len(t, evs, 20_000)
	types := map[string]int{}
	var lastID int64
	var lastAt time.Time
	uuid := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	streamOnly := 0
	for _, e := range evs {
		types[e.Type]++
		require.False(t, e.CreatedAt.Before(lastAt), "created_at ascending")
		require.False(t, e.CreatedAt.Before(from) || e.CreatedAt.After(to))
		lastAt = e.CreatedAt
		if e.SavedToDatabase {
			require.Equal(t, lastID+1, e.ID, "ids are a sequence")
			lastID = e.ID
			require.NotNil(t, e.RESTJSON)
		} else {
			streamOnly++
			require.Zero(t, e.ID)
			require.Nil(t, e.RESTJSON)
			require.Regexp(t, uuid, e.StreamID)
		}
		require.True(t, json.Valid(e.StreamJSON), string(e.StreamJSON))
		require.True(t, e.RESTJSON == nil || json.Valid(e.RESTJSON), string(e.RESTJSON))
	}
	assert.Equal(t, int(lastID), s.EventCount())
	assert.Len(t, s.StreamOnlyEvents(), streamOnly)
	assert.Greater(t, len(types), 300, "spread over the catalogue")
	// The most frequent types are everyday noise.
	var top []string
	for name := range types {
		top = append(top, name)
	}
	slices.SortFunc(top, func(a, b string) int { return types[b] - types[a] })
	for _, name := range top[:5] {
		assert.Contains(t, noiseWeights, name)
	}
	assert.Less(t, types["user_admin_status_updated"], types["authenticated_with_password"]/20)
	// A default instance was populated.
	assert.Len(t, s.Groups(), DefaultGroups)
	assert.Len(t, s.Projects(), DefaultProjects)
	assert.NotEmpty(t, s.Users())
}

func TestGenerateOptions(t *testing.T) {
	s := New(Options{Seed: 2})
	saved := s.GenerateWith(GenerateOptions{Count: 2000, From: baseTime, To: baseTime.Add(time.Hour), SavedOnly: true})
	for _, e := range saved {
		require.True(t, e.SavedToDatabase, e.Type)
	}
	only := s.GenerateWith(GenerateOptions{Count: 300, From: baseTime, To: baseTime, Types: []string{"add_ssh_key", "repository_git_operation", "no_such_type"}})
	for _, e := range only {
		require.Contains(t, []string{"add_ssh_key", "repository_git_operation"}, e.Type)
		require.Equal(t, baseTime, e.CreatedAt)
	}
	// Reversed bounds are accepted.
	rev := s.GenerateWith(GenerateOptions{Count: 10, From: baseTime.Add(time.Hour), To: baseTime})
	assert.False(t, rev[0].CreatedAt.Before(baseTime))
	assert.Nil(t, s.Generate(0, baseTime, baseTime))

	_, err := s.BuildEvent("no_such_type", baseTime, false)
	require.ErrorIs(t, err, ErrUnknownType)
	_, err = s.GenerateType("no_such_type", time.Time{})
	require.Error(t, err)
	// Renamed names are accepted.
	ev, err := s.BuildEvent("project_group_link_create", baseTime, false)
	require.NoError(t, err)
	assert.Equal(t, "project_group_link_created", ev.Type)
}

func TestSecurityAndLegacyShares(t *testing.T) {
	share := func(s *Sim) (security, legacy float64) {
		evs := s.Generate(5000, baseTime, baseTime.Add(time.Hour))
		var sec, leg, capable int
		for _, e := range evs {
			if _, ok := securityWeights[e.Type]; ok {
				sec++
			}
			if legacyTemplates[e.Type] != nil {
				capable++
				if e.StreamType == auditevent.AuditOperation {
					leg++
					assertNullEventName(t, e.RESTJSON)
				}
			} else {
				assert.NotEqual(t, auditevent.AuditOperation, e.StreamType)
			}
		}
		return float64(sec) / float64(len(evs)), float64(leg) / float64(max(1, capable))
	}
	sec, leg := share(New(Options{Seed: 5}))
	assert.Less(t, sec, 0.1, "security changes are rare")
	assert.Zero(t, leg)
	sec, leg = share(New(Options{Seed: 5, SecurityShare: 0.5, LegacyShare: 0.3}))
	assert.Greater(t, sec, 0.45)
	assert.InDelta(t, 0.3, leg, 0.06)
}

// jsonMap parses a rendering into a pcommon.Map, as the receiver will.
func jsonMap(t *testing.T, b []byte) pcommon.Map {
	t.Helper()
	var raw map[string]any
	require.NoError(t, json.Unmarshal(b, &raw), string(b))
	m := pcommon.NewMap()
	require.NoError(t, m.FromRaw(raw))
	return m
}

func TestEveryCatalogueTypeResolves(t *testing.T) {
	s := New(Options{Seed: 9})
	for _, ti := range auditevent.All() {
		se, err := s.GenerateType(ti.Name, baseTime)
		require.NoError(t, err)
		require.Equal(t, ti.Name, se.Type)
		require.Equal(t, ti.SavedToDatabase, se.SavedToDatabase, ti.Name)
		name, src := auditevent.ResolveType(jsonMap(t, se.StreamJSON), se.StreamType)
		assert.Equal(t, auditevent.Canonical(ti.Name), name, "stream")
		assert.Equal(t, auditevent.SourceEventType, src)
		if ti.SavedToDatabase {
			name, src = auditevent.ResolveType(jsonMap(t, se.RESTJSON), "")
			assert.Equal(t, auditevent.Canonical(ti.Name), name, "REST")
			assert.Equal(t, auditevent.SourceEventName, src)
		}
	}
	// Legacy shapes carry no name; the receiver infers it from details.
	for name := range legacyTemplates {
		for range 10 {
			ev, err := s.BuildEvent(name, baseTime, true)
			require.NoError(t, err)
			require.True(t, ev.Legacy, name)
			se := s.Insert(ev)
			assertNullEventName(t, se.RESTJSON)
			got, src := auditevent.ResolveType(jsonMap(t, se.RESTJSON), "")
			assert.Equal(t, name, got, "legacy REST %s", se.RESTJSON)
			assert.Equal(t, auditevent.SourceInferred, src)
			got, _ = auditevent.ResolveType(jsonMap(t, se.StreamJSON), se.StreamType)
			assert.Equal(t, name, got, "legacy stream")
		}
	}
	// Types without a legacy shape stay modern.
	ev, err := s.BuildEvent("add_ssh_key", baseTime, true)
	require.NoError(t, err)
	assert.False(t, ev.Legacy)
}

// eventDoc is a decoded rendering.
type eventDoc struct {
	ID         any            `json:"id"`
	AuthorID   int64          `json:"author_id"`
	EntityType string         `json:"entity_type"`
	EntityID   int64          `json:"entity_id"`
	Details    map[string]any `json:"details"`
}

func TestDetectionTypesHaveRealisticDetails(t *testing.T) {
	s := New(Options{Seed: 11})
	str := func(v any) string { s, _ := v.(string); return s }
	type check func(t *testing.T, rest, stream eventDoc) string // returns a variant label
	tests := map[string]check{
		"user_disable_two_factor": func(t *testing.T, r, _ eventDoc) string {
			assert.Equal(t, EntityUser, r.EntityType)
			m := str(r.Details["custom_message"])
			assert.Contains(t, []string{"Disabled two-factor authentication", "Disabled One-time password authenticator", "Deleted WebAuthn device"}, m)
			return m
		},
		"member_created": func(t *testing.T, r, _ eventDoc) string {
			assert.Equal(t, "user_access", r.Details["add"])
			as := str(r.Details["as"])
			assert.Regexp(t, `^(Default|Custom) role: `, as)
			assert.Equal(t, "Membership created", r.Details["custom_message"])
			assert.Equal(t, "User", r.Details["target_type"])
			assert.Contains(t, []string{EntityGroup, EntityProject}, r.EntityType)
			return as
		},
		"member_updated": func(t *testing.T, r, _ eventDoc) string {
			assert.Equal(t, "access_level", r.Details["change"])
			assert.NotContains(t, str(r.Details["from"]), "role:")
			assert.Regexp(t, `^(Default|Custom) role: `, r.Details["to"])
			return str(r.Details["to"])
		},
		"project_visibility_level_updated": func(t *testing.T, r, _ eventDoc) string {
			assert.Equal(t, "visibility_level", r.Details["change"])
			assert.Equal(t, EntityProject, r.EntityType)
			return str(r.Details["from"]) + ">" + str(r.Details["to"])
		},
		"group_visibility_level_updated": func(t *testing.T, r, _ eventDoc) string {
			assert.Equal(t, EntityGroup, r.EntityType)
			return str(r.Details["to"])
		},
		"password_reset_requested": func(t *testing.T, r, _ eventDoc) string {
			assert.Equal(t, "Ask for password reset", r.Details["custom_message"])
			var emails []string
			require.NoError(t, json.Unmarshal([]byte(str(r.Details["target_details"])), &emails))
			assert.NotEmpty(t, emails)
			if len(emails) > 1 {
				return "several emails"
			}
			return "one email"
		},
		"personal_access_token_created": func(t *testing.T, r, _ eventDoc) string {
			m := str(r.Details["custom_message"])
			assert.Regexp(t, `^(Created personal access token with id \d+|Attempted to create personal access token but failed with message: .+)$`, m)
			return m[:7]
		},
		"ci_variable_updated": func(t *testing.T, r, st eventDoc) string {
			c := str(r.Details["change"])
			if c == "variable protection" || c == "variable masking" {
				assert.IsType(t, "", r.Details["from"], "REST from is a string")
				assert.IsType(t, true, st.Details["from"], "stream from is raw")
				return c + " " + str(r.Details["from"]) + ">" + str(r.Details["to"])
			}
			return c
		},
		"project_destroyed": func(t *testing.T, r, _ eventDoc) string {
			assert.Equal(t, EntityGroup, r.EntityType, "scoped to the parent group")
			assert.Equal(t, "Project", r.Details["target_type"])
			assert.Equal(t, "project", r.Details["remove"])
			return ""
		},
		"group_saml_provider_update": func(t *testing.T, r, _ eventDoc) string {
			m := str(r.Details["custom_message"])
			assert.True(t, strings.HasPrefix(m, "Group SAML SSO configuration changed: "), m)
			return m
		},
		"user_admin_status_updated": func(t *testing.T, r, st eventDoc) string {
			assert.Equal(t, "admin", r.Details["change"])
			return str(r.Details["to"])
		},
		"update_approval_rules": func(t *testing.T, r, _ eventDoc) string {
			assert.Equal(t, "number of required approvals", r.Details["change"])
			assert.Equal(t, "2", r.Details["from"])
			return str(r.Details["to"])
		},
		"protected_branch_allow_force_push_updated": func(t *testing.T, r, _ eventDoc) string {
			assert.Equal(t, "allow_force_push", r.Details["change"])
			assert.Equal(t, "ProtectedBranch", r.Details["target_type"])
			return str(r.Details["to"])
		},
		"project_require_password_to_approve_updated": func(t *testing.T, r, _ eventDoc) string {
			return str(r.Details["to"])
		},
		"user_impersonation": func(t *testing.T, r, _ eventDoc) string {
			return str(r.Details["custom_message"])
		},
		"login_failed_with_standard_authentication": func(t *testing.T, r, _ eventDoc) string {
			assert.Equal(t, AuthorIDUnauthenticated, r.AuthorID)
			assert.Equal(t, "Failed to login with STANDARD authentication", r.Details["custom_message"])
			return r.EntityType
		},
		"ci_runner_registered": func(t *testing.T, r, _ eventDoc) string {
			assert.Len(t, str(r.Details["runner_registration_token"]), 8)
			assert.Regexp(t, `^Registered (instance|group|project) CI runner$`, r.Details["custom_message"])
			return r.EntityType
		},
		"deploy_key_added": func(t *testing.T, r, _ eventDoc) string {
			assert.Equal(t, "deploy_key", r.Details["add"])
			assert.Equal(t, "Added deploy key", r.Details["custom_message"])
			return ""
		},
		"repository_git_operation": func(t *testing.T, _, st eventDoc) string {
			msg, ok := st.Details["custom_message"].(map[string]any)
			require.True(t, ok, "custom_message is an object")
			assert.Contains(t, []string{"ssh", "http", "web"}, msg["protocol"])
			assert.Contains(t, []string{"git-upload-pack", "git-receive-pack"}, msg["action"])
			_, isString := st.ID.(string)
			assert.True(t, isString, "stream-only events have a UUID id")
			return str(st.Details["author_class"])
		},
		"merge_request_approval_operation": func(t *testing.T, _, st eventDoc) string {
			assert.Equal(t, "Approved merge request", st.Details["custom_message"])
			assert.Equal(t, "MergeRequest", st.Details["target_type"])
			return ""
		},
	}
	// Variants that must show up: the risky direction of each change.
	mustSee := map[string][]string{
		"user_disable_two_factor":                     {"Disabled two-factor authentication"},
		"member_created":                              {"Default role: Owner", "Default role: Maintainer"},
		"member_updated":                              {"Default role: Maintainer"},
		"project_visibility_level_updated":            {"Private>Public", "Internal>Public"},
		"group_visibility_level_updated":              {"Public"},
		"password_reset_requested":                    {"several emails", "one email"},
		"ci_variable_updated":                         {"variable protection true>false", "variable masking true>false"},
		"group_saml_provider_update":                  {"Group SAML SSO configuration changed: enforced_sso changed from true to false"},
		"user_admin_status_updated":                   {"true"},
		"update_approval_rules":                       {"0"},
		"protected_branch_allow_force_push_updated":   {"true"},
		"project_require_password_to_approve_updated": {"false"},
		"user_impersonation":                          {"Started Impersonation"},
		"login_failed_with_standard_authentication":   {EntityUser, EntityInstance},
		"ci_runner_registered":                        {EntityProject, EntityGroup, EntityInstance},
		"repository_git_operation":                    {"User", "DeployKey", "DeployToken"},
	}
	for name, fn := range tests {
		t.Run(name, func(t *testing.T) {
			seen := map[string]bool{}
			for range 300 {
				se, err := s.GenerateType(name, baseTime)
				require.NoError(t, err)
				var r, st eventDoc
				if se.SavedToDatabase {
					require.NoError(t, json.Unmarshal(se.RESTJSON, &r))
				}
				require.NoError(t, json.Unmarshal(se.StreamJSON, &st))
				seen[fn(t, r, st)] = true
			}
			for _, v := range mustSee[name] {
				assert.True(t, seen[v], "variant %q never generated", v)
			}
		})
	}
}

func TestGeneratedIPsUseDocumentationRanges(t *testing.T) {
	s := New(Options{Seed: 4})
	re := regexp.MustCompile(`"ip_address":"(192\.0\.2|198\.51\.100|203\.0\.113)\.\d{1,3}"`)
	for _, e := range s.Generate(2000, baseTime, baseTime.Add(time.Hour)) {
		require.Regexp(t, re, string(e.StreamJSON))
	}
}

func TestWeightsNameCatalogueTypes(t *testing.T) {
	for _, m := range []map[string]float64{noiseWeights, securityWeights} {
		for name := range m {
			assert.True(t, auditevent.Known(name), name)
		}
	}
	for name := range templates {
		assert.True(t, auditevent.Known(name), name)
	}
	for name := range legacyTemplates {
		assert.True(t, auditevent.Known(name), name)
	}
	// Every type the detection rules use is in the security set.
	for _, name := range []string{
		"user_disable_two_factor", "member_created", "member_updated", "project_visibility_level_updated",
		"group_visibility_level_updated", "deploy_key_added", "deploy_token_created", "group_deploy_token_created",
		"add_ssh_key", "add_gpg_key", "create_ssh_certificate", "cluster_agent_token_created", "ci_runner_registered",
		"ci_runner_created", "webhook_created", "oauth_application_created", "ci_variable_created",
		"ci_group_variable_created", "ci_instance_variable_created", "ci_variable_updated", "project_destroyed",
		"project_deletion_marked", "group_destroyed", "group_deletion_marked", "personal_access_token_created",
		"project_access_token_created", "group_access_token_created", "password_reset_requested",
		"user_password_updated", "user_access_locked", "user_admin_status_updated", "custom_admin_role_assigned_to_user",
		"user_impersonation", "login_failed_with_standard_authentication", "group_require_two_factor_authentication_updated",
		"group_two_factor_grace_period_updated", "group_saml_provider_update", "project_require_password_to_approve_updated",
		"ip_restrictions_changed", "skip_secret_push_protection", "protected_branch_removed",
		"protected_branch_allow_force_push_updated", "update_approval_rules", "destroy_event_streaming_destination",
		"deleted_group_audit_event_streaming_destination", "audit_events_streaming_headers_destroy",
		"project_export_file_download_started", "repository_download_operation",
	} {
		assert.Contains(t, securityWeights, name)
		assert.NotNil(t, templates[name], name)
	}
}

func TestPopulate(t *testing.T) {
	s := New(Options{})
	s.Populate(25, 40)
	groups, projects := s.Groups(), s.Projects()
	require.Len(t, groups, 25)
	require.Len(t, projects, 40)
	assert.Equal(t, "acme", groups[0].FullPath)
	assert.Equal(t, groups[0].ID, groups[1].ParentID, "acme/platform is in acme")
	paths := map[string]bool{}
	byID := map[int64]Group{}
	for _, g := range groups {
		byID[g.ID] = g
	}
	for _, p := range projects {
		require.False(t, paths[p.FullPath], "unique path %s", p.FullPath)
		paths[p.FullPath] = true
		g, ok := byID[p.GroupID]
		require.True(t, ok)
		assert.Equal(t, g.FullPath+"/"+p.Name, p.FullPath)
	}
	// More calls continue the ids.
	s.Populate(1, 1)
	assert.Len(t, s.Groups(), 26)
	assert.Equal(t, projects[len(projects)-1].ID+1, s.Projects()[40].ID)
}

// assertNullEventName checks the REST shape of an event without a name:
// ee/lib/api/entities/audit_event.rb exposes event_name as
// details.fetch(:event_name, nil), so the key is there and null, and the
// details have none.
func assertNullEventName(t *testing.T, rest []byte) {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal(rest, &m))
	v, ok := m["event_name"]
	assert.True(t, ok, "event_name is present: %s", rest)
	assert.Nil(t, v, "event_name is null: %s", rest)
	assert.NotContains(t, m["details"], "event_name")
}
