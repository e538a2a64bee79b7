// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/kyra-mdr/otelcol-gitlab/testbed/gitlabsim"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestParseFlags(t *testing.T) {
	c, err := parseFlags(nil, io.Discard)
	require.NoError(t, err)
	assert.Equal(t, "127.0.0.1:8080", c.listen)
	assert.Equal(t, tokenList{DefaultToken}, c.tokens)
	assert.Equal(t, 24*time.Hour, c.backfillSpan)
	assert.InDelta(t, 2, c.rate, 0)

	c, err = parseFlags([]string{"-token", "one,two", "-token", " three ", "-backfill", "1000000", "-stream-batch", "-dup-ratio", "0.1"}, io.Discard)
	require.NoError(t, err)
	assert.Equal(t, tokenList{"one", "two", "three"}, c.tokens)
	assert.Equal(t, 1_000_000, c.backfill)
	assert.True(t, c.streamBatch)

	c, err = parseFlags([]string{"-clock-offset", "-1h", "-fail-share", "0.1", "-slow-share", "0.05", "-max-range", "6h"}, io.Discard)
	require.NoError(t, err)
	assert.Equal(t, -time.Hour, c.clockOffset)
	assert.Equal(t, gitlabsim.Faults{FailShare: 0.1, FailStatus: 500, SlowShare: 0.05, SlowDelay: 40 * time.Second, MaxRange: 6 * time.Hour, Seed: 1}, c.faults)

	c, err = parseFlags([]string{"-fail-share", "1", "-fail-status", "403", "-fail-path", "/api/v4/groups/acme/audit_events"}, io.Discard)
	require.NoError(t, err)
	assert.Equal(t, gitlabsim.Faults{FailShare: 1, FailStatus: 403, SlowDelay: 40 * time.Second, Path: "/api/v4/groups/acme/audit_events", Seed: 1}, c.faults)

	for _, bad := range [][]string{
		{"-fail-path", "groups/acme"},
		{"-fail-share", "2"},
		{"-fail-status", "200"},
		{"-max-range", "-1h"},
		{"-dup-ratio", "1.5"},
		{"-security-share", "-0.1"},
		{"-tier", "gold"},
		{"-groups", "0"},
		{"-rate", "-1"},
		{"-churn", "-1s"},
		{"-vanish-mid-listing", "-1"},
		{"extra"},
		{"-nope"},
		{"-users-limit", "-1"},
		{"-access", "no-spec"},
		{"-access", "tok=owner"},
		{"-access", "tok=boss@acme"},
		{"-access", "tok=expires=tomorrow"},
		{"-access", "tok=kind=robot"},
		{"-access", "tok=user=0"},
		{"-stream-url", "http://127.0.0.1:9", "-stream-group", "acme/platform"},
		{"-stream-url", "http://127.0.0.1:9", "-stream-namespaces", "a,b,c,d,e,f"},
	} {
		_, err := parseFlags(bad, io.Discard)
		require.Error(t, err, bad)
		assert.NotContains(t, err.Error(), "tok=", "a bad -access value is not echoed with its token")
	}

	c, err = parseFlags([]string{"-access", "glpat-x=developer@acme/platform; user=3 ;scopes=read_api,admin_mode;expires-in=5d;revoked;kind=group;name=ci;id=7",
		"-access", "glpat-y=admin;expires=2030-01-02", "-admin-mode", "-users-limit", "300", "-app-limit-retry-after"}, io.Discard)
	require.NoError(t, err)
	require.Len(t, c.access.specs, 2)
	assert.Equal(t, tokenSpec{token: "glpat-x", roles: []roleSpec{{gitlabsim.Developer, "acme/platform"}}, user: 3,
		scopes: []string{"read_api", "admin_mode"}, expiresIn: 5 * 24 * time.Hour, revoked: true, kind: gitlabsim.TokenGroupAccess, name: "ci", id: 7}, c.access.specs[0])
	assert.Equal(t, time.Date(2030, 1, 2, 0, 0, 0, 0, time.UTC), c.access.specs[1].expires)
	assert.True(t, c.adminMode)
	assert.Equal(t, gitlabsim.AppLimits{UsersGetByID: 300, RetryAfter: true}, c.appLimits)

	c, err = parseFlags([]string{"-vanish-mid-listing", "5"}, io.Discard)
	require.NoError(t, err)
	assert.Equal(t, 5, c.vanishMidWalk)
}

// lockedBuffer is a buffer safe for the logger and the test.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func TestRunServesAndStreams(t *testing.T) {
	const adminTok, ownerTok, streamTok = "glpat-test-admin-token", "glpat-test-owner-token", "stream-verification-tok"
	var mu sync.Mutex
	streamed := map[string]bool{}
	var badHeaders []string
	dest := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var ev struct {
			ID        any    `json:"id"`
			EventType string `json:"event_type"`
		}
		err := json.NewDecoder(r.Body).Decode(&ev)
		mu.Lock()
		defer mu.Unlock()
		if err != nil || r.Header.Get(gitlabsim.TokenHeader) != streamTok || r.Header.Get(gitlabsim.EventTypeHeader) != ev.EventType {
			badHeaders = append(badHeaders, r.Header.Get(gitlabsim.EventTypeHeader))
		}
		streamed[strings.Trim(string(must(json.Marshal(ev.ID))), `"`)] = true
	}))
	defer dest.Close()

	cfg, err := parseFlags([]string{
		"-listen", "127.0.0.1:0", "-token", adminTok + "," + ownerTok, "-backfill", "300", "-rate", "50",
		"-stream-url", dest.URL, "-stream-token", streamTok, "-security-share", "0.5", "-seed", "3",
	}, io.Discard)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, logs lockedBuffer
	ready := make(chan string, 1)
	errc := make(chan error, 1)
	go func() { errc <- run(ctx, cfg, &out, log.New(&logs, "", 0), ready) }()
	var addr string
	select {
	case addr = <-ready:
	case err := <-errc:
		t.Fatal(err)
	}
	base := "http://" + addr

	get := func(path, token string) (int, http.Header) {
		req, err := http.NewRequest(http.MethodGet, base+path, nil)
		require.NoError(t, err)
		req.Header.Set("PRIVATE-TOKEN", token)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		_, err = io.Copy(io.Discard, resp.Body)
		require.NoError(t, err)
		return resp.StatusCode, resp.Header
	}
	status, _ := get("/-/health", "")
	assert.Equal(t, http.StatusOK, status)
	status, header := get("/api/v4/audit_events?per_page=1", adminTok)
	assert.Equal(t, http.StatusOK, status)
	total, err := strconv.Atoi(header.Get("X-Total"))
	require.NoError(t, err)
	assert.GreaterOrEqual(t, total, 300)
	status, _ = get("/api/v4/audit_events", ownerTok)
	assert.Equal(t, http.StatusForbidden, status, "the second token is a group Owner, not an admin")
	status, _ = get("/api/v4/groups/acme/audit_events?pagination=keyset", ownerTok)
	assert.Equal(t, http.StatusOK, status)

	require.Eventually(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(streamed) >= 10
	}, 10*time.Second, 20*time.Millisecond, "new events are streamed")
	cancel()
	select {
	case err := <-errc:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("run did not stop")
	}
	mu.Lock()
	assert.Empty(t, badHeaders)
	mu.Unlock()

	line := out.String()
	assert.Contains(t, line, "gitlab-sim listening on http://"+addr)
	assert.Contains(t, line, "acme/platform/api(100)")
	assert.Equal(t, 1, strings.Count(line, "\n"), "one line")
	all := line + logs.String()
	assert.Contains(t, logs.String(), "backfilled 300 events")
	assert.Contains(t, logs.String(), "stream: 1 event(s)")
	for _, secret := range []string{adminTok, ownerTok, streamTok} {
		assert.NotContains(t, all, secret, "tokens are never printed")
	}
}

func TestRunFailsOnBusyAddress(t *testing.T) {
	busy := httptest.NewServer(http.NotFoundHandler())
	defer busy.Close()
	cfg, err := parseFlags([]string{"-listen", strings.TrimPrefix(busy.URL, "http://"), "-backfill", "0"}, io.Discard)
	require.NoError(t, err)
	err = run(context.Background(), cfg, io.Discard, log.New(io.Discard, "", 0), nil)
	require.Error(t, err)
}

func TestListeningLine(t *testing.T) {
	sim := gitlabsim.New(gitlabsim.Options{})
	sim.Populate(3, 30)
	line := listeningLine("127.0.0.1:1", config{tier: "ultimate", tokens: tokenList{"secret"}}, sim)
	assert.Contains(t, line, "groups: acme(10) acme/platform(11) acme/security(12)")
	assert.Contains(t, line, "… and 10 more")
	assert.NotContains(t, line, "secret")
}

func TestRedactURL(t *testing.T) {
	assert.Equal(t, "https://siem.example.com/in", redactURL("https://user:pw@siem.example.com/in?key=abc"))
	assert.Equal(t, "http://127.0.0.1:9/x", redactURL("http://127.0.0.1:9/x#frag"))
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func TestRunWithSkewedClockAndFaults(t *testing.T) {
	const tok = "glpat-test-admin-token"
	cfg, err := parseFlags([]string{
		"-listen", "127.0.0.1:0", "-token", tok, "-backfill", "50", "-backfill-span", "1h", "-rate", "0",
		"-clock-offset", "-20m", "-max-range", "2h",
	}, io.Discard)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, logs lockedBuffer
	ready := make(chan string, 1)
	errc := make(chan error, 1)
	go func() { errc <- run(ctx, cfg, &out, log.New(&logs, "", 0), ready) }()
	var addr string
	select {
	case addr = <-ready:
	case err := <-errc:
		t.Fatal(err)
	}
	get := func(query string) *http.Response {
		req, err := http.NewRequest(http.MethodGet, "http://"+addr+"/api/v4/audit_events?"+query, http.NoBody)
		require.NoError(t, err)
		req.Header.Set("PRIVATE-TOKEN", tok)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		t.Cleanup(func() { _ = resp.Body.Close() })
		return resp
	}
	since := time.Now().Add(-20*time.Minute - 90*time.Minute).UTC().Format(time.RFC3339)
	resp := get("per_page=100&created_after=" + since) //nolint:bodyclose // closed by get's t.Cleanup
	require.Equal(t, http.StatusOK, resp.StatusCode)
	date, err := http.ParseTime(resp.Header.Get("Date"))
	require.NoError(t, err)
	assert.WithinDuration(t, time.Now().Add(-20*time.Minute), date, 5*time.Second, "the Date header follows the skewed clock")
	var evs []struct {
		CreatedAt time.Time `json:"created_at"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&evs))
	require.Len(t, evs, 50)
	for _, ev := range evs {
		assert.False(t, ev.CreatedAt.After(date.Add(time.Second)), "created_at on the skewed clock: %s", ev.CreatedAt)
	}
	tooLong := get("created_after=" + time.Now().Add(-5*time.Hour).UTC().Format(time.RFC3339)) //nolint:bodyclose // closed by get's t.Cleanup
	assert.Equal(t, http.StatusInternalServerError, tooLong.StatusCode, "beyond -max-range")
	cancel()
	require.NoError(t, <-errc)
}

func TestChurnChangesTheEstate(t *testing.T) {
	sim := gitlabsim.New(gitlabsim.Options{Seed: 3})
	sim.Populate(5, 8)
	before := len(sim.Projects())
	var logs lockedBuffer
	ctx, cancel := context.WithTimeout(context.Background(), 250*time.Millisecond)
	defer cancel()
	churn(ctx, sim, 20*time.Millisecond, 3, log.New(&logs, "", 0))
	_ = sim.Close()
	out := logs.String()
	assert.Contains(t, out, "churn: created project")
	assert.Contains(t, out, "churn: transferred project")
	assert.Greater(t, len(sim.Projects()), before)
	assert.Greater(t, sim.EventCount(), 3)
}

// startRun runs the simulator with args and returns its base URL; the run
// stops when the test ends.
func startRun(t *testing.T, args ...string) (string, *lockedBuffer) {
	t.Helper()
	cfg, err := parseFlags(append([]string{"-listen", "127.0.0.1:0"}, args...), io.Discard)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	var out, logs lockedBuffer
	ready := make(chan string, 1)
	errc := make(chan error, 1)
	go func() { errc <- run(ctx, cfg, &out, log.New(&logs, "", 0), ready) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-errc:
			assert.NoError(t, err)
		case <-time.After(10 * time.Second):
			t.Error("run did not stop")
		}
	})
	select {
	case addr := <-ready:
		return "http://" + addr, &logs
	case err := <-errc:
		t.Fatal(err)
	}
	return "", nil
}

// call sends a request with a token and decodes a JSON answer into v.
func call(t *testing.T, method, url, token, body string, v any) (int, http.Header) {
	t.Helper()
	var rd io.Reader = http.NoBody
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	require.NoError(t, err)
	if token != "" {
		req.Header.Set("PRIVATE-TOKEN", token)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	if v != nil {
		require.NoError(t, json.Unmarshal(b, v), string(b))
	}
	return resp.StatusCode, resp.Header
}

// TestRunAccessModes: the flags of issue 18 reach the simulator —
// -access tokens with roles and metadata, -admin-mode, a header-less
// -users-limit, and a namespace-filtered destination listed through GraphQL
// and honoured by the stream.
func TestRunAccessModes(t *testing.T) {
	const admin, dev, modeAdmin, streamTok = "glpat-run-admin", "glpat-run-dev", "glpat-run-mode", "stream-verification-tok"
	var mu sync.Mutex
	var paths []string
	dest := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var ev struct {
			EntityPath string `json:"entity_path"`
			EntityType string `json:"entity_type"`
		}
		_ = json.NewDecoder(r.Body).Decode(&ev)
		mu.Lock()
		paths = append(paths, ev.EntityType+" "+ev.EntityPath)
		mu.Unlock()
	}))
	defer dest.Close()
	base, logs := startRun(t, "-token", admin, "-backfill", "400", "-rate", "100", "-seed", "5",
		"-access", dev+"=developer@acme;user=3;scopes=read_api;expires-in=5d;name=audit-collector",
		"-access", modeAdmin+"=admin;scopes=api,admin_mode",
		"-admin-mode", "-users-limit", "2",
		"-stream-url", dest.URL, "-stream-token", streamTok, "-stream-group", "acme", "-stream-namespaces", "acme/platform,acme/platform/api")

	var self map[string]any
	status, _ := call(t, "GET", base+"/api/v4/personal_access_tokens/self", dev, "", &self)
	require.Equal(t, http.StatusOK, status)
	assert.Equal(t, "audit-collector", self["name"])
	assert.Equal(t, []any{"read_api"}, self["scopes"])
	assert.Equal(t, time.Now().AddDate(0, 0, 5).UTC().Format(time.DateOnly), self["expires_at"])

	var events []struct {
		AuthorID int64 `json:"author_id"`
	}
	status, _ = call(t, "GET", base+"/api/v4/groups/acme/audit_events?per_page=100", dev, "", &events)
	require.Equal(t, http.StatusOK, status)
	for _, e := range events {
		assert.EqualValues(t, 3, e.AuthorID, "a Developer sees only its own events")
	}
	status, _ = call(t, "GET", base+"/api/v4/audit_events?per_page=1", admin, "", nil)
	assert.Equal(t, http.StatusForbidden, status, "Admin Mode: no admin_mode scope")
	status, _ = call(t, "GET", base+"/api/v4/audit_events?per_page=1", modeAdmin, "", nil)
	assert.Equal(t, http.StatusOK, status)
	var user map[string]any
	call(t, "GET", base+"/api/v4/user", admin, "", &user)
	assert.Equal(t, true, user["is_admin"])

	for range 2 {
		status, _ = call(t, "GET", base+"/api/v4/users/2", dev, "", nil)
		require.Equal(t, http.StatusOK, status)
	}
	status, header := call(t, "GET", base+"/api/v4/users/2", dev, "", nil)
	assert.Equal(t, http.StatusTooManyRequests, status)
	assert.Empty(t, header.Get("Retry-After"))

	var gql struct {
		Data struct {
			Group struct {
				Destinations struct {
					Nodes []struct {
						Config           map[string]any `json:"config"`
						NamespaceFilters []struct {
							Namespace struct {
								FullPath string `json:"fullPath"`
							} `json:"namespace"`
						} `json:"namespaceFilters"`
					} `json:"nodes"`
				} `json:"externalAuditEventStreamingDestinations"`
			} `json:"group"`
		} `json:"data"`
	}
	q := `{"query":"{ group(fullPath: \"acme\") { externalAuditEventStreamingDestinations { nodes { config namespaceFilters { namespace { fullPath } } } } } }"}`
	status, _ = call(t, "POST", base+"/api/graphql", modeAdmin, q, &gql)
	require.Equal(t, http.StatusOK, status)
	require.Len(t, gql.Data.Group.Destinations.Nodes, 1)
	node := gql.Data.Group.Destinations.Nodes[0]
	assert.Equal(t, dest.URL, node.Config["url"])
	require.Len(t, node.NamespaceFilters, 2)
	assert.Equal(t, "acme/platform/api", node.NamespaceFilters[1].Namespace.FullPath)

	require.Eventually(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(paths) >= 3
	}, 20*time.Second, 20*time.Millisecond, "events of the filtered namespaces are streamed")
	mu.Lock()
	for _, p := range paths {
		assert.Contains(t, []string{"Group acme/platform", "Project acme/platform/api"}, p)
	}
	mu.Unlock()
	for _, secret := range []string{admin, dev, modeAdmin, streamTok} {
		assert.NotContains(t, logs.String(), secret)
	}
}
