// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package gitlabdetectprocessor

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/kyra-mdr/otelcol-gitlab/internal/auditevent"
)

func TestSplitScopes(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"[:api, :read_repository]", []string{"api", "read_repository"}},
		{`["api","write_registry"]`, []string{"api", "write_registry"}},
		{"api read_user", []string{"api", "read_user"}},
		{"[]", nil},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, splitScopes(tt.in), tt.in)
	}
}

func TestParseFactTime(t *testing.T) {
	d, ok := parseFactTime("2025-06-03")
	require.True(t, ok)
	assert.Equal(t, time.Date(2025, 6, 3, 0, 0, 0, 0, time.UTC), d)
	d, ok = parseFactTime("2030-01-01T00:00:00.000Z")
	require.True(t, ok)
	assert.Equal(t, 2030, d.Year())
	_, ok = parseFactTime("soon")
	assert.False(t, ok)
}

// A graded rule raises one step above its severity after overrides.
func TestGradedRuleRaisesAfterOverride(t *testing.T) {
	raw := fixtureEvent(t, "GLD-074", "stream: created neither protected nor masked")
	enrich := func(lr plog.LogRecord) {
		lr.Attributes().PutStr(auditevent.AttrEnrichmentStatus, auditevent.EnrichmentStatusOK)
		lr.Attributes().PutBool(auditevent.AttrCIVariableProtected, false)
		lr.Attributes().PutBool(auditevent.AttrCIVariableMasked, false)
	}
	cfg := defaultConfig()
	lr := processOne(t, cfg, raw, viaReceiver, enrich)
	assert.Equal(t, "CRITICAL", attrStr(lr, attrSeverity))
	assert.Contains(t, attrStr(lr, attrNote), "neither protected nor masked")

	cfg = defaultConfig()
	cfg.Rules.SeverityOverrides = map[string]string{"GLD-074": "medium"}
	lr = processOne(t, cfg, raw, viaReceiver, enrich)
	assert.Equal(t, "HIGH", attrStr(lr, attrSeverity))
}

// token_max_lifetime decides GLD-099, measured from created_at.
func TestTokenMaxLifetime(t *testing.T) {
	raw := fixtureEvent(t, "GLD-090", "rest: PAT created") // created 2024-06-03
	enrich := func(lr plog.LogRecord) {
		lr.Attributes().PutStr(auditevent.AttrEnrichmentStatus, auditevent.EnrichmentStatusOK)
		lr.Attributes().PutStr(auditevent.AttrTokenExpiresAt, "2024-08-01")
	}
	lr := processOne(t, defaultConfig(), raw, viaReceiver, enrich)
	assert.NotContains(t, ruleIDs(lr), "GLD-099", "59 days is within the default 90")

	cfg := defaultConfig()
	cfg.TokenMaxLifetime = 30 * 24 * time.Hour
	lr = processOne(t, cfg, raw, viaReceiver, enrich)
	assert.Contains(t, ruleIDs(lr), "GLD-099")
	assert.Contains(t, attrStr(lr, attrNote), "expires 2024-08-01, 58 days after creation")
}
