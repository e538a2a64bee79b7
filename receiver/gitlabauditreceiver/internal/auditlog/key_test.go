// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package auditlog

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog"
)

func TestValidIDs(t *testing.T) {
	for id, ok := range map[string]bool{
		"1":                                    true,
		"985001":                               true,
		"18446744073709551616":                 true, // beyond uint64: kept as text
		"5d9b1c1e-3f0a-4a8e-9a57-8f3c0e7c2b11": true,
		"5D9B1C1E-3F0A-4A8E-9A57-8F3C0E7C2B11": true,
		"":                                     false,
		"zz\t1\nP:985001\t9223372036854775807\nqq": false,
		"bad\nnotab":                           false,
		"1:2":                                  false,
		"-1":                                   false,
		"1.5":                                  false,
		"1e3":                                  false,
		" 1":                                   false,
		strings.Repeat("9", 33):                false,
		"5d9b1c1e-3f0a-4a8e-9a57-8f3c0e7c2b1g": false,
		"5d9b1c1e3f0a-4a8e-9a57-8f3c0e7c2b11-": false,
	} {
		assert.Equal(t, ok, validID(id), "%q", id)
	}
}

// TestKeysAreUnambiguous: no two (entity type, id) pairs share a key, in
// particular not the collisions of issue 10.2.
func TestKeysAreUnambiguous(t *testing.T) {
	pairs := [][2]string{
		{"Project", "1"}, {"P", "1"}, {"~P", "1"}, {"", "1"},
		{"Group", "1"}, {"G", "1"}, {"User", "1"}, {"Gitlab::Audit::InstanceScope", "1"}, {"I", "1"},
		{"X:Y", "2"}, {"X", "2"}, {"X:Y:2", "3"},
		{"a\tb", "4"}, {"a", "4"},
	}
	seen := map[string][2]string{}
	for _, p := range pairs {
		k := key(p[0], p[1])
		prev, dup := seen[k]
		require.False(t, dup, "%q and %q share the key %q", p, prev, k)
		seen[k] = p
	}
	assert.Equal(t, "P:1", key("Project", "1"))
	assert.Equal(t, "~P:1", key("P", "1"))
}

func TestFillRefusesInvalidIDs(t *testing.T) {
	for _, obj := range []string{
		`{"id":"zz\t1\nP:985001\t9223372036854775807\nqq","created_at":"2024-01-01T00:00:00Z"}`,
		`{"id":"bad\nnotab","created_at":"2024-01-01T00:00:00Z"}`,
		`{"id":-3,"created_at":"2024-01-01T00:00:00Z"}`,
		`{"id":"` + strings.Repeat("x", 1000) + `","created_at":"2024-01-01T00:00:00Z"}`,
	} {
		_, err := Fill(plog.NewLogRecord(), obj, SourceStream, "", observed)
		require.ErrorContains(t, err, "is neither a GitLab event number nor a UUID")
		assert.Less(t, len(err.Error()), 120, "the refused value is cut")
	}
	_, err := Fill(plog.NewLogRecord(), `{"id":1,"entity_type":"`+strings.Repeat("A", 200)+`","created_at":"2024-01-01T00:00:00Z"}`, SourceStream, "", observed)
	require.ErrorContains(t, err, `"entity_type" is longer than 128 bytes`)
}

func TestLegacyKey(t *testing.T) {
	assert.Equal(t, "P:1", LegacyKey("P:1"))
	assert.Equal(t, "I:1", LegacyKey("I:1"))
	assert.Equal(t, "~DeployKey:1", LegacyKey("DeployKey:1"))
	assert.Equal(t, "~:1", LegacyKey(":1"))
	assert.Equal(t, "~Pro:1", LegacyKey("Pro:1"))
}

// TestFingerprint: the REST and the stream shape of one event have the same
// fingerprint; another created_at, author or entity, or another named
// type, differ; an unnamed type matches any.
func TestFingerprint(t *testing.T) {
	fpOf := func(obj, hint string) Fingerprint {
		lr, _ := fill(t, obj, SourcePoll, hint)
		return FingerprintOf(lr)
	}
	rest := fpOf(`{"id":5,"author_id":1,"entity_id":7,"entity_type":"Project","created_at":"2024-01-01T00:00:00.123Z","details":{"event_name":"add_ssh_key","author_name":"a"}}`, "")
	stream := fpOf(`{"id":5,"author_id":1,"entity_id":7,"entity_type":"Project","created_at":"2024-01-01T01:00:00.123+01:00","event_type":"add_ssh_key","details":{}}`, "")
	assert.Equal(t, rest, stream)
	assert.True(t, rest.Matches(stream))
	for _, other := range []string{
		`{"id":5,"author_id":1,"entity_id":7,"created_at":"2024-01-01T00:00:00.124Z","event_type":"add_ssh_key"}`,
		`{"id":5,"author_id":2,"entity_id":7,"created_at":"2024-01-01T00:00:00.123Z","event_type":"add_ssh_key"}`,
		`{"id":5,"author_id":1,"entity_id":8,"created_at":"2024-01-01T00:00:00.123Z","event_type":"add_ssh_key"}`,
		`{"id":5,"author_id":1,"entity_id":7,"created_at":"2024-01-01T00:00:00.123Z","event_type":"remove_ssh_key"}`,
	} {
		assert.False(t, rest.Matches(fpOf(other, "")), other)
	}
	unnamed := fpOf(`{"id":5,"author_id":1,"entity_id":7,"created_at":"2024-01-01T00:00:00.123Z","details":{}}`, "")
	assert.Zero(t, unnamed.Type)
	assert.True(t, rest.Matches(unnamed))
	assert.True(t, Fingerprint{}.Matches(rest), "unknown (earlier state) matches")
}
