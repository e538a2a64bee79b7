// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package stream

import (
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/config/configopaque"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/kyra-mdr/otelcol-gitlab/internal/jsonpdata"
)

// newStreamRequest is a request to the events path as confighttp's server
// hands it to the handler: the body limited to max_request_body_size.
func newStreamRequest(w http.ResponseWriter, body io.Reader, length int64) *http.Request {
	req := httptest.NewRequest(http.MethodPost, testPath, http.NoBody)
	req.Header.Set(TokenHeader, testToken)
	req.Body = http.MaxBytesReader(w, io.NopCloser(body), testBodyLimit)
	req.ContentLength = length
	return req
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
	h := newTestServer(t, consumertest.NewNop()).Handler()
	const announced = 10 << 20
	require.LessOrEqual(t, int64(announced), int64(testBodyLimit))
	w := httptest.NewRecorder()
	body := &stalledBody{first: "["}
	req := newStreamRequest(w, body, announced)
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	body.start = ms.TotalAlloc
	h.ServeHTTP(w, req)
	require.True(t, body.sent)
	assert.Equal(t, http.StatusBadRequest, w.Code)
	assert.Less(t, body.allocated, uint64(1<<20), "allocated %d bytes for a body of 1 byte", body.allocated)
}

// TestStreamRefusalsAreBounded: a body of many elements that are not
// events is answered with at most maxReportedErrors refusals, each of
// bounded length, and the count of the others; the valid events are
// accepted.
func TestStreamRefusalsAreBounded(t *testing.T) {
	sink := new(consumertest.LogsSink)
	h := newTestServer(t, sink).Handler()
	const zeros = 100_000
	long := strings.Repeat("9", 10_000)
	body := `[{"id":1,"created_at":"` + long + `"},` + strings.Repeat("0,", zeros) +
		`{"id":2,"created_at":"2024-01-01T00:00:00Z"},{},"x"]`
	w := httptest.NewRecorder()
	h.ServeHTTP(w, newStreamRequest(w, strings.NewReader(body), int64(len(body))))
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
	h.ServeHTTP(w, newStreamRequest(w, strings.NewReader(body), int64(len(body))))
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
	h := newTestServer(t, sink).Handler()
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
	h.ServeHTTP(w, newStreamRequest(w, strings.NewReader(body), int64(len(body))))
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
	h := newTestServer(b, consumertest.NewNop()).Handler()
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
				h.ServeHTTP(w, newStreamRequest(w, strings.NewReader(body), int64(len(body))))
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

// TestStreamComparesSecretsInConstantTime checks the code itself: the
// token and the required headers reach the decision only through
// subtle.ConstantTimeCompare, never through ==, != or bytes/strings.Equal.
func TestStreamComparesSecretsInConstantTime(t *testing.T) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "server.go", nil, 0)
	require.NoError(t, err)
	var fn *ast.FuncDecl
	for _, d := range f.Decls {
		if fd, ok := d.(*ast.FuncDecl); ok && fd.Name.Name == "authorized" {
			fn = fd
		}
	}
	require.NotNil(t, fn, "Server.authorized not found")
	constantTime := 0
	ast.Inspect(fn, func(n ast.Node) bool {
		switch x := n.(type) {
		case *ast.BinaryExpr:
			_, lit := x.Y.(*ast.BasicLit) // the final "ok == 1" on the integer result is fine
			if (x.Op == token.EQL || x.Op == token.NEQ) && !lit {
				t.Errorf("%s: == or != in authorized", fset.Position(x.Pos()))
			}
		case *ast.SelectorExpr:
			if id, ok := x.X.(*ast.Ident); ok {
				switch id.Name + "." + x.Sel.Name {
				case "subtle.ConstantTimeCompare":
					constantTime++
				case "bytes.Equal", "strings.EqualFold", "strings.Compare", "bytes.Compare":
					t.Errorf("%s: %s.%s is not constant time", fset.Position(x.Pos()), id.Name, x.Sel.Name)
				}
			}
		}
		return true
	})
	assert.Equal(t, 2, constantTime, "tokens and required headers are both compared with subtle.ConstantTimeCompare")

	// And behaviourally: a token that shares a long prefix is refused.
	s := New(Settings{Tokens: []configopaque.String{testToken}})
	req, _ := http.NewRequest(http.MethodPost, "/", http.NoBody)
	req.Header.Set(TokenHeader, testToken[:len(testToken)-1])
	assert.False(t, s.authorized(req))
	req.Header.Set(TokenHeader, testToken+"x")
	assert.False(t, s.authorized(req))
	req.Header.Set(TokenHeader, testToken)
	assert.True(t, s.authorized(req))
}
