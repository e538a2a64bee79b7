// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package poll

import (
	"time"

	"go.uber.org/zap"

	"github.com/kyra-mdr/otelcol-gitlab/receiver/gitlabauditreceiver/internal/emit"
	"github.com/kyra-mdr/otelcol-gitlab/receiver/gitlabauditreceiver/internal/gitlabapi"
)

// Time slices. A poll reads its window in slices of created_at time; each
// slice's events are emitted and checkpointed before the next slice is
// read, so a failure costs at most the slice it happened in. A feed starts
// with slices as long as a window (one query per poll). When a page of a
// slice fails in a way a shorter range may cure (a timeout, a transport
// error, a 5xx: a slow or failing GitLab's audit queries slow down and time
// out as the range grows), it is not retried: the rest of the slice is read
// at once in parts a quarter as long, continuing the walk after the pages
// read (reader.go: readPages), down to minSlice, below which failures are
// retried with retry_on_failure. Every sliceGrowAfter completed slices in
// a row double the length again, up to a whole window. (Doubling after
// every success would bring back, every other slice, the length that just
// failed.)
const (
	// slowFailure: a failed page that took this long is the range's
	// fault (GitLab's database statement timeout answers 500 after many
	// seconds), like a timeout.
	slowFailure    = 5 * time.Second
	minSlice       = 10 * time.Second
	sliceShrink    = 4
	sliceGrow      = 2
	sliceGrowAfter = 3
)

// sliceEnd is the end of the slice that starts at from, at most end.
func (f *feedPoller) sliceEnd(from, end time.Time) time.Time {
	if e := from.Add(time.Duration(f.slice.Load())); e.Before(end) {
		return e
	}
	return end
}

// canShrink reports whether w can be read in shorter windows.
func canShrink(w gitlabapi.Window) bool { return w.Before.Sub(w.After) > minSlice }

// split returns the parts, newest first, in which the rest of w is read
// after a page of it failed with err, and makes the feed's next slices as
// short as the parts. oldest is the oldest created_at the pages of w read
// so far held (zero when none): the walk goes from the newest id down, so
// what it had still to read was created before oldest, except for events
// committed out of created_at order, which the newest part (reaching up to
// w.Before) still holds.
func (r *reader) split(f *feedPoller, w gitlabapi.Window, oldest time.Time, err error) []gitlabapi.Window {
	hi := w.Before
	if oldest.After(w.After) && oldest.Before(w.Before) {
		hi = oldest
	}
	part := max(minSlice, (hi.Sub(w.After)+sliceShrink-1)/sliceShrink)
	var parts []gitlabapi.Window
	for end := w.Before; ; {
		start := hi.Add(-part * time.Duration(len(parts)+1))
		if !start.After(w.After) {
			parts = append(parts, gitlabapi.Window{After: w.After, Before: end})
			break
		}
		parts = append(parts, gitlabapi.Window{After: start, Before: end})
		end = start
	}
	f.slice.Store(int64(part))
	f.sliceRun = 0
	r.logger.Info("A page of a time slice failed; reading the rest of the slice at once in shorter slices",
		zap.String("feed", f.feed.String()), zap.Time("from", w.After), zap.Time("to", w.Before),
		zap.Duration("slice", part), zap.Int("parts", len(parts)), zap.Error(err))
	return parts
}

// shorterSlices asks the poll to read a slice again in shorter slices: a
// page failed where the walk could not be resumed (offset pagination).
type shorterSlices struct{ err error }

func (e *shorterSlices) Error() string { return e.err.Error() }
func (e *shorterSlices) Unwrap() error { return e.err }

// shrink makes the slices shorter after slice w failed with err. It
// reports whether w can be read again at once in shorter slices: false
// when slices are already as short as they get, or when shorter slices
// would not help (the pipeline refused, or GitLab refused the request).
func (r *reader) shrink(f *feedPoller, w gitlabapi.Window, err error) bool {
	if !sliceHelps(err) {
		return false
	}
	length := w.Before.Sub(w.After)
	if length <= minSlice {
		f.slice.Store(int64(minSlice))
		return false
	}
	next := max(minSlice, length/sliceShrink)
	f.slice.Store(int64(next))
	f.sliceRun = 0
	r.logger.Info("Reading a failed time slice again in shorter slices", zap.String("feed", f.feed.String()),
		zap.Time("from", w.After), zap.Duration("failed_slice", length), zap.Duration("slice", next), zap.Error(err))
	return true
}

// grow lengthens the slices after enough completed ones.
func (f *feedPoller) grow() {
	f.sliceRun++
	if f.sliceRun%sliceGrowAfter == 0 {
		f.slice.Store(min(int64(MaxWindow), f.slice.Load()*sliceGrow))
	}
}

// sliceHelps reports whether a failure may go away with a shorter time
// range: transport errors, timeouts and 5xx answers.
func sliceHelps(err error) bool {
	return !emit.IsPipeline(err) && gitlabapi.Transient(err)
}

// settle records that slice w was read, up to done, from an answer GitLab
// started at answered (its clock). Events of the slice created more than
// overlap before answered were committed when read: they never need to be
// read again, so after a failure the next poll starts at the failed slice
// instead of re-reading the overlap of a backfill.
func (r *reader) settle(f *feedPoller, w gitlabapi.Window, done, answered time.Time) {
	if answered.IsZero() || f.settled.Before(w.After) {
		return // unknown, or an earlier slice left a gap
	}
	s := answered.Add(-r.overlap)
	if done.Before(s) {
		s = done
	}
	if s.After(f.settled) {
		f.settled = s
	}
}

// readFrom is where the next poll starts reading: the overlap before the
// checkpoint, to catch late commits, except for the part of it already
// settled.
func (r *reader) readFrom(f *feedPoller) time.Time {
	from := f.cp.Watermark.Add(-r.overlap)
	if s := f.settled; s.After(from) {
		from = s
		if from.After(f.cp.Watermark) {
			from = f.cp.Watermark
		}
	}
	return from
}
