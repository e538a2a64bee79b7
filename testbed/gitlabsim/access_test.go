// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package gitlabsim

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// authorsOf returns the sorted author ids of a list answer.
func authorsOf(t *testing.T, r result) []int64 {
	t.Helper()
	out := []int64{}
	for _, e := range r.events(t) {
		out = append(out, int64(e["author_id"].(float64)))
	}
	slices.Sort(out)
	return out
}

type roleCase struct {
	name   string
	path   string
	token  string
	status int
	want   []int64
}

// TestFilterByAuthorByRole reproduces filter_by_author of
// ee/lib/ee/api/groups.rb and ee/lib/ee/api/projects.rb with the abilities
// of ee/app/policies/ee/group_policy.rb and project_policy.rb: Developers
// and auditors may read a feed (read_*_audit_events) but see everyone's
// events only with admin_group (Owner) or admin_project (Maintainer);
// administrators have both (Group#max_member_access_for_user is OWNER for
// them); under Admin Mode only with the admin_mode scope
// (lib/api/api_guard.rb bypass_session_for_admin_mode?).
func TestFilterByAuthorByRole(t *testing.T) {
	all := []int64{2, 3, 4, 6, 7}
	tokens := testTokens()
	tokens["glpat-auditor"] = Token{UserID: 6, Auditor: true}
	tokens["glpat-guest"] = Token{UserID: 10, Groups: map[string]Role{"acme": Guest}}
	tokens["glpat-admin-mode"] = Token{UserID: 8, Admin: true, Scopes: []string{ScopeReadAPI, ScopeAdminMode}}
	tokens["glpat-admin-nomode"] = Token{UserID: 8, Admin: true, Scopes: []string{ScopeReadAPI}}
	tokens["glpat-admin-nomode-dev"] = Token{UserID: 3, Admin: true, Groups: map[string]Role{"acme": Developer}}
	for _, adminMode := range []bool{false, true} {
		s, srv := newSim(t, Options{Tokens: tokens, AdminMode: adminMode})
		for _, author := range all {
			insertAt(s, "group_created", groupE(11), author, baseTime)
			insertAt(s, "project_archived", projectE(100), author, baseTime)
		}
		const group, project = "/api/v4/groups/11/audit_events", "/api/v4/projects/100/audit_events"
		tests := []roleCase{
			{"Owner sees all (admin_group)", group, ownerToken, 200, all},
			{"group Maintainer sees own", group, maintToken, 200, []int64{4}},
			{"group Developer sees own", group, devToken, 200, []int64{3}},
			{"Reporter is refused", group, reporterToken, 403, nil},
			{"Guest is refused", group, "glpat-guest", 403, nil},
			{"non-member of a private group", group, outsiderToken, 404, nil},
			{"auditor sees own", group, "glpat-auditor", 200, []int64{6}},
			{"project Maintainer sees all (admin_project)", project, projMaintToken, 200, all},
			{"inherited Maintainer sees all on the project", project, maintToken, 200, all},
			{"project Developer sees own", project, projDevToken, 200, []int64{6}},
			{"auditor sees own on the project", project, "glpat-auditor", 200, []int64{6}},
			{"Reporter is refused on the project", project, reporterToken, 403, nil},
			{"administrator with admin_mode sees all", project, "glpat-admin-mode", 200, all},
		}
		if adminMode {
			tests = append(tests,
				roleCase{"Admin Mode: administrator without admin_mode is a non-member", group, "glpat-admin-nomode", 404, nil},
				roleCase{"Admin Mode: administrator without admin_mode gets its role's view", group, "glpat-admin-nomode-dev", 200, []int64{3}})
		} else {
			tests = append(tests,
				roleCase{"administrator sees all", group, adminToken, 200, all},
				roleCase{"no Admin Mode: administrator needs no admin_mode", group, "glpat-admin-nomode", 200, all})
		}
		for _, tt := range tests {
			t.Run(fmt.Sprintf("admin mode %v: %s", adminMode, tt.name), func(t *testing.T) {
				for _, q := range []string{"", "?pagination=keyset"} {
					r := get(t, srv.URL+tt.path+q, tt.token)
					require.Equal(t, tt.status, r.status, string(r.body))
					if tt.status == http.StatusOK {
						assert.Equal(t, tt.want, authorsOf(t, r))
					}
				}
			})
		}
	}
}

// TestSingleEventOfFilteredReader: the single-event route applies the same
// author filter, then find_by! (ee/lib/ee/api/groups.rb): a Developer reads
// its own event and gets 404 for someone else's.
func TestSingleEventOfFilteredReader(t *testing.T) {
	s, srv := newSim(t, Options{})
	own := insertAt(s, "group_created", groupE(10), 3, baseTime)
	other := insertAt(s, "group_created", groupE(10), 2, baseTime)
	r := get(t, srv.URL+"/api/v4/groups/10/audit_events/"+itoa(own.ID), devToken)
	assert.Equal(t, http.StatusOK, r.status)
	assert.Equal(t, own.RESTJSON, r.body)
	r = get(t, srv.URL+"/api/v4/groups/10/audit_events/"+itoa(other.ID), devToken)
	assert.Equal(t, http.StatusNotFound, r.status)
	assert.JSONEq(t, `{"message":"404 Not found"}`, string(r.body))
}

// TestInstanceFeedIsForAdministrators reproduces authenticated_as_admin! of
// ee/lib/api/audit_events.rb (can_admin_all_resources?): auditors are
// refused; under Admin Mode an administrator needs the admin_mode scope.
func TestInstanceFeedIsForAdministrators(t *testing.T) {
	tokens := map[string]Token{
		"glpat-admin":         {UserID: 1, Admin: true},
		"glpat-admin-mode":    {UserID: 1, Admin: true, Scopes: []string{ScopeAPI, ScopeAdminMode}},
		"glpat-auditor":       {UserID: 11, Auditor: true},
		"glpat-admin-readapi": {UserID: 1, Admin: true, Scopes: []string{ScopeReadAPI}},
	}
	tests := []struct {
		adminMode bool
		token     string
		status    int
	}{
		{false, "glpat-admin", 200},
		{false, "glpat-admin-readapi", 200},
		{false, "glpat-auditor", 403},
		{true, "glpat-admin", 403},
		{true, "glpat-admin-readapi", 403},
		{true, "glpat-admin-mode", 200},
		{true, "glpat-auditor", 403},
	}
	for _, tt := range tests {
		_, srv := newSim(t, Options{Tokens: tokens, AdminMode: tt.adminMode})
		r := get(t, srv.URL+"/api/v4/audit_events", tt.token)
		assert.Equal(t, tt.status, r.status, "admin mode %v, %s", tt.adminMode, tt.token)
		if tt.status == http.StatusForbidden {
			assert.JSONEq(t, `{"message":"403 Forbidden"}`, string(r.body))
		}
	}
}

// TestRefusedTokens reproduces lib/api/api_guard.rb: expired and revoked
// tokens get Rack::OAuth2's 401 invalid_token, on every route; a token
// without a scope the route accepts gets 403 insufficient_scope (every
// route takes api, GET routes read_api, GET /user read_user, the
// self-information routes any scope). Expiry is at 00:00 UTC of the date.
func TestRefusedTokens(t *testing.T) {
	clock := &fakeClock{t: time.Date(2024, 6, 10, 23, 59, 0, 0, time.UTC)}
	tokens := map[string]Token{
		"glpat-expiring": {UserID: 2, Groups: map[string]Role{"acme": Owner}, ExpiresAt: time.Date(2024, 6, 11, 0, 0, 0, 0, time.UTC)},
		"glpat-revoked":  {UserID: 2, Groups: map[string]Role{"acme": Owner}, Revoked: true},
		"glpat-readuser": {UserID: 2, Groups: map[string]Role{"acme": Owner}, Scopes: []string{ScopeReadUser}},
		"glpat-repo":     {UserID: 2, Groups: map[string]Role{"acme": Owner}, Scopes: []string{"read_repository"}},
		"glpat-readapi":  {UserID: 2, Groups: map[string]Role{"acme": Owner}, Scopes: []string{ScopeReadAPI}},
	}
	_, srv := newSim(t, Options{Tokens: tokens, Now: clock.Now})
	const expired = `{"error":"invalid_token","error_description":"Token is expired. You can either do re-authorization or token refresh."}`
	const revoked = `{"error":"invalid_token","error_description":"Token was revoked. You have to re-authorize from the user."}`
	scope := func(s string) string {
		return `{"error":"insufficient_scope","error_description":"The request requires higher privileges than provided by the access token.","scope":"` + s + `"}`
	}
	check := func(path, token string, status int, body string) {
		t.Helper()
		r := get(t, srv.URL+path, token)
		assert.Equal(t, status, r.status, "%s %s: %s", path, token, r.body)
		if body != "" {
			assert.JSONEq(t, body, string(r.body), "%s %s", path, token)
		}
	}
	check("/api/v4/groups/10/audit_events", "glpat-expiring", 200, "")
	clock.Add(time.Minute) // 2024-06-11T00:00Z: the expiry date has begun
	for _, path := range []string{"/api/v4/groups/10/audit_events", "/api/v4/user", "/api/v4/personal_access_tokens/self", "/api/v4/users/3", "/api/v4/groups/10/projects"} {
		check(path, "glpat-expiring", 401, expired)
		check(path, "glpat-revoked", 401, revoked)
	}
	r := get(t, srv.URL+"/api/v4/user", "glpat-revoked")
	assert.Contains(t, r.header.Get("WWW-Authenticate"), `error="invalid_token"`)

	check("/api/v4/groups/10/audit_events", "glpat-readapi", 200, "")
	check("/api/v4/groups/10/audit_events", "glpat-readuser", 403, scope("api read_api"))
	check("/api/v4/users/3", "glpat-repo", 403, scope("api read_api"))
	check("/api/v4/user", "glpat-readuser", 200, "")
	check("/api/v4/user", "glpat-repo", 403, scope("api read_api read_user"))
	check("/api/v4/personal_access_tokens/self", "glpat-repo", 200, "")
}

// TestCurrentUser reproduces GET /user of lib/api/users.rb:
// Entities::UserWithAdmin (is_admin) for administrators, by the admin
// attribute and not by Admin Mode; Entities::UserPublic, without is_admin,
// for everyone else; project and group access tokens answer as bot users.
func TestCurrentUser(t *testing.T) {
	tokens := testTokens()
	tokens["glpat-admin-nomode"] = Token{UserID: 8, Admin: true}
	tokens["glpat-bot"] = Token{UserID: 501, Kind: TokenProjectAccess, Projects: map[string]Role{"acme/platform/api": Maintainer}}
	_, srv := newSim(t, Options{Tokens: tokens, AdminMode: true})
	tests := []struct {
		token    string
		username string
		isAdmin  any
		bot      bool
	}{
		{adminToken, "root", true, false},
		{"glpat-admin-nomode", "grace", true, false},
		{devToken, "bob", nil, false},
		{"glpat-bot", "bot_501", nil, true},
	}
	for _, tt := range tests {
		r := get(t, srv.URL+"/api/v4/user", tt.token)
		require.Equal(t, http.StatusOK, r.status, string(r.body))
		var u map[string]any
		require.NoError(t, json.Unmarshal(r.body, &u))
		assert.Equal(t, tt.username, u["username"])
		isAdmin, present := u["is_admin"]
		if tt.isAdmin == nil {
			assert.False(t, present, "is_admin is only exposed for administrators")
		} else {
			assert.Equal(t, tt.isAdmin, isAdmin)
		}
		assert.Equal(t, tt.bot, u["bot"])
	}
	r := get(t, srv.URL+"/api/v4/user", "")
	assert.Equal(t, http.StatusUnauthorized, r.status)
}

// TestTokenSelf reproduces lib/api/personal_access_tokens/self_information.rb
// with Entities::PersonalAccessToken: personal, project and group access
// tokens describe themselves (never their value); an OAuth token gets 400.
func TestTokenSelf(t *testing.T) {
	created := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	tokens := map[string]Token{
		"glpat-mine":  {ID: 42, Name: "audit-collector", UserID: 2, Scopes: []string{ScopeReadAPI}, ExpiresAt: time.Date(2024, 6, 15, 12, 0, 0, 0, time.UTC), CreatedAt: created},
		"glpat-group": {UserID: 600, Kind: TokenGroupAccess, Groups: map[string]Role{"acme": Owner}},
		"oauth-token": {UserID: 2, Kind: TokenOAuth},
	}
	clock := &fakeClock{t: baseTime}
	_, srv := newSim(t, Options{Tokens: tokens, Now: clock.Now})
	r := get(t, srv.URL+"/api/v4/personal_access_tokens/self", "glpat-mine")
	require.Equal(t, http.StatusOK, r.status)
	assert.JSONEq(t, `{"id":42,"name":"audit-collector","revoked":false,"created_at":"2024-01-02T03:04:05.000Z",
		"description":null,"scopes":["read_api"],"user_id":2,"last_used_at":"2024-06-01T10:00:00.000Z",
		"active":true,"expires_at":"2024-06-15"}`, string(r.body))
	assert.NotContains(t, string(r.body), "glpat-mine")

	r = get(t, srv.URL+"/api/v4/personal_access_tokens/self", "glpat-group")
	require.Equal(t, http.StatusOK, r.status)
	var self map[string]any
	require.NoError(t, json.Unmarshal(r.body, &self))
	assert.EqualValues(t, 600, self["user_id"])
	assert.Nil(t, self["expires_at"])
	assert.Equal(t, []any{"api"}, self["scopes"])

	r = get(t, srv.URL+"/api/v4/personal_access_tokens/self", "oauth-token")
	assert.Equal(t, http.StatusBadRequest, r.status)
	assert.JSONEq(t, `{"message":"400 Bad request - This endpoint requires token type to be a personal access token"}`, string(r.body))
}

// TestMembersAll reproduces GET /:id/members/all/:user_id of
// lib/api/members.rb: the highest role of the user, inherited from
// ancestor groups included; 404 "Not found" for a non-member (an
// administrator needs no membership and has none); 404 for a group the
// caller cannot see.
func TestMembersAll(t *testing.T) {
	tokens := testTokens()
	tokens["glpat-bob-2"] = Token{UserID: 3, Groups: map[string]Role{"acme/platform": Maintainer}}
	_, srv := newSim(t, Options{Tokens: tokens})
	tests := []struct {
		name   string
		path   string
		token  string
		status int
		level  int
	}{
		{"own role", "/api/v4/groups/10/members/all/2", ownerToken, 200, 50},
		{"inherited role on a subgroup", "/api/v4/groups/11/members/all/2", ownerToken, 200, 50},
		{"inherited role on a project", "/api/v4/projects/100/members/all/2", ownerToken, 200, 50},
		{"highest of several roles", "/api/v4/groups/11/members/all/3", devToken, 200, 40},
		{"project role", "/api/v4/projects/acme%2Fplatform%2Fapi/members/all/6", projDevToken, 200, 30},
		{"another member, read by a member", "/api/v4/groups/10/members/all/5", devToken, 200, 20},
		{"administrator is no member", "/api/v4/groups/10/members/all/1", adminToken, 404, 0},
		{"non-member", "/api/v4/groups/12/members/all/2", adminToken, 404, 0},
		{"group the caller cannot see", "/api/v4/groups/12/members/all/2", ownerToken, 404, 0},
		{"unknown group", "/api/v4/groups/999/members/all/2", adminToken, 404, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := get(t, srv.URL+tt.path, tt.token)
			require.Equal(t, tt.status, r.status, string(r.body))
			if tt.status != http.StatusOK {
				return
			}
			var m map[string]any
			require.NoError(t, json.Unmarshal(r.body, &m))
			assert.EqualValues(t, tt.level, m["access_level"])
		})
	}
	assert.JSONEq(t, `{"message":"404 Not found"}`, string(get(t, srv.URL+"/api/v4/groups/10/members/all/1", adminToken).body))
	assert.JSONEq(t, `{"message":"404 Group Not Found"}`, string(get(t, srv.URL+"/api/v4/groups/12/members/all/2", ownerToken).body))
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// TestGroupByID: GET /groups/:id (lib/api/groups.rb get ":id", find_group!)
// answers the group entity, by id or full path, and 404 "Group Not Found"
// for a group the token cannot see.
func TestGroupByID(t *testing.T) {
	_, srv := newSim(t, Options{Tokens: testTokens()})
	for _, tt := range []struct {
		path, token string
		status      int
		fullPath    string
	}{
		{"/api/v4/groups/10", ownerToken, 200, "acme"},
		{"/api/v4/groups/acme%2Fplatform", ownerToken, 200, "acme/platform"},
		{"/api/v4/groups/12", ownerToken, 404, ""},
		{"/api/v4/groups/12", adminToken, 200, "globex"},
		{"/api/v4/groups/999", adminToken, 404, ""},
	} {
		r := get(t, srv.URL+tt.path, tt.token)
		require.Equal(t, tt.status, r.status, "%s: %s", tt.path, r.body)
		if tt.status != http.StatusOK {
			assert.Contains(t, string(r.body), "404 Group Not Found")
			continue
		}
		var g map[string]any
		require.NoError(t, json.Unmarshal(r.body, &g))
		assert.Equal(t, tt.fullPath, g["full_path"])
	}
}
