// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/kyra-mdr/otelcol-gitlab/testbed/benchevents"
)

func TestParseStatCPU(t *testing.T) {
	// The command name may contain spaces and parentheses.
	stat := "4242 (otelcol (x) y) S 1 4242 4242 0 -1 4194560 3000 0 0 0 250 75 0 0 20 0 12 0 100 0 0"
	d, err := parseStatCPU(stat)
	require.NoError(t, err)
	assert.Equal(t, 3250*time.Millisecond, d)

	_, err = parseStatCPU("garbage")
	require.Error(t, err)
	_, err = parseStatCPU("1 (x) S 1 2")
	require.Error(t, err)

	self, err := cpuTime(os.Getpid())
	require.NoError(t, err)
	assert.GreaterOrEqual(t, self, time.Duration(0))
}

func TestParseStatusKB(t *testing.T) {
	status := "Name:\totelcol\nVmPeak:\t  900 kB\nVmHWM:\t  204800 kB\nVmRSS:\t  102400 kB\n"
	n, err := parseStatusKB(strings.NewReader(status), "VmHWM")
	require.NoError(t, err)
	assert.Equal(t, int64(200<<20), n)
	_, err = parseStatusKB(strings.NewReader(status), "VmSwap")
	require.Error(t, err)
	_, err = parseStatusKB(strings.NewReader("VmHWM:\tlots kB\n"), "VmHWM")
	require.Error(t, err)

	rss, err := peakRSS(os.Getpid())
	require.NoError(t, err)
	assert.Positive(t, rss)
}

func TestPercentile(t *testing.T) {
	var d []time.Duration
	for i := 1; i <= 100; i++ {
		d = append(d, time.Duration(i))
	}
	assert.Equal(t, time.Duration(50), percentile(d, 50))
	assert.Equal(t, time.Duration(99), percentile(d, 99))
	assert.Equal(t, time.Duration(100), percentile(d, 100))
	assert.Equal(t, time.Duration(1), percentile(d[:1], 99))
	assert.Equal(t, time.Duration(0), percentile(nil, 50))
}

func TestFormatting(t *testing.T) {
	assert.Equal(t, "0", thousands(0))
	assert.Equal(t, "999", thousands(999.4))
	assert.Equal(t, "1,000", thousands(999.6))
	assert.Equal(t, "1,234,567", thousands(1234567))
	assert.Equal(t, "250 µs", micros(250.2))
	assert.Equal(t, "12.5 ms", micros(12500))
}

const goBenchOutput = `goos: linux
pkg: github.com/kyra-mdr/otelcol-gitlab/receiver/gitlabauditreceiver
BenchmarkPollDecode/gitlab_audit         	    2690	    483053 ns/op	        45.91 allocs/event	    200000 events/s	      4831 ns/event	  293621 B/op	    4591 allocs/op
BenchmarkPollDecode/encoding_json+FromRaw         	    1372	    829354 ns/op	        90.31 allocs/event	    100000 events/s	      8294 ns/event	  339929 B/op	    9030 allocs/op
BenchmarkPollDecode/gitlab_audit         	    2690	    483053 ns/op	        45.91 allocs/event	    240000 events/s	      4831 ns/event	  293621 B/op	    4591 allocs/op
BenchmarkPollDecode/encoding_json+FromRaw         	    1372	    829354 ns/op	        90.31 allocs/event	    110000 events/s	      8294 ns/event	  339929 B/op	    9030 allocs/op
BenchmarkPollDecode/gitlab_audit         	    2690	    483053 ns/op	        45.91 allocs/event	    220000 events/s	      4831 ns/event	  293621 B/op	    4591 allocs/op
BenchmarkPollDecode/encoding_json+FromRaw         	    1372	    829354 ns/op	        90.31 allocs/event	    120000 events/s	      8294 ns/event	  339929 B/op	    9030 allocs/op
BenchmarkStreamHandler-2 	  110448	     11404 ns/op	     11404 ns/event	    6035 B/op	      84 allocs/op
PASS
BenchmarkProcessLogs/nomatch-2         	    9212	    127076 ns/op	         1.000 allocs/event	       127.1 ns/event	   16000 B/op	    1000 allocs/op
BenchmarkProcessLogs/nomatch+1000rules-2         	   10000	    113583 ns/op	         1.000 allocs/event	       113.6 ns/event	   16000 B/op	    1000 allocs/op
BenchmarkProcessLogs/evaluated_nomatch-2         	    4494	    270591 ns/op	         1.000 allocs/event	       270.6 ns/event	   16002 B/op	    1000 allocs/op
`

func TestGoBenchSummary(t *testing.T) {
	runs, err := parseGoBench(strings.NewReader(goBenchOutput))
	require.NoError(t, err)
	require.Len(t, runs, 6)
	assert.Equal(t, "BenchmarkStreamHandler", runs[2].name, "the GOMAXPROCS suffix is dropped")
	med, ok := runs[0].median("events/s")
	require.True(t, ok)
	assert.InDelta(t, 220000, med, 0)
	_, ok = runs[0].median("furlongs/op")
	assert.False(t, ok)

	var b strings.Builder
	require.NoError(t, goBenchMarkdown(&b, runs))
	md := b.String()
	assert.Contains(t, md, "| Poll decode, full path against bodies only | 220,000 | 110,000 | 2.00× | 45.9 | 90.3 |")
	assert.NotContains(t, md, "identical records", "no like-for-like results in this input")
	assert.NotContains(t, md, "Body decode", "a comparison without results is left out")
	assert.Contains(t, md, "| BenchmarkStreamHandler | 11,404 | 84 | 6,035 |")
	assert.Contains(t, md, "| evaluated_nomatch | 271 | 1.00 |")
	assert.Contains(t, md, "271 ns/event, target under 300 ns/event: met")
	assert.Contains(t, md, "Cost with 1,000 extra rules on other event types ÷ cost without: 0.89")
	assert.Contains(t, md, "Medians of 3 runs.")

	_, err = parseGoBench(strings.NewReader("PASS\n"))
	require.Error(t, err)
}

func TestRunGoBench(t *testing.T) {
	in := t.TempDir() + "/bench.txt"
	require.NoError(t, os.WriteFile(in, []byte(goBenchOutput), 0o600))
	var out bytes.Buffer
	require.NoError(t, run(context.Background(), []string{"gobench", "-in", in}, &out, io.Discard))
	assert.Contains(t, out.String(), "Poll decode")
	require.Error(t, run(context.Background(), []string{"gobench"}, &out, io.Discard))
	require.Error(t, run(context.Background(), []string{"nonsense"}, &out, io.Discard))
	require.Error(t, run(context.Background(), nil, &out, io.Discard))
}

func TestParseStreamFlags(t *testing.T) {
	o, err := parseStreamFlags([]string{"-collector", "bin", "-concurrency", "1, 4", "-targets", "gitlab_audit,otlp-string"}, io.Discard)
	require.NoError(t, err)
	assert.Equal(t, []int{1, 4}, o.levels)
	require.Len(t, o.targets, 2)
	assert.Equal(t, benchevents.BodyString, o.targets[1].body)

	for _, bad := range [][]string{
		{},
		{"-collector", "bin", "-targets", "grpc"},
		{"-collector", "bin", "-concurrency", "0"},
		{"-collector", "bin", "-duration", "0s"},
		{"-collector", "bin", "extra"},
	} {
		_, err := parseStreamFlags(bad, io.Discard)
		require.Error(t, err, bad)
	}
	_, err = parseBackfillFlags([]string{"-collector", "bin", "-events", "0"}, io.Discard)
	require.Error(t, err)
}

// TestLoaderSendsDistinctEvents runs the load loop against a fake
// endpoint of each kind and checks what arrived.
func TestLoaderSendsDistinctEvents(t *testing.T) {
	templates, err := benchevents.Events(1, 50)
	require.NoError(t, err)
	for _, tgt := range allTargets {
		t.Run(tgt.Name, func(t *testing.T) {
			var mu sync.Mutex
			ids := map[string]bool{}
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				body, err := io.ReadAll(r.Body)
				if !assert.NoError(t, err) {
					return
				}
				var id string
				if tgt.otlp {
					assert.Equal(t, "application/json", r.Header.Get("Content-Type"))
					ld, err := (&plog.JSONUnmarshaler{}).UnmarshalLogs(body)
					if !assert.NoError(t, err) || !assert.Equal(t, 1, ld.LogRecordCount()) {
						return
					}
					b := ld.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0).Body()
					if tgt.body == benchevents.BodyString {
						var ev map[string]any
						if !assert.NoError(t, json.Unmarshal([]byte(b.Str()), &ev)) {
							return
						}
						id = jsonText(ev["id"])
					} else {
						v, _ := b.Map().Get("id")
						id = v.AsString()
					}
				} else {
					assert.Equal(t, streamToken, r.Header.Get("X-Gitlab-Event-Streaming-Token"))
					assert.NotEmpty(t, r.Header.Get("X-Gitlab-Audit-Event-Type"))
					var ev map[string]any
					if !assert.NoError(t, json.Unmarshal(body, &ev)) {
						return
					}
					id = jsonText(ev["id"])
				}
				mu.Lock()
				assert.False(t, ids[id], "id %s sent twice", id)
				ids[id] = true
				mu.Unlock()
				_, _ = io.WriteString(w, "{}")
			}))
			defer srv.Close()

			seq := &atomic.Uint64{}
			seq.Store(1000)
			l := &loader{target: tgt, url: srv.URL + tgt.path, templates: templates, seq: seq, timeout: 5 * time.Second}
			r, err := l.run(context.Background(), 4, 50*time.Millisecond, 0)
			require.NoError(t, err)
			assert.Zero(t, r.Errors, r.FirstError)
			assert.Positive(t, r.Events)
			assert.Positive(t, r.BodyBytes)
			mu.Lock()
			assert.Len(t, ids, r.Events)
			mu.Unlock()

			var md strings.Builder
			require.NoError(t, streamMarkdown(&md, streamOptions{targets: []target{tgt}, levels: []int{4}, duration: time.Second, events: 50}, []streamResult{r}))
			assert.Contains(t, md.String(), "| "+tgt.Name+" | 4 |")
		})
	}
}

func jsonText(v any) string {
	raw, _ := json.Marshal(v)
	return strings.Trim(string(raw), `"`)
}

func TestLoaderReportsRefusals(t *testing.T) {
	templates, err := benchevents.Events(1, 5)
	require.NoError(t, err)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusUnauthorized)
	}))
	defer srv.Close()
	l := &loader{target: allTargets[0], url: srv.URL, templates: templates, seq: &atomic.Uint64{}, timeout: time.Second}
	_, err = l.run(context.Background(), 1, 20*time.Millisecond, 0)
	require.ErrorContains(t, err, "401")
}

func TestBackfillMarkdown(t *testing.T) {
	var b strings.Builder
	r := backfillResult{Events: 1000, Scopes: 1, WallSeconds: 2, PeakRSSBytes: 100 << 20, SimRequests: 13, FeedRequests: 10, MetricRequests: 13, FeedMetric: 10, PagesNeeded: 10, RequestsTarget: 11, AcceptedRecords: 1000}
	require.NoError(t, backfillMarkdown(&b, backfillOptions{commonOptions: commonOptions{config: "bench/backfill.yaml"}, span: time.Hour, perPage: 100}, r))
	assert.Contains(t, b.String(), "| Peak RSS of the collector (VmHWM) | 100.0 MiB |")
	assert.Contains(t, b.String(), "| Requests for pages of the feed (simulator's count) | 10 | ≤ 11 (10 pages + 1 per feed) |")
	assert.Contains(t, b.String(), "| 13 / 10 |")
}

func TestSoakFlagsAndReport(t *testing.T) {
	_, err := parseSoakFlags([]string{"-duration", "10s", "-interval", "1m"}, io.Discard)
	require.Error(t, err, "no -collector")
	_, err = parseSoakFlags([]string{"-collector", "x", "-duration", "10s", "-interval", "1m"}, io.Discard)
	require.Error(t, err, "duration shorter than one interval")
	o, err := parseSoakFlags([]string{"-collector", "x"}, io.Discard)
	require.NoError(t, err)
	assert.Equal(t, 10*time.Minute, o.duration)
	assert.Equal(t, 16, o.concurrency)

	res := soakResult{Intervals: []soakInterval{
		{streamResult: streamResult{EventsPerS: 1000}, End: 60, StorageBytes: 10 << 20},
		{streamResult: streamResult{EventsPerS: 700}, End: 120, StorageBytes: 30 << 20},
	}, LastOverFirst: 0.7, StorageGrowth: 3}
	var b bytes.Buffer
	require.NoError(t, soakMarkdown(&b, o, res))
	assert.Contains(t, b.String(), "| 120 s | 700 |")
	assert.Contains(t, b.String(), "**FAIL**")

	dir := t.TempDir()
	require.NoError(t, os.WriteFile(dir+"/a", make([]byte, 1000), 0o600))
	require.NoError(t, os.MkdirAll(dir+"/d", 0o755))
	require.NoError(t, os.WriteFile(dir+"/d/b", make([]byte, 24), 0o600))
	n, err := dirSize(dir)
	require.NoError(t, err)
	assert.Equal(t, int64(1024), n)
}

func TestFlakyFlagsAndReport(t *testing.T) {
	o, err := parseFlakyFlags([]string{"-collector", "x"}, io.Discard)
	require.NoError(t, err)
	assert.InDelta(t, 1.0/9, o.slowShare, 1e-9)
	assert.Equal(t, 40*time.Second, o.slowDelay)
	_, err = parseFlakyFlags([]string{"-collector", "x", "-slow-share", "2"}, io.Discard)
	require.Error(t, err)
	_, err = parseFlakyFlags([]string{"-collector", "x", "-events", "0"}, io.Discard)
	require.Error(t, err)

	r := flakyResult{Events: 12000, Feeds: 4, Ratio: 1.5,
		Healthy: flakyRun{Name: "healthy", Seconds: 10, Requests: 130, AuditEvents: 125, Accepted: 12000},
		Flaky:   flakyRun{Name: "flaky", Seconds: 15, Requests: 150, AuditEvents: 142, GivenUp: 14, Accepted: 12000}}
	var b strings.Builder
	require.NoError(t, flakyMarkdown(&b, o, r))
	assert.Contains(t, b.String(), "| flaky | 15.0 s | 150 | 142 | 14 | 12,000 | 0 |")
	assert.Contains(t, b.String(), "**1.50×**")
}
