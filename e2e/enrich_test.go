// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package e2e

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kyra-mdr/otelcol-gitlab/testbed/gitlabsim"
)

const enrichConfig = `
extensions:
  health_check:
    endpoint: 127.0.0.1:%[1]d

receivers:
  gitlab_audit:
    endpoint: %[2]s
    token: %[3]s
    poll_interval: 10s
    initial_lookback: 1h
    collect:
      instance: true
    stream:
      endpoint: 127.0.0.1:%[4]d
      verification_tokens: [%[5]s]

processors:
  gitlab_detect: {}

exporters:
  otlp_http:
    endpoint: %[6]s
    sending_queue:
      batch:
        flush_timeout: 100ms

service:
  extensions: [health_check]
  pipelines:
    logs:
      receivers: [gitlab_audit]
      processors: [gitlab_detect]
      exporters: [otlp_http]
  telemetry:
    metrics:
      level: none
`

// TestSecurityCriticalEventsEnriched runs the built distribution against
// the simulator with the seven security-critical events of the KYRA
// integration guide: each is tagged with its indicator, and those the
// event alone cannot decide (an unprotected CI/CD variable, a long-lived
// token, a removed authenticator that may have been the user's last) carry
// what the receiver looked up, on the poll and the stream path alike.
func TestSecurityCriticalEventsEnriched(t *testing.T) {
	bin := collectorBinary(t)
	sim := gitlabsim.New(gitlabsim.Options{Seed: 12, Tokens: map[string]gitlabsim.Token{apiToken: {UserID: 1, Admin: true}}})
	sim.Populate(2, 4)
	srv := httptest.NewServer(sim)
	t.Cleanup(func() {
		srv.Close()
		_ = sim.Close()
	})
	sink := newOTLPSink(t)
	healthPort, streamPort := freePort(t), freePort(t)
	c := newCollector(t, bin, fmt.Sprintf(enrichConfig, healthPort, srv.URL, apiToken, streamPort, streamToken, sink.srv.URL), nil, healthPort)

	now := time.Now().UTC()
	user, admin, project := sim.Users()[1], sim.Users()[0], sim.Projects()[0]
	projectE := gitlabsim.Entity{Type: gitlabsim.EntityProject, ID: project.ID}
	sim.AddAccessToken(gitlabsim.AccessToken{ID: 7001, UserID: user.ID, Scopes: []string{"api"}, CreatedAt: now, ExpiresAt: now.AddDate(2, 0, 0)})
	sim.AddAccessToken(gitlabsim.AccessToken{ID: 7002, UserID: user.ID, Scopes: []string{"read_api"}, CreatedAt: now, ExpiresAt: now.AddDate(0, 0, 7)})
	sim.AddVariable(gitlabsim.Variable{Scope: gitlabsim.VariableProject, Owner: project.ID, Key: "AWS_SECRET_ACCESS_KEY", Value: "SIMSECRET-e2e-1"})
	sim.AddVariable(gitlabsim.Variable{Scope: gitlabsim.VariableProject, Owner: project.ID, Key: "SONAR_TOKEN", Value: "SIMSECRET-e2e-2", Protected: true, Masked: true})
	sim.AddDeployKey(gitlabsim.DeployKey{ID: 8001, Project: project.ID, Title: "ci-push", CanPush: true, CreatedAt: now})

	at := now.Add(-10 * time.Minute)
	build := func(typ string) gitlabsim.Event {
		ev, err := sim.BuildEvent(typ, at, false)
		require.NoError(t, err)
		at = at.Add(time.Second)
		return ev
	}
	pat := func(id int64) gitlabsim.Event {
		return gitlabsim.Event{Type: "personal_access_token_created", Entity: gitlabsim.Entity{Type: gitlabsim.EntityUser, ID: user.ID},
			Author: gitlabsim.Author{ID: user.ID}, Target: gitlabsim.Target{ID: user.ID, Type: "User", Details: user.Name},
			CustomMessage: fmt.Sprintf("Created personal access token with id %d", id), CreatedAt: at}
	}
	variable := func(key string) gitlabsim.Event {
		return gitlabsim.Event{Type: "ci_variable_created", Entity: projectE, Author: gitlabsim.Author{ID: admin.ID},
			Target: gitlabsim.Target{ID: int64(900), Type: "Ci::Variable", Details: key}, Details: map[string]any{"add": "ci_variable"},
			CustomMessage: "Added ci variable", CreatedAt: at}
	}

	twoFactor := build("user_disable_two_factor")
	twoFactor.CustomMessage = "Disabled two-factor authentication"
	visibility := build("project_visibility_level_updated")
	visibility.Details = map[string]any{"change": "visibility", "from": "Private", "to": "Public"}
	visibility.CustomMessage = "Changed visibility from Private to Public"
	member := build("member_created")
	member.Details = map[string]any{"add": "user_access", "as": "Default role: Owner", "member_id": 4242}
	destroyed := build("project_destroyed")
	// One-time password apps removed (GitLab's EE::TwoFactor::
	// DestroyOtpService message): for one user the last factor, for the
	// other a WebAuthn device remains. The receiver looks each user up
	// after the event (an administrator's token sees two_factor_enabled).
	lastFactor, oneLeft := sim.Users()[2], sim.Users()[3]
	sim.SetTwoFactor(lastFactor.ID, gitlabsim.TwoFactor{OTP: true})
	sim.SetTwoFactor(oneLeft.ID, gitlabsim.TwoFactor{OTP: true, WebAuthnDevices: 1})
	otpRemoved := func(u gitlabsim.User) gitlabsim.Event {
		return gitlabsim.Event{Type: "user_disable_two_factor", Entity: gitlabsim.Entity{Type: gitlabsim.EntityUser, ID: u.ID},
			Author: gitlabsim.Author{ID: u.ID}, Target: gitlabsim.Target{ID: u.ID, Type: "User", Details: u.Name},
			CustomMessage: "Disabled One-time password authenticator", CreatedAt: at}
	}
	deployKey := gitlabsim.Event{Type: "deploy_key_added", Entity: projectE, Author: gitlabsim.Author{ID: admin.ID},
		Target: gitlabsim.Target{ID: int64(8001), Type: "DeployKey", Details: "ci-push"}, Details: map[string]any{"add": "deploy_key"},
		CustomMessage: "Added deploy key", CreatedAt: at}

	// Polled: everything inserted before the collector starts.
	polled := map[string]gitlabsim.StoredEvent{}
	for name, ev := range map[string]gitlabsim.Event{
		"two_factor": twoFactor, "visibility": visibility, "member": member, "destroyed": destroyed,
		"deploy_key": deployKey, "variable_unprotected": variable("AWS_SECRET_ACCESS_KEY"), "pat_two_years": pat(7001),
		"otp_last_factor": otpRemoved(lastFactor),
	} {
		polled[name] = sim.Insert(ev)
	}
	c.start()

	// Streamed: the protected variable, the short-lived token, and the
	// removal that leaves a factor.
	streamed := map[string]gitlabsim.StoredEvent{
		"variable_protected": sim.Insert(variable("SONAR_TOKEN")),
		"pat_one_week":       sim.Insert(pat(7002)),
		"otp_one_left":       sim.Insert(otpRemoved(oneLeft)),
	}
	streamURL := fmt.Sprintf("http://127.0.0.1:%d/webhook/gitlab-audit", streamPort)
	for name, ev := range streamed {
		status, err := post(context.Background(), streamURL, streamToken, string(ev.StreamJSON))
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, status, name)
	}

	all := map[string]gitlabsim.StoredEvent{}
	for k, v := range polled {
		all[k] = v
	}
	for k, v := range streamed {
		all[k] = v
	}
	find := func(ev gitlabsim.StoredEvent) (record, bool) {
		for _, r := range sink.all() {
			if r.id == ev.StreamID {
				return r, true
			}
		}
		return record{}, false
	}
	require.Eventually(t, func() bool {
		for _, ev := range all {
			if _, ok := find(ev); !ok {
				return false
			}
		}
		return true
	}, 30*time.Second, 100*time.Millisecond, "every event reaches the exporter:\n%s", c.log())

	indicators := map[string]string{
		"two_factor": "security_downgrade", "visibility": "data_exposure", "member": "privilege_escalation",
		"deploy_key": "persistent_access", "variable_unprotected": "secret_exposure", "destroyed": "data_destruction",
		"pat_two_years": "credential_risk", "pat_one_week": "credential_risk",
		"otp_last_factor": "security_downgrade", "otp_one_left": "security_downgrade",
		// Decided by the lookup: protected and masked, nothing to report.
		"variable_protected": "",
	}
	for name, ev := range all {
		r, _ := find(ev)
		assert.Equal(t, indicators[name], r.indicator, "%s (%s) tagged with its indicator", name, r.eventType)
		t.Logf("%-22s %-36s %-7s severity %-6s indicator %-20s enrichment %v",
			name, r.eventType, r.source, r.severity, r.indicator, r.attrs["gitlab.enrichment.status"])
	}

	get := func(name string) map[string]any { r, _ := find(all[name]); return r.attrs }
	// What gitlab_detect decided from the facts (GLD-074 unprotected
	// variable, GLD-099 long-lived token, GLD-061 deploy key that can push).
	for name, want := range map[string][2]string{
		"variable_unprotected": {"GLD-074", "CRITICAL"}, // neither protected nor masked
		"pat_two_years":        {"GLD-099", "HIGH"},     // two years, api scope
		"pat_one_week":         {"GLD-090", "LOW"},      // within token_max_lifetime
		"deploy_key":           {"GLD-061", "HIGH"},
		"otp_last_factor":      {"GLD-002", "HIGH"}, // the account is left with a password only
		"otp_one_left":         {"GLD-002", "LOW"},  // a WebAuthn device remains
	} {
		a := get(name)
		assert.Equal(t, want[0], a["security_rule.uuid"], "%s: top rule", name)
		assert.Equal(t, want[1], a["gitlab.detect.severity"], "%s: severity", name)
	}
	assert.Nil(t, get("variable_protected")["gitlab.detect.rule_ids"], "a protected, masked variable is not reported")
	v := get("variable_unprotected")
	assert.Equal(t, "poll", v["gitlab.audit.source"])
	assert.Equal(t, "ok", v["gitlab.enrichment.status"])
	assert.Equal(t, false, v["gitlab.ci_variable.protected"])
	assert.Equal(t, false, v["gitlab.ci_variable.masked"])
	v = get("variable_protected")
	assert.Equal(t, "stream", v["gitlab.audit.source"])
	assert.Equal(t, "ok", v["gitlab.enrichment.status"])
	assert.Equal(t, true, v["gitlab.ci_variable.protected"])
	p := get("pat_two_years")
	assert.Equal(t, "ok", p["gitlab.enrichment.status"])
	assert.Equal(t, now.AddDate(2, 0, 0).Format("2006-01-02"), p["gitlab.token.expires_at"])
	assert.Equal(t, []any{"api"}, p["gitlab.token.scopes"])
	p = get("pat_one_week")
	assert.Equal(t, "stream", p["gitlab.audit.source"])
	assert.Equal(t, now.AddDate(0, 0, 7).Format("2006-01-02"), p["gitlab.token.expires_at"])
	k := get("deploy_key")
	assert.Equal(t, "ok", k["gitlab.enrichment.status"])
	assert.Equal(t, true, k["gitlab.deploy_key.can_push"])
	assert.Equal(t, false, get("member")["gitlab.author.bot"], "authors are looked up")
	o := get("otp_last_factor")
	assert.Equal(t, "poll", o["gitlab.audit.source"])
	assert.Equal(t, "ok", o["gitlab.enrichment.status"])
	assert.Equal(t, false, o["gitlab.target_user.two_factor_enabled"])
	o = get("otp_one_left")
	assert.Equal(t, "stream", o["gitlab.audit.source"])
	assert.Equal(t, "ok", o["gitlab.enrichment.status"])
	assert.Equal(t, true, o["gitlab.target_user.two_factor_enabled"])
	for name, ev := range all {
		r, _ := find(ev)
		for k, val := range r.attrs {
			assert.NotContains(t, fmt.Sprint(val), "SIMSECRET", "%s: attribute %s holds a variable's value", name, k)
		}
	}
	assert.NotContains(t, c.log(), "SIMSECRET")
}
