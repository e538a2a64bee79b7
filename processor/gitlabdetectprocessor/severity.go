// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package gitlabdetectprocessor

import (
	"fmt"
	"strings"

	"go.opentelemetry.io/collector/pdata/plog"
)

// Severity is the criticality of a detection rule.
type Severity int

// The severity levels, from least to most critical.
const (
	SeverityInfo Severity = iota + 1
	SeverityLow
	SeverityMedium
	SeverityHigh
	SeverityCritical
)

var severityNames = [...]string{
	SeverityInfo:     "INFO",
	SeverityLow:      "LOW",
	SeverityMedium:   "MEDIUM",
	SeverityHigh:     "HIGH",
	SeverityCritical: "CRITICAL",
}

// severityNumbers maps a level to the OpenTelemetry SeverityNumber written
// on a matching record. INFO stays in the INFO range; LOW..CRITICAL use the
// WARN..FATAL ranges, as the logs data model suggests for events more
// important than informational ones.
var severityNumbers = [...]plog.SeverityNumber{
	SeverityInfo:     plog.SeverityNumberInfo4,
	SeverityLow:      plog.SeverityNumberWarn,
	SeverityMedium:   plog.SeverityNumberWarn3,
	SeverityHigh:     plog.SeverityNumberError,
	SeverityCritical: plog.SeverityNumberFatal,
}

// severityTexts holds the short names the logs data model gives to the
// numbers above; they are written as SeverityText.
var severityTexts = [...]string{
	SeverityInfo:     "INFO4",
	SeverityLow:      "WARN",
	SeverityMedium:   "WARN3",
	SeverityHigh:     "ERROR",
	SeverityCritical: "FATAL",
}

func (s Severity) valid() bool { return s >= SeverityInfo && s <= SeverityCritical }

// String returns the level name (INFO, LOW, MEDIUM, HIGH, CRITICAL).
func (s Severity) String() string {
	if !s.valid() {
		return fmt.Sprintf("Severity(%d)", int(s))
	}
	return severityNames[s]
}

// Number returns the OpenTelemetry SeverityNumber of the level.
func (s Severity) Number() plog.SeverityNumber {
	if !s.valid() {
		return plog.SeverityNumberUnspecified
	}
	return severityNumbers[s]
}

// Text returns the SeverityText written with Number.
func (s Severity) Text() string {
	if !s.valid() {
		return ""
	}
	return severityTexts[s]
}

// ParseSeverity parses a level name, case-insensitively.
func ParseSeverity(name string) (Severity, error) {
	n := strings.ToUpper(strings.TrimSpace(name))
	for s := SeverityInfo; s <= SeverityCritical; s++ {
		if severityNames[s] == n {
			return s, nil
		}
	}
	return 0, fmt.Errorf("unknown severity %q (want one of INFO, LOW, MEDIUM, HIGH, CRITICAL)", name)
}

// raised returns the next higher severity; CRITICAL stays CRITICAL.
func (s Severity) raised() Severity {
	if s < SeverityCritical {
		return s + 1
	}
	return s
}
