// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package main

import (
	"bytes"
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
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/kyra-mdr/otelcol-gitlab/testbed/benchevents"
)

// streamToken is the verification token of the benchmark's streaming
// destination.
const streamToken = "bench-stream-verification-token"

// target is one endpoint under load.
type target struct {
	Name     string // as in -targets and the report
	Pipeline string // what the collector does with the events
	config   string // collector configuration file name, in -configs
	path     string // request path
	otlp     bool
	body     benchevents.OTLPBody
	bare     bool // no collector: the bare-http server (bare.go)
}

var allTargets = []target{
	{Name: "gitlab_audit", Pipeline: "gitlab_audit stream → gitlab_detect → batch → nop", config: "stream.yaml", path: "/webhook/gitlab-audit"},
	{Name: "gitlab_audit-nodetect", Pipeline: "gitlab_audit stream → batch → nop", config: "stream-nodetect.yaml", path: "/webhook/gitlab-audit"},
	{Name: "otlp-kvlist", Pipeline: "otlp http → batch → nop; event as a kvlist body", config: "otlp.yaml", path: "/v1/logs", otlp: true, body: benchevents.BodyKVList},
	{Name: "otlp-string", Pipeline: "otlp http → batch → nop; event JSON as a string body", config: "otlp.yaml", path: "/v1/logs", otlp: true, body: benchevents.BodyString},
	{Name: "bare-http", Pipeline: "a Go net/http server in a process of its own that reads the whole body and answers 200 with gitlab_audit's answer, nothing else; the requests gitlab_audit gets", path: "/webhook/gitlab-audit", bare: true},
}

// ratioGoals are the throughput ratios gitlab_audit is to reach (events/s
// of the first target ÷ events/s of the second, at every level;
// BENCHMARKS.md, issue 21).
var ratioGoals = map[[2]string]float64{
	{"gitlab_audit", "otlp-kvlist"}: 1.5,
	{"gitlab_audit", "bare-http"}:   0.6,
}

// key names the process serving t: its configuration; bare-http has none.
func (t target) key() string {
	if t.bare {
		return t.Name
	}
	return t.config
}

// -timeout is the timeout of one request; stream has -configs, no -config.
type streamOptions struct {
	commonOptions
	configs  string
	targets  []target
	levels   []int
	duration time.Duration
	warmup   time.Duration
	events   int
	seqStart uint64
}

func parseStreamFlags(args []string, stderr io.Writer) (streamOptions, error) {
	var o streamOptions
	fs := newFlagSet("stream", stderr)
	o.register(fs, commonFlags{
		workDirHelp: "directory for the collectors' logs",
		seed:        1,
		timeout:     10 * time.Second, timeoutHelp: "timeout of one request",
	})
	fs.StringVar(&o.configs, "configs", "bench", "directory of the collector configurations (stream.yaml, stream-nodetect.yaml, otlp.yaml)")
	targets := fs.String("targets", targetNames(), "targets, comma-separated: "+targetNames())
	levels := fs.String("concurrency", "1,8,32", "concurrency levels (connections, one request in flight on each), comma-separated")
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "measured time per level and target")
	fs.DurationVar(&o.warmup, "warmup", 2*time.Second, "unmeasured load before each measurement")
	fs.IntVar(&o.events, "events", 2000, "distinct simulated events the requests cycle through (ids are rewritten: every request carries a new event)")
	if err := o.parse(fs, args, stderr); err != nil {
		return o, err
	}
	var err error
	if o.levels, err = parseInts(*levels); err != nil {
		return o, fmt.Errorf("-concurrency: %w", err)
	}
	for _, name := range strings.Split(*targets, ",") {
		i := slices.IndexFunc(allTargets, func(t target) bool { return t.Name == strings.TrimSpace(name) })
		if i < 0 {
			return o, fmt.Errorf("-targets: unknown target %q (want %s)", name, targetNames())
		}
		o.targets = append(o.targets, allTargets[i])
	}
	if o.duration <= 0 || o.warmup < 0 || o.events <= 0 {
		return o, errors.New("-duration and -events must be positive, -warmup not negative")
	}
	o.seqStart = 1 << 32 // far above the simulator's own ids
	return o, nil
}

func targetNames() string {
	names := make([]string, len(allTargets))
	for i, t := range allTargets {
		names[i] = t.Name
	}
	return strings.Join(names, ",")
}

func parseInts(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("%q is not a positive integer", f)
		}
		out = append(out, n)
	}
	return out, nil
}

// streamResult is one measurement: one target at one concurrency level.
type streamResult struct {
	Target      string  `json:"target"`
	Pipeline    string  `json:"pipeline"`
	Concurrency int     `json:"concurrency"`
	Events      int     `json:"events"`
	Errors      int     `json:"errors"`
	Seconds     float64 `json:"seconds"`
	EventsPerS  float64 `json:"events_per_s"`
	P50us       float64 `json:"p50_us"`
	P99us       float64 `json:"p99_us"`
	CPUus       float64 `json:"collector_cpu_us_per_event"`
	ClientCPUus float64 `json:"client_cpu_us_per_event"`
	BodyBytes   float64 `json:"request_body_bytes"`
	FirstError  string  `json:"first_error,omitempty"`
}

// streamBench starts one collector per configuration (and the bare-http
// server), then measures each level, and within a level each target, in
// turn: a drift of the machine during the run weighs on every target alike.
func streamBench(ctx context.Context, o streamOptions) ([]streamResult, error) {
	templates, err := benchevents.Events(o.seed, o.events)
	if err != nil {
		return nil, err
	}
	collectors := map[string]*collector{} // by configuration; bare-http by its name
	defer func() {
		for _, c := range collectors {
			_ = c.stop()
		}
	}()
	for _, t := range o.targets {
		if collectors[t.key()] != nil {
			continue
		}
		var c *collector
		if t.bare {
			self, err := os.Executable()
			if err != nil {
				return nil, err
			}
			c, err = startProcess(ctx, t.Name, []string{self, "bare-http"}, o.workDir, false, true, nil)
			if err != nil {
				return nil, err
			}
		} else {
			name := strings.TrimSuffix(t.config, filepath.Ext(t.config))
			c, err = startCollector(ctx, name, o.collector, filepath.Join(o.configs, t.config), o.workDir, true,
				map[string]string{"BENCH_STREAM_TOKEN": streamToken})
			if err != nil {
				return nil, err
			}
		}
		collectors[t.key()] = c
	}
	seq := &atomic.Uint64{}
	seq.Store(o.seqStart)
	var results []streamResult
	for _, level := range o.levels {
		for _, t := range o.targets {
			c := collectors[t.key()]
			l := &loader{target: t, url: "http://" + c.endpoint + t.path, templates: templates, seq: seq, timeout: o.timeout}
			if o.warmup > 0 {
				if _, err := l.run(ctx, level, o.warmup, 0); err != nil {
					return nil, err
				}
			}
			r, err := l.run(ctx, level, o.duration, c.pid())
			if err != nil {
				return nil, err
			}
			logf(o.progress, "%-22s c=%-3d %9.0f events/s  p50 %7.0fµs  p99 %7.0fµs  collector CPU %6.1fµs/event  errors %d\n",
				t.Name, level, r.EventsPerS, r.P50us, r.P99us, r.CPUus, r.Errors)
			results = append(results, r)
		}
	}
	return results, nil
}

// loader posts single-event requests to one target.
type loader struct {
	target    target
	url       string
	templates []benchevents.Template
	seq       *atomic.Uint64
	timeout   time.Duration
}

// run keeps `concurrency` requests in flight for d, each on its own
// keep-alive connection, and measures. pid, when not 0, is the collector
// whose CPU time is measured.
func (l *loader) run(ctx context.Context, concurrency int, d time.Duration, pid int) (streamResult, error) {
	tr := &http.Transport{
		MaxIdleConns:        concurrency,
		MaxIdleConnsPerHost: concurrency,
		MaxConnsPerHost:     concurrency,
		DisableCompression:  true,
		IdleConnTimeout:     time.Minute,
	}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: l.timeout}

	var stop atomic.Bool
	type workerResult struct {
		lat        []time.Duration
		errs       int
		bytes      int64
		firstError string
	}
	results := make([]workerResult, concurrency)
	var wg sync.WaitGroup

	var cpu0 time.Duration
	if pid != 0 {
		var err error
		if cpu0, err = cpuTime(pid); err != nil {
			return streamResult{}, err
		}
	}
	client0 := selfCPU()
	start := time.Now()
	for w := range concurrency {
		wg.Go(func() {
			res := &results[w]
			res.lat = make([]time.Duration, 0, 1<<14)
			var buf []byte
			// Every worker sends at least one request, however short d.
			for sent := false; !sent || !stop.Load() && ctx.Err() == nil; sent = true {
				n := l.seq.Add(1)
				t := &l.templates[n%uint64(len(l.templates))]
				if l.target.otlp {
					buf = t.AppendOTLP(buf[:0], n, l.target.body)
				} else {
					buf = t.AppendStream(buf[:0], n)
				}
				lat, err := l.post(ctx, client, t, buf)
				if err != nil {
					res.errs++
					if res.firstError == "" {
						res.firstError = err.Error()
					}
					continue
				}
				res.lat = append(res.lat, lat)
				res.bytes += int64(len(buf))
			}
		})
	}
	timer := time.NewTimer(d)
	select {
	case <-timer.C:
	case <-ctx.Done():
		timer.Stop()
	}
	stop.Store(true)
	wg.Wait()
	elapsed := time.Since(start)
	clientCPU := selfCPU() - client0
	if err := ctx.Err(); err != nil {
		return streamResult{}, err
	}

	r := streamResult{Target: l.target.Name, Pipeline: l.target.Pipeline, Concurrency: concurrency, Seconds: elapsed.Seconds()}
	var all []time.Duration
	var bytes int64
	for _, w := range results {
		all = append(all, w.lat...)
		r.Errors += w.errs
		bytes += w.bytes
		if r.FirstError == "" {
			r.FirstError = w.firstError
		}
	}
	r.Events = len(all)
	if r.Events == 0 {
		return r, fmt.Errorf("%s: no request succeeded: %s", l.target.Name, r.FirstError)
	}
	if pid != 0 {
		cpu1, err := cpuTime(pid)
		if err != nil {
			return r, err
		}
		r.CPUus = float64((cpu1 - cpu0).Microseconds()) / float64(r.Events)
	}
	slices.Sort(all)
	r.EventsPerS = float64(r.Events) / elapsed.Seconds()
	r.P50us = float64(percentile(all, 50).Nanoseconds()) / 1e3
	r.P99us = float64(percentile(all, 99).Nanoseconds()) / 1e3
	r.ClientCPUus = float64(clientCPU.Microseconds()) / float64(r.Events)
	r.BodyBytes = float64(bytes) / float64(r.Events)
	return r, nil
}

// post sends one request and returns its latency, from before the request
// is written until its answer has been read.
func (l *loader) post(ctx context.Context, client *http.Client, t *benchevents.Template, body []byte) (time.Duration, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, l.url, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	if l.target.otlp {
		req.Header.Set("Content-Type", "application/json")
	} else {
		// What GitLab sends.
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("X-Gitlab-Event-Streaming-Token", streamToken)
		req.Header.Set("X-Gitlab-Audit-Event-Type", t.Type)
	}
	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	lat := time.Since(start)
	if err != nil {
		return 0, err
	}
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("%s answered %s", l.target.Name, resp.Status)
	}
	return lat, nil
}

// percentile returns the p-th percentile (nearest rank) of sorted.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(p/100*float64(len(sorted))+0.999999999) - 1
	return sorted[max(0, min(rank, len(sorted)-1))]
}

// selfCPU returns the CPU time this process used so far.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func streamMarkdown(w io.Writer, o streamOptions, results []streamResult) error {
	var b strings.Builder
	fmt.Fprintf(&b, "Each request carries one event (%d distinct simulated events, every id rewritten so that no request repeats an event); %s measured per level and target after %s of warm-up; levels and targets interleaved.\n\n",
		o.events, o.duration, o.warmup)
	b.WriteString("| Target | Connections | events/s | p50 | p99 | server CPU/event | loadgen CPU/event | request bytes | errors |\n")
	b.WriteString("|---|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, r := range results {
		fmt.Fprintf(&b, "| %s | %d | %s | %s | %s | %.1f µs | %.1f µs | %.0f | %d |\n",
			r.Target, r.Concurrency, thousands(r.EventsPerS), micros(r.P50us), micros(r.P99us), r.CPUus, r.ClientCPUus, r.BodyBytes, r.Errors)
	}
	b.WriteString("\nPipelines:\n\n")
	seen := map[string]bool{}
	for _, t := range o.targets {
		if !seen[t.Name] {
			seen[t.Name] = true
			fmt.Fprintf(&b, "- `%s`: %s\n", t.Name, t.Pipeline)
		}
	}

	// Ratios against the core OTLP receiver and the bare server, per level.
	var refs, ours []string
	for _, t := range o.targets {
		if t.otlp || t.bare {
			refs = append(refs, t.Name)
		} else {
			ours = append(ours, t.Name)
		}
	}
	if len(refs) > 0 && len(ours) > 0 {
		b.WriteString("\nRatios at the same level against the core OTLP/HTTP receiver (> 1: gitlab_audit is better) and against bare-http (the share of a bare net/http server's rate gitlab_audit reaches). Throughput: events/s of gitlab_audit ÷ events/s of the other. CPU: server CPU per event of the other ÷ that of gitlab_audit. Goal: the throughput ratio `gitlab_audit` is to reach at every level.\n\n")
		b.WriteString("| gitlab_audit target | vs | Connections | throughput ratio | CPU/event ratio | goal |\n|---|---|---:|---:|---:|---|\n")
		find := func(name string, level int) (streamResult, bool) {
			for _, r := range results {
				if r.Target == name && r.Concurrency == level {
					return r, true
				}
			}
			return streamResult{}, false
		}
		for _, our := range ours {
			for _, ref := range refs {
				for _, level := range o.levels {
					a, ok1 := find(our, level)
					z, ok2 := find(ref, level)
					if !ok1 || !ok2 || z.EventsPerS == 0 || a.CPUus == 0 {
						continue
					}
					ratio := a.EventsPerS / z.EventsPerS
					goal := ""
					if g, ok := ratioGoals[[2]string{our, ref}]; ok {
						goal = fmt.Sprintf("≥ %.2f: met", g)
						if ratio < g {
							goal = fmt.Sprintf("≥ %.2f: **not met**", g)
						}
					}
					fmt.Fprintf(&b, "| %s | %s | %d | %.2f | %.2f | %s |\n", our, ref, level, ratio, z.CPUus/a.CPUus, goal)
				}
			}
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// thousands formats n with thin spaces between thousands.
func thousands(n float64) string {
	s := strconv.FormatInt(int64(n+0.5), 10)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// micros formats microseconds, switching to milliseconds above 10 ms.
func micros(us float64) string {
	if us >= 10000 {
		return fmt.Sprintf("%.1f ms", us/1000)
	}
	return fmt.Sprintf("%.0f µs", us)
}
