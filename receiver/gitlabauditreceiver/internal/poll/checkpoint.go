// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package poll

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"go.opentelemetry.io/collector/extension/xextension/storage"

	"github.com/kyra-mdr/otelcol-gitlab/receiver/gitlabauditreceiver/internal/auditlog"
	"github.com/kyra-mdr/otelcol-gitlab/receiver/gitlabauditreceiver/internal/emit"
	"github.com/kyra-mdr/otelcol-gitlab/receiver/gitlabauditreceiver/internal/gitlabapi"
)

// checkpoint is how far a feed has been read. Every event created at or
// before Watermark that GitLab showed has been emitted; Seen holds the
// events already emitted whose created_at falls in the overlap before the
// watermark, so that re-reading the overlap emits nothing twice.
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

// checkpointKey is the storage key of a feed's checkpoint. It is stable
// across versions: changing it would lose every user's checkpoints.
func checkpointKey(f gitlabapi.Feed) string {
	return "checkpoint/" + f.String()
}

// loadCheckpoint reads a feed's checkpoint; ok is false when there is none.
// A checkpoint of the earlier version (JSON) is read too.
func loadCheckpoint(ctx context.Context, s *emit.Store, f gitlabapi.Feed) (checkpoint, bool, error) {
	raw, err := s.Get(ctx, checkpointKey(f))
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

// checkpointOperation is the storage operation that saves a checkpoint,
// alone or in the transaction of an accepted batch.
func checkpointOperation(f gitlabapi.Feed, cp checkpoint) *storage.Operation {
	return storage.SetOperation(checkpointKey(f), encodeCheckpoint(cp))
}

// encodeCheckpoint: version, watermark (unix ns), count, then per seen
// event its key and created_at (unix ms).
func encodeCheckpoint(cp checkpoint) []byte {
	n := 2 * emit.BinaryMaxVarint
	for k := range cp.Seen {
		n += 2*emit.BinaryMaxVarint + len(k)
	}
	e := emit.NewEncoder(n).Int(cp.Watermark.UnixNano()).Uint(uint64(len(cp.Seen)))
	for k, t := range cp.Seen {
		e = e.Str(k).Int(t)
	}
	return e
}

func decodeCheckpoint(b []byte) (checkpoint, error) {
	d := emit.NewDecoder(b)
	cp := checkpoint{Watermark: time.Unix(0, d.Int()).UTC()}
	n := d.Count(2)
	cp.Seen = make(map[string]int64, n)
	for range n {
		k := d.Str()
		cp.Seen[k] = d.Int()
	}
	if err := d.End(); err != nil {
		return checkpoint{}, fmt.Errorf("the stored checkpoint cannot be read: %w", err)
	}
	return cp, nil
}

// decodeLegacyCheckpoint reads the JSON checkpoint that 0.1.0 builds wrote
// before the binary state store. Such checkpoints are migrated (read, then
// stored in the binary encoding at the next poll) until version 0.3.0,
// which removes this and auditlog.LegacyKey (docs/deployment.md).
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
		return checkpoint{}, fmt.Errorf("the stored checkpoint has version %d, this receiver reads versions 1 and %d", v.Version, emit.Version)
	}
	cp := checkpoint{Watermark: v.Watermark.UTC(), Seen: make(map[string]int64, len(v.Seen))}
	for k, t := range v.Seen {
		cp.Seen[auditlog.LegacyKey(k)] = t
	}
	return cp, nil
}
