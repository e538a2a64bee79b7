// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"time"

	"github.com/kyra-mdr/otelcol-gitlab/testbed/gitlabsim"
)

// backfillToken is the simulated administrator's token.
const backfillToken = "glpat-bench-backfill-token"

type backfillOptions struct {
	commonOptions
	events  int
	span    time.Duration
	perPage int
}

func parseBackfillFlags(args []string, stderr io.Writer) (backfillOptions, error) {
	var o backfillOptions
	fs := newFlagSet("backfill", stderr)
	o.register(fs, commonFlags{
		config: filepath.Join("bench", "backfill.yaml"), configHelp: "collector configuration polling ${env:BENCH_GITLAB_ENDPOINT}",
		workDirHelp: "directory for the collector's log",
		seed:        1,
		timeout:     15 * time.Minute, timeoutHelp: "give up after this long",
	})
	fs.IntVar(&o.events, "events", 1_000_000, "events in the simulated history")
	fs.DurationVar(&o.span, "span", 24*time.Hour, "time span of the history, ending a minute ago (the configuration's initial_lookback must cover it)")
	fs.IntVar(&o.perPage, "per-page", 100, "page size the configuration asks for (to compute the requests needed)")
	if err := o.parse(fs, args, stderr); err != nil {
		return o, err
	}
	if o.events <= 0 || o.span <= 0 || o.perPage <= 0 {
		return o, errors.New("-events, -span and -per-page must be positive")
	}
	return o, nil
}

// backfillResult is what the backfill measured.
type backfillResult struct {
	Events          int     `json:"events"`
	Scopes          int     `json:"scopes"`
	WallSeconds     float64 `json:"wall_seconds"`
	PollSeconds     float64 `json:"poll_seconds"`
	EventsPerS      float64 `json:"events_per_s"`
	CPUSeconds      float64 `json:"collector_cpu_seconds"`
	CPUusPerEvent   float64 `json:"collector_cpu_us_per_event"`
	PeakRSSBytes    int64   `json:"peak_rss_bytes"`
	SimRequests     int     `json:"sim_requests"`
	FeedRequests    int     `json:"feed_requests"` // pages of the feed: the simulator's count, the access check's probe excepted
	MetricRequests  float64 `json:"collector_api_requests"`
	FeedMetric      float64 `json:"collector_feed_requests"` // otelcol_gitlab_audit_api_requests{class="audit_events"}
	PagesNeeded     int     `json:"pages_needed"`
	RequestsTarget  int     `json:"requests_target"`
	AcceptedRecords float64 `json:"accepted_records"`
}

// backfill serves a simulated GitLab holding o.events REST-visible events
// and measures the collector polling all of them.
func backfill(ctx context.Context, o backfillOptions) (backfillResult, error) {
	r := backfillResult{Events: o.events, Scopes: 1}
	sim := gitlabsim.New(gitlabsim.Options{
		Seed:          o.seed,
		SecurityShare: 0.05,
		Tokens:        map[string]gitlabsim.Token{backfillToken: {UserID: 1, Admin: true}},
	})
	defer func() { _ = sim.Close() }()
	sim.Populate(gitlabsim.DefaultGroups, gitlabsim.DefaultProjects)
	end := time.Now().Add(-time.Minute)
	t0 := time.Now()
	sim.GenerateWith(gitlabsim.GenerateOptions{Count: o.events, From: end.Add(-o.span), To: end, SavedOnly: true, NoStream: true})
	logf(o.progress, "backfill: simulated %d events in %s\n", o.events, time.Since(t0).Round(time.Millisecond))

	simURL, closeSim, err := serveLoopback(sim)
	if err != nil {
		return r, err
	}
	defer closeSim()

	start := time.Now()
	c, err := o.startCollector(ctx, "backfill", false, map[string]string{
		"BENCH_GITLAB_ENDPOINT": simURL,
		"BENCH_GITLAB_TOKEN":    backfillToken,
	})
	if err != nil {
		return r, err
	}
	defer func() { _ = c.stop() }()

	client := &http.Client{Timeout: 5 * time.Second}
	defer client.CloseIdleConnections()
	accepted := map[string]string{"receiver": "gitlab_audit"}
	deadline := time.Now().Add(o.timeout)
	lastReport := time.Now()
	for {
		n, err := c.metric(ctx, client, "otelcol_receiver_accepted_log_records", accepted)
		if err != nil {
			return r, fmt.Errorf("reading the collector's telemetry: %w", err)
		}
		r.AcceptedRecords = n
		if int(n) >= o.events {
			break
		}
		if time.Since(lastReport) > 10*time.Second {
			logf(o.progress, "backfill: %.0f records accepted after %s\n", n, time.Since(start).Round(time.Second))
			lastReport = time.Now()
		}
		if err := c.sleep(ctx, 100*time.Millisecond); err != nil {
			return r, err
		}
		if time.Now().After(deadline) {
			return r, fmt.Errorf("only %.0f of %d records accepted after %s", n, o.events, o.timeout)
		}
	}
	r.WallSeconds = time.Since(start).Seconds()
	if reqs := sim.Requests(); len(reqs) > 0 {
		// From the first API request to the last record accepted: the
		// collector's start-up excluded.
		r.PollSeconds = time.Since(reqs[0].Time).Seconds()
	}
	r.EventsPerS = float64(o.events) / r.WallSeconds
	cpu, err := cpuTime(c.pid())
	if err != nil {
		return r, err
	}
	r.CPUSeconds = cpu.Seconds()
	r.CPUusPerEvent = float64(cpu.Microseconds()) / float64(o.events)
	if r.PeakRSSBytes, err = peakRSS(c.pid()); err != nil {
		return r, err
	}
	r.SimRequests = sim.RequestCount()
	for _, rq := range sim.Requests() {
		// The feed's pages carry a created_at range; the access check's
		// probe of the same endpoint (per_page=1) does not.
		if strings.HasSuffix(rq.Path, "/audit_events") && strings.Contains(rq.Query, "created_after=") {
			r.FeedRequests++
		}
	}
	if r.MetricRequests, err = c.metric(ctx, client, "otelcol_gitlab_audit_api_requests", nil); err != nil {
		return r, err
	}
	if r.FeedMetric, err = c.metric(ctx, client, "otelcol_gitlab_audit_api_requests", map[string]string{"class": "audit_events"}); err != nil {
		return r, err
	}
	r.PagesNeeded = (o.events + o.perPage - 1) / o.perPage
	r.RequestsTarget = r.PagesNeeded + r.Scopes
	logf(o.progress, "backfill: %d events in %.1fs, peak RSS %.1f MiB, %d API requests, %d of them pages of the feed (target %d)\n",
		o.events, r.WallSeconds, float64(r.PeakRSSBytes)/(1<<20), r.SimRequests, r.FeedRequests, r.RequestsTarget)
	return r, nil
}

func backfillMarkdown(w io.Writer, o backfillOptions, r backfillResult) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s events over %s served by the simulator (instance feed, keyset pagination, %d per page); the collector (`%s`) polls them from its first start, without a checkpoint.\n\n",
		thousands(float64(r.Events)), o.span, o.perPage, filepath.Base(o.config))
	b.WriteString("| Metric | Value | Target |\n|---|---:|---|\n")
	fmt.Fprintf(&b, "| Wall time, collector start to last record accepted | %.1f s | |\n", r.WallSeconds)
	fmt.Fprintf(&b, "| of which from the first API request | %.1f s | |\n", r.PollSeconds)
	fmt.Fprintf(&b, "| Throughput | %s events/s | |\n", thousands(r.EventsPerS))
	fmt.Fprintf(&b, "| Collector CPU time | %.1f s (%.1f µs/event) | |\n", r.CPUSeconds, r.CPUusPerEvent)
	fmt.Fprintf(&b, "| Peak RSS of the collector (VmHWM) | %.1f MiB | under 100 MiB |\n", float64(r.PeakRSSBytes)/(1<<20))
	fmt.Fprintf(&b, "| Requests for pages of the feed (simulator's count) | %s | ≤ %s (%s pages + %d per feed) |\n",
		thousands(float64(r.FeedRequests)), thousands(float64(r.RequestsTarget)), thousands(float64(r.PagesNeeded)), r.Scopes)
	fmt.Fprintf(&b, "| All API requests (simulator's count; the others check what the token sees) | %s | |\n", thousands(float64(r.SimRequests)))
	fmt.Fprintf(&b, "| API requests (collector's `otelcol_gitlab_audit_api_requests`: all / `class=\"audit_events\"`) | %s / %s | |\n", thousands(r.MetricRequests), thousands(r.FeedMetric))
	fmt.Fprintf(&b, "| Records accepted (`otelcol_receiver_accepted_log_records`) | %s | %s |\n", thousands(r.AcceptedRecords), thousands(float64(r.Events)))
	_, err := io.WriteString(w, b.String())
	return err
}
