// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kyra-mdr/otelcol-gitlab/testbed/gitlabsim"
)

// enrichToken is the simulated administrator's token the collector looks objects up with.
const enrichToken = "glpat-bench-enrich-token"

type enrichOptions struct {
	commonOptions
	events        int
	concurrency   int
	securityShare float64
	lookupDelay   time.Duration
}

func parseEnrichFlags(args []string, stderr io.Writer) (enrichOptions, error) {
	var o enrichOptions
	fs := newFlagSet("enrich", stderr)
	o.register(fs, commonFlags{
		config:      filepath.Join("bench", "stream-enrich.yaml"),
		configHelp:  "collector configuration: streaming endpoint, lookups in ${env:BENCH_GITLAB_ENDPOINT}, enrich::enabled ${env:BENCH_ENRICH}",
		workDirHelp: "directory for the collectors' logs",
		seed:        1,
	})
	fs.IntVar(&o.events, "events", 5000, "simulated events streamed, each once")
	fs.IntVar(&o.concurrency, "concurrency", 8, "connections, one request in flight on each")
	fs.Float64Var(&o.securityShare, "security-share", 0, "share of events drawn from the security-relevant types (0: the natural mix of a busy instance)")
	fs.DurationVar(&o.lookupDelay, "lookup-delay", 0, "time the simulator takes to answer each lookup (a real GitLab: tens of milliseconds)")
	if err := o.parse(fs, args, stderr); err != nil {
		return o, err
	}
	if o.lookupDelay < 0 {
		return o, errors.New("-lookup-delay must not be negative")
	}
	if o.events <= 0 || o.concurrency <= 0 || o.securityShare < 0 || o.securityShare > 1 {
		return o, errors.New("-events and -concurrency must be positive, -security-share within [0, 1]")
	}
	return o, nil
}

// enrichResult is one run: the same events streamed with enrichment off or on.
type enrichResult struct {
	Enrich      bool               `json:"enrich"`
	Events      int                `json:"events"`
	Errors      int                `json:"errors"`
	EventsPerS  float64            `json:"events_per_s"`
	P50us       float64            `json:"p50_us"`
	P99us       float64            `json:"p99_us"`
	MaxUs       float64            `json:"max_us"`
	Requests    map[string]int     `json:"lookup_requests"`   // by kind, the simulator's count
	Statuses    map[string]float64 `json:"enrichment_status"` // records by status, the collector's metric
	ObjectEvent int                `json:"events_with_object_lookup"`
	FirstError  string             `json:"first_error,omitempty"`
}

// objectTypes are the event types with an object lookup (the receiver's enrich.KindOf).
var objectTypes = map[string]bool{
	"personal_access_token_created": true, "project_access_token_created": true, "group_access_token_created": true,
	"ci_variable_created": true, "ci_variable_updated": true, "ci_group_variable_created": true, "ci_group_variable_updated": true,
	"ci_instance_variable_created": true, "ci_instance_variable_updated": true, "deploy_key_added": true,
	"deploy_token_created": true, "group_deploy_token_created": true,
}

// enrichBench serves a simulated GitLab, then streams the same simulated
// events to the collector twice, with enrichment off and on (a fresh
// collector each time, so the lookup cache starts cold), and counts the
// lookups the simulator answered.
func enrichBench(ctx context.Context, o enrichOptions) ([]enrichResult, error) {
	sim := gitlabsim.New(gitlabsim.Options{
		Seed: o.seed, SecurityShare: o.securityShare,
		Tokens: map[string]gitlabsim.Token{enrichToken: {UserID: 1, Admin: true}},
	})
	defer func() { _ = sim.Close() }()
	sim.Populate(gitlabsim.DefaultGroups, gitlabsim.DefaultProjects)
	end := time.Now().Add(-time.Minute)
	events := sim.GenerateWith(gitlabsim.GenerateOptions{Count: o.events, From: end.Add(-time.Hour), To: end, NoStream: true})
	sim.SetLookupDelay(o.lookupDelay)

	simURL, closeSim, err := serveLoopback(sim)
	if err != nil {
		return nil, err
	}
	defer closeSim()

	objects := 0
	for _, ev := range events {
		if objectTypes[ev.Type] {
			objects++
		}
	}
	var results []enrichResult
	for _, on := range []bool{false, true} {
		sim.ResetRequests()
		name := "stream-enrich-off"
		if on {
			name = "stream-enrich-on"
		}
		c, err := o.startCollector(ctx, name, true, map[string]string{
			"BENCH_GITLAB_ENDPOINT": simURL,
			"BENCH_GITLAB_TOKEN":    enrichToken,
			"BENCH_STREAM_TOKEN":    streamToken,
			"BENCH_ENRICH":          fmt.Sprint(on),
		})
		if err != nil {
			return nil, err
		}
		r, err := streamOnce(ctx, "http://"+c.endpoint+"/webhook/gitlab-audit", events, o.concurrency)
		if err == nil {
			r.Enrich, r.ObjectEvent = on, objects
			r.Requests = map[string]int{}
			for _, req := range sim.Requests() {
				r.Requests[lookupKind(req.Path)]++
			}
			r.Statuses = map[string]float64{}
			client := &http.Client{Timeout: 5 * time.Second}
			for _, st := range []string{"ok", "not_found", "forbidden", "error", "timeout", "skipped"} {
				n, merr := c.metric(ctx, client, "otelcol_gitlab_audit_enrichment_lookups", map[string]string{"status": st})
				if merr != nil {
					err = merr
					break
				}
				if n > 0 {
					r.Statuses[st] = n
				}
			}
			client.CloseIdleConnections()
		}
		_ = c.stop()
		if err != nil {
			return nil, err
		}
		logf(o.progress, "enrich %-5v %6d events  %8.0f events/s  p50 %6.0fµs  p99 %7.0fµs  lookups %v\n",
			on, r.Events, r.EventsPerS, r.P50us, r.P99us, r.Requests)
		results = append(results, r)
	}
	return results, nil
}

// lookupKind names the lookup of a request path.
func lookupKind(path string) string {
	switch {
	case strings.HasPrefix(path, "/api/v4/personal_access_tokens/"):
		return "personal_access_token"
	case strings.Contains(path, "/access_tokens/"):
		return "project/group access token"
	case strings.Contains(path, "/variables/"):
		return "ci variable"
	case strings.Contains(path, "/deploy_keys/"):
		return "deploy key"
	case strings.Contains(path, "/deploy_tokens/"):
		return "deploy token"
	case strings.HasPrefix(path, "/api/v4/users/"):
		return "author"
	}
	return "other"
}

// streamOnce posts every event once, as GitLab streams them, on
// concurrency connections.
func streamOnce(ctx context.Context, url string, events []gitlabsim.StoredEvent, concurrency int) (enrichResult, error) {
	tr := &http.Transport{MaxIdleConnsPerHost: concurrency, MaxConnsPerHost: concurrency, DisableCompression: true}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	var next atomic.Int64
	var mu sync.Mutex
	var lat []time.Duration
	var r enrichResult
	var wg sync.WaitGroup
	start := time.Now()
	for range concurrency {
		wg.Go(func() {
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= len(events) {
					return
				}
				ev := events[i]
				req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(ev.StreamJSON))
				if err != nil {
					return
				}
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				req.Header.Set("X-Gitlab-Event-Streaming-Token", streamToken)
				req.Header.Set("X-Gitlab-Audit-Event-Type", ev.StreamType)
				t := time.Now()
				resp, err := client.Do(req)
				if err == nil {
					_, err = io.Copy(io.Discard, resp.Body)
					_ = resp.Body.Close()
					if err == nil && resp.StatusCode != http.StatusOK {
						err = fmt.Errorf("answered %s", resp.Status)
					}
				}
				d := time.Since(t)
				mu.Lock()
				if err != nil {
					r.Errors++
					if r.FirstError == "" {
						r.FirstError = err.Error()
					}
				} else {
					lat = append(lat, d)
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return r, err
	}
	elapsed := time.Since(start)
	r.Events = len(lat)
	if r.Events == 0 {
		return r, fmt.Errorf("no request succeeded: %s", r.FirstError)
	}
	slices.Sort(lat)
	r.EventsPerS = float64(r.Events) / elapsed.Seconds()
	r.P50us = float64(percentile(lat, 50).Nanoseconds()) / 1e3
	r.P99us = float64(percentile(lat, 99).Nanoseconds()) / 1e3
	r.MaxUs = float64(lat[len(lat)-1].Nanoseconds()) / 1e3
	return r, nil
}

func enrichMarkdown(w io.Writer, o enrichOptions, results []enrichResult) error {
	var b strings.Builder
	mix := "the natural mix of a busy instance"
	if o.securityShare > 0 {
		mix = fmt.Sprintf("%.0f %% drawn from the security-relevant types", o.securityShare*100)
	}
	delay := "at once"
	if o.lookupDelay > 0 {
		delay = "after " + o.lookupDelay.String() + " each"
	}
	fmt.Fprintf(&b, "%s simulated events (%s), each streamed once on %d connections to a fresh collector (`%s`, cold lookup cache, enrich::timeout 3 s), with enrichment off and on; the simulator answers the lookups on loopback, %s.\n\n",
		thousands(float64(o.events)), mix, o.concurrency, filepath.Base(o.config), delay)
	b.WriteString("| Enrichment | events | events/s | p50 | p99 | max | lookup requests | per 1,000 events | errors |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, r := range results {
		total := 0
		for _, n := range r.Requests {
			total += n
		}
		state := "off"
		if r.Enrich {
			state = "on"
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s | %.1f | %d |\n", state, thousands(float64(r.Events)), thousands(r.EventsPerS),
			micros(r.P50us), micros(r.P99us), micros(r.MaxUs), thousands(float64(total)), 1000*float64(total)/float64(r.Events), r.Errors)
	}
	for _, r := range results {
		if !r.Enrich {
			continue
		}
		fmt.Fprintf(&b, "\nWith enrichment on, %s of the %s events name an object to look up (%.1f per 1,000). Lookup requests by kind (per 1,000 events):\n\n",
			thousands(float64(r.ObjectEvent)), thousands(float64(r.Events)), 1000*float64(r.ObjectEvent)/float64(r.Events))
		b.WriteString("| Lookup | requests | per 1,000 events |\n|---|---:|---:|\n")
		for _, k := range slices.Sorted(maps.Keys(r.Requests)) {
			fmt.Fprintf(&b, "| %s | %d | %.1f |\n", k, r.Requests[k], 1000*float64(r.Requests[k])/float64(r.Events))
		}
		b.WriteString("\nRecords by enrichment status (`otelcol_gitlab_audit_enrichment_lookups`, author lookups included):\n\n| status | records |\n|---|---:|\n")
		for _, s := range slices.Sorted(maps.Keys(r.Statuses)) {
			fmt.Fprintf(&b, "| %s | %.0f |\n", s, r.Statuses[s])
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}
