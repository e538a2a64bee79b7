// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package main

import (
	"bytes"
	"compress/gzip"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
)

func TestOTLPSinkKeepsRecordsByEventID(t *testing.T) {
	sink := &otlpSink{byID: map[string]plog.LogRecord{}}
	srv := httptest.NewServer(sink)
	defer srv.Close()

	ld := plog.NewLogs()
	lrs := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords()
	for _, id := range []string{"41", "6f1c-uuid"} {
		lr := lrs.AppendEmpty()
		lr.Attributes().PutStr("gitlab.audit.event.id", id)
		lr.Attributes().PutStr("gitlab.detect.severity", "HIGH")
	}
	raw, err := plogotlp.NewExportRequestFromLogs(ld).MarshalProto()
	require.NoError(t, err)
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	_, err = zw.Write(raw)
	require.NoError(t, err)
	require.NoError(t, zw.Close())

	req, err := http.NewRequest(http.MethodPost, srv.URL+"/v1/logs", &gz)
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/x-protobuf")
	req.Header.Set("Content-Encoding", "gzip")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, 2, sink.count())
	v, _ := sink.byID["6f1c-uuid"].Attributes().Get("gitlab.detect.severity")
	assert.Equal(t, "HIGH", v.Str())

	resp, err = http.Post(srv.URL+"/v1/logs", "application/x-protobuf", bytes.NewReader([]byte("not protobuf")))
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode)
}
