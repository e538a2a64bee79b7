// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package gitlabapi

import (
	"context"
	"errors"
	"net/url"
)

// Errors of a lookup that was not sent because it could not be answered in
// time: the caller's deadline comes before the end of a rate-limit pause,
// or before the request budget (max_requests_per_minute) allows a request.
var (
	ErrPaused          = errors.New("GitLab's rate limit paused the requests")
	ErrBudgetExhausted = errors.New("the request budget (max_requests_per_minute) is exhausted")
)

// Lookup reads one object of the API, e.g. a personal access token or a
// CI/CD variable, through the same budget, concurrency limit, rate-limit
// pauses and retries as the feeds. escapedPath is the path below /api/v4
// with every segment already escaped (use PathSegment). kind names the
// lookup in callbacks, metrics and logs. The body is returned as is: the
// caller decodes only the fields it keeps.
func (c *Client) Lookup(ctx context.Context, kind, escapedPath string, q url.Values) (string, error) {
	_, body, err := c.do(ctx, request{url: apiURL(c.opts.BaseURL, "/api/v4"+escapedPath, q), to: Target{Class: ClassLookups, Name: kind}})
	return body, err
}

// PathSegment escapes one path segment the way GitLab wants it: a full
// path's "/" becomes %2F, as for feeds.
func PathSegment(s string) string { return escapeRef(s) }
