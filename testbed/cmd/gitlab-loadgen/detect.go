package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"

	"github.com/kyra-mdr/otelcol-gitlab/testbed/detectbench"
	"github.com/kyra-mdr/otelcol-gitlab/testbed/gitlabsim"
)

// The detection benchmark: the simulator's scenario (days of benign
// traffic, attack chains on the last day) streamed, one event per request
// and in created_at order as GitLab streams them, to the gitlab_audit
// endpoint of the distribution; the records its gitlab_detect processor
// tagged come back over OTLP/HTTP to a sink in this process and are scored
// by testbed/detectbench.

type detectOptions struct {
	collector, config, workDir string
	out, json                  string
	days, developers           int
	seed                       uint64
	timeout                    time.Duration
	progress                   io.Writer
}

func parseDetectFlags(args []string, stderr io.Writer) (detectOptions, error) {
	var o detectOptions
	fs := flag.NewFlagSet("detect", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.collector, "collector", "", "the distribution's binary (required)")
	fs.StringVar(&o.config, "config", "bench/detect.yaml", "the collector configuration")
	fs.StringVar(&o.workDir, "workdir", "_build/bench/results/logs", "directory for the collector's log and storage")
	fs.StringVar(&o.out, "out", "", "Markdown output file (default stdout)")
	fs.StringVar(&o.json, "json", "", "also write the results as JSON to this file")
	fs.IntVar(&o.days, "days", 4, "days of traffic; the attacks happen on the last")
	fs.IntVar(&o.developers, "developers", 250, "developers of the simulated organisation")
	var seed uint
	fs.UintVar(&seed, "seed", 7, "scenario seed")
	fs.DurationVar(&o.timeout, "timeout", 5*time.Minute, "give up after this long")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if o.collector == "" {
		return o, errors.New("detect: -collector is required")
	}
	o.seed = uint64(seed)
	o.progress = stderr
	return o, nil
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

func runDetect(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parseDetectFlags(args, stderr)
	if err != nil {
		return err
	}
	r, err := detect(ctx, o)
	if err != nil {
		return err
	}
	return writeReport(o.out, o.json, stdout, r, func(w io.Writer) error { return detectMarkdown(w, o, r) })
}

func detect(ctx context.Context, o detectOptions) (detectResult, error) {
	var r detectResult
	sim := gitlabsim.New(gitlabsim.Options{Seed: o.seed})
	defer func() { _ = sim.Close() }()
	events := sim.Scenario(gitlabsim.ScenarioOptions{Days: o.days, Developers: o.developers, Seed: o.seed})
	r.Events = len(events)
	logf(o.progress, "detect: %d scenario events\n", len(events))

	sink := &otlpSink{byID: map[string]plog.LogRecord{}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return r, err
	}
	srv := &http.Server{Handler: sink, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	defer func() { _ = srv.Close() }()

	start := time.Now()
	c, err := startCollector(ctx, "detect", o.collector, o.config, o.workDir, true, map[string]string{
		"BENCH_STREAM_TOKEN":  streamToken,
		"BENCH_OTLP_ENDPOINT": "http://" + ln.Addr().String(),
		"BENCH_STORAGE_DIR":   mkStorageDir(o.workDir),
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
		select {
		case <-ctx.Done():
			return r, ctx.Err()
		case <-c.exited:
			return r, fmt.Errorf("the collector exited: %w (see %s)", c.waitErr, c.log.Name())
		case <-time.After(100 * time.Millisecond):
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

// mkStorageDir returns an empty directory for the collector's
// file_storage: every run learns its baselines from the scenario alone.
func mkStorageDir(workDir string) string {
	dir := filepath.Join(workDir, "detect-storage")
	_ = os.RemoveAll(dir)
	return dir
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
	fmt.Fprintf(&b, "The simulator's detection scenario (`gitlabsim.Scenario`: %d days, %d developers, seed %d; attack chains on the last day): %s events streamed one per request, in `created_at` order, to the distribution (`%s`: `gitlab_audit` stream → `gitlab_detect` with its defaults → OTLP/HTTP back to the runner) in %.1f s. Targets: every attack step tagged with its rule, indicator and severity; at most 0.1 %% of benign events raised to HIGH or above.\n\n",
		o.days, o.developers, o.seed, thousands(float64(r.Events)), filepath.Base(o.config), r.Seconds)
	b.WriteString(r.report.Markdown())
	fmt.Fprintf(&b, "\nEvents a windowed rule kept at LOW (`otelcol_gitlab_detect_alerts_suppressed`): %s.\n", thousands(r.SuppressedAlert))
	_, err := w.Write(b.Bytes())
	return err
}
