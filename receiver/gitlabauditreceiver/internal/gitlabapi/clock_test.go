// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package gitlabapi

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestClockBeforeAnyAnswerIsTheCollectors(t *testing.T) {
	local := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	c := NewClock(func() time.Time { return local })
	now, ok := c.Now()
	assert.False(t, ok)
	assert.Equal(t, local, now)
	_, _, ok = c.Skew()
	assert.False(t, ok)
	assert.False(t, c.Observe("", local, local))
	assert.False(t, c.Observe("yesterday", local, local))
	_, _, ok = c.Skew()
	assert.False(t, ok)
}

// The Date header has one-second resolution; answers seen at various
// fractions of a second narrow the estimate down, and the lower bound
// never overtakes GitLab's real clock.
func TestClockNarrowsTheSkewAcrossAnswers(t *testing.T) {
	tests := []struct {
		name string
		skew time.Duration
		rtt  time.Duration
	}{
		{"GitLab 20 minutes behind", -20*time.Minute - 300*time.Millisecond, 0},
		{"GitLab an hour ahead", time.Hour + 770*time.Millisecond, 0},
		{"in sync, slow answers", 0, 120 * time.Millisecond},
		{"behind, slow answers", -37*time.Second - 5*time.Millisecond, 40 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			local := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
			c := NewClock(func() time.Time { return local })
			for i := range 40 {
				sent := local
				// GitLab stamps Date halfway through the round trip.
				server := sent.Add(tt.rtt / 2).Add(tt.skew)
				received := sent.Add(tt.rtt)
				require.True(t, c.Observe(server.Truncate(time.Second).Format(http.TimeFormat), sent, received))
				local = received
				now, ok := c.Now()
				require.True(t, ok)
				assert.False(t, now.After(local.Add(tt.skew)), "answer %d: Now is never past GitLab's clock", i)
				local = local.Add(time.Second + 137*time.Millisecond)
			}
			skew, unc, ok := c.Skew()
			require.True(t, ok)
			assert.InDelta(t, tt.skew.Seconds(), skew.Seconds(), (tt.rtt/2 + 50*time.Millisecond).Seconds())
			assert.LessOrEqual(t, unc, tt.rtt/2+50*time.Millisecond)
		})
	}
}

func TestClockForgetsAStep(t *testing.T) {
	local := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	c := NewClock(func() time.Time { return local })
	for i := range 10 {
		at := local.Add(time.Duration(i) * time.Second)
		c.Observe(at.Add(-time.Hour).Format(http.TimeFormat), at, at)
	}
	skew, _, _ := c.Skew()
	assert.InDelta(t, -3600, skew.Seconds(), 1)
	// GitLab's clock is corrected by NTP.
	at := local.Add(time.Minute)
	c.Observe(at.Format(http.TimeFormat), at, at)
	skew, _, _ = c.Skew()
	assert.InDelta(t, 0, skew.Seconds(), 1)
}
