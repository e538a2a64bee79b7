// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package poll

import (
	"context"
	"testing"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/extension/storage/storagetest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/extension/xextension/storage"
	"go.uber.org/zap"

	"github.com/kyra-mdr/otelcol-gitlab/receiver/gitlabauditreceiver/internal/emit"
	"github.com/kyra-mdr/otelcol-gitlab/receiver/gitlabauditreceiver/internal/gitlabapi"
)

func newMemStore() (storage.Client, *emit.Store) {
	client := storagetest.NewInMemoryClient(component.KindReceiver, component.MustNewID("gitlab_audit"), "")
	return client, emit.NewStore(client, zap.NewNop(), time.Now, 100, time.Hour)
}

// TestCheckpointKeysCannotBeForged: keys that look like encoding
// delimiters round-trip as they are.
func TestCheckpointKeysCannotBeForged(t *testing.T) {
	forged := []string{"P:1\t9223372036854775807\nP:2", "~a\x00b:3"}
	cp := checkpoint{Watermark: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC), Seen: map[string]int64{forged[0]: 5, forged[1]: 6}}
	back, err := decodeCheckpoint(encodeCheckpoint(cp))
	require.NoError(t, err)
	assert.Equal(t, cp, back)
}

// TestCheckpointReadsTheEarlierVersion: a JSON checkpoint of the earlier
// version is read (its keys in the current form) and stored again in the
// current encoding.
func TestCheckpointReadsTheEarlierVersion(t *testing.T) {
	ctx := context.Background()
	client, s := newMemStore()
	feed := gitlabapi.Feed{Kind: gitlabapi.KindInstance}
	require.NoError(t, client.Set(ctx, checkpointKey(feed),
		[]byte(`{"version":1,"watermark":"2026-11-25T12:00:00Z","seen":{"P:1":1,"DeployKey:2":2,":3":3}}`)))

	cp, ok, err := loadCheckpoint(ctx, s, feed)
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC), cp.Watermark)
	assert.Equal(t, map[string]int64{"P:1": 1, "~DeployKey:2": 2, "~:3": 3}, cp.Seen)

	// Saved again, it is written in the current encoding and read back.
	require.NoError(t, client.Batch(ctx, checkpointOperation(feed, cp)))
	raw, err := client.Get(ctx, checkpointKey(feed))
	require.NoError(t, err)
	assert.Equal(t, emit.Version, raw[0])
	again, ok, err := loadCheckpoint(ctx, s, feed)
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, cp, again)
}

// FuzzCheckpointDecode: no stored value makes the checkpoint decoder panic
// or read beyond it, and what decodes encodes back to an equal checkpoint.
func FuzzCheckpointDecode(f *testing.F) {
	f.Add(encodeCheckpoint(checkpoint{Watermark: time.Unix(0, 77), Seen: map[string]int64{"P:1": 1}}))
	f.Add([]byte{emit.Version, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		if cp, err := decodeCheckpoint(b); err == nil {
			back, err := decodeCheckpoint(encodeCheckpoint(cp))
			require.NoError(t, err)
			assert.Equal(t, cp, back)
		}
	})
}
