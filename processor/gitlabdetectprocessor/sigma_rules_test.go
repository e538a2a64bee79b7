// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package gitlabdetectprocessor

import "github.com/kyra-mdr/otelcol-gitlab/internal/auditevent"

// The Sigma form of each built-in rule (sigma_test.go writes rules/sigma
// from it). A rule whose condition is "always" needs no entry: its Sigma
// rule selects its event types. The others say their condition in Sigma's
// terms, on the fields the records carry: the attributes of the
// gitlab_audit receiver and of the enrichment (gitlab.audit.event_type,
// gitlab.audit.message, gitlab.enrichment.status, ...) and the keys of
// the GitLab event in the record body (details.to, details.from, ...).
// TestSigmaMatchesFixtures runs each against the rule's fixtures: an exact
// rule must agree with gitlab_detect on every case; a broader one may also
// match cases gitlab_detect does not (Sigma cannot compare two values); a
// narrower one may miss some (Sigma cannot do date arithmetic).

// Sigma field names: record attributes, and body keys under details.
const (
	sfType     = auditevent.AttrEventType
	sfMessage  = auditevent.AttrMessage
	sfUserID   = auditevent.AttrUserID
	sfUserName = auditevent.AttrUserName
	sfTargetID = auditevent.AttrTargetID
	sfTarget   = auditevent.AttrTargetDetails
	sfEntity   = auditevent.AttrEntityPath
	sfClient   = auditevent.AttrClientAddress
	sfStatus   = auditevent.AttrEnrichmentStatus
	sfTo       = "details.to"
	sfFrom     = "details.from"
	sfChange   = "details.change"
	sfAs       = "details.as"
	sfErrors   = "details.errors"
)

// Values GitLab writes for false and true: REST renders from/to as
// strings, streamed events carry JSON booleans (compared as text).
var (
	sFalse = []any{"false", "0"}
	sTrue  = []any{"true", "1"}
)

func sel(name string, fields ...sigmaField) sigmaSearch {
	return sigmaSearch{Name: name, Fields: fields}
}

func eq(field string, values ...any) sigmaField { return sigmaField{Field: field, Values: values} }

func mod(field, modifier string, values ...any) sigmaField {
	return sigmaField{Field: field, Mod: modifier, Values: values}
}

func types(ts ...string) sigmaField {
	vals := make([]any, len(ts))
	for i, t := range ts {
		vals[i] = t
	}
	return eq(sfType, vals...)
}

func typesOf(id string) sigmaField { return types(ruleTypes(id)...) }

var sigmaDetections = map[string]sigmaDetection{
	"GLD-001": {Searches: []sigmaSearch{
		sel("selection", typesOf("GLD-001")),
		sel("filter_one_authenticator", mod(sfMessage, "startswith", "Disabled One-time password authenticator", "Deleted WebAuthn device")),
	}, Condition: "selection and not filter_one_authenticator"},
	"GLD-002": {Searches: []sigmaSearch{
		sel("selection", typesOf("GLD-002"), mod(sfMessage, "startswith", "Disabled One-time password authenticator", "Deleted WebAuthn device")),
		sel("filter_factor_remains", eq(sfStatus, auditevent.EnrichmentStatusOK), eq(auditevent.AttrTargetUserTwoFactorEnabled, sTrue...)),
	}, Condition: "selection and not filter_factor_remains", Fidelity: fidelityNarrower,
		Note: "gitlab_detect lowers the removal to LOW when the lookup says two-factor authentication is still on; this rule leaves those out and keeps the HIGH ones."},
	"GLD-003": {Searches: []sigmaSearch{sel("selection", typesOf("GLD-003"), eq(sfTo, sFalse...))}, Condition: "selection"},
	"GLD-004": {Searches: []sigmaSearch{sel("selection", typesOf("GLD-004"))}, Condition: "selection", Fidelity: fidelityBroader,
		Note: "Sigma cannot compare details.to with details.from: this rule matches every change of the grace period, gitlab_detect only those that lengthen it."},
	"GLD-005": {Searches: []sigmaSearch{
		sel("selection_type", typesOf("GLD-005")),
		sel("selection_message", mod(sfMessage, "contains", "enforced_sso changed from true to false", "enabled changed from true to false")),
		sel("selection_change", eq(sfChange, "enforced_sso", "enabled"), eq(sfTo, sFalse...)),
	}, Condition: "selection_type and (selection_message or selection_change)"},
	"GLD-006": {Searches: []sigmaSearch{sel("selection", typesOf("GLD-006"), eq(sfTo, sFalse...))}, Condition: "selection"},
	"GLD-007": {Searches: []sigmaSearch{
		sel("selection_allow", types(weakeningTypes(true)...), eq(sfTo, sTrue...)),
		sel("selection_disallow", types(weakeningTypes(false)...), eq(sfTo, sFalse...)),
	}, Condition: "1 of selection_*"},
	"GLD-008": {Searches: []sigmaSearch{
		sel("selection", typesOf("GLD-008"), eq(sfChange, "number of required approvals", "approvals_required"), eq(sfTo, "0")),
	}, Condition: "selection", Fidelity: fidelityNarrower,
		Note: "Sigma cannot compare details.to with details.from: this rule reports approvals reduced to zero, gitlab_detect every reduction."},
	"GLD-011": {Searches: []sigmaSearch{sel("selection", typesOf("GLD-011"), eq(sfTo, sTrue...))}, Condition: "selection"},
	"GLD-012": {Searches: []sigmaSearch{sel("selection", typesOf("GLD-012"), eq(sfTo, sFalse...))}, Condition: "selection"},
	"GLD-014": {Searches: []sigmaSearch{
		sel("selection", typesOf("GLD-014"), mod(sfMessage, "startswith", "Secret push protection has been disabled")),
	}, Condition: "selection"},
	"GLD-022": {Searches: []sigmaSearch{
		sel("selection", typesOf("GLD-022")),
		sel("account_author", eq(sfUserName, "root", "Administrator")),
		sel("account_target", eq(sfTarget, "root", "Administrator")),
	}, Condition: "selection and 1 of account_*",
		Note: "The accounts are gitlab_detect's default privileged_accounts (root, Administrator): edit the lists to yours."},
	"GLD-027": {Searches: []sigmaSearch{sel("selection", typesOf("GLD-027"), eq(sfTo, sFalse...))}, Condition: "selection"},
	"GLD-030": {Searches: visibilitySearches("GLD-030", "Public", "20"), Condition: "selection and 1 of to_* and not 1 of from_*"},
	"GLD-031": {Searches: visibilitySearches("GLD-031", "Public", "20"), Condition: "selection and 1 of to_* and not 1 of from_*"},
	"GLD-032": {Searches: []sigmaSearch{
		sel("selection", typesOf("GLD-032")),
		sel("to_internal", eq(sfTo, "Internal", "10")),
		sel("to_internal_message", mod(sfMessage, "re", `(?i)^changed \S+ from \S+ to internal\.?$`)),
		sel("from_other", eq(sfFrom, "Public", "20", "Internal", "10")),
		sel("from_other_message", mod(sfMessage, "re", `(?i)^changed \S+ from (public|internal) to `)),
	}, Condition: "selection and 1 of to_* and not 1 of from_*"},
	"GLD-040": {Searches: []sigmaSearch{
		sel("selection", typesOf("GLD-040")),
		sel("to_owner", eq(sfTo, "Default role: Owner", "Owner", "50")),
		sel("as_owner", eq(sfAs, "Default role: Owner", "Owner", "50")),
		sel("link_to_owner", mod(sfMessage, "re", `(?i)group_access from .+ to owner\.?$`)),
		sel("from_owner", eq(sfFrom, "Default role: Owner", "Owner", "50")),
	}, Condition: "selection and (to_owner or as_owner or link_to_owner) and not from_owner",
		Fidelity: fidelityNarrower, Note: "Member events that only say the role in details.to give it; a member_created event whose details.from (an earlier role) is Owner is left out."},
	"GLD-041": {Searches: []sigmaSearch{
		sel("selection", typesOf("GLD-041")),
		sel("to_maintainer", eq(sfTo, "Default role: Maintainer", "Maintainer", "40")),
		sel("as_maintainer", eq(sfAs, "Default role: Maintainer", "Maintainer", "40")),
		sel("link_to_maintainer", mod(sfMessage, "re", `(?i)group_access from .+ to maintainer\.?$`)),
		sel("from_same_or_higher", eq(sfFrom, "Default role: Maintainer", "Maintainer", "40", "Default role: Owner", "Owner", "50")),
		sel("link_from_owner", mod(sfMessage, "re", `(?i)group_access from owner to `)),
	}, Condition: "selection and (to_maintainer or as_maintainer or link_to_maintainer) and not (from_same_or_higher or link_from_owner)",
		Fidelity: fidelityNarrower, Note: "gitlab_detect's default privileged_roles (Maintainer, besides Owner which is GLD-040); custom roles listed in privileged_roles are not in this rule."},
	"GLD-042": {Searches: []sigmaSearch{sel("selection", typesOf("GLD-042"), eq(sfTo, sTrue...))}, Condition: "selection"},
	"GLD-044": {Searches: []sigmaSearch{
		sel("selection", typesOf("GLD-044")),
		sel("filter_stop", mod(sfMessage, "startswith", "Stopped Impersonation")),
	}, Condition: "selection and not filter_stop"},
	"GLD-045": {Searches: []sigmaSearch{sel("selection", typesOf("GLD-045"), eq(sfTo, sTrue...))}, Condition: "selection"},
	"GLD-056": {Searches: []sigmaSearch{
		sel("selection", typesOf("GLD-056")),
		sel("filter_failed", mod(sfMessage, "startswith", "Failed to")),
		sel("filter_errors", mod(sfErrors, "exists", true)),
	}, Condition: "selection and not 1 of filter_*"},
	"GLD-061": {Searches: []sigmaSearch{
		sel("selection_key", types("deploy_key_added"), eq(sfStatus, auditevent.EnrichmentStatusOK), eq(auditevent.AttrDeployKeyCanPush, sTrue...)),
		sel("selection_token", types("deploy_token_created", "group_deploy_token_created"), eq(sfStatus, auditevent.EnrichmentStatusOK),
			eq(auditevent.AttrDeployTokenScopes, "write_repository", "write_registry", "write_package_registry")),
		sel("selection_message", types("deploy_token_created", "group_deploy_token_created"),
			mod(sfMessage, "re", `(?i)with scopes: \[[^\]]*write_(repository|registry|package_registry)`)),
	}, Condition: "1 of selection_*"},
	"GLD-070": {Searches: []sigmaSearch{sel("selection", typesOf("GLD-070"), eq(sfChange, "variable protection", "protected"), eq(sfTo, sFalse...))}, Condition: "selection"},
	"GLD-071": {Searches: []sigmaSearch{sel("selection", typesOf("GLD-071"), eq(sfChange, "variable masking", "masked"), eq(sfTo, sFalse...))}, Condition: "selection"},
	"GLD-072": {Searches: []sigmaSearch{
		sel("selection", typesOf("GLD-072")),
		sel("filter_known", eq(sfStatus, auditevent.EnrichmentStatusOK), mod(auditevent.AttrCIVariableProtected, "exists", true)),
	}, Condition: "selection and not filter_known"},
	"GLD-074": {Searches: []sigmaSearch{
		sel("selection", typesOf("GLD-074"), eq(sfStatus, auditevent.EnrichmentStatusOK), eq(auditevent.AttrCIVariableProtected, sFalse...)),
	}, Condition: "selection", Note: "gitlab_detect raises it to CRITICAL when gitlab.ci_variable.masked is false too."},
	"GLD-090": {Searches: []sigmaSearch{
		sel("selection", typesOf("GLD-090")),
		sel("filter_failed", mod(sfMessage, "startswith", "Attempted to create")),
	}, Condition: "selection and not filter_failed"},
	"GLD-091": {Searches: []sigmaSearch{sel("selection", typesOf("GLD-091"))}, Condition: "selection",
		Note: "gitlab_detect also writes the scopes and role GitLab puts in the message into its note."},
	"GLD-092": {Searches: []sigmaSearch{
		sel("selection", typesOf("GLD-092")),
		sel("two_addresses_target", mod(sfTarget, "re", `@.+@`)),
		sel("two_addresses_message", mod(sfMessage, "re", `@.+@`)),
	}, Condition: "selection and 1 of two_addresses_*", Fidelity: fidelityBroader,
		Note: "Sigma cannot count distinct addresses: this rule matches two addresses even when they are the same."},
	"GLD-093": {Searches: []sigmaSearch{
		sel("selection", typesOf("GLD-093"), mod(sfTargetID, "exists", true)),
		sel("filter_self", mod(sfUserID, "fieldref", sfTargetID)),
	}, Condition: "selection and not filter_self", Fidelity: fidelityNarrower,
		Note: "Compares the author's and the target's ids (fieldref); gitlab_detect also compares names when the ids are missing."},
	"GLD-099": {Searches: []sigmaSearch{
		sel("selection", typesOf("GLD-099"), eq(sfStatus, auditevent.EnrichmentStatusOK)),
		sel("filter_expires", mod(auditevent.AttrTokenExpiresAt, "exists", true)),
		sel("filter_failed", mod(sfMessage, "startswith", "Attempted to create")),
	}, Condition: "selection and not 1 of filter_*", Fidelity: fidelityNarrower,
		Note: "Sigma cannot add token_max_lifetime to the event's time: this rule reports the tokens that never expire; those that expire too late need gitlab_detect."},
}

// weakeningTypes returns the approval setting events whose weaker value
// is want (GLD-007).
func weakeningTypes(want bool) []string {
	var out []string
	for _, t := range sortedKeys(weakerApprovalSetting) {
		if weakerApprovalSetting[t] == want {
			out = append(out, t)
		}
	}
	return out
}

// visibilitySearches selects a change of visibility to one level from
// another, from details or GitLab's "Changed visibility from A to B"
// message.
func visibilitySearches(id, level, number string) []sigmaSearch {
	return []sigmaSearch{
		sel("selection", typesOf(id)),
		sel("to_level", eq(sfTo, level, number)),
		sel("to_level_message", mod(sfMessage, "re", `(?i)^changed \S+ from \S+ to `+level+`\.?$`)),
		sel("from_level", eq(sfFrom, level, number)),
		sel("from_level_message", mod(sfMessage, "re", `(?i)^changed \S+ from `+level+` to `)),
	}
}
