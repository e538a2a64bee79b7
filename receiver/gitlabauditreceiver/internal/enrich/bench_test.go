// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package enrich

import (
	"context"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/kyra-mdr/otelcol-gitlab/receiver/gitlabauditreceiver/internal/auditlog"
	"github.com/kyra-mdr/otelcol-gitlab/receiver/gitlabauditreceiver/internal/gitlabapi"
	"github.com/kyra-mdr/otelcol-gitlab/testbed/gitlabsim"
)

// BenchmarkEnrich measures what enrichment adds to a batch of 1,000
// records of the natural mix of a busy instance (about 1% name an object):
// off (no token: the statuses skipped are written), and on with every
// lookup answered from the cache (the steady state: one request per object
// and author per cache TTL, measured by gitlab-loadgen enrich).
func BenchmarkEnrich(b *testing.B) {
	sim := gitlabsim.New(gitlabsim.Options{Seed: 9, Tokens: map[string]gitlabsim.Token{adminToken: {UserID: 1, Admin: true}}})
	sim.Populate(gitlabsim.DefaultGroups, gitlabsim.DefaultProjects)
	evs := sim.GenerateWith(gitlabsim.GenerateOptions{Count: 1000, From: t0.Add(-time.Hour), To: t0, NoStream: true})
	srv := httptest.NewServer(sim)
	defer srv.Close()
	u, err := url.Parse(srv.URL)
	require.NoError(b, err)
	client := gitlabapi.New(gitlabapi.Options{HTTPClient: srv.Client(), BaseURL: u, Token: adminToken, PerPage: 100, MaxConcurrent: 4})

	recs := plog.NewLogRecordSlice()
	for _, ev := range evs {
		_, err := auditlog.Fill(recs.AppendEmpty(), string(ev.StreamJSON), auditlog.SourceStream, "", pcommon.NewTimestampFromTime(t0))
		require.NoError(b, err)
	}
	for _, bc := range []struct {
		name string
		s    Settings
	}{
		{"off", Settings{Off: "enrichment needs GitLab's API: set endpoint and token"}},
		{"cached", Settings{Client: client}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			bc.s.Switches, bc.s.Timeout, bc.s.CacheEntries, bc.s.CacheTTL = all, 3*time.Second, 10_000, time.Hour
			en := New(bc.s)
			defer en.Shutdown()
			en.Enrich(context.Background(), recs) // fills the cache
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				en.Enrich(context.Background(), recs)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(recs.Len()), "ns/event")
		})
	}
	_ = sim.Close()
}
