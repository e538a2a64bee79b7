// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package enrich

import (
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/kyra-mdr/otelcol-gitlab/receiver/gitlabauditreceiver/internal/auditlog"
	"github.com/kyra-mdr/otelcol-gitlab/receiver/gitlabauditreceiver/internal/gitlabapi"
)

// Kind is a kind of lookup: which object of the API is read.
type Kind string

// Lookup kinds. The value names the lookup in metrics and logs.
const (
	KindPersonalAccessToken Kind = "personal_access_token"
	KindProjectAccessToken  Kind = "project_access_token"
	KindGroupAccessToken    Kind = "group_access_token"
	KindProjectVariable     Kind = "ci_variable"
	KindGroupVariable       Kind = "ci_group_variable"
	KindInstanceVariable    Kind = "ci_instance_variable"
	KindDeployKey           Kind = "deploy_key"
	KindProjectDeployToken  Kind = "deploy_token"
	KindGroupDeployToken    Kind = "group_deploy_token"
	KindUser                Kind = "user"
	// KindUserTwoFactor reads whether the user a two-factor removal is
	// about still has a second factor (GET /users/:id, two_factor_enabled).
	KindUserTwoFactor Kind = "user_two_factor"
)

// Switches turn the lookups on and off by family.
type Switches struct {
	PersonalAccessTokens bool // personal_access_token_created
	ResourceAccessTokens bool // project_ and group_access_token_created
	CIVariables          bool // ci_*variable_created and _updated
	DeployKeys           bool // deploy_key_added
	DeployTokens         bool // deploy_token_created, group_deploy_token_created
	// Authors: GET /users/:id of every author with an id > 0, and of the
	// user a user_disable_two_factor event is about (KindUserTwoFactor):
	// both are user lookups.
	Authors bool
}

// on reports whether the lookups of kind k are switched on.
func (s Switches) on(k Kind) bool {
	switch k {
	case KindPersonalAccessToken:
		return s.PersonalAccessTokens
	case KindProjectAccessToken, KindGroupAccessToken:
		return s.ResourceAccessTokens
	case KindProjectVariable, KindGroupVariable, KindInstanceVariable:
		return s.CIVariables
	case KindDeployKey:
		return s.DeployKeys
	case KindProjectDeployToken, KindGroupDeployToken:
		return s.DeployTokens
	case KindUser, KindUserTwoFactor:
		return s.Authors
	}
	return false
}

// perEvent reports whether a kind's fact is a state the event changes, so
// that only an answer given after the event may decide it: each event is
// looked up on its own, and the answer is never cached for other events.
// Whether a user still has two-factor authentication is such a fact: an
// answer from before a removal (an author lookup, or an earlier removal of
// another of the user's factors) would say it is still on.
func (k Kind) perEvent() bool { return k == KindUserTwoFactor }

// switchName is the configuration key of a kind's switch, for reasons.
func switchName(k Kind) string {
	switch k {
	case KindPersonalAccessToken:
		return "personal_access_tokens"
	case KindProjectAccessToken, KindGroupAccessToken:
		return "resource_access_tokens"
	case KindProjectVariable, KindGroupVariable, KindInstanceVariable:
		return "ci_variables"
	case KindDeployKey:
		return "deploy_keys"
	case KindProjectDeployToken, KindGroupDeployToken:
		return "deploy_tokens"
	}
	return "authors"
}

// eventKinds maps the event types that have an object lookup to its kind.
var eventKinds = map[string]Kind{
	"personal_access_token_created": KindPersonalAccessToken,
	"project_access_token_created":  KindProjectAccessToken,
	"group_access_token_created":    KindGroupAccessToken,
	"ci_variable_created":           KindProjectVariable,
	"ci_variable_updated":           KindProjectVariable,
	"ci_group_variable_created":     KindGroupVariable,
	"ci_group_variable_updated":     KindGroupVariable,
	"ci_instance_variable_created":  KindInstanceVariable,
	"ci_instance_variable_updated":  KindInstanceVariable,
	"deploy_key_added":              KindDeployKey,
	"deploy_token_created":          KindProjectDeployToken,
	"group_deploy_token_created":    KindGroupDeployToken,
	"user_disable_two_factor":       KindUserTwoFactor,
}

// KindOf returns the object lookup of an event type, if it has one.
func KindOf(eventType string) (Kind, bool) {
	k, ok := eventKinds[eventType]
	return k, ok
}

// EventTypes returns the event types that have an object lookup, for documentation and tests.
func EventTypes() map[string]Kind {
	out := make(map[string]Kind, len(eventKinds))
	for t, k := range eventKinds {
		out[t] = k
	}
	return out
}

// object is one object to look up.
type object struct {
	kind Kind
	// path is the escaped API path below /api/v4; authors leave it empty
	// until a request is made (pathOf), so that a cache hit costs no allocation.
	path string
	// query holds the request's parameters, if any.
	query url.Values
	// key identifies the object in the cache.
	key objectKey
}

// objectKey identifies an object: its kind and its id within the kind
// (e.g. "100/NPM_TOKEN" for a project's variable).
type objectKey struct {
	kind Kind
	id   string
}

// pathOf returns the API path of an object.
func (o object) pathOf() string {
	if o.path == "" && o.kind == KindUser {
		return "/users/" + o.key.id
	}
	return o.path
}

// Messages GitLab writes, with the id of the token they name:
// "Created personal access token with id 42" and, for resource access
// tokens and deploy tokens, "... with token_id: 42 ...".
var (
	patID   = regexp.MustCompile(`^Created personal access token with id (\d+)$`)
	tokenID = regexp.MustCompile(`\btoken_id: (\d+)\b`)
	// variableKey is what GitLab accepts as a CI/CD variable key.
	variableKey = regexp.MustCompile(`^[A-Za-z0-9_]{1,255}$`)
)

// plan works out which object a record's event names. ok=false with a
// reason when the event type has a lookup but the event does not say
// which object (e.g. a failed creation, or a legacy event without the id).
func plan(kind Kind, attrs pcommon.Map) (obj object, reason string, ok bool) {
	str := func(k string) string {
		if v, ok := attrs.Get(k); ok {
			return v.AsString()
		}
		return ""
	}
	entityType, entityID := str(auditlog.AttrEntityType), str(auditlog.AttrEntityID)
	targetID, targetType := str(auditlog.AttrTargetID), str(auditlog.AttrTargetType)
	message := str(auditlog.AttrMessage)

	// scope is the event's entity, a group or else a project: its id and
	// its API path ("/groups/12").
	scope := func(group bool) (id, path, reason string, ok bool) {
		want, path := "Project", "/projects/"
		if group {
			want, path = "Group", "/groups/"
		}
		if entityType != want || !isID(entityID) {
			return "", "", "the event's entity is not a " + strings.ToLower(want) + " with a numeric id", false
		}
		return entityID, path + entityID, "", true
	}
	var id string
	switch kind {
	case KindPersonalAccessToken:
		m := patID.FindStringSubmatch(message)
		if m == nil {
			return obj, "the event names no token (e.g. a failed creation)", false
		}
		id = m[1]
		obj.path = "/personal_access_tokens/" + id
	case KindProjectAccessToken, KindGroupAccessToken:
		sc, path, why, ok := scope(kind == KindGroupAccessToken)
		if !ok {
			return obj, why, false
		}
		if m := tokenID.FindStringSubmatch(message); m != nil {
			id = m[1]
		} else if targetType == "PersonalAccessToken" && isID(targetID) {
			id = targetID
		} else {
			return obj, "the event names no token (e.g. a failed creation)", false
		}
		obj.path = path + "/access_tokens/" + id
		id = sc + "/" + id
	case KindProjectVariable, KindGroupVariable, KindInstanceVariable:
		key := str(auditlog.AttrTargetDetails)
		if !variableKey.MatchString(key) {
			return obj, "the event does not carry the variable's key", false
		}
		switch kind {
		case KindProjectVariable, KindGroupVariable:
			sc, path, why, ok := scope(kind == KindGroupVariable)
			if !ok {
				return obj, why, false
			}
			obj.path = path + "/variables/" + gitlabapi.PathSegment(key)
			id = sc + "/" + key
		default:
			obj.path = "/admin/ci/variables/" + gitlabapi.PathSegment(key)
			id = key
		}
	case KindDeployKey:
		sc, path, why, ok := scope(false)
		if !ok {
			return obj, why, false
		}
		if !isID(targetID) {
			return obj, "the event does not carry the deploy key's id (older events name its title only)", false
		}
		obj.path = path + "/deploy_keys/" + targetID
		id = sc + "/" + targetID
	case KindProjectDeployToken, KindGroupDeployToken:
		sc, path, why, ok := scope(kind == KindGroupDeployToken)
		if !ok {
			return obj, why, false
		}
		switch m := tokenID.FindStringSubmatch(message); {
		case isID(targetID) && (targetType == "DeployToken" || m == nil):
			id = targetID
		case m != nil:
			id = m[1]
		default:
			return obj, "the event names no deploy token (e.g. a failed creation)", false
		}
		obj.path = path + "/deploy_tokens/" + id
		id = sc + "/" + id
	case KindUserTwoFactor:
		// GitLab records the removal with the user as target (target_id
		// the user's id, target_type User) whoever removed it:
		// ee/app/services/ee/two_factor/destroy_otp_service.rb,
		// ee/app/services/ee/webauthn/destroy_service.rb and their specs.
		if targetType != "User" || !isID(targetID) {
			return obj, "the event does not name the user (target_type User with a numeric target_id)", false
		}
		obj.path = "/users/" + targetID
		// One lookup per event (see perEvent): the event's id is part of the key.
		id = targetID + "@" + str(auditlog.AttrEventID)
	default:
		return obj, "no lookup for this event type", false
	}
	obj.kind = kind
	obj.key = objectKey{kind: kind, id: id}
	return obj, "", true
}

// authorObject is the author lookup of a record: GET /users/:id, for
// authors that are users (GitLab writes -1, -2, -3 for the others).
func authorObject(attrs pcommon.Map) (object, bool) {
	v, ok := attrs.Get(auditlog.AttrUserID)
	if !ok {
		return object{}, false
	}
	id := v.AsString()
	if !isID(id) {
		return object{}, false
	}
	return object{kind: KindUser, key: objectKey{kind: KindUser, id: id}}, true
}

// isID reports whether s is a positive decimal id.
func isID(s string) bool {
	n, err := strconv.ParseUint(s, 10, 63)
	return err == nil && n > 0 && !strings.HasPrefix(s, "0") && !strings.HasPrefix(s, "+")
}
