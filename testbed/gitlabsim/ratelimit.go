// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package gitlabsim

import (
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// GitLab's application rate limits (check_rate_limit!), unlike the
// Rack::Attack throttles of server.go, answer 429 without RateLimit-*
// headers: lib/api/helpers/rate_limiter.rb renders
// {"message":{"error":"This endpoint has been requested too many times.
// Try again later."}}, with no Retry-After in releases before
// too_many_requests! and Retry-After set to the limit's whole interval in
// the newest ones. Gitlab::ApplicationRateLimiter counts per key and user
// in a window that starts with the first request (Redis INCR + EXPIRE),
// and every request counts, refused ones included.

// AppLimits configures the application rate limits, per user.
type AppLimits struct {
	// UsersGetByID limits GET /users/:id per user and 10 minutes
	// (users_get_by_id, lib/api/users.rb; GitLab's default is 300).
	// Administrators and auditors are exempt (can_read_all_resources?).
	// 0 is off.
	UsersGetByID int
	// GroupProjects limits GET /groups/:id/projects per user and minute
	// (group_projects_api, lib/api/groups.rb; 600 on GitLab.com, off on
	// self-managed instances since 18.0). 0 is off.
	GroupProjects int
	// AuditEvents limits the audit event endpoints per user and minute.
	// GitLab's source has no such limit (only the Rack::Attack throttle);
	// this lets a test put the feeds behind an application-style 429. 0 is
	// off.
	AuditEvents int
	// Interval replaces every limit's interval (GitLab: 10 minutes for
	// users_get_by_id, 1 minute for the others); 0 keeps GitLab's.
	Interval time.Duration
	// RetryAfter adds Retry-After with the whole interval in seconds, as
	// the newest GitLab does; without it the 429 has no header at all, as
	// earlier releases answer.
	RetryAfter bool
}

// Application rate limit keys, as in lib/gitlab/application_rate_limiter.rb.
const (
	LimitUsersGetByID  = "users_get_by_id"
	LimitGroupProjects = "group_projects_api"
	LimitAuditEvents   = "audit_events" // not a GitLab key: see AppLimits.AuditEvents
)

// appLimitMessage is the error GitLab's check_rate_limit! renders.
const appLimitMessage = "This endpoint has been requested too many times. Try again later."

type appWindow struct {
	start time.Time
	count int
}

// appLimiter counts requests per limit key and user.
type appLimiter struct {
	mu      sync.Mutex
	windows map[string]*appWindow
}

// hit counts a request and reports whether it is over limit.
func (l *appLimiter) hit(key string, limit int, interval time.Duration, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.windows == nil {
		l.windows = map[string]*appWindow{}
	}
	w := l.windows[key]
	if w == nil || !now.Before(w.start.Add(interval)) {
		w = &appWindow{start: now}
		l.windows[key] = w
	}
	w.count++
	return w.count > limit
}

// appLimit returns the application limit of a route for a token: its key,
// threshold and interval; limit is 0 when none applies.
func (s *Sim) appLimit(path string, t Token) (key string, limit int, interval time.Duration) {
	lim := s.opts.AppLimits
	rest, _ := strings.CutPrefix(path, "/api/v4/")
	seg := strings.Split(rest, "/")
	switch {
	case len(seg) == 2 && seg[0] == "users" && isDigits(seg[1]):
		if t.Admin || t.Auditor {
			return "", 0, 0
		}
		key, limit, interval = LimitUsersGetByID, lim.UsersGetByID, 10*time.Minute
	case len(seg) == 3 && seg[0] == "groups" && seg[2] == "projects":
		key, limit, interval = LimitGroupProjects, lim.GroupProjects, time.Minute
	default:
		rt, ok := matchRoute(path)
		if !ok || (rt.kind != routeInstance && rt.kind != routeGroup && rt.kind != routeProject) {
			return "", 0, 0
		}
		key, limit, interval = LimitAuditEvents, lim.AuditEvents, time.Minute
	}
	if lim.Interval > 0 {
		interval = lim.Interval
	}
	return key, limit, interval
}

// appLimited applies the route's application rate limit to the token's
// user and answers the 429 when it is exceeded.
func (s *Sim) appLimited(w http.ResponseWriter, path string, t Token, now time.Time) bool {
	if lim := s.opts.AppLimits; lim.UsersGetByID <= 0 && lim.GroupProjects <= 0 && lim.AuditEvents <= 0 {
		return false
	}
	key, limit, interval := s.appLimit(path, t)
	if limit <= 0 {
		return false
	}
	if !s.appLimiter.hit(key+":"+strconv.FormatInt(t.UserID, 10), limit, interval, now) {
		return false
	}
	if s.opts.AppLimits.RetryAfter {
		w.Header().Set("Retry-After", strconv.FormatInt(int64(interval/time.Second), 10))
	}
	writeJSON(w, http.StatusTooManyRequests, []byte(`{"message":{"error":"`+appLimitMessage+`"}}`))
	return true
}
