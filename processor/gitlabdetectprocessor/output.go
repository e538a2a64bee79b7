// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package gitlabdetectprocessor

import (
	"strings"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/kyra-mdr/otelcol-gitlab/internal/auditevent"
)

// Attributes written by the processor.
const (
	// attrCategory is written on every record.
	attrCategory = "gitlab.audit.category"

	// Written on matching records. The scalar ones describe the top rule:
	// the highest severity, then the first in catalogue order (built-in
	// rules by id, then custom rules in configuration order).
	attrRuleUUID        = "security_rule.uuid"
	attrRuleName        = "security_rule.name"
	attrRuleCategory    = "security_rule.category"
	attrRuleDescription = "security_rule.description"
	attrRuleReference   = "security_rule.reference"
	attrRulesetName     = "security_rule.ruleset.name"
	attrIndicator       = "gitlab.detect.indicator"
	attrSeverity        = "gitlab.detect.severity"
	// The list ones cover every matched rule.
	attrRuleIDs    = "gitlab.detect.rule_ids"
	attrIndicators = "gitlab.detect.indicators"
	attrTechniques = "threat.technique.id"
	attrTacticIDs  = auditevent.AttrThreatTacticID
	attrTactics    = auditevent.AttrThreatTacticName
	attrNote       = "gitlab.detect.note"
)

// ruleMeta is what a matching rule writes on a record.
type ruleMeta struct {
	id          string
	name        string
	indicator   string
	description string
	reference   string
	severity    Severity
	techniques  []string
	tactics     []string // ATT&CK tactic ids (attack.go) the techniques are mapped under
	order       int      // position in the catalogue, for deterministic ties
}

// match is one rule that matched a record, with the severity it has on
// this record: the rule's, raised by a graded rule's facts or lowered by a
// baseline.
type match struct {
	meta     *ruleMeta
	note     string
	severity Severity
}

// matchOf returns a match at the rule's own severity.
func matchOf(meta *ruleMeta, note string) match {
	return match{meta: meta, note: note, severity: meta.severity}
}

// sortMatches orders matches by decreasing severity, then catalogue order.
// Matches are few (usually one), so an insertion sort is enough.
func sortMatches(ms []match) {
	for i := 1; i < len(ms); i++ {
		for j := i; j > 0 && before(ms[j], ms[j-1]); j-- {
			ms[j], ms[j-1] = ms[j-1], ms[j]
		}
	}
}

func before(a, b match) bool {
	if a.severity != b.severity {
		return a.severity > b.severity
	}
	return a.meta.order < b.meta.order
}

// writeDetections writes the detection attributes of the matches on the
// record and raises its severity. It never lowers a severity: a record
// that already carries a higher SeverityNumber keeps it and its text. It
// returns the top match (the record's gitlab.detect.severity and
// indicator).
func writeDetections(lr plog.LogRecord, ms []match, rulesetName string) match {
	sortMatches(ms)
	top, sev := ms[0].meta, ms[0].severity
	attrs := lr.Attributes()
	attrs.PutStr(attrRuleUUID, top.id)
	attrs.PutStr(attrRuleName, top.name)
	attrs.PutStr(attrRuleCategory, top.indicator)
	attrs.PutStr(attrRulesetName, rulesetName)
	attrs.PutStr(attrIndicator, top.indicator)
	attrs.PutStr(attrSeverity, sev.String())
	putOrRemove(attrs, attrRuleDescription, top.description)
	putOrRemove(attrs, attrRuleReference, top.reference)

	ids := attrs.PutEmptySlice(attrRuleIDs)
	ids.EnsureCapacity(len(ms))
	indicators := attrs.PutEmptySlice(attrIndicators)
	techniques := attrs.PutEmptySlice(attrTechniques)
	tacticIDs := attrs.PutEmptySlice(attrTacticIDs)
	tacticNames := attrs.PutEmptySlice(attrTactics)
	var notes []string
	for _, m := range ms {
		ids.AppendEmpty().SetStr(m.meta.id)
		appendUnique(indicators, m.meta.indicator)
		for _, t := range m.meta.techniques {
			appendUnique(techniques, t)
		}
		for _, id := range m.meta.tactics {
			if appendUnique(tacticIDs, id) {
				tacticNames.AppendEmpty().SetStr(attackTactics[id].Name)
			}
		}
		if m.note != "" {
			notes = append(notes, m.meta.id+": "+m.note)
		}
	}
	putOrRemove(attrs, attrNote, strings.Join(notes, "; "))

	if n := sev.Number(); lr.SeverityNumber() < n {
		lr.SetSeverityNumber(n)
		lr.SetSeverityText(sev.Text())
	}
	return ms[0]
}

func putOrRemove(attrs pcommon.Map, key, value string) {
	if value != "" {
		attrs.PutStr(key, value)
		return
	}
	attrs.Remove(key)
}

// appendUnique appends s to the slice unless it is already there, and
// reports whether it did.
func appendUnique(sl pcommon.Slice, s string) bool {
	for i := 0; i < sl.Len(); i++ {
		if sl.At(i).Str() == s {
			return false
		}
	}
	sl.AppendEmpty().SetStr(s)
	return true
}
