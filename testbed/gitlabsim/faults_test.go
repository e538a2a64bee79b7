// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package gitlabsim

import (
	"context"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestDateHeaderFollowsTheSimulatorClock(t *testing.T) {
	skewed := baseTime.Add(-20 * time.Minute)
	s, srv := newSim(t, Options{Now: func() time.Time { return skewed }})
	ev := s.Insert(Event{Type: "user_created", Author: Author{ID: 1}})
	assert.Equal(t, skewed, ev.CreatedAt, "created_at stamped from the simulator's clock")

	res := get(t, srv.URL+"/api/v4/audit_events", adminToken)
	require.Equal(t, http.StatusOK, res.status)
	d, err := http.ParseTime(res.header.Get("Date"))
	require.NoError(t, err)
	assert.Equal(t, skewed, d)
}

func TestFaultsFailAShareOfRequestsReproducibly(t *testing.T) {
	s, srv := newSim(t, Options{Now: func() time.Time { return baseTime }})
	run := func() []int {
		s.SetFaults(Faults{FailShare: 0.25, FailStatus: http.StatusBadGateway, Seed: 7})
		var out []int
		for range 200 {
			out = append(out, get(t, srv.URL+"/api/v4/audit_events", adminToken).status)
		}
		return out
	}
	first := run()
	failed := 0
	for _, st := range first {
		if st == http.StatusBadGateway {
			failed++
		} else {
			require.Equal(t, http.StatusOK, st)
		}
	}
	assert.InDelta(t, 50, failed, 20, "about a quarter fail")
	assert.Equal(t, first, run(), "the same seed fails the same requests")

	s.SetFaults(Faults{})
	assert.Equal(t, http.StatusOK, get(t, srv.URL+"/api/v4/audit_events", adminToken).status)
}

func TestFaultsSlowRequestsOutlastAClientTimeout(t *testing.T) {
	s, srv := newSim(t, Options{Now: func() time.Time { return baseTime }})
	s.SetFaults(Faults{SlowShare: 1, SlowDelay: time.Second})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/api/v4/audit_events", http.NoBody)
	require.NoError(t, err)
	req.Header.Set("PRIVATE-TOKEN", adminToken)
	resp, err := http.DefaultClient.Do(req)
	if resp != nil {
		_ = resp.Body.Close()
	}
	require.ErrorIs(t, err, context.DeadlineExceeded)
}

func TestFaultsLongRangesFail(t *testing.T) {
	s, srv := newSim(t, Options{Now: func() time.Time { return baseTime }})
	s.SetFaults(Faults{MaxRange: 24 * time.Hour})
	list := srv.URL + "/api/v4/audit_events?created_after="
	assert.Equal(t, http.StatusOK, get(t, list+"2024-05-31T11:00:00Z", adminToken).status, "23 hours to now")
	assert.Equal(t, http.StatusInternalServerError, get(t, list+"2024-05-31T09:00:00Z", adminToken).status, "25 hours to now")
	assert.Equal(t, http.StatusOK, get(t, list+"2024-05-01T00:00:00Z&created_before=2024-05-01T23:00:00Z", adminToken).status)
	assert.Equal(t, http.StatusInternalServerError, get(t, srv.URL+"/api/v4/audit_events", adminToken).status, "no lower bound")
	ev := s.Insert(Event{Type: "user_created", Author: Author{ID: 1}})
	assert.Equal(t, http.StatusOK, get(t, srv.URL+"/api/v4/audit_events/"+strconv.FormatInt(ev.ID, 10), adminToken).status, "single events are cheap")
}

func TestFaultsLimitedToOnePath(t *testing.T) {
	s, srv := newSim(t, Options{Now: func() time.Time { return baseTime }})
	s.Populate(2, 2)
	s.SetFaults(Faults{FailShare: 1, FailStatus: http.StatusForbidden, Path: "/api/v4/groups/acme/audit_events"})
	for _, c := range []struct {
		path string
		want int
	}{
		{"/api/v4/groups/acme/audit_events", http.StatusForbidden},
		{"/api/v4/groups/acme/audit_events?per_page=20", http.StatusForbidden},
		{"/api/v4/groups/globex/audit_events", http.StatusOK},
		{"/api/v4/audit_events", http.StatusOK},
	} {
		assert.Equal(t, c.want, get(t, srv.URL+c.path, adminToken).status, c.path)
	}
	s.SetFaults(Faults{})
	assert.Equal(t, http.StatusOK, get(t, srv.URL+"/api/v4/groups/acme/audit_events", adminToken).status, "served again")
}

func TestFaultsLatencyAndSlowRanges(t *testing.T) {
	s, srv := newSim(t, Options{Now: func() time.Time { return baseTime }})
	list := srv.URL + "/api/v4/audit_events?created_after="
	for _, tt := range []struct {
		name     string
		faults   Faults
		url      string
		min, max time.Duration
	}{
		{"latency", Faults{Latency: 100 * time.Millisecond}, list + "2024-05-31T11:00:00Z", 100 * time.Millisecond, 2 * time.Second},
		{"short range", Faults{SlowRange: 24 * time.Hour, SlowDelay: 300 * time.Millisecond}, list + "2024-05-31T11:00:00Z", 0, 250 * time.Millisecond},
		{"long range", Faults{SlowRange: 24 * time.Hour, SlowDelay: 300 * time.Millisecond}, list + "2024-05-31T09:00:00Z", 300 * time.Millisecond, 3 * time.Second},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s.SetFaults(tt.faults)
			start := time.Now()
			assert.Equal(t, http.StatusOK, get(t, tt.url, adminToken).status)
			took := time.Since(start)
			assert.GreaterOrEqual(t, took, tt.min)
			assert.Less(t, took, tt.max)
		})
	}
}
