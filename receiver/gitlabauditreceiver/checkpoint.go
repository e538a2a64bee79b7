package gitlabauditreceiver // import "github.com/kyra-mdr/otelcol-gitlab/receiver/gitlabauditreceiver"

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"go.opentelemetry.io/collector/extension/xextension/storage"

	"github.com/kyra-mdr/otelcol-gitlab/receiver/gitlabauditreceiver/internal/gitlabapi"
)

const checkpointVersion = 1

// checkpoint is how far a feed has been read. Every event created at or
// before Watermark that GitLab showed has been emitted; Seen holds the
// events already emitted whose created_at falls in the overlap before the
// watermark, so that re-reading the overlap emits nothing twice.
type checkpoint struct {
	Version   int       `json:"version"`
	Watermark time.Time `json:"watermark"`
	// Seen maps the de-duplication key of an emitted event to its
	// created_at in Unix milliseconds.
	Seen map[string]int64 `json:"seen,omitempty"`
}

// checkpointKey is the storage key of a feed's checkpoint. It is stable
// across versions: changing it would lose every user's checkpoints.
func checkpointKey(f gitlabapi.Feed) string {
	return "checkpoint/" + f.String()
}

// loadCheckpoint reads a feed's checkpoint; ok is false when there is none.
func loadCheckpoint(ctx context.Context, client storage.Client, f gitlabapi.Feed) (checkpoint, bool, error) {
	raw, err := client.Get(ctx, checkpointKey(f))
	if err != nil || raw == nil {
		return checkpoint{}, false, err
	}
	var cp checkpoint
	if err := json.Unmarshal(raw, &cp); err != nil {
		return checkpoint{}, false, fmt.Errorf("the stored checkpoint is not valid JSON: %w", err)
	}
	if cp.Version != checkpointVersion {
		return checkpoint{}, false, fmt.Errorf("the stored checkpoint has version %d, this receiver reads version %d", cp.Version, checkpointVersion)
	}
	if cp.Watermark.IsZero() {
		return checkpoint{}, false, fmt.Errorf("the stored checkpoint has no watermark")
	}
	if cp.Seen == nil {
		cp.Seen = map[string]int64{}
	}
	return cp, true, nil
}

func saveCheckpoint(ctx context.Context, client storage.Client, f gitlabapi.Feed, cp checkpoint) error {
	op, err := checkpointOperation(f, cp)
	if err != nil {
		return err
	}
	return client.Batch(ctx, op)
}

// checkpointOperation is the storage operation that saves a checkpoint.
func checkpointOperation(f gitlabapi.Feed, cp checkpoint) (*storage.Operation, error) {
	cp.Version = checkpointVersion
	raw, err := json.Marshal(cp)
	if err != nil {
		return nil, err
	}
	return storage.SetOperation(checkpointKey(f), raw), nil
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
