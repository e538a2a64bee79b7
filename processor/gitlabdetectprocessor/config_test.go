// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package gitlabdetectprocessor

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/ottl"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"

	"github.com/kyra-mdr/otelcol-gitlab/processor/gitlabdetectprocessor/internal/metadata"
)

func loadConfig(t *testing.T, name string) (*Config, error) {
	t.Helper()
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)
	id := component.NewID(metadata.Type)
	if name != "" {
		id = component.NewIDWithName(metadata.Type, name)
	}
	sub, err := cm.Sub(id.String())
	require.NoError(t, err)
	cfg := createDefaultConfig().(*Config)
	if err := sub.Unmarshal(cfg); err != nil {
		return cfg, err
	}
	return cfg, confmap.Validate(cfg)
}

func TestLoadDefaultConfig(t *testing.T) {
	cfg, err := loadConfig(t, "")
	require.NoError(t, err)
	assert.Equal(t, createDefaultConfig(), cfg)
	assert.Equal(t, "gitlab-audit", cfg.RulesetName)
	assert.Equal(t, []string{"Owner", "Maintainer"}, cfg.PrivilegedRoles)
	assert.Equal(t, BruteForceConfig{Failures: 5, Window: 10 * time.Minute}, cfg.Windows.BruteForce)
	assert.Equal(t, MassDownloadConfig{Count: 20, AutomationCount: 100, Window: 5 * time.Minute, IncludeGitClones: true}, cfg.Windows.MassDownload)
	assert.Equal(t, CountWindowConfig{Count: 5, AutomationCount: 20, Window: 10 * time.Minute}, cfg.Windows.MassDeletion)
	assert.Equal(t, CountWindowConfig{Count: 5, AutomationCount: 20, Window: 10 * time.Minute}, cfg.Windows.TokenBurst)
	assert.Equal(t, 10000, cfg.Windows.MaxTrackedAuthors)
	assert.Equal(t, BaselineConfig{Enabled: true, Days: 14, Factor: 1.5, MaxAuthors: 10000, SaveInterval: time.Minute}, cfg.Baseline)
	assert.Nil(t, cfg.Storage)
	assert.Equal(t, ottl.IgnoreError, cfg.ErrorMode)
}

func TestLoadFullConfig(t *testing.T) {
	cfg, err := loadConfig(t, "full")
	require.NoError(t, err)
	assert.Equal(t, "acme-gitlab", cfg.RulesetName)
	assert.Equal(t, []string{"GLD-095", "gld-059"}, cfg.Rules.Disabled)
	assert.Equal(t, map[string]string{"GLD-052": "medium", "custom-ci-bot-token": "HIGH"}, cfg.Rules.SeverityOverrides)
	assert.Equal(t, []string{"Owner", "Maintainer", "Security Admin"}, cfg.PrivilegedRoles)
	assert.Equal(t, 30*24*time.Hour, cfg.TokenMaxLifetime)
	assert.Equal(t, AllowlistConfig{
		Authors:  []string{"backup-bot", "42"},
		IPRanges: []string{"10.0.0.0/8", "192.0.2.10", "2001:db8::/32"},
		Groups:   []string{"acme/sandbox"},
		Projects: []string{"acme/playground"},
	}, cfg.Allowlist)
	assert.Equal(t, map[string]AllowlistConfig{"GLD-101": {Authors: []string{"mirror-bot"}}}, cfg.RuleAllowlists)
	assert.Equal(t, WindowsConfig{
		BruteForce:        BruteForceConfig{Failures: 3, Window: 5 * time.Minute},
		MassDownload:      MassDownloadConfig{Count: 10, AutomationCount: 50, Window: 2 * time.Minute},
		MassDeletion:      CountWindowConfig{Count: 3, AutomationCount: 20, Window: time.Hour},
		TokenBurst:        CountWindowConfig{Count: 4, AutomationCount: 20, Window: 15 * time.Minute},
		MaxTrackedAuthors: 500,
	}, cfg.Windows)
	assert.Equal(t, BaselineConfig{Enabled: true, Days: 7, Factor: 2, MaxAuthors: 10000, SaveInterval: 30 * time.Second}, cfg.Baseline)
	assert.Equal(t, []string{"release-bot", "1234"}, cfg.Automation.Accounts)
	require.NotNil(t, cfg.Storage)
	assert.Equal(t, "file_storage/detect", cfg.Storage.String())
	require.Len(t, cfg.CustomRules, 1)
	assert.Equal(t, CustomRuleConfig{
		ID: "custom-ci-bot-token", Name: "Token created by the CI bot", Indicator: "credential_risk",
		Severity: "medium", Techniques: []string{"T1098.001"},
		Description: "The CI bot account should never create tokens.",
		Reference:   "https://wiki.example.com/gitlab/ci-bot",
		EventTypes:  []string{"personal_access_token_created", "project_access_token_created"},
		Conditions:  []string{`log.attributes["user.name"] == "ci-bot"`},
	}, cfg.CustomRules[0])
	assert.Equal(t, ottl.PropagateError, cfg.ErrorMode)
}

func TestInvalidConfigs(t *testing.T) {
	tests := []struct {
		name string
		want []string // each error must appear, naming field and offending text
	}{
		{"unknown_rule_id", []string{`rules::disabled::1: unknown rule id "GLD-999"`}},
		{"bad_severity", []string{`rules::severity_overrides::GLD-001: unknown severity "SUPER"`}},
		{"bad_cidr", []string{
			`allowlist::ip_ranges::1: invalid CIDR range "10.0.0.0/33"`,
			`allowlist::ip_ranges::2: invalid IP address or CIDR range "not-an-ip"`,
		}},
		{"bad_ottl", []string{`custom_rules::0::conditions::1: invalid OTTL condition "log.attributes[\"user.name\"] == "`}},
		{"bad_custom", []string{
			`custom_rules::0::id: "GLD-500" uses the GLD- prefix reserved for built-in rules`,
			`custom_rules::0::name: must not be empty`,
			`custom_rules::0::indicator: "Bad Indicator" must be lower_snake_case`,
			`custom_rules::0::severity: unknown severity "extreme"`,
			`custom_rules::0::techniques::0: "TA0001" is not an ATT&CK technique id`,
			`custom_rules::0::event_types::0: "Not A Type" is not a GitLab event type name`,
			`custom_rules::0::conditions: at least one OTTL condition is required`,
			`custom_rules::2::id: duplicate rule id "CUSTOM-DUP"`,
			`custom_rules::2::conditions::0: invalid OTTL condition "attributes[\"x\"] == \"y\""`,
		}},
		{"bad_windows", []string{
			`windows::brute_force::failures: must be at least 1, got 0`,
			`windows::brute_force::window: must be positive, got 0s`,
			`windows::mass_deletion::count: must be at least 1, got -1`,
			`windows::max_tracked_authors: must be at least 1, got 0`,
			`token_max_lifetime: must be positive, got 0s`,
			`windows::mass_download::automation_count: must be at least count (20), got 5`,
			`baseline::days: must be at least 1, got 0`,
			`baseline::factor: must be at least 1, got 0.5`,
			`automation::accounts::0: must not be empty`,
		}},
		{"bad_lists", []string{
			`ruleset_name: must not be empty`,
			`privileged_roles::1: must not be empty`,
			`rule_allowlists::GLD-777: unknown rule id "GLD-777"`,
			`rule_allowlists::GLD-777::groups::0: invalid group path "/"`,
			`rule_allowlists::GLD-001::projects::0: invalid project full path "justaname"`,
			`rule_allowlists::GLD-001::authors::0: must not be empty`,
		}},
		{"bad_error_mode", []string{`unknown error mode loud`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := loadConfig(t, tt.name)
			require.Error(t, err)
			for _, w := range tt.want {
				assert.Contains(t, err.Error(), w)
			}
		})
	}
}

func TestValidateErrorMode(t *testing.T) {
	cfg := defaultConfig()
	cfg.ErrorMode = "loud"
	assert.ErrorContains(t, cfg.Validate(), `error_mode: unknown error mode "loud"`)
}

func TestSeverityOverrideOfCustomRuleIsKnown(t *testing.T) {
	cfg, err := loadConfig(t, "full")
	require.NoError(t, err)
	cfg.CustomRules = nil
	assert.ErrorContains(t, cfg.Validate(), `rules::severity_overrides::custom-ci-bot-token: unknown rule id`)
}
