// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package poll

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kyra-mdr/otelcol-gitlab/internal/jsonpdata"
)

// idsInOrder returns the ids of the buffer's events in emission order.
func idsInOrder(t *testing.T, w *windowBuffer) []string {
	t.Helper()
	var out []string
	for {
		text, ok, err := w.next()
		require.NoError(t, err)
		if !ok {
			return out
		}
		require.NoError(t, jsonpdata.Fields(text, func(k, raw string) bool {
			if k == "id" {
				out = append(out, raw)
				return false
			}
			return true
		}))
	}
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
			oldest, err := w.addPage(`[
				{"id":6,"created_at":"2026-11-25T10:00:00.500Z"},
				{"id":5,"created_at":"2026-11-25T10:00:01.000Z"},
				{"id":4,"created_at":"2026-11-25T10:00:01.000+00:00"}]`)
			require.NoError(t, err)
			assert.Equal(t, base.Add(500*time.Millisecond), oldest.UTC())
			oldest, err = w.addPage(`[
				{"id":3,"created_at":"2026-11-25T11:00:01.000+01:00"},
				{"id":2,"created_at":"soon"},
				{"id":1,"created_at":"2026-11-24T10:00:00.000Z"}]`)
			require.NoError(t, err)
			assert.True(t, oldest.IsZero(), "unknown: an event without a time")
			assert.Equal(t, threshold == 1, w.spilled())
			require.NoError(t, w.sort())
			assert.Equal(t, []string{"1", "2", "6", "3", "4", "5"}, idsInOrder(t, w))
		})
	}
}

func TestWindowBufferRefusesBadPages(t *testing.T) {
	w := newWindowBuffer(defaultSpillThreshold, time.Now())
	defer w.close()
	for _, tt := range []struct{ page, err string }{
		{`<html>sign in</html>`, "not valid JSON"},
		{`{"id":1}`, "not a JSON array"},
		{`[{"id":1},{"id":`, "not valid JSON"},
		{"[" + strings.Repeat(`{"id":1},`, maxPerPage) + `{"id":1}]`, "more than 256 events in a page"},
	} {
		_, err := w.addPage(tt.page)
		require.ErrorContains(t, err, tt.err)
	}
	assert.Zero(t, w.count, "nothing of a refused page is kept")
	assert.Empty(t, w.keys)
}

// The index is one uint64 per event whose order is the emission order.
func TestWindowKeyOrder(t *testing.T) {
	keys := []uint64{
		packKey(5, 0, 0), packKey(5, 0, 1), packKey(5, 1, 0), packKey(4, 7, 99), packKey(0, maxPages-1, maxPerPage-1), packKey(math.MaxUint32, 0, 0),
	}
	slices.Sort(keys)
	type pos struct{ at, page, elem int }
	var got []pos
	for _, k := range keys {
		p, e := unpackKey(k)
		got = append(got, pos{int(keyAt(k)), p, e})
	}
	assert.Equal(t, []pos{{0, maxPages - 1, maxPerPage - 1}, {4, 7, 99}, {5, 1, 0}, {5, 0, 1}, {5, 0, 0}, {math.MaxUint32, 0, 0}}, got,
		"created_at first, then later positions in the walk (lower ids) first")
}

// A window larger than one run of the index is emitted in the same order,
// merged from sorted runs in a temporary file, with a few KiB of memory.
func TestWindowBufferMergesRuns(t *testing.T) {
	base := time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)
	const n = 2*runKeys + 1234
	for _, threshold := range []int64{defaultSpillThreshold, 1 << 40} {
		t.Run(fmt.Sprint(threshold), func(t *testing.T) {
			w := newWindowBuffer(threshold, base)
			defer w.close()
			// Newest first, 100 per page; every seventh event committed
			// a little late (an older created_at than its neighbours).
			at := func(id int) time.Time {
				d := time.Duration(id) * 100 * time.Millisecond
				if id%7 == 0 {
					d -= 250 * time.Millisecond
				}
				return base.Add(d)
			}
			var page strings.Builder
			for id := n; id >= 1; id-- {
				if page.Len() == 0 {
					page.WriteString("[")
				} else {
					page.WriteString(",")
				}
				fmt.Fprintf(&page, `{"id":%d,"created_at":%q}`, id, at(id).Format(time.RFC3339Nano))
				if (n-id+1)%100 == 0 || id == 1 {
					page.WriteString("]")
					_, err := w.addPage(page.String())
					require.NoError(t, err)
					page.Reset()
				}
			}
			require.NoError(t, w.sort())
			assert.Len(t, w.runs, 3)
			want := make([]int, n)
			for i := range want {
				want[i] = i + 1
			}
			slices.SortStableFunc(want, func(a, b int) int { return at(a).Compare(at(b)) })
			got := idsInOrder(t, w)
			require.Len(t, got, n)
			for i, id := range want {
				if got[i] != fmt.Sprint(id) {
					t.Fatalf("event %d: id %s, want %d", i, got[i], id)
				}
			}
		})
	}
}
