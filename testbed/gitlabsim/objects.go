// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package gitlabsim

import (
	"hash/fnv"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// The objects audit events name, as the lookup endpoints serve them (see
// lookups.go): personal, project and group access tokens, CI/CD variables,
// deploy keys and deploy tokens, and the bot users of resource access
// tokens. Events inserted or generated register the objects they name, so
// a lookup answers consistently with the events: the token of
// "Created personal access token with id 42" is served at
// /personal_access_tokens/42 with the expiry it was created with, the
// variable of a "variable protection" change has the protection it was
// changed to. Every CI/CD variable's value is a unique marker (see
// SecretMarker) for tests that prove values are never kept.
//
// Generated objects draw their properties from a hash of the object and
// the seed, not from the generator's random streams (which stay as they
// were): some tokens live 30 days, others two years or never expire; some
// variables are created unprotected; a few objects were deleted since
// (lookups answer 404) and a few are restricted (403, as when the token's
// user lost the role that may read them).

// SecretMarkerPrefix starts every CI/CD variable value the simulator
// generates; the rest makes each value unique.
const SecretMarkerPrefix = "SIMSECRET-"

// ObjectState is what a lookup of an object answers besides the object.
type ObjectState uint8

// Object states.
const (
	// ObjectLive objects are served.
	ObjectLive ObjectState = iota
	// ObjectDeleted objects answer 404, as objects deleted after the event.
	ObjectDeleted
	// ObjectRestricted objects answer 403 (or 401 where GitLab does),
	// whatever the token, as when its user lost the role that may read them.
	ObjectRestricted
)

// AccessToken is a personal access token (Project and Group zero), a
// project access token (Project set) or a group access token (Group set).
type AccessToken struct {
	ID int64
	// UserID is the token's user: the owner of a personal access token,
	// the bot user of a project or group access token.
	UserID  int64
	Project int64
	Group   int64
	Name    string
	Scopes  []string
	// AccessLevel is the role of a project or group access token.
	AccessLevel Role
	CreatedAt   time.Time
	// ExpiresAt is the expiry date; zero never expires.
	ExpiresAt time.Time
	Revoked   bool
	State     ObjectState
}

// Variable scopes.
const (
	VariableProject  = "project"
	VariableGroup    = "group"
	VariableInstance = "instance"
)

// Variable is a CI/CD variable of a project, a group or the instance.
type Variable struct {
	// Scope is VariableProject, VariableGroup or VariableInstance.
	Scope string
	// Owner is the project or group id; 0 for instance variables.
	Owner int64
	Key   string
	// Value is served as GitLab does; generated values are unique markers.
	Value            string
	VariableType     string // env_var (default) or file
	Protected        bool
	Masked           bool
	Hidden           bool
	Raw              bool
	EnvironmentScope string // default "*"; unused for instance variables
	State            ObjectState
}

// DeployKey is a deploy key enabled on a project.
type DeployKey struct {
	ID        int64
	Project   int64
	Title     string
	CanPush   bool
	CreatedAt time.Time
	// ExpiresAt is zero when the key does not expire.
	ExpiresAt time.Time
	State     ObjectState
}

// DeployToken is a project (Project set) or group (Group set) deploy token.
type DeployToken struct {
	ID      int64
	Project int64
	Group   int64
	Name    string
	Scopes  []string
	// ExpiresAt is zero when the token does not expire.
	ExpiresAt time.Time
	Revoked   bool
	State     ObjectState
}

// objects holds the simulator's objects; Sim.mu guards it.
type objects struct {
	tokens       map[int64]*AccessToken // personal, project and group access tokens by id
	variables    map[string]*Variable   // by variableKey
	deployKeys   map[int64]*DeployKey
	deployTokens map[int64]*DeployToken
	bots         map[int64]string     // bot user id -> user_type
	factors      map[int64]*TwoFactor // user id -> second factors (lookups.go)
	delay        time.Duration        // SetLookupDelay
}

func variableKey(scope string, owner int64, key string) string {
	return scope + "/" + strconv.FormatInt(owner, 10) + "/" + key
}

// objs returns the object store, creating it. mu must be held for writing.
func (s *Sim) objs() *objects {
	if s.objects == nil {
		s.objects = &objects{
			tokens: map[int64]*AccessToken{}, variables: map[string]*Variable{},
			deployKeys: map[int64]*DeployKey{}, deployTokens: map[int64]*DeployToken{},
			bots: map[int64]string{}, factors: map[int64]*TwoFactor{},
		}
	}
	return s.objects
}

// AddAccessToken adds or replaces a personal, project or group access token.
func (s *Sim) AddAccessToken(t AccessToken) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.putObject(t)
}

// AddVariable adds or replaces a CI/CD variable.
func (s *Sim) AddVariable(v Variable) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.putObject(v)
}

// AddDeployKey adds or replaces a deploy key.
func (s *Sim) AddDeployKey(k DeployKey) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.putObject(k)
}

// AddDeployToken adds or replaces a deploy token.
func (s *Sim) AddDeployToken(t DeployToken) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.putObject(t)
}

// Variables returns the CI/CD variables, values included (for tests that
// look for them where they must not be).
func (s *Sim) Variables() []Variable {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.objects == nil {
		return nil
	}
	out := make([]Variable, 0, len(s.objects.variables))
	for _, v := range s.objects.variables {
		out = append(out, *v)
	}
	return out
}

// Variable returns a CI/CD variable.
func (s *Sim) Variable(scope string, owner int64, key string) (Variable, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.objects == nil {
		return Variable{}, false
	}
	v, ok := s.objects.variables[variableKey(scope, owner, key)]
	if !ok {
		return Variable{}, false
	}
	return *v, true
}

// AccessTokenByID returns a personal, project or group access token.
func (s *Sim) AccessTokenByID(id int64) (AccessToken, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.objects == nil {
		return AccessToken{}, false
	}
	t, ok := s.objects.tokens[id]
	if !ok {
		return AccessToken{}, false
	}
	return *t, true
}

// putObject stores one object. mu must be held for writing.
func (s *Sim) putObject(o any) {
	st := s.objs()
	switch o := o.(type) {
	case AccessToken:
		st.tokens[o.ID] = &o
	case Variable:
		if o.VariableType == "" {
			o.VariableType = "env_var"
		}
		if o.EnvironmentScope == "" && o.Scope != VariableInstance {
			o.EnvironmentScope = "*"
		}
		st.variables[variableKey(o.Scope, o.Owner, o.Key)] = &o
	case DeployKey:
		st.deployKeys[o.ID] = &o
	case DeployToken:
		st.deployTokens[o.ID] = &o
	case botUser:
		st.bots[o.id] = o.userType
	case twoFactorChange:
		s.applyTwoFactor(o)
	case variableChange:
		v, ok := st.variables[variableKey(o.v.Scope, o.v.Owner, o.v.Key)]
		if !ok {
			s.putObject(o.v)
			v = st.variables[variableKey(o.v.Scope, o.v.Owner, o.v.Key)]
		}
		switch o.attr {
		case "variable protection":
			v.Protected = o.to
		case "variable masking":
			v.Masked = o.to
		}
	}
}

// botUser is the bot user of a resource access token.
type botUser struct {
	id       int64
	userType string
}

// variableChange applies a "variable protection" or "variable masking"
// change to a variable, creating it (as v) when unknown.
type variableChange struct {
	v    Variable
	attr string
	to   bool
}

// Messages the objects are read back from.
var (
	msgPATID      = regexp.MustCompile(`^Created personal access token with id (\d+)$`)
	msgTokenID    = regexp.MustCompile(`token_id: (\d+)`)
	msgScopes     = regexp.MustCompile(`with scopes: \[([^\]]*)\]`)
	msgLevel      = regexp.MustCompile(`and (\w+) access level`)
	msgDeployName = regexp.MustCompile(`with name: (.+?) with token_id`)
)

// objectsOf returns the objects an event names, in the state the event
// leaves them (objects that exist already are kept, see registerObjects). Properties the event does not carry come from a hash of the
// object and seed. ev must be complete (Sim.complete).
func objectsOf(ev *Event, seed uint64) []any {
	msg, _ := ev.CustomMessage.(string)
	day := func(t time.Time, days int) time.Time { return t.UTC().Truncate(24*time.Hour).AddDate(0, 0, days) }
	switch ev.Type {
	case "personal_access_token_created":
		m := msgPATID.FindStringSubmatch(msg)
		if m == nil {
			return nil
		}
		id, _ := strconv.ParseInt(m[1], 10, 64)
		h := objectHash(seed, "pat", m[1])
		owner, _ := ev.Target.ID.(int64)
		t := AccessToken{ID: id, UserID: owner, Name: "token-" + m[1], CreatedAt: ev.CreatedAt, State: stateOf(h, 12)}
		t.Scopes = [][]string{{"read_api"}, {"api"}, {"read_repository", "write_repository"}, {"api", "sudo"}, {"read_user"}}[(h>>8)%5]
		switch h % 10 {
		case 0, 1, 2:
			t.ExpiresAt = day(ev.CreatedAt, 30)
		case 3, 4:
			t.ExpiresAt = day(ev.CreatedAt, 90)
		case 5:
			t.ExpiresAt = day(ev.CreatedAt, 365)
		case 6, 7:
			t.ExpiresAt = day(ev.CreatedAt, 730) // two years
		}
		return []any{t}
	case "project_access_token_created", "group_access_token_created":
		m := msgTokenID.FindStringSubmatch(msg)
		if m == nil {
			return nil
		}
		id, _ := strconv.ParseInt(m[1], 10, 64)
		h := objectHash(seed, "rat", m[1])
		bot, _ := ev.Target.ID.(int64)
		t := AccessToken{ID: id, UserID: bot, Name: ev.Target.Details, CreatedAt: ev.CreatedAt, Scopes: scopesOf(msg),
			AccessLevel: Maintainer, State: stateOf(h, 12)}
		if lm := msgLevel.FindStringSubmatch(msg); lm != nil {
			t.AccessLevel = roleNamed(lm[1])
		}
		userType := "project_bot"
		if ev.Type == "group_access_token_created" {
			t.Group, userType = ev.Entity.ID, "group_bot"
		} else {
			t.Project = ev.Entity.ID
		}
		t.ExpiresAt = day(ev.CreatedAt, []int{30, 90, 365, 730}[h%4])
		return []any{t, botUser{id: bot, userType: userType}}
	case "ci_variable_created", "ci_group_variable_created", "ci_instance_variable_created",
		"ci_variable_updated", "ci_group_variable_updated", "ci_instance_variable_updated":
		v := Variable{Scope: VariableProject, Owner: ev.Entity.ID, Key: ev.Target.Details}
		switch {
		case strings.HasPrefix(ev.Type, "ci_group_"):
			v.Scope = VariableGroup
		case strings.HasPrefix(ev.Type, "ci_instance_"):
			v.Scope, v.Owner = VariableInstance, 0
		}
		if v.Key == "" {
			return nil
		}
		name := variableKey(v.Scope, v.Owner, v.Key)
		h := objectHash(seed, "var", name)
		v.Value = SecretMarkerPrefix + strconv.FormatUint(objectHash(seed, "value", name), 36)
		v.Protected = h%10 >= 4 // four in ten are created unprotected
		v.Masked = (h>>8)%3 != 0
		v.Raw = (h>>12)%5 == 0
		if (h>>16)%6 == 0 {
			v.VariableType = "file"
		}
		v.State = stateOf(h, 14)
		if strings.HasSuffix(ev.Type, "_updated") {
			attr, _ := ev.Details["change"].(string)
			if to, ok := ev.Details["to"].(bool); ok && (attr == "variable protection" || attr == "variable masking") {
				return []any{variableChange{v: v, attr: attr, to: to}}
			}
			return []any{variableChange{v: v}}
		}
		return []any{v}
	case "deploy_key_added":
		id, ok := ev.Target.ID.(int64)
		if !ok {
			return nil // legacy events name the key by title
		}
		h := objectHash(seed, "dk", strconv.FormatInt(id, 10))
		k := DeployKey{ID: id, Project: ev.Entity.ID, Title: ev.Target.Details, CanPush: h%10 < 4, CreatedAt: ev.CreatedAt, State: stateOf(h, 13)}
		if (h>>8)%5 == 0 {
			k.ExpiresAt = ev.CreatedAt.AddDate(1, 0, 0)
		}
		return []any{k}
	case "user_disable_two_factor":
		return twoFactorChangeOf(ev)
	case "deploy_token_created", "group_deploy_token_created":
		m := msgTokenID.FindStringSubmatch(msg)
		if m == nil {
			return nil
		}
		id, _ := strconv.ParseInt(m[1], 10, 64)
		h := objectHash(seed, "dt", m[1])
		t := DeployToken{ID: id, Scopes: scopesOf(msg), State: stateOf(h, 15)}
		if nm := msgDeployName.FindStringSubmatch(msg); nm != nil {
			t.Name = nm[1]
		}
		if ev.Type == "group_deploy_token_created" {
			t.Group = ev.Entity.ID
		} else {
			t.Project = ev.Entity.ID
		}
		switch h % 3 {
		case 1:
			t.ExpiresAt = day(ev.CreatedAt, 30)
		case 2:
			t.ExpiresAt = day(ev.CreatedAt, 365)
		}
		return []any{t}
	}
	return nil
}

// stateOf makes about one object in n deleted since and one in n restricted.
func stateOf(h uint64, n uint64) ObjectState {
	switch (h >> 24) % n {
	case 0:
		return ObjectDeleted
	case 1:
		return ObjectRestricted
	}
	return ObjectLive
}

// scopesOf reads "with scopes: [:api, :read_repository]" as GitLab writes
// a Ruby array of symbols.
func scopesOf(msg string) []string {
	m := msgScopes.FindStringSubmatch(msg)
	if m == nil {
		return []string{}
	}
	out := []string{}
	for _, s := range strings.Split(m[1], ",") {
		s = strings.Trim(strings.TrimSpace(s), `:"`)
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

func roleNamed(name string) Role {
	for _, r := range []Role{Guest, Reporter, Developer, Maintainer, Owner} {
		if strings.EqualFold(r.String(), name) {
			return r
		}
	}
	return Maintainer
}

func objectHash(seed uint64, parts ...string) uint64 {
	h := fnv.New64a()
	h.Write(strconv.AppendUint(nil, seed, 10))
	for _, p := range parts {
		h.Write([]byte{0})
		h.Write([]byte(p))
	}
	return h.Sum64()
}

// registerObjects stores the objects of events, in order. An object that
// exists already (added by a test, or named by an earlier event) is kept;
// changes apply to it. mu must be held for writing.
func (s *Sim) registerObjects(objs []any) {
	st := s.objs()
	for _, o := range objs {
		exists := false
		switch o := o.(type) {
		case AccessToken:
			_, exists = st.tokens[o.ID]
		case Variable:
			_, exists = st.variables[variableKey(o.Scope, o.Owner, o.Key)]
		case DeployKey:
			_, exists = st.deployKeys[o.ID]
		case DeployToken:
			_, exists = st.deployTokens[o.ID]
		}
		if !exists {
			s.putObject(o)
		}
	}
}
