// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package enrich

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/kyra-mdr/otelcol-gitlab/internal/auditevent"
	"github.com/kyra-mdr/otelcol-gitlab/receiver/gitlabauditreceiver/internal/gitlabapi"
)

// Result is the outcome of one lookup: a status, when GitLab answered, why
// (for forbidden, error and skipped), and the facts read. It holds no
// secret: responses are decoded into structs that have no field for one.
type Result struct {
	Status string
	// Time is when GitLab answered, RFC 3339 UTC; empty when it did not.
	Time   string
	Reason string
	facts  []fact
	// hold keeps a result that is not cacheable for a while: a lookup a
	// rate limit refused is not sent again with every event.
	hold time.Duration
}

// rateLimitedHold is how long a lookup refused by a rate limit is not
// tried again for the same object.
const rateLimitedHold = time.Minute

// cacheable reports whether the result may serve later events: answers
// GitLab gave, not failures of the moment.
func (r Result) cacheable() bool {
	switch r.Status {
	case auditevent.EnrichmentStatusOK, auditevent.EnrichmentStatusNotFound, auditevent.EnrichmentStatusForbidden:
		return true
	}
	return false
}

// apply writes the status attributes and the facts.
func (r Result) apply(m pcommon.Map) {
	m.PutStr(auditevent.AttrEnrichmentStatus, r.Status)
	if r.Time != "" {
		m.PutStr(auditevent.AttrEnrichmentTime, r.Time)
	}
	if r.Reason != "" {
		m.PutStr(auditevent.AttrEnrichmentReason, r.Reason)
	}
	r.applyFacts(m)
}

func (r Result) applyFacts(m pcommon.Map) {
	for _, f := range r.facts {
		f.put(m)
	}
}

// fact is one attribute: a string, a bool, an int or a list of strings.
type fact struct {
	key    string
	str    *string
	flag   *bool
	num    *int64
	list   []string
	isList bool
}

func (f fact) put(m pcommon.Map) {
	switch {
	case f.str != nil:
		m.PutStr(f.key, *f.str)
	case f.flag != nil:
		m.PutBool(f.key, *f.flag)
	case f.num != nil:
		m.PutInt(f.key, *f.num)
	case f.isList:
		s := m.PutEmptySlice(f.key)
		s.EnsureCapacity(len(f.list))
		for _, v := range f.list {
			s.AppendEmpty().SetStr(v)
		}
	}
}

// facts collects the attributes of an answer, skipping absent values.
type facts []fact

func (fs *facts) str(key string, v *string) {
	if v != nil && *v != "" {
		*fs = append(*fs, fact{key: key, str: v})
	}
}

func (fs *facts) flag(key string, v *bool) {
	if v != nil {
		*fs = append(*fs, fact{key: key, flag: v})
	}
}

func (fs *facts) num(key string, v *int64) {
	if v != nil {
		*fs = append(*fs, fact{key: key, num: v})
	}
}

func (fs *facts) list(key string, v []string) {
	if v != nil {
		*fs = append(*fs, fact{key: key, list: v, isList: true})
	}
}

// The answers, with only the fields kept. None has a field for a secret:
// a CI/CD variable's value, a token's token, a deploy key's public key.
type (
	accessTokenJSON struct {
		Scopes      []string `json:"scopes"`
		ExpiresAt   *string  `json:"expires_at"`
		Active      *bool    `json:"active"`
		Revoked     *bool    `json:"revoked"`
		AccessLevel *int64   `json:"access_level"`
	}
	variableJSON struct {
		VariableType     *string `json:"variable_type"`
		Protected        *bool   `json:"protected"`
		Masked           *bool   `json:"masked"`
		Hidden           *bool   `json:"hidden"`
		Raw              *bool   `json:"raw"`
		EnvironmentScope *string `json:"environment_scope"`
	}
	deployKeyJSON struct {
		CanPush   *bool   `json:"can_push"`
		ExpiresAt *string `json:"expires_at"`
	}
	deployTokenJSON struct {
		Scopes    []string `json:"scopes"`
		ExpiresAt *string  `json:"expires_at"`
	}
	userJSON struct {
		Bot      *bool   `json:"bot"`
		UserType *string `json:"user_type"`
	}
	// userAdminJSON is the part of GET /users/:id only administrators and
	// auditors get (Entities::UserDetailsWithAdmin, see KindUserTwoFactor).
	userAdminJSON struct {
		TwoFactorEnabled *bool `json:"two_factor_enabled"`
	}
)

// errNotShown says GitLab answered without the fact: the token's user may
// read the object but not that part of it.
var errNotShown = errors.New("not shown")

// decode reads the facts of an answer of kind k.
func decode(k Kind, body string) ([]fact, error) {
	var fs facts
	dec := func(v any) error {
		err := json.Unmarshal([]byte(body), v)
		if err == nil {
			return nil
		}
		// Say which field, never what the answer held: a syntax error
		// of encoding/json quotes a character of the input.
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return fmt.Errorf("the answer's %q is not a %s", te.Field, te.Type)
		}
		return errors.New("the answer is not a JSON object")
	}
	switch k {
	case KindPersonalAccessToken, KindProjectAccessToken, KindGroupAccessToken:
		var t accessTokenJSON
		if err := dec(&t); err != nil {
			return nil, err
		}
		if t.Scopes == nil {
			t.Scopes = []string{}
		}
		fs.str(auditevent.AttrTokenExpiresAt, t.ExpiresAt)
		fs.list(auditevent.AttrTokenScopes, t.Scopes)
		fs.flag(auditevent.AttrTokenActive, t.Active)
		fs.flag(auditevent.AttrTokenRevoked, t.Revoked)
		if k != KindPersonalAccessToken {
			fs.num(auditevent.AttrTokenAccessLevel, t.AccessLevel)
		}
	case KindProjectVariable, KindGroupVariable, KindInstanceVariable:
		var v variableJSON
		if err := dec(&v); err != nil {
			return nil, err
		}
		if v.Protected == nil {
			return nil, errors.New(`the answer has no "protected" flag`)
		}
		fs.flag(auditevent.AttrCIVariableProtected, v.Protected)
		fs.flag(auditevent.AttrCIVariableMasked, v.Masked)
		fs.flag(auditevent.AttrCIVariableHidden, v.Hidden)
		fs.flag(auditevent.AttrCIVariableRaw, v.Raw)
		if k != KindInstanceVariable {
			fs.str(auditevent.AttrCIVariableEnvironmentScope, v.EnvironmentScope)
		}
		fs.str(auditevent.AttrCIVariableType, v.VariableType)
	case KindDeployKey:
		var d deployKeyJSON
		if err := dec(&d); err != nil {
			return nil, err
		}
		fs.flag(auditevent.AttrDeployKeyCanPush, d.CanPush)
		fs.str(auditevent.AttrDeployKeyExpiresAt, d.ExpiresAt)
	case KindProjectDeployToken, KindGroupDeployToken:
		var d deployTokenJSON
		if err := dec(&d); err != nil {
			return nil, err
		}
		if d.Scopes == nil {
			d.Scopes = []string{}
		}
		fs.list(auditevent.AttrDeployTokenScopes, d.Scopes)
		fs.str(auditevent.AttrDeployTokenExpiresAt, d.ExpiresAt)
	case KindUser:
		var u userJSON
		if err := dec(&u); err != nil {
			return nil, err
		}
		if u.Bot == nil {
			return nil, errors.New(`the answer has no "bot" flag`)
		}
		fs.flag(auditevent.AttrAuthorBot, u.Bot)
		fs.str(auditevent.AttrAuthorUserType, u.UserType)
	case KindUserTwoFactor:
		var u userAdminJSON
		if err := dec(&u); err != nil {
			return nil, err
		}
		if u.TwoFactorEnabled == nil {
			return nil, errNotShown
		}
		fs.flag(auditevent.AttrTargetUserTwoFactorEnabled, u.TwoFactorEnabled)
	}
	return fs, nil
}

// outcome turns the answer of a lookup into a Result.
func outcome(k Kind, body string, err error, answered time.Time) Result {
	now := answered.UTC().Format(time.RFC3339)
	switch {
	case err == nil:
		fs, derr := decode(k, body)
		if errors.Is(derr, errNotShown) {
			return Result{Status: auditevent.EnrichmentStatusForbidden, Time: now,
				Reason: "GitLab's answer has no two_factor_enabled: " + whoMayRead(k)}
		}
		if derr != nil {
			return Result{Status: auditevent.EnrichmentStatusError, Reason: derr.Error()}
		}
		return Result{Status: auditevent.EnrichmentStatusOK, Time: now, facts: fs}
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled):
		return Result{Status: auditevent.EnrichmentStatusTimeout}
	case errors.Is(err, gitlabapi.ErrPaused), errors.Is(err, gitlabapi.ErrBudgetExhausted):
		return Result{Status: auditevent.EnrichmentStatusSkipped, Reason: err.Error(), hold: rateLimitedHold}
	}
	var ae *gitlabapi.APIError
	if !errors.As(err, &ae) {
		return Result{Status: auditevent.EnrichmentStatusError, Reason: err.Error()}
	}
	switch ae.Status {
	case http.StatusNotFound:
		r := Result{Status: auditevent.EnrichmentStatusNotFound, Time: now}
		if msg := strings.ToLower(ae.Message); strings.Contains(msg, "project not found") || strings.Contains(msg, "group not found") {
			r.Reason = "GitLab does not show the " + strings.TrimSuffix(strings.TrimPrefix(msg, "404 "), " not found") +
				": it was deleted, or the token's user is not a member"
		}
		return r
	case http.StatusUnauthorized, http.StatusForbidden:
		return Result{Status: auditevent.EnrichmentStatusForbidden, Time: now,
			Reason: fmt.Sprintf("GitLab answered %d: %s", ae.Status, whoMayRead(k))}
	case http.StatusConflict:
		if k == KindProjectVariable || k == KindGroupVariable {
			return Result{Status: auditevent.EnrichmentStatusError,
				Reason: "several variables have this key (one per environment scope) and the event does not say which one was changed"}
		}
	}
	return Result{Status: auditevent.EnrichmentStatusError, Reason: err.Error()}
}

// whoMayRead says which role or scope GitLab requires to read an object of kind k.
func whoMayRead(k Kind) string {
	switch k {
	case KindPersonalAccessToken:
		return "only administrators (and the token's owner) may read a personal access token; use an administrator's token with read_api (and admin_mode where Admin Mode is on)"
	case KindProjectAccessToken:
		return "reading a project access token needs the Maintainer role on the project"
	case KindGroupAccessToken:
		return "reading a group access token needs the Owner role on the group"
	case KindProjectVariable:
		return "reading a project CI/CD variable needs the Maintainer role on the project"
	case KindGroupVariable:
		return "reading a group CI/CD variable needs the Owner role on the group"
	case KindInstanceVariable:
		return "reading an instance CI/CD variable needs an administrator's token (with the admin_mode scope where Admin Mode is on)"
	case KindDeployKey:
		return "reading a project's deploy key needs the Maintainer role on the project"
	case KindProjectDeployToken:
		return "reading a project deploy token needs the Maintainer role on the project"
	case KindGroupDeployToken:
		return "reading a group deploy token needs the Maintainer role on the group"
	case KindUserTwoFactor:
		// lib/api/users.rb: GET /users/:id presents Entities::UserDetailsWithAdmin
		// (with two_factor_enabled, from UserPublic) to users who can read all
		// resources, Entities::User to others.
		return "only administrators and auditors see a user's two_factor_enabled (GET /users/:id); use an administrator's or auditor's token"
	}
	return "the token's user may not see this user"
}
