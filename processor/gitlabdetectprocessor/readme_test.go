// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package gitlabdetectprocessor

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"
)

// Run `go test -run TestREADME -update` to rewrite the generated sections
// of README.md after changing the rule table.
var update = flag.Bool("update", false, "rewrite the generated sections of README.md")

// publicRule is one rule of the public rule sets (shared detections.tsv)
// and how this processor covers it.
type publicRule struct {
	source, name string
	coveredBy    []string // built-in rule ids; empty when not covered
	note         string   // how, or why not
}

// publicRules lists every row of the team's detections.tsv.
var publicRules = []publicRule{
	{"Falco", "Repository Operation made from unknown country", []string{"GLD-106"}, "With geoip.databases: against each user's own countries of the last baseline.days days instead of a fixed list. Bulk clones are GLD-101."},
	{"Falco", "Admin Mode from unknown country", []string{"GLD-106"}, "With geoip.databases; HIGH for Admin Mode. Enabling Admin Mode from a usual country is routine and not tagged."},
	{"Falco", "Failed Login with Standard Authentication", []string{"GLD-095", "GLD-100"}, "Single failures at INFO; failures followed by a success at HIGH."},
	{"Falco", "Failed Login with failed OTP", []string{"GLD-095", "GLD-100"}, ""},
	{"Falco", "Failed Login with failed WebAuthn", []string{"GLD-095", "GLD-100"}, ""},
	{"Falco", "OmniAuth Authentication failed", []string{"GLD-095", "GLD-100"}, ""},
	{"Falco", "User Access has been locked", []string{"GLD-094"}, ""},
	{"Falco", "User disabled two-factor authentication", []string{"GLD-001", "GLD-002"}, "Removing one authenticator (GLD-002) is told apart from turning 2FA off (GLD-001); GLD-002 is HIGH unless the receiver's lookup says another factor remains."},
	{"Falco", "Group 2-Factor Authentication configuration changed", []string{"GLD-003", "GLD-004"}, "Only weakening changes fire (requirement off, longer grace period); Falco fires on any change, enabling included."},
	{"Falco", "Administrator Access Level was enabled on a user", []string{"GLD-042"}, ""},
	{"Falco", "Administrator impersonated another user", []string{"GLD-044"}, "Start of impersonation only; Falco also fires on the stop."},
	{"Falco", "Require re-authentication to approve set to false", []string{"GLD-006"}, "Also the group setting require_password_to_approve_updated."},
	{"Falco", "Project owner has modified the linked Security Policy Project", []string{"GLD-020"}, ""},
	{"Falco", "IP Restrictions Changed", []string{"GLD-015"}, ""},
	{"Falco", "SSH Certificate Created", []string{"GLD-053"}, ""},
	{"Falco", "GPG Key Created", []string{"GLD-054"}, ""},
	{"Falco", "Personal Access Token Created", []string{"GLD-090", "GLD-099"}, "Failed creations excluded. With the receiver's enrichment, GLD-099 tells long-lived and privileged tokens apart."},
	{"Falco", "Project Access Token Created", []string{"GLD-091", "GLD-099"}, "Scopes and role from GitLab's message in the note; expiry from enrichment (GLD-099)."},
	{"Falco", "Group Access Token Created", []string{"GLD-091", "GLD-099"}, ""},
	{"Falco", "Deploy Token Created", []string{"GLD-051", "GLD-061"}, "Project deploy tokens too, which Falco misses; write scopes raise it to HIGH (GLD-061)."},
	{"Falco", "Cluster Agent Token Created", []string{"GLD-055"}, ""},
	{"Falco", "Audit Event Destination Filter Created", []string{"GLD-019"}, ""},
	{"Falco", "Audit Event Streaming Destination updated or destroyed", []string{"GLD-016", "GLD-017"}, "Deletion (HIGH) apart from change (MEDIUM); the same 16 event types."},
	{"Falco", "Audit Event Streaming Header Update or Destroyed", []string{"GLD-018"}, ""},
	{"Datadog", "GitLab personal access token generated", []string{"GLD-090", "GLD-099"}, "Long or no expiry and privileged scopes decided with enrichment (GLD-099)."},
	{"Datadog", "GitLab group access token created", []string{"GLD-091"}, "The threat-intelligence escalation needs an IP reputation source: not done."},
	{"Datadog", "GitLab deploy token created", []string{"GLD-051", "GLD-061"}, "Threat-intelligence escalation not done (see above); write scopes escalate instead (GLD-061)."},
	{"Datadog", "GitLab project visibility changed", []string{"GLD-030", "GLD-032"}, "Only changes that widen access fire; Datadog fires on any change."},
	{"Datadog", "GitLab group visibility changed to public", []string{"GLD-031"}, ""},
	{"Datadog", "GitLab user's multi-factor authentication disabled", []string{"GLD-001"}, ""},
	{"Datadog", "GitLab new administrator added", []string{"GLD-042", "GLD-043"}, "admin_role_assigned_to_user is an alias of custom_admin_role_assigned_to_user."},
	{"Datadog", "Gitlab SSO disabled", []string{"GLD-005"}, "Same custom message, plus SAML disabled altogether and the change/to form."},
	{"Datadog", "GitLab brute force attack", []string{"GLD-100"}, "Threshold and window configurable (default 5 failures in 10m)."},
	{"Datadog", "Multiple GitLab OTP attempts denied", []string{"GLD-100", "GLD-094", "GLD-095"}, "High tier (failures then success) is GLD-100, medium (lockout) GLD-094; the low tier (repeated failures without success) is left to the INFO-level GLD-095."},
	{"Datadog", "Impossible travel GitLab event", []string{"GLD-105"}, "With geoip.databases; max_speed_kmh configurable (default 900). Roaming between a user's known places or networks (offices, VPN exits) is kept at LOW."},
	{"Datadog", "GitLab successive project or repository downloads", []string{"GLD-101"}, "Counts distinct repositories, and git clones when include_git_clones; alerts above each author's usual peak, with a higher threshold for automation accounts."},
	{"Sentinel", "GitLab - Repository visibility to Public", []string{"GLD-030"}, "Reads lower-case from/to, so the legacy change/from/to shape Sentinel targets works."},
	{"Sentinel", "GitLab - Abnormal number of repositories deleted", []string{"GLD-102"}, "Per author: a threshold, and a 14-day per-author baseline of usual peaks (kept in the storage extension) instead of Sentinel's global 7-day average."},
	{"Sentinel", "GitLab - User Impersonation", []string{"GLD-044"}, "The join with the impersonated user's later actions is not done: it needs per-session state keyed by the target user."},
	{"Sentinel", "GitLab - Local Auth - No MFA", []string{"GLD-022"}, "Accounts listed in privileged_accounts (default root, Administrator)."},
	{"Sentinel", "GitLab - Personal Access Tokens creation over time", []string{"GLD-090", "GLD-103"}, "A burst threshold per author instead of a daily series decomposition."},
	{"Sentinel", "GitLab - External User Added to GitLab", []string{"GLD-060"}, "The email-domain check needs the application log: user_created carries no email. A custom rule can check user.email of the author."},
	{"Sentinel", "GitLab - Brute-force Attempts", []string{"GLD-100"}, "Sentinel reads the application log, not audit events; GLD-100 is the audit-event equivalent."},
	{"Sentinel", "GitLab - TI - Connection from Malicious IP", nil, "NGINX access log and a threat-intelligence feed, not audit events."},
	{"Sentinel", "GitLab - SSO - Sign-Ins Burst", nil, "Entra ID sign-in logs, not GitLab audit events."},
	{"Panther", "GitLab.Audit.Password.Reset.Multiple.Emails", []string{"GLD-092"}, "Also on the password_reset_requested event type, not only the custom message."},
	{"Panther", "GitLab.Production.Password.Reset.Multiple.Emails", []string{"GLD-092"}, "Panther's rule reads the Rails production log; the audit side of the same attack is GLD-092."},
	{"Cortex XSIAM", "Gitlab - User Permission Changed (Guest to Owner)", []string{"GLD-040", "GLD-041"}, "Any role raised to Owner, or to a role in privileged_roles, in either role format."},
	{"Wazuh", "65612 (Gitlab) changed X from Y to Z", nil, "Renders every change at level 3: not a detection. Every record gets gitlab.audit.category instead."},
	{"Wazuh", "65603 / 65605 user created / removed", []string{"GLD-060"}, "Wazuh reads the application log; user creation from audit events is GLD-060. Removal is not a detection."},
	{"Wazuh", "65604 / 65606 project created / removed", []string{"GLD-080"}, "Application log in Wazuh; deletion from audit events is GLD-080. Creation is not a detection."},
	{"Wazuh", "65600-65602, 65621-65623 request success / error / redirect", nil, "Operational request logs, not audit events."},
	{"Chronicle (GitHub analog)", "Access granted to PAT followed by many non-public clones", []string{"GLD-090", "GLD-101"}, "Both halves are detected, but not correlated into one sequence."},
	{"Chronicle (GitHub analog)", "High number of non-public repositories downloaded", []string{"GLD-101"}, ""},
	{"GitLab guidance", "Credential exposure and token abuse", []string{"GLD-090", "GLD-091", "GLD-099", "GLD-052", "GLD-054", "GLD-060", "GLD-061", "GLD-070", "GLD-071", "GLD-072", "GLD-073", "GLD-074", "GLD-097"}, "GLD-061/074/099 use the receiver's enrichment (token expiry and scopes, variable flags, deploy key write access). \"By an unexpected user\" is site-specific: allowlists or custom rules."},
	{"GitLab guidance", "Compromised user account", []string{"GLD-001", "GLD-002", "GLD-005", "GLD-059", "GLD-090", "GLD-096", "GLD-098", "GLD-104", "GLD-105", "GLD-106"}, "Unusual locations are GLD-104 to GLD-106 with a GeoIP database; devices are not in the events."},
	{"GitLab guidance", "CI/CD abuse", []string{"GLD-023", "GLD-056", "GLD-070", "GLD-071", "GLD-072", "GLD-074"}, "Pipeline configuration changes are Git pushes, not audit events; job-token use (user_authenticated_using_job_token) is stream-only and high-volume, left to custom rules."},
	{"GitLab guidance", "Compromised instance", []string{"GLD-042", "GLD-043", "GLD-060"}, "\"Root user activity\" is a custom rule on user.name."},
	{"GitLab guidance", "Misconfigured project or group settings", []string{"GLD-007", "GLD-008", "GLD-010", "GLD-011", "GLD-012", "GLD-030", "GLD-031", "GLD-032", "GLD-057", "GLD-080", "GLD-081"}, "Server hooks have no audit event."},
	{"GitLab guidance", "Data exfiltration", []string{"GLD-030", "GLD-033", "GLD-034", "GLD-050", "GLD-051", "GLD-061", "GLD-097", "GLD-101"}, "Artifact downloads (job_artifact_downloaded, stream-only) are left to custom rules."},
	{"GitLab guidance", "Abuse and resource misuse", []string{"GLD-103"}, "Bursts of account creation or runner registration, and pipeline spikes, are not windowed rules yet."},
}

func cell(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "|", `\|`), "\n", " ")
}

func codeList(ss []string) string {
	parts := make([]string, len(ss))
	for i, s := range ss {
		parts[i] = "`" + s + "`"
	}
	return strings.Join(parts, ", ")
}

func generateRuleTable() string {
	var b strings.Builder
	b.WriteString("| ID | Name | Indicator | Severity | ATT&CK | Event types | Condition | Enrichment / baseline |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|\n")
	for _, d := range builtinRules {
		sev := d.Severity.String()
		if d.Raised != "" {
			sev += " (" + d.Severity.raised().String() + " when " + d.Raised + ")"
		}
		if d.Lowered != "" {
			sev += " (" + gradeLower.apply(d.Severity).String() + " when " + d.Lowered + ")"
		}
		uses := "–"
		switch {
		case len(d.Enrichment) > 0:
			uses = "enrichment: " + codeList(d.Enrichment)
		case d.Baseline:
			uses = "per-author baseline, automation threshold"
		}
		attack := make([]string, len(d.Techniques))
		for i, tech := range d.Techniques {
			attack[i] = fmt.Sprintf("%s (%s %s)", tech, d.Tactics[i], attackTactics[d.Tactics[i]].Name)
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s | %s |\n",
			d.ID, cell(d.Name), d.Indicator, cell(sev), strings.Join(attack, ", "), codeList(d.EventTypes), cell(d.Condition), cell(uses))
	}
	return b.String()
}

func generateRuleDetails() string {
	var b strings.Builder
	b.WriteString("| ID | Description | Fields read | Events without a name (legacy shape) |\n")
	b.WriteString("|---|---|---|---|\n")
	for _, d := range builtinRules {
		fields := "event type only"
		if len(d.Fields) > 0 {
			fields = codeList(d.Fields)
		}
		legacy := "matched (type inferred)"
		if d.NoLegacy != "" {
			legacy = "not matched: " + d.NoLegacy
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", d.ID, cell(d.Description), fields, cell(legacy))
	}
	return b.String()
}

func generateCoverage() string {
	var b strings.Builder
	b.WriteString("| Source | Public rule | Covered by | Notes |\n")
	b.WriteString("|---|---|---|---|\n")
	for _, r := range publicRules {
		by := "not covered"
		if len(r.coveredBy) > 0 {
			by = strings.Join(r.coveredBy, ", ")
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", r.source, cell(r.name), by, cell(r.note))
	}
	return b.String()
}

var generatedSections = map[string]func() string{
	"rules":        generateRuleTable,
	"rule-details": generateRuleDetails,
	"coverage":     generateCoverage,
	"no-rule":      generateNoRule,
	"attack":       generateAttack,
}

func TestREADMEIsGenerated(t *testing.T) {
	raw, err := os.ReadFile("README.md")
	require.NoError(t, err)
	readme := string(raw)
	for _, name := range sortedKeys(generatedSections) {
		re := regexp.MustCompile(`(?s)(<!-- BEGIN GENERATED: ` + regexp.QuoteMeta(name) + ` -->\n)(.*?)(<!-- END GENERATED: ` + regexp.QuoteMeta(name) + ` -->)`)
		m := re.FindStringSubmatchIndex(readme)
		require.NotNil(t, m, "README.md lacks the generated section %q", name)
		want := generatedSections[name]()
		got := readme[m[4]:m[5]]
		if *update {
			readme = readme[:m[4]] + want + readme[m[5]:]
			continue
		}
		assert.Equal(t, want, got, "README section %q is out of date: run go test -run TestREADMEIsGenerated -update", name)
	}
	if *update {
		require.NoError(t, os.WriteFile("README.md", []byte(readme), 0o600))
	}
	stateless, windowed := 0, 0
	for _, d := range builtinRules {
		if d.Window == windowNone {
			stateless++
		} else {
			windowed++
		}
	}
	assert.Contains(t, readme, fmt.Sprintf("%d built-in\n   stateless rules, %d windowed rules", stateless, windowed))
}

func TestREADMEExampleConfig(t *testing.T) {
	raw, err := os.ReadFile("README.md")
	require.NoError(t, err)
	m := regexp.MustCompile("(?s)<!-- example: config -->\n```yaml\n(.*?)```").FindStringSubmatch(string(raw))
	require.NotNil(t, m, "README.md lacks the example configuration")
	path := filepath.Join(t.TempDir(), "example.yaml")
	require.NoError(t, os.WriteFile(path, []byte(m[1]), 0o600))
	cm, err := confmaptest.LoadConf(path)
	require.NoError(t, err)
	sub, err := cm.Sub("processors::gitlab_detect")
	require.NoError(t, err)
	cfg := defaultConfig()
	require.NoError(t, sub.Unmarshal(cfg))
	require.NoError(t, confmap.Validate(cfg))
	require.Len(t, cfg.CustomRules, 2)

	lr := processOne(t, cfg, eventJSON(t, map[string]any{
		"id": 1, "author_id": 1, "entity_id": 1, "entity_type": "User", "event_name": "personal_access_token_created",
		"details": map[string]any{
			"event_name": "personal_access_token_created", "author_name": "root", "ip_address": "203.0.113.8",
			"target_id": 1, "target_type": "User", "target_details": "root", "custom_message": "Created personal access token with id 9",
		},
		"created_at": "2024-06-01T10:00:00Z",
	}), viaReceiver)
	assert.Equal(t, []string{"acme-root-activity", "acme-token-outside-vpn", "GLD-090"}, ruleIDs(lr))
}

func TestPublicCoverageNamesRealRules(t *testing.T) {
	known := map[string]bool{}
	for _, d := range builtinRules {
		known[d.ID] = true
	}
	for _, r := range publicRules {
		for _, id := range r.coveredBy {
			assert.True(t, known[id], "%s / %s: unknown rule %s", r.source, r.name, id)
		}
		if len(r.coveredBy) == 0 {
			assert.NotEmpty(t, r.note, "%s / %s: an uncovered rule needs a reason", r.source, r.name)
		}
	}
	assert.Len(t, publicRules, 61, "one entry per row of detections.tsv")
}

func TestREADMEDocumentsEveryOption(t *testing.T) {
	raw, err := os.ReadFile("README.md")
	require.NoError(t, err)
	for _, key := range []string{
		"ruleset_name", "rules.disabled", "rules.severity_overrides", "privileged_roles", "privileged_accounts",
		"allowlist.authors", "allowlist.ip_ranges", "allowlist.groups", "allowlist.projects", "rule_allowlists",
		"windows.brute_force.failures", "windows.brute_force.window", "windows.mass_download.count",
		"windows.mass_download.window", "windows.mass_download.include_git_clones", "windows.mass_deletion.count",
		"windows.mass_deletion.window", "windows.token_burst.count", "windows.token_burst.window",
		"windows.max_tracked_authors", "custom_rules", "error_mode", "token_max_lifetime",
		"windows.mass_download.automation_count", "windows.mass_deletion.automation_count", "windows.token_burst.automation_count",
		"baseline.enabled", "baseline.days", "baseline.factor", "baseline.max_authors", "baseline.save_interval",
		"automation.accounts", "storage", metricSuppressed,
		"geoip.databases", "geoip.check_interval", "geoip.impossible_travel.max_speed_kmh",
		"geoip.impossible_travel.min_distance_km", "geoip.max_places_per_user", "geoip.shared_place_users",
		attrGeoCountry, attrGeoLocality, attrGeoLat, attrGeoLon, attrASNumber, attrASOrg,
		attrCategory, attrRuleUUID, attrRuleName, attrRuleCategory, attrRuleDescription, attrRuleReference,
		attrRulesetName, attrIndicator, attrSeverity, attrRuleIDs, attrIndicators, attrTechniques, attrTacticIDs, attrTactics, attrNote,
		attrEventType, attrEventTypeSource,
	} {
		assert.Contains(t, string(raw), "`"+key+"`", "README.md does not document %s", key)
	}
}
