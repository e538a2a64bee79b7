// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package poll

import (
	"context"
	"testing"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/extension/storage/storagetest"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/extension/xextension/storage"
	"go.uber.org/zap"

	"github.com/kyra-mdr/otelcol-gitlab/receiver/gitlabauditreceiver/internal/emit"
	"github.com/kyra-mdr/otelcol-gitlab/receiver/gitlabauditreceiver/internal/gitlabapi"
	"github.com/kyra-mdr/otelcol-gitlab/receiver/gitlabauditreceiver/internal/metadata"
)

// BenchmarkStartWith2000StoredFeeds measures what a start adds on an estate
// of 2,000 discovered projects: reading the stored list of feeds and every
// feed's checkpoint from file_storage (target in BENCHMARKS.md: well under
// a second).
func BenchmarkStartWith2000StoredFeeds(b *testing.B) {
	const feeds = 2000
	ctx := context.Background()
	host := storagetest.NewStorageHost().WithFileBackedStorageExtension("file_storage", b.TempDir())
	ext := host.GetExtensions()[storagetest.NewStorageID("file_storage")].(storage.Extension)
	client, err := ext.GetClient(ctx, component.KindReceiver, component.NewID(metadata.Type), "")
	require.NoError(b, err)
	defer func() { _ = client.Close(ctx) }()

	now := time.Now()
	state := emit.NewStore(client, zap.NewNop(), time.Now, 100_000, time.Hour)
	idx := estateIndex{Listed: map[string]time.Time{"acme": now}}
	for i := range feeds {
		en := &estateEntry{Kind: gitlabapi.KindProject, ID: int64(1000 + i), Path: "acme/team/p", Root: "acme", Start: now.Add(-time.Hour)}
		idx.Feeds = append(idx.Feeds, en)
		cp := checkpoint{Watermark: now.Add(-time.Minute), Seen: map[string]int64{"P:1": now.UnixMilli()}}
		require.NoError(b, state.Set(ctx, checkpointKey(en.feed()), encodeCheckpoint(cp)))
	}
	require.NoError(b, saveEstate(ctx, state, idx))

	b.ReportAllocs()
	for b.Loop() {
		// No request is made: the client only gives the poller its clock.
		set := Settings{
			Store: state, Logger: zap.NewNop(), Now: time.Now, Client: gitlabapi.New(gitlabapi.Options{}),
			Feeds: []gitlabapi.Feed{{Kind: gitlabapi.KindGroup, Ref: "acme"}}, Groups: []string{"acme"},
			Discovery:       Discovery{Enabled: true, Subgroups: true, Projects: true, Archived: true, Interval: time.Hour, ForgetAfter: 7 * 24 * time.Hour},
			InitialLookback: 24 * time.Hour, Overlap: 10 * time.Minute,
		}
		p := &Poller{set: set, logger: set.Logger, read: &reader{clock: &gitlabClock{c: set.Client.Clock(), logger: set.Logger}}}
		p.estate = newEstate(set, p, p.read.clock)
		p.load(ctx)
		if len(p.feeds) != feeds+1 { // and the configured group
			b.Fatalf("%d feeds loaded", len(p.feeds))
		}
	}
}
