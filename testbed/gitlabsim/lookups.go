// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package gitlabsim

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// The object endpoints, as GitLab answers them (docs: api/personal_access_tokens.md,
// project_access_tokens.md, group_access_tokens.md, project_level_variables.md,
// group_level_variables.md, instance_level_ci_variables.md, deploy_keys.md,
// deploy_tokens.md, users.md):
//
//   - GET /personal_access_tokens/:id: administrators read any token, other
//     users their own; otherwise 401, as GitLab (404 for administrators only).
//   - GET /projects/:id/access_tokens/:token_id, /groups/:id/access_tokens/:token_id:
//     Maintainer of the project, Owner of the group; otherwise 401.
//   - GET /projects/:id/variables/:key (Maintainer), /groups/:id/variables/:key
//     (Owner), /admin/ci/variables/:key (administrators); otherwise 403.
//   - GET /projects/:id/deploy_keys/:key_id (Maintainer); otherwise 403.
//   - GET /projects/:id/deploy_tokens/:token_id, /groups/:id/deploy_tokens/:token_id
//     (Maintainer); otherwise 403.
//   - GET /users/:id: any authenticated user; administrators and auditors
//     get GitLab's Entities::UserDetailsWithAdmin, which adds is_admin and
//     two_factor_enabled (lib/api/users.rb presents UserDetailsWithAdmin when
//     current_user.can_read_all_resources?, else Entities::User;
//     UserDetailsWithAdmin < UserWithAdmin < UserPublic, and UserPublic
//     exposes two_factor_enabled?, lib/api/entities/user_public.rb).

// SetLookupDelay makes every object endpoint wait d before it answers (a
// slow GitLab), or stop waiting when d is 0.
func (s *Sim) SetLookupDelay(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.objs().delay = d
}

// serveObject answers the object endpoints; it reports false for any other path.
func (s *Sim) serveObject(w http.ResponseWriter, r *http.Request, path, tok string) bool {
	rest, ok := strings.CutPrefix(path, "/api/v4/")
	if !ok {
		return false
	}
	seg := strings.Split(rest, "/")
	for i, p := range seg {
		u, err := url.PathUnescape(p)
		if err != nil || u == "" {
			return false
		}
		seg[i] = u
	}
	var serve func(t Token)
	switch {
	case len(seg) == 2 && seg[0] == "personal_access_tokens":
		serve = func(t Token) { s.servePAT(w, t, seg[1]) }
	case len(seg) == 2 && seg[0] == "users":
		serve = func(t Token) { s.serveUser(w, t, seg[1]) }
	case len(seg) == 4 && seg[0] == "admin" && seg[1] == "ci" && seg[2] == "variables":
		serve = func(t Token) { s.serveVariable(w, t, VariableInstance, "", seg[3]) }
	case len(seg) == 4 && (seg[0] == "projects" || seg[0] == "groups"):
		project := seg[0] == "projects"
		switch seg[2] {
		case "access_tokens":
			serve = func(t Token) { s.serveResourceToken(w, t, project, seg[1], seg[3]) }
		case "variables":
			scope := VariableGroup
			if project {
				scope = VariableProject
			}
			serve = func(t Token) { s.serveVariable(w, t, scope, seg[1], seg[3]) }
		case "deploy_tokens":
			serve = func(t Token) { s.serveDeployToken(w, t, project, seg[1], seg[3]) }
		case "deploy_keys":
			if !project {
				return false
			}
			serve = func(t Token) { s.serveDeployKey(w, t, seg[1], seg[3]) }
		}
	}
	if serve == nil {
		return false
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "OPTIONS, GET, HEAD")
		writeError(w, http.StatusMethodNotAllowed, "405 Not Allowed")
		return true
	}
	s.mu.RLock()
	t, known := s.tokens[tok]
	var delay time.Duration
	if s.objects != nil {
		delay = s.objects.delay
	}
	s.mu.RUnlock()
	if tok == "" || !known {
		writeMessage(w, http.StatusUnauthorized, "401 Unauthorized")
		return true
	}
	if delay > 0 {
		timer := time.NewTimer(delay)
		select {
		case <-timer.C:
		case <-r.Context().Done():
			timer.Stop()
			return true
		}
	}
	if s.admit(w, r, path, t, s.now()) { // access.go
		serve(t)
	}
	return true
}

// scopeRole finds a project or group by id or path and the token's role
// on it. mu must be held.
func (s *Sim) scopeRole(t Token, project bool, ref string) (id int64, role Role, found bool) {
	if project {
		p := s.findProject(ref)
		if p == nil {
			return 0, 0, false
		}
		return p.ID, projectRole(t, p.FullPath), true
	}
	g := s.findGroup(ref)
	if g == nil {
		return 0, 0, false
	}
	return g.ID, groupRole(t, g.FullPath), true
}

// scopeAllows answers 404 when the token's user cannot see the project or
// group, and status when its role is below need. It reports whether to go on.
func scopeAllows(w http.ResponseWriter, t Token, project, found bool, role, need Role, status int) bool {
	if !found || (role == 0 && !t.Admin) {
		if project {
			writeMessage(w, http.StatusNotFound, "404 Project Not Found")
		} else {
			writeMessage(w, http.StatusNotFound, "404 Group Not Found")
		}
		return false
	}
	if !t.Admin && role < need {
		writeMessage(w, status, fmt.Sprintf("%d %s", status, http.StatusText(status)))
		return false
	}
	return true
}

func dateOrNil(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UTC().Format("2006-01-02")
}

func timeOrNil(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UTC().Format("2006-01-02T15:04:05.000Z")
}

func writeObject(w http.ResponseWriter, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		writeMessage(w, http.StatusInternalServerError, "500 Internal Server Error")
		return
	}
	writeJSON(w, http.StatusOK, b)
}

// accessTokenJSON is GitLab's Entities::PersonalAccessToken (and
// ResourceAccessToken, with access_level).
type accessTokenJSON struct {
	ID          int64    `json:"id"`
	Name        string   `json:"name"`
	Revoked     bool     `json:"revoked"`
	CreatedAt   any      `json:"created_at"`
	Description any      `json:"description"`
	Scopes      []string `json:"scopes"`
	UserID      int64    `json:"user_id"`
	LastUsedAt  any      `json:"last_used_at"`
	Active      bool     `json:"active"`
	ExpiresAt   any      `json:"expires_at"`
	AccessLevel *int     `json:"access_level,omitempty"`
}

func (s *Sim) tokenJSON(t *AccessToken) accessTokenJSON {
	active := !t.Revoked && (t.ExpiresAt.IsZero() || s.now().Before(t.ExpiresAt))
	out := accessTokenJSON{ID: t.ID, Name: t.Name, Revoked: t.Revoked, CreatedAt: timeOrNil(t.CreatedAt),
		Scopes: t.Scopes, UserID: t.UserID, Active: active, ExpiresAt: dateOrNil(t.ExpiresAt)}
	if out.Scopes == nil {
		out.Scopes = []string{}
	}
	if t.Project != 0 || t.Group != 0 {
		lvl := int(t.AccessLevel)
		out.AccessLevel = &lvl
	}
	return out
}

func (s *Sim) servePAT(w http.ResponseWriter, t Token, ref string) {
	id, _ := strconv.ParseInt(ref, 10, 64)
	s.mu.RLock()
	var pat *AccessToken
	if s.objects != nil {
		if p, ok := s.objects.tokens[id]; ok && p.Project == 0 && p.Group == 0 && p.State != ObjectDeleted {
			pat = p
		}
	}
	var body accessTokenJSON
	if pat != nil {
		body = s.tokenJSON(pat)
	}
	s.mu.RUnlock()
	switch {
	case pat != nil && pat.State == ObjectRestricted:
		writeMessage(w, http.StatusUnauthorized, "401 Unauthorized")
	case pat == nil && t.Admin:
		writeMessage(w, http.StatusNotFound, "404 Not Found")
	case pat == nil || (!t.Admin && pat.UserID != t.UserID):
		writeMessage(w, http.StatusUnauthorized, "401 Unauthorized")
	default:
		writeObject(w, body)
	}
}

func (s *Sim) serveResourceToken(w http.ResponseWriter, t Token, project bool, ref, tokenRef string) {
	id, _ := strconv.ParseInt(tokenRef, 10, 64)
	s.mu.RLock()
	owner, role, found := s.scopeRole(t, project, ref)
	var tk *AccessToken
	var body accessTokenJSON
	if s.objects != nil {
		if p, ok := s.objects.tokens[id]; ok && p.State != ObjectDeleted &&
			((project && p.Project == owner) || (!project && p.Group == owner)) {
			tk, body = p, s.tokenJSON(p)
		}
	}
	s.mu.RUnlock()
	need, noun := Owner, "group"
	if project {
		need, noun = Maintainer, "project"
	}
	if !scopeAllows(w, t, project, found, role, need, http.StatusUnauthorized) {
		return
	}
	switch {
	case tk == nil:
		writeMessage(w, http.StatusNotFound, "404 "+noun+" Access Token Not Found")
	case tk.State == ObjectRestricted:
		writeMessage(w, http.StatusUnauthorized, "401 Unauthorized")
	default:
		writeObject(w, body)
	}
}

// variableJSON is GitLab's Entities::Ci::Variable (value included, as GitLab sends it).
type variableJSON struct {
	VariableType     string  `json:"variable_type"`
	Key              string  `json:"key"`
	Value            *string `json:"value"`
	Protected        bool    `json:"protected"`
	Masked           bool    `json:"masked"`
	Hidden           bool    `json:"hidden"`
	Raw              bool    `json:"raw"`
	EnvironmentScope *string `json:"environment_scope,omitempty"`
	Description      any     `json:"description"`
}

func (s *Sim) serveVariable(w http.ResponseWriter, t Token, scope, ref, key string) {
	s.mu.RLock()
	var owner int64
	var role Role
	found := true
	if scope != VariableInstance {
		owner, role, found = s.scopeRole(t, scope == VariableProject, ref)
	}
	var v *Variable
	var body variableJSON
	if s.objects != nil && found {
		if p, ok := s.objects.variables[variableKey(scope, owner, key)]; ok && p.State != ObjectDeleted {
			v = p
			value := p.Value
			body = variableJSON{VariableType: p.VariableType, Key: p.Key, Value: &value, Protected: p.Protected,
				Masked: p.Masked, Hidden: p.Hidden, Raw: p.Raw}
			if p.Hidden {
				body.Value = nil // GitLab never shows a hidden variable's value
			}
			if scope != VariableInstance {
				es := p.EnvironmentScope
				body.EnvironmentScope = &es
			}
		}
	}
	s.mu.RUnlock()
	if scope == VariableInstance {
		if !t.Admin {
			writeMessage(w, http.StatusForbidden, "403 Forbidden")
			return
		}
	} else {
		need := Owner
		if scope == VariableProject {
			need = Maintainer
		}
		if !scopeAllows(w, t, scope == VariableProject, found, role, need, http.StatusForbidden) {
			return
		}
	}
	switch {
	case v == nil:
		writeMessage(w, http.StatusNotFound, "404 Variable Not Found")
	case v.State == ObjectRestricted:
		writeMessage(w, http.StatusForbidden, "403 Forbidden")
	default:
		writeObject(w, body)
	}
}

func (s *Sim) serveDeployKey(w http.ResponseWriter, t Token, ref, keyRef string) {
	id, _ := strconv.ParseInt(keyRef, 10, 64)
	s.mu.RLock()
	owner, role, found := s.scopeRole(t, true, ref)
	var k *DeployKey
	var body map[string]any
	if s.objects != nil {
		if p, ok := s.objects.deployKeys[id]; ok && p.Project == owner && p.State != ObjectDeleted {
			k = p
			fp := fmt.Sprintf("%016x", objectHash(0, "fingerprint", keyRef))
			body = map[string]any{
				"id": p.ID, "title": p.Title, "created_at": timeOrNil(p.CreatedAt), "expires_at": timeOrNil(p.ExpiresAt),
				"key":                "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI" + fp + " " + p.Title,
				"fingerprint_sha256": "SHA256:" + fp, "usage_type": "auth", "can_push": p.CanPush,
			}
		}
	}
	s.mu.RUnlock()
	if !scopeAllows(w, t, true, found, role, Maintainer, http.StatusForbidden) {
		return
	}
	switch {
	case k == nil:
		writeMessage(w, http.StatusNotFound, "404 Not found")
	case k.State == ObjectRestricted:
		writeMessage(w, http.StatusForbidden, "403 Forbidden")
	default:
		writeObject(w, body)
	}
}

func (s *Sim) serveDeployToken(w http.ResponseWriter, t Token, project bool, ref, tokenRef string) {
	id, _ := strconv.ParseInt(tokenRef, 10, 64)
	s.mu.RLock()
	owner, role, found := s.scopeRole(t, project, ref)
	var d *DeployToken
	var body map[string]any
	if s.objects != nil {
		if p, ok := s.objects.deployTokens[id]; ok && p.State != ObjectDeleted &&
			((project && p.Project == owner) || (!project && p.Group == owner)) {
			d = p
			scopes := p.Scopes
			if scopes == nil {
				scopes = []string{}
			}
			body = map[string]any{
				"id": p.ID, "name": p.Name, "username": fmt.Sprintf("gitlab+deploy-token-%d", p.ID),
				"expires_at": timeOrNil(p.ExpiresAt), "revoked": p.Revoked,
				"expired": !p.ExpiresAt.IsZero() && s.now().After(p.ExpiresAt), "scopes": scopes,
			}
		}
	}
	s.mu.RUnlock()
	if !scopeAllows(w, t, project, found, role, Maintainer, http.StatusForbidden) {
		return
	}
	switch {
	case d == nil:
		writeMessage(w, http.StatusNotFound, "404 Deploy Token Not Found")
	case d.State == ObjectRestricted:
		writeMessage(w, http.StatusForbidden, "403 Forbidden")
	default:
		writeObject(w, body)
	}
}

func (s *Sim) serveUser(w http.ResponseWriter, t Token, ref string) {
	id, _ := strconv.ParseInt(ref, 10, 64)
	admin := t.Admin || t.Auditor
	s.mu.Lock() // factorsLocked may draw a user's factors
	var body map[string]any
	if u, ok := s.usersByID[id]; ok {
		body = map[string]any{"id": u.ID, "username": u.Username, "name": u.Name, "state": "active", "locked": false, "bot": false}
		if admin {
			body["is_admin"] = u.Admin
			body["two_factor_enabled"] = s.factorsLocked(u.ID).Enabled()
		}
	} else if s.objects != nil {
		if typ, ok := s.objects.bots[id]; ok {
			name := fmt.Sprintf("%s_%d", typ, id)
			body = map[string]any{"id": id, "username": name, "name": name, "state": "active", "locked": false, "bot": true}
			if admin {
				body["is_admin"], body["two_factor_enabled"] = false, false
			}
		}
	}
	s.mu.Unlock()
	if body == nil {
		writeMessage(w, http.StatusNotFound, "404 User Not Found")
		return
	}
	writeObject(w, body)
}

// TwoFactor is a user's second factors, as GitLab keeps them: a one-time
// password authenticator and WebAuthn devices. GitLab reports
// two_factor_enabled while either remains (User#two_factor_enabled? is
// two_factor_otp_enabled? || two_factor_webauthn_enabled?, app/models/user.rb).
type TwoFactor struct {
	OTP             bool
	WebAuthnDevices int
}

// Enabled is GitLab's two_factor_enabled.
func (f TwoFactor) Enabled() bool { return f.OTP || f.WebAuthnDevices > 0 }

// SetTwoFactor sets a user's second factors.
func (s *Sim) SetTwoFactor(userID int64, f TwoFactor) {
	s.mu.Lock()
	defer s.mu.Unlock()
	*s.factorsLocked(userID) = f
}

// TwoFactorOf returns a user's second factors: as set, as the events of
// the simulator left them, or, for a user neither names, drawn from a hash
// of the user and the seed (four in ten have a one-time password app only,
// three in ten that and a WebAuthn device, one in ten two WebAuthn devices,
// two in ten no second factor).
func (s *Sim) TwoFactorOf(userID int64) TwoFactor {
	s.mu.Lock()
	defer s.mu.Unlock()
	return *s.factorsLocked(userID)
}

// factorsLocked returns a user's factors, drawing them when unknown. mu
// must be held for writing.
func (s *Sim) factorsLocked(id int64) *TwoFactor {
	st := s.objs()
	if f, ok := st.factors[id]; ok {
		return f
	}
	f := &TwoFactor{}
	switch objectHash(s.opts.Seed, "2fa", strconv.FormatInt(id, 10)) % 10 {
	case 0, 1, 2, 3:
		f.OTP = true
	case 4, 5, 6:
		f.OTP, f.WebAuthnDevices = true, 1
	case 7:
		f.WebAuthnDevices = 2
	}
	st.factors[id] = f
	return f
}

// twoFactorChange is what a user_disable_two_factor event does to the
// factors of the user it targets. GitLab writes one message per service:
// "Disabled One-time password authenticator" (EE::TwoFactor::
// DestroyOtpService), "Deleted WebAuthn device" (EE::Webauthn::
// DestroyService), "Disabled two-factor authentication" (every factor,
// TwoFactor::DestroyService).
type twoFactorChange struct {
	user               int64
	otp, webauthn, all bool
}

// twoFactorChangeOf returns the change a user_disable_two_factor event makes.
func twoFactorChangeOf(ev *Event) []any {
	var user int64
	switch id := ev.Target.ID.(type) {
	case int64:
		user = id
	case int:
		user = int64(id)
	}
	if user <= 0 {
		return nil
	}
	msg, _ := ev.CustomMessage.(string)
	c := twoFactorChange{user: user}
	switch {
	case strings.HasPrefix(msg, "Disabled One-time password authenticator"):
		c.otp = true
	case strings.HasPrefix(msg, "Deleted WebAuthn device"):
		c.webauthn = true
	default:
		c.all = true
	}
	return []any{c}
}

// applyTwoFactor applies a change. mu must be held for writing.
func (s *Sim) applyTwoFactor(c twoFactorChange) {
	f := s.factorsLocked(c.user)
	switch {
	case c.all:
		*f = TwoFactor{}
	case c.otp:
		f.OTP = false
	case c.webauthn && f.WebAuthnDevices > 0:
		f.WebAuthnDevices--
	}
}
