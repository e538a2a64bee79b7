// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package poll

import (
	"container/heap"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"time"

	"github.com/kyra-mdr/otelcol-gitlab/internal/jsonpdata"
)

// defaultSpillThreshold is the size of pages a window keeps in memory;
// beyond it, pages are written to a temporary file.
const defaultSpillThreshold = 4 << 20

// The window's index: one uint64 per event, whose order is the order the
// events are emitted in: created_at (milliseconds after the window's
// start: a window is at most 30 days and the overlap long, which fits 32
// bits), then the position in the walk, backwards (GitLab serves ids in
// descending order, so a later position is a lower id). The position is
// the page (keyBitsPage bits) and the event in it (keyBitsElem bits: GitLab
// serves at most 100 per page).
const (
	keyBitsElem = 8
	keyBitsPage = 21
	maxPages    = 1 << keyBitsPage
	maxPerPage  = 1 << keyBitsElem
	// runKeys keys (512 KiB) are sorted in memory; a window with more
	// writes them to a temporary file as a sorted run, and its events are
	// emitted by merging the runs: the index costs a few KiB of memory
	// per 65,536 events, however large the window (a million events: 16
	// runs, 16 read buffers of runBuffer keys).
	runKeys   = 1 << 16
	runBuffer = 512
)

func packKey(at uint32, page, elem int) uint64 {
	return uint64(at)<<(keyBitsPage+keyBitsElem) |
		uint64(maxPages-1-page)<<keyBitsElem |
		uint64(maxPerPage-1-elem)
}

func unpackKey(k uint64) (page, elem int) {
	return maxPages - 1 - int(k>>keyBitsElem&(maxPages-1)), maxPerPage - 1 - int(k&(maxPerPage-1))
}

func keyAt(k uint64) uint32 { return uint32(k >> (keyBitsPage + keyBitsElem)) }

// windowBuffer is the poll window spool: it holds every page of one poll
// window, so that its events can be emitted oldest first although GitLab
// serves them newest first. Memory stays bounded however large the window:
// past spillThreshold the pages go to a temporary file, and past runKeys
// events the index goes to another, in sorted runs.
type windowBuffer struct {
	keys  []uint64 // the index not yet in a run
	count int      // events indexed
	pages []pageRef
	mem   []string // page bodies while not spilled
	// spans of the events of the pages read before the window spilled
	// (by page), found when the page was indexed: a window that stays in
	// memory (every poll but a backfill's) is read once; the pages of a
	// spilled window are split again when read back.
	spans [][][2]uint32
	size  int64    // bytes of all pages
	file  *os.File // spill file of the pages, once spilled

	runs    []runRef // sorted runs of the index in runFile
	runFile *os.File
	runEnd  int64

	threshold int64 // bytes kept in memory before spilling
	base      int64 // unix milliseconds the event times are counted from

	// emission: the position in keys, or the merge of the runs
	pos   int
	merge runHeap

	cache   [2]pageCache // the pages last read, with their events' spans
	recent  int          // the cache entry used last
	readBuf []byte       // reused to read pages back from the spill file
}

type pageRef struct {
	off int64
	n   int
}

type runRef struct {
	off int64
	n   int
}

// pageCache is one page's text and its events' byte spans.
type pageCache struct {
	page  int // -1 when empty
	text  string
	spans [][2]uint32
}

// newWindowBuffer returns a buffer for a window whose events are created
// from base on.
func newWindowBuffer(threshold int64, base time.Time) *windowBuffer {
	w := &windowBuffer{threshold: threshold, base: base.UnixMilli()}
	w.cache[0].page, w.cache[1].page = -1, -1
	return w
}

// offset turns a created_at into the index's 32-bit milliseconds, clamped
// to the window (GitLab only returns events of the window).
func (w *windowBuffer) offset(t time.Time) uint32 {
	d := t.UnixMilli() - w.base
	switch {
	case d < 0:
		return 0
	case d > math.MaxUint32:
		return math.MaxUint32
	}
	return uint32(d)
}

// addPage indexes the events of one page (a JSON array of events), in
// one pass over the page. It returns the oldest created_at of the page's
// events (zero when it has none, or one without a readable created_at).
func (w *windowBuffer) addPage(body string) (oldest time.Time, err error) {
	page := len(w.pages)
	if page >= maxPages {
		return time.Time{}, fmt.Errorf("a window of more than %d pages", maxPages)
	}
	start := len(w.keys)
	var at uint32
	minAt := uint32(math.MaxUint32)
	var spans [][2]uint32
	if w.file == nil {
		spans = make([][2]uint32, 0, 100)
	}
	isArray, err := jsonpdata.ScanArray(body, func(k, raw string) {
		if k == "created_at" {
			if s, ok := jsonpdata.Unquote(raw); ok {
				if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
					at = w.offset(t)
				}
			}
		}
	}, func(i, off int, elem string) error {
		if i >= maxPerPage {
			return fmt.Errorf("more than %d events in a page", maxPerPage)
		}
		if spans != nil {
			spans = append(spans, [2]uint32{uint32(off), uint32(off + len(elem))})
		}
		w.keys = append(w.keys, packKey(at, page, i))
		minAt = min(minAt, at)
		at = 0
		return nil
	})
	if err == nil && !isArray {
		err = errors.New("the page is not a JSON array of events")
	} else if err != nil {
		err = fmt.Errorf("the page is not valid JSON: %w", err)
	}
	if err != nil {
		w.keys = w.keys[:start]
		return time.Time{}, err
	}
	n := len(w.keys) - start
	w.count += n
	if err := w.storePage(body); err != nil {
		return time.Time{}, err
	}
	if w.file == nil {
		w.spans = append(w.spans, spans)
	}
	if len(w.keys) >= runKeys {
		if err := w.writeRun(); err != nil {
			return time.Time{}, err
		}
	}
	if n == 0 || minAt == 0 {
		return time.Time{}, nil
	}
	return time.UnixMilli(w.base + int64(minAt)), nil
}

func (w *windowBuffer) storePage(body string) error {
	ref := pageRef{off: w.size, n: len(body)}
	w.size += int64(len(body))
	w.pages = append(w.pages, ref)
	if w.file == nil && w.size <= w.threshold {
		w.mem = append(w.mem, body)
		return nil
	}
	if w.file == nil {
		f, err := spillFile()
		if err != nil {
			return err
		}
		w.file = f
		for _, m := range w.mem {
			if _, err := io.WriteString(f, m); err != nil {
				return fmt.Errorf("writing the spill file: %w", err)
			}
		}
		w.mem = nil
	}
	if _, err := io.WriteString(w.file, body); err != nil {
		return fmt.Errorf("writing the spill file: %w", err)
	}
	return nil
}

// spillFile creates a temporary file nobody else sees: it disappears when
// closed.
func spillFile() (*os.File, error) {
	f, err := os.CreateTemp("", "gitlab-audit-window-*")
	if err != nil {
		return nil, fmt.Errorf("creating the spill file of a large window: %w", err)
	}
	_ = os.Remove(f.Name())
	return f, nil
}

// writeRun sorts the keys in memory and writes them to the run file.
func (w *windowBuffer) writeRun() error {
	if w.runFile == nil {
		f, err := spillFile()
		if err != nil {
			return err
		}
		w.runFile = f
	}
	slices.Sort(w.keys)
	b := make([]byte, 8*len(w.keys))
	for i, k := range w.keys {
		binary.LittleEndian.PutUint64(b[8*i:], k)
	}
	if _, err := w.runFile.WriteAt(b, w.runEnd); err != nil {
		return fmt.Errorf("writing the spill file: %w", err)
	}
	w.runs = append(w.runs, runRef{off: w.runEnd, n: len(w.keys)})
	w.runEnd += int64(len(b))
	w.keys = w.keys[:0]
	return nil
}

// sort orders the events oldest first: by created_at, then by position
// backwards (see packKey), the same way on every read. It prepares next.
func (w *windowBuffer) sort() error {
	w.pos = 0
	if len(w.runs) == 0 {
		slices.Sort(w.keys)
		return nil
	}
	if len(w.keys) > 0 {
		if err := w.writeRun(); err != nil {
			return err
		}
	}
	w.keys = nil
	w.merge = make(runHeap, 0, len(w.runs))
	for _, r := range w.runs {
		c := &runCursor{file: w.runFile, next: r.off, left: r.n}
		ok, err := c.fill()
		if err != nil {
			return err
		}
		if ok {
			w.merge = append(w.merge, c)
		}
	}
	heap.Init(&w.merge)
	return nil
}

// next returns the text of the next event in order, until ok is false.
func (w *windowBuffer) next() (text string, ok bool, err error) {
	var k uint64
	if w.merge == nil {
		if w.pos >= len(w.keys) {
			return "", false, nil
		}
		k = w.keys[w.pos]
		w.pos++
	} else {
		if len(w.merge) == 0 {
			return "", false, nil
		}
		c := w.merge[0]
		k = c.buf[c.i]
		c.i++
		if c.i == len(c.buf) {
			more, err := c.fill()
			if err != nil {
				return "", false, err
			}
			if !more {
				heap.Pop(&w.merge)
			} else {
				heap.Fix(&w.merge, 0)
			}
		} else {
			heap.Fix(&w.merge, 0)
		}
	}
	page, elem := unpackKey(k)
	pc, err := w.page(page)
	if err != nil {
		return "", false, err
	}
	if elem >= len(pc.spans) {
		return "", false, fmt.Errorf("event %d of page %d is missing from the spill file", elem, page)
	}
	s := pc.spans[elem]
	return pc.text[s[0]:s[1]], true, nil
}

// page returns page p, read back and split into events. The two pages
// last read are kept: in created_at order, the events of two neighbouring
// pages of the walk interleave where GitLab committed out of order.
func (w *windowBuffer) page(p int) (*pageCache, error) {
	for i := range w.cache {
		if w.cache[i].page == p {
			w.recent = i
			return &w.cache[i], nil
		}
	}
	w.recent = 1 - w.recent // the one used less recently
	pc := &w.cache[w.recent]
	if w.file == nil {
		pc.page, pc.text, pc.spans = p, w.mem[p], w.spans[p]
		return pc, nil
	}
	ref := w.pages[p]
	if cap(w.readBuf) < ref.n {
		w.readBuf = make([]byte, ref.n)
	}
	buf := w.readBuf[:ref.n]
	if _, err := w.file.ReadAt(buf, ref.off); err != nil {
		return nil, fmt.Errorf("reading the spill file: %w", err)
	}
	text := string(buf) // records point into it: a copy of its own
	if p < len(w.spans) {
		pc.page, pc.text, pc.spans = p, text, w.spans[p]
		return pc, nil
	}
	var spans [][2]uint32 // not pc.spans: it may be a page's of w.spans
	if _, err := jsonpdata.ScanArray(text, nil, func(_, off int, elem string) error {
		spans = append(spans, [2]uint32{uint32(off), uint32(off + len(elem))})
		return nil
	}); err != nil {
		return nil, fmt.Errorf("reading back page %d of the window: %w", p, err)
	}
	pc.page, pc.text, pc.spans = p, text, spans
	return pc, nil
}

func (w *windowBuffer) spilled() bool { return w.file != nil }

// close releases the spill files and the pages.
func (w *windowBuffer) close() {
	for _, f := range []*os.File{w.file, w.runFile} {
		if f != nil {
			_ = f.Close()
		}
	}
	w.file, w.runFile = nil, nil
	w.mem, w.keys, w.pages, w.runs, w.merge, w.readBuf, w.spans = nil, nil, nil, nil, nil, nil, nil
	w.cache[0], w.cache[1] = pageCache{page: -1}, pageCache{page: -1}
}

// runCursor reads one sorted run of the index back, runBuffer keys at a
// time.
type runCursor struct {
	file *os.File
	next int64 // file offset of the keys not yet read
	left int   // keys not yet read
	buf  []uint64
	i    int
	raw  []byte
}

// fill reads the next keys of the run; false at its end.
func (c *runCursor) fill() (bool, error) {
	if c.left == 0 {
		return false, nil
	}
	n := min(c.left, runBuffer)
	if c.raw == nil {
		c.raw = make([]byte, 8*runBuffer)
		c.buf = make([]uint64, 0, runBuffer)
	}
	raw := c.raw[:8*n]
	if _, err := c.file.ReadAt(raw, c.next); err != nil {
		return false, fmt.Errorf("reading the spill file: %w", err)
	}
	c.buf = c.buf[:n]
	for i := range n {
		c.buf[i] = binary.LittleEndian.Uint64(raw[8*i:])
	}
	c.i, c.next, c.left = 0, c.next+int64(len(raw)), c.left-n
	return true, nil
}

// runHeap merges the runs: the cursor with the smallest next key first.
type runHeap []*runCursor

func (h runHeap) Len() int           { return len(h) }
func (h runHeap) Less(i, j int) bool { return h[i].buf[h[i].i] < h[j].buf[h[j].i] }
func (h runHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *runHeap) Push(x any)        { *h = append(*h, x.(*runCursor)) }
func (h *runHeap) Pop() any {
	old := *h
	c := old[len(old)-1]
	*h = old[:len(old)-1]
	return c
}
