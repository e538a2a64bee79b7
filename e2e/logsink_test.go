// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package e2e

import (
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
)

// logsSink is an OTLP/HTTP logs endpoint (protobuf, gzip or not) that keeps
// every record it acknowledged whole: attributes, body, resource. The
// privacy and audit_json.log tests look at all of a record, where otlpSink
// keeps only the tagging.
type logsSink struct {
	srv  *httptest.Server
	mu   sync.Mutex
	logs plog.Logs
}

func newLogsSink(t *testing.T) *logsSink {
	t.Helper()
	s := &logsSink{logs: plog.NewLogs()}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var in io.Reader = r.Body
		if r.Header.Get("Content-Encoding") == "gzip" {
			gz, err := gzip.NewReader(r.Body)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			in = gz
		}
		body, err := io.ReadAll(in)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		req := plogotlp.NewExportRequest()
		if err := req.UnmarshalProto(body); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		s.mu.Lock()
		req.Logs().ResourceLogs().MoveAndAppendTo(s.logs.ResourceLogs())
		s.mu.Unlock()
		resp, _ := plogotlp.NewExportResponse().MarshalProto()
		w.Header().Set("Content-Type", "application/x-protobuf")
		_, _ = w.Write(resp)
	}))
	t.Cleanup(s.srv.Close)
	return s
}

// sinkRecord is one received log record with its resource.
type sinkRecord struct {
	resource plog.ResourceLogs
	record   plog.LogRecord
}

// records returns copies of every record received so far.
func (s *logsSink) records() []sinkRecord {
	s.mu.Lock()
	defer s.mu.Unlock()
	cp := plog.NewLogs()
	s.logs.CopyTo(cp)
	var out []sinkRecord
	for i := 0; i < cp.ResourceLogs().Len(); i++ {
		rl := cp.ResourceLogs().At(i)
		for j := 0; j < rl.ScopeLogs().Len(); j++ {
			lrs := rl.ScopeLogs().At(j).LogRecords()
			for k := 0; k < lrs.Len(); k++ {
				out = append(out, sinkRecord{rl, lrs.At(k)})
			}
		}
	}
	return out
}

func (s *logsSink) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.logs.LogRecordCount()
}

// attr returns an attribute of a record as text ("" when absent).
func attr(lr plog.LogRecord, key string) string {
	if v, ok := lr.Attributes().Get(key); ok {
		return v.AsString()
	}
	return ""
}
