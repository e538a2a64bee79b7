// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const deepConfig = `
extensions:
  health_check:
    endpoint: 127.0.0.1:%[1]d
  file_storage:
    directory: %[2]s
    create_directory: true
receivers:
  gitlab_audit:
    storage: file_storage
    stream:
      endpoint: 127.0.0.1:%[3]d
      verification_tokens: [%[4]s]
exporters:
  otlp_http:
    endpoint: %[5]s
    retry_on_failure:
      initial_interval: 100ms
      max_interval: 1s
    sending_queue:
      enabled: true
      storage: file_storage
      num_consumers: 1
service:
  extensions: [health_check, file_storage]
  pipelines:
    logs: {receivers: [gitlab_audit], exporters: [otlp_http]}
  telemetry:
    metrics:
      level: none
`

// TestDeepEventCrossesThePersistentQueueAndProtobuf sends a batch of 20
// ordinary events and one nested 40 levels deep (protobuf refuses about
// 32) to the built collector, whose exporter queue is on file_storage and
// whose exporter speaks OTLP/protobuf. The collector is killed with
// SIGKILL while the export is in flight, then started again: all 21
// events arrive exactly once, the deep one with its deepest value.
func TestDeepEventCrossesThePersistentQueueAndProtobuf(t *testing.T) {
	bin := collectorBinary(t)
	sink := newOTLPSink(t)
	health, streamPort := freePort(t), freePort(t)
	col := newCollector(t, bin, fmt.Sprintf(deepConfig, health, t.TempDir(), streamPort, streamToken, sink.srv.URL), nil, health)
	col.start()

	var events []string
	for i := 1; i <= 20; i++ {
		events = append(events, fmt.Sprintf(`{"id":%d,"created_at":"2026-01-01T00:00:%02dZ","entity_type":"Project","entity_id":7,"event_type":"deploy_key_added","details":{"custom_message":"ordinary"}}`, 700+i, i))
	}
	deep := strings.Repeat(`{"level":`, 40) + `"deep-leaf-40"` + strings.Repeat("}", 40)
	events = append(events, `{"id":721,"created_at":"2026-01-01T00:00:21Z","entity_type":"Project","entity_id":7,"event_type":"deploy_key_added","details":{"custom":`+deep+`}}`)
	body := "[" + strings.Join(events, ",") + "]"

	sink.hold()
	url := fmt.Sprintf("http://127.0.0.1:%d/webhook/gitlab-audit", streamPort)
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewBufferString(body))
	require.NoError(t, err)
	req.Header.Set("X-Gitlab-Event-Streaming-Token", streamToken)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	var answer struct {
		Status   string `json:"status"`
		Accepted int    `json:"accepted"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&answer))
	_ = resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, 21, answer.Accepted, "every event accepted")

	// Killed while the export is held: the events are in the persistent
	// queue only.
	require.Eventually(t, func() bool { return sink.waiting() > 0 }, 30*time.Second, 5*time.Millisecond, "an export is in flight:\n%s", col.log())
	col.kill()
	// The held request sees its sender gone before the sink opens again:
	// nothing of it is acknowledged.
	require.Eventually(t, func() bool { return sink.waiting() == 0 }, 10*time.Second, 5*time.Millisecond)
	sink.release()
	require.Zero(t, sink.count(), "nothing was acknowledged before the kill")
	col.start()

	require.Eventually(t, func() bool { return sink.count() >= 21 }, 60*time.Second, 50*time.Millisecond, "exported %d of 21; collector log:\n%s", sink.count(), col.log())
	time.Sleep(500 * time.Millisecond) // anything late would be a duplicate
	seen := map[string]int{}
	var deepBody string
	for _, r := range sink.all() {
		seen[r.id]++
		if r.id == "721" {
			deepBody = r.body
		}
	}
	assert.Len(t, seen, 21)
	for id, n := range seen {
		assert.Equal(t, 1, n, "event %s exported %d times", id, n)
	}
	assert.Contains(t, deepBody, "deep-leaf-40", "the deepest value arrives")
	assert.NotContains(t, col.log(), "exceeded max recursion depth")
}
