// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package gitlabsim

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestNewestFirstAndInclusiveBounds(t *testing.T) {
	s, srv := newSim(t, Options{})
	var stored []StoredEvent
	for i := range 10 {
		stored = append(stored, insertAt(s, "project_archived", projectE(100), 2, baseTime.Add(time.Duration(i)*time.Minute)))
	}
	tests := []struct {
		name    string
		query   string
		wantIDs []int64
	}{
		{"all, newest first", "", []int64{10, 9, 8, 7, 6, 5, 4, 3, 2, 1}},
		{"after is inclusive", "created_after=2024-06-01T10:07:00.000Z", []int64{10, 9, 8}},
		{"before is inclusive", "created_before=2024-06-01T10:02:00Z", []int64{3, 2, 1}},
		{"both", "created_after=2024-06-01T10:03:00Z&created_before=2024-06-01T10:05:00Z", []int64{6, 5, 4}},
		{"offset with %2B", "created_after=2024-06-01T12:08:00%2B02:00", []int64{10, 9}},
		{"offset + decoded as space", "created_after=2024-06-01T12:08:00+02:00", []int64{10, 9}},
		{"no zone is UTC", "created_after=2024-06-01T10:09:00", []int64{10}},
		{"date only", "created_before=2024-06-01", nil},
		{"empty window", "created_after=2024-06-01T10:05:30Z&created_before=2024-06-01T10:05:40Z", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, path := range []string{"/api/v4/audit_events", "/api/v4/projects/100/audit_events"} {
				r := get(t, srv.URL+path+"?"+tt.query, adminToken)
				require.Equal(t, http.StatusOK, r.status, string(r.body))
				got := r.ids(t)
				if tt.wantIDs == nil {
					assert.Empty(t, got, path)
				} else {
					assert.Equal(t, tt.wantIDs, got, path)
				}
			}
		})
	}
	assert.Equal(t, stored[9].RESTJSON, get(t, srv.URL+"/api/v4/audit_events/10", adminToken).body)
}

func TestMicrosecondsAreStoredMillisecondsRendered(t *testing.T) {
	s, srv := newSim(t, Options{})
	at := time.Date(2024, 6, 1, 10, 0, 0, 123456789, time.UTC)
	se := insertAt(s, "project_archived", projectE(100), 2, at)
	assert.Equal(t, at.Truncate(time.Microsecond), se.CreatedAt)
	assert.Contains(t, string(se.RESTJSON), `"created_at":"2024-06-01T10:00:00.123Z"`)

	base := srv.URL + "/api/v4/audit_events?"
	assert.Len(t, get(t, base+"created_after=2024-06-01T10:00:00.123Z", adminToken).ids(t), 1)
	assert.Empty(t, get(t, base+"created_before=2024-06-01T10:00:00.123Z", adminToken).ids(t),
		"like PostgreSQL, 10:00:00.123456 is after 10:00:00.123")
	assert.Len(t, get(t, base+"created_before=2024-06-01T10:00:00.123456Z", adminToken).ids(t), 1)
}

func TestInvalidDates(t *testing.T) {
	_, srv := newSim(t, Options{})
	tests := []struct {
		query, want string
	}{
		{"created_after=yesterday", `{"error":"created_after is invalid"}`},
		{"created_before=2024-13-45", `{"error":"created_before is invalid"}`},
		{"created_after=x&created_before=y", `{"error":"created_after is invalid, created_before is invalid"}`},
		{"page=abc", `{"error":"page is invalid"}`},
		{"page=0", `{"error":"page does not have a valid value"}`},
		{"per_page=0", `{"error":"per_page does not have a valid value"}`},
		{"per_page=-5", `{"error":"per_page does not have a valid value"}`},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			for _, path := range []string{"/api/v4/audit_events", "/api/v4/groups/10/audit_events", "/api/v4/projects/100/audit_events"} {
				r := get(t, srv.URL+path+"?"+tt.query, adminToken)
				assert.Equal(t, http.StatusBadRequest, r.status, path)
				assert.JSONEq(t, tt.want, string(r.body), path)
			}
		})
	}
}

func TestParseDateTime(t *testing.T) {
	tests := []struct {
		in   string
		want time.Time
	}{
		{"2024-06-01T10:00:00Z", baseTime},
		{"2024-06-01T10:00:00.355Z", baseTime.Add(355 * time.Millisecond)},
		{"2024-06-01T15:30:00.000+05:30", baseTime},
		{"2024-06-01T15:30:00.000 05:30", baseTime},
		{"2024-06-01T10:00:00.1234567Z", baseTime.Add(123456 * time.Microsecond)},
		{"2024-06-01 10:00:00", baseTime},
		{"2024-06-01t10:00:00z", baseTime},
		{"2024-06-01", time.Date(2024, 6, 1, 0, 0, 0, 0, time.UTC)},
	}
	for _, tt := range tests {
		got, err := parseDateTime(tt.in)
		require.NoError(t, err, tt.in)
		assert.True(t, tt.want.Equal(got), "%s: got %s", tt.in, got)
	}
	for _, bad := range []string{"", "now", "2024-06-01T25:00:00Z", "1717236000"} {
		_, err := parseDateTime(bad)
		assert.Error(t, err, bad)
	}
}

func TestOffsetPaginationHeaders(t *testing.T) {
	s, srv := newSim(t, Options{})
	for i := range 45 {
		insertAt(s, "project_archived", projectE(100), 2, baseTime.Add(time.Duration(i)*time.Second))
	}
	tests := []struct {
		page                   int
		wantIDs                []int64
		wantNext, wantPrev     string
		wantRels               []string
		wantFirstID, wantLastN int
	}{
		{page: 1, wantNext: "2", wantPrev: "", wantRels: []string{"next", "first", "last"}, wantFirstID: 45, wantLastN: 20},
		{page: 2, wantNext: "3", wantPrev: "1", wantRels: []string{"prev", "next", "first", "last"}, wantFirstID: 25, wantLastN: 20},
		{page: 3, wantNext: "", wantPrev: "2", wantRels: []string{"prev", "first", "last"}, wantFirstID: 5, wantLastN: 5},
		{page: 4, wantNext: "", wantPrev: "", wantRels: []string{"first", "last"}, wantLastN: 0},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint("page ", tt.page), func(t *testing.T) {
			r := get(t, fmt.Sprintf("%s/api/v4/projects/acme%%2Fplatform%%2Fapi/audit_events?page=%d&created_after=2024-06-01T00:00:00Z", srv.URL, tt.page), adminToken)
			require.Equal(t, http.StatusOK, r.status)
			ids := r.ids(t)
			require.Len(t, ids, tt.wantLastN)
			if tt.wantLastN > 0 {
				assert.EqualValues(t, tt.wantFirstID, ids[0])
			}
			h := r.header
			assert.Equal(t, "20", h.Get("X-Per-Page"))
			assert.Equal(t, strconv.Itoa(tt.page), h.Get("X-Page"))
			assert.Equal(t, tt.wantNext, h.Get("X-Next-Page"))
			assert.Equal(t, tt.wantPrev, h.Get("X-Prev-Page"))
			assert.Equal(t, "45", h.Get("X-Total"))
			assert.Equal(t, "3", h.Get("X-Total-Pages"))
			ls := links(t, h)
			var rels []string
			for rel := range ls {
				rels = append(rels, rel)
			}
			assert.ElementsMatch(t, tt.wantRels, rels)
			assert.Equal(t, "3", ls["last"].Query().Get("page"))
			assert.Equal(t, "1", ls["first"].Query().Get("page"))
			// The links repeat the request's parameters and the route id.
			assert.Equal(t, "2024-06-01T00:00:00Z", ls["first"].Query().Get("created_after"))
			assert.Equal(t, "acme/platform/api", ls["first"].Query().Get("id"))
			assert.Equal(t, "20", ls["first"].Query().Get("per_page"))
			assert.Equal(t, "/api/v4/projects/acme%2Fplatform%2Fapi/audit_events", ls["first"].EscapedPath())
		})
	}

	// Following rel="next" walks every event once.
	var all []int64
	for u := srv.URL + "/api/v4/audit_events?per_page=7"; u != ""; {
		r := get(t, u, adminToken)
		all = append(all, r.ids(t)...)
		u = nextLink(r.header)
	}
	assert.Len(t, all, 45)
	assert.True(t, slices.IsSortedFunc(all, func(a, b int64) int { return int(b - a) }))
}

func TestOffsetPaginationAboveCountLimit(t *testing.T) {
	s, srv := newSim(t, Options{})
	s.GenerateWith(GenerateOptions{Count: countLimit + 1, From: baseTime, To: baseTime.Add(time.Hour), SavedOnly: true})
	r := get(t, srv.URL+"/api/v4/audit_events?per_page=100", adminToken)
	require.Equal(t, http.StatusOK, r.status)
	assert.Len(t, r.ids(t), 100)
	assert.Empty(t, r.header.Values("X-Total"))
	assert.Empty(t, r.header.Values("X-Total-Pages"))
	assert.Equal(t, "2", r.header.Get("X-Next-Page"))
	assert.NotContains(t, r.header.Get("Link"), `rel="last"`)

	last := get(t, srv.URL+"/api/v4/audit_events?per_page=100&page=101", adminToken)
	assert.Len(t, last.ids(t), 1)
	assert.Empty(t, last.header.Get("X-Next-Page"))
	assert.Equal(t, "100", last.header.Get("X-Prev-Page"))
	assert.EqualValues(t, 1, last.ids(t)[0])

	beyond := get(t, srv.URL+"/api/v4/audit_events?per_page=100&page=102", adminToken)
	assert.Empty(t, beyond.ids(t))
	assert.Empty(t, beyond.header.Get("X-Prev-Page"))
}

func TestPerPageIsClamped(t *testing.T) {
	s, srv := newSim(t, Options{})
	s.GenerateWith(GenerateOptions{Count: 300, From: baseTime, To: baseTime.Add(time.Hour), SavedOnly: true})
	for _, q := range []string{"per_page=500", "per_page=100", "pagination=keyset&per_page=1000"} {
		r := get(t, srv.URL+"/api/v4/audit_events?"+q, adminToken)
		require.Equal(t, http.StatusOK, r.status)
		assert.Len(t, r.ids(t), 100, q)
		if !strings.Contains(q, "keyset") {
			assert.Equal(t, "100", r.header.Get("X-Per-Page"))
			assert.Equal(t, "3", r.header.Get("X-Total-Pages"))
		}
	}
	r := get(t, srv.URL+"/api/v4/audit_events", adminToken)
	assert.Len(t, r.ids(t), 20, "default per_page")
	small := New(Options{Tokens: testTokens(), MaxPerPage: 10})
	small.GenerateWith(GenerateOptions{Count: 30, From: baseTime, To: baseTime, SavedOnly: true})
	srv2 := httptestServer(t, small)
	assert.Len(t, get(t, srv2+"/api/v4/audit_events?per_page=50", adminToken).ids(t), 10)
}

func TestKeysetWalkReturnsEveryEventOnce(t *testing.T) {
	s, srv := newSim(t, Options{Seed: 7, GroupRollup: true})
	s.Generate(20_000, baseTime, baseTime.Add(6*time.Hour))
	after, before := baseTime.Add(time.Hour), baseTime.Add(5*time.Hour)
	want := map[int64]bool{}
	for _, e := range s.Events() {
		if !e.CreatedAt.Before(after) && !e.CreatedAt.After(before) {
			want[e.ID] = true
		}
	}
	require.Greater(t, len(want), 5000)

	q := url.Values{}
	q.Set("pagination", "keyset")
	q.Set("order_by", "id")
	q.Set("sort", "desc")
	q.Set("per_page", "100")
	q.Set("created_after", after.Format(time.RFC3339Nano))
	q.Set("created_before", before.Format(time.RFC3339Nano))
	got := map[int64]bool{}
	var prev int64 = 1 << 62
	pages := 0
	for u := srv.URL + "/api/v4/audit_events?" + q.Encode(); u != ""; pages++ {
		r := get(t, u, adminToken)
		require.Equal(t, http.StatusOK, r.status, string(r.body))
		assert.Empty(t, r.header.Values("X-Total"), "keyset answers carry no totals")
		for _, id := range r.ids(t) {
			require.Less(t, id, prev, "newest first across pages")
			require.False(t, got[id], "id %d returned twice", id)
			got[id] = true
			prev = id
		}
		u = nextLink(r.header)
		if u != "" {
			nu, err := url.Parse(u)
			require.NoError(t, err)
			for _, k := range []string{"pagination", "order_by", "sort", "per_page", "created_after", "created_before"} {
				assert.Equal(t, q.Get(k), nu.Query().Get(k), "next link repeats %s", k)
			}
			require.NotEmpty(t, nu.Query().Get("cursor"))
		}
	}
	assert.Equal(t, want, got)
	assert.Equal(t, (len(want)+99)/100, pages)

	// The group feed of acme rolls up acme/platform and its projects.
	groupWant := map[int64]bool{}
	for _, e := range s.Events() {
		if (e.Entity.Type == EntityGroup && (e.Entity.ID == 10 || e.Entity.ID == 11)) ||
			(e.Entity.Type == EntityProject && (e.Entity.ID == 100 || e.Entity.ID == 101)) {
			groupWant[e.ID] = true
		}
	}
	groupGot := map[int64]bool{}
	for u := srv.URL + "/api/v4/groups/acme/audit_events?pagination=keyset&per_page=100"; u != ""; {
		r := get(t, u, ownerToken)
		require.Equal(t, http.StatusOK, r.status)
		for _, id := range r.ids(t) {
			require.False(t, groupGot[id])
			groupGot[id] = true
		}
		u = nextLink(r.header)
	}
	assert.Equal(t, groupWant, groupGot)
}

func TestKeysetErrors(t *testing.T) {
	s, srv := newSim(t, Options{})
	insertAt(s, "project_archived", projectE(100), 2, baseTime)
	unavailable := `{"error":"Keyset pagination is not yet available for this type of request"}`
	tests := []struct {
		name   string
		query  string
		status int
		body   string
	}{
		{"order_by created_at", "pagination=keyset&order_by=created_at&sort=desc", http.StatusMethodNotAllowed, unavailable},
		{"ascending", "pagination=keyset&order_by=id&sort=asc", http.StatusMethodNotAllowed, unavailable},
		{"bad cursor", "pagination=keyset&cursor=%21%21", http.StatusBadRequest, `{"message":"400 Bad request - Invalid cursor parameter"}`},
		{"defaults are id desc", "pagination=keyset", http.StatusOK, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := get(t, srv.URL+"/api/v4/audit_events?"+tt.query, adminToken)
			assert.Equal(t, tt.status, r.status)
			if tt.body != "" {
				assert.JSONEq(t, tt.body, string(r.body))
			}
		})
	}

	old, oldSrv := newSim(t, Options{NoKeyset: true})
	insertAt(old, "project_archived", projectE(100), 2, baseTime)
	r := get(t, oldSrv.URL+"/api/v4/groups/10/audit_events?pagination=keyset&order_by=id&sort=desc", ownerToken)
	assert.Equal(t, http.StatusMethodNotAllowed, r.status)
	assert.JSONEq(t, unavailable, string(r.body))
	r = get(t, oldSrv.URL+"/api/v4/projects/100/audit_events?page=1", ownerToken)
	assert.Equal(t, http.StatusOK, r.status, "offset still works")
	assert.Len(t, r.ids(t), 1)
}

func TestErrors(t *testing.T) {
	s, srv := newSim(t, Options{})
	insertAt(s, "project_archived", projectE(100), 2, baseTime)
	insertAt(s, "project_archived", projectE(102), 2, baseTime)
	_, freeSrv := newSim(t, Options{Tier: TierFree})
	_, premiumSrv := newSim(t, Options{Tier: TierPremium})
	tests := []struct {
		name   string
		base   string
		method string
		path   string
		token  string
		status int
		body   string
	}{
		{"no token", srv.URL, "GET", "/api/v4/audit_events", "", 401, `{"message":"401 Unauthorized"}`},
		{"unknown token", srv.URL, "GET", "/api/v4/groups/10/audit_events", "glpat-nope", 401, `{"message":"401 Unauthorized"}`},
		{"instance needs admin", srv.URL, "GET", "/api/v4/audit_events", ownerToken, 403, `{"message":"403 Forbidden"}`},
		{"instance single needs admin", srv.URL, "GET", "/api/v4/audit_events/1", ownerToken, 403, `{"message":"403 Forbidden"}`},
		{"free tier instance", freeSrv.URL, "GET", "/api/v4/audit_events", adminToken, 403, `{"message":"403 Forbidden"}`},
		{"free tier group", freeSrv.URL, "GET", "/api/v4/groups/10/audit_events", ownerToken, 403, `{"message":"403 Forbidden"}`},
		{"free tier project", freeSrv.URL, "GET", "/api/v4/projects/100/audit_events", adminToken, 403, `{"message":"403 Forbidden"}`},
		{"free tier unknown group is 404 first", freeSrv.URL, "GET", "/api/v4/groups/999/audit_events", adminToken, 404, `{"message":"404 Group Not Found"}`},
		{"premium works", premiumSrv.URL, "GET", "/api/v4/audit_events", adminToken, 200, `[]`},
		{"unknown group", srv.URL, "GET", "/api/v4/groups/999/audit_events", adminToken, 404, `{"message":"404 Group Not Found"}`},
		{"unknown group path", srv.URL, "GET", "/api/v4/groups/nope%2Fnope/audit_events", adminToken, 404, `{"message":"404 Group Not Found"}`},
		{"group without membership", srv.URL, "GET", "/api/v4/groups/12/audit_events", ownerToken, 404, `{"message":"404 Group Not Found"}`},
		{"unknown project", srv.URL, "GET", "/api/v4/projects/999/audit_events", adminToken, 404, `{"message":"404 Project Not Found"}`},
		{"project without membership", srv.URL, "GET", "/api/v4/projects/102/audit_events", outsiderToken, 404, `{"message":"404 Project Not Found"}`},
		{"reporter", srv.URL, "GET", "/api/v4/groups/10/audit_events", reporterToken, 403, `{"message":"403 Forbidden"}`},
		{"reporter inherited on project", srv.URL, "GET", "/api/v4/projects/100/audit_events", reporterToken, 403, `{"message":"403 Forbidden"}`},
		// ee/lib/ee/api/groups.rb, projects.rb: the single-event route uses
		// the same author filter, then find_by!: someone else's event is 404.
		{"developer on group single (filter_by_author)", srv.URL, "GET", "/api/v4/groups/10/audit_events/1", devToken, 404, `{"message":"404 Not found"}`},
		{"developer on project single (filter_by_author)", srv.URL, "GET", "/api/v4/projects/100/audit_events/1", projDevToken, 404, `{"message":"404 Not found"}`},
		{"single event of another project", srv.URL, "GET", "/api/v4/projects/100/audit_events/2", adminToken, 404, `{"message":"404 Not found"}`},
		{"single event unknown", srv.URL, "GET", "/api/v4/audit_events/77", adminToken, 404, `{"message":"404 Not found"}`},
		{"single event bad id", srv.URL, "GET", "/api/v4/projects/100/audit_events/abc", adminToken, 400, `{"error":"audit_event_id is invalid"}`},
		{"unknown route", srv.URL, "GET", "/api/v4/audit_eventz", adminToken, 404, `{"error":"404 Not Found"}`},
		{"unencoded path is no route", srv.URL, "GET", "/api/v4/projects/acme/platform/api/audit_events", adminToken, 404, `{"error":"404 Not Found"}`},
		{"post", srv.URL, "POST", "/api/v4/audit_events", adminToken, 405, `{"error":"405 Not Allowed"}`},
		{"entity_id needs entity_type", srv.URL, "GET", "/api/v4/audit_events?entity_id=100", adminToken, 400, `{"error":"entity_type is missing"}`},
		{"bad entity_type", srv.URL, "GET", "/api/v4/audit_events?entity_type=Repo", adminToken, 400, `{"error":"entity_type does not have a valid value"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(tt.method, tt.base+tt.path, nil)
			require.NoError(t, err)
			if tt.token != "" {
				req.Header.Set("PRIVATE-TOKEN", tt.token)
			}
			r := do(t, req)
			assert.Equal(t, tt.status, r.status)
			assert.JSONEq(t, tt.body, string(r.body))
			assert.Equal(t, "application/json", r.header.Get("Content-Type"))
		})
	}
}

func TestTokenPresentation(t *testing.T) {
	s, srv := newSim(t, Options{})
	insertAt(s, "project_archived", projectE(100), 2, baseTime)
	req, err := http.NewRequest(http.MethodGet, srv.URL+"/api/v4/audit_events", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+adminToken)
	assert.Equal(t, http.StatusOK, do(t, req).status)

	r := get(t, srv.URL+"/api/v4/audit_events?private_token="+adminToken+"&per_page=1", "")
	assert.Equal(t, http.StatusOK, r.status)
	assert.NotContains(t, r.header.Get("Link"), adminToken, "tokens are not repeated in links")

	logs := s.Requests()
	require.Len(t, logs, 2)
	assert.Equal(t, 2, s.RequestCount())
	for _, l := range logs {
		assert.NotContains(t, l.Token, adminToken)
		assert.NotContains(t, l.Query, adminToken)
		assert.True(t, strings.HasPrefix(l.Token, "sha256:"), l.Token)
		assert.Equal(t, http.StatusOK, l.Status)
	}
	assert.Equal(t, "private_token=[FILTERED]&per_page=1", logs[1].Query)
	get(t, srv.URL+"/api/v4/audit_events", "")
	assert.Equal(t, "absent", s.Requests()[2].Token)
	assert.Equal(t, http.StatusUnauthorized, s.Requests()[2].Status)
	s.ResetRequests()
	assert.Zero(t, s.RequestCount())
}

func TestRateLimit(t *testing.T) {
	clock := &fakeClock{t: time.Date(2024, 6, 1, 10, 0, 15, 0, time.UTC)}
	s, srv := newSim(t, Options{RateLimitPerMinute: 3, Now: clock.Now})
	insertAt(s, "project_archived", projectE(100), 2, baseTime)
	path := srv.URL + "/api/v4/projects/100/audit_events"
	for i := 1; i <= 3; i++ {
		r := get(t, path, ownerToken)
		require.Equal(t, http.StatusOK, r.status)
		assert.Equal(t, "throttle_authenticated_api", r.header.Get("RateLimit-Name"))
		assert.Equal(t, "3", r.header.Get("RateLimit-Limit"))
		assert.Equal(t, strconv.Itoa(i), r.header.Get("RateLimit-Observed"))
		assert.Equal(t, strconv.Itoa(3-i), r.header.Get("RateLimit-Remaining"))
		assert.Equal(t, "1717236060", r.header.Get("RateLimit-Reset"))
	}
	r := get(t, path, ownerToken)
	assert.Equal(t, http.StatusTooManyRequests, r.status)
	assert.Equal(t, "Retry later\n", string(r.body))
	assert.Equal(t, "text/plain", r.header.Get("Content-Type"))
	assert.Equal(t, "45", r.header.Get("Retry-After"))
	assert.Equal(t, "Sat, 01 Jun 2024 10:01:00 GMT", r.header.Get("RateLimit-ResetTime"))
	assert.Equal(t, "0", r.header.Get("RateLimit-Remaining"))

	assert.Equal(t, http.StatusOK, get(t, path, adminToken).status, "limits are per token")

	clock.Add(45 * time.Second)
	r = get(t, path, ownerToken)
	assert.Equal(t, http.StatusOK, r.status, "a new window")
	assert.Equal(t, "1", r.header.Get("RateLimit-Observed"))

	_, unlimited := newSim(t, Options{})
	assert.Empty(t, get(t, unlimited.URL+"/api/v4/audit_events", adminToken).header.Get("RateLimit-Limit"))
}

func TestFailNext(t *testing.T) {
	s, srv := newSim(t, Options{})
	insertAt(s, "project_archived", projectE(100), 2, baseTime)
	s.FailNext(2, http.StatusBadGateway)
	for range 2 {
		r := get(t, srv.URL+"/api/v4/audit_events", adminToken)
		assert.Equal(t, http.StatusBadGateway, r.status)
		assert.JSONEq(t, `{"message":"502 Bad Gateway"}`, string(r.body))
	}
	assert.Equal(t, http.StatusOK, get(t, srv.URL+"/api/v4/audit_events", adminToken).status)
	s.FailNext(1, http.StatusInternalServerError)
	r := get(t, srv.URL+"/api/v4/audit_events", "")
	assert.Equal(t, http.StatusInternalServerError, r.status, "failures come before authentication")
	assert.JSONEq(t, `{"message":"500 Internal Server Error"}`, string(r.body))
	assert.Equal(t, http.StatusUnauthorized, get(t, srv.URL+"/api/v4/audit_events", "").status)
}

func TestPathEncodedIDs(t *testing.T) {
	s, srv := newSim(t, Options{})
	g := insertAt(s, "group_created", groupE(11), 2, baseTime)
	p := insertAt(s, "project_archived", projectE(100), 2, baseTime)
	tests := []struct {
		path string
		want int64
	}{
		{"/api/v4/groups/11/audit_events", g.ID},
		{"/api/v4/groups/acme%2Fplatform/audit_events", g.ID},
		{"/api/v4/groups/ACME%2Fplatform/audit_events", g.ID},
		{"/api/v4/projects/100/audit_events", p.ID},
		{"/api/v4/projects/acme%2Fplatform%2Fapi/audit_events", p.ID},
		{"/api/v4/projects/acme%2fplatform%2fapi/audit_events", p.ID},
	}
	for _, tt := range tests {
		r := get(t, srv.URL+tt.path, adminToken)
		require.Equal(t, http.StatusOK, r.status, tt.path)
		assert.Equal(t, []int64{tt.want}, r.ids(t), tt.path)
	}
	one := get(t, srv.URL+"/api/v4/projects/acme%2Fplatform%2Fapi/audit_events/2", adminToken)
	assert.Equal(t, p.RESTJSON, one.body)
}

func TestRoleFiltering(t *testing.T) {
	s, srv := newSim(t, Options{})
	// Events by bob (3), carol (4), erin (6), frank (7) and alice (2) on
	// the group acme/platform and on the project acme/platform/api.
	for _, author := range []int64{2, 3, 4, 6, 7} {
		insertAt(s, "group_created", groupE(11), author, baseTime)
		insertAt(s, "project_archived", projectE(100), author, baseTime)
	}
	authors := func(r result) []int64 {
		var out []int64
		for _, e := range r.events(t) {
			out = append(out, int64(e["author_id"].(float64)))
		}
		slices.Sort(out)
		return out
	}
	tests := []struct {
		name  string
		path  string
		token string
		want  []int64
	}{
		{"group owner sees all (inherited)", "/api/v4/groups/11/audit_events", ownerToken, []int64{2, 3, 4, 6, 7}},
		{"group developer sees own", "/api/v4/groups/11/audit_events", devToken, []int64{3}},
		{"group maintainer sees own", "/api/v4/groups/11/audit_events", maintToken, []int64{4}},
		{"admin sees all", "/api/v4/groups/11/audit_events", adminToken, []int64{2, 3, 4, 6, 7}},
		{"project developer sees own", "/api/v4/projects/100/audit_events", projDevToken, []int64{6}},
		{"project maintainer sees all", "/api/v4/projects/100/audit_events", projMaintToken, []int64{2, 3, 4, 6, 7}},
		{"group maintainer is project maintainer", "/api/v4/projects/100/audit_events", maintToken, []int64{2, 3, 4, 6, 7}},
		{"group developer is project developer", "/api/v4/projects/100/audit_events", devToken, []int64{3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, q := range []string{"", "?pagination=keyset"} {
				r := get(t, srv.URL+tt.path+q, tt.token)
				require.Equal(t, http.StatusOK, r.status, string(r.body))
				assert.Equal(t, tt.want, authors(r), q)
			}
		})
	}
	// Auditors may read every feed but, in the API, see only their own
	// events: filter_by_author asks for admin_group / admin_project, which
	// auditors lack (only the web page, Groups::AuditEventsController,
	// adds user.auditor?).
	auditor := Token{UserID: 6, Auditor: true}
	s.SetToken("glpat-auditor", auditor)
	for _, path := range []string{"/api/v4/projects/100/audit_events", "/api/v4/groups/11/audit_events"} {
		r := get(t, srv.URL+path, "glpat-auditor")
		require.Equal(t, http.StatusOK, r.status, path)
		assert.Equal(t, []int64{6}, authors(r), path)
	}
}

func TestLateCommit(t *testing.T) {
	s, srv := newSim(t, Options{})
	for i := range 5 {
		insertAt(s, "project_archived", projectE(100), 2, baseTime.Add(time.Duration(i)*time.Minute))
	}
	for i := range 5 {
		insertAt(s, "project_archived", projectE(100), 2, baseTime.Add(time.Hour+time.Duration(i)*time.Minute))
	}
	window := "created_after=2024-06-01T10:00:00Z&created_before=2024-06-01T10:30:00Z"
	for _, q := range []string{"", "&pagination=keyset&per_page=2"} {
		var before []int64
		for u := srv.URL + "/api/v4/audit_events?" + window + q; u != ""; {
			r := get(t, u, adminToken)
			before = append(before, r.ids(t)...)
			u = nextLink(r.header)
		}
		assert.Equal(t, []int64{5, 4, 3, 2, 1}, before)
	}

	// A transaction that started at 10:02:30 commits now: higher id, older created_at.
	late := insertAt(s, "project_archived", projectE(100), 3, baseTime.Add(2*time.Minute+30*time.Second))
	assert.EqualValues(t, 11, late.ID)
	for _, q := range []string{"", "&pagination=keyset&per_page=2"} {
		var after []int64
		for u := srv.URL + "/api/v4/audit_events?" + window + q; u != ""; {
			r := get(t, u, adminToken)
			after = append(after, r.ids(t)...)
			u = nextLink(r.header)
		}
		assert.Equal(t, []int64{11, 5, 4, 3, 2, 1}, after, "the late event comes first (highest id)")
	}
	// Still visible in the project feed, and newest windows are unaffected.
	assert.Equal(t, []int64{11, 5, 4, 3, 2, 1}, get(t, srv.URL+"/api/v4/projects/100/audit_events?"+window, adminToken).ids(t))
	assert.Equal(t, []int64{10, 9, 8, 7, 6}, get(t, srv.URL+"/api/v4/audit_events?created_after=2024-06-01T11:00:00Z", adminToken).ids(t))
	// Offset paging over several runs.
	r := get(t, srv.URL+"/api/v4/audit_events?per_page=4&page=2", adminToken)
	assert.Equal(t, []int64{7, 6, 5, 4}, r.ids(t))
	assert.Equal(t, "11", r.header.Get("X-Total"))
}

func TestGroupScope(t *testing.T) {
	for _, rollup := range []bool{false, true} {
		t.Run(fmt.Sprint("rollup=", rollup), func(t *testing.T) {
			s, srv := newSim(t, Options{GroupRollup: rollup})
			top := insertAt(s, "group_created", groupE(10), 2, baseTime)
			sub := insertAt(s, "group_created", groupE(11), 2, baseTime)
			proj := insertAt(s, "project_archived", projectE(100), 2, baseTime)
			insertAt(s, "project_archived", projectE(102), 2, baseTime)
			destroyed, err := s.BuildEvent("project_destroyed", baseTime, false)
			require.NoError(t, err)
			destroyed.Entity = groupE(10)
			d := s.Insert(destroyed)
			want := []int64{d.ID, top.ID}
			if rollup {
				want = []int64{d.ID, proj.ID, sub.ID, top.ID}
			}
			assert.Equal(t, want, get(t, srv.URL+"/api/v4/groups/acme/audit_events", ownerToken).ids(t))
			var walked []int64
			for u := srv.URL + "/api/v4/groups/acme/audit_events?pagination=keyset&per_page=1"; u != ""; {
				r := get(t, u, ownerToken)
				walked = append(walked, r.ids(t)...)
				u = nextLink(r.header)
			}
			assert.Equal(t, want, walked)
			// project_destroyed is scoped to the group: not in the project feed.
			assert.Equal(t, []int64{proj.ID}, get(t, srv.URL+"/api/v4/projects/100/audit_events", ownerToken).ids(t))
			single := get(t, srv.URL+fmt.Sprintf("/api/v4/groups/10/audit_events/%d", proj.ID), ownerToken)
			if rollup {
				assert.Equal(t, http.StatusOK, single.status)
			} else {
				assert.Equal(t, http.StatusNotFound, single.status)
			}
		})
	}
}

func TestInstanceEntityFilter(t *testing.T) {
	s, srv := newSim(t, Options{})
	insertAt(s, "project_archived", projectE(100), 2, baseTime)
	insertAt(s, "project_archived", projectE(101), 2, baseTime)
	insertAt(s, "group_created", groupE(10), 2, baseTime)
	insertAt(s, "user_created", Entity{Type: EntityUser, ID: 3}, 1, baseTime)
	insertAt(s, "application_setting_updated", InstanceEntity, 1, baseTime)
	tests := []struct {
		query string
		want  []int64
	}{
		{"entity_type=Project", []int64{2, 1}},
		{"entity_type=Project&entity_id=101", []int64{2}},
		{"entity_type=Group", []int64{3}},
		{"entity_type=User&entity_id=3", []int64{4}},
		{"entity_type=Gitlab::Audit::InstanceScope", []int64{5}},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, get(t, srv.URL+"/api/v4/audit_events?"+tt.query, adminToken).ids(t), tt.query)
	}
}

func TestRESTShape(t *testing.T) {
	s, srv := newSim(t, Options{})
	se := s.Insert(Event{
		Type:          "member_updated",
		Entity:        groupE(10),
		Author:        Author{ID: 1},
		Target:        Target{ID: int64(3), Type: "User", Details: "Bob Okafor"},
		CustomMessage: "Membership updated",
		IPAddress:     "192.0.2.7",
		Details: map[string]any{
			"change": "access_level", "from": "Developer", "to": "Default role: Maintainer",
			"as": "Default role: Maintainer", "expiry_from": nil, "member_id": 987,
			"author_name": "ignored: reserved key",
		},
		CreatedAt: baseTime,
	})
	want := `{"id":1,"author_id":1,"entity_id":10,"entity_type":"Group","event_name":"member_updated",
		"details":{"event_name":"member_updated","as":"Default role: Maintainer","change":"access_level",
		"expiry_from":null,"from":"Developer","member_id":987,"to":"Default role: Maintainer",
		"author_name":"Administrator","author_class":"User","target_id":3,"target_type":"User",
		"target_details":"Bob Okafor","custom_message":"Membership updated","ip_address":"192.0.2.7",
		"entity_path":"acme","author_email":"admin@example.com"},"created_at":"2024-06-01T10:00:00.000Z"}`
	assert.JSONEq(t, want, string(se.RESTJSON))
	r := get(t, srv.URL+"/api/v4/groups/10/audit_events", ownerToken)
	assert.JSONEq(t, "["+want+"]", string(r.body))

	// from/to: strings in REST, raw in the stream.
	b := s.Insert(Event{Type: "ci_variable_updated", Entity: projectE(100), Author: Author{ID: 2},
		Details: map[string]any{"change": "variable protection", "from": true, "to": false}, CreatedAt: baseTime})
	var rest, stream struct {
		ID      any            `json:"id"`
		Details map[string]any `json:"details"`
	}
	require.NoError(t, json.Unmarshal(b.RESTJSON, &rest))
	require.NoError(t, json.Unmarshal(b.StreamJSON, &stream))
	assert.Equal(t, "true", rest.Details["from"])
	assert.Equal(t, "false", rest.Details["to"])
	assert.Equal(t, true, stream.Details["from"])
	assert.Equal(t, false, stream.Details["to"])
	assert.NotContains(t, stream.Details, "author_email")
	assert.Contains(t, rest.Details, "author_email")
	assert.EqualValues(t, b.ID, rest.ID)
	assert.EqualValues(t, b.ID, stream.ID, "the stream carries the same numeric id")

	// Special authors and null IP.
	sys := s.Insert(Event{Type: "member_destroyed", Entity: groupE(10), Author: Author{ID: AuthorIDUnauthenticated, Name: "(System)"}, CreatedAt: baseTime})
	var sm map[string]any
	require.NoError(t, json.Unmarshal(sys.RESTJSON, &sm))
	d := sm["details"].(map[string]any)
	assert.Equal(t, "Gitlab::Audit::UnauthenticatedAuthor", d["author_class"])
	assert.Nil(t, d["author_email"])
	assert.Nil(t, d["ip_address"])
	assert.Equal(t, "acme", d["target_details"], "the target defaults to the entity")
}

func TestOptionsChangeRendering(t *testing.T) {
	loc := time.FixedZone("CEST", 2*3600)
	s, _ := newSim(t, Options{Location: loc, NoEventName: true, StartID: 5000})
	se := insertAt(s, "project_archived", projectE(100), 2, baseTime)
	assert.EqualValues(t, 5000, se.ID)
	assert.Contains(t, string(se.RESTJSON), `"created_at":"2024-06-01T12:00:00.000+02:00"`)
	assert.NotContains(t, string(se.RESTJSON), "event_name")
	assert.Contains(t, string(se.StreamJSON), `"event_type":"project_archived"`)

	legacy := s.Insert(Event{Type: "member_created", Legacy: true, Entity: groupE(10), Author: Author{ID: 1},
		Details: map[string]any{"add": "user_access", "as": "Maintainer"}, CreatedAt: baseTime})
	assert.NotContains(t, string(legacy.RESTJSON), "author_class")
	assert.Contains(t, string(legacy.StreamJSON), `"event_type":"audit_operation"`)
	assert.Equal(t, "audit_operation", legacy.StreamType)
}

func TestHealth(t *testing.T) {
	s, srv := newSim(t, Options{})
	r := get(t, srv.URL+"/-/health", "")
	assert.Equal(t, http.StatusOK, r.status)
	assert.Equal(t, "GitLab OK", string(r.body))
	assert.Zero(t, s.RequestCount(), "health checks are not API requests")
}

func TestConcurrentReadsAndWrites(t *testing.T) {
	s, srv := newSim(t, Options{Seed: 3})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 20 {
			s.Generate(500, baseTime.Add(time.Duration(i)*time.Minute), baseTime.Add(time.Duration(i+1)*time.Minute))
			insertAt(s, "project_archived", projectE(100), 2, baseTime)
		}
	}()
	for range 50 {
		r := get(t, srv.URL+"/api/v4/audit_events?pagination=keyset&per_page=100", adminToken)
		require.Equal(t, http.StatusOK, r.status)
		ids := r.ids(t)
		require.True(t, slices.IsSortedFunc(ids, func(a, b int64) int { return int(b - a) }))
	}
	<-done
	assert.Len(t, s.Events(), s.EventCount())
}

func httptestServer(t *testing.T, s *Sim) string {
	t.Helper()
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	return srv.URL
}
