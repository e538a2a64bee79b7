// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package deploy

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/prometheus/prometheus/promql/parser"
	"sigs.k8s.io/yaml"
)

// The alert rules (monitoring/rules.yaml) and their copies, the dashboard
// (monitoring/dashboard.json), checked with the Prometheus PromQL parser,
// Debian's promtool, and the series the built collector exposed in the
// end-to-end test.

var (
	rulesFile     = filepath.Join("monitoring", "rules.yaml")
	rulesTestFile = filepath.Join("monitoring", "rules.test.yaml")
	dashboardFile = filepath.Join("monitoring", "dashboard.json")
	// receiverREADME holds the troubleshooting rows the alerts link to.
	receiverREADME = filepath.Join("..", "receiver", "gitlabauditreceiver", "README.md")
	runbookPrefix  = "https://github.com/kyra-mdr/otelcol-gitlab/blob/main/receiver/gitlabauditreceiver/README.md#"
)

// The copies of rules.yaml's groups: the block between the markers, the
// groups indented by two spaces.
var ruleCopies = []string{
	filepath.Join("monitoring", "prometheusrule.yaml"),
	filepath.Join("helm", "values.yaml"),
}

const (
	copyBegin = "  # BEGIN rules.yaml (make monitoring-sync)"
	copyEnd   = "  # END rules.yaml"
)

type ruleGroups struct {
	Groups []ruleGroup `json:"groups"`
}

type ruleGroup struct {
	Name     string `json:"name"`
	Interval string `json:"interval,omitempty"`
	Rules    []rule `json:"rules"`
}

type rule struct {
	Alert       string            `json:"alert,omitempty"`
	Record      string            `json:"record,omitempty"`
	Expr        string            `json:"expr"`
	For         string            `json:"for,omitempty"`
	Labels      map[string]string `json:"labels,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

func loadRules(t *testing.T) ruleGroups {
	t.Helper()
	var g ruleGroups
	if err := yaml.UnmarshalStrict([]byte(readText(t, rulesFile)), &g); err != nil {
		t.Fatalf("%s: %v", rulesFile, err)
	}
	if len(g.Groups) == 0 {
		t.Fatalf("%s: no groups", rulesFile)
	}
	return g
}

func alerts(g ruleGroups) []rule {
	var out []rule
	for _, grp := range g.Groups {
		for _, r := range grp.Rules {
			if r.Alert != "" {
				out = append(out, r)
			}
		}
	}
	return out
}

var promqlParser = parser.NewParser(parser.Options{})

// TestAlertRules checks every alert: its expression parses, it has a
// severity and a summary, description and runbook that link a
// troubleshooting row of the receiver README naming the alert; then
// promtool checks the file and runs its unit tests, which must expect every
// alert to fire at least once and to stay quiet at least once.
func TestAlertRules(t *testing.T) {
	g := loadRules(t)
	readme := readText(t, receiverREADME)
	names := map[string]bool{}
	for _, a := range alerts(g) {
		t.Run(a.Alert, func(t *testing.T) {
			if names[a.Alert] {
				t.Errorf("alert %s defined twice", a.Alert)
			}
			names[a.Alert] = true
			if _, err := promqlParser.ParseExpr(a.Expr); err != nil {
				t.Errorf("expr does not parse: %v\n%s", err, a.Expr)
			}
			if s := a.Labels["severity"]; s != "warning" && s != "critical" {
				t.Errorf("severity %q: warning or critical", s)
			}
			if a.For == "" {
				t.Error("no `for`: a single scrape would page")
			}
			for _, k := range []string{"summary", "description", "runbook_url"} {
				if strings.TrimSpace(a.Annotations[k]) == "" {
					t.Errorf("no %s annotation", k)
				}
			}
			if !strings.Contains(a.Annotations["summary"], ":") {
				t.Errorf("the summary says what happened, then (after a colon) what to do: %q", a.Annotations["summary"])
			}
			anchor, ok := strings.CutPrefix(a.Annotations["runbook_url"], runbookPrefix)
			if !ok {
				t.Fatalf("runbook_url %q does not link the receiver README (%s...)", a.Annotations["runbook_url"], runbookPrefix)
			}
			row := readmeRow(readme, anchor)
			if row == "" {
				t.Fatalf("the receiver README has no troubleshooting row with <a id=%q>", anchor)
			}
			if !strings.Contains(row, "`"+a.Alert+"`") {
				t.Errorf("the troubleshooting row #%s does not name the alert:\n%s", anchor, row)
			}
		})
	}
	if len(names) < 10 {
		t.Errorf("%d alerts", len(names))
	}

	t.Run("promtool", func(t *testing.T) {
		promtool := promtoolBinary(t)
		if out, err := exec.Command(promtool, "check", "rules", rulesFile).CombinedOutput(); err != nil {
			t.Fatalf("promtool check rules: %v\n%s", err, out)
		}
		out, err := exec.Command(promtool, "test", "rules", rulesTestFile).CombinedOutput()
		if err != nil {
			t.Fatalf("promtool test rules: %v\n%s", err, out)
		}
		t.Logf("promtool test rules:\n%s", out)
	})

	t.Run("every alert tested", func(t *testing.T) {
		var tests struct {
			RuleFiles []string `json:"rule_files"`
			Tests     []struct {
				Name  string `json:"name"`
				Cases []struct {
					Alert string `json:"alertname"`
					Exp   []any  `json:"exp_alerts"`
				} `json:"alert_rule_test"`
			} `json:"tests"`
		}
		if err := yaml.Unmarshal([]byte(readText(t, rulesTestFile)), &tests); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(tests.RuleFiles, []string{filepath.Base(rulesFile)}) {
			t.Errorf("rule_files %v: the tests must run the shipped %s", tests.RuleFiles, filepath.Base(rulesFile))
		}
		fires, quiet := map[string]bool{}, map[string]bool{}
		for _, tc := range tests.Tests {
			for _, c := range tc.Cases {
				if !names[c.Alert] {
					t.Errorf("test %q: alert %s is not in %s", tc.Name, c.Alert, rulesFile)
				}
				if len(c.Exp) > 0 {
					fires[c.Alert] = true
				} else {
					quiet[c.Alert] = true
				}
			}
		}
		for n := range names {
			if !fires[n] {
				t.Errorf("%s: no test expects %s to fire", rulesTestFile, n)
			}
			if !quiet[n] {
				t.Errorf("%s: no test expects %s to stay quiet (before its `for`, or on healthy series)", rulesTestFile, n)
			}
		}
	})
}

// promtoolBinary returns Debian's promtool (package prometheus), or skips.
func promtoolBinary(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip("SKIP: promtool is not installed, the alert rules are not unit-tested: apt-get install prometheus (.ci/run installs it)")
	}
	return p
}

var rowAnchor = regexp.MustCompile(`<a id="([a-z0-9-]+)"></a>`)

// readmeRow returns the table row of the README that holds <a id=anchor>.
func readmeRow(readme, anchor string) string {
	for _, line := range strings.Split(readme, "\n") {
		if !strings.HasPrefix(line, "|") {
			continue
		}
		for _, m := range rowAnchor.FindAllStringSubmatch(line, -1) {
			if m[1] == anchor {
				return line
			}
		}
	}
	return ""
}

// rulesBlock is what a copy holds between its markers: the groups of
// rules.yaml, indented by two spaces.
func rulesBlock(t *testing.T) string {
	t.Helper()
	src := readText(t, rulesFile)
	i := strings.Index(src, "\ngroups:\n")
	if i < 0 {
		t.Fatalf("%s: no top-level `groups:`", rulesFile)
	}
	var b strings.Builder
	for _, line := range strings.Split(strings.TrimRight(src[i+1:], "\n"), "\n") {
		if line != "" {
			b.WriteString("  ")
		}
		b.WriteString(line + "\n")
	}
	return b.String()
}

// TestRuleCopies checks that the PrometheusRule and the Helm values carry
// the groups of rules.yaml, as text and as data. MONITORING_SYNC=1 (make
// monitoring-sync) writes them there first.
func TestRuleCopies(t *testing.T) {
	want := rulesBlock(t)
	source := loadRules(t)
	for _, file := range ruleCopies {
		t.Run(file, func(t *testing.T) {
			text := readText(t, file)
			begin := strings.Index(text, copyBegin+"\n")
			end := strings.Index(text, copyEnd+"\n")
			if begin < 0 || end < begin {
				t.Fatalf("no %q ... %q block", copyBegin, copyEnd)
			}
			begin += len(copyBegin) + 1
			if os.Getenv("MONITORING_SYNC") == "1" {
				text = text[:begin] + want + text[end:]
				if err := os.WriteFile(file, []byte(text), 0o644); err != nil { //nolint:gosec // a tracked, world-readable example
					t.Fatal(err)
				}
				end = begin + len(want)
			}
			if got := text[begin:end]; got != want {
				t.Errorf("the rules differ from %s: edit that file and run `make monitoring-sync`", rulesFile)
			}
			// The same as data, where the file puts it.
			var doc struct {
				Spec           ruleGroups `json:"spec"`
				PrometheusRule ruleGroups `json:"prometheusRule"`
			}
			if err := yaml.Unmarshal([]byte(text), &doc); err != nil {
				t.Fatal(err)
			}
			got := doc.Spec
			if strings.HasPrefix(file, "helm") {
				got = doc.PrometheusRule
			}
			if !reflect.DeepEqual(got, source) {
				t.Errorf("as data, the groups differ from %s", rulesFile)
			}
		})
	}
}

// dashboard is the part of Grafana's JSON model the checks read.
type dashboard struct {
	UID           string  `json:"uid"`
	Title         string  `json:"title"`
	SchemaVersion int     `json:"schemaVersion"`
	Panels        []panel `json:"panels"`
	Templating    struct {
		List []struct {
			Name  string `json:"name"`
			Type  string `json:"type"`
			Query any    `json:"query"`
		} `json:"list"`
	} `json:"templating"`
}

type panel struct {
	ID         int                      `json:"id"`
	Type       string                   `json:"type"`
	Title      string                   `json:"title"`
	Datasource map[string]string        `json:"datasource"`
	GridPos    struct{ H, W, X, Y int } `json:"gridPos"`
	Targets    []struct {
		Expr       string            `json:"expr"`
		RefID      string            `json:"refId"`
		Datasource map[string]string `json:"datasource"`
	} `json:"targets"`
	Panels []panel `json:"panels"`
}

func loadDashboard(t *testing.T) dashboard {
	t.Helper()
	var d dashboard
	if err := json.Unmarshal([]byte(readText(t, dashboardFile)), &d); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	return d
}

// grafanaVars are the variables Grafana replaces before Prometheus sees a
// query; $job and $instance stand inside label matchers, as strings.
var grafanaVars = strings.NewReplacer("$__rate_interval", "5m", "$__interval", "1m", "$__range", "1h")

// labelValues is a Grafana template query.
var labelValues = regexp.MustCompile(`^label_values\((.+),\s*([a-zA-Z_][a-zA-Z0-9_]*)\)$`)

// dashboardExprs returns the PromQL of every panel target and template
// variable, as Prometheus receives it, by where it is.
func dashboardExprs(t *testing.T, d dashboard) map[string]string {
	t.Helper()
	out := map[string]string{}
	var walk func(ps []panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			for _, tg := range p.Targets {
				out[fmt.Sprintf("panel %q target %s", p.Title, tg.RefID)] = grafanaVars.Replace(tg.Expr)
			}
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		q, _ := v.Query.(string)
		if m, ok := v.Query.(map[string]any); ok {
			q, _ = m["query"].(string)
		}
		mm := labelValues.FindStringSubmatch(q)
		if mm == nil {
			t.Errorf("variable %s: query %q is not label_values(<selector>, <label>)", v.Name, q)
			continue
		}
		// label_values(sel, label) reads sel's series; the label must be one of theirs.
		out["variable "+v.Name] = fmt.Sprintf("count by (%s) (%s)", mm[2], mm[1])
	}
	return out
}

// dashboardTopics are the questions the dashboard answers (issue 19), by a
// metric that answers each.
var dashboardTopics = map[string]string{
	"feeds":                      "otelcol_gitlab_audit_feeds",
	"feed lag":                   "otelcol_gitlab_audit_checkpoint_lag",
	"events per second":          "otelcol_gitlab_audit_events_emitted",
	"requests by class":          "otelcol_gitlab_audit_api_requests",
	"429s by class":              "otelcol_gitlab_audit_api_rate_limited",
	"stream misses":              "otelcol_gitlab_audit_stream_missed",
	"enrichment lookups":         "otelcol_gitlab_audit_enrichment_lookups",
	"detections":                 "otelcol_gitlab_detect_detections",
	"exporter queue":             "otelcol_exporter_queue_size",
	"exporter queue capacity":    "otelcol_exporter_queue_capacity",
	"feed access":                "otelcol_gitlab_audit_feed_access",
	"token expiry":               "otelcol_gitlab_audit_token_expiry_seconds",
	"stream requests refused":    "otelcol_gitlab_audit_stream_requests_rejected",
	"de-duplication evictions":   "otelcol_gitlab_audit_dedup_evicted",
	"exporter send failures":     "otelcol_exporter_send_failed_log_records",
	"clock skew":                 "otelcol_gitlab_audit_clock_skew_seconds",
	"duplicates dropped by path": "otelcol_gitlab_audit_duplicates_dropped",
}

// TestDashboard checks the dashboard: every expression parses, every panel
// reads the ${datasource} variable, panels fit the 24-column grid and have
// distinct ids, and the dashboard covers every topic.
func TestDashboard(t *testing.T) {
	d := loadDashboard(t)
	if d.UID == "" || d.Title == "" || d.SchemaVersion < 30 {
		t.Errorf("uid %q, title %q, schemaVersion %d", d.UID, d.Title, d.SchemaVersion)
	}
	ids := map[int]bool{}
	var walk func(ps []panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			if ids[p.ID] {
				t.Errorf("panel %q: id %d used twice", p.Title, p.ID)
			}
			ids[p.ID] = true
			if p.GridPos.X < 0 || p.GridPos.W <= 0 || p.GridPos.X+p.GridPos.W > 24 || p.GridPos.H <= 0 {
				t.Errorf("panel %q: gridPos %+v is off the 24-column grid", p.Title, p.GridPos)
			}
			if p.Type != "row" {
				if p.Datasource["uid"] != "${datasource}" {
					t.Errorf("panel %q: datasource %v, want the ${datasource} variable", p.Title, p.Datasource)
				}
				if len(p.Targets) == 0 {
					t.Errorf("panel %q has no query", p.Title)
				}
			}
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	used := map[string]bool{}
	exprs := dashboardExprs(t, d)
	for where, e := range exprs {
		expr, err := promqlParser.ParseExpr(e)
		if err != nil {
			t.Errorf("%s: does not parse: %v\n%s", where, err, e)
			continue
		}
		for name := range selectors(expr) {
			used[name] = true
		}
	}
	for topic, metric := range dashboardTopics {
		if !used[metric] {
			t.Errorf("no panel shows %s (%s)", topic, metric)
		}
	}
}

// selectors returns, for every metric an expression reads, the labels the
// expression needs it to have: those of its matchers and those it is
// aggregated by.
func selectors(expr parser.Expr) map[string]map[string]bool {
	out := map[string]map[string]bool{}
	need := func(name, label string) {
		if out[name] == nil {
			out[name] = map[string]bool{}
		}
		if label != "" {
			out[name][label] = true
		}
	}
	names := func(n parser.Node) []string {
		var ns []string
		parser.Inspect(n, func(c parser.Node, _ []parser.Node) error {
			if vs, ok := c.(*parser.VectorSelector); ok {
				ns = append(ns, vs.Name)
			}
			return nil
		})
		return ns
	}
	parser.Inspect(expr, func(n parser.Node, _ []parser.Node) error {
		switch v := n.(type) {
		case *parser.VectorSelector:
			need(v.Name, "")
			for _, m := range v.LabelMatchers {
				if m.Name != "__name__" {
					need(v.Name, m.Name)
				}
			}
		case *parser.AggregateExpr:
			if v.Without {
				return nil
			}
			for _, name := range names(v.Expr) {
				for _, l := range v.Grouping {
					need(name, l)
				}
			}
		}
		return nil
	})
	return out
}

// exposedSeries is what the end-to-end test found in Prometheus after
// scraping the built collector (TestAlertFiresWithPrometheus,
// E2E_EXPOSED_SERIES): every metric name with the names of its labels.
type exposedSeries struct {
	Metrics map[string][]string `json:"metrics"`
}

// TestMetricNamesExposed checks that every metric the rules and the
// dashboard read, with every label they match or group by, is one the
// built collector exposed in the end-to-end scrape (with the telemetry
// readers of our configurations). make test runs it after the e2e suite.
func TestMetricNamesExposed(t *testing.T) {
	path := os.Getenv("E2E_EXPOSED_SERIES")
	if path == "" {
		t.Skip("SKIP: E2E_EXPOSED_SERIES is not set: `make test` sets it to the series TestAlertFiresWithPrometheus (e2e) scraped from the built collector")
	}
	raw, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		t.Skipf("SKIP: %s does not exist: TestAlertFiresWithPrometheus did not run (no prometheus on this machine?)", path)
	}
	if err != nil {
		t.Fatal(err)
	}
	var exposed exposedSeries
	if err := json.Unmarshal(raw, &exposed); err != nil {
		t.Fatal(err)
	}
	if len(exposed.Metrics) < 20 {
		t.Fatalf("%s: only %d metrics", path, len(exposed.Metrics))
	}

	// Every expression, by where it is.
	exprs := dashboardExprs(t, loadDashboard(t))
	for _, a := range alerts(loadRules(t)) {
		exprs["alert "+a.Alert] = a.Expr
	}
	missing := map[string][]string{} // metric or metric{label} -> where
	for where, e := range exprs {
		expr, err := promqlParser.ParseExpr(e)
		if err != nil {
			t.Errorf("%s: %v", where, err)
			continue
		}
		for name, labels := range selectors(expr) {
			have, ok := exposed.Metrics[name]
			if !ok {
				missing[name] = append(missing[name], where)
				continue
			}
			for l := range labels {
				if !contains(have, l) {
					key := fmt.Sprintf("%s{%s}", name, l)
					missing[key] = append(missing[key], where)
				}
			}
		}
	}
	keys := make([]string, 0, len(missing))
	for k := range missing {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		sort.Strings(missing[k])
		t.Errorf("not exposed by the collector: %s (read by %s)", k, strings.Join(missing[k], "; "))
	}
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}
