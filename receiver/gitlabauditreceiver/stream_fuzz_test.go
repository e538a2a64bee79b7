// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package gitlabauditreceiver

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"go.opentelemetry.io/collector/consumer/consumertest"

	"github.com/kyra-mdr/otelcol-gitlab/receiver/gitlabauditreceiver/internal/stream"
)

// FuzzStreamHandler posts arbitrary bodies, with a valid token, to the
// streaming handler. Whatever the body: no panic, a JSON answer with a
// status the README documents, and the answer tells the truth: a 200
// accounts for every event of the body, and the pipeline received
// exactly the events answered as accepted. make test runs the seeds;
// make fuzz explores.
func FuzzStreamHandler(f *testing.F) {
	for _, seed := range []string{
		`{"id":1,"created_at":"2026-01-01T00:00:00Z","entity_type":"Project","event_type":"deploy_key_added","details":{}}`,
		`[{"id":2,"created_at":"2026-01-01T00:00:00.123Z","entity_type":"Group"},{"id":"0b6a58e4-b4a4-4ea4-9ae1-5b8b1f3a0e51","created_at":"2026-01-01T00:00:00Z"}]`,
		`[]`, `{}`, `[0,0,0]`, `null`, `"x"`, `{"id":`, `[{"id":1}]`,
		`{"id":"zz\t1\nP:985001\t9223372036854775807\nqq","created_at":"2026-01-01T00:00:00Z","entity_type":"Project"}`,
		`{"id":"bad\nnotab","created_at":"2026-01-01T00:00:00Z"}`,
		`{"id":18446744073709551617,"created_at":"2026-01-01T00:00:00Z","entity_type":"User"}`,
		`{"id":3,"created_at":"1969-12-31T23:59:59Z"}`, `{"id":4,"created_at":"2263-01-01T00:00:00Z"}`,
		`{"id":5,"created_at":"2026-01-01T00:00:00Z","details":` + strings.Repeat(`{"a":`, 40) + `1` + strings.Repeat(`}`, 40) + `}`,
		`{"id":6,"created_at":"2026-01-01T00:00:00Z","entity_type":"` + strings.Repeat("P", 300) + `"}`,
		"\xff\xfe", `{"id":7,"created_at":"2026-01-01T00:00:00Z","details":{"s":"\ud800"}}`,
	} {
		f.Add(seed)
	}
	sink := new(consumertest.LogsSink)
	cfg := streamConfig()
	r, _ := startStream(f, cfg, sink)
	h := r.stream.Handler()
	path := cfg.Stream.Get().Path

	f.Fuzz(func(t *testing.T, body string) {
		before := sink.LogRecordCount()
		req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
		req.Header.Set(stream.TokenHeader, streamToken)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)

		switch rec.Code {
		case http.StatusOK, http.StatusBadRequest, http.StatusRequestEntityTooLarge, http.StatusServiceUnavailable:
		default:
			t.Fatalf("status %d for %q", rec.Code, body)
		}
		var a struct {
			Status     string `json:"status"`
			Accepted   int    `json:"accepted"`
			Duplicates int    `json:"duplicates"`
			Filtered   int    `json:"filtered"`
			Error      string `json:"error"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &a); err != nil {
			t.Fatalf("answer %q is not JSON: %v", rec.Body.String(), err)
		}
		if got := sink.LogRecordCount() - before; got != a.Accepted {
			t.Fatalf("answered accepted=%d, the pipeline received %d, for %q", a.Accepted, got, body)
		}
		if rec.Code != http.StatusOK {
			if a.Error == "" {
				t.Fatalf("a %d without an error for %q", rec.Code, body)
			}
			return
		}
		if a.Status != "ok" {
			t.Fatalf("200 without status ok: %q", rec.Body.String())
		}
		n := 1
		var elems []json.RawMessage
		if json.Unmarshal([]byte(body), &elems) == nil {
			n = len(elems)
		}
		if a.Accepted+a.Duplicates+a.Filtered != n {
			t.Fatalf("200 for %d event(s) but accounts for %d: %q for %q", n, a.Accepted+a.Duplicates+a.Filtered, rec.Body.String(), body)
		}
	})
}
