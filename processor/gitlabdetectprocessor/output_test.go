// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package gitlabdetectprocessor

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog"
)

// processOne runs one event through a processor built from cfg and
// returns the output record.
func processOne(t *testing.T, cfg *Config, raw []byte, d delivery, prepare ...func(plog.LogRecord)) plog.LogRecord {
	t.Helper()
	p, sink := newTestProcessor(t, cfg)
	ld, lrs := newLogs()
	lr := appendEvent(t, lrs, raw, d)
	for _, f := range prepare {
		f(lr)
	}
	require.NoError(t, p.ConsumeLogs(context.Background(), ld))
	recs := allRecords(sink)
	require.Len(t, recs, 1)
	return recs[0]
}

func sliceAttr(lr plog.LogRecord, key string) []string {
	v, ok := lr.Attributes().Get(key)
	if !ok {
		return nil
	}
	var out []string
	for i := 0; i < v.Slice().Len(); i++ {
		out = append(out, v.Slice().At(i).Str())
	}
	return out
}

func TestOutputAttributes(t *testing.T) {
	lr := processOne(t, defaultConfig(), fixtureEvent(t, "GLD-030", "rest: private to public"), viaReceiver)
	assert.Equal(t, "GLD-030", attrStr(lr, "security_rule.uuid"))
	assert.Equal(t, "Project made public", attrStr(lr, "security_rule.name"))
	assert.Equal(t, "data_exposure", attrStr(lr, "security_rule.category"))
	assert.Equal(t, "gitlab-audit", attrStr(lr, "security_rule.ruleset.name"))
	assert.Equal(t, "https://docs.gitlab.com/user/public_access/", attrStr(lr, "security_rule.reference"))
	assert.NotEmpty(t, attrStr(lr, "security_rule.description"))
	assert.Equal(t, "data_exposure", attrStr(lr, "gitlab.detect.indicator"))
	assert.Equal(t, "HIGH", attrStr(lr, "gitlab.detect.severity"))
	assert.Equal(t, []string{"GLD-030"}, sliceAttr(lr, "gitlab.detect.rule_ids"))
	assert.Equal(t, []string{"data_exposure"}, sliceAttr(lr, "gitlab.detect.indicators"))
	assert.Equal(t, []string{"T1213.003"}, sliceAttr(lr, "threat.technique.id"))
	assert.Equal(t, []string{"TA0009"}, sliceAttr(lr, "threat.tactic.id"))
	assert.Equal(t, []string{"Collection"}, sliceAttr(lr, "threat.tactic.name"))
	assert.Equal(t, "Repository", attrStr(lr, "gitlab.audit.category"))
	_, hasNote := lr.Attributes().Get("gitlab.detect.note")
	assert.False(t, hasNote)
	assert.Equal(t, plog.SeverityNumberError, lr.SeverityNumber(), "raised from INFO")
	assert.Equal(t, "ERROR", lr.SeverityText())
}

func TestVariableCreatedSaysProtectionIsUnknown(t *testing.T) {
	for _, dv := range deliveries {
		lr := processOne(t, defaultConfig(), fixtureEvent(t, "GLD-072", "rest: project variable created"), dv.d)
		assert.Equal(t, "GLD-072", attrStr(lr, attrRuleUUID))
		assert.Equal(t, "LOW", attrStr(lr, attrSeverity))
		assert.Contains(t, attrStr(lr, attrNote), "GLD-072: protected and masked flags are unknown")
		assert.Equal(t, plog.SeverityNumberWarn, lr.SeverityNumber())
	}
}

func TestMultipleMatches(t *testing.T) {
	cfg := defaultConfig()
	cfg.CustomRules = []CustomRuleConfig{{
		ID: "custom-secret-var", Name: "Cloud secret stored as a CI variable", Indicator: "secret_exposure",
		Severity: "CRITICAL", Techniques: []string{"T1552", "T1078.004"},
		EventTypes: []string{"ci_variable_created"},
		Conditions: []string{`IsMatch(log.attributes["gitlab.audit.target.details"], "^AWS_")`},
	}, {
		ID: "custom-any-variable", Name: "Any variable", Indicator: "audit",
		Severity: "INFO", EventTypes: []string{"ci_variable_created"},
		Conditions: []string{`log.attributes["gitlab.audit.category"] == "CI/CD"`},
	}}
	lr := processOne(t, cfg, fixtureEvent(t, "GLD-072", "rest: project variable created"), viaReceiver)
	assert.Equal(t, "custom-secret-var", attrStr(lr, attrRuleUUID), "the highest severity wins the scalar attributes")
	assert.Equal(t, "Cloud secret stored as a CI variable", attrStr(lr, attrRuleName))
	assert.Equal(t, "secret_exposure", attrStr(lr, attrRuleCategory))
	assert.Equal(t, "CRITICAL", attrStr(lr, attrSeverity))
	_, hasRef := lr.Attributes().Get(attrRuleReference)
	assert.False(t, hasRef, "the top rule has no reference: none is written")
	assert.Equal(t, []string{"custom-secret-var", "GLD-072", "custom-any-variable"}, sliceAttr(lr, attrRuleIDs), "every matched rule, by severity")
	assert.Equal(t, []string{"secret_exposure", "audit"}, sliceAttr(lr, attrIndicators))
	assert.Equal(t, []string{"T1552", "T1078.004"}, sliceAttr(lr, attrTechniques), "union without duplicates")
	assert.Contains(t, attrStr(lr, attrNote), "GLD-072: ", "notes of lower rules are kept")
	assert.Equal(t, plog.SeverityNumberFatal, lr.SeverityNumber())
}

func TestSeverityIsNeverLowered(t *testing.T) {
	lr := processOne(t, defaultConfig(), fixtureEvent(t, "GLD-052", "rest: SSH key added"), viaReceiver, func(lr plog.LogRecord) {
		lr.SetSeverityNumber(plog.SeverityNumberError2)
		lr.SetSeverityText("ERROR2")
	})
	assert.Equal(t, "GLD-052", attrStr(lr, attrRuleUUID))
	assert.Equal(t, plog.SeverityNumberError2, lr.SeverityNumber())
	assert.Equal(t, "ERROR2", lr.SeverityText())
}

func TestStaleDetectionAttributesAreReplaced(t *testing.T) {
	lr := processOne(t, defaultConfig(), fixtureEvent(t, "GLD-052", "rest: SSH key added"), viaReceiver, func(lr plog.LogRecord) {
		lr.Attributes().PutStr(attrNote, "left over")
		lr.Attributes().PutStr(attrRuleUUID, "old")
		lr.Attributes().PutStr(attrCategory, "Bogus")
	})
	assert.Equal(t, "GLD-052", attrStr(lr, attrRuleUUID))
	_, hasNote := lr.Attributes().Get(attrNote)
	assert.False(t, hasNote)
	assert.Equal(t, "Security", attrStr(lr, attrCategory))
}

func TestSortMatches(t *testing.T) {
	a := &ruleMeta{id: "a", severity: SeverityLow, order: 2}
	b := &ruleMeta{id: "b", severity: SeverityHigh, order: 5}
	c := &ruleMeta{id: "c", severity: SeverityLow, order: 1}
	d := &ruleMeta{id: "d", severity: SeverityHigh, order: 3}
	ms := []match{matchOf(a, ""), matchOf(b, ""), matchOf(c, ""), matchOf(d, "")}
	sortMatches(ms)
	var got []string
	for _, m := range ms {
		got = append(got, m.meta.id)
	}
	assert.Equal(t, []string{"d", "b", "c", "a"}, got)
}

func TestSeverityOverrideAndDisable(t *testing.T) {
	cfg := defaultConfig()
	cfg.Rules.SeverityOverrides = map[string]string{"gld-052": "critical"}
	lr := processOne(t, cfg, fixtureEvent(t, "GLD-052", "rest: SSH key added"), viaReceiver)
	assert.Equal(t, "CRITICAL", attrStr(lr, attrSeverity))
	assert.Equal(t, plog.SeverityNumberFatal, lr.SeverityNumber())

	cfg = defaultConfig()
	cfg.Rules.Disabled = []string{"GLD-052"}
	lr = processOne(t, cfg, fixtureEvent(t, "GLD-052", "rest: SSH key added"), viaReceiver)
	assert.Empty(t, ruleIDs(lr))
	assert.Equal(t, "Security", attrStr(lr, attrCategory), "disabled rules still leave the category")
	assert.Equal(t, plog.SeverityNumberInfo, lr.SeverityNumber())
}

func TestPrivilegedRolesConfig(t *testing.T) {
	raw := eventJSON(t, map[string]any{
		"id": 5001, "author_id": 1, "entity_id": 60, "entity_type": "Group", "event_name": "member_created",
		"details": map[string]any{
			"event_name": "member_created", "add": "user_access", "as": "Custom role: Security Admin",
			"author_name": "Administrator", "target_id": 77, "target_type": "User", "target_details": "Mallory",
			"entity_path": "acme", "custom_message": "Membership created",
		},
		"created_at": "2024-06-01T10:00:00.000Z",
	})
	lr := processOne(t, defaultConfig(), raw, viaReceiver)
	assert.NotContains(t, ruleIDs(lr), "GLD-041", "custom roles are not privileged by default")

	cfg := defaultConfig()
	cfg.PrivilegedRoles = []string{"Owner", "Maintainer", "security admin"}
	lr = processOne(t, cfg, raw, viaReceiver)
	assert.Equal(t, []string{"GLD-041"}, ruleIDs(lr))

	cfg.PrivilegedRoles = []string{"Owner"}
	lr = processOne(t, cfg, fixtureEvent(t, "GLD-041", "rest: Developer to Default role: Maintainer"), viaReceiver)
	assert.Empty(t, ruleIDs(lr), "Maintainer removed from privileged_roles")
	lr = processOne(t, cfg, fixtureEvent(t, "GLD-040", "rest: member created as Default role: Owner"), viaReceiver)
	assert.Equal(t, []string{"GLD-040"}, ruleIDs(lr), "Owner is always reported")
}

func TestPrivilegedAccountsConfig(t *testing.T) {
	cfg := defaultConfig()
	cfg.PrivilegedAccounts = []string{"andreas"}
	lr := processOne(t, cfg, fixtureEvent(t, "GLD-022", "rest: ordinary user with password"), viaReceiver)
	assert.Equal(t, []string{"GLD-022"}, ruleIDs(lr))
	lr = processOne(t, cfg, fixtureEvent(t, "GLD-022", "rest: root admin with password only"), viaReceiver)
	assert.Empty(t, ruleIDs(lr))
}

func TestRulesetName(t *testing.T) {
	cfg := defaultConfig()
	cfg.RulesetName = "acme-gitlab"
	lr := processOne(t, cfg, fixtureEvent(t, "GLD-080", "rest: project destroyed, scoped to the group"), viaReceiver)
	assert.Equal(t, "acme-gitlab", attrStr(lr, attrRulesetName))
}
