// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package gitlabdetectprocessor

import (
	"github.com/kyra-mdr/otelcol-gitlab/internal/auditevent"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog"
)

func TestAllowlistMatches(t *testing.T) {
	al, err := newAllowlist(AllowlistConfig{
		Authors:  []string{"Backup-Bot", "42", "ops@example.com"},
		IPRanges: []string{"10.0.0.0/8", "192.0.2.10", "2001:db8::/32"},
		Groups:   []string{"/acme/sandbox/"},
		Projects: []string{"acme/playground"},
	})
	require.NoError(t, err)
	ev := func(body map[string]any, attrs map[string]string) *event {
		lr := plog.NewLogRecord()
		require.NoError(t, lr.Body().SetEmptyMap().FromRaw(map[string]any{"details": body}))
		for k, v := range attrs {
			lr.Attributes().PutStr(k, v)
		}
		e := &event{}
		e.init(lr)
		return e
	}
	tests := []struct {
		name string
		e    *event
		want bool
	}{
		{"author name, any case", ev(map[string]any{"author_name": "backup-bot"}, nil), true},
		{"author id attribute", ev(nil, map[string]string{auditevent.AttrUserID: "42"}), true},
		{"author email", ev(map[string]any{"author_email": "OPS@example.com"}, nil), true},
		{"other author", ev(map[string]any{"author_name": "Mallory"}, nil), false},
		{"ip in range", ev(map[string]any{"ip_address": "10.20.30.40"}, nil), true},
		{"single ip", ev(nil, map[string]string{auditevent.AttrClientAddress: "192.0.2.10"}), true},
		{"neighbour ip", ev(nil, map[string]string{auditevent.AttrClientAddress: "192.0.2.11"}), false},
		{"ipv6 in range", ev(map[string]any{"ip_address": "2001:db8::1"}, nil), true},
		{"ipv4-mapped ipv6", ev(map[string]any{"ip_address": "::ffff:10.1.2.3"}, nil), true},
		{"unparsable ip", ev(map[string]any{"ip_address": "unknown"}, nil), false},
		{"group itself", ev(map[string]any{"entity_path": "acme/sandbox"}, nil), true},
		{"below the group", ev(map[string]any{"entity_path": "ACME/Sandbox/tools/x"}, nil), true},
		{"similar prefix is not below", ev(map[string]any{"entity_path": "acme/sandboxed"}, nil), false},
		{"parent group is not below", ev(map[string]any{"entity_path": "acme"}, nil), false},
		{"project exact", ev(map[string]any{"entity_path": "acme/playground"}, nil), true},
		{"project target of a group event", ev(map[string]any{"entity_path": "acme", "target_type": "Project", "target_details": "acme/playground"}, nil), true},
		{"project is not a prefix", ev(map[string]any{"entity_path": "acme/playground2"}, nil), false},
		{"user target details are not paths", ev(map[string]any{"entity_path": "acme", "target_type": "User", "target_details": "acme/playground"}, nil), false},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, al.matches(tt.e), tt.name)
	}
	var none *allowlist
	assert.False(t, none.matches(ev(map[string]any{"author_name": "x"}, nil)))
	empty, err := newAllowlist(AllowlistConfig{})
	require.NoError(t, err)
	assert.Nil(t, empty)
}

func TestGlobalAllowlistSuppressesEveryRule(t *testing.T) {
	cfg := defaultConfig()
	cfg.Allowlist.Groups = []string{"acme"}
	cfg.CustomRules = []CustomRuleConfig{{ID: "custom-all", Name: "All", Indicator: "audit", Severity: "INFO", Conditions: []string{"true"}}}
	lr := processOne(t, cfg, fixtureEvent(t, "GLD-080", "rest: project destroyed, scoped to the group"), viaReceiver)
	assert.Empty(t, ruleIDs(lr), "built-in and custom rules are suppressed")
	assert.Equal(t, "Repository", attrStr(lr, attrCategory), "the category is still written")
	assert.Equal(t, plog.SeverityNumberInfo, lr.SeverityNumber())
}

func TestRuleAllowlistSuppressesOneRule(t *testing.T) {
	cfg := defaultConfig()
	cfg.RuleAllowlists = map[string]AllowlistConfig{"GLD-080": {Authors: []string{"Administrator"}}}
	cfg.CustomRules = []CustomRuleConfig{{
		ID: "custom-destroy", Name: "Destroy", Indicator: "data_destruction", Severity: "LOW",
		EventTypes: []string{"project_destroyed"}, Conditions: []string{"true"},
	}}
	lr := processOne(t, cfg, fixtureEvent(t, "GLD-080", "rest: project destroyed, scoped to the group"), viaReceiver)
	assert.Equal(t, []string{"custom-destroy"}, ruleIDs(lr))

	cfg.RuleAllowlists["custom-destroy"] = AllowlistConfig{IPRanges: []string{"198.51.100.0/24"}}
	lr = processOne(t, cfg, fixtureEvent(t, "GLD-080", "rest: project destroyed, scoped to the group"), viaBodyMap)
	assert.Empty(t, ruleIDs(lr), "per-rule allowlists work on body-only records too")
}
