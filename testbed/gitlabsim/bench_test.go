// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package gitlabsim

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

const benchEvents = 1_000_000

// BenchmarkGenerate1M measures generating and storing one million
// REST-visible events (both renderings).
func BenchmarkGenerate1M(b *testing.B) {
	for b.Loop() {
		s := New(Options{Seed: 1, LegacyShare: 0.05})
		s.GenerateWith(GenerateOptions{Count: benchEvents, From: baseTime, To: baseTime.Add(24 * time.Hour), SavedOnly: true})
		if s.EventCount() != benchEvents {
			b.Fatalf("stored %d events", s.EventCount())
		}
	}
	b.ReportMetric(float64(benchEvents)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// benchSim returns a simulator holding one million saved events over a
// day, behind an httptest server.
func benchSim(b *testing.B) (*Sim, *httptest.Server) {
	b.Helper()
	s := New(Options{Seed: 1, Tokens: map[string]Token{adminToken: {UserID: 1, Admin: true}}, GroupRollup: true})
	s.Populate(DefaultGroups, DefaultProjects)
	s.GenerateWith(GenerateOptions{Count: benchEvents, From: baseTime, To: baseTime.Add(24 * time.Hour), SavedOnly: true})
	srv := httptest.NewServer(s)
	b.Cleanup(srv.Close)
	return s, srv
}

// walk follows rel="next" from u and returns the number of events read.
// It counts events without decoding them, to measure the simulator.
func walk(b *testing.B, client *http.Client, u string) int {
	b.Helper()
	n := 0
	for u != "" {
		req, err := http.NewRequest(http.MethodGet, u, nil)
		if err != nil {
			b.Fatal(err)
		}
		req.Header.Set("PRIVATE-TOKEN", adminToken)
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			b.Fatalf("status %d: %v", resp.StatusCode, err)
		}
		// Each event object opens with {"id": (details never do).
		page := bytes.Count(body, []byte(`{"id":`))
		n += page
		u = nextLink(resp.Header)
	}
	return n
}

// BenchmarkKeysetWalk1M walks one million events over HTTP with keyset
// pagination (10,000 pages of 100), as a backfill does.
func BenchmarkKeysetWalk1M(b *testing.B) {
	_, srv := benchSim(b)
	client := srv.Client()
	u := srv.URL + "/api/v4/audit_events?pagination=keyset&order_by=id&sort=desc&per_page=100" +
		"&created_after=2024-06-01T00:00:00Z&created_before=2024-06-03T00:00:00Z"
	for b.Loop() {
		if n := walk(b, client, u); n != benchEvents {
			b.Fatalf("walked %d events", n)
		}
	}
	b.ReportMetric(float64(benchEvents)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkRollupPage reads one keyset page and one deep offset page of a
// rolled-up group feed within a window of a million-event store.
func BenchmarkRollupPage(b *testing.B) {
	s, srv := benchSim(b)
	s.SetToken(ownerToken, Token{UserID: 2, Groups: map[string]Role{"acme": Owner}})
	client := srv.Client()
	for _, q := range []string{
		"pagination=keyset&per_page=100&created_after=2024-06-01T06:00:00Z&created_before=2024-06-01T18:00:00Z",
		"page=500&per_page=100&created_after=2024-06-01T06:00:00Z",
	} {
		b.Run(q[:8], func(b *testing.B) {
			for b.Loop() {
				req, _ := http.NewRequest(http.MethodGet, srv.URL+"/api/v4/groups/acme/audit_events?"+q, nil)
				req.Header.Set("PRIVATE-TOKEN", ownerToken)
				resp, err := client.Do(req)
				if err != nil || resp.StatusCode != http.StatusOK {
					b.Fatal(err, resp.StatusCode)
				}
				_ = resp.Body.Close()
			}
		})
	}
}
