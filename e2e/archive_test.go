// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package e2e

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/kyra-mdr/otelcol-gitlab/testbed/gitlabsim"
)

// readArchiveFile reads a file of the contrib file exporter with
// `compression: zstd` and `format: json` (feature gate
// exporter.file.nativeCompression off, the default): each batch is
// compressed on its own and preceded by its length, 4 bytes big-endian
// (fileexporter v0.165.0 README, "File Format").
func readArchiveFile(t *testing.T, path string) (plog.Logs, int) {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer func() { _ = f.Close() }()
	dec, err := zstd.NewReader(nil)
	require.NoError(t, err)
	defer dec.Close()
	r := bufio.NewReader(f)
	out := plog.NewLogs()
	batches := 0
	for {
		var size uint32
		if err := binary.Read(r, binary.BigEndian, &size); errors.Is(err, io.EOF) {
			break
		} else {
			require.NoError(t, err, "%s: batch %d length", path, batches)
		}
		frame := make([]byte, size)
		_, err := io.ReadFull(r, frame)
		require.NoError(t, err, "%s: batch %d is whole", path, batches)
		raw, err := dec.DecodeAll(frame, nil)
		require.NoError(t, err, "%s: batch %d decompresses", path, batches)
		ld, err := (&plog.JSONUnmarshaler{}).UnmarshalLogs(raw)
		require.NoError(t, err, "%s: batch %d is OTLP JSON", path, batches)
		ld.ResourceLogs().MoveAndAppendTo(out.ResourceLogs())
		batches++
	}
	return out, batches
}

// readArchive reads every file of the archive directory.
func readArchive(t *testing.T, dir string) (plog.Logs, []string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	all := plog.NewLogs()
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
		ld, _ := readArchiveFile(t, filepath.Join(dir, e.Name()))
		ld.ResourceLogs().MoveAndAppendTo(all.ResourceLogs())
	}
	sort.Strings(names)
	return all, names
}

// TestArchiveRotatesAndReadsBack runs config/archive.yaml (rotation at
// 1 MB instead of 100) against the simulator: the archive pipeline writes
// every event GitLab recorded, compressed, across rotated files, next to
// the OTLP export; after a restart and more events, the archive still
// holds every event of both runs exactly once. Each archived record is the
// receiver's record: its attributes and body are those the OTLP export
// carries (which adds gitlab_detect's).
func TestArchiveRotatesAndReadsBack(t *testing.T) {
	bin := collectorBinary(t)
	sim, simURL := serveSim(t, gitlabsim.Options{Seed: 1717, SecurityShare: 0.3, LegacyShare: 0.1}, 4, 10)
	now := time.Now()
	first := sim.GenerateWith(gitlabsim.GenerateOptions{Count: 20000, From: now.Add(-50 * time.Minute), To: now.Add(-5 * time.Minute), SavedOnly: true, NoStream: true})

	sink := newLogsSink(t)
	archiveDir := filepath.Join(t.TempDir(), "archive")
	storageDir := t.TempDir()
	health := freePort(t)
	cfg := shippedConfig(t, "archive.yaml", map[string]any{
		"extensions::health_check::endpoint":        fmt.Sprintf("127.0.0.1:%d", health),
		"receivers::gitlab_audit::poll_interval":    "10s",
		"receivers::gitlab_audit::initial_lookback": "1h",
		"receivers::gitlab_audit::overlap":          "1m",
		// The archive is the subject here, not the lookups: without them
		// the 20,000 events take about 20 s instead of 80 s.
		"receivers::gitlab_audit::enrich::enabled":         false,
		"receivers::gitlab_audit::collect":                 map[string]any{"instance": true, "groups": []any{}, "projects": []any{}},
		"exporters::otlp_http::sending_queue::batch":       map[string]any{"flush_timeout": "200ms", "min_size": 500, "max_size": 2000},
		"exporters::otlp_http::compression":                "none",
		"exporters::file/archive::rotation::max_megabytes": 1,
		"service::telemetry::metrics::level":               "none",
	})
	col := newCollector(t, bin, cfg, map[string]string{
		"GITLAB_URL": simURL, "GITLAB_TOKEN": apiToken,
		"OTLP_ENDPOINT": sink.srv.URL, "OTLP_API_KEY": "backend-key",
		"OTELCOL_STORAGE_DIR": storageDir, "ARCHIVE_DIR": archiveDir,
	}, health)

	check := func(events []gitlabsim.StoredEvent) []string {
		t.Helper()
		archived, files := readArchive(t, archiveDir)
		byID, count := recordsByID(archived)
		exported, _ := recordsByID(sinkLogs(sink))
		assert.Equal(t, len(events), archived.LogRecordCount(), "archived records")
		for _, e := range events {
			id := fmt.Sprint(e.ID)
			if !assert.Equal(t, 1, count[id], "event %d archived once", e.ID) {
				continue
			}
			a, x := byID[id], exported[id]
			assert.Equal(t, x.record.Body().AsRaw(), a.record.Body().AsRaw(), "event %d: body", e.ID)
			assert.Equal(t, x.record.Timestamp(), a.record.Timestamp(), "event %d: time", e.ID)
			assert.Equal(t, x.resource.Resource().Attributes().AsRaw(), a.resource.Resource().Attributes().AsRaw(), "event %d: resource", e.ID)
			exportedAttrs := x.record.Attributes().AsRaw()
			for k, v := range a.record.Attributes().AsRaw() {
				assert.Equal(t, v, exportedAttrs[k], "event %d: attribute %s", e.ID, k)
			}
			assert.NotEmpty(t, attr(a.record, "gitlab.audit.event_type"), "event %d: the receiver's attributes", e.ID)
			assert.Empty(t, attr(a.record, "gitlab.audit.category"), "event %d: archived as collected, before detection", e.ID)
		}
		return files
	}

	start := time.Now()
	col.start()
	require.Eventually(t, func() bool { return sink.count() >= len(first) }, 120*time.Second, 200*time.Millisecond,
		"every event exported; collector log:\n%s", col.log())
	col.stop() // SIGTERM: the file exporter flushes and closes its file
	files := check(first)
	rotated := 0
	for _, f := range files {
		if strings.HasSuffix(f, "-size.otlp") {
			rotated++
		} else {
			assert.Equal(t, "gitlab-audit.otlp", f)
		}
	}
	assert.GreaterOrEqual(t, rotated, 2, "the archive was rotated by size: %v", files)
	var compressed int64
	for _, f := range files {
		st, err := os.Stat(filepath.Join(archiveDir, f))
		require.NoError(t, err)
		compressed += st.Size()
		assert.LessOrEqual(t, st.Size(), int64(1<<20), "%s: rotated at 1 MB", f)
	}
	t.Logf("run 1: %d events in %d files (%d rotated), %d bytes compressed, in %s", len(first), len(files), rotated, compressed, time.Since(start))

	// A restart continues the archive: nothing written before is lost.
	later := time.Now()
	second := sim.GenerateWith(gitlabsim.GenerateOptions{Count: 2000, From: later.Add(-30 * time.Second), To: later, SavedOnly: true, NoStream: true})
	all := append(append([]gitlabsim.StoredEvent(nil), first...), second...)
	col.start()
	require.Eventually(t, func() bool { return sink.count() >= len(all) }, 120*time.Second, 200*time.Millisecond,
		"the new events exported; collector log:\n%s", col.log())
	col.stop()
	after := check(all)
	for _, f := range files {
		if f != "gitlab-audit.otlp" {
			assert.Contains(t, after, f, "a rotated file of the first run is kept")
		}
	}
	t.Logf("run 2: %d events in %d files", len(all), len(after))
}

// sinkLogs returns everything a logsSink received.
func sinkLogs(s *logsSink) plog.Logs {
	out := plog.NewLogs()
	for _, r := range s.records() {
		rl := out.ResourceLogs().AppendEmpty()
		r.resource.Resource().CopyTo(rl.Resource())
		r.record.CopyTo(rl.ScopeLogs().AppendEmpty().LogRecords().AppendEmpty())
	}
	return out
}
