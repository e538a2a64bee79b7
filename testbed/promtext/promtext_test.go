// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package promtext

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const promText = `# HELP otelcol_receiver_accepted_log_records Number of log records successfully pushed into the pipeline.
# TYPE otelcol_receiver_accepted_log_records counter
otelcol_receiver_accepted_log_records{receiver="gitlab_audit",transport="http"} 600
otelcol_receiver_accepted_log_records{receiver="gitlab_audit",transport="https"} 400
otelcol_receiver_accepted_log_records{receiver="otlp",transport="http"} 7
otelcol_receiver_accepted_log_records_other{receiver="gitlab_audit"} 99
otelcol_gitlab_audit_api_requests_total{feed="instance",http_response_status_code="200"} 1.0001e+04
otelcol_gitlab_audit_api_requests_total{feed="group:a\"b",http_response_status_code="200"} 1
otelcol_gitlab_audit_dedup_entries 5
`

func TestSum(t *testing.T) {
	for _, tc := range []struct {
		name  string
		match map[string]string
		want  float64
	}{
		{"otelcol_receiver_accepted_log_records", map[string]string{"receiver": "gitlab_audit"}, 1000},
		{"otelcol_receiver_accepted_log_records_total", map[string]string{"receiver": "gitlab_audit"}, 1000},
		{"otelcol_receiver_accepted_log_records", map[string]string{"receiver": "gitlab_audit", "transport": "https"}, 400},
		{"otelcol_receiver_accepted_log_records", nil, 1007},
		{"otelcol_gitlab_audit_api_requests", nil, 10002},
		{"otelcol_gitlab_audit_api_requests", map[string]string{"feed": `group:a"b`}, 1},
		{"otelcol_gitlab_audit_dedup_entries", nil, 5},
		{"otelcol_missing", nil, 0},
	} {
		got, err := Sum(strings.NewReader(promText), tc.name, tc.match)
		require.NoError(t, err, tc.name)
		assert.InDelta(t, tc.want, got, 1e-9, "%s %v", tc.name, tc.match)
	}
	_, err := Sum(strings.NewReader("m{a=\"b\"} nope\n"), "m", nil)
	require.Error(t, err)
}

func TestByLabel(t *testing.T) {
	text := "# TYPE otelcol_gitlab_audit_checkpoint_lag gauge\n" +
		"otelcol_gitlab_audit_checkpoint_lag{feed=\"project:1\"} 12\n" +
		"otelcol_gitlab_audit_checkpoint_lag{feed=\"group:acme\"} 3.5\n" +
		"otelcol_gitlab_audit_checkpoint_lag_other{feed=\"x\"} 1\n"
	got, err := ByLabel(strings.NewReader(text), "otelcol_gitlab_audit_checkpoint_lag", "feed")
	require.NoError(t, err)
	assert.Equal(t, map[string]float64{"project:1": 12, "group:acme": 3.5}, got)
	_, err = ByLabel(strings.NewReader("m{feed=\"a\"} nope\n"), "m", "feed")
	require.Error(t, err)
}
