// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package stream

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/config/configopaque"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/receiver/receiverhelper"
	"go.opentelemetry.io/collector/receiver/receivertest"
	"go.uber.org/goleak"
	"go.uber.org/zap"

	"github.com/kyra-mdr/otelcol-gitlab/receiver/gitlabauditreceiver/internal/auditlog"
	"github.com/kyra-mdr/otelcol-gitlab/receiver/gitlabauditreceiver/internal/emit"
	"github.com/kyra-mdr/otelcol-gitlab/receiver/gitlabauditreceiver/internal/metadata"
	"github.com/kyra-mdr/otelcol-gitlab/testbed/benchevents"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const (
	testPath  = "/webhook/gitlab-audit"
	testToken = "stream-verification-token-0123"
	// testBodyLimit is the receiver's default max_request_body_size.
	testBodyLimit = 10 << 20
)

// newTestServer returns an endpoint (not listening: tests call its
// Handler) whose events go to next through a real emitting stage.
func newTestServer(tb testing.TB, next consumer.Logs) *Server {
	tb.Helper()
	set := receivertest.NewNopSettings(metadata.Type)
	tel, err := metadata.NewTelemetryBuilder(set.TelemetrySettings)
	require.NoError(tb, err)
	core, err := emit.NewCore(context.Background(), emit.Settings{
		Next: next, MaxEntries: 100_000, TTL: time.Hour, Telemetry: tel, Logger: zap.NewNop(), Now: time.Now,
	})
	require.NoError(tb, err)
	tb.Cleanup(func() {
		tel.Shutdown()
		require.NoError(tb, core.Close(context.Background()))
	})
	obs, err := receiverhelper.NewObsReport(receiverhelper.ObsReportSettings{ReceiverID: set.ID, Transport: "http", ReceiverCreateSettings: set})
	require.NoError(tb, err)
	server := confighttp.NewDefaultServerConfig()
	server.MaxRequestBodySize = testBodyLimit
	return New(Settings{
		Server: server, Path: testPath, HealthPath: "/health", Tokens: []configopaque.String{testToken},
		Emitter: core.Emitter(auditlog.SourceStream, obs), Telemetry: tel, Logger: zap.NewNop(),
		Fatal: func(err error) { tb.Errorf("stream server failed: %v", err) }, Now: time.Now,
	})
}

// discardWriter is a ResponseWriter that keeps nothing, so that the
// handler benchmark measures the handler alone.
type discardWriter struct {
	h      http.Header
	status int
}

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w *discardWriter) WriteHeader(status int)      { w.status = status }

// BenchmarkStreamHandler measures the streaming endpoint's handler on one
// realistic event per request (a distinct id each time, so that nothing is
// dropped as a duplicate), without the network and with a pipeline that
// does nothing: authentication, body read, decoding, attributes,
// de-duplication claim and commit, obsreport, the answer.
func BenchmarkStreamHandler(b *testing.B) {
	templates, err := benchevents.Events(1, 1000)
	require.NoError(b, err)
	h := newTestServer(b, consumertest.NewNop()).Handler()

	req := httptest.NewRequest(http.MethodPost, testPath, http.NoBody)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set(TokenHeader, testToken)
	w := &discardWriter{h: http.Header{}}
	var buf []byte
	var body bytes.Reader
	var seq uint64
	b.ReportAllocs()
	for b.Loop() {
		seq++
		t := &templates[seq%uint64(len(templates))]
		buf = t.AppendStream(buf[:0], seq)
		body.Reset(buf)
		// As confighttp's server does: the body is limited to
		// max_request_body_size.
		req.Body = http.MaxBytesReader(w, io.NopCloser(&body), testBodyLimit)
		req.ContentLength = int64(len(buf))
		req.Header.Set(headerEventType, t.Type)
		clear(w.h)
		w.status = 0
		h.ServeHTTP(w, req)
		if w.status != http.StatusOK {
			b.Fatalf("status %d", w.status)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/event")
}

// TestCountsAnswerIsWhatJSONWrites checks the handler's answer without
// reflection against encoding/json.
func TestCountsAnswerIsWhatJSONWrites(t *testing.T) {
	for _, a := range []streamAnswer{
		{Status: "ok", Accepted: 1},
		{Status: "ok"},
		{Status: "ok", Accepted: 3, Duplicates: 2, Filtered: 1},
		{Accepted: 0, Duplicates: 5},
		{Filtered: 7},
	} {
		var want bytes.Buffer
		require.NoError(t, json.NewEncoder(&want).Encode(a))
		require.Equal(t, want.String(), string(appendCountsAnswer(nil, a)))
		rec := httptest.NewRecorder()
		writeJSON(rec, http.StatusOK, a)
		require.Equal(t, want.String(), rec.Body.String())
		require.Equal(t, "application/json", rec.Header().Get("Content-Type"))
	}
	// Anything else still goes through encoding/json.
	rec := httptest.NewRecorder()
	writeJSON(rec, http.StatusBadRequest, streamAnswer{Accepted: 1, Error: "<x>", Refused: []string{"event 1: bad"}})
	var got streamAnswer
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &got))
	require.Equal(t, "<x>", got.Error)
	require.Equal(t, []string{"event 1: bad"}, got.Refused)
}

// TestReadBodyGrows reads bodies of many sizes, announced, unannounced and
// announced too long, through the growing buffer.
func TestReadBodyGrows(t *testing.T) {
	for _, n := range []int{0, 1, 100, firstBodyBuffer - 1, firstBodyBuffer, firstBodyBuffer + 1, 3*firstBodyBuffer + 7, 1 << 20} {
		want := strings.Repeat("x", n)
		for _, length := range []int64{int64(n), -1} {
			req := httptest.NewRequest(http.MethodPost, "/", io.NopCloser(iotestHalf(want)))
			req.ContentLength = length
			got, err := readBody(req, 2<<20)
			require.NoError(t, err)
			require.Equal(t, want, got, "%d bytes, length %d", n, length)
		}
	}
	// Beyond the limit, the error of the limited reader is returned.
	w := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodPost, "/", http.NoBody)
	req.Body = http.MaxBytesReader(w, io.NopCloser(strings.NewReader(strings.Repeat("x", 5000))), 4096)
	_, err := readBody(req, 4096)
	var tooLarge *http.MaxBytesError
	require.ErrorAs(t, err, &tooLarge)
}

// iotestHalf reads s a few bytes at a time, as a network connection does.
func iotestHalf(s string) io.Reader { return &smallReads{s: s} }

type smallReads struct{ s string }

func (r *smallReads) Read(p []byte) (int, error) {
	if r.s == "" {
		return 0, io.EOF
	}
	n := copy(p[:min(len(p), 1+len(r.s)/3)], r.s)
	r.s = r.s[n:]
	return n, nil
}

// TestReusedRecordsAsFresh sends one-event requests one after the other,
// some of them again (duplicates, whose records are not reused), so that
// each event is decoded into a record a previous one was decoded into and
// moved out of (records), and checks that every record delivered is the
// one auditlog.Fill makes of the same body in a new record: the same body,
// the same attributes in the same order, the same name and times.
func TestReusedRecordsAsFresh(t *testing.T) {
	templates, err := benchevents.Events(7, 60)
	require.NoError(t, err)
	sink := new(consumertest.LogsSink)
	h := newTestServer(t, sink).Handler()
	type sent struct{ body, hint string }
	var want []sent
	// Each event twice, the second time a duplicate, whose record (not
	// moved out, holding its attributes) is not to be reused: first a
	// full event and one with few fields, then the benchmark's events.
	requests := []sent{
		{`{"id":"101","author_id":5,"entity_id":7,"entity_type":"Project","entity_path":"g/p","target_id":9,"target_type":"User",` +
			`"target_details":"bob","ip_address":"10.0.0.1","details":{"author_email":"a@example.com","author_class":"User",` +
			`"custom_message":"changed"},"created_at":"2026-01-02T03:04:05.000Z","event_type":"project_feature_changed"}`, "project_feature_changed"},
		{`{"id":"102","entity_id":1,"entity_type":"Gitlab::Audit::InstanceScope","created_at":"2026-01-02T03:04:06.000Z"}`, ""},
	}
	for i := range templates {
		requests = append(requests, sent{string(templates[i].AppendStream(nil, uint64(i+1))), templates[i].Type})
	}
	for _, r := range requests {
		for range 2 {
			req := httptest.NewRequest(http.MethodPost, testPath, strings.NewReader(r.body))
			req.Header.Set(TokenHeader, testToken)
			if r.hint != "" {
				req.Header.Set(headerEventType, r.hint)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
			var answer streamAnswer
			require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &answer))
			if answer.Accepted == 1 {
				want = append(want, r)
			}
		}
	}
	require.Len(t, want, len(requests), "every second request was a duplicate")
	var got []plog.LogRecord
	for _, ld := range sink.AllLogs() {
		lrs := ld.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords()
		for i := range lrs.Len() {
			got = append(got, lrs.At(i))
		}
	}
	require.Len(t, got, len(want))
	attrs := func(lr plog.LogRecord) (out [][2]any) {
		for k, v := range lr.Attributes().All() {
			out = append(out, [2]any{k, v.AsRaw()})
		}
		return out
	}
	for i, w := range want {
		fresh := plog.NewLogRecord()
		_, err := auditlog.Fill(fresh, w.body, auditlog.SourceStream, w.hint, got[i].ObservedTimestamp())
		require.NoError(t, err)
		require.Equal(t, attrs(fresh), attrs(got[i]), "record %d", i)
		require.Equal(t, fresh.Body().AsRaw(), got[i].Body().AsRaw(), "record %d", i)
		require.Equal(t, fresh.EventName(), got[i].EventName())
		require.Equal(t, fresh.Timestamp(), got[i].Timestamp())
		require.Equal(t, fresh.SeverityNumber(), got[i].SeverityNumber())
		require.Equal(t, fresh.SeverityText(), got[i].SeverityText())
	}
}
