// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package gitlabdetectprocessor

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// revokedInV19 are the technique ids ATT&CK v19 revoked that an older
// mapping of these rules used, with their replacements.
var revokedInV19 = map[string]string{
	"T1562": "T1685", "T1562.001": "T1685", "T1562.007": "T1686.001", "T1562.008": "T1685.002",
}

// TestEveryTechniqueHasItsTactic: each built-in rule maps each of its
// techniques under one tactic the technique belongs to, in the ATT&CK
// release the README states, and uses no revoked id.
func TestEveryTechniqueHasItsTactic(t *testing.T) {
	for _, d := range builtinRules {
		require.NotEmpty(t, d.Techniques, d.ID)
		require.Len(t, d.Tactics, len(d.Techniques), "%s: one tactic per technique", d.ID)
		for i, tech := range d.Techniques {
			_, revoked := revokedInV19[tech]
			assert.False(t, revoked, "%s: %s was revoked in v19 (now %s)", d.ID, tech, revokedInV19[tech])
			at, ok := attackTechniques[tech]
			if !assert.True(t, ok, "%s: technique %s is not in attackTechniques", d.ID, tech) {
				continue
			}
			assert.Contains(t, at.Tactics, d.Tactics[i], "%s: %s is not a tactic of %s %s", d.ID, d.Tactics[i], tech, at.Name)
		}
	}
	for id, tech := range attackTechniques {
		assert.Regexp(t, techniqueRE, id)
		for _, tac := range tech.Tactics {
			_, ok := attackTactics[tac]
			assert.True(t, ok, "%s: unknown tactic %s", id, tac)
		}
	}
	for id, tac := range attackTactics {
		assert.Equal(t, id, tac.ID)
	}
}

// TestTacticsWritten: every matched rule's tactics are written, once each,
// ids and names in the same order; custom rules get the tactic of the
// techniques the table knows.
func TestTacticsWritten(t *testing.T) {
	cfg := defaultConfig()
	cfg.CustomRules = []CustomRuleConfig{{
		ID: "acme-token", Name: "Token", Indicator: "credential_risk", Severity: "LOW",
		Techniques: []string{"T1098.001", "T1609"}, EventTypes: []string{"personal_access_token_created"},
		Conditions: []string{"true"},
	}}
	// GLD-013: T1685 (Defense Impairment) and T1552.001 (Credential Access).
	lr := processOne(t, cfg, fixtureEvent(t, "GLD-013", "rest: push with protection skipped"), viaReceiver)
	assert.Equal(t, []string{"T1685", "T1552.001"}, sliceAttr(lr, attrTechniques))
	assert.Equal(t, []string{"TA0112", "TA0006"}, sliceAttr(lr, attrTacticIDs))
	assert.Equal(t, []string{"Defense Impairment", "Credential Access"}, sliceAttr(lr, attrTactics))

	lr = processOne(t, cfg, fixtureEvent(t, "GLD-090", "rest: PAT created"), viaReceiver)
	assert.Equal(t, []string{"T1098.001", "T1609"}, sliceAttr(lr, attrTechniques))
	assert.Equal(t, []string{"TA0003"}, sliceAttr(lr, attrTacticIDs), "T1609 is not in the table: no tactic")
	assert.Equal(t, []string{"Persistence"}, sliceAttr(lr, attrTactics))
}

func TestTacticsOf(t *testing.T) {
	for _, tt := range []struct {
		in   []string
		want []string
	}{
		{[]string{"T1078"}, []string{"TA0001"}},
		{[]string{"T1078.003"}, []string{"TA0001"}}, // parent known
		{[]string{"T1609"}, nil},
		{[]string{"T1485", "T1110"}, []string{"TA0040", "TA0006"}},
	} {
		assert.Equal(t, tt.want, tacticsOf(tt.in), "%v", tt.in)
	}
}

// generateAttack is the README's ATT&CK table.
func generateAttack() string {
	var b strings.Builder
	b.WriteString("| Technique | Name | Tactics in " + attackVersion + " | Rules (tactic they map it under) |\n|---|---|---|---|\n")
	for _, id := range sortedKeys(attackTechniques) {
		tech := attackTechniques[id]
		var tactics, rules []string
		for _, tac := range tech.Tactics {
			tactics = append(tactics, tac+" "+attackTactics[tac].Name)
		}
		for _, d := range builtinRules {
			for i, x := range d.Techniques {
				if x == id {
					rules = append(rules, fmt.Sprintf("%s (%s)", d.ID, d.Tactics[i]))
				}
			}
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", id, tech.Name, strings.Join(tactics, ", "), strings.Join(rules, ", "))
	}
	return b.String()
}
