// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package poll

import (
	"cmp"
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
// beyond it, pages are written to a temporary file. A window of a million
// events then costs 16 bytes of memory per event for its index.
const defaultSpillThreshold = 4 << 20

// windowEvent locates one event of a window and says when it happened. It
// is 16 bytes: a window is at most 30 days (and the overlap) long, so
// created_at fits in 32 bits as milliseconds after the window's start.
type windowEvent struct {
	at     uint32 // created_at in ms after the window's base; 0 when unreadable or earlier
	page   uint32
	off, n uint32 // byte span of the event in its page
}

// windowBuffer is the poll window spool: it holds every page of one poll
// window, so that its events can be emitted oldest first although GitLab
// serves them newest first. Memory
// stays bounded: past spillThreshold the pages go to a temporary file and
// only the index stays in memory.
type windowBuffer struct {
	events []windowEvent
	pages  []pageRef
	mem    []string // page bodies while not spilled
	size   int64    // bytes of all pages
	file   *os.File // spill file, once spilled

	threshold int64 // bytes kept in memory before spilling
	base      int64 // unix milliseconds the event times are counted from

	cachedPage int
	cached     string
	readBuf    []byte // reused to read pages back from the spill file
}

type pageRef struct {
	off int64
	n   int
}

// newWindowBuffer returns a buffer for a window whose events are created
// from base on.
func newWindowBuffer(threshold int64, base time.Time) *windowBuffer {
	return &windowBuffer{cachedPage: -1, threshold: threshold, base: base.UnixMilli()}
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
// one pass over the page.
func (w *windowBuffer) addPage(body string) error {
	idx := uint32(len(w.pages))
	start := len(w.events)
	var ev windowEvent
	isArray, err := jsonpdata.ScanArray(body, func(k, raw string) {
		if k == "created_at" {
			if s, ok := jsonpdata.Unquote(raw); ok {
				if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
					ev.at = w.offset(t)
				}
			}
		}
	}, func(_, off int, elem string) error {
		ev.page, ev.off, ev.n = idx, uint32(off), uint32(len(elem))
		w.events = append(w.events, ev)
		ev = windowEvent{}
		return nil
	})
	if err != nil {
		w.events = w.events[:start]
		return fmt.Errorf("the page is not valid JSON: %w", err)
	}
	if !isArray {
		return errors.New("the page is not a JSON array of events")
	}
	return w.storePage(body)
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
		f, err := os.CreateTemp("", "gitlab-audit-window-*")
		if err != nil {
			return fmt.Errorf("creating the spill file of a large window: %w", err)
		}
		// Nobody else needs the name: the file disappears when closed.
		_ = os.Remove(f.Name())
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

// sort orders the events oldest first: by created_at, then by id. GitLab
// serves ids in descending order (keyset and offset pagination alike), so
// a later position in the walk is a lower id: ties are broken by position,
// backwards, the same way on every read.
func (w *windowBuffer) sort() {
	slices.SortFunc(w.events, func(a, b windowEvent) int {
		if c := cmp.Compare(a.at, b.at); c != 0 {
			return c
		}
		if c := cmp.Compare(b.page, a.page); c != 0 {
			return c
		}
		return cmp.Compare(b.off, a.off)
	})
}

// text returns the JSON text of an event.
func (w *windowBuffer) text(ev windowEvent) (string, error) {
	p := int(ev.page)
	if p != w.cachedPage {
		if w.file == nil {
			w.cached = w.mem[p]
		} else {
			ref := w.pages[p]
			if cap(w.readBuf) < ref.n {
				w.readBuf = make([]byte, ref.n)
			}
			buf := w.readBuf[:ref.n]
			if _, err := w.file.ReadAt(buf, ref.off); err != nil {
				return "", fmt.Errorf("reading the spill file: %w", err)
			}
			w.cached = string(buf) // records point into it: a copy of its own
		}
		w.cachedPage = p
	}
	return w.cached[ev.off : ev.off+ev.n], nil
}

// oldest returns the oldest created_at of the events indexed from the
// from-th on (to the millisecond), or zero when there are none or one of
// them has no readable created_at.
func (w *windowBuffer) oldest(from int) time.Time {
	if from >= len(w.events) {
		return time.Time{}
	}
	at := uint32(math.MaxUint32)
	for _, ev := range w.events[from:] {
		at = min(at, ev.at)
	}
	if at == 0 {
		return time.Time{}
	}
	return time.UnixMilli(w.base + int64(at))
}

func (w *windowBuffer) spilled() bool { return w.file != nil }

// close releases the spill file and the pages.
func (w *windowBuffer) close() {
	if w.file != nil {
		_ = w.file.Close()
		w.file = nil
	}
	w.mem, w.events, w.pages, w.cached, w.readBuf = nil, nil, nil, "", nil
	w.cachedPage = -1
}
