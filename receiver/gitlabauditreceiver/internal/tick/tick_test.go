// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package tick

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestSleep(t *testing.T) {
	require.NoError(t, Sleep(context.Background(), time.Millisecond))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	start := time.Now()
	require.ErrorIs(t, Sleep(ctx, time.Hour), context.Canceled)
	require.Less(t, time.Since(start), time.Minute)
}

// run calls Every in a goroutine and returns a function that stops it and
// says how many times fn ran.
func run(t *testing.T, interval time.Duration, opts ...Option) (calls *atomic.Int64, stop func() int64) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	calls = &atomic.Int64{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		Every(ctx, interval, func(context.Context) { calls.Add(1) }, opts...)
	}()
	return calls, func() int64 {
		cancel()
		<-done
		return calls.Load()
	}
}

func TestEvery(t *testing.T) {
	tests := []struct {
		name     string
		interval time.Duration
		opts     []Option
		wait     time.Duration
		atLeast  int64
		atMost   int64
	}{
		{"not before the first interval", time.Hour, nil, 20 * time.Millisecond, 0, 0},
		{"now runs at once", time.Hour, []Option{Now()}, 50 * time.Millisecond, 1, 1},
		{"repeats every interval", 5 * time.Millisecond, nil, 100 * time.Millisecond, 3, 25},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			calls, stop := run(t, tt.interval, tt.opts...)
			if tt.atLeast > 0 {
				require.Eventually(t, func() bool { return calls.Load() >= tt.atLeast }, 5*time.Second, time.Millisecond)
			} else {
				time.Sleep(tt.wait)
			}
			n := stop()
			require.GreaterOrEqual(t, n, tt.atLeast)
			if tt.atMost > 0 || tt.atLeast == 0 {
				require.LessOrEqual(t, n, max(tt.atMost, tt.atLeast))
			}
		})
	}
}

func TestEveryWakesEarlyButNotTooOften(t *testing.T) {
	wake := make(chan struct{}, 1)
	calls, stop := run(t, time.Hour, Now(), WakeOn(wake, 0))
	require.Eventually(t, func() bool { return calls.Load() == 1 }, 5*time.Second, time.Millisecond)
	wake <- struct{}{}
	require.Eventually(t, func() bool { return calls.Load() == 2 }, 5*time.Second, time.Millisecond, "a wake runs fn early")
	require.Equal(t, int64(2), stop())

	// With a minimum gap, wakes within the gap wait for it.
	calls, stop = run(t, time.Hour, Now(), WakeOn(wake, time.Hour))
	require.Eventually(t, func() bool { return calls.Load() == 1 }, 5*time.Second, time.Millisecond)
	wake <- struct{}{}
	time.Sleep(30 * time.Millisecond)
	require.Equal(t, int64(1), stop(), "a wake within min gap of the last run waits")
}
