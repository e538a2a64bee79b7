// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/kyra-mdr/otelcol-gitlab/testbed/benchevents"
)

// soakOptions are the flags of `gitlab-loadgen soak`.
// -timeout is the timeout of one request.
type soakOptions struct {
	commonOptions
	concurrency int
	duration    time.Duration
	interval    time.Duration
	events      int
}

func parseSoakFlags(args []string, stderr io.Writer) (soakOptions, error) {
	var o soakOptions
	fs := newFlagSet("soak", stderr)
	o.register(fs, commonFlags{
		config: "bench/soak.yaml", configHelp: "collector configuration (a stream endpoint with file_storage)",
		workDirHelp: "directory for the collector's log and its storage directory",
		seed:        1,
		timeout:     10 * time.Second, timeoutHelp: "timeout of one request",
	})
	fs.IntVar(&o.concurrency, "concurrency", 16, "connections, one request in flight on each")
	fs.DurationVar(&o.duration, "duration", 10*time.Minute, "total time under load")
	fs.DurationVar(&o.interval, "interval", time.Minute, "length of each measured interval (one report row)")
	fs.IntVar(&o.events, "events", 2000, "distinct simulated events the requests cycle through (every request carries a new id)")
	if err := o.parse(fs, args, stderr); err != nil {
		return o, err
	}
	if o.concurrency < 1 || o.interval <= 0 || o.duration < o.interval || o.events <= 0 {
		return o, errors.New("-concurrency, -interval and -events must be positive, -duration at least one -interval")
	}
	return o, nil
}

// soakInterval is one measured interval of the soak.
type soakInterval struct {
	streamResult
	End          float64 `json:"end_s"`         // seconds since the start, at the end of the interval
	StorageBytes int64   `json:"storage_bytes"` // size of the storage directory at its end
}

// soakResult is the soak's outcome against its targets (BENCHMARKS.md).
type soakResult struct {
	Intervals []soakInterval `json:"intervals"`
	// LastOverFirst is events/s of the last interval over the first.
	LastOverFirst float64 `json:"last_over_first"`
	// StorageGrowth is the storage size at the end over its size at the
	// end of the middle interval: about 1 once it stopped growing.
	StorageGrowth float64 `json:"storage_growth_second_half"`
	Pass          bool    `json:"pass"`
}

// soak streams single-event requests with distinct ids for o.duration, and
// reports each interval's throughput and the storage directory's size.
func soak(ctx context.Context, o soakOptions) (soakResult, error) {
	templates, err := benchevents.Events(o.seed, o.events)
	if err != nil {
		return soakResult{}, err
	}
	storageDir, err := o.freshDir("soak-storage")
	if err != nil {
		return soakResult{}, err
	}
	c, err := o.startCollector(ctx, "soak", true,
		map[string]string{"BENCH_STREAM_TOKEN": streamToken, "BENCH_STORAGE_DIR": storageDir})
	if err != nil {
		return soakResult{}, err
	}
	defer func() { _ = c.stop() }()

	t := target{Name: "gitlab_audit+file_storage", Pipeline: "gitlab_audit stream (file_storage) → batch → nop", path: "/webhook/gitlab-audit"}
	seq := &atomic.Uint64{}
	seq.Store(1 << 32)
	l := &loader{target: t, url: "http://" + c.endpoint + t.path, templates: templates, seq: seq, timeout: o.timeout}
	var res soakResult
	start := time.Now()
	for i := 0; time.Since(start)+o.interval/2 < o.duration; i++ {
		r, err := l.run(ctx, o.concurrency, o.interval, c.pid())
		if err != nil {
			return res, err
		}
		size, err := dirSize(storageDir)
		if err != nil {
			return res, err
		}
		iv := soakInterval{streamResult: r, End: time.Since(start).Seconds(), StorageBytes: size}
		res.Intervals = append(res.Intervals, iv)
		logf(o.progress, "soak %6.0fs %9.0f events/s  p50 %7.0fµs  p99 %7.0fµs  collector CPU %6.1fµs/event  storage %s  errors %d\n",
			iv.End, r.EventsPerS, r.P50us, r.P99us, r.CPUus, mib(size), r.Errors)
	}
	n := len(res.Intervals)
	first, last, mid := res.Intervals[0], res.Intervals[n-1], res.Intervals[(n-1)/2]
	res.LastOverFirst = last.EventsPerS / first.EventsPerS
	if mid.StorageBytes > 0 {
		res.StorageGrowth = float64(last.StorageBytes) / float64(mid.StorageBytes)
	}
	res.Pass = res.LastOverFirst >= 0.8 && res.StorageGrowth <= 1.2
	return res, nil
}

// dirSize sums the sizes of the files under dir.
func dirSize(dir string) (int64, error) {
	var total int64
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		total += info.Size()
		return nil
	})
	return total, err
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

func soakMarkdown(w io.Writer, o soakOptions, res soakResult) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%d connections stream single-event requests, every id new, for %s into `gitlab_audit` keeping its de-duplication state in `file_storage` (`%s`); one row per %s.\n\n",
		o.concurrency, o.duration, o.config, o.interval)
	b.WriteString("| End | events/s | p50 | p99 | collector CPU/event | storage | errors |\n|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, iv := range res.Intervals {
		fmt.Fprintf(&b, "| %.0f s | %s | %s | %s | %.1f µs | %s | %d |\n",
			iv.End, thousands(iv.EventsPerS), micros(iv.P50us), micros(iv.P99us), iv.CPUus, mib(iv.StorageBytes), iv.Errors)
	}
	verdict := "**pass**"
	if !res.Pass {
		verdict = "**FAIL**"
	}
	fmt.Fprintf(&b, "\nLast interval ÷ first: %.2f (target ≥ 0.80); storage at the end ÷ storage at the middle: %.2f (target ≤ 1.20, bounded): %s.\n",
		res.LastOverFirst, res.StorageGrowth, verdict)
	_, err := io.WriteString(w, b.String())
	return err
}
