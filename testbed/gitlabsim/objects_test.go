// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package gitlabsim

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestLookupsFollowTheEvents(t *testing.T) {
	s, srv := newSim(t, Options{Seed: 7, Now: func() time.Time { return baseTime.Add(time.Hour) }})
	at := baseTime

	// A personal access token created with a two-year expiry answers it.
	s.AddAccessToken(AccessToken{ID: 4242, UserID: 3, Name: "ci", Scopes: []string{"api"}, CreatedAt: at, ExpiresAt: at.AddDate(2, 0, 0)})
	r := get(t, srv.URL+"/api/v4/personal_access_tokens/4242", adminToken)
	require.Equal(t, http.StatusOK, r.status, string(r.body))
	var pat map[string]any
	require.NoError(t, json.Unmarshal(r.body, &pat))
	assert.Equal(t, "2026-06-01", pat["expires_at"])
	assert.Equal(t, []any{"api"}, pat["scopes"])
	assert.Equal(t, true, pat["active"])
	// Only administrators and the owner read it; others get 401, as in GitLab.
	assert.Equal(t, http.StatusOK, get(t, srv.URL+"/api/v4/personal_access_tokens/4242", devToken).status)
	assert.Equal(t, http.StatusUnauthorized, get(t, srv.URL+"/api/v4/personal_access_tokens/4242", ownerToken).status)
	assert.Equal(t, http.StatusNotFound, get(t, srv.URL+"/api/v4/personal_access_tokens/1", adminToken).status)
	assert.Equal(t, http.StatusUnauthorized, get(t, srv.URL+"/api/v4/personal_access_tokens/4242", "").status)

	// A variable: Maintainers of the project read it, value included.
	s.AddVariable(Variable{Scope: VariableProject, Owner: 100, Key: "NPM_TOKEN", Value: "SIMSECRET-x1", Protected: false, Masked: true})
	r = get(t, srv.URL+"/api/v4/projects/acme%2Fplatform%2Fapi/variables/NPM_TOKEN", projMaintToken)
	require.Equal(t, http.StatusOK, r.status, string(r.body))
	assert.JSONEq(t, `{"variable_type":"env_var","key":"NPM_TOKEN","value":"SIMSECRET-x1","protected":false,"masked":true,"hidden":false,"raw":false,"environment_scope":"*","description":null}`, string(r.body))
	assert.Equal(t, http.StatusForbidden, get(t, srv.URL+"/api/v4/projects/100/variables/NPM_TOKEN", projDevToken).status)
	assert.Equal(t, http.StatusNotFound, get(t, srv.URL+"/api/v4/projects/100/variables/OTHER", adminToken).status)
	r = get(t, srv.URL+"/api/v4/projects/102/variables/NPM_TOKEN", projMaintToken)
	assert.Equal(t, http.StatusNotFound, r.status)
	assert.Contains(t, string(r.body), "404 Project Not Found")
	assert.Equal(t, http.StatusForbidden, get(t, srv.URL+"/api/v4/admin/ci/variables/NPM_TOKEN", ownerToken).status)

	// Deleted and restricted objects.
	s.AddDeployKey(DeployKey{ID: 77, Project: 100, Title: "ci", CanPush: true, State: ObjectDeleted})
	s.AddDeployKey(DeployKey{ID: 78, Project: 100, Title: "ci", CanPush: true, State: ObjectRestricted})
	s.AddDeployKey(DeployKey{ID: 79, Project: 100, Title: "ci", CanPush: true})
	assert.Equal(t, http.StatusNotFound, get(t, srv.URL+"/api/v4/projects/100/deploy_keys/77", adminToken).status)
	assert.Equal(t, http.StatusForbidden, get(t, srv.URL+"/api/v4/projects/100/deploy_keys/78", adminToken).status)
	r = get(t, srv.URL+"/api/v4/projects/100/deploy_keys/79", adminToken)
	require.Equal(t, http.StatusOK, r.status)
	assert.Contains(t, string(r.body), `"can_push":true`)
	assert.Equal(t, http.StatusNotFound, get(t, srv.URL+"/api/v4/projects/101/deploy_keys/79", adminToken).status)

	// Users.
	r = get(t, srv.URL+"/api/v4/users/1", devToken)
	require.Equal(t, http.StatusOK, r.status)
	assert.Contains(t, string(r.body), `"bot":false`)
	assert.Equal(t, http.StatusNotFound, get(t, srv.URL+"/api/v4/users/999999", devToken).status)
}

// TestGeneratedEventsNameServedObjects generates security events and looks
// up what each names: every object exists (or answers 404/403 on purpose),
// with the facts the event says (scopes and level of resource access
// tokens, the protection a variable was changed to).
func TestGeneratedEventsNameServedObjects(t *testing.T) {
	s, srv := newSim(t, Options{Seed: 11})
	types := []string{"personal_access_token_created", "project_access_token_created", "group_access_token_created",
		"ci_variable_created", "ci_group_variable_created", "ci_instance_variable_created", "ci_variable_updated",
		"deploy_key_added", "deploy_token_created", "group_deploy_token_created"}
	evs := s.GenerateWith(GenerateOptions{Count: 600, From: baseTime, To: baseTime.Add(time.Hour), Types: types})
	statuses := map[string]map[int]int{}
	unprotected, twoYears := 0, 0
	patID := regexp.MustCompile(`with id (\d+)$`)
	tokID := regexp.MustCompile(`token_id: (\d+)`)
	for _, se := range evs {
		var ev map[string]any
		require.NoError(t, json.Unmarshal(se.RESTJSON, &ev))
		d := ev["details"].(map[string]any)
		msg, _ := d["custom_message"].(string)
		entity := strconv.FormatInt(se.Entity.ID, 10)
		var path string
		switch se.Type {
		case "personal_access_token_created":
			m := patID.FindStringSubmatch(msg)
			if m == nil {
				continue
			}
			path = "/personal_access_tokens/" + m[1]
		case "project_access_token_created", "group_access_token_created":
			path = "/projects/" + entity + "/access_tokens/" + tokID.FindStringSubmatch(msg)[1]
			if se.Type == "group_access_token_created" {
				path = "/groups/" + entity + "/access_tokens/" + tokID.FindStringSubmatch(msg)[1]
			}
		case "ci_variable_created", "ci_variable_updated":
			path = "/projects/" + entity + "/variables/" + d["target_details"].(string)
		case "ci_group_variable_created":
			path = "/groups/" + entity + "/variables/" + d["target_details"].(string)
		case "ci_instance_variable_created":
			path = "/admin/ci/variables/" + d["target_details"].(string)
		case "deploy_key_added":
			path = fmt.Sprintf("/projects/%s/deploy_keys/%v", entity, d["target_id"])
		case "deploy_token_created":
			path = fmt.Sprintf("/projects/%s/deploy_tokens/%v", entity, d["target_id"])
		case "group_deploy_token_created":
			path = fmt.Sprintf("/groups/%s/deploy_tokens/%v", entity, d["target_id"])
		}
		r := get(t, srv.URL+"/api/v4"+path, adminToken)
		if statuses[se.Type] == nil {
			statuses[se.Type] = map[int]int{}
		}
		statuses[se.Type][r.status]++
		require.Contains(t, []int{200, 401, 403, 404}, r.status, "%s %s: %s", se.Type, path, r.body)
		if r.status != http.StatusOK {
			continue
		}
		var obj map[string]any
		require.NoError(t, json.Unmarshal(r.body, &obj))
		switch se.Type {
		case "ci_variable_created":
			if obj["protected"] == false {
				unprotected++
			}
			assert.True(t, strings.HasPrefix(obj["value"].(string), SecretMarkerPrefix))
		case "personal_access_token_created":
			if exp, ok := obj["expires_at"].(string); ok {
				e, err := time.Parse("2006-01-02", exp)
				require.NoError(t, err)
				if e.Sub(se.CreatedAt) > 700*24*time.Hour {
					twoYears++
				}
			}
		case "project_access_token_created":
			assert.Equal(t, []any{"api", "read_repository"}, obj["scopes"], string(r.body))
			assert.Contains(t, []any{30.0, 40.0, 50.0}, obj["access_level"])
		}
	}
	t.Logf("statuses by type: %v", statuses)
	assert.Positive(t, unprotected, "some variables are created unprotected")
	assert.Positive(t, twoYears, "some tokens live two years")
	total := map[int]int{}
	for _, m := range statuses {
		for st, n := range m {
			total[st] += n
		}
	}
	assert.Positive(t, total[404], "some objects were deleted since")
	assert.Positive(t, total[403]+total[401], "some objects are restricted")
	assert.Greater(t, total[200], total[404]+total[403]+total[401])
}

// TestVariableChangeFollowsEvent: the variable of a "variable protection"
// change has the protection it was changed to.
func TestVariableChangeFollowsEvent(t *testing.T) {
	s, srv := newSim(t, Options{Seed: 3})
	for _, to := range []bool{false, true, false} {
		s.Insert(Event{Type: "ci_variable_updated", Entity: projectE(100), Author: Author{ID: 1},
			Target:  Target{ID: int64(5), Type: "Ci::Variable", Details: "DEPLOY_PASSWORD"},
			Details: map[string]any{"change": "variable protection", "from": !to, "to": to}, CreatedAt: baseTime})
		v, ok := s.Variable(VariableProject, 100, "DEPLOY_PASSWORD")
		require.True(t, ok)
		assert.Equal(t, to, v.Protected)
		if v.State == ObjectLive {
			r := get(t, srv.URL+"/api/v4/projects/100/variables/DEPLOY_PASSWORD", adminToken)
			assert.Contains(t, string(r.body), fmt.Sprintf(`"protected":%t`, to))
		}
	}
}

func TestLookupDelay(t *testing.T) {
	s, srv := newSim(t, Options{})
	s.SetLookupDelay(200 * time.Millisecond)
	start := time.Now()
	assert.Equal(t, http.StatusNotFound, get(t, srv.URL+"/api/v4/users/424242", devToken).status)
	assert.GreaterOrEqual(t, time.Since(start), 200*time.Millisecond)
	s.SetLookupDelay(0)
}
