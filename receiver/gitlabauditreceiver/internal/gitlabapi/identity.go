// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package gitlabapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Who the token is and what it may read: the answers the access check
// (internal/access) decides from.

// User is the token's user, as GET /user shows it.
type User struct {
	ID       int64  `json:"id"`
	Username string `json:"username"`
	// IsAdmin: GitLab shows is_admin to administrators only
	// (lib/api/users.rb: Entities::UserWithAdmin for current_user.admin?,
	// else UserPublic). It says the user is one, not that the token may act
	// as one where Admin Mode is on (that takes the admin_mode scope).
	IsAdmin bool `json:"is_admin"`
	Bot     bool `json:"bot"`
}

// CurrentUser reads GET /user. Any scope of read_user, read_api or api
// may call it (lib/api/users.rb); a group or project access token answers
// as its bot user.
func (c *Client) CurrentUser(ctx context.Context) (User, error) {
	var u User
	err := c.getJSON(ctx, Target{Class: ClassAccessCheck, Name: "current_user"}, "/api/v4/user", nil, &u)
	if err == nil && u.ID <= 0 {
		err = errors.New("GitLab's answer to GET /user has no user id")
	}
	return u, err
}

// TokenInfo is what GitLab says of the token itself: never its value.
type TokenInfo struct {
	ID     int64    `json:"id"`
	Name   string   `json:"name"`
	Scopes []string `json:"scopes"`
	// ExpiresAt is the expiry date, "YYYY-MM-DD"; empty when it never expires.
	ExpiresAt string `json:"expires_at"`
	Active    bool   `json:"active"`
	Revoked   bool   `json:"revoked"`
	UserID    int64  `json:"user_id"`
}

// Expires returns when the token stops working: at 00:00 UTC on its expiry
// date (docs: user/profile/personal_access_tokens.md, "expire on that date
// at midnight UTC"). ok is false when it never expires or the date is
// unreadable.
func (t TokenInfo) Expires() (time.Time, bool) {
	if t.ExpiresAt == "" {
		return time.Time{}, false
	}
	d, err := time.Parse(time.DateOnly, t.ExpiresAt)
	if err != nil {
		return time.Time{}, false
	}
	return d.UTC(), true
}

// HasScope reports whether the token has scope.
func (t TokenInfo) HasScope(scope string) bool {
	for _, s := range t.Scopes {
		if s == scope {
			return true
		}
	}
	return false
}

// ErrNotPersonalToken is GitLab's answer to GET /personal_access_tokens/self
// for a token that is not a personal, group or project access token (an
// OAuth token): 400 (lib/api/personal_access_tokens/self_information.rb).
var ErrNotPersonalToken = errors.New("the token is not a personal, group or project access token (an OAuth token?): GitLab does not tell its expiry")

// TokenSelf reads GET /personal_access_tokens/self: the token's id, name,
// scopes, expiry and state. Any scope may read it.
func (c *Client) TokenSelf(ctx context.Context) (TokenInfo, error) {
	var t TokenInfo
	err := c.getJSON(ctx, Target{Class: ClassAccessCheck, Name: "token"}, "/api/v4/personal_access_tokens/self", nil, &t)
	if IsStatus(err, http.StatusBadRequest) {
		return t, ErrNotPersonalToken
	}
	return t, err
}

// Access levels of GitLab's members API (lib/gitlab/access.rb).
const (
	AccessGuest      = 10
	AccessPlanner    = 15
	AccessReporter   = 20
	AccessDeveloper  = 30
	AccessMaintainer = 40
	AccessOwner      = 50
)

// RoleName names an access level.
func RoleName(level int) string {
	switch {
	case level >= AccessOwner:
		return "Owner"
	case level >= AccessMaintainer:
		return "Maintainer"
	case level >= AccessDeveloper:
		return "Developer"
	case level >= AccessReporter:
		return "Reporter"
	case level >= AccessPlanner:
		return "Planner"
	case level >= AccessGuest:
		return "Guest"
	}
	return "no role"
}

// ErrNotMember: the user has no role on the group or project, not even
// an inherited one (members API 404 "Not found").
var ErrNotMember = errors.New("the token's user is not a member")

// MemberAccess returns the user's effective (highest, inherited included)
// access level on the group or project of feed: GET
// /groups/:id/members/all/:user_id (lib/api/members.rb orders the members by
// access_level desc and takes the first). ErrNotMember when it has none;
// an APIError 404 "Group Not Found" when the token cannot see the group.
func (c *Client) MemberAccess(ctx context.Context, f Feed, userID int64) (int, error) {
	if f.Kind != KindGroup && f.Kind != KindProject {
		return 0, fmt.Errorf("%s has no members", f)
	}
	path := "/api/v4/" + string(f.Kind) + "s/" + escapeRef(f.Ref) + "/members/all/" + strconv.FormatInt(userID, 10)
	var m struct {
		AccessLevel int `json:"access_level"`
	}
	err := c.getJSON(ctx, Target{Class: ClassAccessCheck, Name: "membership", Ref: f.String()}, path, nil, &m)
	var ae *APIError
	if errors.As(err, &ae) && ae.Status == http.StatusNotFound && !strings.Contains(strings.ToLower(ae.Message), string(f.Kind)) {
		return 0, ErrNotMember
	}
	return m.AccessLevel, err
}

// Probe reads the first event of a feed (per_page=1): nil when the token
// may read the feed, the APIError otherwise. An administrator's token that
// gets 403 on the instance feed lacks the admin_mode scope where Admin Mode
// is on (lib/api/api_guard.rb).
func (c *Client) Probe(ctx context.Context, f Feed) error {
	q := url.Values{}
	q.Set("per_page", "1")
	_, _, err := c.do(ctx, request{url: apiURL(c.opts.BaseURL, f.Path(), q), to: Target{Class: ClassAccessCheck, Name: "probe", Ref: f.String()}})
	return err
}

// getJSON GETs an API path (escaped) and decodes its JSON answer into out.
func (c *Client) getJSON(ctx context.Context, to Target, escapedPath string, q url.Values, out any) error {
	_, body, err := c.do(ctx, request{url: apiURL(c.opts.BaseURL, escapedPath, q), to: to})
	if err != nil {
		return err
	}
	if err := json.Unmarshal([]byte(body), out); err != nil {
		return fmt.Errorf("%s: the answer is not the JSON GitLab sends: %w", to.what(), err)
	}
	return nil
}
