// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/kyra-mdr/otelcol-gitlab/testbed/gitlabsim"
	"github.com/kyra-mdr/otelcol-gitlab/testbed/promtext"
)

// estateToken is the simulated Owner of the top group.
const estateToken = "glpat-bench-estate-token-0"

type estateOptions struct {
	commonOptions
	projects     int
	active       int
	rpm          int
	pollInterval time.Duration
	idleInterval time.Duration
	eventEvery   time.Duration
	warmup       time.Duration
	duration     time.Duration
}

func parseEstateFlags(args []string, stderr io.Writer) (estateOptions, error) {
	var o estateOptions
	fs := newFlagSet("estate", stderr)
	o.register(fs, commonFlags{
		config: filepath.Join("bench", "estate.yaml"), configHelp: "collector configuration (see bench/estate.yaml for the variables it gets)",
		workDirHelp: "directory for the collector's log and storage",
		seed:        1,
	})
	fs.IntVar(&o.projects, "projects", 2000, "projects under the configured group")
	fs.IntVar(&o.active, "active", 20, "projects that keep getting events")
	fs.IntVar(&o.rpm, "rpm", 2000, "max_requests_per_minute of the collector, and the simulator's rate limit per token")
	fs.DurationVar(&o.pollInterval, "poll-interval", time.Minute, "poll_interval")
	fs.DurationVar(&o.idleInterval, "idle-poll-interval", 5*time.Minute, "idle_poll_interval")
	fs.DurationVar(&o.eventEvery, "event-every", 10*time.Second, "time between two events of each active project")
	fs.DurationVar(&o.warmup, "warmup", 12*time.Minute, "time for the first read and the idle backoff to settle, before measuring")
	fs.DurationVar(&o.duration, "duration", 5*time.Minute, "measured time")
	if err := o.parse(fs, args, stderr); err != nil {
		return o, err
	}
	if o.projects <= 0 || o.active < 0 || o.active > o.projects || o.rpm <= 0 || o.eventEvery <= 0 || o.duration <= 0 {
		return o, errors.New("-projects, -rpm, -event-every and -duration must be positive, -active between 0 and -projects")
	}
	return o, nil
}

// estateResult is what the estate benchmark measured.
type estateResult struct {
	Projects         int     `json:"projects"`
	Feeds            int     `json:"feeds"`
	Active           int     `json:"active"`
	RPMCap           int     `json:"rpm_cap"`
	RequestsPerMin   float64 `json:"requests_per_minute"`
	MaxRequestsInMin int     `json:"max_requests_in_a_minute"`
	RateLimited      int     `json:"rate_limited_429"`
	ActiveLagP50     float64 `json:"active_lag_p50_seconds"`
	ActiveLagMax     float64 `json:"active_lag_max_seconds"`
	IdleLagP50       float64 `json:"idle_lag_p50_seconds"`
	IdleLagMax       float64 `json:"idle_lag_max_seconds"`
	PeakRSSBytes     int64   `json:"peak_rss_bytes"`
	StartupSeconds   float64 `json:"startup_seconds_with_stored_checkpoints"`
	StoredFeeds      int     `json:"stored_feeds"`
	CatchUpSeconds   float64 `json:"first_read_seconds"`
}

// estateBench serves an estate of o.projects projects under one group, o.active
// of them getting events, and measures the collector discovering and
// polling all of them within the request budget.
func estateBench(ctx context.Context, o estateOptions) (estateResult, error) {
	r := estateResult{Projects: o.projects, Active: o.active, RPMCap: o.rpm}
	sim := gitlabsim.New(gitlabsim.Options{
		Seed:               o.seed,
		RateLimitPerMinute: o.rpm,
		Tokens:             map[string]gitlabsim.Token{estateToken: {UserID: 2, Groups: map[string]gitlabsim.Role{"acme": gitlabsim.Owner}}},
	})
	defer func() { _ = sim.Close() }()
	sim.Populate(0, 0)
	sim.AddGroup(10, "acme")
	var groups []string
	for i := range 20 {
		g := fmt.Sprintf("acme/team-%02d", i)
		if _, err := sim.CreateGroup(g); err != nil {
			return r, err
		}
		groups = append(groups, g)
	}
	var ids []int64
	for i := range o.projects {
		p, err := sim.CreateProject(fmt.Sprintf("%s/service-%04d", groups[i%len(groups)], i))
		if err != nil {
			return r, err
		}
		ids = append(ids, p.ID)
	}
	r.Feeds = 1 + len(groups) + o.projects
	active := ids[:o.active]

	simURL, closeSim, err := serveLoopback(sim)
	if err != nil {
		return r, err
	}
	defer closeSim()

	storage, err := o.freshDir("estate-storage")
	if err != nil {
		return r, err
	}
	env := map[string]string{
		"BENCH_GITLAB_ENDPOINT":    simURL,
		"BENCH_GITLAB_TOKEN":       estateToken,
		"BENCH_RPM":                strconv.Itoa(o.rpm),
		"BENCH_POLL_INTERVAL":      o.pollInterval.String(),
		"BENCH_IDLE_POLL_INTERVAL": o.idleInterval.String(),
		"BENCH_STORAGE_DIR":        storage,
	}
	start := time.Now()
	c, err := o.startCollector(ctx, "estate", false, env)
	if err != nil {
		return r, err
	}
	defer func() { _ = c.stop() }()

	// Active projects get an event every eventEvery, spread evenly.
	genCtx, stopGen := context.WithCancel(ctx)
	genDone := make(chan struct{})
	go func() {
		defer close(genDone)
		if len(active) == 0 {
			return
		}
		t := time.NewTicker(o.eventEvery / time.Duration(len(active)))
		defer t.Stop()
		for i := 0; ; i++ {
			select {
			case <-genCtx.Done():
				return
			case <-t.C:
			}
			ev, err := sim.BuildEvent("ci_variable_updated", time.Now(), false)
			if err != nil {
				continue
			}
			ev.Entity = gitlabsim.Entity{Type: gitlabsim.EntityProject, ID: active[i%len(active)]}
			ev.Target = gitlabsim.Target{}
			sim.Insert(ev)
		}
	}()
	defer func() {
		stopGen()
		<-genDone
	}()

	client := &http.Client{Timeout: 10 * time.Second}
	defer client.CloseIdleConnections()
	// The first read: until every feed is caught up.
	for {
		n, err := c.metric(ctx, client, "otelcol_gitlab_audit_feeds_caught_up", nil)
		if err == nil && int(n) >= r.Feeds {
			r.CatchUpSeconds = time.Since(start).Seconds()
			break
		}
		if time.Since(start) > o.warmup+10*time.Minute {
			return r, fmt.Errorf("only %.0f of %d feeds caught up after %s (see %s)", n, r.Feeds, time.Since(start).Round(time.Second), c.log.Name())
		}
		if err := c.sleep(ctx, time.Second); err != nil {
			return r, err
		}
	}
	logf(o.progress, "estate: %d feeds caught up after %.0fs; settling until %s after start\n", r.Feeds, r.CatchUpSeconds, o.warmup)
	if err := c.sleep(ctx, time.Until(start.Add(o.warmup))); err != nil {
		return r, err
	}

	// Measure: lags every 5 s, requests over the window.
	from := time.Now()
	activeSet := map[string]bool{}
	for _, id := range active {
		activeSet["project:"+strconv.FormatInt(id, 10)] = true
	}
	var activeLags, idleLags []float64
	for time.Since(from) < o.duration {
		lags, err := c.metricByLabel(ctx, client, "otelcol_gitlab_audit_checkpoint_lag", "feed")
		if err != nil {
			return r, err
		}
		for feed, lag := range lags {
			if activeSet[feed] {
				activeLags = append(activeLags, lag)
			} else {
				idleLags = append(idleLags, lag)
			}
		}
		if err := c.sleep(ctx, 5*time.Second); err != nil {
			return r, err
		}
	}
	to := time.Now()
	var times []time.Time
	for _, q := range sim.Requests() {
		if !q.Time.Before(from) && q.Time.Before(to) {
			times = append(times, q.Time)
			if q.Status == http.StatusTooManyRequests {
				r.RateLimited++
			}
		}
	}
	r.RequestsPerMin = float64(len(times)) / to.Sub(from).Minutes()
	for i := range times {
		j, _ := slices.BinarySearchFunc(times, times[i].Add(time.Minute), func(a, b time.Time) int { return a.Compare(b) })
		r.MaxRequestsInMin = max(r.MaxRequestsInMin, j-i)
	}
	r.ActiveLagP50, r.ActiveLagMax = quantile(activeLags, 0.5), quantile(activeLags, 1)
	r.IdleLagP50, r.IdleLagMax = quantile(idleLags, 0.5), quantile(idleLags, 1)
	if r.PeakRSSBytes, err = peakRSS(c.pid()); err != nil {
		return r, err
	}
	logf(o.progress, "estate: %.0f requests/min (cap %d), active lag p50 %.0fs max %.0fs, idle lag p50 %.0fs max %.0fs, peak RSS %.1f MiB\n",
		r.RequestsPerMin, o.rpm, r.ActiveLagP50, r.ActiveLagMax, r.IdleLagP50, r.IdleLagMax, float64(r.PeakRSSBytes)/(1<<20))
	if err := c.stop(); err != nil {
		return r, err
	}

	// Start again on the stored checkpoints, without a listing (the
	// simulator refuses it), and time it.
	sim.DenyListing("acme", http.StatusServiceUnavailable)
	restart := time.Now()
	c2, err := o.startCollector(ctx, "estate-restart", false, env)
	if err != nil {
		return r, err
	}
	defer func() { _ = c2.stop() }()
	for {
		stored, ready, err := scanRestartLog(c2.log.Name())
		if err != nil {
			return r, err
		}
		if ready {
			r.StartupSeconds = time.Since(restart).Seconds()
			r.StoredFeeds = stored
			break
		}
		if time.Since(restart) > time.Minute {
			return r, fmt.Errorf("the collector was not ready a minute after its restart (see %s)", c2.log.Name())
		}
		if err := c2.sleep(ctx, 20*time.Millisecond); err != nil {
			return r, err
		}
	}
	logf(o.progress, "estate: restart with %d stored feeds ready in %.2fs\n", r.StoredFeeds, r.StartupSeconds)
	return r, nil
}

// scanRestartLog reads the restarted collector's log: how many discovered
// feeds it resumed from storage, and whether it is ready.
func scanRestartLog(path string) (stored int, ready bool, err error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, false, err
	}
	defer func() { _ = f.Close() }()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.Contains(line, "Resuming the discovered feeds from storage") {
			if i := strings.Index(line, `"feeds": `); i >= 0 {
				stored, _ = strconv.Atoi(strings.TrimRight(strings.Fields(line[i+9:])[0], ",}"))
			}
		}
		if strings.Contains(line, "Everything is ready") {
			ready = true
		}
	}
	return stored, ready, sc.Err()
}

// metricByLabel returns the samples of a gauge by the value of one label.
func (c *collector) metricByLabel(ctx context.Context, client *http.Client, name, label string) (map[string]float64, error) {
	var out map[string]float64
	err := c.scrape(ctx, client, func(r io.Reader) (err error) {
		out, err = promtext.ByLabel(r, name, label)
		return err
	})
	return out, err
}

// quantile returns the q-quantile (0..1) of xs, 0 when empty.
func quantile(xs []float64, q float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[min(len(s)-1, int(q*float64(len(s))))]
}

func estateMarkdown(w io.Writer, o estateOptions, r estateResult) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s projects in 20 subgroups of one configured group (%s feeds with the group and subgroups), discovered by the collector (`%s`); %d of them get an event every %s. poll_interval %s, idle_poll_interval %s, max_requests_per_minute %d (and the simulator's rate limit per token the same). Measured for %s after %s of warm-up.\n\n",
		thousands(float64(r.Projects)), thousands(float64(r.Feeds)), filepath.Base(o.config), r.Active, o.eventEvery, o.pollInterval, o.idleInterval, r.RPMCap, o.duration, o.warmup)
	b.WriteString("| Metric | Value | Target |\n|---|---:|---|\n")
	fmt.Fprintf(&b, "| First read of every feed (start to all caught up) | %.0f s | |\n", r.CatchUpSeconds)
	fmt.Fprintf(&b, "| API requests per minute (mean; busiest minute) | %.0f; %d | ≤ %d |\n", r.RequestsPerMin, r.MaxRequestsInMin, r.RPMCap)
	fmt.Fprintf(&b, "| 429 answers | %d | 0 |\n", r.RateLimited)
	fmt.Fprintf(&b, "| Checkpoint lag of active feeds (p50; max) | %.0f s; %.0f s | within 2 × poll_interval (%s) |\n", r.ActiveLagP50, r.ActiveLagMax, 2*o.pollInterval)
	fmt.Fprintf(&b, "| Checkpoint lag of idle feeds (p50; max) | %.0f s; %.0f s | about idle_poll_interval (%s) |\n", r.IdleLagP50, r.IdleLagMax, o.idleInterval)
	fmt.Fprintf(&b, "| Peak RSS of the collector (VmHWM) | %.1f MiB | under 80 MiB |\n", float64(r.PeakRSSBytes)/(1<<20))
	fmt.Fprintf(&b, "| Restart with %s stored feeds: process start to ready | %.2f s | well under a second beyond the collector's own start |\n", thousands(float64(r.StoredFeeds)), r.StartupSeconds)
	_, err := io.WriteString(w, b.String())
	return err
}
