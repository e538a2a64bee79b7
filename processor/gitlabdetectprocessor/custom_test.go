// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package gitlabdetectprocessor

import (
	"context"
	"testing"

	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/ottl"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCustomRuleIndexedByEventType(t *testing.T) {
	cfg := defaultConfig()
	cfg.CustomRules = []CustomRuleConfig{{
		ID: "custom-always", Name: "Always true for SSH keys", Indicator: "persistent_access", Severity: "HIGH",
		Techniques: []string{"T1098.004"}, EventTypes: []string{"add_ssh_key", "remove_ssh_key"},
		Reference: "https://wiki.example.com/ssh", Description: "SSH keys need a ticket.",
		Conditions: []string{"true"},
	}}
	lr := processOne(t, cfg, fixtureEvent(t, "GLD-052", "rest: SSH key added"), viaReceiver)
	assert.Equal(t, []string{"custom-always", "GLD-052"}, ruleIDs(lr))
	assert.Equal(t, "https://wiki.example.com/ssh", attrStr(lr, attrRuleReference))
	assert.Equal(t, "SSH keys need a ticket.", attrStr(lr, attrRuleDescription))

	lr = processOne(t, cfg, fixtureEvent(t, "GLD-052", "rest: SSH key removed"), viaReceiver)
	assert.Equal(t, []string{"custom-always"}, ruleIDs(lr))

	lr = processOne(t, cfg, fixtureEvent(t, "GLD-054", "rest: GPG key added"), viaReceiver)
	assert.NotContains(t, ruleIDs(lr), "custom-always", "not evaluated for other types")
}

func TestCustomRuleWithoutEventTypesSeesEveryRecord(t *testing.T) {
	cfg := defaultConfig()
	cfg.CustomRules = []CustomRuleConfig{{
		ID: "custom-outside-office", Name: "Admin action from outside the office", Indicator: "credential_risk", Severity: "MEDIUM",
		Conditions: []string{
			`log.attributes["user.name"] == "Administrator" and not IsMatch(log.attributes["client.address"], "^10\\.")`,
		},
	}}
	for _, c := range []struct{ rule, name string }{
		{"GLD-080", "rest: project destroyed, scoped to the group"},
		{"GLD-050", "rest: deploy key removed"},
	} {
		lr := processOne(t, cfg, fixtureEvent(t, c.rule, c.name), viaReceiver)
		assert.Contains(t, ruleIDs(lr), "custom-outside-office", c.name)
	}
	lr := processOne(t, cfg, fixtureEvent(t, "GLD-052", "rest: SSH key added"), viaReceiver)
	assert.NotContains(t, ruleIDs(lr), "custom-outside-office", "author is Mallory")
}

func TestCustomRuleSeesProcessorAttributesAndBody(t *testing.T) {
	cfg := defaultConfig()
	cfg.CustomRules = []CustomRuleConfig{{
		ID: "custom-body", Name: "Visibility to public, from the body", Indicator: "data_exposure", Severity: "LOW",
		Conditions: []string{
			`log.attributes["gitlab.audit.category"] == "Repository" and log.attributes["gitlab.audit.event_type"] == "project_visibility_level_updated" and log.body["details"]["to"] == "Public"`,
		},
	}}
	// Body-only record: the processor resolves the type and writes the
	// event type and category before custom rules run.
	lr := processOne(t, cfg, fixtureEvent(t, "GLD-030", "rest: private to public"), viaBodyMap)
	assert.Equal(t, []string{"GLD-030", "custom-body"}, ruleIDs(lr))
	assert.Equal(t, "project_visibility_level_updated", attrStr(lr, attrEventType))
	assert.Equal(t, "event_name", attrStr(lr, attrEventTypeSource))
}

func TestCustomRuleAliasEventTypes(t *testing.T) {
	cfg := defaultConfig()
	cfg.CustomRules = []CustomRuleConfig{{
		ID: "custom-link", Name: "Group link", Indicator: "privilege_escalation", Severity: "LOW",
		EventTypes: []string{"project_group_link_update"}, Conditions: []string{"true"},
	}}
	lr := processOne(t, cfg, fixtureEvent(t, "GLD-041", "stream: group link raised to Maintainer"), viaReceiver)
	assert.Contains(t, ruleIDs(lr), "custom-link", "configured alias resolved to project_group_link_updated")
}

func TestCustomRuleOverridesAndDisable(t *testing.T) {
	cfg := defaultConfig()
	cfg.CustomRules = []CustomRuleConfig{{
		ID: "Custom-X", Name: "X", Indicator: "audit", Severity: "LOW", EventTypes: []string{"add_ssh_key"}, Conditions: []string{"true"},
	}}
	cfg.Rules.SeverityOverrides = map[string]string{"custom-x": "CRITICAL"}
	lr := processOne(t, cfg, fixtureEvent(t, "GLD-052", "rest: SSH key added"), viaReceiver)
	assert.Equal(t, "Custom-X", attrStr(lr, attrRuleUUID))
	assert.Equal(t, "CRITICAL", attrStr(lr, attrSeverity))

	cfg.Rules.Disabled = []string{"CUSTOM-X"}
	lr = processOne(t, cfg, fixtureEvent(t, "GLD-052", "rest: SSH key added"), viaReceiver)
	assert.Equal(t, []string{"GLD-052"}, ruleIDs(lr))
}

func TestCustomRuleErrorModes(t *testing.T) {
	// ParseJSON fails at evaluation time on a message that is not JSON.
	rule := CustomRuleConfig{
		ID: "custom-json", Name: "JSON message", Indicator: "audit", Severity: "HIGH",
		EventTypes: []string{"add_ssh_key"},
		Conditions: []string{`ParseJSON(log.attributes["gitlab.audit.message"])["k"] == "v"`, "true"},
	}
	for _, mode := range []ottl.ErrorMode{ottl.IgnoreError, ottl.SilentError} {
		cfg := defaultConfig()
		cfg.ErrorMode = mode
		cfg.CustomRules = []CustomRuleConfig{rule}
		lr := processOne(t, cfg, fixtureEvent(t, "GLD-052", "rest: SSH key added"), viaReceiver)
		assert.Equal(t, []string{"custom-json", "GLD-052"}, ruleIDs(lr), "%s: the failing condition is skipped, the next one matches", mode)
	}

	cfg := defaultConfig()
	cfg.ErrorMode = ottl.PropagateError
	cfg.CustomRules = []CustomRuleConfig{rule}
	p, sink := newTestProcessor(t, cfg)
	ld, lrs := newLogs()
	appendEvent(t, lrs, fixtureEvent(t, "GLD-052", "rest: SSH key added"), viaReceiver)
	err := p.ConsumeLogs(context.Background(), ld)
	require.Error(t, err)
	assert.Contains(t, err.Error(), `custom rule "custom-json"`)
	assert.Empty(t, sink.AllLogs(), "propagate fails the batch, as OTTL components do")
}
