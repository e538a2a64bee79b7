// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package stream

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"unicode/utf8"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/kyra-mdr/otelcol-gitlab/internal/jsonpdata"
	"github.com/kyra-mdr/otelcol-gitlab/receiver/gitlabauditreceiver/internal/auditlog"
	"github.com/kyra-mdr/otelcol-gitlab/receiver/gitlabauditreceiver/internal/emit"
)

const (
	// maxReportedErrors bounds the per-event errors listed in a 400 answer;
	// the others are counted.
	maxReportedErrors = 10
	// maxRefusalText bounds each of them: an error may quote what was sent.
	maxRefusalText = 256
)

var errNotObject = errors.New("the event is not a JSON object")

// refusals are the events of a request that were refused. Only the first
// maxReportedErrors are put in words; the others are counted, so that a
// body of millions of bad elements costs no more than a few.
type refusals struct {
	n     int
	texts []string
}

func (r *refusals) add(index int, err error) {
	r.n++
	if len(r.texts) < maxReportedErrors {
		r.texts = append(r.texts, truncateText(fmt.Sprintf("event %d: %v", index, err), maxRefusalText))
	}
}

// list is what the answer lists: the refusals put in words, then how many
// more there were.
func (r *refusals) list() []string {
	if r.n > len(r.texts) {
		return append(r.texts, fmt.Sprintf("and %d more", r.n-len(r.texts)))
	}
	return r.texts
}

// truncateText cuts s to at most n bytes, on a rune boundary, marking the cut.
func truncateText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	const mark = "…"
	cut := n - len(mark)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + mark
}

// streamBatch is a decoded request body.
type streamBatch struct {
	events  []emit.Pending // the valid events the filter keeps, in order
	refused refusals       // the invalid ones, put in words for the answer
	// one holds the record of a one-event body, and its events (see
	// oneEvents).
	one *oneEvent
}

// oneEvent is what a one-event body is decoded into: a standalone record,
// and room for the batch's one event. The emitter moves an owned record
// into its batch (MoveTo), which leaves the standalone one empty: then
// the whole is used again for the next request rather than made anew
// (three allocations per event, a record, its state and the events
// slice, in the collector's allocation profile under load).
type oneEvent struct {
	lr     plog.LogRecord
	events [1]emit.Pending
}

var oneEvents = sync.Pool{New: func() any { return &oneEvent{lr: plog.NewLogRecord()} }}

// release gives back what a one-event body was decoded into once its
// event was emitted, when the emitter moved the record into a batch (it
// is then empty: the record of a duplicate, or of an event not taken,
// keeps its attributes and is left to the garbage collector). b.events
// is not to be used after.
func (b *streamBatch) release() {
	if b.one == nil {
		return
	}
	if lr := b.one.lr; lr.Attributes().Len() == 0 && lr.Body().Type() == pcommon.ValueTypeEmpty {
		b.one.events[0] = emit.Pending{}
		oneEvents.Put(b.one)
	}
	b.one, b.events = nil, nil
}

// take keeps element i, admitted as ev into lr, or records why it was
// refused; it reports whether lr was kept.
func (b *streamBatch) take(i int, lr plog.LogRecord, ev auditlog.Event, ok bool, err error) bool {
	switch {
	case err != nil:
		b.refused.add(i, err)
	case ok:
		b.events = append(b.events, emit.Pending{Key: ev.Key, Record: lr})
		return true
	}
	return false
}

// decodeBatch decodes a streamed body, one event or a JSON array of
// events. hint, the X-Gitlab-Audit-Event-Type header, names the first
// event only. A body that is not valid JSON is refused as a whole (err);
// otherwise the events that are not valid GitLab audit events are refused
// one by one. What a refused element costs is bounded: no record is made
// for an element that is not an object, and the record of an event that
// is refused or filtered out is reused for the next.
func (s *Server) decodeBatch(counts *emit.Counts, body, hint string, now pcommon.Timestamp) (b streamBatch, err error) {
	var spare, blank plog.LogRecord
	haveSpare, haveBlank := false, false
	add := func(i, _ int, elem string) error {
		if elem[0] != '{' {
			counts.Invalid++
			b.refused.add(i, errNotObject)
			return nil
		}
		var lr plog.LogRecord
		if haveSpare {
			lr, haveSpare = spare, false
		} else {
			lr = plog.NewLogRecord()
		}
		h := hint
		if i > 0 {
			h = "" // the header names the first event only; batches carry no header
		}
		ev, ok, err := s.emit.Admit(counts, lr, elem, h, now)
		if b.take(i, lr, ev, ok, err) {
			return nil
		}
		// lr is not kept: clear it (Fill may have left it half-filled)
		// for the next element.
		if !haveBlank {
			blank, haveBlank = plog.NewLogRecord(), true
		}
		blank.CopyTo(lr)
		spare, haveSpare = lr, true
		return nil
	}
	if t := strings.TrimLeft(body, " \t\r\n"); t != "" && t[0] == '{' {
		// One event, as GitLab sends them: decoded in the one pass that
		// checks it (ScanArray would read it once more, only to check
		// it). A body that is not valid JSON is refused whole, as below.
		one := oneEvents.Get().(*oneEvent)
		lr := one.lr
		if err := jsonpdata.DecodeObject(body, lr.Body().SetEmptyMap()); err != nil {
			return streamBatch{}, err
		}
		b.events = one.events[:0]
		ev, ok, err := s.emit.AdmitDecoded(counts, lr, hint, now)
		if b.take(0, lr, ev, ok, err) {
			b.one = one
		} else {
			b.events = nil
		}
		return b, nil
	}
	isArray, err := jsonpdata.ScanArray(body, nil, add)
	if err == nil && !isArray {
		// One value that is not an object: valid JSON, checked by ScanArray.
		err = add(0, 0, strings.Trim(body, " \t\r\n"))
	}
	if err != nil {
		return streamBatch{}, err
	}
	return b, nil
}
