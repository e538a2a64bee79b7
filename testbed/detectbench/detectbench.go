// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

// Package detectbench scores gitlab_detect on the simulator's detection
// scenario (gitlabsim.Scenario): for every attack step, whether the record
// was tagged with the right rule, indicator and at least the right
// severity; for benign events, the share raised to HIGH or above and to
// MEDIUM, per rule. The processor's tests and the benchmark runner
// (testbed/cmd/detect-bench, against the built distribution) share it.
package detectbench // import "github.com/kyra-mdr/otelcol-gitlab/testbed/detectbench"

import (
	"fmt"
	"sort"
	"strings"

	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/kyra-mdr/otelcol-gitlab/testbed/gitlabsim"
)

// Attributes gitlab_detect writes (its README's attribute contract).
const (
	attrRuleIDs    = "gitlab.detect.rule_ids"
	attrIndicators = "gitlab.detect.indicators"
	attrSeverity   = "gitlab.detect.severity"
	attrRuleUUID   = "security_rule.uuid"
)

var severityRank = map[string]int{"": 0, "INFO": 1, "LOW": 2, "MEDIUM": 3, "HIGH": 4, "CRITICAL": 5}

// StepResult is the outcome of one attack step.
type StepResult struct {
	Step     gitlabsim.ScenarioStep
	RuleIDs  []string
	Severity string
	OK       bool
}

// RuleShare counts the benign events whose top rule is one rule.
type RuleShare struct {
	Rule         string
	HighOrAbove  int
	Medium       int
	LastDayHigh  int
	LastDayTotal int
}

// Report is the score of one run.
type Report struct {
	Events, Benign, BenignLastDay int
	Missing                       int // events without a record
	Steps                         []StepResult
	HighOrAbove, Medium           int // benign events, whole run
	LastDayHigh                   int // benign events of the last day
	PerRule                       []RuleShare
}

// Evaluate scores the records, records[i] being the record of events[i]
// (a zero LogRecord when it never arrived).
func Evaluate(events []gitlabsim.ScenarioEvent, records []plog.LogRecord) Report {
	r := Report{Events: len(events)}
	lastDay := 0
	for _, ev := range events {
		lastDay = max(lastDay, ev.Day)
	}
	perRule := map[string]*RuleShare{}
	for i, ev := range events {
		lr := records[i]
		if lr == (plog.LogRecord{}) {
			r.Missing++
			if ev.Step != nil {
				r.Steps = append(r.Steps, StepResult{Step: *ev.Step})
			}
			continue
		}
		ids := list(lr, attrRuleIDs)
		sev := str(lr, attrSeverity)
		if ev.Step != nil {
			res := StepResult{Step: *ev.Step, RuleIDs: ids, Severity: sev}
			res.OK = contains(ids, ev.Step.Rule) && contains(list(lr, attrIndicators), ev.Step.Indicator) &&
				severityRank[sev] >= severityRank[ev.Step.Severity]
			r.Steps = append(r.Steps, res)
		}
		if ev.Attack {
			continue
		}
		r.Benign++
		if ev.Day == lastDay {
			r.BenignLastDay++
		}
		rank := severityRank[sev]
		if rank < severityRank["MEDIUM"] {
			continue
		}
		top := str(lr, attrRuleUUID)
		rs := perRule[top]
		if rs == nil {
			rs = &RuleShare{Rule: top}
			perRule[top] = rs
		}
		if rank >= severityRank["HIGH"] {
			r.HighOrAbove++
			rs.HighOrAbove++
			if ev.Day == lastDay {
				r.LastDayHigh++
				rs.LastDayHigh++
			}
		} else {
			r.Medium++
			rs.Medium++
		}
	}
	for _, rs := range perRule {
		r.PerRule = append(r.PerRule, *rs)
	}
	sort.Slice(r.PerRule, func(i, j int) bool { return r.PerRule[i].Rule < r.PerRule[j].Rule })
	return r
}

// StepsOK counts the steps tagged right.
func (r Report) StepsOK() int {
	n := 0
	for _, s := range r.Steps {
		if s.OK {
			n++
		}
	}
	return n
}

// HighShare is the share of benign events raised to HIGH or above, in percent.
func (r Report) HighShare() float64 { return pct(r.HighOrAbove, r.Benign) }

// MediumShare is the share of benign events raised to MEDIUM, in percent.
func (r Report) MediumShare() float64 { return pct(r.Medium, r.Benign) }

// LastDayHighShare is HighShare over the last day (the attack day) only.
func (r Report) LastDayHighShare() float64 { return pct(r.LastDayHigh, r.BenignLastDay) }

// Markdown renders the report as BENCHMARKS.md tables.
func (r Report) Markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "| Attack chain | Step | Expected | Got | Tagged right |\n|---|---|---|---|---|\n")
	for _, s := range r.Steps {
		ok := "yes"
		if !s.OK {
			ok = "**no**"
		}
		got := s.Severity
		if len(s.RuleIDs) > 0 {
			got += " " + strings.Join(s.RuleIDs, ", ")
		}
		if got == "" {
			got = "untagged"
		}
		fmt.Fprintf(&b, "| %s | %s | %s %s (%s) | %s | %s |\n", s.Step.Chain, s.Step.Name, s.Step.Severity, s.Step.Rule, s.Step.Indicator, strings.TrimSpace(got), ok)
	}
	fmt.Fprintf(&b, "\n| Benign events | %d (last day %d) |\n|---|---|\n", r.Benign, r.BenignLastDay)
	fmt.Fprintf(&b, "| Attack steps tagged right | %d of %d |\n", r.StepsOK(), len(r.Steps))
	fmt.Fprintf(&b, "| Benign raised to HIGH or above | %d (%.3f %%; last day %d, %.3f %%) |\n", r.HighOrAbove, r.HighShare(), r.LastDayHigh, r.LastDayHighShare())
	fmt.Fprintf(&b, "| Benign raised to MEDIUM | %d (%.3f %%) |\n", r.Medium, r.MediumShare())
	if r.Missing > 0 {
		fmt.Fprintf(&b, "| Events without a record | %d |\n", r.Missing)
	}
	if len(r.PerRule) > 0 {
		fmt.Fprintf(&b, "\n| Rule (top rule of benign records) | HIGH or above | of which last day | MEDIUM |\n|---|---|---|---|\n")
		for _, rs := range r.PerRule {
			fmt.Fprintf(&b, "| %s | %d (%.3f %%) | %d | %d (%.3f %%) |\n", rs.Rule, rs.HighOrAbove, pct(rs.HighOrAbove, r.Benign), rs.LastDayHigh, rs.Medium, pct(rs.Medium, r.Benign))
		}
	}
	return b.String()
}

func pct(n, of int) float64 {
	if of == 0 {
		return 0
	}
	return 100 * float64(n) / float64(of)
}

func str(lr plog.LogRecord, k string) string {
	if v, ok := lr.Attributes().Get(k); ok {
		return v.AsString()
	}
	return ""
}

func list(lr plog.LogRecord, k string) []string {
	v, ok := lr.Attributes().Get(k)
	if !ok {
		return nil
	}
	out := make([]string, 0, v.Slice().Len())
	for i := 0; i < v.Slice().Len(); i++ {
		out = append(out, v.Slice().At(i).AsString())
	}
	return out
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}
