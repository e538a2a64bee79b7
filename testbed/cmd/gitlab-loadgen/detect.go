// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"sync"
	"time"

	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"

	"github.com/kyra-mdr/otelcol-gitlab/testbed/detectbench"
	"github.com/kyra-mdr/otelcol-gitlab/testbed/geodb"
	"github.com/kyra-mdr/otelcol-gitlab/testbed/gitlabsim"
)

// The detection benchmark: the simulator's scenario (days of benign
// traffic, attack chains on the last day) streamed, one event per request
// and in created_at order as GitLab streams them, to the gitlab_audit
// endpoint of the distribution; the records its gitlab_detect processor
// tagged come back over OTLP/HTTP to a sink in this process and are scored
// by testbed/detectbench. The processor locates the scenario's addresses
// with a GeoIP database of the scenario's world (testbed/geodb), written
// for the run.

type detectOptions struct {
	commonOptions
	days, developers int
}

func parseDetectFlags(args []string, stderr io.Writer) (detectOptions, error) {
	var o detectOptions
	fs := newFlagSet("detect", stderr)
	o.register(fs, commonFlags{
		config: "bench/detect.yaml", configHelp: "the collector configuration",
		workDir: "_build/bench/results/logs", workDirHelp: "directory for the collector's log and storage",
		seed: 7, seedHelp: "scenario seed",
		timeout: 5 * time.Minute, timeoutHelp: "give up after this long",
	})
	fs.IntVar(&o.days, "days", 4, "days of traffic; the attacks happen on the last")
	fs.IntVar(&o.developers, "developers", 250, "developers of the simulated organisation")
	err := o.parse(fs, args, stderr)
	return o, err
}

// detectResult is what the detection benchmark measured.
type detectResult struct {
	Events          int     `json:"events"`
	Benign          int     `json:"benign"`
	Steps           int     `json:"steps"`
	StepsOK         int     `json:"steps_tagged_right"`
	HighOrAbove     int     `json:"benign_high_or_above"`
	HighSharePct    float64 `json:"benign_high_share_pct"`
	LastDayHighPct  float64 `json:"benign_high_share_last_day_pct"`
	Medium          int     `json:"benign_medium"`
	MediumSharePct  float64 `json:"benign_medium_share_pct"`
	SuppressedAlert float64 `json:"alerts_suppressed"`
	Seconds         float64 `json:"seconds"`
	report          detectbench.Report
}

func detect(ctx context.Context, o detectOptions) (detectResult, error) {
	var r detectResult
	sim := gitlabsim.New(gitlabsim.Options{Seed: o.seed})
	defer func() { _ = sim.Close() }()
	events := sim.Scenario(gitlabsim.ScenarioOptions{Days: o.days, Developers: o.developers, Seed: o.seed})
	r.Events = len(events)
	logf(o.progress, "detect: %d scenario events\n", len(events))

	sink := &otlpSink{byID: map[string]plog.LogRecord{}}
	sinkURL, closeSink, err := serveLoopback(sink)
	if err != nil {
		return r, err
	}
	defer closeSink()
	// An empty file_storage: every run learns its baselines from the
	// scenario alone.
	storage, err := o.freshDir("detect-storage")
	if err != nil {
		return r, err
	}
	geoDir, err := o.freshDir("detect-geoip")
	if err != nil {
		return r, err
	}
	geoDB, err := geodb.Write(geoDir, "scenario-world.mmdb", geodb.World)
	if err != nil {
		return r, err
	}

	start := time.Now()
	c, err := o.startCollector(ctx, "detect", true, map[string]string{
		"BENCH_STREAM_TOKEN":  streamToken,
		"BENCH_OTLP_ENDPOINT": sinkURL,
		"BENCH_STORAGE_DIR":   storage,
		"BENCH_GEOIP_DB":      geoDB,
	})
	if err != nil {
		return r, err
	}
	defer func() { _ = c.stop() }()

	client := &http.Client{Timeout: 10 * time.Second}
	defer client.CloseIdleConnections()
	url := "http://" + c.endpoint + "/webhook/gitlab-audit"
	for i, ev := range events {
		if err := postEvent(ctx, client, url, ev); err != nil {
			return r, fmt.Errorf("event %d (%s): %w", i, ev.Type, err)
		}
	}
	deadline := time.Now().Add(o.timeout)
	for sink.count() < len(events) {
		if err := c.sleep(ctx, 100*time.Millisecond); err != nil {
			return r, err
		}
		if time.Now().After(deadline) {
			return r, fmt.Errorf("only %d of %d records came back after %s", sink.count(), len(events), o.timeout)
		}
	}
	r.Seconds = time.Since(start).Seconds()
	if r.SuppressedAlert, err = c.metric(ctx, client, "otelcol_gitlab_detect_alerts_suppressed", nil); err != nil {
		return r, err
	}

	records := make([]plog.LogRecord, len(events))
	sink.mu.Lock()
	for i, ev := range events {
		records[i] = sink.byID[ev.StreamID]
	}
	sink.mu.Unlock()
	rep := detectbench.Evaluate(events, records)
	r.report = rep
	r.Benign, r.Steps, r.StepsOK = rep.Benign, len(rep.Steps), rep.StepsOK()
	r.HighOrAbove, r.HighSharePct, r.LastDayHighPct = rep.HighOrAbove, rep.HighShare(), rep.LastDayHighShare()
	r.Medium, r.MediumSharePct = rep.Medium, rep.MediumShare()
	logf(o.progress, "detect: %d of %d steps tagged right; benign HIGH+ %.3f %% (last day %.3f %%), MEDIUM %.3f %%\n",
		r.StepsOK, r.Steps, r.HighSharePct, r.LastDayHighPct, r.MediumSharePct)
	return r, nil
}

// postEvent streams one event as GitLab does.
func postEvent(ctx context.Context, client *http.Client, url string, ev gitlabsim.ScenarioEvent) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(ev.StreamJSON))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Gitlab-Event-Streaming-Token", streamToken)
	req.Header.Set("X-Gitlab-Audit-Event-Type", ev.StreamType)
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("the collector answered %s", resp.Status)
	}
	return nil
}

// otlpSink is an OTLP/HTTP logs endpoint (protobuf, gzip or not) keeping
// the records by gitlab.audit.event.id.
type otlpSink struct {
	mu   sync.Mutex
	byID map[string]plog.LogRecord
}

func (s *otlpSink) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.byID)
}

func (s *otlpSink) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if req.Method != http.MethodPost || req.URL.Path != "/v1/logs" {
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	var body io.Reader = req.Body
	if req.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(req.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		defer func() { _ = zr.Close() }()
		body = zr
	}
	raw, err := io.ReadAll(body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	er := plogotlp.NewExportRequest()
	if err := er.UnmarshalProto(raw); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	ld := er.Logs()
	s.mu.Lock()
	rls := ld.ResourceLogs()
	for i := 0; i < rls.Len(); i++ {
		sls := rls.At(i).ScopeLogs()
		for j := 0; j < sls.Len(); j++ {
			lrs := sls.At(j).LogRecords()
			for k := 0; k < lrs.Len(); k++ {
				if v, ok := lrs.At(k).Attributes().Get("gitlab.audit.event.id"); ok {
					s.byID[v.AsString()] = lrs.At(k)
				}
			}
		}
	}
	s.mu.Unlock()
	out, _ := plogotlp.NewExportResponse().MarshalProto()
	w.Header().Set("Content-Type", "application/x-protobuf")
	_, _ = w.Write(out)
}

func detectMarkdown(w io.Writer, o detectOptions, r detectResult) error {
	var b bytes.Buffer
	fmt.Fprintf(&b, "The simulator's detection scenario (`gitlabsim.Scenario`: %d days, %d developers, seed %d; attack chains on the last day): %s events streamed one per request, in `created_at` order, to the distribution (`%s`: `gitlab_audit` stream → `gitlab_detect` with its defaults and a GeoIP database of the scenario's world → OTLP/HTTP back to the runner) in %.1f s. Targets: every attack step tagged with its rule, indicator and severity; at most 0.05 %% of the attack day's benign events (0.1 %% of all days') raised to HIGH or above.\n\n",
		o.days, o.developers, o.seed, thousands(float64(r.Events)), filepath.Base(o.config), r.Seconds)
	b.WriteString(r.report.Markdown())
	fmt.Fprintf(&b, "\nEvents a windowed rule kept at LOW (`otelcol_gitlab_detect_alerts_suppressed`): %s.\n", thousands(r.SuppressedAlert))
	_, err := w.Write(b.Bytes())
	return err
}
