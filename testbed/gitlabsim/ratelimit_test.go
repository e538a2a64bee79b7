// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package gitlabsim

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const appLimitBody = `{"message":{"error":"This endpoint has been requested too many times. Try again later."}}`

// TestUsersGetByIDLimit reproduces check_rate_limit!(:users_get_by_id) of
// lib/api/users.rb with lib/api/helpers/rate_limiter.rb: per user, a
// 10-minute window from the first request, refused requests counted too,
// administrators and auditors exempt (can_read_all_resources?), and the
// 429 carries no Retry-After and no RateLimit-* header.
func TestUsersGetByIDLimit(t *testing.T) {
	clock := &fakeClock{t: baseTime}
	tokens := testTokens()
	tokens["glpat-auditor"] = Token{UserID: 11, Auditor: true}
	tokens["glpat-dev-2"] = Token{UserID: 3, Groups: map[string]Role{"acme": Developer}}
	s, srv := newSim(t, Options{Tokens: tokens, Now: clock.Now, AppLimits: AppLimits{UsersGetByID: 3}})
	insertAt(s, "group_created", groupE(10), 3, baseTime)
	for i := range 3 {
		require.Equal(t, http.StatusOK, get(t, srv.URL+"/api/v4/users/2", devToken).status, i)
	}
	r := get(t, srv.URL+"/api/v4/users/2", devToken)
	assert.Equal(t, http.StatusTooManyRequests, r.status)
	assert.JSONEq(t, appLimitBody, string(r.body))
	assert.Empty(t, r.header.Get("Retry-After"))
	for k := range r.header {
		assert.NotContains(t, k, "Ratelimit", "application limits send no RateLimit headers")
	}
	// The limit is the user's, whatever token it uses; other users and
	// other endpoints are not affected.
	assert.Equal(t, http.StatusTooManyRequests, get(t, srv.URL+"/api/v4/users/4", "glpat-dev-2").status)
	assert.Equal(t, http.StatusOK, get(t, srv.URL+"/api/v4/users/2", ownerToken).status)
	assert.Equal(t, http.StatusOK, get(t, srv.URL+"/api/v4/groups/10/audit_events", devToken).status)
	for range 5 {
		assert.Equal(t, http.StatusOK, get(t, srv.URL+"/api/v4/users/2", adminToken).status)
		assert.Equal(t, http.StatusOK, get(t, srv.URL+"/api/v4/users/2", "glpat-auditor").status)
	}
	// Refused requests count too: the window, not the requests, ends the limit.
	clock.Add(9*time.Minute + 59*time.Second)
	assert.Equal(t, http.StatusTooManyRequests, get(t, srv.URL+"/api/v4/users/2", devToken).status)
	clock.Add(time.Second)
	assert.Equal(t, http.StatusOK, get(t, srv.URL+"/api/v4/users/2", devToken).status)
}

// TestAppLimitRetryAfter reproduces the newest lib/api/helpers/rate_limiter.rb
// (too_many_requests! with retry_after: the limit's interval): the same
// body with Retry-After set to the whole interval.
func TestAppLimitRetryAfter(t *testing.T) {
	tests := []struct {
		name     string
		limits   AppLimits
		path     string
		interval string
	}{
		{"users_get_by_id", AppLimits{UsersGetByID: 1, RetryAfter: true}, "/api/v4/users/2", "600"},
		{"group_projects_api", AppLimits{GroupProjects: 1, RetryAfter: true}, "/api/v4/groups/10/projects", "60"},
		{"interval override", AppLimits{UsersGetByID: 1, RetryAfter: true, Interval: 5 * time.Second}, "/api/v4/users/2", "5"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, srv := newSim(t, Options{AppLimits: tt.limits})
			require.Equal(t, http.StatusOK, get(t, srv.URL+tt.path, ownerToken).status)
			r := get(t, srv.URL+tt.path, ownerToken)
			assert.Equal(t, http.StatusTooManyRequests, r.status)
			assert.JSONEq(t, appLimitBody, string(r.body))
			assert.Equal(t, tt.interval, r.header.Get("Retry-After"))
		})
	}
}

// TestAuditEventsAndListingLimits: group_projects_api (lib/api/groups.rb
// check_rate_limit_by_user_or_ip!) applies to administrators too; the
// opt-in audit event limit (no such limit exists in GitLab's source; it
// lets tests put the feeds behind an application-style 429) counts the
// three audit event endpoints together, per user.
func TestAuditEventsAndListingLimits(t *testing.T) {
	_, srv := newSim(t, Options{AppLimits: AppLimits{AuditEvents: 2, GroupProjects: 1}})
	assert.Equal(t, http.StatusOK, get(t, srv.URL+"/api/v4/audit_events", adminToken).status)
	assert.Equal(t, http.StatusOK, get(t, srv.URL+"/api/v4/groups/10/audit_events", adminToken).status)
	r := get(t, srv.URL+"/api/v4/projects/100/audit_events", adminToken)
	assert.Equal(t, http.StatusTooManyRequests, r.status)
	assert.JSONEq(t, appLimitBody, string(r.body))
	assert.Equal(t, http.StatusOK, get(t, srv.URL+"/api/v4/groups/10/audit_events", ownerToken).status)
	assert.Equal(t, http.StatusOK, get(t, srv.URL+"/api/v4/users/3", adminToken).status, "no users limit configured")

	assert.Equal(t, http.StatusOK, get(t, srv.URL+"/api/v4/groups/10/projects", adminToken).status)
	assert.Equal(t, http.StatusTooManyRequests, get(t, srv.URL+"/api/v4/groups/10/projects", adminToken).status)
	assert.Equal(t, http.StatusOK, get(t, srv.URL+"/api/v4/groups/10/descendant_groups", adminToken).status, "descendant_groups has no application limit")
}
