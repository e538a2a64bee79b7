// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package poll

import (
	"context"
	"slices"
	"time"

	"github.com/kyra-mdr/otelcol-gitlab/receiver/gitlabauditreceiver/internal/emit"
	"github.com/kyra-mdr/otelcol-gitlab/receiver/gitlabauditreceiver/internal/gitlabapi"
)

// The discovered feeds in the state store: one value under estateIndexKey,
// in the store's one encoding, beside the feeds' checkpoints.

// estateIndexKey is the storage key of the discovered feeds.
const estateIndexKey = "estate/index"

// loadEstate reads the stored list of discovered feeds; ok is false when
// there is none.
func loadEstate(ctx context.Context, s *emit.Store) (idx estateIndex, ok bool, err error) {
	raw, err := s.Get(ctx, estateIndexKey)
	if err != nil || raw == nil {
		return estateIndex{}, false, err
	}
	idx, err = decodeEstate(raw)
	return idx, err == nil, err
}

// saveEstate stores the list of discovered feeds.
func saveEstate(ctx context.Context, s *emit.Store, idx estateIndex) error {
	return s.Set(ctx, estateIndexKey, encodeEstate(idx))
}

// forgetCheckpoints removes the checkpoints of feeds gone from the estate,
// in one transaction.
func forgetCheckpoints(ctx context.Context, s *emit.Store, feeds []gitlabapi.Feed) error {
	keys := make([]string, len(feeds))
	for i, f := range feeds {
		keys[i] = checkpointKey(f)
	}
	return s.Delete(ctx, keys...)
}

// encodeEstate: version, the listed groups (name, unix ns), then per feed
// its kind, id, path, root, start and gone (unix ns, 0 while present).
func encodeEstate(idx estateIndex) []byte {
	e := emit.NewEncoder(64 * (len(idx.Listed) + len(idx.Feeds)))
	roots := make([]string, 0, len(idx.Listed))
	for r := range idx.Listed {
		roots = append(roots, r)
	}
	slices.Sort(roots)
	e = e.Uint(uint64(len(roots)))
	for _, r := range roots {
		e = e.Str(r).Int(idx.Listed[r].UnixNano())
	}
	e = e.Uint(uint64(len(idx.Feeds)))
	for _, f := range idx.Feeds {
		e = e.Str(string(f.Kind)).Int(f.ID).Str(f.Path).Str(f.Root).Int(unixNanoOrZero(f.Start)).Int(unixNanoOrZero(f.Gone))
	}
	return e
}

func decodeEstate(raw []byte) (estateIndex, error) {
	d := emit.NewDecoder(raw)
	idx := estateIndex{Listed: map[string]time.Time{}}
	for n := d.Count(2); n > 0; n-- {
		r := d.Str()
		idx.Listed[r] = time.Unix(0, d.Int()).UTC()
	}
	for n := d.Count(6); n > 0; n-- {
		en := &estateEntry{Kind: gitlabapi.Kind(d.Str()), ID: d.Int(), Path: d.Str(), Root: d.Str()}
		en.Start, en.Gone = timeOrZero(d.Int()), timeOrZero(d.Int())
		switch {
		case d.Err() != nil:
		case en.Kind != gitlabapi.KindGroup && en.Kind != gitlabapi.KindProject, en.ID <= 0:
			d.Fail()
		default:
			idx.Feeds = append(idx.Feeds, en)
		}
	}
	if err := d.End(); err != nil {
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
