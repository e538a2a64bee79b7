// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package gitlabapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
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
			return "discovery lists only the subgroups and projects the token's user can see: make the user a member of the configured group (Owner, to read everyone's audit events there; an administrator or auditor sees every group); the feeds already known are still polled"
		}
	}
	switch e.Status {
	case http.StatusUnauthorized:
		switch {
		case strings.Contains(strings.ToLower(e.Message), "expired"):
			return "the token has expired: create a new access token with the read_api scope (an administrator's with admin_mode where Admin Mode is on), put it where token reads it from, and reload the collector (SIGHUP): the checkpoints are kept"
		case strings.Contains(strings.ToLower(e.Message), "revoked"):
			return "the token was revoked: create a new access token with the read_api scope, put it where token reads it from, and reload the collector (SIGHUP): the checkpoints are kept"
		}
		return "the token is missing, wrong, expired or revoked: create an access token with the read_api scope and set token (token_type bearer for OAuth tokens)"
	case http.StatusForbidden:
		if strings.Contains(e.Message, "insufficient_scope") {
			return "the token lacks a scope GitLab requires here (" + e.Message + "): give it read_api (or api)"
		}
		if e.Target.Feed.Kind == KindInstance {
			return "instance audit events need an administrator's token (with the admin_mode scope where Admin Mode is on; auditors are refused) and a Premium or Ultimate license, and exist only on GitLab Self-Managed and Dedicated, not on GitLab.com; poll groups or projects there instead"
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
		// OAuth-style answers of lib/api/api_guard.rb: expired and revoked
		// tokens (invalid_token), missing scopes (insufficient_scope).
		Description string `json:"error_description"`
		Scope       string `json:"scope"`
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
			msg := m.Error
			if m.Description != "" {
				msg += ": " + m.Description
			}
			if m.Scope != "" {
				msg += " (scopes: " + m.Scope + ")"
			}
			return truncate(msg)
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

// Transient reports whether err may go away when the request is sent
// again: a transport error or timeout, a 5xx or a 408 answer. Not a
// refusal (4xx), not a rate-limit pause the caller could not wait for, not
// a pagination loop, not the caller's own cancellation.
func Transient(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, ErrPaused) || errors.Is(err, ErrBudgetExhausted) || errors.Is(err, ErrPaginationLoop) {
		return false
	}
	var ae *APIError
	if errors.As(err, &ae) {
		return ae.Status >= 500 || ae.Status == http.StatusRequestTimeout
	}
	return true
}

// TimedOut reports whether err is a request that got no answer in time
// (the client's timeout).
func TimedOut(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}
