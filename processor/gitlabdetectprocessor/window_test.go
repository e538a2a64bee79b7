// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package gitlabdetectprocessor

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/pdata/plog"
)

var t0 = time.Date(2024, 6, 5, 12, 0, 0, 0, time.UTC)

// restEvent builds a REST-shaped event of an author at a time.
func restEvent(t testing.TB, typ string, authorID int, author string, at time.Time, details map[string]any) []byte {
	d := map[string]any{
		"event_name": typ, "author_name": author, "author_class": "User",
		"target_id": authorID, "target_type": "User", "target_details": author,
		"ip_address": "198.51.100.9", "entity_path": author, "author_email": author + "@example.com",
	}
	for k, v := range details {
		d[k] = v
	}
	return eventJSON(t, map[string]any{
		"id": at.UnixNano(), "author_id": authorID, "entity_id": authorID, "entity_type": "User",
		"event_name": typ, "details": d, "created_at": at.Format(time.RFC3339Nano),
	})
}

// consume sends the events as one batch and returns which were tagged by rule.
func consume(t testing.TB, p interface {
	ConsumeLogs(context.Context, plog.Logs) error
}, rule string, events ...[]byte,
) []bool {
	ld, lrs := newLogs()
	for _, raw := range events {
		appendEvent(t, lrs, raw, viaReceiver)
	}
	require.NoError(t, p.ConsumeLogs(context.Background(), ld))
	var out []bool
	for i := 0; i < lrs.Len(); i++ {
		out = append(out, slices.Contains(ruleIDs(lrs.At(i)), rule))
	}
	return out
}

func failures(t testing.TB, id int, name string, from time.Time, n int) [][]byte {
	var out [][]byte
	for i := 0; i < n; i++ {
		out = append(out, restEvent(t, "login_failed_with_standard_authentication", id, name, from.Add(time.Duration(i)*time.Second), nil))
	}
	return out
}

func TestBruteForceResetsAfterFiring(t *testing.T) {
	p, _ := newTestProcessor(t, defaultConfig())
	assert.Equal(t, []bool{false, false, false, false, false}, consume(t, p, "GLD-100", failures(t, 51, "andreas", t0, 5)...))
	ok := restEvent(t, "authenticated_with_password", 51, "andreas", t0.Add(time.Minute), nil)
	assert.Equal(t, []bool{true}, consume(t, p, "GLD-100", ok))
	again := restEvent(t, "authenticated_with_two_factor", 51, "andreas", t0.Add(2*time.Minute), nil)
	assert.Equal(t, []bool{false}, consume(t, p, "GLD-100", again), "the failures were consumed by the first detection")
}

func TestBruteForceThresholdAndWindowAreConfigurable(t *testing.T) {
	cfg := defaultConfig()
	cfg.Windows.BruteForce = BruteForceConfig{Failures: 2, Window: 30 * time.Second}
	p, _ := newTestProcessor(t, cfg)
	events := append(failures(t, 51, "andreas", t0, 2), restEvent(t, "authenticated_with_password", 51, "andreas", t0.Add(20*time.Second), nil))
	assert.Equal(t, []bool{false, false, true}, consume(t, p, "GLD-100", events...))

	events = append(failures(t, 52, "bea", t0, 2), restEvent(t, "authenticated_with_password", 52, "bea", t0.Add(45*time.Second), nil))
	assert.Equal(t, []bool{false, false, false}, consume(t, p, "GLD-100", events...), "the first failure left the 30s window")
}

func TestLateFailuresCountByTheirOwnTime(t *testing.T) {
	p, _ := newTestProcessor(t, defaultConfig())
	// Delivered newest first within the batch (as one REST page is), still in the window.
	evs := failures(t, 51, "andreas", t0, 5)
	slices.Reverse(evs)
	consume(t, p, "GLD-100", evs...)
	assert.Equal(t, []bool{true}, consume(t, p, "GLD-100", restEvent(t, "authenticated_with_password", 51, "andreas", t0.Add(time.Minute), nil)))
}

func TestWindowedAllowlistedEventsAreNotCounted(t *testing.T) {
	cfg := defaultConfig()
	cfg.RuleAllowlists = map[string]AllowlistConfig{"GLD-100": {IPRanges: []string{"198.51.100.0/24"}}}
	p, _ := newTestProcessor(t, cfg)
	consume(t, p, "GLD-100", failures(t, 51, "andreas", t0, 5)...)
	ok := eventJSON(t, map[string]any{
		"id": 9, "author_id": 51, "entity_id": 51, "entity_type": "User", "event_name": "authenticated_with_password",
		"details":    map[string]any{"event_name": "authenticated_with_password", "author_name": "andreas", "ip_address": "203.0.113.5", "target_id": 51, "target_type": "User"},
		"created_at": t0.Add(time.Minute).Format(time.RFC3339Nano),
	})
	assert.Equal(t, []bool{false}, consume(t, p, "GLD-100", ok), "allowlisted failures were not counted")
}

func TestMassDownloadWithoutGitClones(t *testing.T) {
	cfg := defaultConfig()
	cfg.Windows.MassDownload = MassDownloadConfig{Count: 3, AutomationCount: 3, Window: time.Minute, IncludeGitClones: false}
	p, _ := newTestProcessor(t, cfg)
	clone := func(repo string, at time.Time) []byte {
		return eventJSON(t, map[string]any{
			"id": at.UnixNano(), "author_id": 77, "entity_id": 7, "entity_type": "Project",
			"details":     map[string]any{"author_name": "Mallory", "custom_message": map[string]any{"protocol": "http", "action": "git-upload-pack"}, "entity_path": repo},
			"author_name": "Mallory", "entity_path": repo, "ip_address": "203.0.113.5", "target_details": repo, "target_id": 7, "target_type": "Project",
			"created_at": at.Format(time.RFC3339Nano), "event_type": "repository_git_operation",
		})
	}
	assert.Equal(t, []bool{false, false, false, false},
		consume(t, p, "GLD-101", clone("acme/a", t0), clone("acme/b", t0.Add(time.Second)), clone("acme/c", t0.Add(2*time.Second)), clone("acme/d", t0.Add(3*time.Second))))
}

func TestWindowMemoryIsBounded(t *testing.T) {
	cfg := defaultConfig()
	cfg.Windows.MaxTrackedAuthors = 3
	p, err := newDetectProcessor(cfg, componenttest.NewNopTelemetrySettings())
	require.NoError(t, err)
	var bf *windowRule
	for _, w := range p.windows {
		if w.meta.id == "GLD-100" {
			bf = w
		}
	}
	require.NotNil(t, bf)
	run := func(events ...[]byte) []bool {
		ld, lrs := newLogs()
		for _, raw := range events {
			appendEvent(t, lrs, raw, viaReceiver)
		}
		_, err := p.processLogs(context.Background(), ld)
		require.NoError(t, err)
		var out []bool
		for i := 0; i < lrs.Len(); i++ {
			out = append(out, slices.Contains(ruleIDs(lrs.At(i)), "GLD-100"))
		}
		return out
	}
	// Author 1 fails 5 times, then 4 other authors fail: author 1 is evicted.
	run(failures(t, 1, "u1", t0, 5)...)
	for id := 2; id <= 5; id++ {
		run(failures(t, id, fmt.Sprintf("u%d", id), t0.Add(10*time.Second), 5)...)
		assert.LessOrEqual(t, bf.tracked(), 3)
	}
	assert.Equal(t, uint64(2), bf.evicted)
	for _, st := range bf.authors {
		assert.LessOrEqual(t, len(st.Value.(*authorState).hits), 5, "at most threshold hits per author")
	}
	assert.Equal(t, []bool{false}, run(restEvent(t, "authenticated_with_password", 1, "u1", t0.Add(time.Minute), nil)), "evicted author forgotten")
	assert.Equal(t, []bool{true}, run(restEvent(t, "authenticated_with_password", 5, "u5", t0.Add(time.Minute), nil)), "recent author remembered")

	// An author idle for longer than the window is dropped on the next event.
	require.Contains(t, bf.authors, actor{id: 3})
	run(restEvent(t, "login_failed_with_standard_authentication", 9, "u9", t0.Add(time.Hour), nil))
	assert.NotContains(t, bf.authors, actor{id: 3}, "idle author expired")
	assert.Contains(t, bf.authors, actor{id: 9})
	assert.Equal(t, uint64(2), bf.evicted, "expiry is not eviction")
}

func TestAuthorStateAdd(t *testing.T) {
	st := &authorState{}
	sec := int64(time.Second)
	for _, at := range []int64{5, 1, 3, 2, 4} {
		st.add("", at*sec, 10*sec, 3)
	}
	assert.Equal(t, []hit{{at: 3 * sec}, {at: 4 * sec}, {at: 5 * sec}}, st.hits, "sorted, newest kept")
	st.add("", 30*sec, 10*sec, 3)
	assert.Equal(t, []hit{{at: 30 * sec}}, st.hits, "older than the window dropped")

	st = &authorState{}
	st.add("acme/a", 1*sec, 10*sec, 5)
	st.add("acme/b", 2*sec, 10*sec, 5)
	st.add("acme/a", 3*sec, 10*sec, 5)
	st.add("acme/a", 2*sec, 10*sec, 5)
	assert.Equal(t, []hit{{key: "acme/b", at: 2 * sec}, {key: "acme/a", at: 3 * sec}}, st.hits, "keys are distinct, latest time kept")
	assert.Equal(t, 2, st.within(0, 3*sec))
	assert.Equal(t, 1, st.within(3*sec, 3*sec))
}

func TestWindowedRulesConcurrentBatches(t *testing.T) {
	p, sink := newTestProcessor(t, defaultConfig())
	const authors = 16
	// Batches are built up front: goroutines only call ConsumeLogs.
	batches := make([][]plog.Logs, authors)
	for a := 1; a <= authors; a++ {
		name := fmt.Sprintf("user%d", a)
		events := append(failures(t, a, name, t0, 5), restEvent(t, "authenticated_with_password", a, name, t0.Add(time.Minute), nil))
		for _, raw := range events {
			ld, lrs := newLogs()
			appendEvent(t, lrs, raw, viaReceiver)
			batches[a-1] = append(batches[a-1], ld)
		}
	}
	var wg sync.WaitGroup
	for _, author := range batches {
		wg.Go(func() {
			for _, ld := range author {
				if err := p.ConsumeLogs(context.Background(), ld); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	fired := 0
	for _, lr := range allRecords(sink) {
		if slices.Contains(ruleIDs(lr), "GLD-100") {
			fired++
		}
	}
	assert.Equal(t, authors, fired, "one detection per author")
	assert.Equal(t, authors*6, sink.LogRecordCount())
}

func TestShortDuration(t *testing.T) {
	assert.Equal(t, "10m", shortDuration(10*time.Minute))
	assert.Equal(t, "1h30m", shortDuration(90*time.Minute))
	assert.Equal(t, "2h", shortDuration(2*time.Hour))
	assert.Equal(t, "45s", shortDuration(45*time.Second))
	assert.Equal(t, "1m30s", shortDuration(90*time.Second))
}
