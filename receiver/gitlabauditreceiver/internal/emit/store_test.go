// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package emit

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/extension/storage/storagetest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/extension/xextension/storage"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/kyra-mdr/otelcol-gitlab/receiver/gitlabauditreceiver/internal/auditlog"
	"github.com/kyra-mdr/otelcol-gitlab/testbed/fakeclock"
)

func newMemClient() storage.Client {
	return storagetest.NewInMemoryClient(component.KindReceiver, component.MustNewID("gitlab_audit"), "")
}

// commitKeys claims and commits keys in c and s, one commit each, as the
// emitter does.
func commitKeys(t *testing.T, c *dedupCache, s *Store, keys ...string) {
	t.Helper()
	for _, k := range keys {
		it := Item{Key: k, FP: auditlog.Fingerprint{CreatedAt: 1, Who: 2, Type: 3}}
		require.Equal(t, ClaimOwned, c.ClaimOne(it).State)
		require.NoError(t, s.Commit(context.Background(), []Item{it}, c.Commit(keysOf(k))))
	}
}

func TestStateRestartRestoresEveryCommittedKey(t *testing.T) {
	ctx := context.Background()
	clk := fakeclock.New()
	client := newMemClient()
	c := newDedupCache(100, time.Hour, clk.Now)
	s := NewStore(client, zap.NewNop(), clk.Now, 100, time.Hour)
	commitKeys(t, c, s, "P:1", "P:2", "G:3")

	s2 := NewStore(client, zap.NewNop(), clk.Now, 100, time.Hour)
	entries, err := s2.Load(ctx)
	require.NoError(t, err)
	require.Len(t, entries, 3)
	assert.Equal(t, auditlog.Fingerprint{CreatedAt: 1, Who: 2, Type: 3}, entries["G:3"].fp)
	restored := newDedupCache(100, time.Hour, clk.Now)
	restored.restore(entries)
	assert.True(t, seen(restored, "P:1"))
	assert.True(t, seen(restored, "G:3"))

	// Expired entries are not restored.
	clk.Add(2 * time.Hour)
	late := newDedupCache(100, time.Hour, clk.Now)
	late.restore(entries)
	assert.Equal(t, 0, late.Len())
}

// TestStateCompactionDropsWholeSegments: compaction deletes the chunks of
// expired segments and of segments beyond max_entries, and never rewrites
// an entry.
func TestStateCompactionDropsWholeSegments(t *testing.T) {
	ctx := context.Background()
	clk := fakeclock.New()
	client := newMemClient()
	const maxEntries = 80 // segments of 10 entries
	c := newDedupCache(maxEntries, time.Hour, clk.Now)
	s := NewStore(client, zap.NewNop(), clk.Now, maxEntries, time.Hour)
	for i := range 1000 {
		commitKeys(t, c, s, fmt.Sprintf("P:%d", i))
		if i%100 == 0 {
			require.NoError(t, s.Compact(ctx))
		}
	}
	require.NoError(t, s.Compact(ctx))
	stored, segments := s.stored()
	assert.LessOrEqual(t, stored, uint64(maxEntries+maxEntries/segmentsPerSet), "storage holds about max_entries")
	assert.GreaterOrEqual(t, stored, uint64(maxEntries), "and no fewer than the set")
	assert.LessOrEqual(t, segments, segmentsPerSet+1)
	raw, err := client.Get(ctx, chunkKey(0))
	require.NoError(t, err)
	assert.Nil(t, raw, "the chunks of dropped segments are deleted")

	entries, err := NewStore(client, zap.NewNop(), clk.Now, maxEntries, time.Hour).Load(ctx)
	require.NoError(t, err)
	assert.Len(t, entries, int(stored))
	for i := 1000 - maxEntries; i < 1000; i++ {
		assert.Contains(t, entries, fmt.Sprintf("P:%d", i), "the newest max_entries are kept")
	}

	// Once every entry expired, every segment goes.
	clk.Add(2 * time.Hour)
	require.NoError(t, s.Compact(ctx))
	stored, segments = s.stored()
	assert.Zero(t, stored)
	assert.Zero(t, segments)
	entries, err = NewStore(client, zap.NewNop(), clk.Now, maxEntries, time.Hour).Load(ctx)
	require.NoError(t, err)
	assert.Empty(t, entries)
}

// TestStateEncodingCannotBeForged stores keys made of the bytes the
// earlier line encoding used as separators: they come back exactly, and
// nothing else does.
func TestStateEncodingCannotBeForged(t *testing.T) {
	ctx := context.Background()
	clk := fakeclock.New()
	client := newMemClient()
	c := newDedupCache(100, time.Hour, clk.Now)
	s := NewStore(client, zap.NewNop(), clk.Now, 100, time.Hour)
	forged := []string{
		"~zz\t1\nP:985001\t9223372036854775807\nqq:1",
		"~bad\nnotab:2",
		"~\x00\xff:3",
		"P:4",
	}
	commitKeys(t, c, s, forged...)
	entries, err := NewStore(client, zap.NewNop(), clk.Now, 100, time.Hour).Load(ctx)
	require.NoError(t, err)
	got := make([]string, 0, len(entries))
	for k := range entries {
		got = append(got, k)
	}
	assert.ElementsMatch(t, forged, got)
}

func TestStateDamagedValuesAreReported(t *testing.T) {
	ctx := context.Background()
	client := newMemClient()
	s := NewStore(client, zap.NewNop(), time.Now, 100, time.Hour)
	require.NoError(t, client.Set(ctx, stateMetaKey, []byte("garbage")))
	_, err := s.Load(ctx)
	require.ErrorContains(t, err, "unknown encoding version")

	require.NoError(t, client.Set(ctx, stateMetaKey, encodeStateMeta(stateMeta{next: 2, segments: []segment{{first: 0, next: 2, entries: 2}}})))
	good := encodeChunk([]Item{{Key: "P:1"}}, time.Now().Add(time.Hour).UnixNano())
	require.NoError(t, client.Set(ctx, chunkKey(0), good[:len(good)-1]))
	require.NoError(t, client.Set(ctx, chunkKey(1), encodeChunk([]Item{{Key: "P:2"}}, time.Now().Add(time.Hour).UnixNano())))
	entries, err := s.Load(ctx)
	require.ErrorContains(t, err, "state/chunk/0: truncated or malformed value")
	assert.Contains(t, entries, "P:2", "what can be read is kept")
	assert.NotContains(t, entries, "P:1")
}

// TestStateDropsTheEarlierVersion: the earlier de-duplication state is
// deleted with a warning, never read (its checkpoints are read by the
// poller: TestCheckpointReadsTheEarlierVersion).
func TestStateDropsTheEarlierVersion(t *testing.T) {
	ctx := context.Background()
	client := newMemClient()
	core, logs := observer.New(zapcore.WarnLevel)
	s := NewStore(client, zap.New(core), time.Now, 100, time.Hour)
	require.NoError(t, client.Set(ctx, legacyDedupMetaKey, []byte("0 2")))
	require.NoError(t, client.Set(ctx, legacyDedupSnapshotKey, []byte("P:9\t9223372036854775807\n")))
	require.NoError(t, client.Set(ctx, "dedup/chunk/1", []byte("P:8\t9223372036854775807\n")))

	entries, err := s.Load(ctx)
	require.NoError(t, err)
	assert.Empty(t, entries)
	assert.Len(t, logs.FilterMessageSnippet("earlier version").All(), 1)
	for _, k := range []string{legacyDedupMetaKey, legacyDedupSnapshotKey, "dedup/chunk/1"} {
		raw, err := client.Get(ctx, k)
		require.NoError(t, err)
		assert.Nil(t, raw, k)
	}
}

// FuzzStateDecode: no stored value makes a decoder panic or read beyond
// it, and what decodes encodes back to the same bytes.
func FuzzStateDecode(f *testing.F) {
	f.Add(encodeChunk([]Item{{Key: "P:1"}, {Key: "~a\tb\n:2", FP: auditlog.Fingerprint{CreatedAt: -5, Who: 7, Type: 9}}}, 123))
	f.Add(encodeStateMeta(stateMeta{base: 1, next: 9, segments: []segment{{first: 2, next: 5, entries: 3, opened: -1, expires: 8}}}))
	f.Add([]byte{Version, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		into := map[string]storedEntry{}
		if err := decodeChunk(b, into); err == nil {
			var expires int64
			items := make([]Item, 0, len(into))
			for k, e := range into {
				items = append(items, Item{Key: k, FP: e.fp})
				expires = e.expires
			}
			again := map[string]storedEntry{}
			require.NoError(t, decodeChunk(encodeChunk(items, expires), again))
			assert.Equal(t, into, again)
		}
		if m, err := decodeStateMeta(b); err == nil {
			assert.Equal(t, b, encodeStateMeta(m))
		}
	})
}

func TestStateFuzzSeedsDecode(t *testing.T) {
	// The seeds of FuzzStateDecode are valid values (the fuzz test runs
	// them in every `go test`); a value of another version is refused.
	_, err := decodeStateMeta([]byte{1})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "unknown encoding version")
}
