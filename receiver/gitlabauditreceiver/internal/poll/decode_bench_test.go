// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package poll

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/kyra-mdr/otelcol-gitlab/internal/jsonpdata"
	"github.com/kyra-mdr/otelcol-gitlab/receiver/gitlabauditreceiver/internal/auditlog"
	"github.com/kyra-mdr/otelcol-gitlab/receiver/gitlabauditreceiver/internal/testutil"
	"github.com/kyra-mdr/otelcol-gitlab/testbed/benchevents"
	"github.com/kyra-mdr/otelcol-gitlab/testbed/gitlabsim"
)

const pageSize = 100

// recordFactory starts a batch as the emitter does: one resource, one
// scope (what the emitter adds is the same on every path and not measured).
type recordFactory struct{}

func (recordFactory) newLogs() (plog.Logs, plog.LogRecordSlice) {
	logs := plog.NewLogs()
	return logs, logs.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords()
}

// benchPages is the number of distinct pages the poll benchmarks cycle
// through, so that one page's layout does not decide the result.
const benchPages = 20

// simPages returns n keyset pages of 100 REST events of a simulated
// instance (default groups and projects, 5% of events from
// security-relevant types), exactly as the simulator serves them to the
// poller.
func simPages(tb testing.TB, n int) []string {
	tb.Helper()
	sim := gitlabsim.New(gitlabsim.Options{
		Seed:          1,
		SecurityShare: 0.05,
		Tokens:        map[string]gitlabsim.Token{testutil.AdminToken: {UserID: 1, Admin: true}},
	})
	defer func() { _ = sim.Close() }()
	sim.Populate(gitlabsim.DefaultGroups, gitlabsim.DefaultProjects)
	sim.GenerateWith(gitlabsim.GenerateOptions{
		Count: n * pageSize, From: benchevents.End.Add(-24 * time.Hour), To: benchevents.End,
		SavedOnly: true, NoStream: true,
	})
	var pages []string
	next := "/api/v4/audit_events?pagination=keyset&order_by=id&sort=desc&per_page=100"
	for next != "" {
		req := httptest.NewRequest(http.MethodGet, next, http.NoBody)
		req.Header.Set("PRIVATE-TOKEN", testutil.AdminToken)
		rec := httptest.NewRecorder()
		sim.ServeHTTP(rec, req)
		require.Equal(tb, http.StatusOK, rec.Code, rec.Body.String())
		pages = append(pages, rec.Body.String())
		next = ""
		if l, ok := strings.CutSuffix(rec.Header().Get("Link"), `>; rel="next"`); ok {
			u, err := url.Parse(strings.TrimPrefix(l, "<"))
			require.NoError(tb, err)
			next = u.RequestURI()
		}
	}
	require.Len(tb, pages, n)
	return pages
}

// decodePage is the poller's path for one page: index the page in a
// window buffer, sort it oldest first, and fill one record per event
// (body, attributes, timestamps, event name), as reader.emitWindow does.
func decodePage(rf *recordFactory, page string, observed pcommon.Timestamp) (plog.Logs, error) {
	w := newWindowBuffer(defaultSpillThreshold, benchevents.End.Add(-MaxWindow)) // the pages cover the day before End
	defer w.close()
	if _, err := w.addPage(page); err != nil {
		return plog.Logs{}, err
	}
	if err := w.sort(); err != nil {
		return plog.Logs{}, err
	}
	logs, records := rf.newLogs()
	records.EnsureCapacity(w.count)
	scratch := plog.NewLogRecord()
	for {
		text, ok, err := w.next()
		if err != nil {
			return plog.Logs{}, err
		}
		if !ok {
			break
		}
		if _, err := auditlog.Fill(scratch, text, auditlog.SourcePoll, "", observed); err != nil {
			return plog.Logs{}, err
		}
		scratch.MoveTo(records.AppendEmpty())
	}
	return logs, nil
}

// decodePageBaseline is the common way to do it: encoding/json into
// []map[string]any, then pcommon.Map.FromRaw into each record's body.
func decodePageBaseline(rf *recordFactory, page []byte) (plog.Logs, error) {
	var events []map[string]any
	if err := json.Unmarshal(page, &events); err != nil {
		return plog.Logs{}, err
	}
	logs, records := rf.newLogs()
	records.EnsureCapacity(len(events))
	for _, ev := range events {
		if err := records.AppendEmpty().Body().SetEmptyMap().FromRaw(ev); err != nil {
			return plog.Logs{}, err
		}
	}
	return logs, nil
}

// decodePageBaselineRecords builds the same records as the poller with the
// common decoder: encoding/json and FromRaw fill the bodies, then the
// poller's own annotation (attributes, timestamps, severity, event name)
// runs on them, and the events are put oldest first. Its output equals
// decodePage's, but for integers (float64 here), which
// TestPollDecodeMatchesEncodingJSON checks.
func decodePageBaselineRecords(rf *recordFactory, page []byte, observed pcommon.Timestamp) (plog.Logs, error) {
	var events []map[string]any
	if err := json.Unmarshal(page, &events); err != nil {
		return plog.Logs{}, err
	}
	logs, records := rf.newLogs()
	records.EnsureCapacity(len(events))
	for i := len(events) - 1; i >= 0; i-- { // newest first in the page
		lr := records.AppendEmpty()
		if err := lr.Body().SetEmptyMap().FromRaw(events[i]); err != nil {
			return plog.Logs{}, err
		}
		if _, err := auditlog.Annotate(lr, auditlog.SourcePoll, "", observed); err != nil {
			return plog.Logs{}, err
		}
	}
	return logs, nil
}

// decodeBodies decodes only the bodies of a page with jsonpdata (the page
// split into events in one pass, each event decoded into its record's
// body): the like-for-like counterpart of decodePageBaseline.
func decodeBodies(rf *recordFactory, page string) (plog.Logs, error) {
	logs, records := rf.newLogs()
	records.EnsureCapacity(pageSize)
	_, err := jsonpdata.ScanArray(page, func(string, string) {}, func(_, _ int, elem string) error {
		return jsonpdata.DecodeObject(elem, records.AppendEmpty().Body().SetEmptyMap())
	})
	return logs, err
}

// runPerEvent runs fn once per page in b.Loop and reports events/s (one
// core when run with -cpu 1), ns/event and allocs/event.
func runPerEvent(b *testing.B, fn func(i int) (plog.Logs, error)) {
	b.Helper()
	b.ReportAllocs()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	events, i := 0, 0
	for b.Loop() {
		ld, err := fn(i)
		if err != nil {
			b.Fatal(err)
		}
		events += ld.LogRecordCount()
		i++
	}
	runtime.ReadMemStats(&after)
	b.ReportMetric(float64(events)/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(events), "ns/event")
	b.ReportMetric(float64(after.Mallocs-before.Mallocs)/float64(events), "allocs/event")
}

// BenchmarkPollDecode compares the poller's decoding of pages of 100 REST
// events into log records with encoding/json plus FromRaw on the same
// pages. The like-for-like baseline (encoding_json+FromRaw+annotate) makes
// the very records the poller makes: the same attributes, timestamps and
// event name, written by the same code. The bodies-only baseline
// (encoding_json+FromRaw) does less than the poller: no index, no sort, no
// attributes.
func BenchmarkPollDecode(b *testing.B) {
	pages := simPages(b, benchPages)
	rf := &recordFactory{}
	observed := pcommon.NewTimestampFromTime(benchevents.End)
	b.Run("gitlab_audit", func(b *testing.B) {
		runPerEvent(b, func(i int) (plog.Logs, error) {
			return decodePage(rf, pages[i%len(pages)], observed)
		})
	})
	raw := make([][]byte, len(pages))
	for i, p := range pages {
		raw[i] = []byte(p)
	}
	b.Run("encoding_json+FromRaw+annotate", func(b *testing.B) {
		runPerEvent(b, func(i int) (plog.Logs, error) {
			return decodePageBaselineRecords(rf, raw[i%len(raw)], observed)
		})
	})
	b.Run("encoding_json+FromRaw", func(b *testing.B) {
		runPerEvent(b, func(i int) (plog.Logs, error) {
			return decodePageBaseline(rf, raw[i%len(raw)])
		})
	})
}

// BenchmarkBodyDecode compares the bodies alone: jsonpdata decoding each
// event of a page into its record's body, against encoding/json plus
// FromRaw, with nothing else on either side.
func BenchmarkBodyDecode(b *testing.B) {
	pages := simPages(b, benchPages)
	rf := &recordFactory{}
	b.Run("jsonpdata", func(b *testing.B) {
		runPerEvent(b, func(i int) (plog.Logs, error) {
			return decodeBodies(rf, pages[i%len(pages)])
		})
	})
	raw := make([][]byte, len(pages))
	for i, p := range pages {
		raw[i] = []byte(p)
	}
	b.Run("encoding_json+FromRaw", func(b *testing.B) {
		runPerEvent(b, func(i int) (plog.Logs, error) {
			return decodePageBaseline(rf, raw[i%len(raw)])
		})
	})
}

// TestPollDecodeMatchesEncodingJSON proves that the benchmarked paths
// produce the same bodies: every event of the pages, decoded by the
// poller's path and by jsonpdata alone, equals what encoding/json and
// FromRaw give, except that integers stay Int values where encoding/json
// gives float64 (the lossless choice: ids above 2^53 would be rounded).
func TestPollDecodeMatchesEncodingJSON(t *testing.T) {
	pages := simPages(t, 3)
	rf := &recordFactory{}
	ints := 0
	for _, page := range pages {
		ours, err := decodePage(rf, page, 1)
		require.NoError(t, err)
		bodies, err := decodeBodies(rf, page)
		require.NoError(t, err)
		base, err := decodePageBaseline(rf, []byte(page))
		require.NoError(t, err)
		require.Equal(t, pageSize, ours.LogRecordCount())
		require.Equal(t, pageSize, bodies.LogRecordCount())
		require.Equal(t, pageSize, base.LogRecordCount())

		// The poller emits oldest first; the page is newest first.
		baseByID := map[float64]pcommon.Map{}
		baseRecs := base.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords()
		for i := 0; i < baseRecs.Len(); i++ {
			m := baseRecs.At(i).Body().Map()
			id, ok := m.Get("id")
			require.True(t, ok)
			baseByID[id.Double()] = m
		}
		for _, ld := range []plog.Logs{ours, bodies} {
			recs := ld.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords()
			for i := 0; i < recs.Len(); i++ {
				m := recs.At(i).Body().Map()
				id, ok := m.Get("id")
				require.True(t, ok)
				require.Equal(t, pcommon.ValueTypeInt, id.Type(), "ids stay integers")
				want, ok := baseByID[float64(id.Int())]
				require.True(t, ok, "event %d is missing from the baseline", id.Int())
				ints += sameValue(t, "body", m, want)
			}
		}
	}
	require.Positive(t, ints, "the pages hold integers, where the two decoders differ")

	// The like-for-like baseline makes the very records of the poller:
	// same order, attributes, timestamps, severity and event name.
	for _, page := range pages {
		ours, err := decodePage(rf, page, 7)
		require.NoError(t, err)
		base, err := decodePageBaselineRecords(rf, []byte(page), 7)
		require.NoError(t, err)
		or := ours.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords()
		br := base.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords()
		require.Equal(t, br.Len(), or.Len())
		for i := 0; i < or.Len(); i++ {
			o, b := or.At(i), br.At(i)
			require.Equal(t, b.Attributes().AsRaw(), o.Attributes().AsRaw(), "record %d attributes", i)
			require.Equal(t, b.Timestamp(), o.Timestamp())
			require.Equal(t, b.ObservedTimestamp(), o.ObservedTimestamp())
			require.Equal(t, b.SeverityNumber(), o.SeverityNumber())
			require.Equal(t, b.SeverityText(), o.SeverityText())
			require.Equal(t, b.EventName(), o.EventName())
			sameValue(t, "body", o.Body().Map(), b.Body().Map())
		}
	}
}

// sameValue fails unless ours equals the baseline's value, an Int being
// equal to the float64 of the same value. It returns the number of such
// Int values.
func sameValue(t *testing.T, path string, ours, base pcommon.Map) int {
	t.Helper()
	require.Equal(t, base.Len(), ours.Len(), "%s: number of keys", path)
	ints := 0
	base.Range(func(k string, bv pcommon.Value) bool {
		ov, ok := ours.Get(k)
		require.True(t, ok, "%s.%s is missing", path, k)
		ints += sameScalarOrNested(t, path+"."+k, ov, bv)
		return true
	})
	return ints
}

func sameScalarOrNested(t *testing.T, path string, ov, bv pcommon.Value) int {
	t.Helper()
	if ov.Type() == pcommon.ValueTypeInt && bv.Type() == pcommon.ValueTypeDouble {
		require.InDelta(t, bv.Double(), float64(ov.Int()), 0, path)
		return 1
	}
	require.Equal(t, bv.Type(), ov.Type(), path)
	switch ov.Type() {
	case pcommon.ValueTypeMap:
		return sameValue(t, path, ov.Map(), bv.Map())
	case pcommon.ValueTypeSlice:
		require.Equal(t, bv.Slice().Len(), ov.Slice().Len(), path)
		ints := 0
		for i := 0; i < ov.Slice().Len(); i++ {
			ints += sameScalarOrNested(t, path+"[]", ov.Slice().At(i), bv.Slice().At(i))
		}
		return ints
	default:
		require.True(t, ov.Equal(bv), "%s: %s != %s", path, ov.AsString(), bv.AsString())
		return 0
	}
}
