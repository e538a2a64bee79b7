// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package gitlabdetectprocessor

import (
	"fmt"
	"regexp"
	"strings"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/kyra-mdr/otelcol-gitlab/internal/auditevent"
)

// Rules that read the facts the gitlab_audit receiver looked up in GitLab's
// API (internal/auditevent/enrichattrs.go). A fact is known only when the
// lookup status is ok and the attribute is present (except an absent token
// expiry with status ok, which means the token never expires); a rule that
// needs an unknown fact does not fire, and the rule it refines (GLD-072,
// GLD-090, GLD-091, GLD-050, GLD-051) keeps today's behaviour.

// enriched reports whether the object lookup of the event succeeded.
func (e *event) enriched() bool {
	v, ok := e.attrs.Get(auditevent.AttrEnrichmentStatus)
	return ok && v.Type() == pcommon.ValueTypeStr && v.Str() == auditevent.EnrichmentStatusOK
}

// enrichmentStatus returns the lookup status, or "absent".
func (e *event) enrichmentStatus() string {
	if v, ok := e.attrs.Get(auditevent.AttrEnrichmentStatus); ok && v.Str() != "" {
		return v.Str()
	}
	return "absent"
}

// factBool returns a boolean fact of a successful lookup.
func (e *event) factBool(attr string) (value, known bool) {
	if !e.enriched() {
		return false, false
	}
	v, ok := e.attrs.Get(attr)
	if !ok {
		return false, false
	}
	return parseBool(v)
}

// factInt returns an integer fact of a successful lookup.
func (e *event) factInt(attr string) (int64, bool) {
	if !e.enriched() {
		return 0, false
	}
	v, ok := e.attrs.Get(attr)
	if !ok {
		return 0, false
	}
	return parseInt(v)
}

// factStrings returns a list fact of a successful lookup (a slice of
// strings; a single string is read as a comma-separated list).
func (e *event) factStrings(attr string) ([]string, bool) {
	if !e.enriched() {
		return nil, false
	}
	v, ok := e.attrs.Get(attr)
	if !ok {
		return nil, false
	}
	switch v.Type() {
	case pcommon.ValueTypeSlice:
		sl := v.Slice()
		out := make([]string, 0, sl.Len())
		for i := 0; i < sl.Len(); i++ {
			if s := strings.TrimSpace(auditevent.ScalarText(sl.At(i))); s != "" {
				out = append(out, s)
			}
		}
		return out, true
	case pcommon.ValueTypeStr:
		return splitScopes(v.Str()), true
	default:
		return nil, false
	}
}

// privilegedTokenScopes raise a long-lived token: they write code or
// packages, or act as an administrator.
var privilegedTokenScopes = []string{"api", "sudo", "admin_mode", "write_repository", "write_registry"}

// writeDeployTokenScopes give a deploy token write access.
var writeDeployTokenScopes = []string{"write_repository", "write_registry", "write_package_registry"}

// resourceTokenRE reads what GitLab writes when a project or group access
// token is created (ee/app/services/ee/resource_access_tokens/
// create_service.rb): "Created project access token with token_id: 12 with
// scopes: [:api, :read_repository] and Maintainer access level." and
// "Created group token with token_id: 12 with scopes: [:read_api]."
var (
	tokenScopesRE = regexp.MustCompile(`(?i)with scopes: \[([^\]]*)\]`)
	tokenRoleRE   = regexp.MustCompile(`(?i)\band ([A-Za-z][A-Za-z ]*?) access level`)
)

// splitScopes splits a scope list as GitLab prints it: Ruby symbols
// ([:api, :read_repository]), JSON strings, or plain words.
func splitScopes(s string) []string {
	s = strings.Trim(strings.TrimSpace(s), "[]")
	var out []string
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' }) {
		f = strings.ToLower(strings.Trim(f, `:"'`))
		if f != "" {
			out = append(out, f)
		}
	}
	return out
}

// tokenScopes returns the token's scopes: the looked-up ones, else those
// GitLab wrote in a resource access token's creation message.
func tokenScopes(e *event) (scopes []string, from string, ok bool) {
	if s, ok := e.factStrings(auditevent.AttrTokenScopes); ok {
		return s, "lookup", true
	}
	if m := tokenScopesRE.FindStringSubmatch(e.message()); m != nil {
		return splitScopes(m[1]), "message", true
	}
	return nil, "", false
}

// tokenRole returns a project or group access token's role: the looked-up
// access level, else the role GitLab wrote in the creation message.
func tokenRole(e *event) (role, bool) {
	if n, ok := e.factInt(auditevent.AttrTokenAccessLevel); ok {
		for _, r := range defaultRoles {
			if int64(r.level) == n && n > 0 {
				return r, true
			}
		}
	}
	if m := tokenRoleRE.FindStringSubmatch(e.message()); m != nil {
		if r, ok := parseRole(m[1]); ok && !r.custom {
			return r, true
		}
	}
	return role{}, false
}

// parseFactTime parses a date as GitLab gives it: YYYY-MM-DD (the token
// expires at the start of that day, UTC) or an RFC 3339 time.
func parseFactTime(s string) (time.Time, bool) {
	s = strings.TrimSpace(s)
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, true
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, true
	}
	return time.Time{}, false
}

// longLivedToken is GLD-099: a personal, project or group access token
// that expires later than token_max_lifetime after its creation, or never.
// It needs the looked-up expiry; scopes and role come from the lookup or
// from the creation message.
func longLivedToken(e *event, env *ruleEnv) (bool, grade, string) {
	if hasPrefixFold(strings.TrimSpace(e.message()), "attempted to create") || !e.enriched() {
		return false, gradeSame, ""
	}
	var note strings.Builder
	created := time.Unix(0, e.eventTime()).UTC()
	if v, ok := e.attrs.Get(auditevent.AttrTokenExpiresAt); ok && auditevent.ScalarText(v) != "" {
		exp, ok := parseFactTime(auditevent.ScalarText(v))
		if !ok || !exp.After(created.Add(env.tokenMaxLifetime)) {
			return false, gradeSame, ""
		}
		fmt.Fprintf(&note, "expires %s, %d days after creation (token_max_lifetime %s)",
			exp.Format(time.DateOnly), int(exp.Sub(created).Hours()/24), shortDuration(env.tokenMaxLifetime))
	} else {
		note.WriteString("never expires")
	}
	raise := gradeSame
	if scopes, from, ok := tokenScopes(e); ok {
		var hit []string
		for _, s := range scopes {
			for _, p := range privilegedTokenScopes {
				if s == p {
					hit = append(hit, s)
				}
			}
		}
		if len(hit) > 0 {
			raise = gradeRaise
			fmt.Fprintf(&note, "; privileged scopes %s (from the %s)", strings.Join(hit, ", "), from)
		}
	}
	if e.typ != "personal_access_token_created" {
		if r, ok := tokenRole(e); ok && r.level >= 40 {
			raise = gradeRaise
			fmt.Fprintf(&note, "; %s access level", r.name)
		}
	}
	return true, raise, note.String()
}

// unprotectedVariable is GLD-074: a CI/CD variable created or updated that
// is not protected, per the lookup; raised when it is not masked either.
func unprotectedVariable(e *event, _ *ruleEnv) (bool, grade, string) {
	protected, known := e.factBool(auditevent.AttrCIVariableProtected)
	if !known || protected {
		return false, gradeSame, ""
	}
	masked, maskedKnown := e.factBool(auditevent.AttrCIVariableMasked)
	if maskedKnown && !masked {
		return true, gradeRaise, "the variable is neither protected nor masked"
	}
	return true, gradeSame, "the variable is not protected"
}

// authenticatorRemoved is GLD-002: one authenticator of a user removed
// (GitLab's EE::TwoFactor::DestroyOtpService writes "Disabled One-time
// password authenticator", EE::Webauthn::DestroyService "Deleted WebAuthn
// device"). HIGH unless another factor is known to remain: lowered to LOW
// only when the receiver looked the user up after the event and GitLab
// said two-factor authentication is still on. Removing a user's only
// factor leaves the account with a password only, like GLD-001.
func authenticatorRemoved(e *event, _ *ruleEnv) (bool, grade, string) {
	if !isAuthenticatorRemoval(e.message()) {
		return false, gradeSame, ""
	}
	on, known := e.factBool(auditevent.AttrTargetUserTwoFactorEnabled)
	switch {
	case known && on:
		return true, gradeLower, "two-factor authentication is still on for the user (looked up after the event)"
	case known:
		return true, gradeSame, "the user has no second factor left (looked up after the event)"
	}
	return true, gradeSame, "no other factor is known to remain (enrichment: " + e.enrichmentStatus() + ")"
}

// variableProtectionUnknown is GLD-072: a CI/CD variable created whose
// protected flag is not known (no successful lookup).
func variableProtectionUnknown(e *event, _ *ruleEnv) (bool, string) {
	if _, known := e.factBool(auditevent.AttrCIVariableProtected); known {
		return false, ""
	}
	return true, "protected and masked flags are unknown: GitLab's variable creation event does not carry them (enrichment: " + e.enrichmentStatus() + ")"
}

// writeAccessDeployCredential is GLD-061: a deploy key that can push, per
// the lookup, or a deploy token with a write scope, per the lookup or the
// creation message.
func writeAccessDeployCredential(e *event, _ *ruleEnv) (bool, string) {
	if e.typ == "deploy_key_added" {
		if canPush, known := e.factBool(auditevent.AttrDeployKeyCanPush); known && canPush {
			return true, "the deploy key can push"
		}
		return false, ""
	}
	scopes, ok := e.factStrings(auditevent.AttrDeployTokenScopes)
	if !ok {
		// GitLab writes the scopes in the creation message: "Created
		// project deploy token with name: x with token_id: 12 with scopes:
		// [:read_repository]." (ee/app/services/ee/projects/deploy_tokens/
		// create_service.rb, and the group variant).
		m := tokenScopesRE.FindStringSubmatch(e.message())
		if m == nil {
			return false, ""
		}
		scopes = splitScopes(m[1])
	}
	var hit []string
	for _, s := range scopes {
		for _, w := range writeDeployTokenScopes {
			if strings.EqualFold(s, w) {
				hit = append(hit, w)
			}
		}
	}
	if len(hit) == 0 {
		return false, ""
	}
	return true, "write scopes " + strings.Join(hit, ", ")
}

// resourceTokenNote is GLD-091's note: the scopes and role GitLab wrote in
// the creation message, when it did.
func resourceTokenNote(e *event, _ *ruleEnv) (bool, string) {
	var parts []string
	if scopes, _, ok := tokenScopes(e); ok && len(scopes) > 0 {
		parts = append(parts, "scopes "+strings.Join(scopes, ", "))
	}
	if r, ok := tokenRole(e); ok {
		parts = append(parts, r.name+" access level")
	}
	return true, strings.Join(parts, "; ")
}
