// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package gitlabapi

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// lookupServer answers every request with the handler's status and body,
// and records the escaped paths and the statuses reported by OnResponse.
type lookupServer struct {
	mu       sync.Mutex
	paths    []string
	observed []string
}

func newLookupClient(t *testing.T, h http.HandlerFunc, rpm int) (*Client, *lookupServer) {
	t.Helper()
	ls := &lookupServer{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ls.mu.Lock()
		ls.paths = append(ls.paths, r.URL.EscapedPath()+"?"+r.URL.RawQuery)
		ls.mu.Unlock()
		h(w, r)
	}))
	t.Cleanup(srv.Close)
	base, err := url.Parse(srv.URL)
	require.NoError(t, err)
	c := New(Options{HTTPClient: srv.Client(), BaseURL: base, Token: "t", PerPage: 100, MaxConcurrent: 2, RequestsPerMinute: rpm,
		OnResponse: func(f Target, status int) {
			ls.mu.Lock()
			defer ls.mu.Unlock()
			ls.observed = append(ls.observed, f.String()+" "+http.StatusText(status))
		}})
	return c, ls
}

func TestLookup(t *testing.T) {
	c, ls := newLookupClient(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("PRIVATE-TOKEN") != "t" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		switch r.URL.EscapedPath() {
		case "/api/v4/projects/acme%2Fapi/variables/NPM_TOKEN":
			_, _ = w.Write([]byte(`{"key":"NPM_TOKEN","protected":false}`))
		default:
			w.WriteHeader(http.StatusNotFound)
			_, _ = w.Write([]byte(`{"message":"404 Variable Not Found"}`))
		}
	}, 0)
	body, err := c.Lookup(context.Background(), "ci_variable", "/projects/"+PathSegment("acme/api")+"/variables/NPM_TOKEN", url.Values{"filter[environment_scope]": {"*"}})
	require.NoError(t, err)
	assert.JSONEq(t, `{"key":"NPM_TOKEN","protected":false}`, body)

	_, err = c.Lookup(context.Background(), "ci_variable", "/projects/1/variables/GONE", nil)
	var ae *APIError
	require.ErrorAs(t, err, &ae)
	assert.Equal(t, http.StatusNotFound, ae.Status)
	assert.Equal(t, "ci_variable", ae.Target.Name)
	assert.Equal(t, "GitLab answered 404 to the ci variable lookup: 404 Variable Not Found", err.Error())

	assert.Equal(t, []string{
		"/api/v4/projects/acme%2Fapi/variables/NPM_TOKEN?filter%5Benvironment_scope%5D=%2A",
		"/api/v4/projects/1/variables/GONE?",
	}, ls.paths)
	assert.Equal(t, []string{"lookup:ci_variable OK", "lookup:ci_variable Not Found"}, ls.observed, "lookups are counted with the feeds' requests")
}

// TestLookupFailsFastWhenItCannotBeServedInTime: with a deadline the
// request budget or a rate-limit pause cannot meet, a lookup is not sent
// and says why at once.
func TestLookupFailsFastWhenItCannotBeServedInTime(t *testing.T) {
	c, ls := newLookupClient(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/api/v4/users/429" {
			w.Header().Set("Retry-After", "30")
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		_, _ = w.Write([]byte(`{"bot":false}`))
	}, 2) // one request every 30 s

	_, err := c.Lookup(context.Background(), "user", "/users/1", nil) // takes the budget
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = c.Lookup(ctx, "user", "/users/2", nil)
	require.ErrorIs(t, err, ErrBudgetExhausted)
	assert.Less(t, time.Since(start), 100*time.Millisecond)

	c2, _ := newLookupClient(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "30")
		w.WriteHeader(http.StatusTooManyRequests)
	}, 0)
	ctx2, cancel2 := context.WithTimeout(context.Background(), time.Second)
	defer cancel2()
	start = time.Now()
	_, err = c2.Lookup(ctx2, "user", "/users/3", nil)
	require.ErrorIs(t, err, ErrPaused, "GitLab asked for 30 s; the lookup gives up at once")
	assert.Less(t, time.Since(start), 500*time.Millisecond)
	assert.Len(t, ls.paths, 1)
}
