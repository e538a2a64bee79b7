// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package gitlabapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// APIError is a non-success answer of the GitLab API.
type APIError struct {
	// Target is what the request read.
	Target Target
	Status int
	// Message is GitLab's error message ("403 Forbidden", "404 Group Not Found", ...).
	Message string
}

func (e *APIError) Error() string {
	to := "for"
	if e.Target.Class == ClassLookups {
		to = "to"
	}
	if e.Message != "" {
		return fmt.Sprintf("GitLab answered %d %s %s: %s", e.Status, to, e.Target.what(), e.Message)
	}
	return fmt.Sprintf("GitLab answered %d %s %s %s", e.Status, http.StatusText(e.Status), to, e.Target.what())
}

// Advice tells the operator what to do about the error.
func (e *APIError) Advice() string {
	if e.Target.Class == ClassListings {
		switch e.Status {
		case http.StatusUnauthorized, http.StatusForbidden, http.StatusNotFound:
			return "discovery lists only the subgroups and projects the token's user can see: give the user the Owner role on the configured group (an auditor or administrator sees everything); the feeds already known are still polled"
		}
	}
	switch e.Status {
	case http.StatusUnauthorized:
		return "the token is missing, wrong, expired or revoked: create an access token with the read_api scope and set token (token_type bearer for OAuth tokens)"
	case http.StatusForbidden:
		if e.Target.Feed.Kind == KindInstance {
			return "instance audit events need an administrator's (or auditor's) token and a Premium or Ultimate license, and exist only on GitLab Self-Managed and Dedicated, not on GitLab.com; poll groups or projects there instead"
		}
		return fmt.Sprintf("audit events need GitLab Premium or Ultimate (Free answers 403), and the token's user needs a role on the %s: Owner of a group or Maintainer of a project to see everyone's events (Developer sees only their own)", e.Target.Feed.Kind)
	case http.StatusNotFound:
		return fmt.Sprintf("the %s does not exist or the token's user cannot see it: check the id or full path (group/subgroup/project) and the user's membership", e.Target.Feed.Kind)
	case http.StatusTooManyRequests:
		return "GitLab's rate limit was reached; the receiver waits as GitLab asks. Lower max_requests_per_minute or raise poll_interval"
	}
	if e.Status >= 500 {
		return "GitLab failed; the receiver retries with backoff and reads the same window again at the next poll"
	}
	return "check the receiver configuration against the GitLab version"
}

// Reason is a short machine-readable cause for metrics and status.
func (e *APIError) Reason() string {
	switch {
	case e.Status == http.StatusUnauthorized:
		return "unauthorized"
	case e.Status == http.StatusForbidden:
		return "forbidden"
	case e.Status == http.StatusNotFound:
		return "not_found"
	case e.Status == http.StatusTooManyRequests:
		return "rate_limited"
	case e.Status >= 500:
		return "server_error"
	default:
		return "client_error"
	}
}

// Permanent reports whether retrying soon cannot help (the configuration or
// the token must change).
func (e *APIError) Permanent() bool {
	return e.Status == http.StatusUnauthorized || e.Status == http.StatusForbidden || e.Status == http.StatusNotFound
}

// IsStatus reports whether err is an APIError with the given status.
func IsStatus(err error, status int) bool {
	var ae *APIError
	return errors.As(err, &ae) && ae.Status == status
}

// errorMessage extracts GitLab's message from an error body:
// {"message":"..."} or {"error":"..."} or plain text.
func errorMessage(body []byte) string {
	var m struct {
		Message any    `json:"message"`
		Error   string `json:"error"`
	}
	if json.Unmarshal(body, &m) == nil {
		switch msg := m.Message.(type) {
		case string:
			return truncate(msg)
		case nil:
		default:
			b, _ := json.Marshal(msg)
			return truncate(string(b))
		}
		if m.Error != "" {
			return truncate(m.Error)
		}
	}
	return truncate(strings.TrimSpace(string(body)))
}

func truncate(s string) string {
	const maxLen = 300
	if len(s) > maxLen {
		return s[:maxLen] + "..."
	}
	return s
}
