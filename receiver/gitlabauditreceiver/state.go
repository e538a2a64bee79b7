// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package gitlabauditreceiver // import "github.com/kyra-mdr/otelcol-gitlab/receiver/gitlabauditreceiver"

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"go.opentelemetry.io/collector/extension/xextension/storage"
	"go.uber.org/zap"

	"github.com/kyra-mdr/otelcol-gitlab/receiver/gitlabauditreceiver/internal/auditlog"
	"github.com/kyra-mdr/otelcol-gitlab/receiver/gitlabauditreceiver/internal/gitlabapi"
)

// stateStore is the one owner of the storage client: it loads the state at
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
// Every value is written in one binary encoding (stateEncoder): a version
// byte, unsigned varints, and strings as a length and their bytes, so no
// input can forge or break an entry; a value that does not decode exactly
// is reported and skipped.
//
// Storage keys: state/meta (the segments), state/chunk/<n> (one commit's
// entries), checkpoint/<feed> (a feed's checkpoint).
type stateStore struct {
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
	// stateVersion is the first byte of every value the store writes.
	stateVersion byte = 2
	// fingerprintSize is the encoded size of an auditlog.Fingerprint.
	fingerprintSize = 16
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

func newStateStore(client storage.Client, logger *zap.Logger, now func() time.Time, maxEntries int, ttl time.Duration) *stateStore {
	return &stateStore{
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
func (s *stateStore) load(ctx context.Context) (map[string]storedEntry, error) {
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
// delivered again within its ttl may be emitted once more.
func (s *stateStore) dropLegacy(ctx context.Context) error {
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
func (s *stateStore) commit(ctx context.Context, items []dedupItem, expires int64, also ...*storage.Operation) error {
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
func (s *stateStore) compact(ctx context.Context) error {
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
func (s *stateStore) stored() (entries uint64, segments int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, seg := range s.meta.segments {
		entries += seg.entries
	}
	return entries, len(s.meta.segments)
}

// checkpointKey is the storage key of a feed's checkpoint. It is stable
// across versions: changing it would lose every user's checkpoints.
func checkpointKey(f gitlabapi.Feed) string {
	return "checkpoint/" + f.String()
}

// loadCheckpoint reads a feed's checkpoint; ok is false when there is none.
// A checkpoint of the earlier version (JSON) is read too.
func (s *stateStore) loadCheckpoint(ctx context.Context, f gitlabapi.Feed) (checkpoint, bool, error) {
	raw, err := s.client.Get(ctx, checkpointKey(f))
	if err != nil || raw == nil {
		return checkpoint{}, false, err
	}
	var cp checkpoint
	if raw[0] == '{' {
		cp, err = decodeLegacyCheckpoint(raw)
	} else {
		cp, err = decodeCheckpoint(raw)
	}
	if err != nil {
		return checkpoint{}, false, err
	}
	if cp.Watermark.IsZero() {
		return checkpoint{}, false, errors.New("the stored checkpoint has no watermark")
	}
	return cp, true, nil
}

// saveCheckpoint stores a checkpoint alone (at the end of a window).
func (s *stateStore) saveCheckpoint(ctx context.Context, f gitlabapi.Feed, cp checkpoint) error {
	return s.client.Batch(ctx, checkpointOperation(f, cp))
}

// checkpointOperation is the storage operation that saves a checkpoint.
func checkpointOperation(f gitlabapi.Feed, cp checkpoint) *storage.Operation {
	return storage.SetOperation(checkpointKey(f), encodeCheckpoint(cp))
}

// The encoding.

type stateEncoder []byte

func (e stateEncoder) uint(v uint64) stateEncoder { return stateEncoder(appendUvarint(e, v)) }
func (e stateEncoder) int(v int64) stateEncoder   { return e.uint(uint64(v<<1) ^ uint64(v>>63)) }
func (e stateEncoder) str(s string) stateEncoder  { return append(e.uint(uint64(len(s))), s...) }
func (e stateEncoder) fp(f auditlog.Fingerprint) stateEncoder {
	return stateEncoder(appendFingerprint(e, f))
}

func appendUvarint(b []byte, v uint64) []byte {
	for v >= 0x80 {
		b = append(b, byte(v)|0x80)
		v >>= 7
	}
	return append(b, byte(v))
}

func appendFingerprint(b []byte, f auditlog.Fingerprint) []byte {
	c := uint64(f.CreatedAt)
	w := uint64(f.Who)<<32 | uint64(f.Type)
	for i := 56; i >= 0; i -= 8 {
		b = append(b, byte(c>>i))
	}
	for i := 56; i >= 0; i -= 8 {
		b = append(b, byte(w>>i))
	}
	return b
}

// stateDecoder reads what stateEncoder wrote; the first error sticks.
type stateDecoder struct {
	b   []byte
	err error
}

var errStateTruncated = errors.New("truncated or malformed value")

func newStateDecoder(b []byte) *stateDecoder {
	d := &stateDecoder{b: b}
	if len(b) == 0 || b[0] != stateVersion {
		d.err = fmt.Errorf("unknown encoding version (want %d)", stateVersion)
		return d
	}
	d.b = b[1:]
	return d
}

func (d *stateDecoder) uint() uint64 {
	if d.err != nil {
		return 0
	}
	var v uint64
	for i := 0; i < 10 && i < len(d.b); i++ {
		c := d.b[i]
		if i == 9 && c > 1 {
			break
		}
		if i > 0 && c == 0 {
			break // not the shortest form: one value, one encoding
		}
		v |= uint64(c&0x7f) << (7 * i)
		if c < 0x80 {
			d.b = d.b[i+1:]
			return v
		}
	}
	d.err = errStateTruncated
	return 0
}

func (d *stateDecoder) int() int64 {
	u := d.uint()
	return int64(u>>1) ^ -int64(u&1)
}

// count reads a count of items each at least min bytes long, refusing
// counts the rest of the value cannot hold.
func (d *stateDecoder) count(minSize int) int {
	n := d.uint()
	if d.err == nil && n > uint64(len(d.b)/minSize) {
		d.err = errStateTruncated
	}
	if d.err != nil {
		return 0
	}
	return int(n)
}

func (d *stateDecoder) str() string {
	n := d.uint()
	if d.err == nil && n > uint64(len(d.b)) {
		d.err = errStateTruncated
	}
	if d.err != nil {
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}

func (d *stateDecoder) fp() auditlog.Fingerprint {
	if d.err == nil && len(d.b) < fingerprintSize {
		d.err = errStateTruncated
	}
	if d.err != nil {
		return auditlog.Fingerprint{}
	}
	var c, w uint64
	for i := range 8 {
		c = c<<8 | uint64(d.b[i])
		w = w<<8 | uint64(d.b[8+i])
	}
	d.b = d.b[fingerprintSize:]
	return auditlog.Fingerprint{CreatedAt: int64(c), Who: uint32(w >> 32), Type: uint32(w)}
}

// end reports the first error, or trailing bytes.
func (d *stateDecoder) end() error {
	if d.err == nil && len(d.b) != 0 {
		d.err = errStateTruncated
	}
	return d.err
}

// encodeChunk: version, expires, count, then per entry its key and
// fingerprint.
func encodeChunk(items []dedupItem, expires int64) []byte {
	n := 1 + 2*binaryMaxVarint
	for _, it := range items {
		n += binaryMaxVarint + len(it.key) + fingerprintSize
	}
	e := stateEncoder(make([]byte, 0, n))
	e = append(e, stateVersion)
	e = e.int(expires).uint(uint64(len(items)))
	for _, it := range items {
		e = e.str(it.key).fp(it.fp)
	}
	return e
}

const binaryMaxVarint = 10

// decodeChunk adds a chunk's entries to into (the latest expiry wins).
func decodeChunk(b []byte, into map[string]storedEntry) error {
	d := newStateDecoder(b)
	expires := d.int()
	n := d.count(1 + fingerprintSize)
	type kv struct {
		k  string
		fp auditlog.Fingerprint
	}
	items := make([]kv, 0, n)
	for range n {
		k := d.str()
		fp := d.fp()
		items = append(items, kv{k, fp})
	}
	if err := d.end(); err != nil {
		return err
	}
	for _, it := range items {
		if expires > into[it.k].expires {
			into[it.k] = storedEntry{expires: expires, fp: it.fp}
		}
	}
	return nil
}

func encodeStateMeta(m stateMeta) []byte {
	e := stateEncoder(make([]byte, 0, 1+2*binaryMaxVarint+len(m.segments)*5*binaryMaxVarint))
	e = append(e, stateVersion)
	e = e.uint(m.base).uint(m.next).uint(uint64(len(m.segments)))
	for _, s := range m.segments {
		e = e.uint(s.first).uint(s.next - s.first).uint(s.entries).int(s.opened).int(s.expires)
	}
	return e
}

func decodeStateMeta(b []byte) (stateMeta, error) {
	d := newStateDecoder(b)
	var m stateMeta
	m.base, m.next = d.uint(), d.uint()
	n := d.count(5)
	prev := m.base
	for range n {
		var s segment
		s.first = d.uint()
		s.next = s.first + d.uint()
		s.entries, s.opened, s.expires = d.uint(), d.int(), d.int()
		if d.err == nil && (s.first < prev || s.next < s.first || s.next > m.next) {
			d.err = errors.New("segments out of order")
		}
		prev = s.next
		m.segments = append(m.segments, s)
	}
	if err := d.end(); err != nil {
		return stateMeta{}, fmt.Errorf("malformed %s: %w", stateMetaKey, err)
	}
	return m, nil
}

// encodeCheckpoint: version, watermark (unix ns), count, then per seen
// event its key and created_at (unix ms).
func encodeCheckpoint(cp checkpoint) []byte {
	n := 1 + 2*binaryMaxVarint
	for k := range cp.Seen {
		n += 2*binaryMaxVarint + len(k)
	}
	e := stateEncoder(make([]byte, 0, n))
	e = append(e, stateVersion)
	e = e.int(cp.Watermark.UnixNano()).uint(uint64(len(cp.Seen)))
	for k, t := range cp.Seen {
		e = e.str(k).int(t)
	}
	return e
}

func decodeCheckpoint(b []byte) (checkpoint, error) {
	d := newStateDecoder(b)
	cp := checkpoint{Watermark: time.Unix(0, d.int()).UTC()}
	n := d.count(2)
	cp.Seen = make(map[string]int64, n)
	for range n {
		k := d.str()
		cp.Seen[k] = d.int()
	}
	if err := d.end(); err != nil {
		return checkpoint{}, fmt.Errorf("the stored checkpoint cannot be read: %w", err)
	}
	return cp, nil
}

// decodeLegacyCheckpoint reads the earlier version's JSON checkpoint.
func decodeLegacyCheckpoint(b []byte) (checkpoint, error) {
	var v struct {
		Version   int              `json:"version"`
		Watermark time.Time        `json:"watermark"`
		Seen      map[string]int64 `json:"seen"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return checkpoint{}, fmt.Errorf("the stored checkpoint is not valid JSON: %w", err)
	}
	if v.Version != 1 {
		return checkpoint{}, fmt.Errorf("the stored checkpoint has version %d, this receiver reads versions 1 and %d", v.Version, stateVersion)
	}
	cp := checkpoint{Watermark: v.Watermark.UTC(), Seen: make(map[string]int64, len(v.Seen))}
	for k, t := range v.Seen {
		cp.Seen[auditlog.LegacyKey(k)] = t
	}
	return cp, nil
}
