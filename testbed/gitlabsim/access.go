// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package gitlabsim

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Who a token is and what it may read, as GitLab decides it. Verified
// against GitLab's source (research notes: _notes/gitlab-behaviour.md):
//
//   - lib/api/api_guard.rb: an expired or revoked token answers 401
//     invalid_token (Rack::OAuth2 bodies); a token without a scope the route
//     accepts answers 403 insufficient_scope; with the Admin Mode setting on,
//     an administrator's token acts as administrator only with the
//     admin_mode scope (bypass_session_for_admin_mode?).
//   - lib/api/api.rb: every route accepts api, GET routes read_api too;
//     lib/api/users.rb adds read_user for GET /user; the self-information
//     routes accept every scope.
//   - lib/api/users.rb GET /user: UserWithAdmin (is_admin) for
//     administrators only, UserPublic otherwise.
//   - lib/api/personal_access_tokens/self_information.rb: GET
//     /personal_access_tokens/self for personal, project and group access
//     tokens (all PersonalAccessToken rows); 400 for other token types.
//   - lib/api/members.rb GET /:id/members/all/:user_id: the user's highest
//     role, inherited roles included; 404 for a non-member.

// Token scopes.
const (
	ScopeAPI       = "api"
	ScopeReadAPI   = "read_api"
	ScopeReadUser  = "read_user"
	ScopeAdminMode = "admin_mode"
)

// TokenKind is the kind of access token.
type TokenKind string

// Token kinds.
const (
	TokenPersonal      TokenKind = ""
	TokenProjectAccess TokenKind = "project_access_token"
	TokenGroupAccess   TokenKind = "group_access_token"
	TokenOAuth         TokenKind = "oauth"
)

func (t Token) hasScope(scopes ...string) bool {
	for _, s := range scopes {
		if slices.Contains(t.Scopes, s) {
			return true
		}
	}
	return false
}

// expired reports whether the token's expiry date has begun.
func (t Token) expired(now time.Time) bool {
	return !t.ExpiresAt.IsZero() && !now.Before(t.ExpiresAt)
}

// invalidTokenDescription is Rack::OAuth2's error_description GitLab sends
// for a refused token (lib/api/api_guard.rb oauth2_bearer_token_error_handler).
func (t Token) invalidTokenDescription(now time.Time) string {
	switch {
	case t.Revoked:
		return "Token was revoked. You have to re-authorize from the user."
	case t.expired(now):
		return "Token is expired. You can either do re-authorization or token refresh."
	}
	return ""
}

// writeInvalidToken answers 401 invalid_token like Rack::OAuth2's
// Bearer::Unauthorized. The realm is rack-oauth2's default (not verified
// on a live instance; clients should rely on the body).
func writeInvalidToken(w http.ResponseWriter, desc string) {
	w.Header().Set("WWW-Authenticate", `Bearer realm="Protected by OAuth 2.0", error="invalid_token", error_description="`+desc+`"`)
	body, _ := json.Marshal(map[string]string{"error": "invalid_token", "error_description": desc})
	writeJSON(w, http.StatusUnauthorized, body)
}

// writeInsufficientScope answers 403 insufficient_scope like Rack::OAuth2's
// Bearer::Forbidden (no WWW-Authenticate header, as GitLab's comment says).
func writeInsufficientScope(w http.ResponseWriter, scopes []string) {
	body, _ := json.Marshal(map[string]string{
		"error":             "insufficient_scope",
		"error_description": "The request requires higher privileges than provided by the access token.",
		"scope":             strings.Join(scopes, " "),
	})
	writeJSON(w, http.StatusForbidden, body)
}

// routeScopes are the scopes GitLab accepts on a route (nil: any scope).
func routeScopes(path, method string) []string {
	switch path {
	case "/api/v4/personal_access_tokens/self", "/api/v4/personal_access_tokens/self/associations":
		return nil
	case "/api/v4/user":
		return []string{ScopeAPI, ScopeReadAPI, ScopeReadUser}
	}
	if method == http.MethodGet || method == http.MethodHead {
		return []string{ScopeAPI, ScopeReadAPI}
	}
	return []string{ScopeAPI}
}

// admit runs GitLab's API guard for a known token: 401 for an expired or
// revoked token, 403 for a missing scope, then the application rate
// limits of the route. It reports whether the request may go on.
func (s *Sim) admit(w http.ResponseWriter, r *http.Request, path string, t Token, now time.Time) bool {
	if desc := t.invalidTokenDescription(now); desc != "" {
		writeInvalidToken(w, desc)
		return false
	}
	if scopes := routeScopes(path, r.Method); scopes != nil && !t.hasScope(scopes...) {
		writeInsufficientScope(w, scopes)
		return false
	}
	return !s.appLimited(w, path, t, now)
}

// serveAccess answers GET /user, /personal_access_tokens/self and
// /groups|projects/:id/members/all/:user_id; it reports false for any other
// path.
func (s *Sim) serveAccess(w http.ResponseWriter, r *http.Request, path, tok string, now time.Time) bool {
	rest, ok := strings.CutPrefix(path, "/api/v4/")
	if !ok {
		return false
	}
	seg := strings.Split(rest, "/")
	var serve func(t Token)
	switch {
	case rest == "user":
		serve = func(t Token) { s.serveCurrentUser(w, r, t) }
	case rest == "personal_access_tokens/self":
		serve = func(t Token) { s.serveTokenSelf(w, t, now) }
	case len(seg) == 2 && seg[0] == "groups" && seg[1] != "":
		// GET /groups/:id (lib/api/groups.rb get ":id", find_group!): the
		// group entity, 404 "Group Not Found" for a group the token cannot
		// see (the simulator's groups are private).
		ref, err := url.PathUnescape(seg[1])
		if err != nil || ref == "" {
			return false
		}
		serve = func(t Token) {
			s.mu.RLock()
			defer s.mu.RUnlock()
			g := s.findGroup(ref)
			if g == nil || (!t.Admin && !t.Auditor && groupRole(t, g.FullPath) == 0) {
				writeMessage(w, http.StatusNotFound, "404 Group Not Found")
				return
			}
			body, err := json.Marshal(s.groupEntity(g, s.webBase(r)))
			if err != nil {
				writeError(w, http.StatusInternalServerError, err.Error())
				return
			}
			writeJSON(w, http.StatusOK, body)
		}
	case len(seg) == 5 && (seg[0] == "groups" || seg[0] == "projects") && seg[2] == "members" && seg[3] == "all":
		ref, err1 := url.PathUnescape(seg[1])
		uid, err2 := strconv.ParseInt(seg[4], 10, 64)
		if err1 != nil || ref == "" {
			return false
		}
		if err2 != nil {
			serve = func(Token) { writeError(w, http.StatusBadRequest, "user_id is invalid") }
		} else {
			serve = func(t Token) { s.serveMember(w, t, seg[0] == "projects", ref, uid, s.webBase(r)) }
		}
	default:
		return false
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "OPTIONS, GET, HEAD")
		writeError(w, http.StatusMethodNotAllowed, "405 Not Allowed")
		return true
	}
	if t, ok := s.authenticate(w, r, path, tok, now); ok {
		serve(t)
	}
	return true
}

// authenticate finds the request's token and admits it (admit); it
// answers 401 {"message":"401 Unauthorized"} for a missing or unknown token
// (authenticate! and the UnauthorizedError rescue of lib/api/helpers.rb).
func (s *Sim) authenticate(w http.ResponseWriter, r *http.Request, path, tok string, now time.Time) (Token, bool) {
	s.mu.RLock()
	t, known := s.tokens[tok]
	s.mu.RUnlock()
	if tok == "" || !known {
		writeMessage(w, http.StatusUnauthorized, "401 Unauthorized")
		return t, false
	}
	return t, s.admit(w, r, path, t, now)
}

// userBasicJSON is GitLab's UserBasic entity, which the user and member
// entities extend.
type userBasicJSON struct {
	ID        int64  `json:"id"`
	Username  string `json:"username"`
	Name      string `json:"name"`
	State     string `json:"state"`
	Locked    bool   `json:"locked"`
	AvatarURL string `json:"avatar_url"`
	WebURL    string `json:"web_url"`
}

func userBasic(u User, base string) userBasicJSON {
	return userBasicJSON{
		ID: u.ID, Username: u.Username, Name: u.Name, State: "active",
		AvatarURL: "https://www.gravatar.com/avatar/" + tokenHash(u.Username)[7:] + "?s=80&d=identicon",
		WebURL:    base + "/" + u.Username,
	}
}

// userJSON is GitLab's UserPublic entity (the fields a client of GET /user
// uses), with is_admin only for administrators (UserWithAdmin).
type userJSON struct {
	userBasicJSON
	CreatedAt        string `json:"created_at"`
	Bot              bool   `json:"bot"`
	Email            string `json:"email"`
	CanCreateGroup   bool   `json:"can_create_group"`
	CanCreateProject bool   `json:"can_create_project"`
	TwoFactorEnabled bool   `json:"two_factor_enabled"`
	External         bool   `json:"external"`
	PrivateProfile   bool   `json:"private_profile"`
	IsAdmin          *bool  `json:"is_admin,omitempty"`
}

// tokenUser returns the token's user: the registered one, or one named
// after its id (a bot user for project and group access tokens). mu must
// be held (read).
func (s *Sim) tokenUser(t Token) User {
	if u, ok := s.usersByID[t.UserID]; ok {
		return *u
	}
	u := User{ID: t.UserID, Username: "user" + strconv.FormatInt(t.UserID, 10)}
	switch t.Kind {
	case TokenProjectAccess, TokenGroupAccess:
		u.Username = "bot_" + strconv.FormatInt(t.UserID, 10)
	}
	u.Name = u.Username
	u.Email = u.Username + "@example.com"
	return u
}

func (s *Sim) serveCurrentUser(w http.ResponseWriter, r *http.Request, t Token) {
	base := s.webBase(r)
	s.mu.RLock()
	u := s.tokenUser(t)
	created := s.registeredAt()
	s.mu.RUnlock()
	bot := t.Kind == TokenProjectAccess || t.Kind == TokenGroupAccess
	out := userJSON{
		userBasicJSON: userBasic(u, base), CreatedAt: created.Format(apiTime),
		Bot: bot, Email: u.Email, CanCreateGroup: !bot, CanCreateProject: !bot,
	}
	if t.adminUser {
		// The admin attribute, not Admin Mode: an administrator's token
		// without admin_mode still reads is_admin: true (lib/api/users.rb).
		yes := true
		out.IsAdmin = &yes
	}
	body, _ := json.Marshal(out)
	writeJSON(w, http.StatusOK, body)
}

// tokenJSON is GitLab's PersonalAccessToken entity (never the token value).
type tokenJSON struct {
	ID          int64    `json:"id"`
	Name        string   `json:"name"`
	Revoked     bool     `json:"revoked"`
	CreatedAt   string   `json:"created_at"`
	Description *string  `json:"description"`
	Scopes      []string `json:"scopes"`
	UserID      int64    `json:"user_id"`
	LastUsedAt  string   `json:"last_used_at"`
	Active      bool     `json:"active"`
	ExpiresAt   *string  `json:"expires_at"`
}

func (s *Sim) serveTokenSelf(w http.ResponseWriter, t Token, now time.Time) {
	if t.Kind == TokenOAuth {
		writeMessage(w, http.StatusBadRequest, "400 Bad request - This endpoint requires token type to be a personal access token")
		return
	}
	out := tokenJSON{
		ID: t.ID, Name: t.Name, Revoked: t.Revoked, CreatedAt: t.CreatedAt.Format(apiTime),
		Scopes: t.Scopes, UserID: t.UserID, LastUsedAt: now.UTC().Format(apiTime),
		Active: !t.Revoked && !t.expired(now),
	}
	if !t.ExpiresAt.IsZero() {
		d := t.ExpiresAt.Format(time.DateOnly)
		out.ExpiresAt = &d
	}
	body, _ := json.Marshal(out)
	writeJSON(w, http.StatusOK, body)
}

// memberJSON is GitLab's Member entity (fields from the members API docs).
type memberJSON struct {
	userBasicJSON
	AccessLevel     int     `json:"access_level"`
	CreatedAt       string  `json:"created_at"`
	ExpiresAt       *string `json:"expires_at"`
	MembershipState string  `json:"membership_state"`
}

// serveMember answers GET /groups|projects/:id/members/all/:user_id: the
// user's highest role there, inherited ones included. The simulator's
// memberships are those of its tokens' users (the union over every token
// of that user); administrators and auditors need none and are not members.
func (s *Sim) serveMember(w http.ResponseWriter, t Token, project bool, ref string, uid int64, base string) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var path, notFound string
	var callerRole Role
	if project {
		p := s.findProject(ref)
		notFound = "404 Project Not Found"
		if p != nil {
			path, callerRole = p.FullPath, projectRole(t, p.FullPath)
		}
	} else {
		g := s.findGroup(ref)
		notFound = "404 Group Not Found"
		if g != nil {
			path, callerRole = g.FullPath, groupRole(t, g.FullPath)
		}
	}
	if path == "" || (callerRole == 0 && !t.Admin && !t.Auditor) {
		writeMessage(w, http.StatusNotFound, notFound)
		return
	}
	var role Role
	for _, o := range s.tokens {
		if o.UserID != uid {
			continue
		}
		if project {
			role = max(role, projectRole(o, path))
		} else {
			role = max(role, groupRole(o, path))
		}
	}
	if role == 0 {
		writeMessage(w, http.StatusNotFound, "404 Not found")
		return
	}
	u := s.tokenUser(Token{UserID: uid})
	out := memberJSON{
		userBasicJSON: userBasic(u, base),
		AccessLevel:   int(role), CreatedAt: s.registeredAt().Format(apiTime), MembershipState: "active",
	}
	body, _ := json.Marshal(out)
	writeJSON(w, http.StatusOK, body)
}
