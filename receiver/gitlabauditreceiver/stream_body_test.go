// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package gitlabauditreceiver

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/receiver/receivertest"

	"github.com/kyra-mdr/otelcol-gitlab/internal/jsonpdata"
	"github.com/kyra-mdr/otelcol-gitlab/receiver/gitlabauditreceiver/internal/metadata"
)

// streamHandler starts a stream-only receiver and returns the handler of
// its endpoint, to be called without the network.
func streamHandler(tb testing.TB, next consumer.Logs) (http.Handler, *Config) {
	tb.Helper()
	cfg := streamConfig()
	r, err := newReceiver(cfg, receivertest.NewNopSettings(metadata.Type), next)
	require.NoError(tb, err)
	require.NoError(tb, r.Start(context.Background(), componenttest.NewNopHost()))
	tb.Cleanup(func() { require.NoError(tb, r.Shutdown(context.Background())) })
	return r.stream.handler(), cfg
}

// newStreamRequest is a request to the events path as confighttp's server
// hands it to the handler: the body limited to max_request_body_size.
func newStreamRequest(cfg *Config, w http.ResponseWriter, body io.Reader, length int64) *http.Request {
	req := httptest.NewRequest(http.MethodPost, cfg.Stream.Get().Path, http.NoBody)
	req.Header.Set(streamTokenHeader, streamToken)
	req.Body = http.MaxBytesReader(w, io.NopCloser(body), cfg.Stream.Get().MaxRequestBodySize)
	req.ContentLength = length
	return req
}

func TestDefaultConfigBoundsStreamReads(t *testing.T) {
	s := createDefaultConfig().(*Config).Stream.GetOrInsertDefault()
	assert.Equal(t, defaultStreamReadTimeout, s.ReadTimeout)
	assert.Equal(t, defaultStreamReadTimeout, s.ReadHeaderTimeout)
	for _, d := range []time.Duration{s.ReadTimeout, s.ReadHeaderTimeout} {
		assert.Positive(t, d)
		assert.Less(t, d, 8*time.Second, "GitLab gives a whole delivery 8 seconds")
	}
}

// stalledBody sends its first bytes, then, when read again, notes how much
// has been allocated since start and fails as a dropped connection does.
type stalledBody struct {
	first     string
	sent      bool
	start     uint64
	allocated uint64
}

func (b *stalledBody) Read(p []byte) (int, error) {
	if !b.sent {
		b.sent = true
		return copy(p, b.first), nil
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	b.allocated = ms.TotalAlloc - b.start
	return 0, io.ErrUnexpectedEOF
}

// TestStalledBodyHoldsLittle: a request that announces 10 MiB and sends
// one byte does not get 10 MiB before its bytes arrive.
func TestStalledBodyHoldsLittle(t *testing.T) {
	h, cfg := streamHandler(t, consumertest.NewNop())
	const announced = 10 << 20
	require.LessOrEqual(t, int64(announced), cfg.Stream.Get().MaxRequestBodySize)
	w := httptest.NewRecorder()
	body := &stalledBody{first: "["}
	req := newStreamRequest(cfg, w, body, announced)
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	body.start = ms.TotalAlloc
	h.ServeHTTP(w, req)
	require.True(t, body.sent)
	assert.Equal(t, http.StatusBadRequest, w.Code)
	assert.Less(t, body.allocated, uint64(1<<20), "allocated %d bytes for a body of 1 byte", body.allocated)
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

// TestStreamRefusalsAreBounded: a body of many elements that are not
// events is answered with at most maxReportedErrors refusals, each of
// bounded length, and the count of the others; the valid events are
// accepted.
func TestStreamRefusalsAreBounded(t *testing.T) {
	sink := new(consumertest.LogsSink)
	h, cfg := streamHandler(t, sink)
	const zeros = 100_000
	long := strings.Repeat("9", 10_000)
	body := `[{"id":1,"created_at":"` + long + `"},` + strings.Repeat("0,", zeros) +
		`{"id":2,"created_at":"2024-01-01T00:00:00Z"},{},"x"]`
	w := httptest.NewRecorder()
	h.ServeHTTP(w, newStreamRequest(cfg, w, strings.NewReader(body), int64(len(body))))
	require.Equal(t, http.StatusBadRequest, w.Code)
	a := decodeAnswer(t, w.Body.String())
	assert.Equal(t, 1, a.Accepted)
	assert.Equal(t, 1, sink.LogRecordCount())
	refusedN := 1 + zeros + 2
	assert.Contains(t, a.Error, fmt.Sprintf("%d event(s) refused", refusedN))
	require.Len(t, a.Refused, maxReportedErrors+1)
	assert.Equal(t, fmt.Sprintf("and %d more", refusedN-maxReportedErrors), a.Refused[maxReportedErrors])
	assert.True(t, strings.HasPrefix(a.Refused[0], `event 0: "created_at" "999`), a.Refused[0])
	assert.Equal(t, "event 1: the event is not a JSON object", a.Refused[1])
	for _, r := range a.Refused {
		assert.LessOrEqual(t, len(r), maxRefusalText)
	}
	assert.Less(t, w.Body.Len(), 4096, "the answer is bounded")

	// Fewer refusals than the bound: all listed, no count.
	body = `[0,{"id":3,"created_at":"2024-01-01T00:00:00Z"},{}]`
	w = httptest.NewRecorder()
	h.ServeHTTP(w, newStreamRequest(cfg, w, strings.NewReader(body), int64(len(body))))
	a = decodeAnswer(t, w.Body.String())
	assert.Equal(t, []string{"event 0: the event is not a JSON object", `event 2: the event has no "id"`}, a.Refused)
	assert.Equal(t, 2, sink.LogRecordCount())
}

// TestDeepEventSurvivesProtobuf: a batch of 20 ordinary events and one
// nested 40 levels deep is accepted, and every record the pipeline gets
// reads back from OTLP protobuf (as the persistent sending queue and OTLP
// exporters need), the deep levels kept as their JSON text.
func TestDeepEventSurvivesProtobuf(t *testing.T) {
	sink := new(consumertest.LogsSink)
	h, cfg := streamHandler(t, sink)
	var b strings.Builder
	b.WriteString("[")
	for i := range 20 {
		fmt.Fprintf(&b, `{"id":%d,"created_at":"2024-01-01T00:00:00Z","details":{"custom_message":"event %d"}},`, i+1, i+1)
	}
	// The event is level 1, details level 2, the leaf object level 40.
	deep := strings.Repeat(`{"a":`, 38) + `{"leaf":true}` + strings.Repeat("}", 38)
	b.WriteString(`{"id":100,"created_at":"2024-01-01T00:00:00Z","details":` + deep + `}]`)
	body := b.String()
	w := httptest.NewRecorder()
	h.ServeHTTP(w, newStreamRequest(cfg, w, strings.NewReader(body), int64(len(body))))
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	assert.Equal(t, 21, decodeAnswer(t, w.Body.String()).Accepted)

	sent := plog.NewLogs()
	for _, ld := range sink.AllLogs() {
		ld.ResourceLogs().MoveAndAppendTo(sent.ResourceLogs())
	}
	require.Equal(t, 21, sent.LogRecordCount())
	buf, err := (&plog.ProtoMarshaler{}).MarshalLogs(sent)
	require.NoError(t, err)
	back, err := (&plog.ProtoUnmarshaler{}).UnmarshalLogs(buf)
	require.NoError(t, err, "the pipeline could not carry what was accepted")
	require.Equal(t, 21, back.LogRecordCount())

	var deepBody pcommon.Map
	rls := back.ResourceLogs()
	for i := 0; i < rls.Len(); i++ {
		sls := rls.At(i).ScopeLogs()
		for j := 0; j < sls.Len(); j++ {
			lrs := sls.At(j).LogRecords()
			for k := 0; k < lrs.Len(); k++ {
				if id, _ := lrs.At(k).Body().Map().Get("id"); id.Int() == 100 {
					deepBody = lrs.At(k).Body().Map()
				}
			}
		}
	}
	require.NotEqual(t, pcommon.Map{}, deepBody, "the deep event is in the pipeline")
	// Level 1 is the event, level 2 its details: the text starts at
	// level MaxTreeDepth+1, and holds the rest as sent.
	v, _ := deepBody.Get("details")
	for level := 2; level < jsonpdata.MaxTreeDepth; level++ {
		require.Equal(t, pcommon.ValueTypeMap, v.Type(), "level %d", level)
		v, _ = v.Map().Get("a")
	}
	require.Equal(t, pcommon.ValueTypeMap, v.Type())
	text, _ := v.Map().Get("a")
	require.Equal(t, pcommon.ValueTypeStr, text.Type())
	levelsLeft := 40 - jsonpdata.MaxTreeDepth
	assert.Equal(t, strings.Repeat(`{"a":`, levelsLeft-1)+`{"leaf":true}`+strings.Repeat("}", levelsLeft-1), text.Str())
}

// BenchmarkStreamBody measures the handler on hostile 10 MiB bodies: an
// array of zeros and an array of empty objects, neither holding one event.
// What a request costs must stay a small multiple of its size.
func BenchmarkStreamBody(b *testing.B) {
	h, cfg := streamHandler(b, consumertest.NewNop())
	for _, tc := range []struct{ name, elem string }{{"zeros", "0,"}, {"empty_objects", "{},"}} {
		n := (10<<20-1)/len(tc.elem) - 1 // the body is 10 MiB at most
		body := "[" + strings.Repeat(tc.elem, n) + tc.elem[:len(tc.elem)-1] + "]"
		b.Run(tc.name, func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			w := &discardWriter{h: http.Header{}}
			for b.Loop() {
				clear(w.h)
				w.status = 0
				h.ServeHTTP(w, newStreamRequest(cfg, w, strings.NewReader(body), int64(len(body))))
				if w.status != http.StatusBadRequest {
					b.Fatalf("status %d", w.status)
				}
			}
		})
	}
}

func decodeAnswer(t *testing.T, raw string) streamAnswer {
	t.Helper()
	var a streamAnswer
	require.NoError(t, json.Unmarshal([]byte(raw), &a), raw)
	return a
}
