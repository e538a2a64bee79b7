// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package gitlabsim

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// Test tokens.
const (
	adminToken     = "glpat-admin-0000000000000"
	ownerToken     = "glpat-owner-0000000000000"
	devToken       = "glpat-dev-00000000000000"
	maintToken     = "glpat-maint-0000000000000"
	reporterToken  = "glpat-reporter-0000000000"
	projDevToken   = "glpat-projdev-00000000000"
	projMaintToken = "glpat-projmaint-000000000"
	outsiderToken  = "glpat-outsider-000000000"
)

// baseTime is the start of the test events.
var baseTime = time.Date(2024, 6, 1, 10, 0, 0, 0, time.UTC)

// testTokens: root is admin; alice owns acme; bob is a Developer of acme;
// carol a Maintainer of acme/platform; dave a Reporter of acme; erin a
// Developer of acme/platform/api only; frank a Maintainer of that project;
// the outsider has no membership.
func testTokens() map[string]Token {
	return map[string]Token{
		adminToken:     {UserID: 1, Admin: true},
		ownerToken:     {UserID: 2, Groups: map[string]Role{"acme": Owner}},
		devToken:       {UserID: 3, Groups: map[string]Role{"acme": Developer}},
		maintToken:     {UserID: 4, Groups: map[string]Role{"ACME/Platform": Maintainer}},
		reporterToken:  {UserID: 5, Groups: map[string]Role{"acme": Reporter}},
		projDevToken:   {UserID: 6, Projects: map[string]Role{"acme/platform/api": Developer}},
		projMaintToken: {UserID: 7, Projects: map[string]Role{"acme/platform/api": Maintainer}},
		outsiderToken:  {UserID: 9},
	}
}

// newSim returns a simulator with a small fixed topology:
// groups acme (10) > acme/platform (11), globex (12);
// projects acme/platform/api (100), acme/platform/web (101), globex/etl (102).
func newSim(t testing.TB, opts Options) (*Sim, *httptest.Server) {
	t.Helper()
	if opts.Tokens == nil {
		opts.Tokens = testTokens()
	}
	s := New(opts)
	for _, u := range defaultUsers {
		s.AddUser(u)
	}
	s.AddGroup(10, "acme")
	s.AddGroup(11, "acme/platform")
	s.AddGroup(12, "globex")
	s.AddProject(100, "acme/platform/api", 11)
	s.AddProject(101, "acme/platform/web", 11)
	s.AddProject(102, "globex/etl", 12)
	srv := httptest.NewServer(s)
	t.Cleanup(func() {
		srv.Close()
		_ = s.Close()
	})
	return s, srv
}

// result is a decoded answer.
type result struct {
	status int
	header http.Header
	body   []byte
}

func (r result) events(t testing.TB) []map[string]any {
	t.Helper()
	var out []map[string]any
	require.NoError(t, json.Unmarshal(r.body, &out), string(r.body))
	return out
}

func (r result) ids(t testing.TB) []int64 {
	t.Helper()
	var out []struct {
		ID int64 `json:"id"`
	}
	require.NoError(t, json.Unmarshal(r.body, &out), string(r.body))
	ids := make([]int64, len(out))
	for i, e := range out {
		ids[i] = e.ID
	}
	return ids
}

// get calls the simulator with a PRIVATE-TOKEN ("" sends none).
func get(t testing.TB, rawURL, token string) result {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, rawURL, nil)
	require.NoError(t, err)
	if token != "" {
		req.Header.Set("PRIVATE-TOKEN", token)
	}
	return do(t, req)
}

func do(t testing.TB, req *http.Request) result {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return result{status: resp.StatusCode, header: resp.Header, body: b}
}

var nextLinkRE = regexp.MustCompile(`<([^>]+)>; rel="next"`)

// nextLink returns the rel="next" URL of a Link header.
func nextLink(h http.Header) string {
	m := nextLinkRE.FindStringSubmatch(h.Get("Link"))
	if m == nil {
		return ""
	}
	return m[1]
}

// links parses a Link header into rel → URL.
func links(t testing.TB, h http.Header) map[string]*url.URL {
	t.Helper()
	out := map[string]*url.URL{}
	for _, m := range regexp.MustCompile(`<([^>]+)>; rel="(\w+)"`).FindAllStringSubmatch(h.Get("Link"), -1) {
		u, err := url.Parse(m[1])
		require.NoError(t, err)
		out[m[2]] = u
	}
	return out
}

// fakeClock is a settable clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// insertAt inserts an event of the given type and entity at a time.
func insertAt(s *Sim, typ string, e Entity, author int64, at time.Time) StoredEvent {
	return s.Insert(Event{
		Type:          typ,
		Entity:        e,
		Author:        Author{ID: author},
		CustomMessage: "test event",
		IPAddress:     "192.0.2.1",
		CreatedAt:     at,
	})
}

func projectE(id int64) Entity { return Entity{Type: EntityProject, ID: id} }
func groupE(id int64) Entity   { return Entity{Type: EntityGroup, ID: id} }
