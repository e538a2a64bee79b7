// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package poll

import (
	"fmt"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kyra-mdr/otelcol-gitlab/internal/jsonpdata"
)

// idsInOrder returns the ids of the buffer's events in emission order.
func idsInOrder(t *testing.T, w *windowBuffer) []string {
	t.Helper()
	var out []string
	for _, we := range w.events {
		text, err := w.text(we)
		require.NoError(t, err)
		require.NoError(t, jsonpdata.Fields(text, func(k, raw string) bool {
			if k == "id" {
				out = append(out, raw)
				return false
			}
			return true
		}))
	}
	return out
}

func TestWindowBufferOrder(t *testing.T) {
	base := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	for _, threshold := range []int64{defaultSpillThreshold, 1} { // in memory, and spilled
		t.Run(fmt.Sprint(threshold), func(t *testing.T) {
			w := newWindowBuffer(threshold, base)
			defer w.close()
			// Two pages, newest first as GitLab serves them: ids 6..4 then 3..1.
			// Ids 5, 4 and 3 share a millisecond; 6 was committed late (older time);
			// 1 is earlier than the window (clamped first), 2 has no readable time.
			require.NoError(t, w.addPage(`[
				{"id":6,"created_at":"2026-11-25T10:00:00.500Z"},
				{"id":5,"created_at":"2026-11-25T10:00:01.000Z"},
				{"id":4,"created_at":"2026-11-25T10:00:01.000+00:00"}]`))
			require.NoError(t, w.addPage(`[
				{"id":3,"created_at":"2026-11-25T11:00:01.000+01:00"},
				{"id":2,"created_at":"soon"},
				{"id":1,"created_at":"2026-11-24T10:00:00.000Z"}]`))
			assert.Equal(t, threshold == 1, w.spilled())
			w.sort()
			assert.Equal(t, []string{"1", "2", "6", "3", "4", "5"}, idsInOrder(t, w))
		})
	}
}

func TestWindowBufferRefusesBadPages(t *testing.T) {
	w := newWindowBuffer(defaultSpillThreshold, time.Now())
	defer w.close()
	require.ErrorContains(t, w.addPage(`<html>sign in</html>`), "not valid JSON")
	require.ErrorContains(t, w.addPage(`{"id":1}`), "not a JSON array")
	require.ErrorContains(t, w.addPage(`[{"id":1},{"id":`), "not valid JSON")
	assert.Empty(t, w.events, "nothing of a refused page is kept")
}

func TestWindowEventIsSmall(t *testing.T) {
	assert.Equal(t, uintptr(16), unsafe.Sizeof(windowEvent{}), "the index costs 16 bytes per event")
}
