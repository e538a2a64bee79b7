// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package gitlabsim

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestAuditJSONLogLine(t *testing.T) {
	s := New(Options{Seed: 7})
	defer func() { _ = s.Close() }()
	s.Populate(1, 1)
	at := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	ev, err := s.GenerateType("user_email_address_updated", at)
	if err != nil {
		ev, err = s.GenerateType("member_created", at)
	}
	require.NoError(t, err)

	line, err := AuditJSONLogLine(ev, "corr-1")
	require.NoError(t, err)
	require.Equal(t, byte('\n'), line[len(line)-1], "one line")
	var got map[string]any
	require.NoError(t, json.Unmarshal(line, &got))
	var rest map[string]any
	require.NoError(t, json.Unmarshal(ev.RESTJSON, &rest))

	assert.Equal(t, "INFO", got["severity"])
	assert.Equal(t, rest["created_at"], got["time"])
	assert.Equal(t, "corr-1", got["correlation_id"])
	assert.Equal(t, rest["entity_type"], got["entity_type"])
	assert.NotContains(t, got, "details", "flat: no details object")
	assert.NotContains(t, got, "id", "the file has no event id")
	for k, v := range rest["details"].(map[string]any) {
		if k == "author_email" {
			assert.NotContains(t, got, k, "REST-only key")
			continue
		}
		assert.Equal(t, v, got[k], "details.%s at the top level", k)
	}

	stream, err := s.GenerateType("repository_git_operation", at)
	require.NoError(t, err)
	if !stream.SavedToDatabase {
		_, err = AuditJSONLogLine(stream, "corr-2")
		assert.Error(t, err)
	}
}
