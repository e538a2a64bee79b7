// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package gitlabauditreceiver // import "github.com/kyra-mdr/otelcol-gitlab/receiver/gitlabauditreceiver"

import "time"

// checkpoint is how far a feed has been read. Every event created at or
// before Watermark that GitLab showed has been emitted; Seen holds the
// events already emitted whose created_at falls in the overlap before the
// watermark, so that re-reading the overlap emits nothing twice. The state
// store (state.go) encodes it.
type checkpoint struct {
	Watermark time.Time
	// Seen maps the de-duplication key of an emitted event to its
	// created_at in Unix milliseconds.
	Seen map[string]int64
}

// advance moves the watermark forward (never back) and forgets the seen
// events that fell out of the overlap.
func (cp *checkpoint) advance(to time.Time, overlap time.Duration) {
	if to.After(cp.Watermark) {
		cp.Watermark = to.UTC()
	}
	oldest := cp.Watermark.Add(-overlap).UnixMilli()
	for k, t := range cp.Seen {
		if t < oldest {
			delete(cp.Seen, k)
		}
	}
}
