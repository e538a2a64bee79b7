// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package gitlabdetectprocessor

import (
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/ottl"
	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/ottl/contexts/ottllog"
	"go.opentelemetry.io/collector/component"
	"go.uber.org/zap"

	"github.com/kyra-mdr/otelcol-gitlab/internal/auditevent"
)

// Config is the configuration of the gitlab_detect processor.
type Config struct {
	// RulesetName is written as security_rule.ruleset.name on every matching record.
	RulesetName string `mapstructure:"ruleset_name"`
	// Rules disables built-in or custom rules and overrides their severity.
	Rules RulesConfig `mapstructure:"rules"`
	// PrivilegedRoles lists the member roles (default or custom role names,
	// case-insensitive) whose grant is reported by GLD-041. Owner is always
	// reported, by GLD-040.
	PrivilegedRoles []string `mapstructure:"privileged_roles"`
	// PrivilegedAccounts lists account names (case-insensitive) that must not
	// sign in with a password alone (GLD-022).
	PrivilegedAccounts []string `mapstructure:"privileged_accounts"`
	// TokenMaxLifetime is the longest lifetime, from the event's created_at
	// to the looked-up expiry, an access token may have before GLD-099
	// reports it.
	TokenMaxLifetime time.Duration `mapstructure:"token_max_lifetime"`
	// Allowlist suppresses every rule for the events it matches.
	Allowlist AllowlistConfig `mapstructure:"allowlist"`
	// RuleAllowlists suppresses one rule, by id, for the events it matches.
	RuleAllowlists map[string]AllowlistConfig `mapstructure:"rule_allowlists"`
	// Windows configures the windowed (stateful) rules.
	Windows WindowsConfig `mapstructure:"windows"`
	// Baseline configures the per-author baselines of GLD-101, GLD-102 and GLD-103.
	Baseline BaselineConfig `mapstructure:"baseline"`
	// Automation configures how automation accounts are recognised.
	Automation AutomationConfig `mapstructure:"automation"`
	// Storage is the ID of a storage extension (e.g. file_storage) that
	// keeps the baselines across restarts; without it they live in memory.
	Storage *component.ID `mapstructure:"storage"`
	// GeoIP locates client addresses with MaxMind-format databases and
	// configures the geo rules GLD-104..106 (geoip.go).
	GeoIP GeoIPConfig `mapstructure:"geoip"`
	// CustomRules are rules written as OTTL log conditions.
	CustomRules []CustomRuleConfig `mapstructure:"custom_rules"`
	// ErrorMode tells what to do when a custom rule's condition fails to
	// evaluate: ignore (log, treat as no match), silent (treat as no match)
	// or propagate (fail the whole batch).
	ErrorMode ottl.ErrorMode `mapstructure:"error_mode"`
	// OCSF writes the OCSF classification (ocsf.*) on every record (schema.go).
	OCSF SchemaConfig `mapstructure:"ocsf"`
	// ECS writes the ECS fields event.action, event.outcome, related.user,
	// related.ip and threat.framework where the event has the data.
	ECS SchemaConfig `mapstructure:"ecs"`

	// prevent unkeyed literal initialization
	_ struct{}
}

// RulesConfig disables rules and overrides their severity.
type RulesConfig struct {
	// Disabled lists rule ids (built-in or custom) that never fire.
	Disabled []string `mapstructure:"disabled"`
	// SeverityOverrides sets the severity of a rule, by id.
	SeverityOverrides map[string]string `mapstructure:"severity_overrides"`
}

// AllowlistConfig lists events that must not be reported. An event is
// allowlisted when any entry of any list matches it.
type AllowlistConfig struct {
	// Authors: the author's name, id or email, compared case-insensitively.
	Authors []string `mapstructure:"authors"`
	// IPRanges: CIDR ranges or single addresses matched against the client address.
	IPRanges []string `mapstructure:"ip_ranges"`
	// Groups: group full paths; an event whose entity path is the group or
	// lies below it matches.
	Groups []string `mapstructure:"groups"`
	// Projects: project full paths, matched exactly against the entity path,
	// or against the target of events about a project (such as project_destroyed).
	Projects []string `mapstructure:"projects"`
}

// WindowsConfig configures the windowed rules.
type WindowsConfig struct {
	// BruteForce: GLD-100, Failures failed sign-ins followed by a successful one within Window.
	BruteForce BruteForceConfig `mapstructure:"brute_force"`
	// MassDownload: GLD-101, Count distinct repositories downloaded, exported or cloned within Window.
	MassDownload MassDownloadConfig `mapstructure:"mass_download"`
	// MassDeletion: GLD-102, Count distinct projects or groups deleted within Window.
	MassDeletion CountWindowConfig `mapstructure:"mass_deletion"`
	// TokenBurst: GLD-103, Count tokens created within Window.
	TokenBurst CountWindowConfig `mapstructure:"token_burst"`
	// MaxTrackedAuthors bounds the memory of each windowed rule: when more
	// authors are tracked, the one seen least recently is forgotten.
	MaxTrackedAuthors int `mapstructure:"max_tracked_authors"`
}

// BaselineConfig configures the per-author baselines of the windowed
// rules GLD-101, GLD-102 and GLD-103.
type BaselineConfig struct {
	// Enabled turns the baselines on: a windowed rule then alerts only when
	// the count also exceeds the author's usual peak by Factor, or when the
	// author has no history.
	Enabled bool `mapstructure:"enabled"`
	// Days is how many days of event time an author's peaks are remembered.
	Days int `mapstructure:"days"`
	// Factor is the margin above the usual peak a count must exceed.
	Factor float64 `mapstructure:"factor"`
	// MaxAuthors bounds the authors remembered per rule; the one seen least
	// recently is forgotten first.
	MaxAuthors int `mapstructure:"max_authors"`
	// SaveInterval is how often changed baselines are written to storage
	// (they are also written at shutdown).
	SaveInterval time.Duration `mapstructure:"save_interval"`
}

// AutomationConfig says which authors are automation: service accounts,
// bots, deploy tokens and keys. Windowed rules use their automation_count
// threshold for them.
type AutomationConfig struct {
	// Accounts lists usernames or user ids (case-insensitive) of automation
	// accounts, besides those recognised from the event and the enrichment.
	Accounts []string `mapstructure:"accounts"`
}

// BruteForceConfig configures GLD-100.
type BruteForceConfig struct {
	// Failures is the number of failed sign-ins that must precede a success.
	Failures int `mapstructure:"failures"`
	// Window is how far back failures are counted from the success.
	Window time.Duration `mapstructure:"window"`
}

// MassDownloadConfig configures GLD-101.
type MassDownloadConfig struct {
	// Count is the number of distinct repositories that fires the rule.
	Count int `mapstructure:"count"`
	// Window is the sliding window the repositories are counted in.
	Window time.Duration `mapstructure:"window"`
	// AutomationCount is the threshold for automation accounts.
	AutomationCount int `mapstructure:"automation_count"`
	// IncludeGitClones counts git clones and fetches (repository_git_operation
	// with git-upload-pack, a stream-only event type) besides archive
	// downloads and export downloads.
	IncludeGitClones bool `mapstructure:"include_git_clones"`
}

// CountWindowConfig configures a rule that fires at Count events within Window.
type CountWindowConfig struct {
	// Count is the number of events (or distinct targets) that fires the rule.
	Count int `mapstructure:"count"`
	// AutomationCount is the threshold for automation accounts.
	AutomationCount int `mapstructure:"automation_count"`
	// Window is the sliding window they are counted in.
	Window time.Duration `mapstructure:"window"`
}

// CustomRuleConfig is a rule written as OTTL log conditions.
type CustomRuleConfig struct {
	// ID identifies the rule (security_rule.uuid); it must be unique and must
	// not use the GLD- prefix of the built-in rules.
	ID string `mapstructure:"id"`
	// Name is written as security_rule.name.
	Name string `mapstructure:"name"`
	// Indicator is written as security_rule.category and gitlab.detect.indicator.
	Indicator string `mapstructure:"indicator"`
	// Severity is one of INFO, LOW, MEDIUM, HIGH, CRITICAL.
	Severity string `mapstructure:"severity"`
	// Techniques are MITRE ATT&CK technique ids (T1234 or T1234.001).
	Techniques []string `mapstructure:"techniques"`
	// Description is written as security_rule.description.
	Description string `mapstructure:"description"`
	// Reference is written as security_rule.reference.
	Reference string `mapstructure:"reference"`
	// EventTypes, when set, restricts the rule to these event types (aliases
	// are resolved) and lets the processor skip it for every other event.
	EventTypes []string `mapstructure:"event_types"`
	// Conditions are OTTL log conditions; the rule matches when any is true.
	Conditions []string `mapstructure:"conditions"`
}

var (
	techniqueRE = regexp.MustCompile(`^T[0-9]{4}(\.[0-9]{3})?$`)
	indicatorRE = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)
	typeNameRE  = regexp.MustCompile(`^[a-z0-9][a-z0-9_]*$`)
)

// Validate checks the configuration and returns every problem found, each
// naming the field (path elements joined with "::") and the offending value.
func (cfg *Config) Validate() error {
	_, err := cfg.compile(component.TelemetrySettings{Logger: zap.NewNop()})
	return err
}

// compiled is what the processor builds from its configuration: severities
// and OTTL conditions are parsed here, once, for Validate and for the
// processor alike.
type compiled struct {
	disabled  map[string]bool     // by rule key
	overrides map[string]Severity // by rule key
	custom    []compiledCustom    // as cfg.CustomRules, in order
}

type compiledCustom struct {
	severity Severity
	seq      ottl.ConditionSequence[*ottllog.TransformContext]
}

// compile checks the configuration and parses what needs parsing. It
// returns every problem found.
func (cfg *Config) compile(set component.TelemetrySettings) (*compiled, error) {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	c := &compiled{disabled: map[string]bool{}, overrides: map[string]Severity{}}

	if strings.TrimSpace(cfg.RulesetName) == "" {
		add("ruleset_name: must not be empty")
	}
	for i, r := range cfg.PrivilegedRoles {
		if strings.TrimSpace(r) == "" {
			add("privileged_roles::%d: must not be empty", i)
		}
	}
	for i, a := range cfg.PrivilegedAccounts {
		if strings.TrimSpace(a) == "" {
			add("privileged_accounts::%d: must not be empty", i)
		}
	}

	known := map[string]bool{}
	for _, d := range builtinRules {
		known[ruleKey(d.ID)] = true
	}
	var customIDs map[string]bool
	var customErrs []error
	c.custom, customIDs, customErrs = compileCustomRules(cfg.CustomRules, set, cfg.ErrorMode)
	errs = append(errs, customErrs...)
	for k := range customIDs {
		known[k] = true
	}

	for i, id := range cfg.Rules.Disabled {
		if !known[ruleKey(id)] {
			add("rules::disabled::%d: unknown rule id %q", i, id)
		}
		c.disabled[ruleKey(id)] = true
	}
	for _, id := range sortedKeys(cfg.Rules.SeverityOverrides) {
		if !known[ruleKey(id)] {
			add("rules::severity_overrides::%s: unknown rule id %q", id, id)
		}
		sev, err := ParseSeverity(cfg.Rules.SeverityOverrides[id])
		if err != nil {
			add("rules::severity_overrides::%s: %w", id, err)
		}
		c.overrides[ruleKey(id)] = sev
	}

	errs = append(errs, cfg.Allowlist.validate("allowlist")...)
	for _, id := range sortedKeys(cfg.RuleAllowlists) {
		field := fmt.Sprintf("rule_allowlists::%s", id)
		if !known[ruleKey(id)] {
			add("%s: unknown rule id %q", field, id)
		}
		errs = append(errs, cfg.RuleAllowlists[id].validate(field)...)
	}

	if cfg.TokenMaxLifetime <= 0 {
		add("token_max_lifetime: must be positive, got %s", cfg.TokenMaxLifetime)
	}
	errs = append(errs, cfg.Windows.validate()...)
	errs = append(errs, cfg.Baseline.validate()...)
	errs = append(errs, cfg.GeoIP.validate()...)
	for i, a := range cfg.Automation.Accounts {
		if strings.TrimSpace(a) == "" {
			add("automation::accounts::%d: must not be empty", i)
		}
	}

	switch cfg.ErrorMode {
	case ottl.IgnoreError, ottl.PropagateError, ottl.SilentError:
	default:
		add("error_mode: unknown error mode %q (want ignore, silent or propagate)", cfg.ErrorMode)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return c, nil
}

func (a AllowlistConfig) validate(field string) []error {
	var errs []error
	for i, s := range a.Authors {
		if strings.TrimSpace(s) == "" {
			errs = append(errs, fmt.Errorf("%s::authors::%d: must not be empty", field, i))
		}
	}
	for i, s := range a.IPRanges {
		if _, err := parseIPRange(s); err != nil {
			errs = append(errs, fmt.Errorf("%s::ip_ranges::%d: %w", field, i, err))
		}
	}
	for i, s := range a.Groups {
		if cleanPath(s) == "" {
			errs = append(errs, fmt.Errorf("%s::groups::%d: invalid group path %q", field, i, s))
		}
	}
	for i, s := range a.Projects {
		if p := cleanPath(s); p == "" || !strings.Contains(p, "/") {
			errs = append(errs, fmt.Errorf("%s::projects::%d: invalid project full path %q (want group/project)", field, i, s))
		}
	}
	return errs
}

// parseIPRange parses a CIDR range or a single address.
func parseIPRange(s string) (netip.Prefix, error) {
	s = strings.TrimSpace(s)
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("invalid CIDR range %q: %w", s, err)
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("invalid IP address or CIDR range %q", s)
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

func (w WindowsConfig) validate() []error {
	var errs []error
	check := func(field string, n int, d time.Duration, nName string) {
		if n < 1 {
			errs = append(errs, fmt.Errorf("windows::%s::%s: must be at least 1, got %d", field, nName, n))
		}
		if d <= 0 {
			errs = append(errs, fmt.Errorf("windows::%s::window: must be positive, got %s", field, d))
		}
	}
	check("brute_force", w.BruteForce.Failures, w.BruteForce.Window, "failures")
	check("mass_download", w.MassDownload.Count, w.MassDownload.Window, "count")
	check("mass_deletion", w.MassDeletion.Count, w.MassDeletion.Window, "count")
	check("token_burst", w.TokenBurst.Count, w.TokenBurst.Window, "count")
	for _, c := range []struct {
		field        string
		count, autoN int
	}{
		{"mass_download", w.MassDownload.Count, w.MassDownload.AutomationCount},
		{"mass_deletion", w.MassDeletion.Count, w.MassDeletion.AutomationCount},
		{"token_burst", w.TokenBurst.Count, w.TokenBurst.AutomationCount},
	} {
		if c.autoN < c.count {
			errs = append(errs, fmt.Errorf("windows::%s::automation_count: must be at least count (%d), got %d", c.field, c.count, c.autoN))
		}
	}
	if w.MaxTrackedAuthors < 1 {
		errs = append(errs, fmt.Errorf("windows::max_tracked_authors: must be at least 1, got %d", w.MaxTrackedAuthors))
	}
	return errs
}

func (b BaselineConfig) validate() []error {
	if !b.Enabled {
		return nil
	}
	var errs []error
	if b.Days < 1 {
		errs = append(errs, fmt.Errorf("baseline::days: must be at least 1, got %d", b.Days))
	}
	if b.Factor < 1 {
		errs = append(errs, fmt.Errorf("baseline::factor: must be at least 1, got %g", b.Factor))
	}
	if b.MaxAuthors < 1 {
		errs = append(errs, fmt.Errorf("baseline::max_authors: must be at least 1, got %d", b.MaxAuthors))
	}
	if b.SaveInterval <= 0 {
		errs = append(errs, fmt.Errorf("baseline::save_interval: must be positive, got %s", b.SaveInterval))
	}
	return errs
}

// compileCustomRules checks the custom rules, parsing their severity and
// OTTL, and returns them with their ids (rule keys).
func compileCustomRules(rules []CustomRuleConfig, set component.TelemetrySettings, mode ottl.ErrorMode) ([]compiledCustom, map[string]bool, []error) {
	var errs []error
	ids := map[string]bool{}
	builtin := map[string]bool{}
	for _, d := range builtinRules {
		builtin[ruleKey(d.ID)] = true
	}
	out := make([]compiledCustom, len(rules))
	for i, r := range rules {
		field := fmt.Sprintf("custom_rules::%d", i)
		add := func(format string, args ...any) {
			errs = append(errs, fmt.Errorf(field+"::"+format, args...))
		}
		key := ruleKey(r.ID)
		switch {
		case key == "":
			add("id: must not be empty")
		case builtin[key] || strings.HasPrefix(key, "gld-"):
			add("id: %q uses the GLD- prefix reserved for built-in rules", r.ID)
		case ids[key]:
			add("id: duplicate rule id %q", r.ID)
		default:
			ids[key] = true
		}
		if strings.TrimSpace(r.Name) == "" {
			add("name: must not be empty")
		}
		if !indicatorRE.MatchString(r.Indicator) {
			add("indicator: %q must be lower_snake_case, e.g. privilege_escalation", r.Indicator)
		}
		sev, err := ParseSeverity(r.Severity)
		if err != nil {
			add("severity: %w", err)
		}
		out[i].severity = sev
		for j, t := range r.Techniques {
			if !techniqueRE.MatchString(t) {
				add("techniques::%d: %q is not an ATT&CK technique id (T1234 or T1234.001)", j, t)
			}
		}
		for j, t := range r.EventTypes {
			if !typeNameRE.MatchString(t) {
				add("event_types::%d: %q is not a GitLab event type name", j, t)
			}
		}
		if len(r.Conditions) == 0 {
			add("conditions: at least one OTTL condition is required")
			continue
		}
		// Parse all conditions at once; on error, find the bad ones to name them.
		seq, err := parseConditions(r.Conditions, set, mode)
		if err != nil {
			for j, c := range r.Conditions {
				if _, err := parseConditions([]string{c}, set, mode); err != nil {
					add("conditions::%d: invalid OTTL condition %q: %w", j, c, err)
				}
			}
			continue
		}
		out[i].seq = seq
	}
	return out, ids, errs
}

// ruleKey normalises a rule id for lookups: ids are case-insensitive.
func ruleKey(id string) string { return strings.ToLower(strings.TrimSpace(id)) }

// cleanPath normalises a GitLab full path: trimmed, no leading or trailing
// slash, lower case (GitLab paths are case-insensitive).
func cleanPath(p string) string {
	return strings.ToLower(strings.Trim(strings.TrimSpace(p), "/"))
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// canonicalTypes resolves aliases of configured event type names.
func canonicalTypes(names []string) []string {
	out := make([]string, 0, len(names))
	for _, n := range names {
		out = append(out, auditevent.Canonical(strings.TrimSpace(n)))
	}
	return out
}
