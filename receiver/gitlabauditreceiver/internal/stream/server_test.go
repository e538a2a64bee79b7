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
