// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package gitlabauditreceiver // import "github.com/kyra-mdr/otelcol-gitlab/receiver/gitlabauditreceiver"

import (
	"context"
	"slices"
	"time"

	"go.opentelemetry.io/collector/extension/xextension/storage"

	"github.com/kyra-mdr/otelcol-gitlab/receiver/gitlabauditreceiver/internal/gitlabapi"
)

// The discovered feeds in the state store: one value under estateIndexKey,
// in the store's one encoding, beside the feeds' checkpoints.

// estateIndexKey is the storage key of the discovered feeds.
const estateIndexKey = "estate/index"

// loadEstate reads the stored list of discovered feeds; ok is false when
// there is none.
func (s *stateStore) loadEstate(ctx context.Context) (idx estateIndex, ok bool, err error) {
	raw, err := s.client.Get(ctx, estateIndexKey)
	if err != nil || raw == nil {
		return estateIndex{}, false, err
	}
	idx, err = decodeEstate(raw)
	return idx, err == nil, err
}

// saveEstate stores the list of discovered feeds.
func (s *stateStore) saveEstate(ctx context.Context, idx estateIndex) error {
	return s.client.Set(ctx, estateIndexKey, encodeEstate(idx))
}

// forgetCheckpoints removes the checkpoints of feeds gone from the estate,
// in one transaction.
func (s *stateStore) forgetCheckpoints(ctx context.Context, feeds []gitlabapi.Feed) error {
	ops := make([]*storage.Operation, len(feeds))
	for i, f := range feeds {
		ops[i] = storage.DeleteOperation(checkpointKey(f))
	}
	return s.client.Batch(ctx, ops...)
}

// encodeEstate: version, the listed groups (name, unix ns), then per feed
// its kind, id, path, root, start and gone (unix ns, 0 while present).
func encodeEstate(idx estateIndex) []byte {
	e := stateEncoder{stateVersion}
	roots := make([]string, 0, len(idx.Listed))
	for r := range idx.Listed {
		roots = append(roots, r)
	}
	slices.Sort(roots)
	e = e.uint(uint64(len(roots)))
	for _, r := range roots {
		e = e.str(r).int(idx.Listed[r].UnixNano())
	}
	e = e.uint(uint64(len(idx.Feeds)))
	for _, f := range idx.Feeds {
		e = e.str(string(f.Kind)).int(f.ID).str(f.Path).str(f.Root).int(unixNanoOrZero(f.Start)).int(unixNanoOrZero(f.Gone))
	}
	return e
}

func decodeEstate(raw []byte) (estateIndex, error) {
	d := newStateDecoder(raw)
	idx := estateIndex{Listed: map[string]time.Time{}}
	for n := d.count(2); n > 0; n-- {
		r := d.str()
		idx.Listed[r] = time.Unix(0, d.int()).UTC()
	}
	for n := d.count(6); n > 0; n-- {
		en := &estateEntry{Kind: gitlabapi.Kind(d.str()), ID: d.int(), Path: d.str(), Root: d.str()}
		en.Start, en.Gone = timeOrZero(d.int()), timeOrZero(d.int())
		switch {
		case d.err != nil:
		case en.Kind != gitlabapi.KindGroup && en.Kind != gitlabapi.KindProject, en.ID <= 0:
			d.err = errStateTruncated
		default:
			idx.Feeds = append(idx.Feeds, en)
		}
	}
	if err := d.end(); err != nil {
		return estateIndex{}, err
	}
	return idx, nil
}

func unixNanoOrZero(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func timeOrZero(ns int64) time.Time {
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns).UTC()
}
