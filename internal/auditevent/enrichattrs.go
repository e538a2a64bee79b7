// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package auditevent

// Enrichment attributes: facts the gitlab_audit receiver looks up in
// GitLab's API about the object an event names (the token, the CI/CD
// variable, the deploy key or token) and about its author, written as log
// record attributes. The gitlab_detect processor reads them. The facts
// describe the object when it was looked up, not when the event happened.
const (
	// AttrEnrichmentStatus is the outcome of the object lookup, on every
	// record of an event type that has one: one of the EnrichmentStatus* values.
	AttrEnrichmentStatus = "gitlab.enrichment.status"
	// AttrEnrichmentTime is when GitLab answered (RFC 3339, UTC), for the
	// statuses ok, not_found and forbidden.
	AttrEnrichmentTime = "gitlab.enrichment.time"
	// AttrEnrichmentReason says why, for the statuses forbidden, error and
	// skipped (e.g. which role or scope would see the object).
	AttrEnrichmentReason = "gitlab.enrichment.reason"

	// AttrTokenExpiresAt is the token's expiry date (YYYY-MM-DD, as GitLab
	// gives it). Absent with status ok means the token never expires.
	AttrTokenExpiresAt = "gitlab.token.expires_at"
	// AttrTokenScopes is the token's scopes (slice of strings).
	AttrTokenScopes = "gitlab.token.scopes"
	// AttrTokenActive is whether a personal, project or group access token is active (bool).
	AttrTokenActive = "gitlab.token.active"
	// AttrTokenRevoked is whether a personal, project or group access token is revoked (bool).
	AttrTokenRevoked = "gitlab.token.revoked"
	// AttrTokenAccessLevel is a project or group access token's role (int: 10, 15, 20, 30, 40, 50).
	AttrTokenAccessLevel = "gitlab.token.access_level"

	// AttrCIVariableProtected is whether the CI/CD variable is protected (bool).
	AttrCIVariableProtected = "gitlab.ci_variable.protected"
	// AttrCIVariableMasked is whether the CI/CD variable is masked (bool).
	AttrCIVariableMasked = "gitlab.ci_variable.masked"
	// AttrCIVariableHidden is whether the CI/CD variable is hidden (bool), when GitLab returns it.
	AttrCIVariableHidden = "gitlab.ci_variable.hidden"
	// AttrCIVariableRaw is whether the CI/CD variable is raw, not expanded (bool).
	AttrCIVariableRaw = "gitlab.ci_variable.raw"
	// AttrCIVariableEnvironmentScope is the variable's environment scope
	// (string; absent for instance variables).
	AttrCIVariableEnvironmentScope = "gitlab.ci_variable.environment_scope"
	// AttrCIVariableType is the variable's type: env_var or file (string).
	AttrCIVariableType = "gitlab.ci_variable.variable_type"

	// AttrDeployKeyCanPush is whether the deploy key has write access (bool).
	AttrDeployKeyCanPush = "gitlab.deploy_key.can_push"
	// AttrDeployKeyExpiresAt is the deploy key's expiry (string, as GitLab gives it), only when set.
	AttrDeployKeyExpiresAt = "gitlab.deploy_key.expires_at"

	// AttrDeployTokenScopes is the deploy token's scopes (slice of strings).
	AttrDeployTokenScopes = "gitlab.deploy_token.scopes"
	// AttrDeployTokenExpiresAt is the deploy token's expiry (string, as GitLab gives it), only when set.
	AttrDeployTokenExpiresAt = "gitlab.deploy_token.expires_at"

	// AttrAuthorBot is whether the event's author is a bot user (bool), from
	// GET /users/:id, when that lookup succeeded.
	AttrAuthorBot = "gitlab.author.bot"
	// AttrAuthorUserType is the author's user type as GitLab reports it
	// (e.g. human, project_bot, service_account), when visible.
	AttrAuthorUserType = "gitlab.author.user_type"

	// AttrTargetUserTwoFactorEnabled is whether the user an event is about
	// (its target) still has two-factor authentication on (bool), looked up
	// after the event: two_factor_enabled of GET /users/:id, which GitLab
	// shows to administrators and auditors only. Written on
	// user_disable_two_factor, whose status attributes describe this lookup.
	AttrTargetUserTwoFactorEnabled = "gitlab.target_user.two_factor_enabled"
)

// Values of AttrEnrichmentStatus.
const (
	// EnrichmentStatusOK: GitLab answered with the object; its facts are set.
	EnrichmentStatusOK = "ok"
	// EnrichmentStatusNotFound: GitLab answered 404; the object was deleted since.
	EnrichmentStatusNotFound = "not_found"
	// EnrichmentStatusForbidden: the receiver's token may not read the object.
	EnrichmentStatusForbidden = "forbidden"
	// EnrichmentStatusError: the lookup failed (GitLab error, unreadable answer).
	EnrichmentStatusError = "error"
	// EnrichmentStatusTimeout: no answer within the enrichment time box.
	EnrichmentStatusTimeout = "timeout"
	// EnrichmentStatusSkipped: no lookup was made (enrichment or this kind
	// off, the event does not name the object, or the request budget is exhausted).
	EnrichmentStatusSkipped = "skipped"
)
