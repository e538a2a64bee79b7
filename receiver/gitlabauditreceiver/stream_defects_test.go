// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package gitlabauditreceiver

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/receiver/receivertest"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/kyra-mdr/otelcol-gitlab/receiver/gitlabauditreceiver/internal/metadata"
	"github.com/kyra-mdr/otelcol-gitlab/receiver/gitlabauditreceiver/internal/stream"
	"github.com/kyra-mdr/otelcol-gitlab/receiver/gitlabauditreceiver/internal/testutil"
)

// Issue 10.8: smaller defects of the stream endpoint, one test each.

func TestStreamRefusesCreatedAtOutsideTheTimestampRange(t *testing.T) {
	sink := new(consumertest.LogsSink)
	_, url := startStream(t, streamConfig(), sink)
	id := 0
	for _, tt := range []struct {
		createdAt string
		status    int
	}{
		{"1969-12-31T23:59:59Z", http.StatusBadRequest},      // would wrap to the year 2554
		{"0001-01-01T00:00:00Z", http.StatusBadRequest},      // Go's zero time
		{"2262-04-12T00:00:00Z", http.StatusBadRequest},      // beyond int64 nanoseconds
		{"9999-12-31T23:59:59Z", http.StatusBadRequest},      // far beyond
		{"1970-01-01T00:00:00Z", http.StatusOK},              // the first representable
		{"2262-04-11T23:47:16.854Z", http.StatusOK},          // nearly the last
		{"2026-01-01T00:00:00+05:30", http.StatusOK},         // an offset
		{"1970-01-01T01:00:00+02:00", http.StatusBadRequest}, // 1969 in UTC
	} {
		id++
		t.Run(tt.createdAt, func(t *testing.T) {
			sink.Reset()
			a := post(t, nil, url, fmt.Sprintf(`{"id":%d,"created_at":%q,"entity_type":"User"}`, id, tt.createdAt), withToken())
			require.Equal(t, tt.status, a.status, a.raw)
			if tt.status != http.StatusOK {
				assert.Contains(t, a.raw, "created_at")
				assert.Zero(t, sink.LogRecordCount())
				return
			}
			require.Equal(t, 1, sink.LogRecordCount())
			lr := sink.AllLogs()[0].ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0)
			want, err := time.Parse(time.RFC3339Nano, tt.createdAt)
			require.NoError(t, err)
			assert.True(t, want.Equal(lr.Timestamp().AsTime()), "no wrap-around: %s", lr.Timestamp().AsTime())
		})
	}
}

func TestStreamKeepsIntegerIDsBeyondInt64Exactly(t *testing.T) {
	sink := new(consumertest.LogsSink)
	_, url := startStream(t, streamConfig(), sink)
	a := post(t, nil, url, `[{"id":18446744073709551617,"created_at":"2026-01-01T00:00:00Z","entity_type":"User"},`+
		`{"id":18446744073709551616,"created_at":"2026-01-01T00:00:00Z","entity_type":"User"}]`, withToken())
	require.Equal(t, http.StatusOK, a.status, a.raw)
	assert.Equal(t, 2, a.body.Accepted, "two distinct ids, not one rounded twice: %s", a.raw)
	assert.ElementsMatch(t, []string{"18446744073709551617", "18446744073709551616"}, testutil.IDs(testutil.Records(sink.AllLogs())))
}

func TestStreamRefusalsEchoBoundedValues(t *testing.T) {
	_, url := startStream(t, streamConfig(), new(consumertest.LogsSink))
	huge := strings.Repeat("9", 400<<10)
	var events []string
	for i := range 20 {
		events = append(events, fmt.Sprintf(`{"id":%d,"created_at":"%s","entity_type":"User"}`, i+1, huge))
	}
	a := post(t, nil, url, "["+strings.Join(events, ",")+"]", withToken())
	require.Equal(t, http.StatusBadRequest, a.status)
	assert.Less(t, len(a.raw), 8<<10, "an 8 MB request gets a short answer, not its values back")
}

func TestStreamAnswerToAResentBatchIsTrue(t *testing.T) {
	_, url := startStream(t, streamConfig(), new(consumertest.LogsSink))
	body := `[{"id":501,"created_at":"2026-01-01T00:00:00Z","entity_type":"User"},` +
		`{"id":502,"created_at":"2026-01-01T00:00:00Z","entity_type":"User"},` +
		`{"id":503}]`
	first := post(t, nil, url, body, withToken())
	require.Equal(t, http.StatusBadRequest, first.status)
	assert.Equal(t, 2, first.body.Accepted)
	assert.Contains(t, first.body.Error, "2 accepted")

	again := post(t, nil, url, body, withToken())
	require.Equal(t, http.StatusBadRequest, again.status)
	assert.Equal(t, 0, again.body.Accepted)
	assert.Equal(t, 2, again.body.Duplicates)
	assert.NotContains(t, again.body.Error, "2 valid event(s) were accepted")
	assert.Contains(t, again.body.Error, "0 accepted")
	assert.Contains(t, again.body.Error, "2 already accepted before")
}

func TestStreamChecksTheTokenBeforeTheContentEncoding(t *testing.T) {
	tel := componenttest.NewTelemetry()
	defer func() { require.NoError(t, tel.Shutdown(context.Background())) }()
	cfg := streamConfig()
	set := receivertest.NewNopSettings(metadata.Type)
	set.TelemetrySettings = tel.NewTelemetrySettings()
	r, err := newReceiver(cfg, set, new(consumertest.LogsSink))
	require.NoError(t, err)
	require.NoError(t, r.Start(context.Background(), newStatusHost(nil)))
	t.Cleanup(func() { require.NoError(t, r.Shutdown(context.Background())) })
	url := "http://" + r.stream.Addr() + cfg.Stream.Get().Path

	for _, tok := range []string{"wrong-token", ""} {
		req, err := http.NewRequest(http.MethodPost, url, bytes.NewBufferString("not gzip"))
		require.NoError(t, err)
		req.Header.Set("Content-Encoding", "gzip")
		if tok != "" {
			req.Header.Set(stream.TokenHeader, tok)
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		_ = resp.Body.Close()
		assert.Equal(t, http.StatusUnauthorized, resp.StatusCode, "token %q", tok)
	}
	m, err := tel.GetMetric("otelcol_gitlab_audit_stream_requests_rejected")
	require.NoError(t, err)
	var auth int64
	for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
		if v, ok := dp.Attributes.Value(attribute.Key(metadata.AttrReason)); ok && v.AsString() == "auth" {
			auth += dp.Value
		}
	}
	assert.Equal(t, int64(2), auth, "counted as rejected for auth")
}
