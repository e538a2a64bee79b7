// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package gitlabdetectprocessor

import "strings"

// attackVersion is the MITRE ATT&CK release the built-in mappings follow.
// ATT&CK v19 (April 2026) split the Defense Evasion tactic: TA0005 is now
// Stealth, and the new Defense Impairment tactic (TA0112) holds the
// techniques that disable defences. T1562 Impair Defenses and its
// sub-techniques were revoked and replaced: T1562.001 Disable or Modify
// Tools by T1685, T1562.007 Disable or Modify Cloud Firewall by T1686.001,
// T1562.008 Disable or Modify Cloud Logs by T1685.002.
const attackVersion = "ATT&CK Enterprise v19"

// attackTactic is an ATT&CK tactic.
type attackTactic struct {
	ID, Name string
}

// attackTactics are the tactics the built-in rules map to, by id.
var attackTactics = map[string]attackTactic{
	"TA0001": {"TA0001", "Initial Access"},
	"TA0003": {"TA0003", "Persistence"},
	"TA0004": {"TA0004", "Privilege Escalation"},
	"TA0005": {"TA0005", "Stealth"},
	"TA0006": {"TA0006", "Credential Access"},
	"TA0008": {"TA0008", "Lateral Movement"},
	"TA0009": {"TA0009", "Collection"},
	"TA0010": {"TA0010", "Exfiltration"},
	"TA0040": {"TA0040", "Impact"},
	"TA0112": {"TA0112", "Defense Impairment"},
}

// attackTechnique is an ATT&CK technique and the tactics it belongs to
// (those this table needs: the ones the built-in rules map it under, and
// the others it has in v19 where they are known).
type attackTechnique struct {
	Name    string
	Tactics []string
}

// attackTechniques are the techniques the built-in rules use, as named in
// ATT&CK v19 (sub-techniques "Technique: Sub-technique").
var attackTechniques = map[string]attackTechnique{
	"T1070":     {"Indicator Removal", []string{"TA0005"}},
	"T1078":     {"Valid Accounts", []string{"TA0001", "TA0003", "TA0004", "TA0005"}},
	"T1098":     {"Account Manipulation", []string{"TA0003", "TA0004"}},
	"T1098.001": {"Account Manipulation: Additional Cloud Credentials", []string{"TA0003", "TA0004"}},
	"T1098.004": {"Account Manipulation: SSH Authorized Keys", []string{"TA0003", "TA0004"}},
	"T1110":     {"Brute Force", []string{"TA0006"}},
	"T1136.003": {"Create Account: Cloud Account", []string{"TA0003"}},
	"T1190":     {"Exploit Public-Facing Application", []string{"TA0001"}},
	"T1195.002": {"Supply Chain Compromise: Compromise Software Supply Chain", []string{"TA0001"}},
	"T1213.003": {"Data from Information Repositories: Code Repositories", []string{"TA0009"}},
	"T1485":     {"Data Destruction", []string{"TA0040"}},
	"T1528":     {"Steal Application Access Token", []string{"TA0006"}},
	"T1550.001": {"Use Alternate Authentication Material: Application Access Token", []string{"TA0005", "TA0008"}},
	"T1552":     {"Unsecured Credentials", []string{"TA0006"}},
	"T1552.001": {"Unsecured Credentials: Credentials In Files", []string{"TA0006"}},
	"T1555.006": {"Credentials from Password Stores: Cloud Secrets Management Stores", []string{"TA0006"}},
	"T1556":     {"Modify Authentication Process", []string{"TA0003", "TA0006"}},
	"T1556.006": {"Modify Authentication Process: Multi-Factor Authentication", []string{"TA0003", "TA0006"}},
	"T1565.001": {"Data Manipulation: Stored Data Manipulation", []string{"TA0040"}},
	"T1567":     {"Exfiltration Over Web Service", []string{"TA0010"}},
	"T1685":     {"Disable or Modify Tools", []string{"TA0112"}},
	"T1685.002": {"Disable or Modify Tools: Disable or Modify Cloud Log", []string{"TA0112"}},
	"T1686.001": {"Disable or Modify System Firewall: Cloud Firewall", []string{"TA0112"}},
}

// tacticsOf returns, for a custom rule's techniques, the tactic of each
// technique the table knows (its first; for a sub-technique the table
// lacks, its parent's), without duplicates. Unknown techniques get none.
func tacticsOf(techniques []string) []string {
	var out []string
	for _, t := range techniques {
		tech, ok := attackTechniques[t]
		if !ok {
			parent, _, _ := strings.Cut(t, ".")
			tech, ok = attackTechniques[parent]
		}
		if ok && len(tech.Tactics) > 0 {
			out = append(out, tech.Tactics[0])
		}
	}
	return out
}
