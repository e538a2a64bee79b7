// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package gitlabapi

import (
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestFeedPaths(t *testing.T) {
	tests := []struct {
		feed       Feed
		path, name string
		numeric    bool
	}{
		{Feed{Kind: KindInstance}, "/api/v4/audit_events", "instance", false},
		{Feed{Kind: KindGroup, Ref: "42"}, "/api/v4/groups/42/audit_events", "group:42", true},
		{Feed{Kind: KindGroup, Ref: "acme/platform"}, "/api/v4/groups/acme%2Fplatform/audit_events", "group:acme/platform", false},
		{Feed{Kind: KindProject, Ref: "acme/platform/my.api-2"}, "/api/v4/projects/acme%2Fplatform%2Fmy.api-2/audit_events", "project:acme/platform/my.api-2", false},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.path, tt.feed.Path())
		assert.Equal(t, tt.name, tt.feed.String())
		assert.Equal(t, tt.numeric, tt.feed.IsNumeric())
	}
}

func TestFeedURLKeepsEncodedSlashes(t *testing.T) {
	base, _ := url.Parse("https://gitlab.example.com")
	q := url.Values{"per_page": {"100"}}
	assert.Equal(t, "https://gitlab.example.com/api/v4/groups/acme%2Fplatform/audit_events?per_page=100",
		apiURL(base, Feed{Kind: KindGroup, Ref: "acme/platform"}.Path(), q))
	assert.Equal(t, "https://gitlab.example.com/api/v4/audit_events?per_page=100", apiURL(base, Feed{Kind: KindInstance}.Path(), q))
	sub, _ := url.Parse("https://example.com/")
	assert.Equal(t, "https://example.com/api/v4/projects/a%2Fb%2Fc/audit_events?per_page=100",
		apiURL(sub, Feed{Kind: KindProject, Ref: "a/b/c"}.Path(), q))
}

func TestLinkNext(t *testing.T) {
	h := `<https://gitlab.example.com/api/v4/audit_events?created_after=x&cursor=eyJpZCI6IjQyIn0%3D&pagination=keyset&per_page=100>; rel="next", <https://gitlab.example.com/api/v4/audit_events?page=1>; rel="first"`
	q := linkNext(h)
	assert.Equal(t, "eyJpZCI6IjQyIn0=", q.Get("cursor"))
	assert.Equal(t, "x", q.Get("created_after"))
	assert.Nil(t, linkNext(`<https://gitlab.example.com/api/v4/audit_events?page=1>; rel="first"`))
	assert.Nil(t, linkNext(""))
	assert.Equal(t, "3", linkNext(`<http://h/x?page=3>; rel=next`).Get("page"))
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	h := http.Header{}
	assert.Zero(t, retryAfter(h, now))
	h.Set("Retry-After", "30")
	assert.Equal(t, 30*time.Second, retryAfter(h, now))
	h.Set("Retry-After", now.Add(90*time.Second).Format(http.TimeFormat))
	assert.Equal(t, 90*time.Second, retryAfter(h, now))
	h.Set("Retry-After", "999999")
	assert.Equal(t, time.Hour, retryAfter(h, now), "capped")
	h.Del("Retry-After")
	h.Set("RateLimit-Reset", "1795608020") // 20 s after now
	assert.Equal(t, 20*time.Second, retryAfter(h, now))
}

func TestErrorMessageAndAdvice(t *testing.T) {
	assert.Equal(t, "401 Unauthorized", errorMessage([]byte(`{"message":"401 Unauthorized"}`)))
	assert.Equal(t, "404 Not Found", errorMessage([]byte(`{"error":"404 Not Found"}`)))
	assert.Equal(t, "Retry later", errorMessage([]byte("Retry later\n")))
	assert.JSONEq(t, `{"base":["x"]}`, errorMessage([]byte(`{"message":{"base":["x"]}}`)))
	long := make([]byte, 1000)
	for i := range long {
		long[i] = 'a'
	}
	assert.Len(t, errorMessage(long), 303)

	for _, tt := range []struct {
		err            *APIError
		reason, advice string
		permanent      bool
	}{
		{&APIError{Target: FeedTarget(Feed{Kind: KindGroup, Ref: "g"}), Status: 401}, "unauthorized", "read_api", true},
		{&APIError{Target: FeedTarget(Feed{Kind: KindInstance}), Status: 403}, "forbidden", "administrator", true},
		{&APIError{Target: FeedTarget(Feed{Kind: KindGroup, Ref: "g"}), Status: 403}, "forbidden", "Premium or Ultimate", true},
		{&APIError{Target: FeedTarget(Feed{Kind: KindProject, Ref: "p"}), Status: 404}, "not_found", "does not exist", true},
		{&APIError{Target: FeedTarget(Feed{Kind: KindInstance}), Status: 429}, "rate_limited", "max_requests_per_minute", false},
		{&APIError{Target: FeedTarget(Feed{Kind: KindInstance}), Status: 502}, "server_error", "retries", false},
		{&APIError{Target: FeedTarget(Feed{Kind: KindInstance}), Status: 422}, "client_error", "GitLab version", false},
	} {
		assert.Equal(t, tt.reason, tt.err.Reason())
		assert.Contains(t, tt.err.Advice(), tt.advice)
		assert.Equal(t, tt.permanent, tt.err.Permanent())
		assert.Contains(t, tt.err.Error(), tt.err.Target.Feed.String())
	}
}

func TestRefusesKeyset(t *testing.T) {
	assert.True(t, refusesKeyset(&APIError{Status: 405}))
	assert.True(t, refusesKeyset(&APIError{Status: 400, Message: "pagination does not have a valid value"}))
	assert.False(t, refusesKeyset(&APIError{Status: 400, Message: "created_after is invalid"}))
	assert.False(t, refusesKeyset(&APIError{Status: 500}))
}
