package gitlabauditreceiver // import "github.com/kyra-mdr/otelcol-gitlab/receiver/gitlabauditreceiver"

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strconv"
	"time"

	"github.com/kyra-mdr/otelcol-gitlab/internal/jsonpdata"
)

// defaultSpillThreshold is the size of pages a window keeps in memory;
// beyond it, pages are written to a temporary file. A window of a million
// events then costs about 32 bytes of memory per event for its index.
const defaultSpillThreshold = 16 << 20

// windowEvent locates one event of a window and says when it happened.
type windowEvent struct {
	createdAt int64 // unix nanoseconds; math.MinInt64 when unreadable
	id        int64 // numeric id, or -1
	page      uint32
	off, n    uint32 // byte span of the event in its page
}

// windowBuffer holds every page of one poll window, so that its events can
// be emitted oldest first although GitLab serves them newest first. Memory
// stays bounded: past spillThreshold the pages go to a temporary file and
// only the index stays in memory.
type windowBuffer struct {
	events []windowEvent
	pages  []pageRef
	mem    []string // page bodies while not spilled
	size   int64    // bytes of all pages
	file   *os.File // spill file, once spilled

	threshold int64 // bytes kept in memory before spilling

	cachedPage int
	cached     string
	readBuf    []byte // reused to read pages back from the spill file
}

type pageRef struct {
	off int64
	n   int
}

func newWindowBuffer(threshold int64) *windowBuffer {
	return &windowBuffer{cachedPage: -1, threshold: threshold}
}

// addPage indexes the events of one page (a JSON array of events), in
// one pass over the page.
func (w *windowBuffer) addPage(body string) error {
	idx := uint32(len(w.pages))
	start := len(w.events)
	ev := windowEvent{createdAt: math.MinInt64, id: -1}
	isArray, err := jsonpdata.ScanArray(body, func(k, raw string) {
		switch k {
		case "created_at":
			if s, ok := jsonpdata.Unquote(raw); ok {
				if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
					ev.createdAt = t.UnixNano()
				}
			}
		case "id":
			if s, ok := jsonpdata.Unquote(raw); ok {
				raw = s
			}
			if n, err := strconv.ParseInt(raw, 10, 64); err == nil {
				ev.id = n
			}
		}
	}, func(_, off int, elem string) error {
		ev.page, ev.off, ev.n = idx, uint32(off), uint32(len(elem))
		w.events = append(w.events, ev)
		ev = windowEvent{createdAt: math.MinInt64, id: -1}
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

// sort orders the events oldest first: by created_at, then id, then
// position, so that ties are broken the same way on every read.
func (w *windowBuffer) sort() {
	slices.SortFunc(w.events, func(a, b windowEvent) int {
		if c := cmp.Compare(a.createdAt, b.createdAt); c != 0 {
			return c
		}
		if c := cmp.Compare(a.id, b.id); c != 0 {
			return c
		}
		if c := cmp.Compare(a.page, b.page); c != 0 {
			return c
		}
		return cmp.Compare(a.off, b.off)
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
