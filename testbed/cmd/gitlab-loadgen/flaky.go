// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/kyra-mdr/otelcol-gitlab/testbed/gitlabsim"
)

// flakyToken is the simulated administrator's token.
const flakyToken = "glpat-bench-flaky-token"

// flakyProjects are the feeds the backlog is read from (bench/flaky.yaml).
var flakyProjects = []string{"acme/service-0", "acme/service-1", "acme/service-2", "acme/service-3"}

type flakyOptions struct {
	commonOptions
	events    int
	span      time.Duration
	latency   time.Duration
	slowShare float64
	slowDelay time.Duration
}

func parseFlakyFlags(args []string, stderr io.Writer) (flakyOptions, error) {
	var o flakyOptions
	fs := newFlagSet("flaky", stderr)
	o.register(fs, commonFlags{
		config: filepath.Join("bench", "flaky.yaml"), configHelp: "collector configuration polling ${env:BENCH_GITLAB_ENDPOINT} with default timeout and retries",
		workDirHelp: "directory for the collectors' logs",
		seed:        1,
		timeout:     20 * time.Minute, timeoutHelp: "give up on a run after this long",
	})
	fs.IntVar(&o.events, "events", 20_000, "events in the simulated history (in the four project feeds and elsewhere)")
	fs.DurationVar(&o.span, "span", 3*time.Hour, "time span of the backlog, ending a minute before the collector starts")
	fs.DurationVar(&o.latency, "latency", 200*time.Millisecond, "how long every answer of the simulated GitLab takes, in both runs")
	fs.Float64Var(&o.slowShare, "slow-share", 1.0/9, "share of requests answered only after -slow-delay in the flaky run")
	fs.DurationVar(&o.slowDelay, "slow-delay", 40*time.Second, "how late the slow answers come (past the default 30 s request timeout)")
	if err := o.parse(fs, args, stderr); err != nil {
		return o, err
	}
	switch {
	case o.events <= 0 || o.span <= 0:
		return o, errors.New("-events and -span must be positive")
	case o.latency < 0 || o.slowDelay < 0 || o.slowShare < 0 || o.slowShare > 1:
		return o, errors.New("-latency and -slow-delay must not be negative; -slow-share must be between 0 and 1")
	}
	return o, nil
}

// flakyRun is one read of the backlog.
type flakyRun struct {
	Name        string  `json:"name"`
	Seconds     float64 `json:"seconds"` // first API request to the last backlog event accepted
	Requests    int     `json:"requests"`
	GivenUp     int     `json:"given_up_requests"` // 499: timed out, or the slower of a hedged pair
	Accepted    float64 `json:"accepted_records"`  // after the backlog was complete and a settling pause
	Duplicates  float64 `json:"duplicate_records"` // accepted beyond the backlog
	AuditEvents int     `json:"audit_event_requests"`
}

// flakyResult compares the runs.
type flakyResult struct {
	Events  int      `json:"backlog_events"`
	Feeds   int      `json:"feeds"`
	Healthy flakyRun `json:"healthy"`
	Flaky   flakyRun `json:"flaky"`
	Ratio   float64  `json:"ratio"` // flaky ÷ healthy time
}

// flakyBench reads the same backlog from a healthy and from a flaky
// simulated GitLab and compares the times.
func flakyBench(ctx context.Context, o flakyOptions) (flakyResult, error) {
	r := flakyResult{Feeds: len(flakyProjects)}
	healthy, err := flakyRead(ctx, o, "healthy", gitlabsim.Faults{Latency: o.latency}, &r)
	if err != nil {
		return r, err
	}
	r.Healthy = healthy
	flaky, err := flakyRead(ctx, o, "flaky", gitlabsim.Faults{Latency: o.latency, SlowShare: o.slowShare, SlowDelay: o.slowDelay, Seed: o.seed}, &r)
	if err != nil {
		return r, err
	}
	r.Flaky = flaky
	if healthy.Seconds > 0 {
		r.Ratio = flaky.Seconds / healthy.Seconds
	}
	logf(o.progress, "flaky: healthy %.1fs, flaky %.1fs: %.2f×\n", healthy.Seconds, flaky.Seconds, r.Ratio)
	return r, nil
}

// flakyRead serves the backlog with faults and measures the collector
// reading it from its first start.
func flakyRead(ctx context.Context, o flakyOptions, name string, faults gitlabsim.Faults, r *flakyResult) (flakyRun, error) {
	run := flakyRun{Name: name}
	sim := gitlabsim.New(gitlabsim.Options{
		Seed:          o.seed,
		SecurityShare: 0.05,
		Tokens:        map[string]gitlabsim.Token{flakyToken: {UserID: 1, Admin: true}},
	})
	defer func() { _ = sim.Close() }()
	sim.Populate(0, 0)
	sim.AddGroup(10, "acme")
	feeds := map[int64]bool{}
	for _, path := range flakyProjects {
		p, err := sim.CreateProject(path)
		if err != nil {
			return run, err
		}
		feeds[p.ID] = true
	}
	end := time.Now().Add(-time.Minute)
	backlog := 0
	for _, ev := range sim.GenerateWith(gitlabsim.GenerateOptions{Count: o.events, From: end.Add(-o.span), To: end, SavedOnly: true, NoStream: true}) {
		if ev.Entity.Type == gitlabsim.EntityProject && feeds[ev.Entity.ID] {
			backlog++
		}
	}
	r.Events = backlog
	sim.SetFaults(faults)

	simURL, closeSim, err := serveLoopback(sim)
	if err != nil {
		return run, err
	}
	defer closeSim()

	start := time.Now()
	c, err := o.startCollector(ctx, "flaky-"+name, false, map[string]string{
		"BENCH_GITLAB_ENDPOINT": simURL,
		"BENCH_GITLAB_TOKEN":    flakyToken,
	})
	if err != nil {
		return run, err
	}
	defer func() { _ = c.stop() }()

	client := &http.Client{Timeout: 5 * time.Second}
	defer client.CloseIdleConnections()
	accepted := map[string]string{"receiver": "gitlab_audit"}
	deadline := start.Add(o.timeout)
	lastReport := time.Now()
	for {
		n, err := c.metric(ctx, client, "otelcol_receiver_accepted_log_records", accepted)
		if err != nil {
			return run, fmt.Errorf("reading the collector's telemetry: %w", err)
		}
		if int(n) >= backlog {
			break
		}
		if time.Since(lastReport) > 15*time.Second {
			logf(o.progress, "flaky: %s: %.0f of %d records accepted after %s\n", name, n, backlog, time.Since(start).Round(time.Second))
			lastReport = time.Now()
		}
		if time.Now().After(deadline) {
			return run, fmt.Errorf("%s: only %.0f of %d records accepted after %s", name, n, backlog, o.timeout)
		}
		if err := c.sleep(ctx, 50*time.Millisecond); err != nil {
			return run, err
		}
	}
	reqs := sim.Requests()
	if len(reqs) > 0 {
		run.Seconds = time.Since(reqs[0].Time).Seconds()
	}
	// Anything accepted after the backlog is complete would be a
	// duplicate (the history does not grow).
	if err := c.sleep(ctx, 3*time.Second); err != nil {
		return run, err
	}
	if run.Accepted, err = c.metric(ctx, client, "otelcol_receiver_accepted_log_records", accepted); err != nil {
		return run, err
	}
	run.Duplicates = run.Accepted - float64(backlog)
	run.Requests = sim.RequestCount()
	// The requests, for a look at what happened when: arrival time
	// (relative to the first), status, path and query.
	var log strings.Builder
	for _, rq := range sim.Requests() {
		fmt.Fprintf(&log, "%.3f\t%d\t%s\t%s\n", rq.Time.Sub(reqs[0].Time).Seconds(), rq.Status, rq.Path, rq.Query)
	}
	if err := os.WriteFile(filepath.Join(o.workDir, "flaky-"+name+"-requests.tsv"), []byte(log.String()), 0o644); err != nil {
		return run, err
	}
	for _, rq := range sim.Requests() {
		if strings.HasSuffix(rq.Path, "/audit_events") {
			run.AuditEvents++
		}
		if rq.Status == gitlabsim.StatusClientClosedRequest {
			run.GivenUp++
		}
	}
	logf(o.progress, "flaky: %s: %d events in %.1fs, %d requests (%d given up)\n", name, backlog, run.Seconds, run.Requests, run.GivenUp)
	return run, nil
}

func flakyMarkdown(w io.Writer, o flakyOptions, r flakyResult) error {
	var b strings.Builder
	fmt.Fprintf(&b, "A backlog of %s events over %s in %d project feeds (`%s`: default `timeout`, `retry_on_failure` and `max_concurrent_requests`), read from the collector's first start by a simulated GitLab answering every request in %s; in the flaky run, a share of %.3f of the requests (one in %.0f) is answered only after %s, past the 30 s request timeout. Time from the first API request to the last backlog event accepted.\n\n",
		thousands(float64(r.Events)), o.span, r.Feeds, filepath.Base(o.config), o.latency, o.slowShare, 1/o.slowShare, o.slowDelay)
	b.WriteString("| Run | Time | API requests | of them audit event pages | given up (timed out, or the slower of a hedged pair) | records accepted | duplicates |\n|---|---:|---:|---:|---:|---:|---:|\n")
	for _, run := range []flakyRun{r.Healthy, r.Flaky} {
		fmt.Fprintf(&b, "| %s | %.1f s | %s | %s | %s | %s | %.0f |\n", run.Name, run.Seconds, thousands(float64(run.Requests)),
			thousands(float64(run.AuditEvents)), thousands(float64(run.GivenUp)), thousands(run.Accepted), run.Duplicates)
	}
	fmt.Fprintf(&b, "\nFlaky ÷ healthy: **%.2f×** (target: at most 2×).\n", r.Ratio)
	_, err := io.WriteString(w, b.String())
	return err
}
