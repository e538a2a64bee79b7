// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package emit

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"go.opentelemetry.io/collector/extension/xextension/storage"
	"go.uber.org/zap"

	"github.com/kyra-mdr/otelcol-gitlab/receiver/gitlabauditreceiver/internal/auditlog"
)

// Store is the one owner of the storage client: it loads the state at
// start, commits each accepted batch (its de-duplication entries and, for
// the poller, the feed's checkpoint) in one storage transaction, and
// compacts.
//
// De-duplication entries are appended, one chunk per commit, to segments:
// runs of consecutive chunks. A segment closes when it holds segmentSize
// entries or is segmentAge old. Compaction never rewrites an entry: it
// drops whole segments, those whose every entry expired and those older
// than the newest max_entries entries (which the in-memory set no longer
// holds either), and deletes their chunks in small transactions, off the
// commit path. Storage thus holds about max_entries entries and a few
// segments more, and each commit costs the same whatever the set's size.
//
// Every value is written in one binary encoding (codec.go): a version
// byte, unsigned varints, and strings as a length and their bytes, so no
// input can forge or break an entry; a value that does not decode exactly
// is reported and skipped.
//
// Storage keys: state/meta (the segments), state/chunk/<n> (one commit's
// entries), checkpoint/<feed> (a feed's checkpoint).
type Store struct {
	client storage.Client
	logger *zap.Logger
	now    func() time.Time

	maxEntries  int
	segmentSize int
	segmentAge  time.Duration
	// compactNow is signalled (without blocking) when a segment closes.
	compactNow chan struct{}

	mu   sync.Mutex // serialises the writers of meta
	meta stateMeta
}

// storedEntry is a de-duplication entry as stored.
type storedEntry struct {
	expires int64 // unix nanoseconds
	fp      auditlog.Fingerprint
}

// segment is a run of chunks [first, next).
type segment struct {
	first, next uint64
	entries     uint64
	opened      int64 // unix nanoseconds of its first commit
	expires     int64 // latest expiry of its entries
}

// stateMeta lists the live segments, oldest first. Chunks from base to the
// first segment are dropped and wait to be deleted.
type stateMeta struct {
	base     uint64
	next     uint64 // next chunk number
	segments []segment
}

const (
	stateMetaKey     = "state/meta"
	stateChunkPrefix = "state/chunk/"
	// deleteBatch is how many chunks one compaction transaction deletes.
	deleteBatch = 1000
	// loadBatch is how many chunks one transaction reads at start.
	loadBatch = 1000
	// segmentsPerSet: a segment holds at most max_entries/segmentsPerSet
	// entries and spans at most ttl/segmentsPerSet, so that dropping whole
	// segments keeps storage within about 1/segmentsPerSet of the set.
	segmentsPerSet = 8

	// The earlier version's de-duplication state, read no more.
	legacyDedupMetaKey     = "dedup/meta"
	legacyDedupSnapshotKey = "dedup/snapshot"
)

// NewStore returns the store of client, sized for a de-duplication set
// of maxEntries entries that expire after ttl.
func NewStore(client storage.Client, logger *zap.Logger, now func() time.Time, maxEntries int, ttl time.Duration) *Store {
	return &Store{
		client:      client,
		logger:      logger,
		now:         now,
		maxEntries:  maxEntries,
		segmentSize: max(maxEntries/segmentsPerSet, 1),
		segmentAge:  max(ttl/segmentsPerSet, time.Second),
		compactNow:  make(chan struct{}, 1),
	}
}

func chunkKey(n uint64) string { return stateChunkPrefix + strconv.FormatUint(n, 10) }

// load reads the stored de-duplication entries. A missing state yields
// none; a damaged one is reported and yields what could be read.
func (s *Store) Load(ctx context.Context) (map[string]storedEntry, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]storedEntry{}
	raw, err := s.client.Get(ctx, stateMetaKey)
	if err != nil {
		return out, err
	}
	if raw == nil {
		return out, s.dropLegacy(ctx)
	}
	meta, err := decodeStateMeta(raw)
	if err != nil {
		return out, err
	}
	s.meta = meta
	var errs []error
	var ops []*storage.Operation
	read := func() {
		if err := s.client.Batch(ctx, ops...); err != nil {
			errs = append(errs, err)
		}
		for _, op := range ops {
			if op.Value == nil {
				continue // never written: the commit failed
			}
			if err := decodeChunk(op.Value, out); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", op.Key, err))
			}
		}
		ops = ops[:0]
	}
	for _, seg := range meta.segments {
		for n := seg.first; n < seg.next; n++ {
			ops = append(ops, storage.GetOperation(chunkKey(n)))
			if len(ops) == loadBatch {
				read()
			}
		}
	}
	if len(ops) > 0 {
		read()
	}
	return out, errors.Join(errs...)
}

// dropLegacy deletes the earlier version's de-duplication state, whose
// line encoding could be forged by an event id. It is not read: events
// delivered again within its ttl may be emitted once more. It runs until
// version 0.3.0 (docs/deployment.md), which removes it.
func (s *Store) dropLegacy(ctx context.Context) error {
	raw, err := s.client.Get(ctx, legacyDedupMetaKey)
	if err != nil || raw == nil {
		return err
	}
	s.logger.Warn("Ignoring the de-duplication state of an earlier version (its encoding could be forged); " +
		"events delivered again within the de-duplication ttl may be emitted once more")
	var first, next uint64
	if _, err := fmt.Sscan(string(raw), &first, &next); err != nil || next < first || next-first > 1<<20 {
		first, next = 0, 0
	}
	ops := []*storage.Operation{storage.DeleteOperation(legacyDedupMetaKey), storage.DeleteOperation(legacyDedupSnapshotKey)}
	for n := first; n < next; n++ {
		ops = append(ops, storage.DeleteOperation("dedup/chunk/"+strconv.FormatUint(n, 10)))
	}
	return s.client.Batch(ctx, ops...)
}

// commit stores the entries of one accepted batch, which expire at
// expires, in one transaction with also (the poller's checkpoint).
func (s *Store) Commit(ctx context.Context, items []Item, expires int64, also ...*storage.Operation) error {
	if len(items) == 0 && len(also) == 0 {
		return nil
	}
	if len(items) == 0 {
		return s.client.Batch(ctx, also...)
	}
	now := s.now().UnixNano()
	s.mu.Lock()
	defer s.mu.Unlock()
	next := s.meta
	n := next.next
	next.next++
	next.segments = append(make([]segment, 0, len(s.meta.segments)+1), s.meta.segments...)
	closed := false
	if last := len(next.segments) - 1; last >= 0 && next.segments[last].next == n &&
		next.segments[last].entries < uint64(s.segmentSize) && now-next.segments[last].opened < int64(s.segmentAge) {
		seg := &next.segments[last]
		seg.next = n + 1
		seg.entries += uint64(len(items))
		seg.expires = max(seg.expires, expires)
	} else {
		closed = last >= 0
		next.segments = append(next.segments, segment{first: n, next: n + 1, entries: uint64(len(items)), opened: now, expires: expires})
	}
	ops := append([]*storage.Operation{
		storage.SetOperation(chunkKey(n), encodeChunk(items, expires)),
		storage.SetOperation(stateMetaKey, encodeStateMeta(next)),
	}, also...)
	if err := s.client.Batch(ctx, ops...); err != nil {
		return err
	}
	s.meta = next
	if closed {
		select {
		case s.compactNow <- struct{}{}:
		default:
		}
	}
	return nil
}

// compact drops the segments no longer needed and deletes their chunks,
// deleteBatch chunks per transaction, so commits wait for one small
// transaction at most.
func (s *Store) Compact(ctx context.Context) error {
	now := s.now().UnixNano()
	s.mu.Lock()
	segs := s.meta.segments
	// Entries in the segments after segs[i].
	after := make([]uint64, len(segs))
	var total uint64
	for i := len(segs) - 1; i >= 0; i-- {
		after[i] = total
		total += segs[i].entries
	}
	drop := 0
	for drop < len(segs) && (segs[drop].expires <= now || after[drop] >= uint64(s.maxEntries)) {
		drop++
	}
	if drop > 0 {
		next := s.meta
		next.segments = append([]segment(nil), segs[drop:]...)
		if err := s.client.Batch(ctx, storage.SetOperation(stateMetaKey, encodeStateMeta(next))); err != nil {
			s.mu.Unlock()
			return err
		}
		s.meta = next
	}
	s.mu.Unlock()
	for {
		s.mu.Lock()
		end := s.meta.next
		if len(s.meta.segments) > 0 {
			end = s.meta.segments[0].first
		}
		if s.meta.base >= end {
			s.mu.Unlock()
			return nil
		}
		next := s.meta
		to := min(end, next.base+deleteBatch)
		ops := make([]*storage.Operation, 0, to-next.base+1)
		for n := next.base; n < to; n++ {
			ops = append(ops, storage.DeleteOperation(chunkKey(n)))
		}
		next.base = to
		ops = append(ops, storage.SetOperation(stateMetaKey, encodeStateMeta(next)))
		err := s.client.Batch(ctx, ops...)
		if err == nil {
			s.meta = next
		}
		s.mu.Unlock()
		if err != nil {
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
}

// stored returns how many entries the live segments hold.
func (s *Store) stored() (entries uint64, segments int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, seg := range s.meta.segments {
		entries += seg.entries
	}
	return entries, len(s.meta.segments)
}

// Get reads the value another stage keeps under key (a feed's
// checkpoint, the discovered estate); nil when there is none.
func (s *Store) Get(ctx context.Context, key string) ([]byte, error) {
	return s.client.Get(ctx, key)
}

// Set stores a value another stage keeps under key, alone.
func (s *Store) Set(ctx context.Context, key string, value []byte) error {
	return s.client.Batch(ctx, storage.SetOperation(key, value))
}

// Delete removes the values under keys, in one transaction.
func (s *Store) Delete(ctx context.Context, keys ...string) error {
	ops := make([]*storage.Operation, len(keys))
	for i, k := range keys {
		ops[i] = storage.DeleteOperation(k)
	}
	return s.client.Batch(ctx, ops...)
}

// Close closes the storage client.
func (s *Store) Close(ctx context.Context) error { return s.client.Close(ctx) }
